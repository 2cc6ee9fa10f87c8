using System.Text.Json;
using ClosedLoop.Core;
using ClosedLoop.Messaging.Zmq;

namespace ClosedLoop.Messaging.Tests;

public class EventBusPublisherTests
{
    private static EventBusSettings Settings(string endpoint = "tcp://127.0.0.1:*") => new()
    {
        Endpoint = endpoint,
        StatusPeriodS = 0.02,
        RunInfoPeriodS = 0,
        PublishNoise = true,
    };

    /// <summary>Waits until the subscriber sees the publisher's periodic status, so nothing published later is lost to
    /// the subscription still being on its way.</summary>
    private static void Join(BusClient client) =>
        Assert.NotNull(client.ReceiveTopic(Topics.Status, 10_000));

    /// <summary>Feeds frames one at a time, waiting for the publisher to take each, so no frame is dropped by the tap.</summary>
    private static void FeedPaced(SyntheticRun run, TapSubscription sub, int frames)
    {
        for (int i = 0; i < frames; i++)
        {
            run.Feed(i);
            Assert.True(Wait.Until(() => (sub.Frames?.Count ?? 0) == 0 && (sub.Activity?.Count ?? 0) == 0));
        }
    }

    private static List<BusMessage> ReceiveUntil(BusClient client, string lastTopic, int timeoutMs = 10_000)
    {
        var list = new List<BusMessage>();
        while (true)
        {
            var m = client.Receive(timeoutMs) ?? throw new Xunit.Sdk.XunitException($"no '{lastTopic}' message; got {string.Join(",", list.Select(x => x.Topic).Distinct())}");
            list.Add(m);
            if (m.Topic == lastTopic) return list;
        }
    }

    /// <summary>Everything but status that arrives until 300 ms pass without any (status keeps coming, so it is left out).</summary>
    private static List<BusMessage> Drain(BusClient client)
    {
        var list = new List<BusMessage>();
        long quietUntil = Environment.TickCount64 + 300, hardStop = Environment.TickCount64 + 20_000;
        while (Environment.TickCount64 < quietUntil && Environment.TickCount64 < hardStop)
        {
            var m = client.Receive(50);
            if (m is null || m.Topic == Topics.Status) continue;
            list.Add(m);
            quietUntil = Environment.TickCount64 + 300;
        }
        return list;
    }

    [ZmqFact]
    public void LiveTapRun_PublishesFramesTracesEventsAndTheRunDescription_WithPayloadsAndSequenceNumbers()
    {
        using var ctx = new ZmqContext();
        using var pub = new EventBusPublisher(Settings("inproc://bus-full"), ctx);
        using var client = new BusClient(pub.Endpoint, [Topics.Frame, Topics.Traces, Topics.Rates, Topics.Noise, "event.", "run.", Topics.Status], ctx);
        Join(client);

        var run = new SyntheticRun();
        pub.Attach(run.Info, run.Tap);
        var sub = Assert.Single(run.Tap.Subscriptions);
        run.Start();
        FeedPaced(run, sub, 6);
        run.Events.Add(new RunEvent(RunEventKind.Detection, 5_000, MonotonicClock.NowNs(), "detector", "motor response", 0.8));
        run.Events.Add(new RunEvent(RunEventKind.Stimulation, 6_000, MonotonicClock.NowNs(), "slm", "stimulate group targets"));
        run.Events.Add(new RunEvent(RunEventKind.TrialEnded, 7_000, MonotonicClock.NowNs(), "protocol", "trial 1 done", 1.5));
        run.Stop();
        var report = pub.Detach(run.Result());

        var messages = ReceiveUntil(client, Topics.RunEnd).Where(m => m.Topic != Topics.Status).ToList();
        Assert.Equal(Topics.RunStart, messages[0].Topic);
        var start = messages[0];
        Assert.Equal("run-1", start.GetString("runId"));
        Assert.Equal(16, start.Header.GetProperty("widthPx").GetInt32());
        using (var units = start.PayloadJson())
        {
            var u = units.RootElement.GetProperty("units");
            Assert.Equal(5, u.GetArrayLength());
            Assert.Equal("roi2", u[2].GetProperty("name").GetString());
            Assert.Equal([2, 3], u[2].GetProperty("pixels").EnumerateArray().Select(x => x.GetInt32()));
            Assert.Equal("stimulated", units.RootElement.GetProperty("groups")[0].GetProperty("role").GetString());
            Assert.Equal("detectors.motor.thresholdDff", units.RootElement.GetProperty("parameters")[0].GetProperty("name").GetString());
        }

        var frames = messages.Where(m => m.Topic == Topics.Frame).ToList();
        Assert.Equal(Enumerable.Range(0, 6).Select(i => (long)i), frames.Select(f => f.FrameIndex));
        Assert.Equal(frames[0].Seq + 5, frames[5].Seq);
        var f3 = frames[3];
        Assert.Equal("uint16", f3.GetString("dtype"));
        Assert.Equal([12, 16], f3.Header.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()));
        Assert.Equal(3 * run.Context.FramePeriodNs, f3.Header.GetProperty("sampleTimeNs").GetInt64());
        var pixels = f3.AsUInt16();
        Assert.Equal(16 * 12, pixels.Length);
        Assert.All(Enumerable.Range(0, pixels.Length), p => Assert.Equal(SyntheticRun.Pixel(3, p), pixels[p]));

