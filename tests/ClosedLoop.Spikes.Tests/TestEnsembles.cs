using ClosedLoop.Models;
using ClosedLoop.Models.Inference;
using ClosedLoop.Models.Layers;
using ClosedLoop.Spikes.Cnn;

namespace ClosedLoop.Spikes.Tests;

/// <summary>Which ensemble a stage or streaming test runs on.</summary>
public enum Ensemble
{
    /// <summary>The five shipped models (valid padding).</summary>
    Shipped,

    /// <summary>Five same-padding networks of the shipped shape (window 128 at 100 Hz, look-ahead 32, kernels 9, 5, 5,
    /// 3, 8 filters, 16 hidden units; the padding the models shipped before used) with random weights and biases,
    /// exported to ONNX and read back.</summary>
    SamePadding,
}

internal static class TestEnsembles
{
    private static readonly Lazy<IReadOnlyList<(byte[] Bytes, string Source)>> SameBytes = new(() => Enumerable.Range(0, 5).Select(k =>
    {
        var net = Architectures.SpikeCnn(128, [8, 8, 8, 8], [9, 5, 5, 3], 16, seed: 300 + k, ConvPadding.Same);
        // Non-zero biases and a spread of weights, as a trained network has.
        var rng = new Random(400 + k);
        var p = net.Parameters;
        for (int i = 0; i < p.Length; i++) p[i] += (float)((rng.NextDouble() - 0.5) * 0.1);
        var model = new SpikeCnnModel(net, LookAheadSamples: 32, RateHz: 100, NuMin: 0.5, NuMax: 8, Seed: 300 + k);
        return (model.ToOnnx(), $"random same-padding model {k + 1}");
    }).ToArray());

    private static readonly Lazy<IReadOnlyList<SpikeCnnModel>> ShippedModels =
        new(() => SpikeCnnInference.ShippedModels().Select(m => SpikeCnnModel.Load(m.Bytes, m.Source)).ToArray());

    private static readonly Lazy<IReadOnlyList<SpikeCnnModel>> SameModels =
        new(() => SameBytes.Value.Select(m => SpikeCnnModel.Load(m.Bytes, m.Source)).ToArray());

    /// <summary>The ensemble's models, loaded from their ONNX bytes.</summary>
    public static IReadOnlyList<SpikeCnnModel> Models(Ensemble e) => e == Ensemble.Shipped ? ShippedModels.Value : SameModels.Value;

    /// <summary>The ensemble as a window-forward inference (managed backend).</summary>
    public static SpikeCnnInference Open(Ensemble e) =>
        e == Ensemble.Shipped ? SpikeCnnInference.OpenShipped(BackendKind.Managed) : new SpikeCnnInference(SameBytes.Value, BackendKind.Managed);
}
