using System.Globalization;
using ClosedLoop.Control;
using ClosedLoop.Core;
using ClosedLoop.FirmwareSim;
using ClosedLoop.Hardware;
using ClosedLoop.Imaging;
using ClosedLoop.Imaging.Segmentation;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary>
/// <c>closedloop bench --online-segmentation</c>: what online segmentation in the slow loop costs the fast loop. The same
/// paced loop (online trace extraction over a fixed capacity of units → ΔF/F → a detector) runs three times in one
/// process: with its ROI set published once and nothing else running, with the slow loop segmenting every frame beside
/// it (a CPU-heavy stand-in for the model that spends <c>--segmentation-ms</c> of real arithmetic per frame and
/// publishes a changed ROI set every 30 frames, so the fast loop keeps taking over new tables), and without again.
/// The p99 of frame complete → decision with segmentation is compared with the mean of the two runs around it
/// (target: within 10 %).
/// </summary>
internal static class OnlineSegmentationBench
{
    /// <summary>Runs the benchmark; returns the exit code.</summary>
    public static int Execute(int widthPx, int heightPx, int roiCount, int frames, double speedUp, double segmentationMs, IAnsiConsole console)
    {
        try
        {
            Check.InRange("--width", widthPx, 32, 4096);
            Check.InRange("--height", heightPx, 32, 4096);
            Check.InRange("--rois", roiCount, 10, 4096);
            Check.InRange("--frames", frames, 600, 1_000_000);
            Check.InRange("--speed-up", speedUp, 1, 100);
            Check.InRange("--segmentation-ms", segmentationMs, 0, 1000);
        }
        catch (SettingException ex)
        {
            console.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
            return ExitCodes.BadInput;
        }
        double rateHz = 30 * speedUp;
        console.MarkupLine(Markup.Escape($"Online-segmentation benchmark: {widthPx}×{heightPx} px, {roiCount} ROI units, {frames:N0} frames paced at {rateHz:0.#} Hz, " +
                                         $"stand-in model {segmentationMs:0.##} ms of arithmetic per frame, {Environment.ProcessorCount} cores …"));
        var before = Measure(widthPx, heightPx, roiCount, frames, rateHz, null);
        var with = Measure(widthPx, heightPx, roiCount, frames, rateHz, segmentationMs);
        var after = Measure(widthPx, heightPx, roiCount, frames, rateHz, null);

        var t = new Table().Border(TableBorder.Rounded).Title("frame complete → decision (µs)").AddColumns("run", "frames", "p50", "p99", "max", "dropped", "alloc/frame", "detections");
        foreach (var (name, m) in new[] { ("fixed set", before), ("with segmentation", with), ("fixed set, again", after) })
            t.AddRow(name, m.Latency.Count.ToString("N0", CultureInfo.InvariantCulture), F(m.Latency.P50Us), F(m.Latency.P99Us), F(m.Latency.MaxUs), m.Dropped.ToString(CultureInfo.InvariantCulture),
                $"{m.AllocatedBytesPerFrame:0.##} B", m.Detections.ToString(CultureInfo.InvariantCulture));
        console.Write(t);
        double baseP50 = (before.Latency.P50Us + after.Latency.P50Us) / 2, baseP99 = (before.Latency.P99Us + after.Latency.P99Us) / 2;
        double baseMax = (before.Latency.MaxUs + after.Latency.MaxUs) / 2;
        var s = new Table().Border(TableBorder.Rounded).AddColumns("figure", "value");
        s.AddRow("p50 with / without (mean of the runs around it)", $"{with.Latency.P50Us / baseP50:0.000}×");
        s.AddRow("p99 with / without (target ≤ 1.10)", $"{with.Latency.P99Us / baseP99:0.000}×");
        s.AddRow("max with / without", $"{with.Latency.MaxUs / baseMax:0.000}×");
        var seg = with.Stats!;
        s.AddRow("frames segmented / dropped by the slow loop", $"{seg.FramesSegmented:N0} / {seg.FramesDropped:N0}");
        s.AddRow("ROI sets published / taken over by the fast loop", $"{seg.Updates:N0} / {seg.Swaps:N0}");
        s.AddRow("update latency p50 / p99 (frame complete → set published)", $"{seg.UpdateLatencyP50Ms:0.##} / {seg.UpdateLatencyP99Ms:0.##} ms");
        s.AddRow("garbage collections during the run with segmentation (gen 0/1/2)", with.Gc);
        console.Write(s);
        return ExitCodes.Ok;
    }

