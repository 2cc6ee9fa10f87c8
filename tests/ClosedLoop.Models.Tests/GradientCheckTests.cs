using ClosedLoop.Models.Layers;
using ClosedLoop.Models.Training;

namespace ClosedLoop.Models.Tests;

/// <summary>Every layer's backward pass agrees with central finite differences of its forward pass.</summary>
public class GradientCheckTests
{
    /// <summary>
    /// Compares the analytic gradient of L = Σ output·R (R random) with (L(θ+ε) − L(θ−ε)) / 2ε for every parameter (or
    /// a sample of 60 of them). Layers without parameters sit between convolutions, so their input gradient is what
    /// the earlier convolution's weight gradient depends on.
    /// </summary>
    internal static void CheckGradients(Network net, int batch = 2, int seed = 1, int threads = 1, float eps = 1e-3f)
    {
        var rng = new Random(seed);
        // Non-zero biases so that activations are not symmetric around their kinks.
        for (int i = 0; i < net.Parameters.Length; i++) net.Parameters[i] += (float)(0.1 * (rng.NextDouble() - 0.5));
        var x = Random(rng, batch * net.InputSize);
        var r = Random(rng, batch * net.OutputSize);
        net.Threads = threads;
        net.ForwardForTraining(x, batch);
        net.Backward(r, batch);
        var analytic = (float[])net.Gradients.Clone();

        double Objective()
        {
            var y = net.ForwardForTraining(x, batch);
            double s = 0;
            for (int i = 0; i < y.Length; i++) s += (double)y[i] * r[i];
            return s;
        }

        int n = net.Parameters.Length;
        var indices = n <= 60 ? Enumerable.Range(0, n) : Enumerable.Range(0, 60).Select(_ => rng.Next(n)).Distinct();
        int checkedCount = 0;
        foreach (int i in indices)
        {
            float keep = net.Parameters[i];
            net.Parameters[i] = keep + eps;
            double up = Objective();
            net.Parameters[i] = keep - eps;
            double down = Objective();
            net.Parameters[i] = keep;
            double numeric = (up - down) / (2 * eps);
            double tolerance = 3e-3 + 2e-2 * Math.Max(Math.Abs(numeric), Math.Abs(analytic[i]));
            Assert.True(Math.Abs(numeric - analytic[i]) <= tolerance,
                $"parameter {i}: analytic {analytic[i]:G6}, finite difference {numeric:G6}\n{net.Summary()}");
            checkedCount++;
        }
        Assert.True(checkedCount > 5);
    }

    internal static float[] Random(Random rng, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(2 * rng.NextDouble() - 1);
        return a;
    }

    private static Network Sandwich(int[] shape, Func<Layer> middle, bool twoD)
    {
        var g = new NetworkBuilder(shape);
        g.Add(twoD ? new Conv2d(shape[0], 3, 3) : new Conv1d(shape[0], 3, 3));
        g.Add(middle());
        g.Add(twoD ? new Conv2d(3, 2, 3) : new Conv1d(3, 2, 3));
        return g.Build(seed: 3);
    }

    [Fact]
    public void Conv2d_Backward_MatchesFiniteDifferences()
    {
        var g = new NetworkBuilder(2, 6, 5);
        g.Add(new Conv2d(2, 3, 3));
        g.Add(new Conv2d(3, 2, 3, dilation: 2));
        g.Add(new Conv2d(2, 2, 1));
        CheckGradients(g.Build(seed: 1));
    }

    [Fact]
    public void Conv1d_DilatedBackward_MatchesFiniteDifferences()
    {
        var g = new NetworkBuilder(2, 17);
        g.Add(new Conv1d(2, 3, 5));
        g.Add(new Conv1d(3, 2, 3, dilation: 3));
        g.Add(new Conv1d(2, 1, 1));
        CheckGradients(g.Build(seed: 2));
    }

    [Fact]
    public void Conv1d_ValidPadding_BackwardMatchesFiniteDifferences()
    {
        var g = new NetworkBuilder(2, 17);
        g.Add(new Conv1d(2, 3, 5, padding: ConvPadding.Valid));
        g.Add(new Conv1d(3, 2, 3, dilation: 2, padding: ConvPadding.Valid));
        g.Add(new Conv1d(2, 1, 3));
        CheckGradients(g.Build(seed: 7));
    }

    [Fact]
    public void Conv2d_ValidPadding_BackwardMatchesFiniteDifferences()
    {
        var g = new NetworkBuilder(2, 7, 6);
        g.Add(new Conv2d(2, 3, 3, padding: ConvPadding.Valid));
        g.Add(new Conv2d(3, 2, 3));
        CheckGradients(g.Build(seed: 8));
    }

    [Fact]
    public void Conv1d_ValidPadding_ComputesOnlyFullyCoveredPositions()
    {
        // Kernel 3, dilation 2 over 9 samples: 9 − 4 = 5 outputs, output t = Σ w[k]·x[t + 2k] + b (no zero padding).
        var g = new NetworkBuilder(1, 9);
        g.Add(new Conv1d(1, 1, 3, dilation: 2, padding: ConvPadding.Valid));
        var net = g.Build(seed: 1);
        Assert.Equal([1, 5], net.OutputShape);
        float[] w = [0.5f, -1f, 2f];
        w.CopyTo(net.Parameters, 0);
        net.Parameters[3] = 0.25f;
        float[] x = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        var y = new float[5];
        net.Forward(x, 1, y);
        for (int t = 0; t < 5; t++) Assert.Equal(0.5f * x[t] - x[t + 2] + 2f * x[t + 4] + 0.25f, y[t], 1e-5f);
    }

