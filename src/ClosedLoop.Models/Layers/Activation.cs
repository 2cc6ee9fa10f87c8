using System.Numerics.Tensors;

namespace ClosedLoop.Models.Layers;

/// <summary>Element-wise non-linearities (each is one ONNX operator of the same name).</summary>
public enum ActivationKind
{
    /// <summary>max(x, 0) — ONNX Relu.</summary>
    Relu,
    /// <summary>x for x &gt; 0, αx otherwise — ONNX LeakyRelu.</summary>
    LeakyRelu,
    /// <summary>1 / (1 + e^−x) — ONNX Sigmoid.</summary>
    Sigmoid,
    /// <summary>x for x &gt; 0, α(e^x − 1) otherwise (SUNS's U-Net uses it) — ONNX Elu.</summary>
    Elu,
    /// <summary>ln(1 + e^x), a smooth positive output for rates — ONNX Softplus.</summary>
    Softplus,
    /// <summary>tanh(x) — ONNX Tanh.</summary>
    Tanh,
}

/// <summary>An element-wise activation; the output has the input's shape.</summary>
public sealed class Activation : Layer
{
    /// <summary>Creates the activation; <paramref name="alpha"/> is the negative slope (LeakyRelu, default 0.01) or scale (Elu, default 1).</summary>
    public Activation(ActivationKind kind, float? alpha = null)
    {
        Kind = kind;
        Alpha = alpha ?? (kind == ActivationKind.LeakyRelu ? 0.01f : 1f);
        if (kind is ActivationKind.LeakyRelu or ActivationKind.Elu && !(Alpha >= 0 && Alpha <= 10))
            throw new ArgumentOutOfRangeException(nameof(alpha), Alpha, "alpha must be between 0 and 10");
    }

    /// <summary>Which function.</summary>
    public ActivationKind Kind { get; }

    /// <summary>Negative slope (LeakyRelu) or scale (Elu); unused otherwise.</summary>
    public float Alpha { get; }

    /// <inheritdoc />
    public override string ToString() => Kind is ActivationKind.LeakyRelu or ActivationKind.Elu ? $"{Kind}(α={Alpha})" : Kind.ToString();

    private protected override int[] Infer(int[][] inputShapes) => (int[])inputShapes[0].Clone();

    internal override void Forward(ref LayerIO io)
    {
        ReadOnlySpan<float> x = io.X0;
        Span<float> y = io.Y;
        switch (Kind)
        {
            case ActivationKind.Relu: TensorPrimitives.Max(x, 0f, y); break;
            case ActivationKind.Sigmoid: TensorPrimitives.Sigmoid(x, y); break;
            case ActivationKind.Tanh: TensorPrimitives.Tanh(x, y); break;
            case ActivationKind.LeakyRelu:
                for (int i = 0; i < x.Length; i++) y[i] = x[i] > 0 ? x[i] : Alpha * x[i];
                break;
            case ActivationKind.Elu:
                for (int i = 0; i < x.Length; i++) y[i] = x[i] > 0 ? x[i] : Alpha * (MathF.Exp(x[i]) - 1);
                break;
            case ActivationKind.Softplus:
                for (int i = 0; i < x.Length; i++) y[i] = x[i] > 20 ? x[i] : MathF.Log(1 + MathF.Exp(x[i]));
                break;
        }
    }

    internal override void Backward(ref LayerIO io)
    {
        if (io.DX0.IsEmpty) return;
        ReadOnlySpan<float> x = io.X0, y = io.Y, dy = io.DY;
        Span<float> dx = io.DX0;
        switch (Kind)
        {
            case ActivationKind.Relu:
                for (int i = 0; i < x.Length; i++) if (x[i] > 0) dx[i] += dy[i];
                break;
            case ActivationKind.LeakyRelu:
                for (int i = 0; i < x.Length; i++) dx[i] += x[i] > 0 ? dy[i] : Alpha * dy[i];
                break;
            case ActivationKind.Sigmoid:
                for (int i = 0; i < x.Length; i++) dx[i] += dy[i] * y[i] * (1 - y[i]);
                break;
            case ActivationKind.Tanh:
                for (int i = 0; i < x.Length; i++) dx[i] += dy[i] * (1 - y[i] * y[i]);
                break;
            case ActivationKind.Elu:
                for (int i = 0; i < x.Length; i++) dx[i] += x[i] > 0 ? dy[i] : dy[i] * (y[i] + Alpha);
                break;
            case ActivationKind.Softplus:
                for (int i = 0; i < x.Length; i++) dx[i] += dy[i] / (1 + MathF.Exp(-x[i]));
                break;
        }
    }
}
