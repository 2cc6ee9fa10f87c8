using System.Globalization;
using ClosedLoop.Core;
using ClosedLoop.Scanning.Assembly;
using ClosedLoop.Scanning.Waveforms;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary>
/// <c>closedloop bench --scan</c>: the scanning layer's two figures. Waveform generation for a 512-line resonant
/// frame with an ETL volume step and blanking (target: under 1 ms), timed over many repetitions with percentiles;
/// and frame assembly of a 7910 Hz bidirectional stream at 80 MS/s per channel, 512×512 px, two channels, on one
/// core, with its ratio to real time (target: at least 4×).
/// </summary>
public static class ScanBench
{
    /// <summary>Runs both measurements and prints them.</summary>
    public static int Execute(IAnsiConsole console)
    {
        var y = new GalvoAxis("galvoY", 0.5, 12, 60_000, 1e9, -10, 10);
        var etlAxis = new EtlAxis("etl", 0.01, 2, -200, 200, 0.002, 0, 5);
        var resonant = new ResonantSlowAxis(y, new ResonantScanSettings(512, 7910, true, 0.7, 3, Motion: SlowAxisMotion.Ramped), 1e6);
        var volume = new EtlVolume(etlAxis, new EtlVolumeSettings(5, -50, 25, 1), resonant.Plan);
        int n = resonant.Plan.SamplesPerFrame;
        double[] yv = new double[n], etl = new double[n], blank = new double[n];
        var h = new LatencyHistogram();
        for (int i = 0; i < 400; i++)
        {
            long t0 = MonotonicClock.NowNs();
            resonant.WriteFrame(yv);
            volume.WriteFrame(1, etl);
            volume.WriteBlanking(1, blank, BlankingLevels.Digital);
            if (i >= 50) h.Record(MonotonicClock.NowNs() - t0);
        }
        var w = h.Summarise("waveforms");
        var a = AssemblyBenchmark.Run(new AssemblyBenchmarkSettings(MinDurationS: 3));

        var t = new Table().Border(TableBorder.Rounded).AddColumns("figure", "value", "target");
        t.AddRow($"waveforms: 512-line resonant frame, Y + ETL step + blanking ({n} AO samples at 1 MS/s)",
            $"p50 {w.P50Us:0} µs, p99 {w.P99Us:0} µs, max {w.MaxUs:0} µs", "< 1 ms");
        t.AddRow("assembly: 7910 Hz bidirectional, 80 MS/s × 2 channels, 512×512 px, one core",
            string.Create(CultureInfo.InvariantCulture, $"{a.FramesPerSecond:0} frames/s, {a.MegabytesPerSecond:0} MB/s, {a.RealTimeRatio:0.0}× real time"), "≥ 4× real time");
        t.AddRow("assembly: allocation per frame", $"{a.AllocatedBytesPerFrame:0.##} B", "0");
        console.Write(t);
        return ExitCodes.Ok;
    }
}
