namespace ClosedLoop.Models.Layers;

/// <summary>
/// Max pooling with a window equal to its stride (2×2 for images, 2 for traces), no padding. Input sizes must be
/// divisible by the window so that a matching <see cref="Upsample"/> restores them (a U-Net's skip connections need
/// equal sizes): make image sides divisible by 2^(levels − 1).
/// </summary>
public sealed class MaxPool : Layer
{
    private int _c, _h, _w;

    private MaxPool(int rank) => SpatialRank = rank;

    /// <summary>2×2 pooling of images [C, H, W].</summary>
    public static MaxPool TwoD() => new(2);

    /// <summary>Pooling by 2 of traces [C, L].</summary>
    public static MaxPool OneD() => new(1);

    /// <summary>1 for traces, 2 for images.</summary>
    public int SpatialRank { get; }

    private int PoolH => SpatialRank == 2 ? 2 : 1;

    /// <inheritdoc />
    public override string ToString() => SpatialRank == 2 ? "MaxPool(2×2)" : "MaxPool(2)";

    private protected override int[] Infer(int[][] inputShapes)
    {
        int[] s = inputShapes[0];
        if (s.Length != SpatialRank + 1)
            throw new ArgumentException($"{this} needs an input of shape [C, {(SpatialRank == 1 ? "L" : "H, W")}], got {ShapeMath.Format(s)}.");
        _c = s[0];
        _h = SpatialRank == 2 ? s[1] : 1;
        _w = s[^1];
        if (_h % PoolH != 0 || _w % 2 != 0)
            throw new ArgumentException($"{this} needs even sizes, got {ShapeMath.Format(s)}; make the input size divisible by 2 per pooling level (2^levels).");
        return SpatialRank == 2 ? [_c, _h / 2, _w / 2] : [_c, _w / 2];
    }

    internal override void Forward(ref LayerIO io)
    {
        int oh = _h / PoolH, ow = _w / 2;
        ReadOnlySpan<float> x = io.X0;
        Span<float> y = io.Y;
        for (int c = 0; c < _c; c++)
            for (int i = 0; i < oh; i++)
            {
                ReadOnlySpan<float> r0 = x.Slice((c * _h + i * PoolH) * _w, _w);
                ReadOnlySpan<float> r1 = PoolH == 2 ? x.Slice((c * _h + i * 2 + 1) * _w, _w) : r0;
                Span<float> dst = y.Slice((c * oh + i) * ow, ow);
                for (int j = 0; j < ow; j++)
                    dst[j] = MathF.Max(MathF.Max(r0[2 * j], r0[2 * j + 1]), MathF.Max(r1[2 * j], r1[2 * j + 1]));
            }
    }

    internal override void Backward(ref LayerIO io)
    {
        if (io.DX0.IsEmpty) return;
        int oh = _h / PoolH, ow = _w / 2;
        ReadOnlySpan<float> x = io.X0, y = io.Y, dy = io.DY;
        Span<float> dx = io.DX0;
        for (int c = 0; c < _c; c++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    int o = (c * oh + i) * ow + j;
                    float m = y[o];
                    // The gradient goes to the first input equal to the maximum, in the order the forward scanned.
                    int b0 = (c * _h + i * PoolH) * _w + 2 * j;
                    int b1 = PoolH == 2 ? b0 + _w : b0;
                    int at = x[b0] == m ? b0 : x[b0 + 1] == m ? b0 + 1 : x[b1] == m ? b1 : b1 + 1;
                    dx[at] += dy[o];
                }
    }
}

/// <summary>Nearest-neighbour upsampling by 2 (each pixel becomes a 2×2 block; each trace sample two samples) — ONNX Resize, mode nearest.</summary>
public sealed class Upsample : Layer
{
    private int _c, _h, _w;

    private Upsample(int rank) => SpatialRank = rank;

    /// <summary>2× upsampling of images [C, H, W].</summary>
    public static Upsample TwoD() => new(2);

    /// <summary>2× upsampling of traces [C, L].</summary>
    public static Upsample OneD() => new(1);

    /// <summary>1 for traces, 2 for images.</summary>
    public int SpatialRank { get; }

    private int ScaleH => SpatialRank == 2 ? 2 : 1;

    /// <inheritdoc />
    public override string ToString() => SpatialRank == 2 ? "Upsample(2×2, nearest)" : "Upsample(2, nearest)";

    private protected override int[] Infer(int[][] inputShapes)
    {
        int[] s = inputShapes[0];
        if (s.Length != SpatialRank + 1)
            throw new ArgumentException($"{this} needs an input of shape [C, {(SpatialRank == 1 ? "L" : "H, W")}], got {ShapeMath.Format(s)}.");
        _c = s[0];
        _h = SpatialRank == 2 ? s[1] : 1;
        _w = s[^1];
        return SpatialRank == 2 ? [_c, _h * 2, _w * 2] : [_c, _w * 2];
    }

    internal override void Forward(ref LayerIO io)
    {
        int oh = _h * ScaleH, ow = _w * 2;
        ReadOnlySpan<float> x = io.X0;
        Span<float> y = io.Y;
        for (int c = 0; c < _c; c++)
            for (int i = 0; i < _h; i++)
            {
                ReadOnlySpan<float> src = x.Slice((c * _h + i) * _w, _w);
                Span<float> dst = y.Slice((c * oh + i * ScaleH) * ow, ow);
                for (int j = 0; j < _w; j++) dst[2 * j] = dst[2 * j + 1] = src[j];
                if (ScaleH == 2) dst.CopyTo(y.Slice((c * oh + i * 2 + 1) * ow, ow));
            }
    }

    internal override void Backward(ref LayerIO io)
    {
        if (io.DX0.IsEmpty) return;
        int oh = _h * ScaleH, ow = _w * 2;
        ReadOnlySpan<float> dy = io.DY;
        Span<float> dx = io.DX0;
        for (int c = 0; c < _c; c++)
            for (int i = 0; i < _h; i++)
            {
                Span<float> dst = dx.Slice((c * _h + i) * _w, _w);
                for (int r = 0; r < ScaleH; r++)
                {
                    ReadOnlySpan<float> src = dy.Slice((c * oh + i * ScaleH + r) * ow, ow);
                    for (int j = 0; j < _w; j++) dst[j] += src[2 * j] + src[2 * j + 1];
                }
            }
    }
}
