using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ClosedLoop.Imaging.Registration;

/// <summary>One registration result.</summary>
/// <param name="DxPx">Displacement of the patch's content relative to the reference along x (columns), in the image's
/// pixels: patch(x, y) ≈ reference(x − dx, y − dy); content moved right for dx &gt; 0. To correct, shift by −dx.</param>
/// <param name="DyPx">Displacement along y (rows), in pixels; content moved down for dy &gt; 0.</param>
/// <param name="Confidence">Peak-to-sidelobe ratio of the phase correlation: (peak − mean) / s.d. of the correlation
/// surface outside a 9 × 9 window around the peak. About 4–6 for noise alone, tens to hundreds for a good match; 0 for a
/// blank patch.</param>
/// <param name="Clipped">True when the best match lay beyond the maximum shift (the shift was clipped to it) or outside the search box.</param>
public readonly record struct ShiftEstimate(double DxPx, double DyPx, double Confidence, bool Clipped);

/// <summary>
/// Phase correlation of an N × N patch against a reference patch of the same size. The patch is mean-subtracted and
/// tapered by a Tukey window (flat centre, raised-cosine edges over a quarter of the side each), so its edges do not
/// correlate; the cross-power spectrum F·R* is normalised to unit magnitude (whitened) and multiplied by a Gaussian
/// low-pass (spatial σ = <see cref="SmoothingPx"/>) with the DC term removed. The integer peak of its inverse transform is
/// searched inside a box, then refined to sub-pixel by Newton steps on the exact band-limited correlation surface (the
/// Fourier series of the cross-power spectrum evaluated at any (x, y) with its first and second derivatives, which is
/// what an infinitely upsampled DFT would give). Because a window that stays put while the content moves pulls the peak
/// towards zero shift, the patch is then cut again where the content went, with its window moved by the sub-pixel
/// remainder, and the remainder re-measured (once, or twice when the first pass moved the estimate by over 0.05 px);
/// this needs the image to extend beyond the patch by the shift, and is skipped where it does not.
/// The confidence is the peak-to-sidelobe ratio. The reference is kept as its spectrum. Nothing is allocated after the
/// constructor.
/// </summary>
public sealed class PhaseCorrelation
{
    private const int SidelobeHalfWidth = 4;
    private readonly int _n;
    private readonly Fft2D _fft;
    private readonly float[] _window;
    private readonly float[] _lowPass;
    private readonly float[] _re, _im, _qre, _qim, _refRe, _refIm;
    private readonly float[] _signedK;
    private readonly float[] _tx, _ty;
    private readonly float[] _er, _ei, _er1, _ei1, _er2, _ei2;

    /// <summary>Creates the correlator for <paramref name="sizePx"/> × <paramref name="sizePx"/> patches (a power of two,
    /// 16..1024) with a low-pass of spatial σ <paramref name="smoothingPx"/> (0..4 px).</summary>
    public PhaseCorrelation(int sizePx, double smoothingPx = 1.0)
    {
        if (!(smoothingPx >= 0 && smoothingPx <= 4)) throw new ArgumentOutOfRangeException(nameof(smoothingPx), smoothingPx, "between 0 and 4 px");
        _fft = new Fft2D(sizePx);
        _n = sizePx;
        SmoothingPx = smoothingPx;
        int n = sizePx, nn = n * n;
        _re = new float[nn]; _im = new float[nn];
        _qre = new float[nn]; _qim = new float[nn];
        _refRe = new float[nn]; _refIm = new float[nn];
        _er = new float[n]; _ei = new float[n]; _er1 = new float[n]; _ei1 = new float[n]; _er2 = new float[n]; _ei2 = new float[n];

        _tx = new float[n];
        _ty = new float[n];
        var taper = new float[n];
        Taper(taper, 0);
        _window = new float[nn];
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++) _window[y * n + x] = taper[y] * taper[x];

