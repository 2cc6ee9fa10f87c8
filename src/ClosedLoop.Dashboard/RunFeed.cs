using System.Collections.Concurrent;
using ClosedLoop.Core;

namespace ClosedLoop.Dashboard;

/// <summary>
/// What the dashboard holds for one attached run: its tap subscription, the run description message (outlines are
/// computed once here), the frame encoder, recent traces, events and trial results. Created by
/// <see cref="DashboardServer.Attach"/>; after that only the dashboard thread touches it, except
/// <see cref="OnEvent"/> (called on whatever thread adds an event, often the fast loop: it only enqueues).
/// </summary>
internal sealed class RunFeed
{
    private readonly ConcurrentQueue<RunEvent> _incoming = new();
    private readonly DashboardCounters _counters;
    private readonly int _maxIncoming;
    private int _incomingCount;
    private volatile bool _closed;
    private volatile bool _detachRequested;

    public RunFeed(long number, LiveRunInfo info, TapSubscription subscription, DashboardSettings settings, DashboardCounters counters)
    {
        Number = number;
        Info = info;
        Subscription = subscription;
        _counters = counters;
        _maxIncoming = Math.Max(1024, settings.EventHistory);
        MaxEventHistory = settings.EventHistory;
        if (info.WidthPx > 0 && info.HeightPx > 0)
            Encoder = new FrameEncoder(info.WidthPx, info.HeightPx, settings.MaxDisplayPx, 2 * settings.MaxClients + 2);
        if (subscription.Activity is { } ring) History = new TraceHistory(ring.Units, settings.TraceHistorySamples);

        var (outlines, radii) = Shapes(info.Units);
        RunMessage = DashboardJson.Run(info, Encoder?.Binning ?? 1, outlines, radii);
        Outlines = outlines;
        _unitsVersion = info.CurrentUnits?.Invoke().Version ?? 0;
    }

    private long _unitsVersion;

    private (int[][] Outlines, double[] Radii) Shapes(IReadOnlyList<LiveUnit> units)
    {
        var outlines = new int[units.Count][];
        var radii = new double[units.Count];
        var mask = Info.WidthPx > 0 && Info.HeightPx > 0 ? new bool[Info.WidthPx * Info.HeightPx] : Array.Empty<bool>();
        for (int i = 0; i < outlines.Length; i++)
        {
            var unit = units[i];
            outlines[i] = mask.Length == 0 || unit.Pixels.Length == 0 ? Array.Empty<int>() : RoiOutline.Compute(unit.Pixels, Info.WidthPx, Info.HeightPx, mask);
            radii[i] = Math.Max(3, Math.Sqrt(unit.Pixels.Length / Math.PI));
        }
        return (outlines, radii);
    }

    /// <summary>For a run whose ROIs are found while imaging: when the ROI set changed since the last call, the new
    /// outlines as a <c>units</c> message (and the run description new browsers get is updated); otherwise null.
    /// Dashboard thread only.</summary>
    public byte[]? RefreshUnits()
    {
        if (Info.CurrentUnits is not { } current) return null;
        var set = current();
        if (set.Version == _unitsVersion) return null;
        _unitsVersion = set.Version;
        var (outlines, radii) = Shapes(set.Units);
        RunMessage = DashboardJson.Run(Info, Encoder?.Binning ?? 1, outlines, radii, set.Units);
        Outlines = outlines;
        return DashboardJson.Units(Info.Context.RunId, set.Version, set.Units, outlines, radii);
    }

    /// <summary>Counts runs attached to this server (a browser compares it to know it saw this run's description).</summary>
    public long Number { get; }

    public LiveRunInfo Info { get; }

    public TapSubscription Subscription { get; }

    public FrameEncoder? Encoder { get; }

    public TraceHistory? History { get; }

    public byte[] RunMessage { get; private set; }

    public IReadOnlyList<int[]> Outlines { get; private set; }

    public int Units => Info.Units.Count;

    public int MaxEventHistory { get; }

    /// <summary>Events kept for browsers that connect later (dashboard thread only).</summary>
    public List<RunEvent> EventHistory { get; } = new();

    /// <summary>Response times of finished trials, s (dashboard thread only).</summary>
    public List<double> ResponseTimesS { get; } = new();

    /// <summary>Frame-rate limiter: tokens to send a frame, refilled at the cap rate (dashboard thread only).</summary>
    public double FrameCredit { get; set; } = 1;

    public long LastCreditNs { get; set; }

    public bool DetachRequested => _detachRequested;

    public ManualResetEventSlim Finished { get; } = new(false);

    public bool Closed => _closed;

    /// <summary>Frames and outcome at detach, for the report.</summary>
    public RunResult? Result { get; private set; }

    public void RequestDetach(RunResult result)
    {
        Result = result;
        _detachRequested = true;
    }

    public void MarkClosed() => _closed = true;

    /// <summary>Event-log listener: enqueue only (it may run on the fast-loop thread). Beyond the bound, events are counted and dropped.</summary>
    public void OnEvent(RunEvent e)
    {
        if (_closed) return;
        if (Interlocked.Increment(ref _incomingCount) > _maxIncoming)
        {
            Interlocked.Decrement(ref _incomingCount);
            DashboardCounters.Add(ref _counters.EventsDropped);
            return;
        }
        _incoming.Enqueue(e);
    }

    /// <summary>Moves queued events into the history; returns the index of the first new one (dashboard thread only).</summary>
    public int DrainEvents(List<RunEvent> fresh)
    {
        fresh.Clear();
        while (_incoming.TryDequeue(out var e))
        {
            Interlocked.Decrement(ref _incomingCount);
            fresh.Add(e);
            EventHistory.Add(e);
            if (e.Kind == RunEventKind.TrialEnded) ResponseTimesS.Add(e.Value);
        }
        int excess = EventHistory.Count - MaxEventHistory;
        if (excess > 0) EventHistory.RemoveRange(0, excess);
        return fresh.Count;
    }
}
