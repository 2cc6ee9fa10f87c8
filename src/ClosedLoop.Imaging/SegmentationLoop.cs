using System.Globalization;
using ClosedLoop.Core;
using ClosedLoop.Imaging.Segmentation;

namespace ClosedLoop.Imaging;

/// <summary>ROIs traced at one point of a run.</summary>
/// <param name="FrameIndex">Last frame the segmentation had seen when the set was published.</param>
/// <param name="TimeS">That frame's time on the sample clock, s.</param>
/// <param name="Rois">ROIs traced from then on.</param>
/// <param name="Version">ROI-set version.</param>
public sealed record RoiCountPoint(long FrameIndex, double TimeS, int Rois, long Version);

/// <summary>What the slow loop's online segmentation did in a run (for the run report).</summary>
/// <param name="Model">The segmentation's description (model, backend).</param>
/// <param name="Capacity">Units reserved for ROIs (segmentation.maxRois).</param>
/// <param name="FramesOffered">Frames the tap offered to the slow loop.</param>
/// <param name="FramesSegmented">Frames pushed through the segmentation.</param>
/// <param name="FramesDropped">Frames the slow loop missed because it was behind (the fast loop processed them).</param>
/// <param name="Initialised">Whether initialisation finished.</param>
/// <param name="InitialisedAtFrame">Frame after which the first ROI set was published (-1: never).</param>
/// <param name="Updates">ROI sets published because the segmentation changed them (user edits not included).</param>
/// <param name="Version">Last published ROI-set version.</param>
/// <param name="RoisAtEnd">ROIs traced at the end.</param>
/// <param name="RoisOverCapacity">ROIs found with ids beyond the capacity (not traced), at the end.</param>
/// <param name="UserEdits">Lock, unlock, add and delete requests carried out.</param>
/// <param name="UpdateLatencyP50Ms">Slow-loop latency per update, median: last frame of the batch complete → new ROI set
/// published to the fast loop, ms (NaN without updates).</param>
/// <param name="UpdateLatencyP99Ms">Same, 99th percentile.</param>
/// <param name="UpdateLatencyMaxMs">Same, maximum.</param>
/// <param name="Swaps">Times the fast loop took over new extraction tables.</param>
/// <param name="RoiCountOverTime">ROI count after each published change (at most 200 points, thinned evenly).</param>
/// <param name="Error">What stopped the segmentation early (traces went on with the last ROI set), or null.</param>
public sealed record OnlineSegmentationStats(string Model, int Capacity, long FramesOffered, long FramesSegmented, long FramesDropped,
    bool Initialised, long InitialisedAtFrame, long Updates, long Version, int RoisAtEnd, int RoisOverCapacity, int UserEdits,
    double UpdateLatencyP50Ms, double UpdateLatencyP99Ms, double UpdateLatencyMaxMs, long Swaps,
    IReadOnlyList<RoiCountPoint> RoiCountOverTime, string? Error);

/// <summary>
/// The slow loop of online segmentation: a live consumer that takes frames from the tap by reference (bounded queue of
/// <see cref="OnlineSegmentationSettings.QueueFrames"/>; when it is full the frame is dropped for segmentation only, and
/// counted), copies them into a batch, releases them at once, and calls <see cref="IOnlineSegmentation.Push"/> on its
/// own thread. Whenever the segmentation's <see cref="IOnlineSegmentation.Version"/> changes it publishes the new ROI set
/// to the <see cref="OnlineRoiBoard"/>, where the fast loop takes it over before its next frame. It polls its queue
/// (like the recorder), so the fast loop never wakes it and never waits for it. User edits (<see cref="Edit"/>) go to
/// the segmentation and are published on the caller's thread. Every change is logged in the run's events.
/// </summary>
public sealed class SegmentationLoop : ILiveConsumer, IDisposable
{
    private const int MaxCountPoints = 200;

