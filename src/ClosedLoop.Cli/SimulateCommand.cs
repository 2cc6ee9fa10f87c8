using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ClosedLoop.Core;
using ClosedLoop.FirmwareSim;
using ClosedLoop.Hardware;
using ClosedLoop.Storage;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary>What <c>closedloop simulate movie</c> renders.</summary>
/// <param name="OutFolder">Folder that receives movie.tif, the ground truth and a README (created if missing).</param>
/// <param name="Footprints"><c>builtin:NAME</c>, a masks JSON path or <c>generated</c>.</param>
/// <param name="Neurons">Somata placed when <paramref name="Footprints"/> is <c>generated</c>.</param>
/// <param name="WidthPx">Field width for generated footprints; for a masks file, null or the file's width.</param>
/// <param name="HeightPx">Field height for generated footprints; for a masks file, null or the file's height.</param>
/// <param name="Frames">Frames to render.</param>
/// <param name="FrameRateHz">Frame rate, which sets the time step of the biology.</param>
/// <param name="Seed">Seed of every random draw: the same options give the same files.</param>
public sealed record MovieOptions(string OutFolder, string Footprints = "builtin:YST_part11", int Neurons = 100,
    int? WidthPx = null, int? HeightPx = null, int Frames = 3000, double FrameRateHz = 30, int Seed = 1);

/// <summary>What <c>closedloop simulate movie</c> wrote.</summary>
/// <param name="Folder">The output folder (full path).</param>
/// <param name="Frames">Frames in movie.tif.</param>
/// <param name="WidthPx">Frame width.</param>
/// <param name="HeightPx">Frame height.</param>
/// <param name="Neurons">Neurons (masks, CSV columns).</param>
/// <param name="FootprintsSource">Where the footprints came from.</param>
/// <param name="Spikes">Spikes fired by all neurons over the movie.</param>
public sealed record MovieResult(string Folder, int Frames, int WidthPx, int HeightPx, int Neurons, string FootprintsSource, long Spikes);

/// <summary>
/// <c>closedloop simulate</c>: offline products of the virtual tissue. <c>simulate movie</c> renders a two-photon movie
/// with its ground truth (footprints, spikes, calcium) into a folder, for testing segmentation and spike inference
/// against known answers. The file layouts are described in docs/data-formats.md.
/// </summary>
public static class SimulateCommand
{
    /// <summary>Default and fallback field size (px) for generated footprints.</summary>
    public const int DefaultGeneratedSizePx = 256;

