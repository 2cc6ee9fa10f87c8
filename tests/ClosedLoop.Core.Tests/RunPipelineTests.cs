using ClosedLoop.Core;

namespace ClosedLoop.Core.Tests;

public class RunPipelineTests
{
    /// <summary>A source that writes frames as fast as the pool allows, optionally failing after some frames.</summary>
    private sealed class CountingSource(int frames, int failAfter = -1, bool lockStep = true) : IFrameSource
    {
        private long _acquired, _dropped;
        public int WidthPx => 16;
        public int HeightPx => 8;
        public double FrameRateHz => 100;
        public long FramesAcquired => _acquired;
        public long FramesDroppedAtSource => _dropped;

        public void Run(FramePool pool, BoundedLink<Frame> output, CancellationToken ct)
        {
            for (int i = 0; frames < 0 || i < frames; i++)
            {
                ct.ThrowIfCancellationRequested();
                if (i == failAfter) throw new IOException("simulated device lost");
                _acquired++;
                if (!pool.TryRent(out var f)) { _dropped++; continue; }
                f.FrameIndex = i;
                f.SampleTimeNs = i * 10_000_000L;
                f.AcquiredHostNs = MonotonicClock.NowNs();
                f.Pixels[0] = (ushort)i;
                f.CompletedHostNs = MonotonicClock.NowNs();
                output.TryWrite(f);
                if (lockStep) pool.WaitUntilAllReturned(TimeSpan.FromSeconds(5), ct);
            }
        }
    }

    private sealed class Stage(string name, Action<Frame>? onFrame = null, bool remember = true) : IFastStage
    {
        public string Name => name;
        public int Started, Stopped;
        public readonly List<long> Seen = new();
        public void Start(RunContext context) { Started++; Seen.Clear(); }
        public void Process(Frame frame) { if (remember) Seen.Add(frame.FrameIndex); onFrame?.Invoke(frame); }
        public void Stop() => Stopped++;
    }

    private static (RunContext, CancellationTokenSource) Context()
    {
        var stop = new CancellationTokenSource();
        return (new RunContext("t", 100, new RunEventLog(), stop), stop);
    }

    [Fact]
    public void Run_SourceEnds_ProcessesEveryFrameInOrderAndReportsEachStage()
    {
        var a = new Stage("a"); var b = new Stage("b");
        var pipeline = new RunPipeline(new CountingSource(200), new[] { a, b }, new PipelineSettings { WarmupFrames = 10 });
        var (ctx, stop) = Context();

        var result = pipeline.Run(ctx, stop, CancellationToken.None);

        Assert.Equal(RunOutcome.Completed, result.Outcome);
        Assert.Equal(Enumerable.Range(0, 200).Select(i => (long)i), b.Seen);
        Assert.Equal(200, pipeline.Loop.FramesProcessed);
        Assert.Equal(0, pipeline.Loop.FrameIndexGaps);
        Assert.Equal(0, pipeline.Pool.Outstanding);
        var names = pipeline.Loop.Ledger.Summarise().Select(s => s.Name).ToList();
        Assert.Equal(new[] { "queue", "a", "b" }, names.Take(3));
        Assert.Equal(190, pipeline.Loop.Ledger.Count);
        Assert.Equal((1, 1), (b.Started, b.Stopped));
    }

    [Fact]
    public void Run_StageThrows_FaultsNamingStageRunsShutdownAndReturnsEveryBuffer()
    {
        bool stimulationOff = false;
        var bad = new Stage("detector", f => { if (f.FrameIndex == 50) throw new InvalidOperationException("boom"); });
        var after = new Stage("protocol");
        var pipeline = new RunPipeline(new CountingSource(-1), new[] { bad, after }, new PipelineSettings());
        pipeline.OnShutdown(() => stimulationOff = true);
        var (ctx, stop) = Context();

        var result = pipeline.Run(ctx, stop, CancellationToken.None);

        Assert.Equal(RunOutcome.Faulted, result.Outcome);
        Assert.Contains("'detector'", result.FaultMessage);
        Assert.Contains("frame 50", result.FaultMessage);
        Assert.True(stimulationOff);
        Assert.Equal(0, pipeline.Pool.Outstanding);
        Assert.Equal(1, after.Stopped);
        Assert.Contains(ctx.Events.Snapshot(), e => e.Kind == RunEventKind.Fault);
    }