        var traces = messages.Where(m => m.Topic == Topics.Traces).ToList();
        Assert.Equal(6, traces.Count);
        var t4 = traces.Single(t => t.FrameIndex == 4);
        Assert.Equal("fraction", t4.GetString("units"));
        Assert.Equal(Enumerable.Range(0, 5).Select(u => SyntheticRun.Dff(4, u)), t4.AsFloat32());
        Assert.Equal(6, messages.Count(m => m.Topic == Topics.Rates));
        Assert.Equal(6, messages.Count(m => m.Topic == Topics.Noise));
        Assert.Equal(0.1f, messages.First(m => m.Topic == Topics.Rates).AsFloat32()[1]);

        var detection = Assert.Single(messages, m => m.Topic == Topics.Detection);
        Assert.Equal("motor response", detection.GetString("message"));
        Assert.Equal(0.8, detection.Header.GetProperty("value").GetDouble());
        Assert.Empty(detection.Payload);
        var stim = Assert.Single(messages, m => m.Topic == Topics.Stimulation);
        Assert.Equal(JsonValueKind.Null, stim.Header.GetProperty("value").ValueKind);
        Assert.Equal("TrialEnded", Assert.Single(messages, m => m.Topic == Topics.Trial).GetString("kind"));

        var end = messages[^1];
        Assert.Equal("completed", end.GetString("outcome"));
        Assert.Equal(6, end.Header.GetProperty("framesPublished").GetInt64());
        Assert.Equal(0, client.Missed);

