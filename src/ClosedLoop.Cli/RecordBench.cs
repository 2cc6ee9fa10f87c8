using System.Globalization;
using ClosedLoop.Core;
using ClosedLoop.Storage;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary>
/// <c>closedloop bench --record</c>: what recording costs the fast loop, and how far the disk is from its limit.
/// The same paced loop (512×512 by default) runs three times in one process: without a recorder, with the recorder
/// attached, and without again; the latency of the loop with the recorder is compared with the two runs around it.
/// Frames are paced at a multiple of 30 Hz (10× by default), so the recorder must also sustain ten times the data
/// rate of 30 Hz imaging. Then the TIFF writer alone is timed appending frames as fast as it can.
/// </summary>
internal static class RecordBench
{
    /// <summary>Runs the benchmark into <paramref name="directory"/> (a scratch folder when null); returns the exit code.</summary>
    public static int Execute(int widthPx, int heightPx, int roiCount, int frames, double speedUp, string? directory, IAnsiConsole console)
    {
        try
        {
            Check.InRange("--width", widthPx, 32, 4096);
            Check.InRange("--height", heightPx, 32, 4096);
            Check.InRange("--rois", roiCount, 10, 20_000);
            Check.InRange("--frames", frames, 600, 1_000_000);
            Check.InRange("--speed-up", speedUp, 1, 100);
        }
        catch (SettingException ex)
        {
            console.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
            return ExitCodes.BadInput;
        }
        string dir = directory ?? Directory.CreateTempSubdirectory("closedloop-record-bench-").FullName;
        Directory.CreateDirectory(dir);
        double rateHz = 30 * speedUp;
        double mbPerFrame = widthPx * heightPx * 2 / 1e6;
        console.MarkupLine(Markup.Escape($"Recording benchmark: {widthPx}×{heightPx} px, {roiCount} ROIs, {frames:N0} frames paced at {rateHz:0.#} Hz ({speedUp:0.#}× 30 Hz, {mbPerFrame * rateHz:0.#} MB/s of frames) into {dir} …"));

        var before = Measure(widthPx, heightPx, roiCount, frames, rateHz, null);
        var recorder = new RunRecorder(Path.Combine(dir, "run"), new RecordingSettings { ExpectedFrames = frames });
        var with = Measure(widthPx, heightPx, roiCount, frames, rateHz, recorder);
        var after = Measure(widthPx, heightPx, roiCount, frames, rateHz, null);
        var rec = with.Consumer!;

        var disk = DiskThroughput(Path.Combine(dir, "writer-only.tif"), widthPx, heightPx, Math.Min(frames, 2000));
        double dataRate30 = mbPerFrame * 30;

        var t = new Table().Border(TableBorder.Rounded).Title("frame complete → decision (µs)").AddColumns("run", "frames", "p50", "p99", "max", "dropped");
        foreach (var (name, m) in new[] { ("without recorder", before), ("with recorder", with), ("without recorder, again", after) })
            t.AddRow(name, m.Latency.Count.ToString("N0", CultureInfo.InvariantCulture), F(m.Latency.P50Us), F(m.Latency.P99Us), F(m.Latency.MaxUs), m.Dropped.ToString(CultureInfo.InvariantCulture));
        console.Write(t);
        double baseP99 = (before.Latency.P99Us + after.Latency.P99Us) / 2;
        var s = new Table().Border(TableBorder.Rounded).AddColumns("figure", "value");
        s.AddRow("p99 with recorder / p99 without (mean of the runs around it)", $"{with.Latency.P99Us / baseP99:0.000}×");
        s.AddRow("tap stage, p50 / p99", $"{F(with.Tap!.P50Us)} / {F(with.Tap.P99Us)} µs");
        s.AddRow("frames recorded / dropped at the tap", $"{rec.Counters["framesWritten"]:N0} / {rec.Counters["framesDroppedAtTap"]:N0}");
        s.AddRow($"recorder sustained ({rateHz:0.#} Hz)", $"{mbPerFrame * rateHz:0.#} MB/s = {speedUp:0.#}× the 30 Hz data rate ({dataRate30:0.#} MB/s)");
        s.AddRow("TIFF writer alone, as fast as it goes", $"{disk:0} MB/s = {disk / dataRate30:0.#}× the 30 Hz data rate");
        if (rec.Error is not null) s.AddRow("[red]recorder error[/]", Markup.Escape(rec.Error));
        console.Write(s);
        if (directory is null) { try { Directory.Delete(dir, recursive: true); } catch (IOException) { } }
        return ExitCodes.Ok;
    }

    private sealed record Measured(LatencyStats Latency, LatencyStats? Tap, long Dropped, LiveConsumerReport? Consumer);

    private static Measured Measure(int widthPx, int heightPx, int roiCount, int frames, double rateHz, RunRecorder? recorder)
    {
        const int warmup = 300;
        using var bench = BenchLoop.Create(widthPx, heightPx, roiCount, warmup + frames, (long)Math.Round(1e9 / rateHz));
        var stages = bench.Stages.ToList();
        LiveTap? tap = null;
        if (recorder is not null)
        {
            tap = new LiveTap(bench.Activity);
            stages.Add(tap);
            var info = new LiveRunInfo(bench.Context, "bench", "bench", widthPx, heightPx,
                Enumerable.Range(0, bench.Rois.Count).Select(i => new LiveUnit(bench.Rois[i].Name, bench.Rois[i].PixelIndices.ToArray(), bench.Rois[i].CentroidXPx, bench.Rois[i].CentroidYPx)).ToList(),
                Array.Empty<LiveGroup>(), new ParameterBoard(), () => null!, new Dictionary<string, string>());
            recorder.Attach(info, tap);
        }
        var pipeline = new RunPipeline(bench.Source, stages, new PipelineSettings { WarmupFrames = warmup }, tap?.FramesHeldMax ?? 0);
        var result = pipeline.Run(bench.Context, bench.Stop, CancellationToken.None);
        var report = recorder?.Detach(result);
        if (result.Outcome != RunOutcome.Completed) throw new InvalidOperationException("benchmark run failed: " + result.FaultMessage);
        var all = pipeline.Loop.Ledger.Summarise();
        return new Measured(all.Single(x => x.Name.StartsWith("end-to-end", StringComparison.Ordinal)), all.FirstOrDefault(x => x.Name == "tap"),
            bench.Source.FramesDroppedAtSource + pipeline.Input.Dropped, report);
    }

    /// <summary>MB/s the TIFF writer reaches appending frames back to back (and flushing to disk at the end).</summary>
    private static double DiskThroughput(string path, int widthPx, int heightPx, int frames)
    {
        var px = new ushort[widthPx * heightPx];
        new Random(1).NextBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(px.AsSpan()));
        long t0 = MonotonicClock.NowNs();
        using (var w = new TiffMovieWriter(path, widthPx, heightPx, expectedFrames: frames))
        {
            for (int i = 0; i < frames; i++) w.Append(px, i / 30.0);
            w.Flush();
        }
        double s = (MonotonicClock.NowNs() - t0) / 1e9;
        File.Delete(path);
        return frames * px.Length * 2 / 1e6 / s;
    }

    private static string F(double v) => v.ToString(v < 100 ? "0.0" : "0", CultureInfo.InvariantCulture);
}