    /// <summary>Creates the command with its <c>movie</c> subcommand.</summary>
    public static Command Create()
    {
        var footprints = new Option<string>("--footprints")
        {
            Description = "Neuron footprints: builtin:YST_part11 (or another builtin), a masks JSON file, or 'generated'.",
            DefaultValueFactory = _ => "builtin:YST_part11",
        };
        var neurons = new Option<int>("--neurons") { Description = "Neurons placed when --footprints generated.", DefaultValueFactory = _ => 100 };
        var width = new Option<int?>("--width") { Description = $"Field width, px, for generated footprints (default {DefaultGeneratedSizePx})." };
        var height = new Option<int?>("--height") { Description = $"Field height, px, for generated footprints (default {DefaultGeneratedSizePx})." };
        var frames = new Option<int>("--frames") { Description = "Frames to render.", DefaultValueFactory = _ => 3000 };
        var rate = new Option<double>("--frame-rate-hz") { Description = "Frame rate, Hz.", DefaultValueFactory = _ => 30 };
        var seed = new Option<int>("--seed") { Description = "Seed of every random draw (same seed, same files).", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--out") { Description = "Folder for movie.tif, masks.json, spikes.csv, calcium.csv and README.md.", Required = true };
        var movie = new Command("movie", "Render a simulated two-photon movie (multi-page TIFF) with its ground truth: footprints, spikes and calcium per frame.")
            { footprints, neurons, width, height, frames, rate, seed, output };
        movie.SetAction(p => ExecuteMovie(new MovieOptions(p.GetValue(output)!, p.GetValue(footprints)!, p.GetValue(neurons),
            p.GetValue(width), p.GetValue(height), p.GetValue(frames), p.GetValue(rate), p.GetValue(seed)), AnsiConsole.Console));
        return new Command("simulate", "Offline products of the virtual tissue (firmware-sim).") { movie, SimulateCultureCommand.Create() };
    }

    /// <summary>Runs <c>simulate movie</c> with progress on <paramref name="console"/>; returns the exit code
    /// (<see cref="ExitCodes.BadInput"/> for a bad option, naming it and its range).</summary>
    public static int ExecuteMovie(MovieOptions options, IAnsiConsole console)
    {
        MovieResult result;
        try
        {
            var (tissue, imaging, footprints) = Prepare(options);
            console.MarkupLine(Markup.Escape($"Rendering {options.Frames:N0} frames of {imaging.WidthPx}×{imaging.HeightPx} px, {footprints.Count} neurons from {footprints.Source}, seed {options.Seed} …"));
            if (console.Profile.Capabilities.Interactive)
            {
                result = null!;
                console.Progress()
                    .AutoClear(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("frames", maxValue: options.Frames);
                        result = Write(options, tissue, imaging, footprints, done => task.Value = done);
                    });
            }
            else
            {
                int step = Math.Max(1, options.Frames / 10), next = step;
                result = Write(options, tissue, imaging, footprints, done =>
                {
                    if (done < next && done < options.Frames) return;
                    console.WriteLine($"{done}/{options.Frames} frames");
                    next = done + step;
                });
            }
        }
        catch (SettingException ex)
        {
            console.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
            return ExitCodes.BadInput;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            console.MarkupLine($"[red]Could not write to {Markup.Escape(Path.GetFullPath(options.OutFolder))}: {Markup.Escape(ex.Message)}[/]");
            return ExitCodes.BadInput;
        }
        console.MarkupLine(Markup.Escape($"Wrote {result.Frames} frames, {result.Neurons} neurons, {result.Spikes} spikes to {result.Folder}"));
        return ExitCodes.Ok;
    }

    /// <summary>Renders the movie and its ground truth into <see cref="MovieOptions.OutFolder"/> without a console;
    /// <paramref name="progress"/> (if given) hears the frames done so far.</summary>
    /// <exception cref="SettingException">An option is out of range; the message names it and the range.</exception>
    public static MovieResult WriteMovie(MovieOptions options, Action<int>? progress = null)
    {
        var (tissue, imaging, footprints) = Prepare(options);
        return Write(options, tissue, imaging, footprints, progress);
    }

    private static (TissueProfile Tissue, ImagingProfile Imaging, Footprints Footprints) Prepare(MovieOptions o)
    {
        Check.NotEmpty("--out", o.OutFolder);
        Check.InRange("--frames", o.Frames, 1, 10_000_000);
        Check.InRange("--frame-rate-hz", o.FrameRateHz, 0.1, 1000);
        string spec = Check.NotEmpty("--footprints", o.Footprints).Trim();
        var tissue = new TissueProfile { Footprints = spec };
        bool generated = string.Equals(spec, Footprints.GeneratedName, StringComparison.OrdinalIgnoreCase);
        int width, height;
        if (generated)
        {
            width = Check.InRange("--width", o.WidthPx ?? DefaultGeneratedSizePx, 32, 4096);
            height = Check.InRange("--height", o.HeightPx ?? DefaultGeneratedSizePx, 32, 4096);
            tissue.GeneratedNeuronCount = Check.InRange("--neurons", o.Neurons, 1, 20_000);
        }
        else
        {
            (width, height) = MaskFieldSize(spec);
            if (o.WidthPx is int w && w != width) throw new SettingException("--width", w, $"left out or {width} (the width of {spec}); use --footprints generated for another size");
            if (o.HeightPx is int h && h != height) throw new SettingException("--height", h, $"left out or {height} (the height of {spec}); use --footprints generated for another size");
        }
        var imaging = new ImagingProfile { WidthPx = width, HeightPx = height, FrameRateHz = o.FrameRateHz };
        imaging.Validate();
        tissue.Validate(imaging);
        return (tissue, imaging, Footprints.FromProfile(tissue, imaging, o.Seed));
    }