    private readonly IOnlineSegmentation _segmentation;
    private readonly OnlineRoiBoard _board;
    private readonly OnlineSegmentationSettings _settings;
    private readonly object _publishGate = new();
    private readonly LatencyHistogram _latency = new();
    private readonly List<RoiCountPoint> _counts = new();
    private TapSubscription? _sub;
    private RunEventLog? _events;
    private Thread? _thread;
    private ushort[] _batch = [];
    private long _segmented;
    private long _updates;
    private long _lastVersion;
    private long _lastFrameIndex = -1;
    private long _lastSampleNs;
    private long _initialisedAtFrame = -1;
    private int _edits;
    private int _overCapacity;
    private volatile string? _error;
    private volatile bool _detached;
    private volatile bool _stopRequested;

    /// <summary>Creates the slow loop for <paramref name="segmentation"/>, publishing to <paramref name="board"/>;
    /// <paramref name="description"/> names the model for the report (e.g. the frame segmenter's description).</summary>
    public SegmentationLoop(IOnlineSegmentation segmentation, OnlineRoiBoard board, OnlineSegmentationSettings settings, string description)
    {
        settings.Validate();
        if (segmentation.WidthPx != board.WidthPx || segmentation.HeightPx != board.HeightPx)
            throw new SettingException("segmentation", $"{segmentation.WidthPx}×{segmentation.HeightPx} px", $"the {board.WidthPx}×{board.HeightPx} px of the frames");
        _segmentation = segmentation;
        _board = board;
        _settings = settings;
        Description = description;
    }

    /// <inheritdoc />
    public string Name => "segmentation";

    /// <summary>The model's description for reports.</summary>
    public string Description { get; }

    /// <summary>The board the fast loop reads.</summary>
    public OnlineRoiBoard Board => _board;

    /// <summary>The segmentation (for tests and the report).</summary>
    public IOnlineSegmentation Segmentation => _segmentation;

    /// <summary>Frames pushed through the segmentation so far.</summary>
    public long FramesSegmented => Interlocked.Read(ref _segmented);

    /// <inheritdoc />
    public void Attach(LiveRunInfo run, LiveTap tap)
    {
        _events = run.Context.Events;
        _sub = tap.Subscribe(Name, _settings.QueueFrames, frameEvery: 1, activityCapacity: 0);
        _batch = new ushort[_settings.BatchFrames * _board.WidthPx * _board.HeightPx];
        _thread = new Thread(Work) { IsBackground = true, Name = "segmentation" };
        _thread.Start();
    }

    /// <inheritdoc />
    public LiveConsumerReport Detach(RunResult result)
    {
        // Normally the tap has ended and the thread finishes the frames still queued. A run that never started its tap
        // would never end the thread: after a grace period it is asked to stop.
        if (_thread is { } thread && !thread.Join(TimeSpan.FromSeconds(30)))
        {
            _stopRequested = true;
            thread.Join();
        }
        _detached = true;
        _sub?.Frames?.Drain();
        var s = Stats();
        var counters = new Dictionary<string, long>
        {
            ["framesOffered"] = s.FramesOffered,
            ["framesSegmented"] = s.FramesSegmented,
            ["framesDropped"] = s.FramesDropped,
            ["updates"] = s.Updates,
            ["roisAtEnd"] = s.RoisAtEnd,
            ["userEdits"] = s.UserEdits,
        };
        string summary = $"{s.FramesSegmented} frames segmented ({s.FramesDropped} dropped by the slow loop), {s.Updates} ROI-set updates, {s.RoisAtEnd} ROIs at the end; slow-loop thread {Scheduling}";
        return new LiveConsumerReport(Name, summary, s.Error, counters);
    }

    /// <summary>Counters and figures now (final after <see cref="Detach"/>).</summary>
    public OnlineSegmentationStats Stats()
    {
        var frames = _sub?.Frames;
        lock (_publishGate)
        {
            bool any = _latency.Count > 0;
            var points = _counts.Count <= MaxCountPoints ? _counts.ToList()
                : Enumerable.Range(0, MaxCountPoints).Select(k => _counts[(int)((long)k * (_counts.Count - 1) / (MaxCountPoints - 1))]).ToList();
            return new OnlineSegmentationStats(Description, _board.Capacity, frames?.Written ?? 0, Interlocked.Read(ref _segmented), frames?.Dropped ?? 0,
                SafeInitialised(), _initialisedAtFrame, _updates, _board.PublishedVersion, _board.Present, _overCapacity, _edits,
                any ? _latency.Quantile(0.5) / 1e6 : double.NaN, any ? _latency.Quantile(0.99) / 1e6 : double.NaN, any ? _latency.MaxNs / 1e6 : double.NaN,
                _board.Swaps, points, _error);
        }
    }

