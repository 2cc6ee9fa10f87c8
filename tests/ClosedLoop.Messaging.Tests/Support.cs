using ClosedLoop.Core;
using ClosedLoop.Messaging.Zmq;

namespace ClosedLoop.Messaging.Tests;

/// <summary>A fact that is skipped, with the reason, only when libzmq cannot be loaded (CI installs it).</summary>
public sealed class ZmqFactAttribute : FactAttribute
{
    public ZmqFactAttribute()
    {
        if (!ZmqLibrary.IsAvailable(out var reason)) Skip = reason;
    }
}

/// <summary>A theory that is skipped only when libzmq cannot be loaded.</summary>
public sealed class ZmqTheoryAttribute : TheoryAttribute
{
    public ZmqTheoryAttribute()
    {
        if (!ZmqLibrary.IsAvailable(out var reason)) Skip = reason;
    }
}

/// <summary>A fact that needs libzmq and Debian's python3 with python3-zmq (installed by build/setup-native.sh zmq).</summary>
public sealed class PythonZmqFactAttribute : FactAttribute
{
    public const string Python = "/usr/bin/python3";

    public PythonZmqFactAttribute()
    {
        if (!ZmqLibrary.IsAvailable(out var reason)) Skip = reason;
        else if (!PythonHasZmq()) Skip = $"{Python} with the zmq module is missing: install python3-zmq (build/setup-native.sh zmq).";
    }

    private static bool? _hasZmq;

    private static bool PythonHasZmq()
    {
        if (_hasZmq is { } known) return known;
        try
        {
            using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(Python, "-c \"import zmq\"") { RedirectStandardError = true, RedirectStandardOutput = true })!;
            p.WaitForExit(10_000);
            _hasZmq = p.HasExited && p.ExitCode == 0;
        }
        catch (Exception) { _hasZmq = false; }
        return _hasZmq.Value;
    }
}

/// <summary>A run as the host would build it, driven by hand: a frame pool, population activity, a live tap, and
/// the run's context and description.</summary>
internal sealed class SyntheticRun
{
    public SyntheticRun(string runId = "run-1", int widthPx = 16, int heightPx = 12, int units = 5, int poolFrames = 16, double frameRateHz = 30)
    {
        Pool = new FramePool(widthPx, heightPx, poolFrames);
        var names = Enumerable.Range(0, units).Select(i => $"roi{i}").ToList();
        Activity = new PopulationActivity(units, names);
        Tap = new LiveTap(Activity);
        Events = new RunEventLog();
        Context = new RunContext(runId, frameRateHz, Events, new CancellationTokenSource());
        Parameters = new ParameterBoard();
        Parameters.Register("detectors.motor.thresholdDff", "fraction", 0, 5, () => Threshold, v => Threshold = v, "ΔF/F threshold");
        var unitList = Enumerable.Range(0, units).Select(i => new LiveUnit(names[i], [i, i + 1], i + 0.5, 1.5)).ToList();
        Info = new LiveRunInfo(Context, "test-profile", "test-experiment", widthPx, heightPx, unitList,
            [new LiveGroup("targets", [0, 2], "stimulated")], Parameters,
            () => new LiveStatus(HostState.Running, runId, "test-profile", "test-experiment", FramesDone, FramesDone, 0, 0, 0, 0, "stimulating", 12.5, double.NaN, "", ""),
            new Dictionary<string, string> { ["version"] = "test" });
    }

    public FramePool Pool { get; }
    public PopulationActivity Activity { get; }
    public LiveTap Tap { get; }
    public RunEventLog Events { get; }
    public RunContext Context { get; }
    public ParameterBoard Parameters { get; }
    public LiveRunInfo Info { get; }
    public double Threshold { get; set; } = 0.5;
    public long FramesDone { get; private set; }

    public void Start() => Tap.Start(Context);

    /// <summary>Expected pixel value of frame <paramref name="index"/> at pixel <paramref name="p"/>.</summary>
    public static ushort Pixel(long index, int p) => (ushort)((index * 7 + p * 3) % 4000);

    /// <summary>Expected ΔF/F of unit <paramref name="u"/> at frame <paramref name="index"/>.</summary>
    public static float Dff(long index, int u) => index * 0.01f + u;

