using System.Numerics.Tensors;

namespace ClosedLoop.Models.Layers;

/// <summary>How a convolution treats the input's edges.</summary>
public enum ConvPadding
{
    /// <summary>Zero padding of dilation·(kernel − 1)/2 per side: the output has the input's size.</summary>
    Same,
    /// <summary>No padding: only positions whose whole kernel lies inside the input, so each side loses
    /// dilation·(kernel − 1)/2 positions. Every output then depends on real input only, which is what lets a streamed
    /// (sample-by-sample) evaluation reuse every position it computed before.</summary>
    Valid,
}

/// <summary>
/// Convolution with stride 1, "same" zero padding (output size = input size) or none ("valid",
/// <see cref="ConvPadding"/>), optional dilation, and a bias per output channel. Weights are stored as ONNX lays them out, [out, in, kernel...]. The forward pass unfolds the
/// input (im2col) and multiplies by the weights with the blocked <see cref="Gemm"/>; a 1×1 kernel skips the unfold.
/// </summary>
public abstract class Convolution : Layer
{
    // Input [C, _h, _w] (_p = _h·_w), output [Cout, _ho, _wo] (_po = _ho·_wo); output (y, x) reads input
    // (y + ky·dilH − _offH, x + kx·dilW − _offW).
    private int _k, _p, _h, _w, _po, _ho, _wo, _offH, _offW;

    private protected Convolution(int inChannels, int outChannels, int kernelH, int kernelW, int dilationH, int dilationW, ConvPadding padding)
    {
        if (!Enum.IsDefined(padding)) throw new ArgumentOutOfRangeException(nameof(padding), padding, "padding must be Same or Valid");
        Check(inChannels, "inChannels", 1, 4096);
        Check(outChannels, "outChannels", 1, 4096);
        if (kernelH % 2 == 0 || kernelW % 2 == 0 || kernelH < 1 || kernelW < 1 || kernelH > 255 || kernelW > 255)
            throw new ArgumentOutOfRangeException(nameof(kernelW), $"kernel size {kernelH}×{kernelW} is not allowed; it must be odd (1, 3, 5, …, 255) so that 'same' padding is symmetric.");
        Check(dilationH, "dilation", 1, 64);
        Check(dilationW, "dilation", 1, 64);
        InChannels = inChannels;
        OutChannels = outChannels;
        KernelH = kernelH;
        KernelW = kernelW;
        DilationH = dilationH;
        DilationW = dilationW;
        Padding = padding;
        ParameterCount = outChannels * inChannels * kernelH * kernelW + outChannels;
    }

    private static void Check(int value, string name, int min, int max)
    {
        if (value < min || value > max) throw new ArgumentOutOfRangeException(name, value, $"{name} must be between {min} and {max}");
    }

    /// <summary>Input channels.</summary>
    public int InChannels { get; }
    /// <summary>Output channels.</summary>
    public int OutChannels { get; }
    /// <summary>Kernel height (1 for a 1-D convolution).</summary>
    public int KernelH { get; }
    /// <summary>Kernel width (the kernel length for a 1-D convolution).</summary>
    public int KernelW { get; }
    /// <summary>Vertical dilation.</summary>
    public int DilationH { get; }
    /// <summary>Horizontal (1-D: temporal) dilation.</summary>
    public int DilationW { get; }
    /// <summary>Edge handling: <see cref="ConvPadding.Same"/> keeps the size, <see cref="ConvPadding.Valid"/> shrinks it.</summary>
    public ConvPadding Padding { get; }
    /// <summary>Zero padding per side along the height (0 when <see cref="Padding"/> is valid).</summary>
    public int PadH => Padding == ConvPadding.Same ? DilationH * (KernelH - 1) / 2 : 0;
    /// <summary>Zero padding per side along the width / time (0 when <see cref="Padding"/> is valid).</summary>
    public int PadW => Padding == ConvPadding.Same ? DilationW * (KernelW - 1) / 2 : 0;
    /// <summary>1 for traces [C, L], 2 for images [C, H, W].</summary>
    public abstract int SpatialRank { get; }

    /// <summary>Number of weights (the biases follow them in the parameters).</summary>
    public int WeightCount => OutChannels * InChannels * KernelH * KernelW;

    private bool IsPointwise => KernelH == 1 && KernelW == 1;