    /// <summary>Carries out a user's edit: lock, unlock or delete ROI <see cref="RoiEditRequest.Id"/>, or add a ROI from
    /// pixel indices or a circle. The new set is published before this returns, so the fast loop uses it from its next
    /// frame; the edit is logged in the run's events. Throws <see cref="ControlException"/> naming the field for a bad
    /// request (unknown id, pixel outside the frame, circle off the frame) and then changes nothing. Any thread.</summary>
    public RoiEditReply Edit(RoiEditRequest request)
    {
        if (_detached) throw new ControlException("not-running", "the run has ended; its ROIs can no longer be edited");
        int cap = _board.Capacity;
        int id;
        string what;
        switch (request.Action)
        {
            case RoiEditAction.Lock:
            case RoiEditAction.Unlock:
            case RoiEditAction.Delete:
            {
                id = RequireId(request);
                bool ok = request.Action == RoiEditAction.Delete ? _segmentation.Delete(id) : _segmentation.Lock(id, request.Action == RoiEditAction.Lock);
                if (!ok) throw new ControlException("unknown-roi", $"field 'id': there is no ROI {id} ({RoiSet.DefaultName(id)}) now; {Existing()}");
                what = request.Action switch
                {
                    RoiEditAction.Lock => "locked",
                    RoiEditAction.Unlock => "unlocked",
                    _ => "deleted",
                };
                what = $"user {what} {RoiSet.DefaultName(id)}";
                break;
            }
            case RoiEditAction.Add:
            {
                var (pixels, shape) = PixelsOf(request);
                try { id = _segmentation.Add(pixels); }
                catch (SettingException ex) { throw new ControlException("bad-request", $"field 'pixels': {ex.Message}"); }
                if (id >= cap)
                {
                    _segmentation.Delete(id);
                    throw new ControlException("out-of-range", $"all {cap} ROI ids of this run are used (segmentation.maxRois); ids are never reused, so no ROI can be added");
                }
                what = $"user added {RoiSet.DefaultName(id)} ({shape}, {pixels.Length} px)";
                break;
            }
            default:
                throw new ControlException("bad-request", $"field 'action': '{request.Action}' is not one of lock, unlock, add, delete");
        }
        long version;
        lock (_publishGate)
        {
            _edits++;
            _events?.Add(new RunEvent(RunEventKind.Info, Volatile.Read(ref _lastSampleNs), MonotonicClock.NowNs(), Name, what, id));
            version = PublishIfChanged(-1, "user edit");
        }
        return new RoiEditReply(id, RoiSet.DefaultName(id), _board.MaskOf(id)?.Length ?? 0, version, what);
    }

    /// <summary>Stops the slow loop's thread if it still runs (a run that was built but never started), releases the frames
    /// it holds and disposes the segmentation.</summary>
    public void Dispose()
    {
        _stopRequested = true;
        _thread?.Join();
        _detached = true;
        _sub?.Frames?.Drain();
        _segmentation.Dispose();
    }

    private int RequireId(RoiEditRequest request)
    {
        int cap = _board.Capacity;
        if (request.Id is not int id)
            throw new ControlException("bad-request", $"field 'id' is required for {request.Action.ToString().ToLowerInvariant()}: an ROI id (unit index) between 0 and {cap - 1}");
        if (id < 0 || id >= cap)
            throw new ControlException("unknown-roi", $"field 'id': {id} is not an ROI id of this run (0..{cap - 1}); {Existing()}");
        return id;
    }

