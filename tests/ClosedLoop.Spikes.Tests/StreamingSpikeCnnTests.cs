using ClosedLoop.Core;
using ClosedLoop.Models;
using ClosedLoop.Models.Inference;
using ClosedLoop.Models.Layers;
using ClosedLoop.Spikes.Cnn;

namespace ClosedLoop.Spikes.Tests;

public class StreamingSpikeCnnTests
{
    /// <summary>Streams <paramref name="steps"/> random samples for <paramref name="rois"/> ROIs and checks every output
    /// from the W-th sample on against the window forward of the same network on the last W samples.</summary>
    private static double MaxStreamingError(Network net, int rois, int steps, int seed)
    {
        int w = net.InputShape[^1];
        var rng = new Random(seed);
        var stream = new StreamingSpikeCnn(net, rois);
        var history = new float[rois][];
        for (int r = 0; r < rois; r++)
        {
            history[r] = new float[steps];
            double level = 0;
            for (int t = 0; t < steps; t++)
            {
                // Bursts on noise, like a normalised trace, so the ReLUs and the pooling switch often.
                level = 0.8 * level + (rng.NextDouble() < 0.05 ? 3 : 0);
                history[r][t] = (float)(level + rng.NextDouble() - 0.5);
            }
        }
        var x = new float[rois];
        var y = new float[rois];
        var window = new float[rois * w];
        var expected = new float[rois];
        double worst = 0;
        for (int t = 0; t < steps; t++)
        {
            for (int r = 0; r < rois; r++) x[r] = history[r][t];
            // Every third sample only advances the streams (as the stage does between frames); the outputs read
            // afterwards must not notice.
            if (t % 3 == 1) { stream.Advance(x); continue; }
            stream.Step(x, y);
            Assert.Equal(t + 1 >= w, stream.Ready);
            if (t + 1 < w) continue;
            for (int r = 0; r < rois; r++) history[r].AsSpan(t - w + 1, w).CopyTo(window.AsSpan(r * w, w));
            net.Forward(window, rois, expected);
            for (int r = 0; r < rois; r++)
                worst = Math.Max(worst, Math.Abs(y[r] - expected[r]) / Math.Max(1, Math.Abs(expected[r])));
        }
        return worst;
    }

    private static Network RandomNetwork(int window, int[] filters, int[] kernels, int hidden, int seed, ConvPadding padding = ConvPadding.Same)
    {
        var net = Architectures.SpikeCnn(window, filters, kernels, hidden, seed, padding);
        // Non-zero biases and a spread of weights, so every edge case of padding and pooling matters.
        var rng = new Random(seed + 100);
        var p = net.Parameters;
        for (int i = 0; i < p.Length; i++) p[i] += (float)((rng.NextDouble() - 0.5) * 0.2);
        return net;
    }

    [Theory]
    [InlineData(64, new[] { 8, 8, 8 }, new[] { 9, 5, 3 }, 16, 13)]
    [InlineData(32, new[] { 4, 6 }, new[] { 7, 3 }, 5, 9)]
    [InlineData(48, new[] { 12, 8, 10 }, new[] { 5, 7, 5 }, 20, 8)]
    [InlineData(16, new[] { 8, 8, 8 }, new[] { 9, 5, 3 }, 16, 3)]   // too short for any interior: all positions are edges
    [InlineData(40, new[] { 3 }, new[] { 11 }, 7, 17)]             // one convolution, no pooling
    [InlineData(128, new[] { 16, 16, 16, 8 }, new[] { 11, 7, 5, 3 }, 32, 24)]
    public void Stream_EqualsTheWindowForward_AfterTheFirstWindow(int window, int[] filters, int[] kernels, int hidden, int rois)
    {
        var net = RandomNetwork(window, filters, kernels, hidden, seed: window + filters.Length);
        double err = MaxStreamingError(net, rois, window * 3 + 7, seed: 2);
        Assert.True(err < 1e-4, $"largest relative difference to the window forward {err:g3}");
    }

    [Theory]
    [InlineData(128, new[] { 8, 8, 8, 8 }, new[] { 9, 5, 5, 3 }, 16, 21)] // the shape the valid ensemble is trained in
    [InlineData(64, new[] { 8, 8, 8 }, new[] { 9, 5, 3 }, 16, 13)]
    [InlineData(40, new[] { 3 }, new[] { 11 }, 7, 17)]                  // one convolution, no pooling
    [InlineData(30, new[] { 5, 4, 6 }, new[] { 3, 3, 3 }, 9, 8)]        // three convolutions
    [InlineData(24, new[] { 6, 10 }, new[] { 7, 9 }, 12, 5)]            // the last convolution leaves one position
    [InlineData(24, new[] { 1, 1 }, new[] { 1, 5 }, 1, 3)]              // 1×1 kernel, single channels and hidden unit
    public void Stream_OfAValidNetwork_EqualsTheWindowForward_AfterTheFirstWindow(int window, int[] filters, int[] kernels, int hidden, int rois)
    {
        var net = RandomNetwork(window, filters, kernels, hidden, seed: window + 3 * filters.Length, ConvPadding.Valid);
        var stream = new StreamingSpikeCnn(net, 1);
        // No position reaches a padding: a step computes each layer's new column and the dense layers only.
        long columns = 0, cin = 1;
        for (int l = 0; l < filters.Length; l++) { columns += kernels[l] * cin * filters[l]; cin = filters[l]; }
        int lastLength = net.Nodes.Select(n => n.Layer).OfType<Dense>().First().InFeatures / filters[^1];
        Assert.Equal(columns + (long)lastLength * filters[^1] * hidden + hidden, stream.MultiplyAddsPerStep);
        double err = MaxStreamingError(net, rois, window * 3 + 7, seed: 4);
        Assert.True(err < 1e-4, $"largest relative difference to the window forward {err:g3}");
    }

