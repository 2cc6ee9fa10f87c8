using System.Diagnostics;
using System.Globalization;
using ClosedLoop.Models.Inference;
using ClosedLoop.Models.OnnxRuntime;
using ClosedLoop.Models.Training;

namespace ClosedLoop.Models;

/// <summary>What <see cref="ModelsBenchmark.Run"/> measures.</summary>
public sealed record ModelsBenchmarkOptions
{
    /// <summary>Fewer repetitions and no 512×512 training (a smoke run of a few seconds).</summary>
    public bool Quick { get; init; }
    /// <summary>Traces (ROIs) per frame for the spike CNN.</summary>
    public int Rois { get; init; } = 1000;
    /// <summary>Samples per spike-CNN window.</summary>
    public int WindowSamples { get; init; } = 64;
    /// <summary>Frames per batch for the U-Net throughput figures.</summary>
    public int UNetBatch { get; init; } = 32;
    /// <summary>Threads for the batch figures (the machine here has 2 cores).</summary>
    public int BatchThreads { get; init; } = 2;
    /// <summary>Try ONNX Runtime's CUDA provider (falls back to the CPU with a note).</summary>
    public bool UseCuda { get; init; }
}

/// <summary>One measured case.</summary>
/// <param name="Case">What ran.</param>
/// <param name="Backend">Engine (onnxruntime … / managed).</param>
/// <param name="Threads">Threads per call.</param>
/// <param name="Batch">Samples per call.</param>
/// <param name="Calls">Calls timed.</param>
/// <param name="P50Ms">Median call time, ms.</param>
/// <param name="P99Ms">99th percentile, ms.</param>
/// <param name="MaxMs">Slowest call, ms.</param>
/// <param name="ItemsPerSecond">Throughput in items (frames, windows) per second at the median.</param>
/// <param name="Items">What an item is.</param>
public sealed record ModelsBenchmarkRow(string Case, string Backend, int Threads, int Batch, int Calls, double P50Ms, double P99Ms, double MaxMs, double ItemsPerSecond, string Items);

