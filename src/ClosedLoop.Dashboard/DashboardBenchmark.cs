using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using ClosedLoop.Core;

namespace ClosedLoop.Dashboard;

/// <summary>Settings of <see cref="DashboardBenchmark"/>.</summary>
public sealed class DashboardBenchmarkOptions
{
    /// <summary>Frame width, px.</summary>
    public int WidthPx { get; init; } = 512;

    /// <summary>Frame height, px.</summary>
    public int HeightPx { get; init; } = 512;

    /// <summary>Rate the synthetic source is paced at, Hz (above the dashboard's 30 Hz cap, so the cap is exercised).</summary>
    public double SourceRateHz { get; init; } = 60;

    /// <summary>Length of each phase (without, then with the dashboard), s.</summary>
    public double SecondsPerPhase { get; init; } = 5;

    /// <summary>ROIs (8 × 8 px squares) whose means the stand-in fast loop computes each frame.</summary>
    public int Rois { get; init; } = 100;

    /// <summary>Frames at the start of each phase left out of the statistics.</summary>
    public int WarmupFrames { get; init; } = 30;
}

/// <summary>Per-frame cost figures of one phase, µs.</summary>
/// <param name="Frames">Frames counted (after warm-up).</param>
/// <param name="TapP50Us">Median time in <see cref="LiveTap.Process"/>.</param>
/// <param name="TapP99Us">99th percentile time in <see cref="LiveTap.Process"/>.</param>
/// <param name="TapMaxUs">Longest <see cref="LiveTap.Process"/>.</param>
/// <param name="LoopP50Us">Median time of the stand-in fast loop (ROI means, ΔF/F, then the tap).</param>
/// <param name="LoopP99Us">99th percentile of the same.</param>
/// <param name="LoopMaxUs">Longest of the same.</param>
public sealed record PhaseFigures(int Frames, double TapP50Us, double TapP99Us, double TapMaxUs, double LoopP50Us, double LoopP99Us, double LoopMaxUs);