    [Fact]
    public void Run_SourceFails_FaultsWithDeviceMessageAndRunsShutdown()
    {
        bool stimulationOff = false;
        var pipeline = new RunPipeline(new CountingSource(-1, failAfter: 20), new[] { new Stage("a") }, new PipelineSettings());
        pipeline.OnShutdown(() => stimulationOff = true);
        var (ctx, stop) = Context();

        var result = pipeline.Run(ctx, stop, CancellationToken.None);

        Assert.Equal(RunOutcome.Faulted, result.Outcome);
        Assert.Contains("simulated device lost", result.FaultMessage);
        Assert.True(stimulationOff);
        Assert.Equal(0, pipeline.Pool.Outstanding);
    }

    [Fact]
    public void Run_UserCancels_EndsCancelledWithShutdownRun()
    {
        bool stimulationOff = false;
        var pipeline = new RunPipeline(new CountingSource(-1), new[] { new Stage("a") }, new PipelineSettings());
        pipeline.OnShutdown(() => stimulationOff = true);
        var (ctx, stop) = Context();
        using var user = new CancellationTokenSource(200);

        var result = pipeline.Run(ctx, stop, user.Token);

        Assert.Equal(RunOutcome.Cancelled, result.Outcome);
        Assert.True(stimulationOff);
        Assert.Equal(0, pipeline.Pool.Outstanding);
    }

    [Fact]
    public void Run_StageRequestsStop_CompletesWithItsReason()
    {
        RunContext? ctxRef = null;
        var stopper = new Stage("protocol", f => { if (f.FrameIndex == 30) ctxRef!.RequestStop("all trials done"); });
        var pipeline = new RunPipeline(new CountingSource(-1), new[] { stopper }, new PipelineSettings());
        var (ctx, stop) = Context();
        ctxRef = ctx;

        var result = pipeline.Run(ctx, stop, CancellationToken.None);

        Assert.Equal(RunOutcome.Completed, result.Outcome);
        Assert.Equal("all trials done", result.StopReason);
        Assert.InRange(pipeline.Loop.FramesProcessed, 31, 40);
    }

    [Fact]
    public void Run_SlowLoopWithDropOldestLink_CountsDropsAsGaps()
    {
        var slow = new Stage("slow", _ => Thread.Sleep(2));
        var pipeline = new RunPipeline(new CountingSource(300, lockStep: false), new[] { slow },
            new PipelineSettings { InputLinkCapacity = 2, FramePoolCapacity = 6 });
        var (ctx, stop) = Context();

        pipeline.Run(ctx, stop, CancellationToken.None);

        long lost = pipeline.Input.Dropped + pipeline.Source.FramesDroppedAtSource;
        Assert.True(lost > 0);
        Assert.Equal(300, pipeline.Loop.FramesProcessed + lost);
        Assert.Equal(pipeline.Input.Dropped + pipeline.Source.FramesDroppedAtSource, pipeline.Loop.FrameIndexGaps + (299 - slow.Seen[^1]));
        Assert.Equal(0, pipeline.Pool.Outstanding);
    }

    [Fact]
    public void Run_TrivialStages_AllocateNothingPerFrameInSteadyState()
    {
        var pipeline = new RunPipeline(new CountingSource(2000), new[] { new Stage("a", f => f.Pixels[1] = f.Pixels[0], remember: false) }, new PipelineSettings { WarmupFrames = 100 });
        var (ctx, stop) = Context();
        pipeline.Run(ctx, stop, CancellationToken.None);
        // Any object allocated per frame costs at least 24 B/frame; under 1 B/frame leaves room only for a one-off
        // runtime allocation (e.g. the wait event's lock the first time the loop blocks), never a per-frame one.
        Assert.True(pipeline.Loop.AllocatedBytesPerFrame < 1, $"{pipeline.Loop.AllocatedBytesPerFrame} B/frame");
    }

    [Fact]
    public void Settings_PoolSmallerThanLink_NamesTheSetting()
    {
        var ex = Assert.Throws<SettingException>(() => new PipelineSettings { InputLinkCapacity = 8, FramePoolCapacity = 4 }.Validate());
        Assert.Contains("pipeline.framePoolCapacity", ex.Message);
    }
}