    /// <summary>The field size a masks file or builtin declares (its height and width members).</summary>
    private static (int Width, int Height) MaskFieldSize(string spec)
    {
        string allowed = $"'{Footprints.GeneratedName}', a masks JSON file or one of {string.Join(", ", Footprints.BuiltinNames.Select(b => Footprints.BuiltinPrefix + b))}";
        Stream? stream = spec.StartsWith(Footprints.BuiltinPrefix, StringComparison.OrdinalIgnoreCase)
            ? Footprints.OpenBuiltin(spec, out _)
            : File.Exists(spec) ? File.OpenRead(spec) : null;
        if (stream is null) throw new SettingException("--footprints", spec, allowed);
        using (stream)
        {
            try
            {
                using var doc = JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
                var root = doc.RootElement;
                if (root.ValueKind == JsonValueKind.Object
                    && root.TryGetProperty("width", out var w) && w.TryGetInt32(out int width)
                    && root.TryGetProperty("height", out var h) && h.TryGetInt32(out int height))
                    return (width, height);
            }
            catch (JsonException) { }
        }
        throw new SettingException("--footprints", spec, "a masks JSON file with integer 'height' and 'width' members and 'masks' (see docs/data-formats.md)");
    }

    private static MovieResult Write(MovieOptions o, TissueProfile tissueProfile, ImagingProfile imaging, Footprints footprints, Action<int>? progress)
    {
        var tissue = new VirtualTissue(tissueProfile, imaging, o.Seed, footprints);
        string folder = Path.GetFullPath(o.OutFolder);
        Directory.CreateDirectory(folder);
        WriteMasks(Path.Combine(folder, "masks.json"), footprints);

        int n = tissue.NeuronCount;
        var frame = new ushort[imaging.WidthPx * imaging.HeightPx];
        Span<char> number = stackalloc char[32];
        string metadata = Metadata(o, imaging, tissueProfile, footprints);
        using (var movie = new TiffMovieWriter(Path.Combine(folder, "movie.tif"), imaging.WidthPx, imaging.HeightPx, metadata, expectedFrames: o.Frames))
        using (var spikes = new StreamWriter(Path.Combine(folder, "spikes.csv"), false, new UTF8Encoding(false)))
        using (var calcium = new StreamWriter(Path.Combine(folder, "calcium.csv"), false, new UTF8Encoding(false)))
        {
            string header = string.Join(',', Enumerable.Range(0, n).Select(i => i.ToString(CultureInfo.InvariantCulture)));
            spikes.WriteLine(header);
            calcium.WriteLine(header);
            for (int f = 0; f < o.Frames; f++)
            {
                tissue.Render(frame);
                movie.Append(frame, f * (double)tissue.FramePeriodNs / 1e9);
                var s = tissue.LastSpikes;
                var c = tissue.Calcium;
                for (int i = 0; i < n; i++)
                {
                    if (i > 0) { spikes.Write(','); calcium.Write(','); }
                    s[i].TryFormat(number, out int len, default, CultureInfo.InvariantCulture);
                    spikes.Write(number[..len]);
                    c[i].TryFormat(number, out len, "G6", CultureInfo.InvariantCulture);
                    calcium.Write(number[..len]);
                }
                spikes.WriteLine();
                calcium.WriteLine();
                progress?.Invoke(f + 1);
            }
        }
        long total = 0;
        foreach (long count in tissue.SpikeCounts) total += count;
        WriteReadme(Path.Combine(folder, "README.md"), o, imaging, footprints, total);
        return new MovieResult(folder, o.Frames, imaging.WidthPx, imaging.HeightPx, n, footprints.Source, total);
    }

