using System.Text.Json;
using ClosedLoop.Cli;
using ClosedLoop.Storage;

namespace ClosedLoop.IntegrationTests;

public sealed class SimulateMovieTests
{
    [Fact]
    public void ExecuteMovie_FiftyFrames_WritesMovieAndConsistentGroundTruth()
    {
        using var h = new Harness();
        string folder = Path.Combine(h.Folder, "movie");
        var options = new MovieOptions(folder, "generated", Neurons: 150, WidthPx: 96, HeightPx: 64, Frames: 50, Seed: 7);

        Assert.Equal(ExitCodes.Ok, SimulateCommand.ExecuteMovie(options, h.Console));

        foreach (var name in new[] { "movie.tif", "masks.json", "spikes.csv", "calcium.csv", "dff.csv", "motion.csv", "README.md" })
            Assert.True(File.Exists(Path.Combine(folder, name)), $"{name} missing");
        using (var movie = new TiffMovieReader(Path.Combine(folder, "movie.tif"), requireComplete: true))
        {
            Assert.Equal(50, movie.FrameCount);
            Assert.Equal(96, movie.WidthPx);
            Assert.Equal(64, movie.HeightPx);
            using var meta = JsonDocument.Parse(movie.GetDescription(0));
            Assert.Equal(30, meta.RootElement.GetProperty("frameRateHz").GetDouble());
            Assert.Equal(7, meta.RootElement.GetProperty("seed").GetInt32());
            var pixels = new ushort[96 * 64];
            movie.ReadFrame(49, pixels);
            Assert.Contains(pixels, p => p > 0);
        }

        using var masks = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "masks.json")));
        int maskCount = masks.RootElement.GetProperty("masks").GetArrayLength();
        var spikes = ReadCsv(Path.Combine(folder, "spikes.csv"));
        var calcium = ReadCsv(Path.Combine(folder, "calcium.csv"));
        Assert.Equal(150, maskCount);
        Assert.Equal(maskCount, spikes[0].Length);
        Assert.Equal(maskCount, calcium[0].Length);
        Assert.Equal(50, spikes.Count);
        Assert.Equal(50, calcium.Count);

        // A neuron's calcium jumps in the frame it spikes and is still above its pre-spike level a few frames later.
        int checkedSpikes = 0;
        for (int f = 1; f < 45; f++)
            for (int n = 0; n < maskCount; n++)
            {
                if (spikes[f][n] == 0) continue;
                Assert.True(calcium[f][n] > calcium[f - 1][n], $"neuron {n} frame {f}: calcium did not rise with its spike");
                Assert.True(calcium[f + 3][n] > calcium[f - 1][n], $"neuron {n} frame {f}: calcium fell back within 3 frames");
                checkedSpikes++;
            }
        Assert.True(checkedSpikes > 5, $"only {checkedSpikes} spikes to check");
    }

    [Fact]
    public void ExecuteMovie_SameSeed_GivesSameFiles()
    {
        using var h = new Harness();
        var a = new MovieOptions(Path.Combine(h.Folder, "a"), "generated", Neurons: 20, WidthPx: 48, HeightPx: 40, Frames: 40, Seed: 3,
            Indicator: "GCaMP6f", NoiseLevel: 2, Motion: "nonrigid", SpikeSource: "spikefinder", RateHz: 1, DriftFraction: 0.05, BleachTauS: 100);
        var b = a with { OutFolder = Path.Combine(h.Folder, "b") };
        SimulateCommand.WriteMovie(a);
        SimulateCommand.WriteMovie(b);
        foreach (var name in new[] { "movie.tif", "masks.json", "spikes.csv", "calcium.csv", "dff.csv", "motion.csv", "motion_grid.csv" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(a.OutFolder, name)), File.ReadAllBytes(Path.Combine(b.OutFolder, name)));
    }

    [Theory]
    [InlineData("--frames")]
    [InlineData("--frame-rate-hz")]
    [InlineData("--width")]
    [InlineData("--footprints")]
    [InlineData("--noise-level")]
    [InlineData("--rate-hz")]
    [InlineData("--motion")]
    [InlineData("--motion-rms-px")]
    [InlineData("--indicator")]
    [InlineData("--spike-source")]
    [InlineData("--bleach-tau-s")]
    [InlineData("--drift")]
    public void ExecuteMovie_BadOption_ExitsOneNamingOption(string option)
    {
        using var h = new Harness();
        var good = new MovieOptions(Path.Combine(h.Folder, "bad"), "generated", Neurons: 10, WidthPx: 64, HeightPx: 64, Frames: 40);
        var bad = option switch
        {
            "--frames" => good with { Frames = 0 },
            "--frame-rate-hz" => good with { FrameRateHz = 5000 },
            "--width" => good with { WidthPx = 8 },
            "--noise-level" => good with { NoiseLevel = 0 },
            "--rate-hz" => good with { RateHz = -1 },
            "--motion" => good with { Motion = "wobble" },
            "--motion-rms-px" => good with { Motion = "rigid", MotionRmsPx = 30 },
            "--indicator" => good with { Indicator = "GCaMP99" },
            "--spike-source" => good with { SpikeSource = "gamma" },
            "--bleach-tau-s" => good with { BleachTauS = -1 },
            "--drift" => good with { DriftFraction = -0.1 },
            _ => good with { Footprints = "builtin:nope" },
        };
        Assert.Equal(ExitCodes.BadInput, SimulateCommand.ExecuteMovie(bad, h.Console));
        Assert.Contains(option, h.Output);
    }

    [Fact]
    public void ExecuteMovie_KernelLongerThanTheMovie_NamesFramesAndTheIndicator()
    {
        using var h = new Harness();
        var options = new MovieOptions(Path.Combine(h.Folder, "short"), "generated", Neurons: 10, WidthPx: 64, HeightPx: 64, Frames: 10);

        Assert.Equal(ExitCodes.BadInput, SimulateCommand.ExecuteMovie(options, h.Console));
        Assert.Contains("--frames", h.Output);
        Assert.Contains("GCaMP6s", h.Output);
    }

    [Fact]
    public void ExecuteMovie_MaskOutsideTheField_NamesTheMask()
    {
        using var h = new Harness();
        string masks = Path.Combine(h.Folder, "masks.json");
        File.WriteAllText(masks, "{\"height\": 40, \"width\": 50, \"masks\": [[1, 2, 3], [2100, 2101]]}");
        var options = new MovieOptions(Path.Combine(h.Folder, "out"), masks, Frames: 40);

        Assert.Equal(ExitCodes.BadInput, SimulateCommand.ExecuteMovie(options, h.Console));
        Assert.Contains("masks[1]", h.Output);
        Assert.Contains("inside the 50×40 field", h.Output);
    }

    [Fact]
    public void ExecuteMovie_RigidMotion_WritesTheShiftOfEveryFrame()
    {
        using var h = new Harness();
        string folder = Path.Combine(h.Folder, "moving");
        var options = new MovieOptions(folder, "generated", Neurons: 30, WidthPx: 64, HeightPx: 64, Frames: 60, Motion: "rigid", MotionRmsPx: 2, NoiseLevel: 1);

        Assert.Equal(ExitCodes.Ok, SimulateCommand.ExecuteMovie(options, h.Console));

        var lines = File.ReadAllLines(Path.Combine(folder, "motion.csv"));
        Assert.Equal("frame,dx_px,dy_px", lines[0]);
        Assert.Equal(61, lines.Length);
        var dx = lines.Skip(1).Select(l => double.Parse(l.Split(',')[1], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.Contains(dx, v => Math.Abs(v) > 0.2);
        Assert.False(File.Exists(Path.Combine(folder, "motion_grid.csv")));
        Assert.Contains("frames/s rendering", h.Output);
        Assert.Contains("Noise level ν", h.Output);
        using var movie = new TiffMovieReader(Path.Combine(folder, "movie.tif"));
        using var meta = JsonDocument.Parse(movie.GetDescription(0));
        Assert.Equal("rigid", meta.RootElement.GetProperty("tissue").GetProperty("motion").GetString());
        Assert.Equal(1, meta.RootElement.GetProperty("tissue").GetProperty("noiseLevel").GetDouble());
    }

    [Fact]
    public void ExecuteMovie_DefaultBuiltin_UsesItsFieldSize()
    {
        using var h = new Harness();
        string folder = Path.Combine(h.Folder, "yst");
        Assert.Equal(ExitCodes.Ok, SimulateCommand.ExecuteMovie(new MovieOptions(folder, Frames: 40), h.Console));
        using var movie = new TiffMovieReader(Path.Combine(folder, "movie.tif"));
        Assert.Equal((120, 88), (movie.WidthPx, movie.HeightPx));
    }

    private static List<double[]> ReadCsv(string path)
    {
        var lines = File.ReadAllLines(path);
        var header = lines[0].Split(',');
        Assert.Equal(Enumerable.Range(0, header.Length).Select(i => i.ToString()), header);
        var rows = lines.Skip(1).Select(l => l.Split(',').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray()).ToList();
        Assert.All(rows, r => Assert.Equal(header.Length, r.Length));
        return rows;
    }
}
