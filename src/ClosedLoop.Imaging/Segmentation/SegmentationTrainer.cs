using ClosedLoop.Core;
using ClosedLoop.Models;
using ClosedLoop.Models.Inference;
using ClosedLoop.Models.Layers;
using ClosedLoop.Models.Training;

namespace ClosedLoop.Imaging.Segmentation;

/// <summary>Settings of <see cref="SegmentationTrainer"/>; <see cref="Validate"/> names a bad field as <c>segmentation.&lt;field&gt;</c>.</summary>
public sealed record SegmentationTrainingSettings
{
    /// <summary>Channels per U-Net depth (default 4, 8, 16 as in SUNS).</summary>
    public int[] Channels { get; init; } = [4, 8, 16];

    /// <summary>Convolutions per depth on each side (1 or 2; 1 is about twice as fast).</summary>
    public int ConvsPerLevel { get; init; } = 1;

    /// <summary>Side of the square random crops trained on, px (multiple of 2^(depths − 1); cut to the frame when larger).</summary>
    public int CropPx { get; init; } = 64;

    /// <summary>Passes over all kept frames.</summary>
    public int Epochs { get; init; } = 10;

    /// <summary>Mini-batch size.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Adam learning rate (cosine-decayed to a tenth over the training).</summary>
    public double LearningRate { get; init; } = 3e-3;

    /// <summary>Threads for training.</summary>
    public int Threads { get; init; } = 2;

    /// <summary>Seed of the initialisation, the sample order and the augmentation.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>A neuron is active in a frame (its mask is in the target) when its filtered transient is at least this
    /// many times the noise of its ROI-mean trace.</summary>
    public double TargetSnr { get; init; } = 4;

    /// <summary>Keep every n-th frame after the warm-up (consecutive frames are nearly identical).</summary>
    public int FrameStride { get; init; } = 2;

    /// <summary>Checks every field.</summary>
    public void Validate()
    {
        if (Channels is null || Channels.Length is < 2 or > 5) throw new SettingException("segmentation.channels", Channels is null ? "null" : string.Join(",", Channels), "2 to 5 depths");
        foreach (var c in Channels) Check.InRange("segmentation.channels", c, 1, 256);
        Check.InRange("segmentation.convsPerLevel", ConvsPerLevel, 1, 2);
        int mult = 1 << (Channels.Length - 1);
        Check.InRange("segmentation.cropPx", CropPx, mult, 4096);
        if (CropPx % mult != 0) throw new SettingException("segmentation.cropPx", CropPx, $"a multiple of {mult}");
        Check.InRange("segmentation.epochs", Epochs, 1, 10_000);
        Check.InRange("segmentation.batchSize", BatchSize, 1, 1024);
        Check.InRange("segmentation.learningRate", LearningRate, 1e-6, 1);
        Check.InRange("segmentation.threads", Threads, 1, 64);
        Check.InRange("segmentation.targetSnr", TargetSnr, 0.5, 100);
        Check.InRange("segmentation.frameStride", FrameStride, 1, 1000);
    }
}

/// <summary>Where training is: epoch, step, the loss averaged over the epoch so far.</summary>
/// <param name="Epoch">Epoch (0-based).</param>
/// <param name="Step">Step within the training (0-based).</param>
/// <param name="TotalSteps">Steps in the whole training.</param>
/// <param name="Loss">Mean loss over the epoch so far.</param>
public readonly record struct TrainingProgress(int Epoch, int Step, int TotalSteps, double Loss);

/// <summary>Pixel Dice of a model on one validation set.</summary>
/// <param name="Name">The set's name.</param>
/// <param name="Dice">2·|P ∩ T| / (|P| + |T|) over all kept frames, P = probability ≥ 0.5.</param>
/// <param name="Frames">Frames scored.</param>
/// <param name="TargetFraction">Fraction of pixel-frames in the target.</param>
public sealed record DiceResult(string Name, double Dice, int Frames, double TargetFraction);