/// <summary>
/// Speed of the two networks ClosedLoop uses, through ONNX Runtime and the managed forward, measured in one process:
/// the spike CNN on one frame of all ROIs, the shallow U-Net on 120×88 batches and single 512×512 frames, and a
/// U-Net training step. Prints a table; no figure is asserted anywhere.
/// </summary>
public static class ModelsBenchmark
{
    /// <summary>Runs the cases and prints them to <paramref name="output"/>.</summary>
    public static IReadOnlyList<ModelsBenchmarkRow> Run(TextWriter output, ModelsBenchmarkOptions? options = null)
    {
        options ??= new ModelsBenchmarkOptions();
        var rows = new List<ModelsBenchmarkRow>();
        var lib = OnnxRuntimeLibrary.TryLoad(null, out string? reason);
        output.WriteLine(lib is null
            ? $"ONNX Runtime: not available — managed figures only. {reason}"
            : $"ONNX Runtime {lib.Version} from {lib.Path}");
        output.WriteLine($"{Environment.ProcessorCount} logical cores, Vector256 hardware-accelerated: {System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated}");
        double scale = options.Quick ? 0.2 : 1;

        // (a) Spike CNN: one frame = one window per ROI.
        var cnn = Architectures.SpikeCnn(options.WindowSamples, seed: 1);
        var windows = Noise(options.Rois * cnn.InputSize, 2);
        foreach (int threads in new[] { 1, options.BatchThreads }.Distinct())
            foreach (var kind in Kinds(lib))
                rows.Add(Measure($"spike CNN, {options.Rois} ROIs × {options.WindowSamples} samples", cnn, kind, threads, options.Rois, windows,
                    (int)(300 * scale), "windows", options, output));

        // (b) Shallow U-Net on SUNS-sized frames, batched, and on large single frames.
        var unet = Architectures.ShallowUNet(120, 88, seed: 3);
        output.WriteLine($"shallow U-Net: {unet.Parameters.Length} parameters");
        var frames = Noise(options.UNetBatch * unet.InputSize, 4);
        foreach (var kind in Kinds(lib))
        {
            rows.Add(Measure($"U-Net 120×88, batch {options.UNetBatch}", unet, kind, options.BatchThreads, options.UNetBatch, frames, (int)(40 * scale) + 3, "frames", options, output));
            rows.Add(Measure("U-Net 120×88, single frame", unet, kind, 1, 1, frames.AsSpan(0, unet.InputSize).ToArray(), (int)(300 * scale), "frames", options, output));
        }
        var big = Architectures.ShallowUNet(512, 512, seed: 5);
        var bigFrame = Noise(big.InputSize, 6);
        foreach (var kind in Kinds(lib))
            rows.Add(Measure("U-Net 512×512, single frame", big, kind, 1, 1, bigFrame, (int)(30 * scale) + 3, "frames", options, output));
        // The lighter variant: one convolution per depth and side.
        var lean = Architectures.ShallowUNet(120, 88, convsPerLevel: 1, seed: 9);
        var leanBig = Architectures.ShallowUNet(512, 512, convsPerLevel: 1, seed: 9);
        output.WriteLine($"lean U-Net (1 conv per depth): {lean.Parameters.Length} parameters");
        foreach (var kind in Kinds(lib))
        {
            rows.Add(Measure($"lean U-Net 120×88, batch {options.UNetBatch}", lean, kind, options.BatchThreads, options.UNetBatch, frames, (int)(40 * scale) + 3, "frames", options, output));
            rows.Add(Measure("lean U-Net 512×512, single frame", leanBig, kind, 1, 1, bigFrame, (int)(30 * scale) + 3, "frames", options, output));
        }

        // (c) Training: one Adam step of a 120×88 U-Net on a batch of 16, both cores.
        var train = Architectures.ShallowUNet(120, 88, seed: 7);
        const int trainBatch = 16;
        var tx = Noise(trainBatch * train.InputSize, 8);
        var ty = new float[tx.Length];
        for (int i = 0; i < ty.Length; i++) ty[i] = tx[i] > 1 ? 1 : 0;
        var trainer = new Trainer(train, new TrainerSettings { BatchSize = trainBatch, Threads = options.BatchThreads });
        int steps = (int)(20 * scale) + 3;
        var times = new double[steps];
        trainer.Step(tx, ty, trainBatch);
        for (int s = 0; s < steps; s++)
        {
            long t0 = Stopwatch.GetTimestamp();
            trainer.Step(tx, ty, trainBatch);
            times[s] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        rows.Add(Row("U-Net 120×88 training step (Dice+BCE, Adam)", "managed", options.BatchThreads, trainBatch, times, "frames"));
        double epochS = 3000.0 / trainBatch * Percentile(times, 0.5) / 1000;

        output.WriteLine();
        output.WriteLine($"{"case",-46} {"backend",-26} {"thr",3} {"batch",5} {"calls",5} {"p50 ms",9} {"p99 ms",9} {"max ms",9} {"throughput",16}");
        foreach (var r in rows)
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Case,-46} {r.Backend,-26} {r.Threads,3} {r.Batch,5} {r.Calls,5} {r.P50Ms,9:F3} {r.P99Ms,9:F3} {r.MaxMs,9:F3} {r.ItemsPerSecond,9:F0} {r.Items}/s"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"training estimate: one epoch over a 3000-frame 120×88 video ≈ {epochS:F1} s ({3000 / trainBatch} steps of {trainBatch} frames, {options.BatchThreads} threads)"));
        foreach (string what in rows.Select(r => r.Case + "|" + r.Threads).Distinct())
        {
            var ort = rows.FirstOrDefault(r => r.Case + "|" + r.Threads == what && r.Backend.StartsWith("onnxruntime", StringComparison.Ordinal));
            var man = rows.FirstOrDefault(r => r.Case + "|" + r.Threads == what && r.Backend == "managed");
            if (ort is not null && man is not null)
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ratio managed/ORT p50, {what.Replace("|", ", threads ")}: {man.P50Ms / ort.P50Ms:F2}"));
        }
        return rows;
    }

    private static IEnumerable<BackendKind> Kinds(OnnxRuntimeLibrary? lib) =>
        lib is null ? [BackendKind.Managed] : [BackendKind.OnnxRuntime, BackendKind.Managed];

    private static ModelsBenchmarkRow Measure(string name, Network net, BackendKind kind, int threads, int batch, float[] input, int calls,
        string items, ModelsBenchmarkOptions options, TextWriter output)
    {
        using var backend = InferenceBackends.Open(net, kind, new InferenceOptions { Threads = threads, UseCuda = options.UseCuda && kind == BackendKind.OnnxRuntime });
        if (backend.Note is not null) output.WriteLine($"note ({name}, {backend.Name}): {backend.Note}");
        var y = new float[batch * backend.OutputSize];
        for (int i = 0; i < 3; i++) backend.Run(input, batch, y);
        calls = Math.Max(calls, 3);
        var times = new double[calls];
        for (int c = 0; c < calls; c++)
        {
            long t0 = Stopwatch.GetTimestamp();
            backend.Run(input, batch, y);
            times[c] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        return Row(name, backend.Name, threads, batch, times, items);
    }

    private static ModelsBenchmarkRow Row(string name, string backend, int threads, int batch, double[] times, string items)
    {
        double p50 = Percentile(times, 0.5);
        return new ModelsBenchmarkRow(name, backend, threads, batch, times.Length, p50, Percentile(times, 0.99), times.Max(), batch / (p50 / 1000), items);
    }

    private static double Percentile(double[] values, double q)
    {
        var sorted = (double[])values.Clone();
        Array.Sort(sorted);
        return sorted[(int)Math.Round(q * (sorted.Length - 1))];
    }

    private static float[] Noise(int n, int seed)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)Layers.Layer.Gauss(rng);
        return a;
    }
}