        _signedK = new float[n];
        for (int k = 0; k < n; k++) _signedK[k] = k < n / 2 ? k : k - n;
        _lowPass = new float[nn];
        double c = 2 * Math.PI * Math.PI * smoothingPx * smoothingPx / ((double)n * n);
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++)
                _lowPass[a * n + b] = (float)Math.Exp(-c * (_signedK[a] * _signedK[a] + _signedK[b] * _signedK[b]));
        _lowPass[0] = 0; // DC: the mean carries no position
    }

    /// <summary>Side of the patch, px.</summary>
    public int Size => _n;

    /// <summary>Spatial σ of the low-pass applied to the correlation, px.</summary>
    public double SmoothingPx { get; }

    /// <summary>True once a reference has been set.</summary>
    public bool HasReference { get; private set; }

    /// <summary>Sets the reference to the N × N patch of <paramref name="image"/> (row-major, <paramref name="stride"/>
    /// values per row) whose top-left corner is (<paramref name="x0"/>, <paramref name="y0"/>).</summary>
    public void SetReference(ReadOnlySpan<float> image, int stride, int x0, int y0)
    {
        LoadSpectrum(image, stride, x0, y0, 0, 0);
        _re.CopyTo(_refRe, 0);
        _im.CopyTo(_refIm, 0);
        HasReference = true;
    }

    /// <summary>
    /// Registers the N × N patch of <paramref name="image"/> at (<paramref name="x0"/>, <paramref name="y0"/>) against the
    /// reference. The shift must lie within ±<paramref name="maxShiftPx"/> (below N/2 − 1): when the correlation's best
    /// peak lies beyond, the result is that peak clipped to the limit, flagged <see cref="ShiftEstimate.Clipped"/>. The
    /// peak is also searched within <paramref name="searchRadiusPx"/> of (<paramref name="centreXPx"/>,
    /// <paramref name="centreYPx"/>) (e.g. a patch near a frame's rigid shift); when the best peak lies outside that box the
    /// best one inside is taken and flagged as clipped too.
    /// </summary>
    public ShiftEstimate Estimate(ReadOnlySpan<float> image, int stride, int x0, int y0, double maxShiftPx,
        double centreXPx = 0, double centreYPx = 0, double searchRadiusPx = double.PositiveInfinity)
    {
        if (!HasReference) throw new InvalidOperationException("Set a reference before estimating shifts.");
        if (!(maxShiftPx >= 0 && maxShiftPx < _n / 2 - 1))
            throw new ArgumentOutOfRangeException(nameof(maxShiftPx), maxShiftPx, $"between 0 and {_n / 2 - 1} px for a {_n} px patch");
        LoadSpectrum(image, stride, x0, y0, 0, 0);
        CrossPower();
        _qre.AsSpan().CopyTo(_re);
        _qim.AsSpan().CopyTo(_im);
        _fft.InverseFromTransposed(_re, _im);

        int n = _n, mask = n - 1;
        int limit = (int)Math.Floor(maxShiftPx);
        int top = TensorPrimitives.IndexOfMax<float>(_re);
        int gx = Signed(top % n), gy = Signed(top / n);
        if (Math.Abs(gx) > limit || Math.Abs(gy) > limit)
        {
            // The best match lies beyond the limit: report the limit, flagged.
            return new ShiftEstimate(Math.Clamp(gx, -maxShiftPx, maxShiftPx), Math.Clamp(gy, -maxShiftPx, maxShiftPx),
                SidelobeRatio(gx, gy, _re[top]), Clipped: true);
        }

        double radius = Math.Min(searchRadiusPx, 2.0 * n);
        int xLo = Math.Max(-limit, (int)Math.Ceiling(centreXPx - radius)), xHi = Math.Min(limit, (int)Math.Floor(centreXPx + radius));
        int yLo = Math.Max(-limit, (int)Math.Ceiling(centreYPx - radius)), yHi = Math.Min(limit, (int)Math.Floor(centreYPx + radius));
        if (xLo > xHi) { xLo = xHi = Math.Clamp((int)Math.Round(centreXPx), -limit, limit); }
        if (yLo > yHi) { yLo = yHi = Math.Clamp((int)Math.Round(centreYPx), -limit, limit); }
        int px = gx, py = gy;
        float best = _re[top];
        bool clipped = false;
        if (gx < xLo || gx > xHi || gy < yLo || gy > yHi)
        {
            // The best match lies outside the search box: take the best inside it, flagged.
            clipped = true;
            best = float.NegativeInfinity;
            for (int y = yLo; y <= yHi; y++)
            {
                int row = (y & mask) * n;
                for (int x = xLo; x <= xHi; x++)
                {
                    float v = _re[row + (x & mask)];
                    if (v > best) { best = v; px = x; py = y; }
                }
            }
        }

        double confidence = SidelobeRatio(px, py, best);
        double dx = px, dy = py;
        if (confidence > 0)
        {
            Refine(ref dx, ref dy, 3, 1e-2);
            // The window does not move with the content, which pulls the peak towards zero shift (a few hundredths to
            // a tenth of a pixel). Place the patch and its window where the content went and measure the remainder
            // there; the pull left is a fraction (~¼) of the placement error, so a second pass follows only when the
            // first moved the estimate by more than 0.05 px.
            for (int pass = 0; pass < 2; pass++)
            {
                int ox = (int)Math.Round(dx), oy = (int)Math.Round(dy);
                if (x0 + ox < 0 || y0 + oy < 0 || x0 + ox + n > stride || (long)(y0 + oy + n) * stride > image.Length) break;
                double rx = dx - ox, ry = dy - oy;
                LoadSpectrum(image, stride, x0 + ox, y0 + oy, rx, ry);
                CrossPower();
                Refine(ref rx, ref ry, 3, 1e-3);
                double change = Math.Max(Math.Abs(ox + rx - dx), Math.Abs(oy + ry - dy));
                dx = ox + rx;
                dy = oy + ry;
                if (change < 0.05) break;
            }
        }
        if (Math.Abs(dx) > maxShiftPx) { dx = Math.CopySign(maxShiftPx, dx); clipped = true; }
        if (Math.Abs(dy) > maxShiftPx) { dy = Math.CopySign(maxShiftPx, dy); clipped = true; }
        return new ShiftEstimate(dx, dy, confidence, clipped);
    }

    private int Signed(int k) => k < _n / 2 ? k : k - _n;

    /// <summary>Copies the patch into the work arrays, subtracts its mean, applies the window (moved by
    /// (<paramref name="windowDxPx"/>, <paramref name="windowDyPx"/>), less than a pixel) and transforms it.</summary>
    private void LoadSpectrum(ReadOnlySpan<float> image, int stride, int x0, int y0, double windowDxPx, double windowDyPx)
    {
        int n = _n;
        if (x0 < 0 || y0 < 0 || x0 + n > stride || (long)(y0 + n - 1) * stride + x0 + n > image.Length)
            throw new ArgumentOutOfRangeException(nameof(image), $"the {n}×{n} patch at ({x0}, {y0}) lies outside the image");
        for (int y = 0; y < n; y++) image.Slice((y0 + y) * stride + x0, n).CopyTo(_re.AsSpan(y * n, n));
        float mean = TensorPrimitives.Sum<float>(_re) / (n * n);
        TensorPrimitives.Subtract(_re, mean, _re);
        if (windowDxPx == 0 && windowDyPx == 0)
        {
            TensorPrimitives.Multiply(_re, _window, _re);
        }
        else
        {
            Taper(_tx, windowDxPx);
            Taper(_ty, windowDyPx);
            for (int y = 0; y < n; y++)
            {
                var row = _re.AsSpan(y * n, n);
                TensorPrimitives.Multiply(row, _tx, row);
                TensorPrimitives.Multiply(row, _ty[y], row);
            }
        }
        Array.Clear(_im);
        _fft.ForwardTransposed(_re, _im);
    }

    /// <summary>The 1-D Tukey taper (flat centre, raised-cosine edges over a quarter of the side) moved by
    /// <paramref name="shiftPx"/>: t[i] = taper(i − shift).</summary>
    private void Taper(Span<float> t, double shiftPx)
    {
        int n = _n;
        double edge = n / 4;
        for (int i = 0; i < n; i++)
        {
            double u = i - shiftPx;
            double d = Math.Min(u, n - 1 - u);
            t[i] = d >= edge ? 1f : d <= -0.5 ? 0f : (float)(0.5 - 0.5 * Math.Cos(Math.PI * (d + 0.5) / edge));
        }
    }

    /// <summary>Q = low-pass · (F·R*) / |F·R*| into _qre/_qim (zero where the cross power vanishes).</summary>
    private void CrossPower()
    {
        int nn = _n * _n, i = 0;
        ref float fr = ref MemoryMarshal.GetArrayDataReference(_re);
        ref float fi = ref MemoryMarshal.GetArrayDataReference(_im);
        ref float rr = ref MemoryMarshal.GetArrayDataReference(_refRe);
        ref float ri = ref MemoryMarshal.GetArrayDataReference(_refIm);
        ref float lp = ref MemoryMarshal.GetArrayDataReference(_lowPass);
        ref float qr = ref MemoryMarshal.GetArrayDataReference(_qre);
        ref float qi = ref MemoryMarshal.GetArrayDataReference(_qim);
        const float tiny = 1e-30f;
        if (Vector.IsHardwareAccelerated)
        {
            var vTiny = new Vector<float>(tiny);
            for (; i + Vector<float>.Count <= nn; i += Vector<float>.Count)
            {
                var a = Vector.LoadUnsafe(ref fr, (nuint)i);
                var b = Vector.LoadUnsafe(ref fi, (nuint)i);
                var c = Vector.LoadUnsafe(ref rr, (nuint)i);
                var d = Vector.LoadUnsafe(ref ri, (nuint)i);
                var xr = a * c + b * d;
                var xi = b * c - a * d;
                var mag = Vector.SquareRoot(xr * xr + xi * xi);
                var scale = Vector.LoadUnsafe(ref lp, (nuint)i) / Vector.Max(mag, vTiny);
                (xr * scale).StoreUnsafe(ref qr, (nuint)i);
                (xi * scale).StoreUnsafe(ref qi, (nuint)i);
            }
        }
        for (; i < nn; i++)
        {
            float a = Unsafe.Add(ref fr, i), b = Unsafe.Add(ref fi, i), c = Unsafe.Add(ref rr, i), d = Unsafe.Add(ref ri, i);
            float xr = a * c + b * d, xi = b * c - a * d;
            float scale = Unsafe.Add(ref lp, i) / MathF.Max(MathF.Sqrt(xr * xr + xi * xi), tiny);
            Unsafe.Add(ref qr, i) = xr * scale;
            Unsafe.Add(ref qi, i) = xi * scale;
        }
    }

    /// <summary>(peak − mean) / s.d. of the correlation surface outside a window around the peak; 0 when flat.</summary>
    private double SidelobeRatio(int px, int py, float peak)
    {
        int n = _n, mask = n - 1;
        double sum = TensorPrimitives.Sum<float>(_re);
        double sumSq = TensorPrimitives.SumOfSquares<float>(_re);
        int h = Math.Min(SidelobeHalfWidth, n / 4), count = n * n;
        for (int dy = -h; dy <= h; dy++)
        {
            int row = ((py + dy) & mask) * n;
            for (int dx = -h; dx <= h; dx++)
            {
                double v = _re[row + ((px + dx) & mask)];
                sum -= v;
                sumSq -= v * v;
                count--;
            }
        }
        double mean = sum / count;
        double variance = sumSq / count - mean * mean;
        if (!(variance > 1e-30) || !float.IsFinite(peak)) return 0;
        return Math.Max(0, (peak - mean) / Math.Sqrt(variance));
    }

    /// <summary>Newton steps to the maximum of the band-limited correlation surface, starting at the integer peak and
    /// staying within 0.75 px of it.</summary>
    private void Refine(ref double dx, ref double dy, int iterations, double tolerancePx)
    {
        double x0 = dx, y0 = dy;
        for (int iter = 0; iter < iterations; iter++)
        {
            Derivatives(dx, dy, out double fx, out double fy, out double fxx, out double fyy, out double fxy);
            double det = fxx * fyy - fxy * fxy;
            if (!(fxx < 0 && det > 0)) break;
            double sx = -(fyy * fx - fxy * fy) / det;
            double sy = -(fxx * fy - fxy * fx) / det;
            sx = Math.Clamp(sx, -0.5, 0.5);
            sy = Math.Clamp(sy, -0.5, 0.5);
            dx = Math.Clamp(dx + sx, x0 - 0.75, x0 + 0.75);
            dy = Math.Clamp(dy + sy, y0 - 0.75, y0 + 0.75);
            if (Math.Abs(sx) < tolerancePx && Math.Abs(sy) < tolerancePx) break;
        }
    }

    /// <summary>Gradient and Hessian of r(x, y) = Re Σ Q[kx, ky]·e^(iω(kx·x + ky·y)), ω = 2π/N, with Q in the transposed
    /// layout (row kx, column ky).</summary>
    private void Derivatives(double x, double y, out double fx, out double fy, out double fxx, out double fyy, out double fxy)
    {
        int n = _n;
        double w = 2 * Math.PI / n;
        for (int k = 0; k < n; k++)
        {
            double a = w * _signedK[k] * y;
            float c = (float)Math.Cos(a), s = (float)Math.Sin(a), kk = _signedK[k];
            _er[k] = c; _ei[k] = s;
            _er1[k] = kk * c; _ei1[k] = kk * s;
            _er2[k] = kk * kk * c; _ei2[k] = kk * kk * s;
        }
        double gx = 0, gy = 0, hxx = 0, hyy = 0, hxy = 0;
        for (int kxi = 0; kxi < n; kxi++)
        {
            var qr = _qre.AsSpan(kxi * n, n);
            var qi = _qim.AsSpan(kxi * n, n);
            RowSums(qr, qi, out float a0r, out float a0i, out float a1r, out float a1i, out float a2r, out float a2i);
            double kx = _signedK[kxi];
            double ang = w * kx * x, cr = Math.Cos(ang), ci = Math.Sin(ang);
            // ex·A for A0, A1, A2
            double b0r = cr * a0r - ci * a0i, b0i = cr * a0i + ci * a0r;
            double b1r = cr * a1r - ci * a1i, b1i = cr * a1i + ci * a1r;
            double b2r = cr * a2r - ci * a2i;
            gx += -kx * b0i;
            gy += -b1i;
            hxx += -kx * kx * b0r;
            hyy += -b2r;
            hxy += -kx * b1r;
        }
        fx = w * gx; fy = w * gy;
        fxx = w * w * hxx; fyy = w * w * hyy; fxy = w * w * hxy;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void RowSums(ReadOnlySpan<float> qr, ReadOnlySpan<float> qi,
        out float a0r, out float a0i, out float a1r, out float a1i, out float a2r, out float a2i)
    {
        int n = qr.Length, i = 0;
        float s0r = 0, s0i = 0, s1r = 0, s1i = 0, s2r = 0, s2i = 0;
        ref float pr = ref MemoryMarshal.GetReference(qr);
        ref float pi = ref MemoryMarshal.GetReference(qi);
        ref float er = ref MemoryMarshal.GetArrayDataReference(_er);
        ref float ei = ref MemoryMarshal.GetArrayDataReference(_ei);
        ref float er1 = ref MemoryMarshal.GetArrayDataReference(_er1);
        ref float ei1 = ref MemoryMarshal.GetArrayDataReference(_ei1);
        ref float er2 = ref MemoryMarshal.GetArrayDataReference(_er2);
        ref float ei2 = ref MemoryMarshal.GetArrayDataReference(_ei2);
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            Vector<float> v0r = default, v0i = default, v1r = default, v1i = default, v2r = default, v2i = default;
            for (; i + Vector<float>.Count <= n; i += Vector<float>.Count)
            {
                var a = Vector.LoadUnsafe(ref pr, (nuint)i);
                var b = Vector.LoadUnsafe(ref pi, (nuint)i);
                var c0 = Vector.LoadUnsafe(ref er, (nuint)i); var d0 = Vector.LoadUnsafe(ref ei, (nuint)i);
                var c1 = Vector.LoadUnsafe(ref er1, (nuint)i); var d1 = Vector.LoadUnsafe(ref ei1, (nuint)i);
                var c2 = Vector.LoadUnsafe(ref er2, (nuint)i); var d2 = Vector.LoadUnsafe(ref ei2, (nuint)i);
                v0r += a * c0 - b * d0; v0i += a * d0 + b * c0;
                v1r += a * c1 - b * d1; v1i += a * d1 + b * c1;
                v2r += a * c2 - b * d2; v2i += a * d2 + b * c2;
            }
            s0r = Vector.Sum(v0r); s0i = Vector.Sum(v0i); s1r = Vector.Sum(v1r); s1i = Vector.Sum(v1i); s2r = Vector.Sum(v2r); s2i = Vector.Sum(v2i);
        }
        for (; i < n; i++)
        {
            float a = Unsafe.Add(ref pr, i), b = Unsafe.Add(ref pi, i);
            float c0 = Unsafe.Add(ref er, i), d0 = Unsafe.Add(ref ei, i);
            float c1 = Unsafe.Add(ref er1, i), d1 = Unsafe.Add(ref ei1, i);
            float c2 = Unsafe.Add(ref er2, i), d2 = Unsafe.Add(ref ei2, i);
            s0r += a * c0 - b * d0; s0i += a * d0 + b * c0;
            s1r += a * c1 - b * d1; s1i += a * d1 + b * c1;
            s2r += a * c2 - b * d2; s2i += a * d2 + b * c2;
        }
        a0r = s0r; a0i = s0i; a1r = s1r; a1i = s1i; a2r = s2r; a2i = s2i;
    }
}
