using ClosedLoop.Core;

namespace ClosedLoop.Dashboard.Tests;

/// <summary>
/// A run without a rig: a tap, a pool and square bright ROIs on a dim noisy background, driven frame by frame by the
/// test. ROI 1 is a stimulation target, ROI 2 in a detector group; the others are plain ROIs.
/// </summary>
internal sealed class SyntheticRun
{
    public const int RoiSizePx = 10;
    public static readonly (int X, int Y)[] RoiCorners = [(20, 20), (70, 24), (24, 80), (84, 88)];

    private readonly Random _random = new(1234);
    private double _gain = 1;

    public SyntheticRun(int widthPx = 128, int heightPx = 128, double frameRateHz = 30, int poolCapacity = 8, string runId = "run-test")
    {
        WidthPx = widthPx;
        HeightPx = heightPx;
        Events = new RunEventLog();
        Context = new RunContext(runId, frameRateHz, Events, new CancellationTokenSource());
        var names = RoiCorners.Select((_, i) => $"roi{i}").ToArray();
        Activity = new PopulationActivity(names.Length, names);
        Pool = new FramePool(widthPx, heightPx, poolCapacity);
        Tap = new LiveTap(Activity);
        Board = new ParameterBoard();
        Board.Register("detector.thresholdDff", "fraction", 0.05, 2, () => Threshold, v => Threshold = v, "ΔF/F a unit must reach to count as active");
        Board.Register("protocol.gain", "", 0.1, 10, () => _gain, v => _gain = v, "stimulus gain");
        Board.LogTo(Events);
        Units = RoiCorners.Select((c, i) =>
        {
            var pixels = new List<int>();
            for (int y = c.Y; y < c.Y + RoiSizePx; y++)
                for (int x = c.X; x < c.X + RoiSizePx; x++) pixels.Add(y * widthPx + x);
            return new LiveUnit(names[i], pixels.ToArray(), c.X + (RoiSizePx - 1) / 2.0, c.Y + (RoiSizePx - 1) / 2.0);
        }).ToArray();
        Info = new LiveRunInfo(Context, "synthetic-profile", "synthetic-experiment", widthPx, heightPx, Units,
            [new LiveGroup("laser-targets", [1], "stimulated"), new LiveGroup("motor-response", [2], "detected")],
            Board, Status, new Dictionary<string, string>());
    }

    public int WidthPx { get; }
    public int HeightPx { get; }
    public RunEventLog Events { get; }
    public RunContext Context { get; }
    public PopulationActivity Activity { get; }
    public FramePool Pool { get; }
    public LiveTap Tap { get; }
    public ParameterBoard Board { get; }
    public LiveUnit[] Units { get; }
    public LiveRunInfo Info { get; }
    public double Threshold { get; private set; } = 0.3;
    public long FramesProcessed { get; private set; }
    public HostState State { get; set; } = HostState.Running;

    public LiveStatus Status() => new(State, Context.RunId, "synthetic-profile", "synthetic-experiment",
        FramesProcessed, FramesProcessed, 0, Events.Count(RunEventKind.Stimulation), 0, Events.Count(RunEventKind.TrialEnded),
        "stimulating", 120, 480, "", "");

    /// <summary>Unit <paramref name="unit"/>'s ΔF/F at frame <paramref name="frame"/>: a slow sine, different per unit.</summary>
    public static float DffAt(int unit, long frame) => (float)(0.5 + 0.4 * Math.Sin(frame * 0.2 + unit));

    public void Start() => Tap.Start(Context);

    /// <summary>Pushes <paramref name="frames"/> frames through the tap, as the fast loop would; returns how many the pool could give.</summary>
    public int Push(int frames, TimeSpan pause = default)
    {
        int pushed = 0;
        for (int k = 0; k < frames; k++)
        {
            if (!Pool.TryRent(out var frame)) continue;
            long index = FramesProcessed;
            frame.FrameIndex = index;
            frame.SampleTimeNs = index * Context.FramePeriodNs;
            Fill(frame.Pixels);
            Board.ApplyPending(frame.SampleTimeNs);
            Activity.FrameIndex = index;
            Activity.SampleTimeNs = frame.SampleTimeNs;
            for (int u = 0; u < Activity.Units; u++)
            {
                Activity.Dff[u] = DffAt(u, index);
                Activity.Rate[u] = u * 0.1f;
                Activity.Raw[u] = 1000;
            }
            Tap.Process(frame);
            frame.Release();
            FramesProcessed++;
            pushed++;
            if (pause > TimeSpan.Zero) Thread.Sleep(pause);
        }
        return pushed;
    }

    public void Event(RunEventKind kind, double timeS, string source, string message, double value = double.NaN) =>
        Events.Add(new RunEvent(kind, (long)(timeS * 1e9), MonotonicClock.NowNs(), source, message, value));

    private void Fill(ushort[] pixels)
    {
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (ushort)(100 + _random.Next(20));
        foreach (var u in Units)
            foreach (int p in u.Pixels) pixels[p] = (ushort)(1500 + _random.Next(100));
    }
}

/// <summary>Run control as the host would offer it, recording what the dashboard asked for.</summary>
internal sealed class FakeRunControl : IRunControl
{
    private readonly object _gate = new();

    public FakeRunControl(SyntheticRun? run, HostState state = HostState.Running)
    {
        Run = run;
        State = state;
    }

    public SyntheticRun? Run { get; set; }
    public HostState State { get; private set; }
    public int StartCalls { get; private set; }
    public int StopCalls { get; private set; }
    public string? LastStopReason { get; private set; }
    public List<(string Name, double Value)> Sets { get; } = new();

    public LiveStatus Status()
    {
        lock (_gate)
        {
            var s = Run?.Status() ?? new LiveStatus(HostState.Idle, "", "", "", 0, 0, 0, 0, 0, 0, "", double.NaN, double.NaN, "", "");
            return s with { State = State };
        }
    }

    public void Load(string profile, string experiment)
    {
        if (State != HostState.Idle) throw new ControlException("busy", "a run is going; stop it before loading another experiment");
    }

    public void Start()
    {
        lock (_gate)
        {
            if (State != HostState.Idle) throw new ControlException("busy", "a run is already going");
            StartCalls++;
            State = HostState.Running;
        }
    }

    public void Stop(string reason)
    {
        lock (_gate)
        {
            if (State != HostState.Running) throw new ControlException("not-running", "no run is going");
            StopCalls++;
            LastStopReason = reason;
            State = HostState.Idle;
        }
    }

    public IReadOnlyList<ParameterInfo> Parameters() => State == HostState.Running && Run is not null ? Run.Board.List() : Array.Empty<ParameterInfo>();

    /// <summary>What an ROI edit does in this fake (null: the default, not supported).</summary>
    public Func<RoiEditRequest, RoiEditReply>? OnEditRoi { get; set; }

    public List<RoiEditRequest> RoiEdits { get; } = new();

    public RoiEditReply EditRoi(RoiEditRequest request)
    {
        lock (_gate) RoiEdits.Add(request);
        return OnEditRoi?.Invoke(request) ?? throw new ControlException("not-supported", "this run's ROIs are fixed");
    }

    public void SetParameter(string name, double value)
    {
        if (Run is null || State != HostState.Running) throw new ControlException("not-running", "no run is going");
        try
        {
            Run.Board.Request(name, value);
        }
        catch (SettingException ex)
        {
            throw new ControlException(ex.Setting == "parameter" ? "unknown-parameter" : "out-of-range", ex.Message);
        }
        lock (_gate) Sets.Add((name, value));
    }
}
