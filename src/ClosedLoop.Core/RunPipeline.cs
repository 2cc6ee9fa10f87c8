namespace ClosedLoop.Core;

/// <summary>How a run ended.</summary>
public enum RunOutcome
{
    /// <summary>The run reached its planned end (duration, trials, or the source ran out).</summary>
    Completed,
    /// <summary>The user cancelled it (Ctrl+C).</summary>
    Cancelled,
    /// <summary>A stage or device failed; stimulation was switched off.</summary>
    Faulted,
}

/// <summary>Settings of a pipeline run.</summary>
public sealed class PipelineSettings : IStageSettings
{
    /// <summary>Capacity of the link between the source and the fast loop, in frames (read once).</summary>
    public int InputLinkCapacity { get; init; } = 8;

    /// <summary>What the input link does when full: a hardware-paced source must never wait, so it drops the oldest (read once).</summary>
    public LinkFullMode InputLinkFullMode { get; init; } = LinkFullMode.DropOldest;

    /// <summary>Pooled frame buffers; enough for the input link, the frame in the loop and a few held by taps (read once).</summary>
    public int FramePoolCapacity { get; init; } = 16;

    /// <summary>Frames processed before latency and allocations are counted (read once).</summary>
    public int WarmupFrames { get; init; } = 30;

    /// <summary>Ask the operating system for real-time priority for the acquisition and fast-loop threads
    /// (see <see cref="ThreadScheduling"/>); the report says what was granted (read once). Off by default: on a shared
    /// 2-core virtual machine SCHED_FIFO made the loop's latency several times worse (docs/benchmarks.md); turn it on
    /// on a dedicated rig (ideally with isolated cores) after measuring both.</summary>
    public bool RealtimeScheduling { get; init; }

    /// <inheritdoc />
    public void Validate()
    {
        Check.InRange("pipeline.inputLinkCapacity", InputLinkCapacity, 1, 1024);
        Check.InRange("pipeline.framePoolCapacity", FramePoolCapacity, InputLinkCapacity + 2, 4096);
        Check.InRange("pipeline.warmupFrames", WarmupFrames, 0, 1_000_000);
    }
}

/// <summary>
/// Wires one run: a frame source on its own acquisition thread, a bounded input link, the fast loop on its own
/// thread, and the shutdown actions that must run on every path (stimulation off first). A fault anywhere
/// cancels the whole run and is reported with the outcome, never swallowed.
/// </summary>
public sealed class RunPipeline
{
    private readonly IFrameSource _source;
    private readonly PipelineSettings _settings;
    private readonly List<Action> _safeShutdown = new();

    /// <summary>Creates the pipeline for <paramref name="source"/> and the fast-loop <paramref name="stages"/>.
    /// <paramref name="extraFrameBuffers"/> are added to the pool for frames held by slow consumers (a
    /// <see cref="LiveTap"/>'s <see cref="LiveTap.FramesHeldMax"/>), so they can never starve the source.</summary>
    public RunPipeline(IFrameSource source, IReadOnlyList<IFastStage> stages, PipelineSettings settings, int extraFrameBuffers = 0, ParameterBoard? parameters = null)
    {
        settings.Validate();
        _source = source;
        _settings = settings;
        Pool = new FramePool(source.WidthPx, source.HeightPx, settings.FramePoolCapacity + Check.InRange("pipeline.extraFrameBuffers", extraFrameBuffers, 0, 1 << 16));
        Input = new BoundedLink<Frame>("source→fast-loop", settings.InputLinkCapacity, settings.InputLinkFullMode, f => f.Release());
        Loop = new FastLoop(stages, Input, settings.WarmupFrames, parameters);
    }

    /// <summary>The frame buffers of this run.</summary>
    public FramePool Pool { get; }

    /// <summary>The link from the source to the fast loop.</summary>
    public BoundedLink<Frame> Input { get; }

    /// <summary>The fast loop.</summary>
    public FastLoop Loop { get; }

    /// <summary>The frame source.</summary>
    public IFrameSource Source => _source;

