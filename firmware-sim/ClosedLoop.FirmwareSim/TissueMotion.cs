using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ClosedLoop.Hardware;

namespace ClosedLoop.FirmwareSim;

/// <summary>
/// Brain motion of the virtual tissue and the warp that applies it to the expected image. Convention: a shift
/// (dx, dy) moves the content by +dx columns and +dy rows relative to the reference (the footprints' own
/// coordinates), i.e. frame(x, y) = reference(x − dx, y − dy), sampled bilinearly; positions outside the field take
/// the nearest edge pixel. Non-rigid motion gives each node of a coarse grid its own shift (the rigid shift plus a
/// local one) and interpolates the node shifts bilinearly to every pixel; the same backward rule then holds per
/// pixel with that pixel's (dx, dy). Allocation-free after construction.
/// </summary>
internal sealed class TissueMotion
{
    private readonly int _width, _height;
    private readonly double _a, _innovation, _unitScale;
    private readonly double _rmsPx, _nonrigidRmsPx, _jumpChance, _jumpPx, _jumpDecay, _maxShiftPx;
    private readonly double[] _state;      // pairs of cascaded AR(1) states: rigid x, rigid y, then x and y of every node
    private readonly float[] _nodeDx, _nodeDy;
    private readonly float[] _rowDx, _rowDy;
    private readonly float[] _pixelDx, _pixelDy;
    private double _jumpX, _jumpY;
    private SimRandom _rng;

    public TissueMotion(MotionProfile profile, int widthPx, int heightPx, double dtS, SimRandom rng)
    {
        Mode = profile.Mode;
        _width = widthPx;
        _height = heightPx;
        _rng = rng;
        _a = Math.Exp(-dtS / profile.TimeConstantS);
        _innovation = Math.Sqrt(1 - _a * _a);
        _unitScale = Math.Sqrt((1 - _a * _a) / (1 + _a * _a));
        _rmsPx = profile.RmsPx;
        _nonrigidRmsPx = profile.NonrigidRmsPx;
        _jumpChance = profile.JumpRateHz * dtS;
        _jumpPx = profile.JumpPx;
        _jumpDecay = Math.Exp(-dtS / (10 * profile.TimeConstantS));
        _maxShiftPx = Math.Min(widthPx, heightPx) / 4.0;
        GridX = Mode == MotionMode.Nonrigid ? profile.GridX : 0;
        GridY = Mode == MotionMode.Nonrigid ? profile.GridY : 0;
        int components = 2 + 2 * GridX * GridY;
        _state = new double[2 * components];
        _nodeDx = new float[GridX * GridY];
        _nodeDy = new float[GridX * GridY];
        _rowDx = new float[GridX];
        _rowDy = new float[GridX];
        _pixelDx = new float[GridX > 0 ? widthPx : 0];
        _pixelDy = new float[GridX > 0 ? widthPx : 0];
        // Start every component in its stationary state (exact joint law of the two cascaded AR(1) states).
        double c = 1 / _innovation, rest = _a / _innovation;
        for (int k = 0; k < components; k++)
        {
            double z1 = _rng.NextGaussian(), z2 = _rng.NextGaussian();
            _state[2 * k] = z1;
            _state[2 * k + 1] = c * z1 + rest * z2;
        }
        Publish();
    }

    public MotionMode Mode { get; }

    /// <summary>Rigid shift of the current frame along x (columns), in px.</summary>
    public double DxPx { get; private set; }

    /// <summary>Rigid shift of the current frame along y (rows), in px.</summary>
    public double DyPx { get; private set; }

    /// <summary>Grid nodes along x (0 unless non-rigid).</summary>
    public int GridX { get; }

    /// <summary>Grid nodes along y (0 unless non-rigid).</summary>
    public int GridY { get; }

    /// <summary>Total x shift of each grid node (row-major, GridY rows of GridX), in px.</summary>
    public ReadOnlySpan<float> NodeDxPx => _nodeDx;

    /// <summary>Total y shift of each grid node, in px.</summary>
    public ReadOnlySpan<float> NodeDyPx => _nodeDy;

    /// <summary>Column of grid node <paramref name="ix"/> (nodes span the field from column 0 to width − 1).</summary>
    public double NodeXPx(int ix) => ix * (_width - 1.0) / (GridX - 1);

    /// <summary>Row of grid node <paramref name="iy"/>.</summary>
    public double NodeYPx(int iy) => iy * (_height - 1.0) / (GridY - 1);

