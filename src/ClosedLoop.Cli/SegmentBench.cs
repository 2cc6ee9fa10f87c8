using System.Diagnostics;
using System.Globalization;
using ClosedLoop.Core;
using ClosedLoop.Imaging.Segmentation;
using ClosedLoop.Models;
using ClosedLoop.Models.Inference;
using ClosedLoop.Models.Layers;
using ClosedLoop.Models.OnnxRuntime;

namespace ClosedLoop.Cli;

/// <summary>
/// <c>closedloop bench --segmentation</c>: the full segmenter (SNR preprocessing + U-Net) on raw frames, batched, at
/// 120×88 on two threads and 512×512 on one thread, through ONNX Runtime and the managed forward. The baseline, measured in
/// the same run, is the same segmenter with the SUNS default network (two convolutions per depth) in place of the
/// shipped one; the preprocessing alone is shown as well. Per-frame times are call times divided by the batch.
/// </summary>
public static class SegmentBench
{
    private sealed record Row(string Case, string Backend, int Threads, int Batch, double P50Ms, double P99Ms, double MaxMs, double FramesPerS);

    /// <summary>Runs the benchmark and prints the table on <paramref name="output"/>; <paramref name="quick"/> measures
    /// fewer frames. Returns the exit code.</summary>
    public static int Run(TextWriter output, bool quick = false)
    {
        try
        {
            var shipped = SegmentationModels.Load(null);
            var baseline = shipped with
            {
                Network = Architectures.ShallowUNet(32, 32, shipped.Channels, 1, ActivationKind.Elu, 2, 1),
                ConvsPerLevel = 2, Name = "SUNS default, 2 conv/depth",
            };
            bool ort = OnnxRuntimeLibrary.TryLoad(null, out string? reason) is not null;
            var rows = new List<Row>();
            double seconds = quick ? 1.5 : 5;
            foreach (var (h, w, threads, batch) in new[] { (88, 120, 2, 32), (512, 512, 1, 1) })
            {
                string size = $"{w}×{h}";
                var frames = RawFrames(h, w, Math.Max(batch, 8) * 4);
                rows.Add(MeasurePreprocessing(size, shipped, h, w, frames, seconds));
                foreach (var kind in ort ? new[] { BackendKind.OnnxRuntime, BackendKind.Managed } : new[] { BackendKind.Managed })
                {
                    rows.Add(Measure($"{size} baseline: {baseline.Name}", baseline, h, w, threads, batch, kind, frames, seconds));
                    rows.Add(Measure($"{size} shipped, {shipped.ConvsPerLevel} conv/depth", shipped, h, w, threads, batch, kind, frames, seconds));
                }
            }
            var inv = CultureInfo.InvariantCulture;
            output.WriteLine("Segmenter per frame (call time ÷ batch): raw frame → SNR frame → probability map.");
            output.WriteLine($"{"case",-44} {"engine",-11} {"thr",3} {"batch",5} {"p50 ms",8} {"p99 ms",8} {"max ms",8} {"frames/s",9}");
            foreach (var r in rows)
                output.WriteLine(string.Create(inv, $"{r.Case,-44} {r.Backend.Replace("onnxruntime ", "ORT ").Replace(" (CPU)", ""),-11} {r.Threads,3} {r.Batch,5} {r.P50Ms,8:0.000} {r.P99Ms,8:0.000} {r.MaxMs,8:0.000} {r.FramesPerS,9:0}"));
            foreach (var g in rows.Where(r => r.Case.Contains("shipped")).GroupBy(r => (r.Case[..r.Case.IndexOf(' ')], r.Backend)))
            {
                var s = g.First();
                var b = rows.FirstOrDefault(r => r.Case.StartsWith(g.Key.Item1 + " baseline", StringComparison.Ordinal) && r.Backend == s.Backend);
                if (b is not null)
                    output.WriteLine((string.Create(inv, $"{g.Key.Item1} {s.Backend}: shipped {s.FramesPerS:0} frames/s = {s.FramesPerS / b.FramesPerS:0.00} × the baseline's {b.FramesPerS:0}.")));
            }
            if (!ort) output.WriteLine(("ONNX Runtime not measured: " + reason));
            output.WriteLine(($"Targets: ≥ 1000 frames/s at 120×88 on 2 cores, ≥ 30 frames/s at 512×512 on one core. Machine: {Environment.ProcessorCount} logical CPUs; other load on it slows every row alike."));
            return ExitCodes.Ok;
        }
        catch (SettingException ex)
        {
            output.WriteLine(ex.Message);
            return ExitCodes.BadInput;
        }
    }

    private static ushort[] RawFrames(int h, int w, int count)
    {
        var rng = new Random(1);
        var f = new ushort[count * h * w];
        for (int i = 0; i < f.Length; i++) f[i] = (ushort)(400 + rng.Next(0, 80));
        return f;
    }

    private static Row MeasurePreprocessing(string size, SegmentationModel model, int h, int w, ushort[] frames, double seconds)
    {
        var pre = new SnrPreprocessor(model.Preprocessing, h, w);
        int p = h * w, n = frames.Length / p;
        var snr = new float[p];
        var times = new List<double>();
        for (int i = 0; i < pre.WarmupFrames + 10; i++) pre.Process(frames.AsSpan(i % n * p, p), snr);
        var total = Stopwatch.StartNew();
        int k = 0;
        while (total.Elapsed.TotalSeconds < seconds / 3)
        {
            long t0 = Stopwatch.GetTimestamp();
            pre.Process(frames.AsSpan(k++ % n * p, p), snr);
            times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        return Summarise($"{size} preprocessing alone ({pre.TemplateLength} taps)", "-", 1, 1, times, k, total.Elapsed.TotalSeconds);
    }

    private static Row Measure(string name, SegmentationModel model, int h, int w, int threads, int batch, BackendKind kind, ushort[] frames, double seconds)
    {
        using var seg = new UNetSegmenter(model, h, w, model.Preprocessing.FrameRateHz, kind, new InferenceOptions { Threads = threads }, batch);
        int p = h * w, n = frames.Length / p;
        var maps = new float[batch * p];
        for (int i = 0; i < 3; i++) seg.Process(frames.AsSpan(0, batch * p), batch, maps);
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        long done = 0;
        int k = 0;
        while (total.Elapsed.TotalSeconds < seconds)
        {
            int start = k++ * batch % (n - batch + 1);
            long t0 = Stopwatch.GetTimestamp();
            seg.Process(frames.AsSpan(start * p, batch * p), batch, maps);
            times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds / batch);
            done += batch;
        }
        return Summarise(name, seg.BackendName, threads, batch, times, done, total.Elapsed.TotalSeconds);
    }

    private static Row Summarise(string name, string backend, int threads, int batch, List<double> perFrameMs, long frames, double seconds)
    {
        perFrameMs.Sort();
        double Q(double q) => perFrameMs[Math.Min(perFrameMs.Count - 1, (int)(q * perFrameMs.Count))];
        return new Row(name, backend, threads, batch, Q(0.5), Q(0.99), perFrameMs[^1], frames / seconds);
    }
}