        Assert.Null(report.Error);
        Assert.Equal(6, report.Counters["framesPublished"]);
        Assert.Equal(6, report.Counters["activityPublished"]);
        Assert.Equal(3, report.Counters["eventsPublished"]);
        Assert.Equal(0, report.Counters["framesDroppedByTap"]);
        Assert.Equal(0, run.Pool.Outstanding); // every frame went back to the pool
    }

    [ZmqFact]
    public void FrameEveryAndBinning_PublishEveryNthFrameAveragedOverBlocks()
    {
        using var ctx = new ZmqContext();
        var settings = Settings("inproc://bus-binning");
        settings.FrameEvery = 3;
        settings.FrameBinning = 4;
        settings.ActivityEvery = 2;
        using var pub = new EventBusPublisher(settings, ctx);
        using var client = new BusClient(pub.Endpoint, [Topics.Frame, Topics.Traces, Topics.RunEnd, Topics.Status], ctx);
        Join(client);
        var run = new SyntheticRun(widthPx: 18, heightPx: 9);
        pub.Attach(run.Info, run.Tap);
        run.Start();
        FeedPaced(run, run.Tap.Subscriptions[0], 7);
        run.Stop();
        pub.Detach(run.Result());

        var messages = ReceiveUntil(client, Topics.RunEnd);
        var frames = messages.Where(m => m.Topic == Topics.Frame).ToList();
        Assert.Equal([0L, 3L, 6L], frames.Select(f => f.FrameIndex));
        Assert.Equal([0L, 2L, 4L, 6L], messages.Where(m => m.Topic == Topics.Traces).Select(f => f.FrameIndex));
        var f = frames[1];
        Assert.Equal([2, 4], f.Header.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()));
        Assert.Equal(4, f.Header.GetProperty("binning").GetInt32());
        var binned = f.AsUInt16();
        for (int oy = 0; oy < 2; oy++)
            for (int ox = 0; ox < 4; ox++)
            {
                double sum = 0;
                for (int dy = 0; dy < 4; dy++)
                    for (int dx = 0; dx < 4; dx++)
                        sum += SyntheticRun.Pixel(3, (oy * 4 + dy) * 18 + ox * 4 + dx);
                Assert.Equal((ushort)Math.Round(sum / 16, MidpointRounding.AwayFromZero), binned[oy * 4 + ox]);
            }
    }

    [Fact]
    public void FrameBinning_KnownBlocks_AveragesAndRounds()
    {
        ushort[] pixels =
        [
            1, 2, 10, 10, 99,
            3, 5, 10, 11, 99,
            7, 7, 7, 7, 99,
        ];
        var output = new ushort[2];
        FrameBinning.Bin(pixels, 5, 3, 2, output);
        Assert.Equal(3, output[0]);  // (1+2+3+5)/4 = 2.75 → 3
        Assert.Equal(10, output[1]); // (10+10+10+11)/4 = 10.25 → 10
        Assert.Equal((2, 1), FrameBinning.OutputSize(5, 3, 2));
        Assert.Throws<ArgumentException>(() => FrameBinning.Bin(pixels, 5, 3, 2, new ushort[3]));
        Assert.Throws<SettingException>(() => FrameBinning.OutputSize(5, 3, 0));
    }

    [ZmqFact]
    public void SlowSubscriber_NeverReading_DoesNotHoldUpThePublisherOrOtherSubscribers_AndSeesItsLossesAsGaps()
    {
        using var ctx = new ZmqContext();
        var settings = Settings();
        settings.SendHighWaterMark = 20;
        settings.ActivityEvery = 0;
        using var pub = new EventBusPublisher(settings, ctx);
        using var slow = new BusClient(pub.Endpoint, [Topics.Frame, Topics.Status], ctx, receiveHighWaterMark: 20);
        using var fast = new BusClient(pub.Endpoint, [Topics.Frame, Topics.RunEnd, Topics.Status], ctx, receiveHighWaterMark: 100_000);
        Join(slow);
        Join(fast);

        const int frameCount = 600;
        var run = new SyntheticRun(widthPx: 128, heightPx: 128, poolFrames: 8); // 32 KiB frames: ~19 MB in all
        pub.Attach(run.Info, run.Tap);
        run.Start();
        var fastFrames = new List<long>();
        var reader = Task.Run(() =>
        {
            while (fast.Receive(10_000) is { } m)
            {
                if (m.Topic == Topics.Frame) fastFrames.Add(m.FrameIndex);
                if (m.Topic == Topics.RunEnd) return;
            }
        });
        FeedPaced(run, run.Tap.Subscriptions[0], frameCount);
        run.Stop();
        var report = pub.Detach(run.Result());
        Assert.True(reader.Wait(20_000));

        Assert.Null(report.Error);
        Assert.Equal(frameCount, report.Counters["framesPublished"]);
        Assert.Equal(frameCount, fastFrames.Count);
        Assert.Equal(0, fast.Missed);

        // The slow one now reads what libzmq kept for it: the rest was dropped at its high-water mark.
        long slowFrames = 0;
        foreach (var m in Drain(slow)) if (m.Topic == Topics.Frame) slowFrames++;
        Assert.True(slowFrames < frameCount, $"slow subscriber got {slowFrames} of {frameCount}");
        Assert.True(slow.Missed > 0);
    }

    [ZmqFact]
    public void PublisherBehind_TapDropsFrames_AndTheDropsAreCountedInTheReportAndStatus()
    {
        using var ctx = new ZmqContext();
        var settings = Settings("inproc://bus-drops");
        settings.FrameQueue = 1;
        settings.ActivityQueue = 1;
        using var pub = new EventBusPublisher(settings, ctx);
        using var client = new BusClient(pub.Endpoint, [Topics.Status, Topics.RunEnd], ctx);
        Join(client);
        var run = new SyntheticRun(widthPx: 256, heightPx: 256, poolFrames: 8);
        pub.Attach(run.Info, run.Tap);
        run.Start();
        for (int i = 0; i < 300; i++)
        {
            if (run.Pool.Outstanding >= run.Pool.Capacity - 1) Assert.True(Wait.Until(() => run.Pool.Outstanding < run.Pool.Capacity - 1));
            run.Feed(i); // as fast as possible: the publisher falls behind
        }
        run.Stop();
        var report = pub.Detach(run.Result());

        long offered = report.Counters["framesOffered"], published = report.Counters["framesPublished"], dropped = report.Counters["framesDroppedByTap"];
        Assert.Equal(300, offered);
        Assert.Equal(offered, published + dropped);
        Assert.True(report.Counters["activityDroppedByTap"] + report.Counters["activityPublished"] == 300);
        Assert.Contains("lost before sending", report.Summary);
        Assert.Equal(0, run.Pool.Outstanding);

        var end = ReceiveUntil(client, Topics.RunEnd)[^1];
        Assert.Equal(dropped, end.Header.GetProperty("framesDroppedByTap").GetInt64());
    }

    [ZmqFact]
    public void Status_BetweenRuns_CarriesTheHostStatusAndBusCounters()
    {
        using var ctx = new ZmqContext();
        var idle = new LiveStatus(HostState.Idle, "run-0", "p", "e", 1, 1, 0, 0, 0, 0, "", double.NaN, double.NaN, "completed", "");
        using var pub = new EventBusPublisher(Settings("inproc://bus-status"), ctx, () => idle);
        using var client = new BusClient(pub.Endpoint, [Topics.Status], ctx);
        var first = client.ReceiveTopic(Topics.Status, 10_000)!;
        var second = client.ReceiveTopic(Topics.Status, 10_000)!;
        Assert.Equal("idle", second.GetString("state"));
        Assert.Equal("completed", second.GetString("lastOutcome"));
        Assert.Equal(JsonValueKind.Null, second.Header.GetProperty("latencyP50Us").ValueKind);
        Assert.True(second.Seq > first.Seq);
        Assert.True(second.Header.GetProperty("bus").GetProperty("messagesSent").GetInt64() >= 1);
    }

    [ZmqFact]
    public void TwoRunsInARow_ReuseTheBoundSocket_AndRefuseADoubleAttach()
    {
        using var ctx = new ZmqContext();
        using var pub = new EventBusPublisher(Settings("inproc://bus-two-runs"), ctx);
        using var client = new BusClient(pub.Endpoint, ["run.", Topics.Status], ctx);
        Join(client);
        for (int r = 1; r <= 2; r++)
        {
            var run = new SyntheticRun(runId: $"run-{r}");
            pub.Attach(run.Info, run.Tap);
            var other = new SyntheticRun(runId: "intruder");
            Assert.Throws<InvalidOperationException>(() => pub.Attach(other.Info, other.Tap));
            run.Start();
            run.Feed(0);
            run.Stop();
            Assert.Null(pub.Detach(run.Result()).Error);
        }
        var seen = new List<string>();
        foreach (var m in Drain(client)) seen.Add($"{m.Topic}:{m.GetString("runId")}");
        Assert.Equal(["run.start:run-1", "run.end:run-1", "run.start:run-2", "run.end:run-2"], seen);
    }
}
