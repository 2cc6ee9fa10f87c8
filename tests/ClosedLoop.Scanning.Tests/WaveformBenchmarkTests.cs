using System.Diagnostics;
using ClosedLoop.Scanning.Assembly;
using ClosedLoop.Scanning.Waveforms;
using Xunit.Abstractions;

namespace ClosedLoop.Scanning.Tests;

public class WaveformBenchmarkTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "Benchmark")]
    public void WaveformGeneration_512LineFrameWithEtlSteps_PrintsTime()
    {
        var y = new GalvoAxis("galvoY", 0.5, 12, 60_000, 1e9, -10, 10);
        var etlAxis = new EtlAxis("etl", 0.01, 2, -200, 200, 0.002, 0, 5);
        const double ao = 1e6;
        var resonant = new ResonantSlowAxis(y, new ResonantScanSettings(512, 7910, true, 0.7, 3, Motion: SlowAxisMotion.Ramped), ao);
        var volume = new EtlVolume(etlAxis, new EtlVolumeSettings(5, -50, 25, 1), resonant.Plan);
        var raster = new GalvoRaster(y with { Name = "galvoX" }, y, new RasterSettings(512, 500, 5, 5), 250e3);
        int n = resonant.Plan.SamplesPerFrame;
        double[] yv = new double[n], etl = new double[n], blank = new double[n];
        double[] gx = new double[raster.Plan.SamplesPerFrame], gy = new double[gx.Length], gb = new double[gx.Length];

        double Time(Action a)
        {
            for (int i = 0; i < 3; i++) a();
            var sw = Stopwatch.StartNew();
            const int reps = 50;
            for (int i = 0; i < reps; i++) a();
            return sw.Elapsed.TotalMilliseconds / reps;
        }

        double resonantMs = Time(() => { resonant.WriteFrame(yv); volume.WriteFrame(1, etl); volume.WriteBlanking(1, blank, BlankingLevels.Digital); });
        double rasterMs = Time(() => { raster.WriteFrame(gx, gy); raster.Plan.WriteBlanking(gb, BlankingLevels.Digital); });
        output.WriteLine($"resonant 512 lines, Y + ETL step + blanking, {n} AO samples @ 1 MS/s: {resonantMs:F3} ms per frame");
        output.WriteLine($"galvo raster 512 lines @ 500 Hz, X + Y + blanking, {gx.Length} AO samples @ 250 kS/s: {rasterMs:F3} ms per frame");
    }

    [Fact]
    [Trait("Category", "Benchmark")]
    public void Assembly_Resonant8kHzBidirectional80MSps_PrintsRealTimeRatio()
    {
        var result = AssemblyBenchmark.Run(new AssemblyBenchmarkSettings(MinDurationS: 3));
        output.WriteLine("7910 Hz bidirectional, 80 MS/s per channel, 512×512 px, 2 channels, fill 0.8, one core:");
        output.WriteLine(result.ToString());
        Assert.Equal(0, result.AllocatedBytesPerFrame);
    }
}