    /// <summary>Advances the motion by one frame.</summary>
    public void Step()
    {
        for (int k = 0; k < _state.Length; k += 2)
        {
            _state[k] = _a * _state[k] + _innovation * _rng.NextGaussian();
            _state[k + 1] = _a * _state[k + 1] + _innovation * _state[k];
        }
        _jumpX *= _jumpDecay;
        _jumpY *= _jumpDecay;
        if (_jumpChance > 0 && _rng.Chance(_jumpChance))
        {
            _jumpX += _jumpPx * _rng.NextGaussian();
            _jumpY += _jumpPx * _rng.NextGaussian();
        }
        Publish();
    }

    private void Publish()
    {
        DxPx = Math.Clamp(_rmsPx * _unitScale * _state[1] + _jumpX, -_maxShiftPx, _maxShiftPx);
        DyPx = Math.Clamp(_rmsPx * _unitScale * _state[3] + _jumpY, -_maxShiftPx, _maxShiftPx);
        for (int node = 0; node < _nodeDx.Length; node++)
        {
            _nodeDx[node] = (float)Math.Clamp(DxPx + _nonrigidRmsPx * _unitScale * _state[4 + 4 * node + 1], -_maxShiftPx, _maxShiftPx);
            _nodeDy[node] = (float)Math.Clamp(DyPx + _nonrigidRmsPx * _unitScale * _state[4 + 4 * node + 3], -_maxShiftPx, _maxShiftPx);
        }
    }

    /// <summary>Writes <paramref name="src"/> moved by the current motion into <paramref name="dst"/> (both width × height).</summary>
    public void Warp(ReadOnlySpan<float> src, Span<float> dst)
    {
        if (Mode == MotionMode.Nonrigid) WarpNonrigid(src, dst);
        else WarpRigid(src, dst, DxPx, DyPx, _width, _height);
    }

    /// <summary>dst(x, y) = src(x − dx, y − dy), bilinear, edge pixels repeated outside the field.</summary>
    public static void WarpRigid(ReadOnlySpan<float> src, Span<float> dst, double dx, double dy, int width, int height)
    {
        int ix = (int)Math.Floor(-dx), iy = (int)Math.Floor(-dy);
        float fx = (float)(-dx - ix), fy = (float)(-dy - iy);
        float w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
        // Columns whose two source columns x + ix and x + ix + 1 are both inside the field.
        int xLo = Math.Max(0, -ix), xHi = Math.Min(width - 1, width - 2 - ix);
        for (int y = 0; y < height; y++)
        {
            var row0 = src.Slice(Math.Clamp(y + iy, 0, height - 1) * width, width);
            var row1 = src.Slice(Math.Clamp(y + iy + 1, 0, height - 1) * width, width);
            var output = dst.Slice(y * width, width);
            int x = 0;
            for (; x < width && x < xLo; x++) output[x] = EdgeSample(row0, row1, x + ix, width, w00, w01, w10, w11);
            if (Vector256.IsHardwareAccelerated)
            {
                var v00 = Vector256.Create(w00);
                var v01 = Vector256.Create(w01);
                var v10 = Vector256.Create(w10);
                var v11 = Vector256.Create(w11);
                for (; x + 7 <= xHi; x += 8)
                {
                    int s = x + ix;
                    var r = v00 * Vector256.Create(row0.Slice(s, 8)) + v01 * Vector256.Create(row0.Slice(s + 1, 8))
                          + v10 * Vector256.Create(row1.Slice(s, 8)) + v11 * Vector256.Create(row1.Slice(s + 1, 8));
                    r.CopyTo(output.Slice(x, 8));
                }
            }
            for (; x <= xHi; x++)
            {
                int s = x + ix;
                output[x] = w00 * row0[s] + w01 * row0[s + 1] + w10 * row1[s] + w11 * row1[s + 1];
            }
            for (; x < width; x++) output[x] = EdgeSample(row0, row1, x + ix, width, w00, w01, w10, w11);
        }
    }

    private static float EdgeSample(ReadOnlySpan<float> row0, ReadOnlySpan<float> row1, int s, int width,
        float w00, float w01, float w10, float w11)
    {
        int a = Math.Clamp(s, 0, width - 1), b = Math.Clamp(s + 1, 0, width - 1);
        return w00 * row0[a] + w01 * row0[b] + w10 * row1[a] + w11 * row1[b];
    }

