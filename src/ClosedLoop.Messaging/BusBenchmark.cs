using System.Diagnostics;
using System.Globalization;
using System.Text;
using ClosedLoop.Core;
using ClosedLoop.Messaging.Zmq;

namespace ClosedLoop.Messaging;

/// <summary>Options of <see cref="BusBenchmark.Run"/>.</summary>
public sealed class BusBenchmarkOptions
{
    /// <summary>Messages per scenario.</summary>
    public int Messages { get; set; } = 200_000;

    /// <summary>Units per message (float32 values in the payload): 8 → a 32-byte payload, a "small message".</summary>
    public int Units { get; set; } = 8;

    /// <summary>High-water mark of the slow-subscriber scenario (the publisher's default).</summary>
    public int HighWaterMark { get; set; } = new EventBusSettings().SendHighWaterMark;

    /// <summary>Checks the options.</summary>
    public void Validate()
    {
        Check.InRange("bench.bus.messages", Messages, 1_000, 100_000_000);
        Check.InRange("bench.bus.units", Units, 1, 100_000);
        Check.InRange("bench.bus.highWaterMark", HighWaterMark, 1, 10_000_000);
    }
}

/// <summary>One PUB→SUB scenario.</summary>
/// <param name="Name">What was measured.</param>
/// <param name="Transport">tcp (loopback) or inproc.</param>
/// <param name="Messages">Messages published.</param>
/// <param name="MessageBytes">Bytes per message, all three parts.</param>
/// <param name="PublishPerS">Messages the publisher handed to libzmq per second.</param>
/// <param name="Received">Messages the (reading) subscriber received.</param>
/// <param name="DeliveredPerS">Messages received per second, first send to last receive.</param>
/// <param name="SlowSubscriberReceived">Messages a never-reading subscriber still got afterwards (-1 when there was none).</param>
/// <param name="SlowSubscriberMissed">Messages that subscriber lost at its high-water mark (gaps in seq; -1 when there was none).</param>
public sealed record BusThroughput(string Name, string Transport, long Messages, int MessageBytes, double PublishPerS, long Received,
    double DeliveredPerS, long SlowSubscriberReceived, long SlowSubscriberMissed);

/// <summary>Figures of <see cref="BusBenchmark.Run"/>.</summary>
/// <param name="LibzmqVersion">libzmq used.</param>
/// <param name="Scenarios">Throughput scenarios.</param>
/// <param name="SendCost">The publisher's cost per message (three zmq_send calls and the header), tcp scenario.</param>
/// <param name="SlowOverBaseline">Publisher rate with a never-reading subscriber over the rate without it (same run): ~1 = unaffected.</param>
public sealed record BusBenchmarkResult(string LibzmqVersion, IReadOnlyList<BusThroughput> Scenarios, LatencyStats SendCost, double SlowOverBaseline)
{
    /// <summary>The figures as a small text table.</summary>
    public string ToText()
    {
        var sb = new StringBuilder();
        var ci = CultureInfo.InvariantCulture;
        sb.AppendLine(ci, $"Event bus benchmark, libzmq {LibzmqVersion}, {Scenarios[0].MessageBytes}-byte messages (topic + header JSON + payload)");
        sb.AppendLine("scenario                                  transport  publish msg/s  delivered msg/s  received/sent  slow sub got/missed");
        foreach (var s in Scenarios)
            sb.AppendLine(ci, $"{s.Name,-41} {s.Transport,-9} {s.PublishPerS,14:N0} {s.DeliveredPerS,16:N0} {s.Received,8:N0}/{s.Messages:N0} {(s.SlowSubscriberReceived < 0 ? "-" : $"{s.SlowSubscriberReceived:N0}/{s.SlowSubscriberMissed:N0}"),20}");
        sb.AppendLine(ci, $"publisher send cost per message: p50 {SendCost.P50Us:F2} µs, p99 {SendCost.P99Us:F2} µs, p99.9 {SendCost.P999Us:F2} µs, max {SendCost.MaxUs:F1} µs ({SendCost.Count:N0} messages)");
        sb.AppendLine(ci, $"publisher rate with a never-reading subscriber / without: {SlowOverBaseline:F2}");
        return sb.ToString();
    }
}

/// <summary>
/// Measures the event bus on this machine: small messages PUB→SUB over loopback tcp and inproc (rate published and
/// delivered, with the real message layout), the publisher's per-message send cost, and the publisher's rate with a
/// subscriber that never reads (libzmq drops for it at the high-water mark; it should not slow the publisher).
/// </summary>
public static class BusBenchmark
{
    /// <summary>Runs every scenario (a few seconds) and returns the figures.</summary>
    public static BusBenchmarkResult Run(BusBenchmarkOptions? options = null)
    {
        options ??= new BusBenchmarkOptions();
        options.Validate();
        using var ctx = new ZmqContext();
        var payload = new float[options.Units];
        for (int i = 0; i < payload.Length; i++) payload[i] = i * 0.25f;
        var cost = new LatencyHistogram();
        const int noLimit = 10_000_000;

        Throughput(ctx, "tcp://127.0.0.1:*", options.Messages / 10, payload, noLimit, slow: false, null); // warm-up
        var tcp = Throughput(ctx, "tcp://127.0.0.1:*", options.Messages, payload, noLimit, slow: false, cost) with { Name = "one subscriber, no high-water mark" };
        var inproc = Throughput(ctx, "inproc://bench-bus", options.Messages, payload, noLimit, slow: false, null) with { Name = "one subscriber, no high-water mark" };
        var baseline = Throughput(ctx, "tcp://127.0.0.1:*", options.Messages, payload, options.HighWaterMark, slow: false, null) with { Name = $"one subscriber, HWM {options.HighWaterMark}" };
        var slow = Throughput(ctx, "tcp://127.0.0.1:*", options.Messages, payload, options.HighWaterMark, slow: true, null) with { Name = $"+ a never-reading subscriber, HWM {options.HighWaterMark}" };
        return new BusBenchmarkResult(ZmqLibrary.Version.ToString(), [tcp, inproc, baseline, slow], cost.Summarise("bus send"), slow.PublishPerS / baseline.PublishPerS);
    }