    private string Existing()
    {
        var ids = _board.Units().Units.Select((u, i) => (u, i)).Where(x => x.u.Pixels.Length > 0).Select(x => x.i).ToList();
        return ids.Count == 0 ? "no ROI exists yet" : $"ROIs now: {string.Join(", ", ids.Take(30))}{(ids.Count > 30 ? ", ..." : "")}";
    }

    private (int[] Pixels, string Shape) PixelsOf(RoiEditRequest r)
    {
        int w = _board.WidthPx, h = _board.HeightPx, n = w * h;
        bool circle = r.CenterXPx is not null || r.CenterYPx is not null || r.RadiusPx is not null;
        if (r.Pixels is not null && circle)
            throw new ControlException("bad-request", "field 'pixels': give either pixel indices or a circle (x, y, radius), not both");
        if (r.Pixels is { } given)
        {
            if (given.Length == 0) throw new ControlException("bad-request", "field 'pixels': at least one pixel index (row * width + col)");
            for (int j = 0; j < given.Length; j++)
                if ((uint)given[j] >= (uint)n)
                    throw new ControlException("bad-request", $"field 'pixels[{j}]': {given[j]} lies outside the {w}×{h} frame (an index between 0 and {n - 1}, row * width + col)");
            var sorted = given.Distinct().Order().ToArray();
            return (sorted, "pixels");
        }
        if (!circle) throw new ControlException("bad-request", "field 'pixels' (pixel indices) or fields 'x', 'y', 'radius' (a circle in px) are required to add an ROI");
        double x = r.CenterXPx ?? throw new ControlException("bad-request", $"field 'x': the circle's centre column, 0..{w - 1} px");
        double y = r.CenterYPx ?? throw new ControlException("bad-request", $"field 'y': the circle's centre row, 0..{h - 1} px");
        double radius = r.RadiusPx ?? throw new ControlException("bad-request", "field 'radius': the circle's radius, 0.5..100 px");
        if (!(x >= 0 && x <= w - 1)) throw new ControlException("bad-request", $"field 'x': {F(x)} lies outside the frame (0..{w - 1} px)");
        if (!(y >= 0 && y <= h - 1)) throw new ControlException("bad-request", $"field 'y': {F(y)} lies outside the frame (0..{h - 1} px)");
        if (!(radius >= 0.5 && radius <= 100)) throw new ControlException("bad-request", $"field 'radius': {F(radius)} is not between 0.5 and 100 px");
        var list = new List<int>();
        int r0 = Math.Max(0, (int)Math.Floor(y - radius)), r1 = Math.Min(h - 1, (int)Math.Ceiling(y + radius));
        int c0 = Math.Max(0, (int)Math.Floor(x - radius)), c1 = Math.Min(w - 1, (int)Math.Ceiling(x + radius));
        for (int row = r0; row <= r1; row++)
            for (int col = c0; col <= c1; col++)
                if ((row - y) * (row - y) + (col - x) * (col - x) <= radius * radius) list.Add(row * w + col);
        if (list.Count == 0) throw new ControlException("bad-request", "field 'radius': the circle covers no pixel centre; make it larger");
        return (list.ToArray(), $"circle x={F(x)} y={F(y)} r={F(radius)} px");
    }

    /// <summary>What the slow loop's thread got from the scheduler (for the report).</summary>
    public string Scheduling { get; private set; } = "not started";