/// <summary>What <see cref="DashboardBenchmark"/> measured.</summary>
/// <param name="Options">Settings used.</param>
/// <param name="Without">The tap with no consumer.</param>
/// <param name="AttachedIdle">The tap with the dashboard attached but no browser (frames taken and released, none encoded):
/// the direct cost of the subscription.</param>
/// <param name="With">The tap with the dashboard attached and one browser-like client reading.</param>
/// <param name="FramesDelivered">Frame messages the client received in the second phase.</param>
/// <param name="DeliveredFramesPerS">Those per second of the phase.</param>
/// <param name="DeliveredMBPerS">Bytes of frame messages per second, MB/s.</param>
/// <param name="Dashboard">Dashboard counters; the frame counters cover the phase with the client only.</param>
public sealed record DashboardBenchmarkResult(DashboardBenchmarkOptions Options, PhaseFigures Without, PhaseFigures AttachedIdle, PhaseFigures With,
    int FramesDelivered, double DeliveredFramesPerS, double DeliveredMBPerS, DashboardStats Dashboard)
{
    /// <summary>A short table of the figures.</summary>
    public string Format()
    {
        var c = CultureInfo.InvariantCulture;
        var o = Options;
        var s = new StringBuilder();
        s.AppendLine(c, $"dashboard benchmark: {o.WidthPx}×{o.HeightPx} frames, source paced at {o.SourceRateHz:0.#} Hz, {o.Rois} ROIs, {o.SecondsPerPhase:0.#} s per phase, {Environment.ProcessorCount} cores, load average {LoadAverage()}");
        s.AppendLine("                          LiveTap.Process (µs)       fast loop stand-in incl. tap (µs)");
        s.AppendLine("                          p50     p99     max        p50     p99     max");
        void Row(string name, PhaseFigures f) =>
            s.AppendLine(c, $"{name,-24}{f.TapP50Us,6:0.0}  {f.TapP99Us,6:0.0}  {f.TapMaxUs,7:0.0}    {f.LoopP50Us,6:0.0}  {f.LoopP99Us,6:0.0}  {f.LoopMaxUs,7:0.0}   ({f.Frames} frames)");
        Row("without dashboard", Without);
        Row("attached, no browser", AttachedIdle);
        Row("attached + client", With);
        s.AppendLine(c, $"ratio with/without       {Ratio(With.TapP50Us, Without.TapP50Us),6:0.00}  {Ratio(With.TapP99Us, Without.TapP99Us),6:0.00}             {Ratio(With.LoopP50Us, Without.LoopP50Us),6:0.00}  {Ratio(With.LoopP99Us, Without.LoopP99Us),6:0.00}");
        s.AppendLine(c, $"delivered to the client: {DeliveredFramesPerS:0.0} frames/s (target 30), {DeliveredMBPerS:0.00} MB/s, {FramesDelivered} frames");
        s.Append(c, $"dashboard, phase with client: {Dashboard.FramesTaken} frames taken, {Dashboard.FramesDroppedAtTap} dropped at the tap, {Dashboard.FramesSkipped} skipped (rate cap), {Dashboard.FramesEncoded} encoded, {Dashboard.FramesDroppedForClients} replaced before the client took them");
        return s.ToString();
    }

    private static double Ratio(double a, double b) => b > 0 ? a / b : double.NaN;

    private static string LoadAverage()
    {
        try { return File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a"; }
        catch (IOException) { return "n/a"; }
    }
}

/// <summary>
/// Measures what the dashboard costs the fast loop and what it delivers: a synthetic source paced in real time runs
/// a stand-in fast loop (ROI means and ΔF/F over a 512 × 512 frame) and a <see cref="LiveTap"/> on its own thread,
/// first with no consumer, then with the dashboard attached but no browser, then with a WebSocket client on loopback
/// reading every message (the same process, one phase after the other). Prints per-frame tap and loop time (p50/p99/max) for both phases and the frames per second the client got.
/// </summary>
public static class DashboardBenchmark
{
    /// <summary>Runs both phases and returns the figures.</summary>
    public static async Task<DashboardBenchmarkResult> RunAsync(DashboardBenchmarkOptions? options = null, CancellationToken cancellationToken = default)
    {
        var o = options ?? new DashboardBenchmarkOptions();
        Check.InRange("benchmark.sourceRateHz", o.SourceRateHz, 1, 10_000);
        Check.InRange("benchmark.secondsPerPhase", o.SecondsPerPhase, 0.5, 3600);
        Check.InRange("benchmark.rois", o.Rois, 1, 10_000);
        var scene = new Scene(o);

        var without = RunPhase(o, scene, new LiveTap(scene.Activity), cancellationToken);

        await using var server = new DashboardServer(new DashboardSettings { Port = 0 }, null);
        await server.StartAsync(cancellationToken).ConfigureAwait(false);
        var tap = new LiveTap(scene.Activity);
        var context = new RunContext("benchmark", o.SourceRateHz, new RunEventLog(), new CancellationTokenSource());
        var info = new LiveRunInfo(context, "benchmark", "benchmark", o.WidthPx, o.HeightPx, scene.Units, Array.Empty<LiveGroup>(),
            new ParameterBoard(), () => new LiveStatus(HostState.Running, "benchmark", "", "", 0, 0, 0, 0, 0, 0, "", double.NaN, double.NaN, "", ""),
            new Dictionary<string, string>());
        server.Attach(info, tap);
        var attachedIdle = RunPhase(o, scene, tap, cancellationToken);
        tap.Stop();
        server.Detach(new RunResult(RunOutcome.Completed, null, null, null, o.SecondsPerPhase));

        tap = new LiveTap(scene.Activity);
        server.Attach(info, tap);
        using var client = new ClientWebSocket();
        await client.ConnectAsync(new Uri(server.WebSocketUrl), cancellationToken).ConfigureAwait(false);
        var counting = new FrameCounter(client);
        var reading = counting.RunAsync(cancellationToken);
        while (server.Stats().ClientsConnected == 0 || !counting.Joined) await Task.Delay(10, cancellationToken).ConfigureAwait(false);

        var statsBefore = server.Stats();
        int before = counting.Frames;
        long bytesBefore = counting.Bytes;
        long startNs = MonotonicClock.NowNs();
        var with = RunPhase(o, scene, tap, cancellationToken);
        double seconds = (MonotonicClock.NowNs() - startNs) / 1e9;
        int delivered = counting.Frames - before;
        long bytes = counting.Bytes - bytesBefore;
        tap.Stop();
        server.Detach(new RunResult(RunOutcome.Completed, null, null, null, seconds));
        var end = server.Stats();
        var stats = end with
        {
            FramesTaken = end.FramesTaken - statsBefore.FramesTaken,
            FramesDroppedAtTap = end.FramesDroppedAtTap - statsBefore.FramesDroppedAtTap,
            FramesSkipped = end.FramesSkipped - statsBefore.FramesSkipped,
            FramesEncoded = end.FramesEncoded - statsBefore.FramesEncoded,
            FramesSent = end.FramesSent - statsBefore.FramesSent,
            FramesDroppedForClients = end.FramesDroppedForClients - statsBefore.FramesDroppedForClients,
        };
        client.Abort();
        try { await reading.ConfigureAwait(false); } catch (Exception) { /* aborted on purpose */ }
        return new DashboardBenchmarkResult(o, without, attachedIdle, with, delivered, delivered / seconds, bytes / seconds / 1e6, stats);
    }

    private static PhaseFigures RunPhase(DashboardBenchmarkOptions o, Scene scene, LiveTap tap, CancellationToken ct)
    {
        int frames = (int)Math.Round(o.SecondsPerPhase * o.SourceRateHz) + o.WarmupFrames;
        var tapNs = new long[frames];
        var loopNs = new long[frames];
        var context = new RunContext("benchmark", o.SourceRateHz, new RunEventLog(), new CancellationTokenSource());
        var pool = new FramePool(o.WidthPx, o.HeightPx, 8 + tap.FramesHeldMax);
        var thread = new Thread(() =>
        {
            tap.Start(context);
            long periodNs = (long)(1e9 / o.SourceRateHz), t0 = MonotonicClock.NowNs() + periodNs;
            for (int k = 0; k < frames && !ct.IsCancellationRequested; k++)
            {
                MonotonicClock.WaitUntil(t0 + k * periodNs, ct);
                if (!pool.TryRent(out var frame)) continue;
                scene.Images[k % scene.Images.Length].CopyTo(frame.Pixels, 0);
                frame.FrameIndex = k;
                frame.SampleTimeNs = k * periodNs;
                long a = MonotonicClock.NowNs();
                scene.FastLoopWork(frame);
                long b = MonotonicClock.NowNs();
                tap.Process(frame);
                long e = MonotonicClock.NowNs();
                frame.Release();
                tapNs[k] = e - b;
                loopNs[k] = e - a;
            }
        }) { Name = "benchmark fast loop", IsBackground = true };
        thread.Start();
        thread.Join();
        var tapSteady = tapNs.AsSpan(o.WarmupFrames).ToArray();
        var loopSteady = loopNs.AsSpan(o.WarmupFrames).ToArray();
        Array.Sort(tapSteady);
        Array.Sort(loopSteady);
        return new PhaseFigures(tapSteady.Length, Us(tapSteady, 0.5), Us(tapSteady, 0.99), tapSteady[^1] / 1e3,
            Us(loopSteady, 0.5), Us(loopSteady, 0.99), loopSteady[^1] / 1e3);
    }

    private static double Us(long[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))] / 1e3;

    /// <summary>Pre-made frames and square ROIs, so the timed loop does only what a fast loop would.</summary>
    private sealed class Scene
    {
        private readonly float[] _baseline;

        public Scene(DashboardBenchmarkOptions o)
        {
            var random = new Random(7);
            int side = 8;
            Units = new LiveUnit[o.Rois];
            for (int i = 0; i < o.Rois; i++)
            {
                int x = random.Next(0, o.WidthPx - side), y = random.Next(0, o.HeightPx - side);
                var pixels = new int[side * side];
                for (int k = 0; k < pixels.Length; k++) pixels[k] = (y + k / side) * o.WidthPx + x + k % side;
                Units[i] = new LiveUnit($"roi{i}", pixels, x + side / 2.0, y + side / 2.0);
            }
            Activity = new PopulationActivity(o.Rois, Units.Select(u => u.Name).ToArray());
            _baseline = new float[o.Rois];
            Images = new ushort[8][];
            for (int f = 0; f < Images.Length; f++)
            {
                var img = Images[f] = new ushort[o.WidthPx * o.HeightPx];
                for (int p = 0; p < img.Length; p++) img[p] = (ushort)(200 + random.Next(100));
                foreach (var u in Units)
                {
                    int level = 800 + random.Next(1200);
                    foreach (int p in u.Pixels) img[p] = (ushort)(level + random.Next(100));
                }
            }
        }

        public LiveUnit[] Units { get; }
        public PopulationActivity Activity { get; }
        public ushort[][] Images { get; }

        /// <summary>ROI means and a running-baseline ΔF/F: the kind of work the fast loop does before the tap.</summary>
        public void FastLoopWork(Frame frame)
        {
            var pixels = frame.Pixels;
            for (int i = 0; i < Units.Length; i++)
            {
                long sum = 0;
                foreach (int p in Units[i].Pixels) sum += pixels[p];
                float raw = sum / (float)Units[i].Pixels.Length;
                float f0 = _baseline[i] = _baseline[i] == 0 ? raw : _baseline[i] * 0.99f + raw * 0.01f;
                Activity.Raw[i] = raw;
                Activity.Dff[i] = (raw - f0) / f0;
                Activity.Rate[i] = 0;
            }
            Activity.FrameIndex = frame.FrameIndex;
            Activity.SampleTimeNs = frame.SampleTimeNs;
        }
    }

    /// <summary>Reads every message like a browser would, counting frames and their bytes.</summary>
    private sealed class FrameCounter(ClientWebSocket socket)
    {
        private int _frames;
        private long _bytes;
        private volatile bool _joined;

        public int Frames => Volatile.Read(ref _frames);
        public long Bytes => Interlocked.Read(ref _bytes);
        public bool Joined => _joined;

        public async Task RunAsync(CancellationToken ct)
        {
            var buffer = new byte[1 << 20];
            while (socket.State == WebSocketState.Open)
            {
                int length = 0;
                ValueWebSocketReceiveResult r;
                do
                {
                    r = await socket.ReceiveAsync(length < buffer.Length ? buffer.AsMemory(length) : buffer.AsMemory(), ct).ConfigureAwait(false); // only counted past 1 MiB
                    length += r.Count;
                }
                while (!r.EndOfMessage);
                if (r.MessageType == WebSocketMessageType.Binary)
                {
                    Interlocked.Increment(ref _frames);
                    Interlocked.Add(ref _bytes, length);
                }
                else if (r.MessageType == WebSocketMessageType.Text && Encoding.UTF8.GetString(buffer, 0, Math.Min(length, 64)).Contains("\"status\"", StringComparison.Ordinal))
                {
                    _joined = true;
                }
                else if (r.MessageType == WebSocketMessageType.Close) return;
            }
        }
    }
}