    /// <summary>Scheduling the acquisition thread got (e.g. "SCHED_FIFO 40"), once the run has started.</summary>
    public string AcquisitionScheduling { get; private set; } = "normal";

    /// <summary>Scheduling the fast-loop thread got, once the run has started.</summary>
    public string FastLoopScheduling { get; private set; } = "normal";

    /// <summary>Registers an action that must run when the run ends, whatever the reason (e.g. stimulation off).
    /// Actions run in registration order; each one's failure is logged and the next still runs.</summary>
    public void OnShutdown(Action action) => _safeShutdown.Add(action);

    /// <summary>Runs until the source ends, a stage asks to stop, <paramref name="userCancel"/> fires, or something fails.</summary>
    public RunResult Run(RunContext context, CancellationTokenSource stopSource, CancellationToken userCancel)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stopSource.Token, userCancel);
        using var loopCancel = CancellationTokenSource.CreateLinkedTokenSource(userCancel);
        Exception? sourceError = null, loopError = null;
        long startNs = MonotonicClock.NowNs();

        var acquisition = new Thread(() =>
        {
            if (_settings.RealtimeScheduling) AcquisitionScheduling = ThreadScheduling.RaiseCurrentThread(ThreadRole.Acquisition);
            try { _source.Run(Pool, Input, linked.Token); }
            catch (OperationCanceledException) when (linked.IsCancellationRequested) { }
            catch (Exception ex) { sourceError = ex; loopCancel.Cancel(); }
            finally { Input.Complete(); }
        }) { Name = "acquisition", IsBackground = true, Priority = ThreadPriority.AboveNormal };

        var fast = new Thread(() =>
        {
            if (_settings.RealtimeScheduling) FastLoopScheduling = ThreadScheduling.RaiseCurrentThread(ThreadRole.FastLoop);
            try { Loop.Run(context, loopCancel.Token); }
            catch (OperationCanceledException) when (loopCancel.IsCancellationRequested) { }
            catch (Exception ex) { loopError = ex; stopSource.Cancel(); }
        }) { Name = "fast-loop", IsBackground = true, Priority = ThreadPriority.Highest };

        fast.Start();
        acquisition.Start();
        acquisition.Join();
        fast.Join();

        var outcome = RunOutcome.Completed;
        string? fault = null;
        if (loopError is not null || sourceError is not null)
        {
            outcome = RunOutcome.Faulted;
            fault = string.Join("; ", new[] { loopError?.Message, sourceError is null ? null : $"source failed: {sourceError.Message}" }.Where(m => m is not null));
            context.Events.Add(new RunEvent(RunEventKind.Fault, 0, MonotonicClock.NowNs(), "pipeline", fault));
        }
        else if (userCancel.IsCancellationRequested)
        {
            outcome = RunOutcome.Cancelled;
        }

        foreach (var action in _safeShutdown)
        {
            try { action(); }
            catch (Exception ex)
            {
                context.Events.Add(new RunEvent(RunEventKind.Fault, 0, MonotonicClock.NowNs(), "shutdown", $"shutdown action failed: {ex.Message}"));
            }
        }

        bool buffersHome = Pool.WaitUntilAllReturned(TimeSpan.FromSeconds(2));
        if (!buffersHome)
            context.Events.Add(new RunEvent(RunEventKind.Fault, 0, MonotonicClock.NowNs(), "pipeline", $"{Pool.Outstanding} frame buffers were not returned to the pool"));

        return new RunResult(outcome, fault, loopError ?? sourceError, context.StopReason,
            (MonotonicClock.NowNs() - startNs) / 1e9);
    }
}

/// <summary>How a pipeline run ended.</summary>
/// <param name="Outcome">Completed, cancelled or faulted.</param>
/// <param name="FaultMessage">What failed, when faulted.</param>
/// <param name="Fault">The exception, when faulted.</param>
/// <param name="StopReason">Why a stage ended the run early, if one did.</param>
/// <param name="WallSeconds">Host time the run took.</param>
public sealed record RunResult(RunOutcome Outcome, string? FaultMessage, Exception? Fault, string? StopReason, double WallSeconds);