    /// <summary>Pushes frame <paramref name="index"/> through the tap, as the fast loop would, and releases the loop's reference.</summary>
    public void Feed(long index)
    {
        if (!Pool.TryRent(out var frame)) throw new InvalidOperationException("pool exhausted");
        frame.FrameIndex = index;
        frame.SampleTimeNs = index * Context.FramePeriodNs;
        frame.CompletedHostNs = MonotonicClock.NowNs();
        for (int p = 0; p < frame.Pixels.Length; p++) frame.Pixels[p] = Pixel(index, p);
        Activity.FrameIndex = index;
        Activity.SampleTimeNs = frame.SampleTimeNs;
        for (int u = 0; u < Activity.Units; u++)
        {
            Activity.Dff[u] = Dff(index, u);
            Activity.Rate[u] = u * 0.1f;
            Activity.Raw[u] = 100 + u;
            Activity.NoiseLevel[u] = 1;
        }
        Tap.Process(frame);
        frame.Release();
        FramesDone++;
    }

    public void Stop() => Tap.Stop();

    public RunResult Result() => new(RunOutcome.Completed, null, null, null, 1.0);
}

/// <summary>An <see cref="IRunControl"/> that records what it was asked and behaves like a host.</summary>
internal sealed class FakeRunControl : IRunControl
{
    private readonly object _gate = new();
    public HostState State { get; private set; } = HostState.Idle;
    public ParameterBoard Board { get; } = new();
    public double Threshold { get; private set; } = 0.5;
    public List<string> Calls { get; } = new();
    public bool ThrowInternal { get; set; }

    public FakeRunControl()
    {
        Board.Register("detectors.motor.thresholdDff", "fraction", 0, 5, () => Threshold, v => Threshold = v, "ΔF/F threshold");
    }

    public LiveStatus Status()
    {
        if (ThrowInternal) throw new InvalidOperationException("simulated host failure");
        return new LiveStatus(State, "run-7", "profile.yaml", "exp", 10, 9, 1, 2, 0, 3, "pausing", 40.0, double.NaN, "", "");
    }

    public void Load(string profile, string experiment)
    {
        lock (_gate) Calls.Add($"load {profile} {experiment}");
        if (State != HostState.Idle) throw new ControlException("busy", "A run is going; stop it before loading another experiment.");
        if (!File.Exists(profile)) throw new ControlException("load-failed", $"Profile '{profile}' does not exist.");
    }

    public void Start()
    {
        lock (_gate) Calls.Add("start");
        if (State != HostState.Idle) throw new ControlException("busy", "A run is already going.");
        State = HostState.Running;
    }

    public void Stop(string reason)
    {
        lock (_gate) Calls.Add($"stop {reason}");
        if (State != HostState.Running) throw new ControlException("not-running", "No run is going.");
        State = HostState.Idle;
    }

    public IReadOnlyList<ParameterInfo> Parameters() => State == HostState.Running ? Board.List() : [];

    public void SetParameter(string name, double value)
    {
        lock (_gate) Calls.Add($"set {name} {value}");
        if (State != HostState.Running) throw new ControlException("not-running", "Parameters can be changed only while a run is going.");
        Board.Request(name, value);
        Board.ApplyPending(0);
    }

    public List<RoiEditRequest> RoiEdits { get; } = new();

    public RoiEditReply EditRoi(RoiEditRequest request)
    {
        lock (_gate) RoiEdits.Add(request);
        if (State != HostState.Running) throw new ControlException("not-running", "ROIs can be edited only while a run is going");
        if (request.Action != RoiEditAction.Add && request.Id != 0) throw new ControlException("unknown-roi", $"field 'id': there is no ROI {request.Id} now");
        return new RoiEditReply(request.Action == RoiEditAction.Add ? 7 : 0, request.Action == RoiEditAction.Add ? "roi007" : "roi000", 13, 42, "done");
    }
}

internal static class Wait
{
    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeoutMs"/> passes.</summary>
    public static bool Until(Func<bool> condition, int timeoutMs = 10_000)
    {
        long deadline = Environment.TickCount64 + timeoutMs;
        while (!condition())
        {
            if (Environment.TickCount64 > deadline) return false;
            Thread.Sleep(2);
        }
        return true;
    }
}
