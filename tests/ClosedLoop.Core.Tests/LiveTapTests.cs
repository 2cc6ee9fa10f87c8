using ClosedLoop.Core;
using Xunit;

namespace ClosedLoop.Core.Tests;

public class LiveTapTests
{
    private static PopulationActivity Activity(int units) => new(units, Enumerable.Range(0, units).Select(i => $"u{i}").ToArray());

    private static Frame Rent(FramePool pool, long index)
    {
        Assert.True(pool.TryRent(out var f));
        f.FrameIndex = index;
        f.SampleTimeNs = index * 33_333_333;
        f.Span.Fill((ushort)index);
        return f;
    }

    private static RunContext Context() => new("t", 30, new RunEventLog(), new CancellationTokenSource());

    [Fact]
    public void A_consumer_gets_every_nth_frame_by_reference_and_the_pool_gets_every_buffer_back()
    {
        var activity = Activity(3);
        var tap = new LiveTap(activity);
        var sub = tap.Subscribe("rec", frameCapacity: 16, frameEvery: 2, activityCapacity: 16);
        var pool = new FramePool(4, 4, 4 + tap.FramesHeldMax);
        tap.Start(Context());
        for (long i = 0; i < 10; i++)
        {
            var f = Rent(pool, i);
            activity.FrameIndex = i;
            activity.Dff[1] = i * 0.1f;
            tap.Process(f);
            f.Release(); // the loop's own reference
        }
        tap.Stop();

        var seen = new List<long>();
        while (sub.Frames!.TryTakeNow(out var f))
        {
            seen.Add(f.FrameIndex);
            Assert.Equal((ushort)f.FrameIndex, f.Span[5]); // the frame's own pixels, not a later frame's
            f.Release();
        }
        Assert.Equal(new long[] { 0, 2, 4, 6, 8 }, seen);
        Assert.Equal(0, pool.Outstanding);

        var dff = new List<float>();
        while (sub.Activity!.TryPeek(out var s)) { dff.Add(s.Dff[1]); sub.Activity.Advance(); }
        Assert.Equal(10, dff.Count);
        Assert.Equal(0.9f, dff[^1], 5);
        Assert.True(sub.Ended);
    }

    [Fact]
    public void A_consumer_that_does_not_read_loses_frames_counted_and_never_holds_more_than_its_share()
    {
        var activity = Activity(2);
        var tap = new LiveTap(activity);
        var slow = tap.Subscribe("slow", frameCapacity: 3, frameEvery: 1, activityCapacity: 4);
        var pool = new FramePool(4, 4, 2 + tap.FramesHeldMax);
        tap.Start(Context());
        for (long i = 0; i < 50; i++)
        {
            var f = Rent(pool, i); // would fail (pool exhausted) if the tap kept more than its share
            tap.Process(f);
            f.Release();
        }
        Assert.Equal(50, slow.Snapshot().FramesOffered);
        Assert.Equal(47, slow.Snapshot().FramesDropped);
        Assert.Equal(46, slow.Activity!.Dropped);
        Assert.Equal(0, pool.Exhausted);
        Assert.Equal(3, pool.Outstanding);
        tap.Stop();
        slow.Frames!.Drain();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Subscribing_after_the_run_started_is_refused()
    {
        var tap = new LiveTap(Activity(1));
        tap.Start(Context());
        Assert.Throws<InvalidOperationException>(() => tap.Subscribe("late", 1, 1, 1));
    }

    [Fact]
    public void Activity_ring_keeps_order_and_reports_drops()
    {
        var a = Activity(1);
        var ring = new ActivityRing("r", 1, 3);
        for (int i = 0; i < 5; i++) { a.FrameIndex = i; a.Rate[0] = i; ring.TryPublish(a, i); }
        Assert.Equal(3, ring.Published);
        Assert.Equal(2, ring.Dropped);
        var got = new List<long>();
        while (ring.TryPeek(out var s)) { got.Add(s.FrameIndex); ring.Advance(); }
        Assert.Equal(new long[] { 0, 1, 2 }, got);
        a.FrameIndex = 9;
        Assert.True(ring.TryPublish(a, 9));
        Assert.Equal(1, ring.Count);
    }
}

public class ParameterBoardTests
{
    [Fact]
    public void A_change_is_checked_at_once_and_applied_between_frames_with_an_event()
    {
        double threshold = 0.15;
        var board = new ParameterBoard();
        var events = new RunEventLog();
        board.LogTo(events);
        board.Register("detectors.motor.thresholdDff", "fraction", 0.001, 100, () => threshold, v => threshold = v, "threshold");

        board.Request("detectors.motor.thresholdDff", 0.3);
        Assert.Equal(0.15, threshold); // not yet: only between frames
        Assert.Equal(0.3, board.List().Single().Value); // but reported as the value to be
        board.ApplyPending(1_000);
        Assert.Equal(0.3, threshold);
        var e = Assert.Single(events.Snapshot());
        Assert.Contains("from 0.15 to 0.3", e.Message);
    }

    [Fact]
    public void Out_of_range_and_unknown_names_are_refused_naming_the_range_or_the_known_names()
    {
        int trials = 10;
        var board = new ParameterBoard();
        board.Register("protocol.trials", "trials", 0, 1000, () => trials, v => trials = (int)v, "trials", integer: true);
        var range = Assert.Throws<SettingException>(() => board.Request("protocol.trials", 5000));
        Assert.Contains("between 0 and 1000", range.Message);
        Assert.Throws<SettingException>(() => board.Request("protocol.trials", 2.5));
        Assert.Throws<SettingException>(() => board.Request("protocol.trials", double.NaN));
        var unknown = Assert.Throws<SettingException>(() => board.Request("protocol.trails", 3));
        Assert.Contains("protocol.trials", unknown.Message);
        board.ApplyPending(0);
        Assert.Equal(10, trials);
    }
}

public class FastLoopBusyTests
{
    private sealed class Gate(ManualResetEventSlim entered, ManualResetEventSlim release) : IFastStage
    {
        public string Name => "gate";
        public void Start(RunContext context) { }
        public void Process(Frame frame) { entered.Set(); release.Wait(); }
        public void Stop() { }
    }

    [Fact]
    public void The_loop_says_since_when_it_has_been_inside_a_frame_and_nothing_while_it_waits()
    {
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var pool = new FramePool(2, 2, 2);
        var input = new BoundedLink<Frame>("in", 2, LinkFullMode.Wait, f => f.Release());
        var loop = new FastLoop(new IFastStage[] { new Gate(entered, release) }, input, warmupFrames: 0);
        var thread = new Thread(() => loop.Run(new RunContext("t", 30, new RunEventLog(), new CancellationTokenSource()), CancellationToken.None));
        thread.Start();
        Assert.Equal(0, loop.BusySinceHostNs); // waiting for a frame is not being stuck
        long before = MonotonicClock.NowNs();
        Assert.True(pool.TryRent(out var f));
        f.FrameIndex = 0;
        input.TryWrite(f);
        Assert.True(entered.Wait(TimeSpan.FromSeconds(10)));
        Assert.True(loop.BusySinceHostNs >= before);
        release.Set();
        input.Complete();
        thread.Join();
        Assert.Equal(0, loop.BusySinceHostNs);
        Assert.Equal(0, pool.LastProcessedIndex);
    }
}