/// <summary>
/// Trains the shallow U-Net on SNR frames with Adam and Dice + BCE: random square crops, random flips and 90°
/// rotations (transpose + flip), a cosine learning-rate decay. Deterministic for a seed and thread count.
/// </summary>
public static class SegmentationTrainer
{
    /// <summary>Trains a model on <paramref name="sets"/> (prepared with <paramref name="preprocessing"/>).
    /// <paramref name="progress"/> hears every step.</summary>
    public static SegmentationModel Train(IReadOnlyList<TrainingSet> sets, SnrSettings preprocessing, SegmentationTrainingSettings settings,
        Action<TrainingProgress>? progress = null)
    {
        settings.Validate();
        if (sets.Count == 0 || sets.Sum(s => s.Count) == 0) throw new SettingException("segmentation.trainingSets", sets.Count, "at least one movie with frames after the warm-up");
        int mult = 1 << (settings.Channels.Length - 1);
        int crop = Math.Min(settings.CropPx, sets.Min(s => Math.Min(s.HeightPx, s.WidthPx)) / mult * mult);
        if (crop < mult) throw new SettingException("segmentation.cropPx", crop, $"at least {mult}: the frames are too small");
        var net = Architectures.ShallowUNet(crop, crop, settings.Channels, 1, ActivationKind.Elu, settings.ConvsPerLevel, settings.Seed);
        var trainer = new Trainer(net, new TrainerSettings
        {
            Loss = LossKind.DiceBce, LearningRate = settings.LearningRate, BatchSize = settings.BatchSize, Threads = settings.Threads, Seed = settings.Seed,
        });
        var index = new List<(int Set, int Frame)>();
        for (int s = 0; s < sets.Count; s++)
            for (int f = 0; f < sets[s].Count; f++) index.Add((s, f));
        var rng = new Random(settings.Seed);
        int bs = settings.BatchSize, cp = crop * crop;
        var inBatch = new float[bs * cp];
        var tgBatch = new float[bs * cp];
        int stepsPerEpoch = (index.Count + bs - 1) / bs;
        int total = stepsPerEpoch * settings.Epochs, step = 0;
        var order = index.ToArray();
        for (int e = 0; e < settings.Epochs; e++)
        {
            rng.Shuffle(order);
            double sum = 0;
            for (int b = 0; b < stepsPerEpoch; b++)
            {
                int n = Math.Min(bs, order.Length - b * bs);
                for (int j = 0; j < n; j++)
                {
                    var (si, fi) = order[b * bs + j];
                    var set = sets[si];
                    int y0 = rng.Next(set.HeightPx - crop + 1), x0 = rng.Next(set.WidthPx - crop + 1);
                    int aug = rng.Next(8);
                    CropAugment(set.Snr.AsSpan(fi * set.HeightPx * set.WidthPx, set.HeightPx * set.WidthPx), set.WidthPx, y0, x0, crop, aug, inBatch.AsSpan(j * cp, cp));
                    CropAugment(set.Targets.AsSpan(fi * set.HeightPx * set.WidthPx, set.HeightPx * set.WidthPx), set.WidthPx, y0, x0, crop, aug, tgBatch.AsSpan(j * cp, cp));
                }
                trainer.Optimizer.LearningRate = settings.LearningRate * (0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * step / Math.Max(1, total))));
                sum += trainer.Step(inBatch.AsSpan(0, n * cp), tgBatch.AsSpan(0, n * cp), n);
                progress?.Invoke(new TrainingProgress(e, step, total, sum / (b + 1)));
                step++;
            }
        }
        double nuMin = sets.Select(s => s.NoiseLevel).Where(v => !double.IsNaN(v)).DefaultIfEmpty(double.NaN).Min();
        double nuMax = sets.Select(s => s.NoiseLevel).Where(v => !double.IsNaN(v)).DefaultIfEmpty(double.NaN).Max();
        return new SegmentationModel
        {
            Network = net,
            Channels = (int[])settings.Channels.Clone(),
            ConvsPerLevel = settings.ConvsPerLevel,
            Preprocessing = preprocessing with { FrameRateHz = sets[0].FrameRateHz },
            FrameRateMinHz = sets.Min(s => s.FrameRateHz),
            FrameRateMaxHz = sets.Max(s => s.FrameRateHz),
            NuMin = nuMin,
            NuMax = nuMax,
            PixelNuMin = sets.Select(s => s.PixelNoiseLevel).Where(v => !double.IsNaN(v)).DefaultIfEmpty(double.NaN).Min(),
            PixelNuMax = sets.Select(s => s.PixelNoiseLevel).Where(v => !double.IsNaN(v)).DefaultIfEmpty(double.NaN).Max(),
            NeuronDiameterPx = TrainingTargets.MedianDiameterPx(sets.SelectMany(s => s.Masks)),
            Extra = new Dictionary<string, string>
            {
                ["target_snr"] = settings.TargetSnr.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
                ["training_sets"] = string.Join("; ", sets.Select(s => s.Name)),
            },
        };
    }

    /// <summary>Copies a crop×crop window at (y0, x0) of a frame of width <paramref name="width"/>, transformed by
    /// <paramref name="aug"/> (bit 0: flip rows, bit 1: flip columns, bit 2: transpose; the eight symmetries of the square).</summary>
    internal static void CropAugment(ReadOnlySpan<float> frame, int width, int y0, int x0, int crop, int aug, Span<float> dst)
    {
        bool fy = (aug & 1) != 0, fx = (aug & 2) != 0, tr = (aug & 4) != 0;
        for (int y = 0; y < crop; y++)
        {
            int sy = y0 + (fy ? crop - 1 - y : y);
            for (int x = 0; x < crop; x++)
            {
                int sx = x0 + (fx ? crop - 1 - x : x);
                float v = frame[sy * width + sx];
                if (tr) dst[x * crop + y] = v; else dst[y * crop + x] = v;
            }
        }
    }

    /// <summary>Pixel Dice of <paramref name="model"/> on every kept frame of <paramref name="set"/> (full frames, the
    /// managed forward on <paramref name="threads"/> threads). <paramref name="probabilities"/>, when given, receives the maps.</summary>
    public static DiceResult Evaluate(SegmentationModel model, TrainingSet set, int threads = 2, float[]? probabilities = null)
    {
        int p = set.HeightPx * set.WidthPx;
        var net = model.NetworkFor(set.HeightPx, set.WidthPx);
        using var backend = new ManagedBackend(net, threads);
        const int chunk = 64;
        var output = new float[chunk * p];
        long inter = 0, sumP = 0, sumT = 0;
        for (int start = 0; start < set.Count; start += chunk)
        {
            int n = Math.Min(chunk, set.Count - start);
            backend.Run(set.Snr.AsSpan(start * p, n * p), n, output.AsSpan(0, n * p));
            if (probabilities is not null) output.AsSpan(0, n * p).CopyTo(probabilities.AsSpan(start * p));
            var t = set.Targets.AsSpan(start * p, n * p);
            for (int i = 0; i < n * p; i++)
            {
                bool pi = output[i] >= 0.5f, ti = t[i] > 0.5f;
                if (pi) sumP++;
                if (ti) sumT++;
                if (pi && ti) inter++;
            }
        }
        double dice = sumP + sumT == 0 ? 1 : 2.0 * inter / (sumP + sumT);
        return new DiceResult(set.Name, dice, set.Count, (double)sumT / Math.Max(1, (long)set.Count * p));
    }
}
