namespace ClosedLoop.Core;

/// <summary>Settings of a stage: plain properties with defaults, checked once when the run starts.</summary>
public interface IStageSettings
{
    /// <summary>Throws <see cref="SettingException"/> naming the first setting that is out of its allowed range.</summary>
    void Validate();
}

/// <summary>
/// A stage of the fast loop. It is built from settings, gets its per-run state in <see cref="Start"/> (never left
/// over from an earlier run), and then sees every frame on the loop's dedicated thread in <see cref="Process"/>,
/// which must not allocate, block or wait for anything slower than itself.
/// </summary>
public interface IFastStage
{
    /// <summary>Name used in the latency ledger and in error messages.</summary>
    string Name { get; }

    /// <summary>Validates settings and creates per-run state. Called once before the first frame.</summary>
    void Start(RunContext context);

    /// <summary>Processes one frame. An exception here faults the run: stimulation is switched off and the report written.</summary>
    void Process(Frame frame);

    /// <summary>Called once after the last frame, on every path (completion, cancellation, fault).</summary>
    void Stop();
}

/// <summary>What every stage of one run shares: the event log, the run's clock and a way to end the run early.</summary>
public sealed class RunContext
{
    private readonly CancellationTokenSource _stop;

    /// <summary>Creates the context of a run.</summary>
    public RunContext(string runId, double frameRateHz, RunEventLog events, CancellationTokenSource stop)
    {
        RunId = runId;
        FrameRateHz = Check.Positive("imaging.frameRateHz", frameRateHz);
        Events = events;
        _stop = stop;
    }

    /// <summary>Identifier of the run (used for output folders and in events).</summary>
    public string RunId { get; }

    /// <summary>Frame rate of the source, in Hz.</summary>
    public double FrameRateHz { get; }

    /// <summary>Frame period on the sample clock, in ns.</summary>
    public long FramePeriodNs => (long)Math.Round(1e9 / FrameRateHz);

    /// <summary>The run's event log (stimulation, detections, trials, faults).</summary>
    public RunEventLog Events { get; }

    /// <summary>True once some stage asked for the run to end (e.g. a protocol finished its trials).</summary>
    public bool StopRequested => _stop.IsCancellationRequested;

    /// <summary>Asks the run to end normally after the current frame: the source stops and the loop drains.</summary>
    public void RequestStop(string reason)
    {
        if (_stop.IsCancellationRequested) return;
        StopReason = reason;
        _stop.Cancel();
    }

    /// <summary>Why a stage ended the run, if one did.</summary>
    public string? StopReason { get; private set; }
}