    private static string Metadata(MovieOptions o, ImagingProfile imaging, TissueProfile t, Footprints footprints)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("source", "closedloop simulate movie (firmware-sim VirtualTissue)");
            w.WriteNumber("frameRateHz", imaging.FrameRateHz);
            w.WriteNumber("widthPx", imaging.WidthPx);
            w.WriteNumber("heightPx", imaging.HeightPx);
            w.WriteNumber("pixelSizeUm", imaging.PixelSizeUm);
            w.WriteNumber("frames", o.Frames);
            w.WriteNumber("seed", o.Seed);
            w.WriteString("footprints", footprints.Source);
            w.WriteNumber("neurons", footprints.Count);
            w.WriteStartObject("tissue");
            w.WriteNumber("spontaneousRateHz", t.SpontaneousRateHz);
            w.WriteNumber("indicatorDecayS", t.IndicatorDecayS);
            w.WriteNumber("dffPerSpike", t.DffPerSpike);
            w.WriteNumber("neuronBaselinePhotons", t.NeuronBaselinePhotons);
            w.WriteNumber("backgroundPhotons", t.BackgroundPhotons);
            w.WriteNumber("neuropilFraction", t.NeuropilFraction);
            w.WriteNumber("countsPerPhoton", t.CountsPerPhoton);
            w.WriteNumber("calciumSaturationSpikes", VirtualTissue.CalciumSaturationSpikes);
            w.WriteNumber("neuronRadiusPx", t.NeuronRadiusPx);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteMasks(string path, Footprints footprints)
    {
        using var file = File.Create(path);
        using var w = new Utf8JsonWriter(file);
        w.WriteStartObject();
        w.WriteString("source", $"closedloop simulate movie: footprints from {footprints.Source}");
        w.WriteNumber("height", footprints.HeightPx);
        w.WriteNumber("width", footprints.WidthPx);
        w.WriteString("pixel_index", "row*width+col");
        w.WriteStartArray("masks");
        for (int i = 0; i < footprints.Count; i++)
        {
            w.WriteStartArray();
            foreach (int p in footprints.PixelsOf(i)) w.WriteNumberValue(p);
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteReadme(string path, MovieOptions o, ImagingProfile imaging, Footprints footprints, long spikes)
    {
        var inv = CultureInfo.InvariantCulture;
        string text = string.Create(inv, $"""
            # Simulated two-photon movie

            Rendered by `closedloop simulate movie` from the firmware-sim virtual tissue (docs/simulation.md):
            {o.Frames} frames of {imaging.WidthPx}×{imaging.HeightPx} px at {imaging.FrameRateHz} Hz, {footprints.Count} neurons
            (footprints: {footprints.Source}), seed {o.Seed}, {spikes} spikes in all. The same options and seed give the
            same files. Layouts in detail: docs/data-formats.md.

            | file | contents |
            |---|---|
            | movie.tif | the movie: one uint16 page per frame, detector counts, row-major. Every page's ImageDescription is JSON with `frameIndex` and `sampleTimeS`; page 0 adds the frame rate, size, seed, footprints source and tissue parameters. |
            | masks.json | ground-truth footprints: `height`, `width`, `pixel_index` ("row*width+col") and `masks`, one list of pixel indices per neuron. |
            | spikes.csv | spikes each neuron fired in each frame: a header row of neuron indices (the order of `masks`), then one row per frame. |
            | calcium.csv | indicator calcium of each neuron at the end of each frame, in spikes' worth before saturation; same shape as spikes.csv. |

            Frame i covers [i/f, (i+1)/f) s on the sample clock (f the frame rate); its spikes fall in that interval and
            its calcium includes them, so a neuron's calcium jumps in the frame of a spike and decays after it.
            """);
        File.WriteAllText(path, text + "\n");
    }
}