    private sealed record Measured(LatencyStats Latency, long Dropped, OnlineSegmentationStats? Stats, double AllocatedBytesPerFrame, string Gc, long Detections);

    private static Measured Measure(int widthPx, int heightPx, int roiCount, int frames, double rateHz, double? segmentationMs)
    {
        const int warmup = 300, distinctFrames = 32, seed = 11;
        var imaging = new ImagingProfile { WidthPx = widthPx, HeightPx = heightPx, FrameRateHz = rateHz };
        var footprints = Footprints.Generate(widthPx, heightPx, roiCount, 5, seed);
        var tissue = new VirtualTissue(new TissueProfile { SpontaneousRateHz = 0.5 }, imaging, seed, footprints);
        var rendered = new ushort[distinctFrames][];
        for (int i = 0; i < distinctFrames; i++) { rendered[i] = new ushort[widthPx * heightPx]; tissue.Render(rendered[i]); }
        var masks = Enumerable.Range(0, roiCount).Select(i => footprints.PixelsOf(i).ToArray().Order().ToArray()).ToArray();

        var traces = new TraceExtractionSettings();
        var board = new OnlineRoiBoard(roiCount, widthPx, heightPx, traces);
        var activity = board.CreateActivity();
        using var stop = new CancellationTokenSource();
        var context = new RunContext("bench", rateHz, new RunEventLog(), stop);
        var detector = new GroupActivityDetector(new GroupActivityDetectorSettings { Name = "group", Group = "group", ThresholdDff = 0.1, MinActive = 2 },
            Enumerable.Range(0, Math.Min(10, roiCount)).ToArray());
        var stages = new List<IFastStage>
        {
            new TraceExtractionStage(traces, board, activity),
            new DffStage(new DffSettings(), activity),
            new DetectorStage([detector], activity),
        };
        SegmentationLoop? loop = null;
        LiveTap? tap = null;
        if (segmentationMs is double ms)
        {
            var settings = new OnlineSegmentationSettings { MaxRois = roiCount, Masks = new SegmentationSettings { InitialFrames = warmup / 3, UpdateEveryFrames = 30 } };
            loop = new SegmentationLoop(new BusySegmentation(widthPx, heightPx, masks, settings.Masks.InitialFrames, settings.Masks.UpdateEveryFrames, ms), board, settings,
                $"CPU-heavy stand-in ({ms:0.##} ms per frame)");
            tap = new LiveTap(activity);
            stages.Add(tap);
            loop.Attach(new LiveRunInfo(context, "bench", "bench", widthPx, heightPx, board.Units().Units, [], new ParameterBoard(), () => null!,
                new Dictionary<string, string>()) { CurrentUnits = board.Units }, tap);
        }
        else
        {
            // The same extraction work with the ROI set of a segmentation that has found everything, published once.
            board.Publish(masks.Select((m, i) => new TrackedRoi(i, m, false, false, 1)).ToList(), 1);
        }
        var source = new PrerenderedSource(rendered, widthPx, heightPx, rateHz, warmup + frames, (long)Math.Round(1e9 / rateHz));
        var pipeline = new RunPipeline(source, stages, new PipelineSettings { WarmupFrames = warmup }, tap?.FramesHeldMax ?? 0);
        var gc = GcSummary.Now();
        var result = pipeline.Run(context, stop, CancellationToken.None);
        loop?.Detach(result);
        var gcRun = GcSummary.Since(gc);
        loop?.Dispose();
        if (result.Outcome != RunOutcome.Completed) throw new InvalidOperationException("benchmark run failed: " + result.FaultMessage);
        var all = pipeline.Loop.Ledger.Summarise();
        return new Measured(all.Single(x => x.Name.StartsWith("end-to-end", StringComparison.Ordinal)), source.FramesDroppedAtSource + pipeline.Input.Dropped,
            loop?.Stats(), pipeline.Loop.AllocatedBytesPerFrame, $"{gcRun.Gen0}/{gcRun.Gen1}/{gcRun.Gen2}", detector.Detections);
    }

