namespace ClosedLoop.Core;

/// <summary>
/// Runs the fast-loop stages on one dedicated thread: take a frame from the input link, run every stage on it,
/// stamp each stage's exit time, record the latencies, release the frame. The frame is released on every path,
/// and a stage that throws ends the loop with a <see cref="StageFaultException"/> naming the stage.
/// </summary>
public sealed class FastLoop
{
    private readonly IFastStage[] _stages;
    private readonly BoundedLink<Frame> _input;
    private long _processed;
    private long _lastProgressHostNs;
    private long _gaps;
    private long _lastIndex = -1;
    private long _steadyAllocatedBytes = -1;
    private long _steadyFrames;
    private long _busyNs;
    private long _busySinceHostNs;
    private readonly ParameterBoard? _parameters;

    /// <summary>Creates a loop over <paramref name="stages"/> (in order) fed by <paramref name="input"/>; live
    /// parameter changes on <paramref name="parameters"/> are applied between frames.</summary>
    public FastLoop(IReadOnlyList<IFastStage> stages, BoundedLink<Frame> input, int warmupFrames = 30, ParameterBoard? parameters = null)
    {
        _stages = stages.ToArray();
        _input = input;
        _parameters = parameters;
        WarmupFrames = Check.InRange("fastLoop.warmupFrames", warmupFrames, 0, 1_000_000);
        Ledger = new LatencyLedger(_stages.Select(s => s.Name).ToArray());
    }

    /// <summary>Frames processed before latencies and allocations are counted (JIT and caches warm up).</summary>
    public int WarmupFrames { get; }

    /// <summary>Per-stage latency of the frames after warm-up.</summary>
    public LatencyLedger Ledger { get; }

    /// <summary>Frames that went through every stage.</summary>
    public long FramesProcessed => Interlocked.Read(ref _processed);

    /// <summary>Frames missing before or between processed frames (dropped anywhere upstream), counted from frame 0.</summary>
    public long FrameIndexGaps => Interlocked.Read(ref _gaps);

    /// <summary>Host time the loop last finished a frame (0 before the first); a watchdog compares it with now.</summary>
    public long LastProgressHostNs => Interlocked.Read(ref _lastProgressHostNs);

    /// <summary>Host time the loop started on the frame it is processing now; 0 while it waits for a frame.</summary>
    public long BusySinceHostNs => Interlocked.Read(ref _busySinceHostNs);

    /// <summary>Bytes allocated by the loop thread per frame after warm-up (NaN before any steady-state frame).</summary>
    public double AllocatedBytesPerFrame { get; private set; } = double.NaN;

    /// <summary>Total time spent inside stages after warm-up, in ns (processing, not waiting).</summary>
    public long BusyNs => Interlocked.Read(ref _busyNs);

    /// <summary>Frames counted after warm-up.</summary>
    public long SteadyFrames => Interlocked.Read(ref _steadyFrames);

    /// <summary>Runs the loop on the calling thread until the input link completes (normal end) or the token is cancelled.</summary>
    public void Run(RunContext context, CancellationToken cancellationToken)
    {
        int started = 0;
        try
        {
            for (; started < _stages.Length; started++) _stages[started].Start(context);
            // LastProgressHostNs stays 0 until the first frame is done: nothing can be stimulated before it, and a
            // source may take a while to deliver its first frame (device start, first line-clock edges).
            while (_input.TryTake(out var frame, cancellationToken))
            {
                try
                {
                    ProcessOne(frame);
                }
                finally
                {
                    frame.Release();
                }
            }
        }
        finally
        {
            FinishAllocationCount();
            _input.Drain();
            for (int i = started - 1; i >= 0; i--)
            {
                try { _stages[i].Stop(); }
                catch (Exception ex) { context.Events.Add(new RunEvent(RunEventKind.Fault, 0, MonotonicClock.NowNs(), _stages[i].Name, $"stop failed: {ex.Message}")); }
            }
        }
    }

    private void ProcessOne(Frame frame)
    {
        _parameters?.ApplyPending(frame.SampleTimeNs);
        var exits = frame.StageExitHostNs;
        long start = MonotonicClock.NowNs();
        exits[0] = start;
        Interlocked.Exchange(ref _busySinceHostNs, start);
        if (frame.FrameIndex > _lastIndex + 1) Interlocked.Add(ref _gaps, frame.FrameIndex - _lastIndex - 1);
        _lastIndex = frame.FrameIndex;

        for (int i = 0; i < _stages.Length; i++)
        {
            try
            {
                _stages[i].Process(frame);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                throw new StageFaultException(_stages[i].Name, frame.FrameIndex, ex);
            }
            exits[i + 1] = MonotonicClock.NowNs();
        }
        long end = exits[_stages.Length];
        long n = Interlocked.Increment(ref _processed);
        Interlocked.Exchange(ref _lastProgressHostNs, end);
        Interlocked.Exchange(ref _busySinceHostNs, 0);
        frame.Pool.MarkProcessed(frame.FrameIndex);

        if (n == WarmupFrames + 1 || (WarmupFrames == 0 && n == 1))
        {
            _steadyAllocatedBytes = GC.GetAllocatedBytesForCurrentThread();
            Ledger.Reset();
        }
        if (n > WarmupFrames)
        {
            Ledger.Record(frame);
            Interlocked.Add(ref _busyNs, end - start);
            Interlocked.Increment(ref _steadyFrames);
        }
    }

    private void FinishAllocationCount()
    {
        if (_steadyAllocatedBytes < 0 || _steadyFrames == 0) return;
        AllocatedBytesPerFrame = (GC.GetAllocatedBytesForCurrentThread() - _steadyAllocatedBytes) / (double)_steadyFrames;
    }
}

/// <summary>A fast-loop stage threw while processing a frame.</summary>
public sealed class StageFaultException : Exception
{
    /// <summary>Wraps the stage's exception with the stage name and frame.</summary>
    public StageFaultException(string stage, long frameIndex, Exception inner)
        : base($"Stage '{stage}' failed on frame {frameIndex}: {inner.Message}", inner)
    {
        Stage = stage;
        FrameIndex = frameIndex;
    }

    /// <summary>Name of the stage that failed.</summary>
    public string Stage { get; }

    /// <summary>Frame being processed when it failed.</summary>
    public long FrameIndex { get; }
}