    private static BusThroughput Throughput(ZmqContext ctx, string endpoint, int messages, float[] payload, int hwm, bool slow, LatencyHistogram? cost)
    {
        using var pubSocket = ctx.CreateSocket(ZmqSocketType.Pub);
        pubSocket.SendHighWaterMark = hwm;
        string bound = pubSocket.Bind(endpoint.StartsWith("inproc", StringComparison.Ordinal) ? endpoint + "-" + Guid.NewGuid().ToString("N") : endpoint);
        var sender = new BusSender(pubSocket);
        using var fastSub = ctx.CreateSocket(ZmqSocketType.Sub);
        fastSub.ReceiveHighWaterMark = hwm;
        fastSub.Subscribe(Topics.Traces);
        fastSub.Subscribe(Topics.Status);
        fastSub.Connect(bound);
        using var slowSub = slow ? ctx.CreateSocket(ZmqSocketType.Sub) : null;
        if (slowSub is not null)
        {
            slowSub.ReceiveHighWaterMark = hwm;
            slowSub.Subscribe(Topics.Traces);
            slowSub.Subscribe(Topics.Status);
            slowSub.Connect(bound);
        }
        JoinSubscribers(sender, fastSub, slowSub);

        long received = 0, lastReceiveTicks = 0;
        var done = new ManualResetEventSlim(false);
        var reader = new Thread(() =>
        {
            using var msg = new ZmqMessage();
            fastSub.ReceiveTimeoutMs = 500;
            while (true)
            {
                if (!fastSub.TryReceive(msg, wait: true)) break; // 500 ms of silence: the publisher is done
                if (msg.Data.SequenceEqual("traces"u8)) { received++; lastReceiveTicks = Stopwatch.GetTimestamp(); }
                while (msg.More) fastSub.TryReceive(msg, wait: true);
                if (received == messages) break;
            }
            done.Set();
        }) { IsBackground = true, Name = "bench-subscriber" };
        reader.Start();

        int bytes = 0;
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < messages; i++)
        {
            long t0 = cost is null ? 0 : Stopwatch.GetTimestamp();
            var w = sender.Begin(TopicId.Traces);
            w.WriteString("runId", "bench");
            w.WriteNumber("frameIndex", i);
            w.WriteNumber("sampleTimeNs", i * 33_333_333L);
            w.WriteNumber("hostNs", t0);
            w.WriteString("dtype", "float32");
            w.WriteStartArray("shape");
            w.WriteNumberValue(payload.Length);
            w.WriteEndArray();
            w.WriteString("units", "fraction");
            sender.Send(payload);
            if (cost is not null) cost.Record((long)((Stopwatch.GetTimestamp() - t0) * 1e9 / Stopwatch.Frequency));
            if (i == 0) bytes = (int)sender.Bytes;
        }
        long end = Stopwatch.GetTimestamp();
        done.Wait(TimeSpan.FromSeconds(60));
        reader.Join(TimeSpan.FromSeconds(5));

        long slowGot = -1, slowMissed = -1;
        if (slowSub is not null)
        {
            slowGot = 0;
            slowMissed = 0;
            long lastSeq = -1;
            var parts = new List<byte[]>();
            while (slowSub.TryReceiveMultipart(parts, 300))
            {
                if (!parts[0].AsSpan().SequenceEqual("traces"u8)) continue;
                slowGot++;
                using var doc = System.Text.Json.JsonDocument.Parse(parts[1]);
                long seq = doc.RootElement.GetProperty("seq").GetInt64();
                if (lastSeq >= 0 && seq > lastSeq + 1) slowMissed += seq - lastSeq - 1;
                lastSeq = seq;
            }
            slowMissed += messages - slowGot - slowMissed; // messages lost after the last one it got count too
        }
        double publishS = (end - start) / (double)Stopwatch.Frequency;
        double deliverS = (Math.Max(lastReceiveTicks, start) - start) / (double)Stopwatch.Frequency;
        string transport = endpoint.StartsWith("inproc", StringComparison.Ordinal) ? "inproc" : "tcp";
        return new BusThroughput("", transport, messages, bytes, messages / publishS, received, deliverS > 0 ? received / deliverS : 0, slowGot, slowMissed);
    }

    /// <summary>Publishes status messages until every subscriber has one: their subscriptions are then in place.</summary>
    private static void JoinSubscribers(BusSender sender, ZmqSocket fast, ZmqSocket? slow)
    {
        using var msg = new ZmqMessage();
        bool fastIn = false, slowIn = slow is null;
        long deadline = Environment.TickCount64 + 10_000;
        while (!(fastIn && slowIn))
        {
            if (Environment.TickCount64 > deadline) throw new TimeoutException("Benchmark subscribers did not connect within 10 s.");
            sender.Begin(TopicId.Status);
            sender.Send(ReadOnlySpan<byte>.Empty);
            Thread.Sleep(1);
            fastIn |= Drain(fast, msg);
            if (slow is not null) slowIn |= Drain(slow, msg);
        }
        Drain(fast, msg);
        if (slow is not null) Drain(slow, msg);
    }

    private static bool Drain(ZmqSocket s, ZmqMessage msg)
    {
        bool any = false;
        while (s.TryReceive(msg, wait: false)) { any = true; while (msg.More) s.TryReceive(msg, wait: true); }
        return any;
    }
}
