using ClosedLoop.Models.Layers;
using ClosedLoop.Models.Training;

namespace ClosedLoop.Models.Tests;

/// <summary>Small training runs that must converge: a known kernel, disks in noisy images, spike rates from calcium.</summary>
public class TrainingTests
{
    [Fact]
    public void Conv1d_TrainedOnFilteredNoise_LearnsTheKernel()
    {
        float[] kernel = [0.5f, -1f, 2f, 0.25f, -0.75f];
        const float bias = 0.3f;
        const int length = 40, samples = 64;
        var rng = new Random(21);
        var x = GradientCheckTests.Random(rng, samples * length);
        var y = new float[x.Length];
        for (int s = 0; s < samples; s++)
            for (int t = 0; t < length; t++)
            {
                float acc = bias;
                for (int k = 0; k < 5; k++)
                {
                    int i = t + k - 2;
                    if (i >= 0 && i < length) acc += kernel[k] * x[s * length + i];
                }
                y[s * length + t] = acc;
            }
        var g = new NetworkBuilder(1, length);
        g.Add(new Conv1d(1, 1, 5));
        var net = g.Build(seed: 1);
        var trainer = new Trainer(net, new TrainerSettings { Loss = LossKind.MeanSquaredError, LearningRate = 0.05, BatchSize = 16, Seed = 2 });
        var losses = trainer.Fit(x, y, samples, epochs: 150);
        Assert.True(losses[^1] < 1e-4, $"final loss {losses[^1]}");
        for (int k = 0; k < 5; k++) Assert.Equal(kernel[k], net.Parameters[k], 0.01f);
        Assert.Equal(bias, net.Parameters[5], 0.01f);
    }

    /// <summary>Noisy images with 1–3 bright disks (radius 2–4 px) and their masks.</summary>
    internal static (float[] Images, float[] Masks) Disks(int count, int size, int seed)
    {
        var rng = new Random(seed);
        var images = new float[count * size * size];
        var masks = new float[images.Length];
        for (int n = 0; n < count; n++)
        {
            int disks = 1 + rng.Next(3);
            for (int d = 0; d < disks; d++)
            {
                double cy = 3 + rng.NextDouble() * (size - 6), cx = 3 + rng.NextDouble() * (size - 6), r = 2 + rng.NextDouble() * 2;
                for (int i = 0; i < size; i++)
                    for (int j = 0; j < size; j++)
                        if ((i - cy) * (i - cy) + (j - cx) * (j - cx) <= r * r) masks[n * size * size + i * size + j] = 1;
            }
            for (int p = 0; p < size * size; p++)
                images[n * size * size + p] = masks[n * size * size + p] * 1.5f + (float)(0.5 * Layer.Gauss(rng));
        }
        return (images, masks);
    }

    [Fact]
    public void ShallowUNet_TrainedOnDisks_SegmentsHeldOutImagesWithDiceAbove0_9()
    {
        const int size = 24;
        var (x, y) = Disks(96, size, 31);
        var net = Architectures.ShallowUNet(size, size, [4, 8], convsPerLevel: 1, seed: 3);
        var trainer = new Trainer(net, new TrainerSettings { Loss = LossKind.DiceBce, LearningRate = 0.01, BatchSize = 8, Threads = 2, Seed = 4 });
        trainer.Fit(x, y, 96, epochs: 25);
        var (tx, ty) = Disks(32, size, 32);
        var p = new float[ty.Length];
        net.Forward(tx, 32, p);
        double dice = Losses.DiceScore(p, ty);
        Assert.True(dice > 0.9, $"held-out Dice {dice:F3}");
    }

    /// <summary>
    /// Calcium-like traces: Poisson spikes at <paramref name="rateHz"/> through an exponential kernel (decay 0.5 s at
    /// 30 Hz) plus Gaussian noise; returns windows centred on each time point and the spike count there.
    /// </summary>
    internal static (float[] Windows, float[] Spikes, int Count) CalciumWindows(int traces, int length, int window, int seed, double rateHz = 2)
    {
        const double frameRateHz = 30, decayS = 0.5, noise = 0.05;
        var rng = new Random(seed);
        double gamma = Math.Exp(-1 / (decayS * frameRateHz));
        int per = length - window, half = window / 2;
        var windows = new float[traces * per * window];
        var spikes = new float[traces * per];
        var trace = new double[length];
        var counts = new int[length];
        for (int n = 0; n < traces; n++)
        {
            double c = 0;
            for (int t = 0; t < length; t++)
            {
                counts[t] = rng.NextDouble() < rateHz / frameRateHz ? 1 + (rng.NextDouble() < 0.2 ? 1 : 0) : 0;
                c = gamma * c + counts[t];
                trace[t] = 0.5 * c + noise * Layer.Gauss(rng);
            }
            for (int k = 0; k < per; k++)
            {
                int centre = k + half;
                for (int w = 0; w < window; w++) windows[(n * per + k) * window + w] = (float)trace[k + w];
                spikes[n * per + k] = counts[centre];
            }
        }
        return (windows, spikes, traces * per);
    }

    [Fact]
    public void SpikeCnn_TrainedOnSyntheticCalcium_PredictsHeldOutSpikes()
    {
        const int window = 32;
        var (x, y, count) = CalciumWindows(8, 232, window, 41);
        var net = Architectures.SpikeCnn(window, [8, 8], [7, 3], hidden: 16, seed: 5);
        var trainer = new Trainer(net, new TrainerSettings { Loss = LossKind.PoissonNll, LearningRate = 3e-3, BatchSize = 32, Threads = 2, Seed = 6 });
        var losses = trainer.Fit(x, y, count, epochs: 12);
        Assert.True(losses[^1] < losses[0], $"loss did not fall: {losses[0]} → {losses[^1]}");
        var (tx, ty, tc) = CalciumWindows(4, 232, window, 42);
        var p = new float[tc];
        net.Forward(tx, tc, p);
        double r = Pearson(p, ty);
        Assert.True(r > 0.7, $"held-out correlation {r:F3}");
    }

    [Fact]
    public void Training_SameSeeds_GivesBitIdenticalWeights()
    {
        float[] Run()
        {
            var (x, y) = Disks(16, 8, 51);
            var net = Architectures.ShallowUNet(8, 8, [2, 4], seed: 7);
            new Trainer(net, new TrainerSettings { BatchSize = 4, Threads = 2, Seed = 8 }).Fit(x, y, 16, epochs: 2);
            return net.Parameters;
        }
        Assert.Equal(Run(), Run());
    }

    [Fact]
    public void Trainer_TargetsOfWrongSize_ErrorGivesOutputShape()
    {
        var net = Architectures.SpikeCnn(16, [4, 4], [3, 3], hidden: 4);
        var trainer = new Trainer(net);
        var e = Assert.Throws<ArgumentException>(() => trainer.Step(new float[2 * 16], new float[3], 2));
        Assert.Contains("[N, 1]", e.Message);
    }

    internal static double Pearson(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double ma = 0, mb = 0;
        for (int i = 0; i < a.Length; i++) { ma += a[i]; mb += b[i]; }
        ma /= a.Length;
        mb /= b.Length;
        double sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            sab += (a[i] - ma) * (b[i] - mb);
            saa += (a[i] - ma) * (a[i] - ma);
            sbb += (b[i] - mb) * (b[i] - mb);
        }
        return sab / Math.Sqrt(saa * sbb);
    }
}