    private unsafe void WarpNonrigid(ReadOnlySpan<float> src, Span<float> dst)
    {
        int w = _width, h = _height, gx = GridX, gy = GridY;
        float maxX = w - 1, maxY = h - 1;
        float cellX = (w - 1f) / (gx - 1), cellY = (h - 1f) / (gy - 1);
        var pixelDx = _pixelDx.AsSpan();
        var pixelDy = _pixelDy.AsSpan();
        for (int y = 0; y < h; y++)
        {
            // Node shifts interpolated to this row, then to every column of it.
            float gyF = y / cellY;
            int i0 = Math.Min((int)gyF, gy - 2);
            float ty = gyF - i0;
            for (int j = 0; j < gx; j++)
            {
                _rowDx[j] = _nodeDx[i0 * gx + j] + ty * (_nodeDx[(i0 + 1) * gx + j] - _nodeDx[i0 * gx + j]);
                _rowDy[j] = _nodeDy[i0 * gx + j] + ty * (_nodeDy[(i0 + 1) * gx + j] - _nodeDy[i0 * gx + j]);
            }
            for (int x = 0; x < w; x++)
            {
                float gxF = x / cellX;
                int j0 = Math.Min((int)gxF, gx - 2);
                float tx = gxF - j0;
                pixelDx[x] = _rowDx[j0] + tx * (_rowDx[j0 + 1] - _rowDx[j0]);
                pixelDy[x] = _rowDy[j0] + tx * (_rowDy[j0 + 1] - _rowDy[j0]);
            }
            var output = dst.Slice(y * w, w);
            int x8 = 0;
            if (Avx2.IsSupported)
            {
                fixed (float* source = src)
                {
                    var iota = Vector256.Create(0f, 1, 2, 3, 4, 5, 6, 7);
                    var maxXv = Vector256.Create(maxX);
                    var maxYv = Vector256.Create(maxY);
                    var rowV = Vector256.Create((float)y);
                    var lastColumn = Vector256.Create(w - 1);
                    var lastRowStart = Vector256.Create((h - 1) * w);
                    var widthV = Vector256.Create(w);
                    for (; x8 + 8 <= w; x8 += 8)
                    {
                        var sx = Vector256.Min(Vector256.Max(Vector256.Create((float)x8) + iota - Vector256.Create(pixelDx.Slice(x8, 8)), Vector256<float>.Zero), maxXv);
                        var sy = Vector256.Min(Vector256.Max(rowV - Vector256.Create(pixelDy.Slice(x8, 8)), Vector256<float>.Zero), maxYv);
                        var x0 = Vector256.ConvertToInt32(Vector256.Floor(sx));
                        var y0 = Vector256.ConvertToInt32(Vector256.Floor(sy));
                        var fx = sx - Vector256.ConvertToSingle(x0);
                        var fy = sy - Vector256.ConvertToSingle(y0);
                        var x1 = Vector256.Min(x0 + Vector256<int>.One, lastColumn);
                        var r0 = y0 * widthV;
                        var r1 = Vector256.Min(r0 + widthV, lastRowStart);
                        var v00 = Avx2.GatherVector256(source, r0 + x0, 4);
                        var v01 = Avx2.GatherVector256(source, r0 + x1, 4);
                        var v10 = Avx2.GatherVector256(source, r1 + x0, 4);
                        var v11 = Avx2.GatherVector256(source, r1 + x1, 4);
                        var top = v00 + fx * (v01 - v00);
                        var bottom = v10 + fx * (v11 - v10);
                        (top + fy * (bottom - top)).CopyTo(output.Slice(x8, 8));
                    }
                }
            }
            for (int x = x8; x < w; x++)
            {
                float sx = Math.Clamp(x - pixelDx[x], 0f, maxX), sy = Math.Clamp(y - pixelDy[x], 0f, maxY);
                int x0 = (int)sx, y0 = (int)sy;
                int x1 = Math.Min(x0 + 1, w - 1), y1 = Math.Min(y0 + 1, h - 1);
                float fx = sx - x0, fy = sy - y0;
                float top = src[y0 * w + x0] + fx * (src[y0 * w + x1] - src[y0 * w + x0]);
                float bottom = src[y1 * w + x0] + fx * (src[y1 * w + x1] - src[y1 * w + x0]);
                output[x] = top + fy * (bottom - top);
            }
        }
    }
}