    [Fact]
    public void Stream_RefusesMoreRoisThanItsStateCanHold_NamingTheLimit()
    {
        var net = Architectures.SpikeCnn(128, [16, 16, 16, 16], [9, 5, 5, 3], 16, seed: 1);
        var ex = Assert.Throws<SettingException>(() => new StreamingSpikeCnn(net, 1_000_000, "big.onnx"));
        Assert.Contains("rois", ex.Message);
        Assert.Contains("at most", ex.Message);
    }

    [Fact]
    public void Stream_RefusesMixedPadding_NamingTheModel()
    {
        var g = new NetworkBuilder(1, 32);
        g.Add(new Conv1d(1, 4, 5, padding: ConvPadding.Valid));
        g.Add(new Activation(ActivationKind.Relu));
        g.Add(MaxPool.OneD());
        g.Add(new Conv1d(4, 4, 3));
        g.Add(new Activation(ActivationKind.Relu));
        g.Add(new Flatten());
        g.Add(new Dense(6));
        g.Add(new Activation(ActivationKind.Relu));
        g.Add(new Dense(1));
        g.Add(new Activation(ActivationKind.Softplus));
        var ex = Assert.Throws<SettingException>(() => new StreamingSpikeCnn(g.Build(), 4, "mixed.onnx"));
        Assert.Contains("mixed.onnx", ex.Message);
        Assert.Contains("same and valid padding", ex.Message);
    }

    [Theory]
    [InlineData(Ensemble.Shipped)]
    [InlineData(Ensemble.SamePadding)]
    public void Stream_OfAnEnsemble_EqualsRunWindowsOnFillWindowWindows(Ensemble which)
    {
        using var cnn = TestEnsembles.Open(which);
        var ensemble = new StreamingSpikeCnnEnsemble(cnn.Models, 10);
        int w = ensemble.WindowSamples, look = ensemble.LookAheadSamples, rois = 10, n = 400;
        var s = Enumerable.Range(0, rois).Select(r => SpikeCnnPreprocessing.Normalise(
            Synthetic.Make(n, 100, 0.6, 1.0, 1.0, 0.1, seed: 40 + r).Calcium.Select(v => (double)v).ToArray())).ToArray();
        var x = new float[rois]; var mean = new float[rois]; var lo = new float[rois]; var hi = new float[rois];
        var windows = new float[rois * w]; var expected = new float[rois]; var scratch = new float[rois];
        double worst = 0, lowest = double.MaxValue, highest = double.MinValue;
        for (int t = 0; t < n; t++)
        {
            for (int r = 0; r < rois; r++) x[r] = s[r][t];
            ensemble.Step(x, mean, lo, hi);
            if (t + 1 < w) continue;
            // The newest sample is t, so the window is the one FillWindow builds for the sample t − L.
            for (int r = 0; r < rois; r++) SpikeCnnPreprocessing.FillWindow(s[r], t - look, look, windows.AsSpan(r * w, w));
            cnn.RunWindows(windows, rois, expected, scratch);
            for (int r = 0; r < rois; r++)
            {
                worst = Math.Max(worst, Math.Abs(mean[r] - expected[r]));
                lowest = Math.Min(lowest, expected[r]); highest = Math.Max(highest, expected[r]);
                Assert.True(lo[r] <= mean[r] && mean[r] <= hi[r]);
            }
        }
        Assert.True(worst < 1e-4, $"largest difference to RunWindows {worst:g3}");
        Assert.True(highest - lowest > 0.01, $"the ensemble's rate hardly moves ({lowest:g3} … {highest:g3}): the comparison would prove little");
    }

    [Fact]
    public void Stream_RejectsANetworkOutsideTheFamily_NamingIt()
    {
        var g = new NetworkBuilder(1, 16);
        g.Add(new Conv1d(1, 4, 3, dilation: 2));
        g.Add(new Activation(ClosedLoop.Models.Layers.ActivationKind.Relu));
        g.Add(new Flatten());
        g.Add(new Dense(1));
        var ex = Assert.Throws<SettingException>(() => new StreamingSpikeCnn(g.Build(), 4, "odd.onnx"));
        Assert.Contains("odd.onnx", ex.Message);
        Assert.Contains("dilat", ex.Message);
    }
}