    private protected override int[] Infer(int[][] inputShapes)
    {
        int[] s = inputShapes[0];
        if (s.Length != SpatialRank + 1 || s[0] != InChannels)
            throw new ArgumentException($"{this} needs an input of shape [{InChannels}, {(SpatialRank == 1 ? "L" : "H, W")}], got {ShapeMath.Format(s)}.");
        _h = SpatialRank == 1 ? 1 : s[1];
        _w = s[^1];
        _p = _h * _w;
        _k = InChannels * KernelH * KernelW;
        _offH = PadH;
        _offW = PadW;
        int spanH = DilationH * (KernelH - 1), spanW = DilationW * (KernelW - 1);
        _ho = SpatialRank == 1 ? 1 : Padding == ConvPadding.Same ? _h : _h - spanH;
        _wo = Padding == ConvPadding.Same ? _w : _w - spanW;
        if (_ho < 1 || _wo < 1)
            throw new ArgumentException($"{this} needs an input longer than its kernel span ({(SpatialRank == 1 ? "" : $"{spanH + 1}×")}{spanW + 1}), got {ShapeMath.Format(s)}.");
        _po = _ho * _wo;
        return SpatialRank == 1 ? [OutChannels, _wo] : [OutChannels, _ho, _wo];
    }

    internal override int WorkspaceSize => (IsPointwise ? 0 : 2 * _k * _po) + _k * OutChannels;

    internal override void Initialize(Span<float> parameters, Random rng)
    {
        HeNormal(parameters[..WeightCount], _k, rng);
        parameters[WeightCount..].Clear();
    }

    internal override void Forward(ref LayerIO io)
    {
        ReadOnlySpan<float> w = io.P[..WeightCount], b = io.P[WeightCount..];
        if (IsPointwise)
        {
            Gemm.Multiply(OutChannels, _k, _p, w, io.X0, _p, io.Y, _p, b, false);
            return;
        }
        // Unfold and multiply a band of output rows at a time so that the unfolded band stays in cache.
        int rows = Math.Clamp(TileFloats / (_k * _wo), 1, _ho);
        for (int y0 = 0; y0 < _ho; y0 += rows)
        {
            int y1 = Math.Min(_ho, y0 + rows), band = (y1 - y0) * _wo;
            Span<float> cols = io.Work[..(_k * band)];
            Unfold(io.X0, cols, y0, y1);
            Gemm.Multiply(OutChannels, _k, band, w, cols, band, io.Y[(y0 * _wo)..], _po, b, false);
        }
    }

    /// <summary>Floats of unfolded input per band in the forward pass (256 KiB, about an L2 cache).</summary>
    private const int TileFloats = 64 * 1024;

    internal override void Backward(ref LayerIO io)
    {
        ReadOnlySpan<float> w = io.P[..WeightCount];
        Span<float> dw = io.DP[..WeightCount], db = io.DP[WeightCount..];
        ReadOnlySpan<float> cols;
        if (IsPointwise) cols = io.X0;
        else
        {
            Span<float> c = io.Work[..(_k * _po)];
            Unfold(io.X0, c, 0, _ho);
            cols = c;
        }
        for (int m = 0; m < OutChannels; m++)
        {
            ReadOnlySpan<float> g = io.DY.Slice(m * _po, _po);
            db[m] += TensorPrimitives.Sum(g);
            Span<float> dwRow = dw.Slice(m * _k, _k);
            for (int j = 0; j < _k; j++) dwRow[j] += TensorPrimitives.Dot(g, cols.Slice(j * _po, _po));
        }
        if (io.DX0.IsEmpty) return;
        Span<float> wt = io.Work.Slice(IsPointwise ? 0 : 2 * _k * _po, _k * OutChannels);
        for (int m = 0; m < OutChannels; m++)
            for (int j = 0; j < _k; j++) wt[j * OutChannels + m] = w[m * _k + j];
        if (IsPointwise)
        {
            Gemm.Multiply(_k, OutChannels, _p, wt, io.DY, _p, io.DX0, _p, default, true);
            return;
        }
        Span<float> dcols = io.Work.Slice(_k * _po, _k * _po);
        Gemm.Multiply(_k, OutChannels, _po, wt, io.DY, _po, dcols, _po, default, false);
        Fold(dcols, io.DX0);
    }