    private void Work()
    {
        Scheduling = BackgroundPriority.LowerCurrentThread();
        var sub = _sub!;
        var link = sub.Frames!;
        int frameSize = _board.WidthPx * _board.HeightPx;
        int count = 0;
        long batchCompletedNs = 0;
        try
        {
            while (true)
            {
                bool ended = sub.Ended;
                bool took = false;
                while (count < _settings.BatchFrames && link.TryTakeNow(out var frame))
                {
                    took = true;
                    try
                    {
                        frame.Span.CopyTo(_batch.AsSpan(count * frameSize, frameSize));
                        batchCompletedNs = frame.CompletedHostNs;
                        Volatile.Write(ref _lastFrameIndex, frame.FrameIndex);
                        Volatile.Write(ref _lastSampleNs, frame.SampleTimeNs);
                    }
                    finally { frame.Release(); }
                    count++;
                }
                bool drained = link.Count == 0;
                if (count == _settings.BatchFrames || (count > 0 && ended && drained))
                {
                    _segmentation.Push(_batch.AsSpan(0, count * frameSize), count);
                    Interlocked.Add(ref _segmented, count);
                    count = 0;
                    lock (_publishGate) PublishIfChanged(batchCompletedNs, "segmentation update");
                    continue;
                }
                if ((ended && drained && count == 0) || _stopRequested) break;
                // Polled, never woken by the tap: a wake-up per frame would put this thread on the fast loop's core.
                if (!took) Thread.Sleep(2);
            }
        }
        catch (Exception ex)
        {
            _error = $"segmentation stopped after {FramesSegmented} frames: {ex.Message}; traces went on with the last ROI set";
            _events?.Add(new RunEvent(RunEventKind.Fault, Volatile.Read(ref _lastSampleNs), MonotonicClock.NowNs(), Name, _error));
            link.Drain();
        }
    }

    /// <summary>Publishes the segmentation's ROI set if its version moved; caller holds <see cref="_publishGate"/>.
    /// <paramref name="triggerHostNs"/> is the completion time of the last frame pushed (for the latency), or -1 for an edit.</summary>
    private long PublishIfChanged(long triggerHostNs, string cause)
    {
        long version = _segmentation.Version;
        if (version == _lastVersion) return _board.PublishedVersion;
        var snapshot = _segmentation.Snapshot();
        var change = _board.Publish(snapshot, version);
        _lastVersion = version;
        long now = MonotonicClock.NowNs();
        long frame = Volatile.Read(ref _lastFrameIndex);
        long sampleNs = Volatile.Read(ref _lastSampleNs);
        _overCapacity = change.OverCapacity;
        if (triggerHostNs > 0)
        {
            _updates++;
            _latency.Record(Math.Max(0, now - triggerHostNs));
        }
        _counts.Add(new RoiCountPoint(frame, sampleNs / 1e9, change.Present, version));
        bool first = _initialisedAtFrame < 0 && SafeInitialised();
        if (first) _initialisedAtFrame = frame;
        if (first || (triggerHostNs > 0 && !change.IsEmpty))
        {
            string text = first
                ? $"initialised after {FramesSegmented} frames: {change.Present} ROIs"
                : $"update (version {version}): {change.Present} ROIs; added {Ids(change.Added)}, refined {Ids(change.Refined)}, removed {Ids(change.Removed)}";
            if (change.OverCapacity > 0) text += $"; {change.OverCapacity} ROI(s) beyond segmentation.maxRois ({_board.Capacity}) are not traced";
            _events?.Add(new RunEvent(RunEventKind.Info, sampleNs, now, Name, text, change.Present));
        }
        return version;
    }

    private bool SafeInitialised()
    {
        try { return _segmentation.Initialised; }
        catch (ObjectDisposedException) { return false; }
    }

    private static string Ids(IReadOnlyList<int> ids) =>
        ids.Count == 0 ? "none" : string.Join(", ", ids.Take(20).Select(RoiSet.DefaultName)) + (ids.Count > 20 ? $", ... ({ids.Count})" : "");

    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);
}

/// <summary>Lowers the calling thread's priority on Linux (nice 10: no permission needed), so that on a machine with few
/// cores the fast loop and acquisition win the processor whenever the slow loop competes with them.</summary>
internal static partial class BackgroundPriority
{
    private const int Nice = 10;

    public static string LowerCurrentThread()
    {
        if (!OperatingSystem.IsLinux()) return "normal (priority changes are only made on Linux)";
        try
        {
            // PRIO_PROCESS with who = 0 applies to the calling thread on Linux.
            return setpriority(0, 0, Nice) == 0 ? $"nice {Nice}" : $"normal (setpriority failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})";
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return $"normal ({ex.GetType().Name})";
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
    private static partial int setpriority(int which, uint who, int prio);
}