    private static string F(double v) => v.ToString(v < 100 ? "0.0" : "0", CultureInfo.InvariantCulture);
}

/// <summary>
/// A CPU-heavy stand-in for the online segmentation until the real one is merged: for every frame pushed it spends
/// <c>costMs</c> of real arithmetic over the frame's pixels (running per-pixel mean and variance, as a model's
/// normalisation would), and it changes its ROI set like a segmentation does: half of the given masks after
/// <c>initFrames</c>, then every <c>updateEveryFrames</c> a few more found and one refined. Each update allocates a
/// new snapshot, as a real one would.
/// </summary>
internal sealed class BusySegmentation(int widthPx, int heightPx, int[][] masks, int initFrames, int updateEveryFrames, double costMs) : IOnlineSegmentation
{
    private readonly object _gate = new();
    private readonly float[] _mean = new float[widthPx * heightPx];
    private readonly float[] _var = new float[widthPx * heightPx];
    private readonly Dictionary<int, TrackedRoi> _rois = new();
    private long _seen, _version;
    private int _found, _next;

    public int WidthPx => widthPx;
    public int HeightPx => heightPx;
    public long FramesSeen { get { lock (_gate) return _seen; } }
    public bool Initialised { get { lock (_gate) return _seen >= initFrames; } }
    public long Version { get { lock (_gate) return _version; } }

    public void Push(ReadOnlySpan<ushort> frames, int count)
    {
        int n = widthPx * heightPx;
        for (int f = 0; f < count; f++)
        {
            var frame = frames.Slice(f * n, n);
            long until = MonotonicClock.NowNs() + (long)(costMs * 1e6);
            do
            {
                for (int p = 0; p < n; p++)
                {
                    float x = frame[p], d = x - _mean[p];
                    _mean[p] += 0.01f * d;
                    _var[p] += 0.01f * (d * d - _var[p]);
                }
            }
            while (MonotonicClock.NowNs() < until);
            lock (_gate)
            {
                _seen++;
                if (_seen == initFrames) { Reveal(masks.Length / 2); _version++; }
                else if (_seen > initFrames && (_seen - initFrames) % updateEveryFrames == 0)
                {
                    Reveal(Math.Max(1, masks.Length / 50));
                    int id = (int)(_seen / updateEveryFrames % Math.Max(1, _found));
                    if (_rois.TryGetValue(id, out var r) && !r.Locked && r.PixelIndices.Length > 2)
                        _rois[id] = r with { PixelIndices = r.PixelIndices[(r.PixelIndices.Length % 2 == 0 ? 1 : 0)..] };
                    _version++;
                }
            }
        }
    }

    private void Reveal(int more)
    {
        for (int k = 0; k < more && _found < masks.Length; k++, _found++)
        {
            int id = _next++;
            _rois[id] = new TrackedRoi(id, masks[_found], false, false, 1);
        }
    }

    public IReadOnlyList<TrackedRoi> Snapshot() { lock (_gate) return _rois.Values.OrderBy(r => r.Id).ToList(); }

    public bool Lock(int id, bool locked)
    {
        lock (_gate) { if (!_rois.TryGetValue(id, out var r)) return false; _rois[id] = r with { Locked = locked }; _version++; return true; }
    }

    public int Add(int[] pixelIndices)
    {
        lock (_gate) { int id = _next++; _rois[id] = new TrackedRoi(id, pixelIndices, true, true, 0); _version++; return id; }
    }

    public bool Delete(int id)
    {
        lock (_gate) { if (!_rois.Remove(id)) return false; _version++; return true; }
    }

    public void Dispose() { }
}