    /// <summary>im2col for output rows [<paramref name="y0"/>, <paramref name="y1"/>): row (c, ky, kx) of
    /// <paramref name="cols"/> holds the input shifted by that kernel tap, zero outside.</summary>
    private void Unfold(ReadOnlySpan<float> x, Span<float> cols, int y0, int y1)
    {
        int r = 0, band = (y1 - y0) * _wo;
        for (int c = 0; c < InChannels; c++)
            for (int ky = 0; ky < KernelH; ky++)
                for (int kx = 0; kx < KernelW; kx++, r++)
                {
                    int oy = ky * DilationH - _offH, ox = kx * DilationW - _offW;
                    int xlo = Math.Max(0, -ox), xhi = Math.Min(_wo, _w - ox);
                    for (int y = y0; y < y1; y++)
                    {
                        Span<float> dst = cols.Slice(r * band + (y - y0) * _wo, _wo);
                        int sy = y + oy;
                        if (sy < 0 || sy >= _h || xhi <= xlo) { dst.Clear(); continue; }
                        dst[..xlo].Clear();
                        x.Slice(c * _p + sy * _w + xlo + ox, xhi - xlo).CopyTo(dst[xlo..xhi]);
                        dst[xhi..].Clear();
                    }
                }
    }

    /// <summary>col2im: adds each row of <paramref name="dcols"/> back onto the input positions it was read from.</summary>
    private void Fold(ReadOnlySpan<float> dcols, Span<float> dx)
    {
        int r = 0;
        for (int c = 0; c < InChannels; c++)
            for (int ky = 0; ky < KernelH; ky++)
                for (int kx = 0; kx < KernelW; kx++, r++)
                {
                    int oy = ky * DilationH - _offH, ox = kx * DilationW - _offW;
                    int xlo = Math.Max(0, -ox), xhi = Math.Min(_wo, _w - ox);
                    if (xhi <= xlo) continue;
                    for (int y = 0; y < _ho; y++)
                    {
                        int sy = y + oy;
                        if (sy < 0 || sy >= _h) continue;
                        Span<float> dst = dx.Slice(c * _p + sy * _w + xlo + ox, xhi - xlo);
                        TensorPrimitives.Add(dst, dcols.Slice(r * _po + y * _wo + xlo, xhi - xlo), dst);
                    }
                }
    }
}

/// <summary>1-D convolution over traces [C, L]: stride 1, same or valid padding, optional dilation (a dilated stack sees a long window cheaply).</summary>
public sealed class Conv1d : Convolution
{
    /// <summary>Creates the layer.</summary>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="outChannels">Output channels (filters).</param>
    /// <param name="kernelSize">Kernel length in samples; odd.</param>
    /// <param name="dilation">Spacing of the kernel taps in samples (1 = contiguous).</param>
    /// <param name="padding">Same (output length = input length) or valid (no padding, shorter output).</param>
    public Conv1d(int inChannels, int outChannels, int kernelSize, int dilation = 1, ConvPadding padding = ConvPadding.Same)
        : base(inChannels, outChannels, 1, kernelSize, 1, dilation, padding) { }

    /// <inheritdoc />
    public override int SpatialRank => 1;

    /// <inheritdoc />
    public override string ToString() => $"Conv1d({InChannels}→{OutChannels}, k={KernelW}{(DilationW > 1 ? $", dilation {DilationW}" : "")}{(Padding == ConvPadding.Valid ? ", valid" : "")})";
}

/// <summary>2-D convolution over images [C, H, W]: stride 1, same or valid padding, optional dilation.</summary>
public sealed class Conv2d : Convolution
{
    /// <summary>Creates the layer with a square kernel.</summary>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="outChannels">Output channels (filters).</param>
    /// <param name="kernelSize">Kernel height and width; odd.</param>
    /// <param name="dilation">Spacing of the kernel taps in pixels (1 = contiguous).</param>
    /// <param name="padding">Same (output size = input size) or valid (no padding, smaller output).</param>
    public Conv2d(int inChannels, int outChannels, int kernelSize, int dilation = 1, ConvPadding padding = ConvPadding.Same)
        : base(inChannels, outChannels, kernelSize, kernelSize, dilation, dilation, padding) { }

    /// <summary>Creates the layer with a rectangular kernel (used by the ONNX importer).</summary>
    public Conv2d(int inChannels, int outChannels, int kernelH, int kernelW, int dilationH, int dilationW, ConvPadding padding = ConvPadding.Same)
        : base(inChannels, outChannels, kernelH, kernelW, dilationH, dilationW, padding) { }

    /// <inheritdoc />
    public override int SpatialRank => 2;

    /// <inheritdoc />
    public override string ToString() => $"Conv2d({InChannels}→{OutChannels}, {KernelH}×{KernelW}{(DilationW > 1 || DilationH > 1 ? $", dilation {DilationH}×{DilationW}" : "")}{(Padding == ConvPadding.Valid ? ", valid" : "")})";
}
