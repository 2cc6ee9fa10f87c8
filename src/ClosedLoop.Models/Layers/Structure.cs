using System.Numerics.Tensors;

namespace ClosedLoop.Models.Layers;

/// <summary>Joins two inputs along the channel axis (a U-Net's skip connection): [C0, ...] and [C1, ...] give [C0 + C1, ...].</summary>
public sealed class Concat : Layer
{
    /// <inheritdoc />
    public override int InputCount => 2;

    /// <inheritdoc />
    public override string ToString() => "Concat(channels)";

    private protected override int[] Infer(int[][] inputShapes)
    {
        int[] a = inputShapes[0], b = inputShapes[1];
        if (a.Length != b.Length || !a.AsSpan(1).SequenceEqual(b.AsSpan(1)))
            throw new ArgumentException($"Concat needs inputs that differ only in channels, got {ShapeMath.Format(a)} and {ShapeMath.Format(b)}.");
        int[] o = (int[])a.Clone();
        o[0] = a[0] + b[0];
        return o;
    }

    internal override void Forward(ref LayerIO io)
    {
        io.X0.CopyTo(io.Y);
        io.X1.CopyTo(io.Y[io.X0.Length..]);
    }

    internal override void Backward(ref LayerIO io)
    {
        int n0 = io.X0.Length;
        if (!io.DX0.IsEmpty) TensorPrimitives.Add(io.DX0, io.DY[..n0], io.DX0);
        if (!io.DX1.IsEmpty) TensorPrimitives.Add(io.DX1, io.DY[n0..], io.DX1);
    }
}

/// <summary>Flattens a sample to a feature vector (ONNX Flatten, axis 1); the data are not moved.</summary>
public sealed class Flatten : Layer
{
    /// <inheritdoc />
    public override string ToString() => "Flatten";

    private protected override int[] Infer(int[][] inputShapes) => [ShapeMath.Product(inputShapes[0])];

    internal override void Forward(ref LayerIO io) => io.X0.CopyTo(io.Y);

    internal override void Backward(ref LayerIO io)
    {
        if (!io.DX0.IsEmpty) TensorPrimitives.Add(io.DX0, io.DY, io.DX0);
    }
}

/// <summary>
/// Fully connected layer y = W·x + b over the flattened sample (ONNX Gemm with transB = 1; the exporter adds a
/// Flatten in front when the input is not already a vector). Weights are [out, in].
/// </summary>
public sealed class Dense : Layer
{
    private int _in;

    /// <summary>Creates the layer; the input size is taken from the network.</summary>
    /// <param name="outFeatures">Outputs.</param>
    public Dense(int outFeatures)
    {
        if (outFeatures < 1 || outFeatures > 1 << 20) throw new ArgumentOutOfRangeException(nameof(outFeatures), outFeatures, "outFeatures must be between 1 and 1048576");
        OutFeatures = outFeatures;
    }

    /// <summary>Outputs.</summary>
    public int OutFeatures { get; }

    /// <summary>Inputs (the flattened input sample), known once the layer is in a network.</summary>
    public int InFeatures => _in;

    /// <summary>Number of weights (the biases follow them).</summary>
    public int WeightCount => _in * OutFeatures;

    /// <inheritdoc />
    public override string ToString() => _in > 0 ? $"Dense({_in}→{OutFeatures})" : $"Dense(→{OutFeatures})";

    private protected override int[] Infer(int[][] inputShapes)
    {
        _in = ShapeMath.Product(inputShapes[0]);
        ParameterCount = _in * OutFeatures + OutFeatures;
        return [OutFeatures];
    }

    internal override void Initialize(Span<float> parameters, Random rng)
    {
        HeNormal(parameters[..WeightCount], _in, rng);
        parameters[WeightCount..].Clear();
    }

    internal override void Forward(ref LayerIO io)
    {
        ReadOnlySpan<float> w = io.P, x = io.X0;
        Span<float> y = io.Y;
        for (int o = 0; o < OutFeatures; o++) y[o] = TensorPrimitives.Dot(w.Slice(o * _in, _in), x) + w[WeightCount + o];
    }

    internal override void Backward(ref LayerIO io)
    {
        ReadOnlySpan<float> w = io.P, x = io.X0, dy = io.DY;
        Span<float> dp = io.DP;
        for (int o = 0; o < OutFeatures; o++)
        {
            float g = dy[o];
            if (g == 0) continue;
            dp[WeightCount + o] += g;
            Span<float> dwRow = dp.Slice(o * _in, _in);
            TensorPrimitives.MultiplyAdd(x, g, dwRow, dwRow);
            if (!io.DX0.IsEmpty) TensorPrimitives.MultiplyAdd(w.Slice(o * _in, _in), g, io.DX0, io.DX0);
        }
    }
}