    [Theory]
    [InlineData(ActivationKind.Relu)]
    [InlineData(ActivationKind.LeakyRelu)]
    [InlineData(ActivationKind.Sigmoid)]
    [InlineData(ActivationKind.Elu)]
    [InlineData(ActivationKind.Softplus)]
    [InlineData(ActivationKind.Tanh)]
    public void Activation_Backward_MatchesFiniteDifferences(ActivationKind kind) =>
        CheckGradients(Sandwich([1, 6, 4], () => new Activation(kind, kind == ActivationKind.LeakyRelu ? 0.1f : null), twoD: true));

    // A smaller step: with ε = 1e-3 one 2×2 window's two largest inputs swap places inside the step (a kink).
    [Fact]
    public void MaxPool2d_Backward_MatchesFiniteDifferences() => CheckGradients(Sandwich([1, 6, 8], MaxPool.TwoD, twoD: true), eps: 1e-4f);

    [Fact]
    public void MaxPool1d_Backward_MatchesFiniteDifferences() => CheckGradients(Sandwich([1, 12], MaxPool.OneD, twoD: false));

    [Fact]
    public void Upsample2d_Backward_MatchesFiniteDifferences() => CheckGradients(Sandwich([1, 3, 4], Upsample.TwoD, twoD: true));

    [Fact]
    public void Upsample1d_Backward_MatchesFiniteDifferences() => CheckGradients(Sandwich([1, 5], Upsample.OneD, twoD: false));

    [Fact]
    public void Concat_SkipConnection_BackwardMatchesFiniteDifferences()
    {
        var g = new NetworkBuilder(1, 4, 6);
        int a = g.Add(new Conv2d(1, 2, 3));
        int b = g.Add(new Conv2d(2, 3, 3), a);
        g.Add(new Concat(), b, a);
        g.Add(new Conv2d(5, 1, 3));
        CheckGradients(g.Build(seed: 4));
    }

    [Fact]
    public void Dense_AfterFlatten_BackwardMatchesFiniteDifferences()
    {
        var g = new NetworkBuilder(1, 8);
        g.Add(new Conv1d(1, 2, 3));
        g.Add(new Flatten());
        g.Add(new Dense(5));
        g.Add(new Activation(ActivationKind.Tanh));
        g.Add(new Dense(2));
        CheckGradients(g.Build(seed: 5), batch: 3);
    }

    [Fact]
    public void ShallowUNet_TwoThreads_SameGradientsAsOne()
    {
        var a = Architectures.ShallowUNet(8, 8, [2, 3], seed: 6);
        var b = Architectures.ShallowUNet(8, 8, [2, 3], seed: 6);
        var rng = new Random(1);
        var x = Random(rng, 5 * 64);
        var r = Random(rng, 5 * 64);
        a.Threads = 1;
        b.Threads = 2;
        a.ForwardForTraining(x, 5);
        a.Backward(r, 5);
        b.ForwardForTraining(x, 5);
        b.Backward(r, 5);
        for (int i = 0; i < a.Gradients.Length; i++) Assert.Equal(a.Gradients[i], b.Gradients[i], 1e-4f);
    }

    [Fact]
    public void ShallowUNet_WholeNetwork_BackwardMatchesFiniteDifferences() =>
        CheckGradients(Architectures.ShallowUNet(8, 8, [2, 3], activation: ActivationKind.Elu, seed: 7), threads: 2);

    [Theory]
    [InlineData(LossKind.BinaryCrossEntropy)]
    [InlineData(LossKind.Dice)]
    [InlineData(LossKind.DiceBce)]
    [InlineData(LossKind.MeanSquaredError)]
    [InlineData(LossKind.PoissonNll)]
    public void Loss_Gradient_MatchesFiniteDifferences(LossKind kind)
    {
        var rng = new Random(8);
        const int batch = 2, n = 12;
        var p = new float[batch * n];
        var t = new float[batch * n];
        for (int i = 0; i < p.Length; i++)
        {
            p[i] = (float)(0.1 + 0.8 * rng.NextDouble());
            t[i] = kind is LossKind.MeanSquaredError or LossKind.PoissonNll ? rng.Next(3) : rng.Next(2);
        }
        var g = new float[p.Length];
        Losses.Compute(kind, p, t, batch, g);
        var scratch = new float[p.Length];
        for (int i = 0; i < p.Length; i++)
        {
            float keep = p[i];
            const float eps = 1e-3f;
            p[i] = keep + eps;
            double up = Losses.Compute(kind, p, t, batch, scratch);
            p[i] = keep - eps;
            double down = Losses.Compute(kind, p, t, batch, scratch);
            p[i] = keep;
            double numeric = (up - down) / (2 * eps);
            Assert.True(Math.Abs(numeric - g[i]) <= 1e-4 + 1e-2 * Math.Abs(numeric), $"{kind} element {i}: analytic {g[i]}, numeric {numeric}");
        }
    }
}
