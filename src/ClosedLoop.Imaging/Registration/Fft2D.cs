using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ClosedLoop.Imaging.Registration;

/// <summary>
/// In-place 2-D complex FFT of an N × N image (N a power of two, 16..1024) on split real and imaginary arrays, row-major
/// (index = row·N + column). The transform along rows is done as radix-2 butterflies between whole rows, so every
/// butterfly is a SIMD operation over N columns; the other axis is reached by an in-place transpose. Nothing is
/// allocated per call.
/// <para>Forward: X[ky, kx] = Σ x[y, x]·e^(−2πi(ky·y + kx·x)/N). Inverse scales by 1/N², so Inverse(Forward(x)) = x.</para>
/// </summary>
public sealed class Fft2D
{
    private readonly ComplexFft _line;
    private readonly float[] _wr;
    private readonly float[] _wi;

    /// <summary>Creates the transform of <paramref name="sizePx"/> × <paramref name="sizePx"/> points.</summary>
    public Fft2D(int sizePx)
    {
        if (sizePx < 16 || sizePx > 1024 || !BitOperations.IsPow2(sizePx))
            throw new ArgumentOutOfRangeException(nameof(sizePx), sizePx, "a power of two between 16 and 1024");
        Size = sizePx;
        _line = new ComplexFft(sizePx);
        _wr = _line.Cos.ToArray();
        _wi = _line.Sin.ToArray();
    }

    /// <summary>Side of the square, in points.</summary>
    public int Size { get; }

    /// <summary>Forward transform in place (standard layout: row = ky, column = kx).</summary>
    public void Forward(Span<float> re, Span<float> im)
    {
        ForwardTransposed(re, im);
        Transpose(re);
        Transpose(im);
    }

    /// <summary>Inverse transform in place from the standard layout, scaled by 1/N².</summary>
    public void Inverse(Span<float> re, Span<float> im)
    {
        Transpose(re);
        Transpose(im);
        InverseFromTransposed(re, im);
    }

    /// <summary>Forward transform leaving the spectrum transposed (row = kx, column = ky): one transpose less. Element-wise
    /// products of two spectra do not care about the layout, and <see cref="InverseFromTransposed"/> undoes it.</summary>
    internal void ForwardTransposed(Span<float> re, Span<float> im)
    {
        CheckLength(re, im);
        AlongColumns(re, im, inverse: false); // along y
        Transpose(re);
        Transpose(im);
        AlongColumns(re, im, inverse: false); // along x
    }

    /// <summary>Inverse of <see cref="ForwardTransposed"/>: spectrum with row = kx in, image with row = y out, scaled by 1/N².</summary>
    internal void InverseFromTransposed(Span<float> re, Span<float> im)
    {
        CheckLength(re, im);
        AlongColumns(re, im, inverse: true); // kx → x
        Transpose(re);
        Transpose(im);
        AlongColumns(re, im, inverse: true); // ky → y
        float s = 1f / (Size * (float)Size);
        Scale(re, s);
        Scale(im, s);
    }

    private void CheckLength(Span<float> re, Span<float> im)
    {
        int n = Size * Size;
        if (re.Length != n || im.Length != n)
            throw new ArgumentException($"The transform has {Size}×{Size} = {n} points; got {re.Length} real and {im.Length} imaginary values.");
    }

    /// <summary>1-D transforms of every column at once: butterflies between rows, vectorised over the row.</summary>
    private void AlongColumns(Span<float> re, Span<float> im, bool inverse)
    {
        int n = Size;
        var swapA = _line.SwapA;
        var swapB = _line.SwapB;
        for (int i = 0; i < swapA.Length; i++)
        {
            SwapRows(re, swapA[i] * n, swapB[i] * n, n);
            SwapRows(im, swapA[i] * n, swapB[i] * n, n);
        }
        ref float r = ref MemoryMarshal.GetReference(re);
        ref float m = ref MemoryMarshal.GetReference(im);
        float sign = inverse ? -1f : 1f;
        for (int size = 2; size <= n; size <<= 1)
        {
            int half = size >> 1, step = n / size;
            for (int j = 0; j < half; j++)
            {
                float wr = _wr[j * step], wi = sign * _wi[j * step];
                for (int start = j; start < n; start += size)
                {
                    int a = start * n, b = (start + half) * n;
                    if (j == 0) Butterfly1(ref Unsafe.Add(ref r, a), ref Unsafe.Add(ref m, a), ref Unsafe.Add(ref r, b), ref Unsafe.Add(ref m, b), n);
                    else Butterfly(ref Unsafe.Add(ref r, a), ref Unsafe.Add(ref m, a), ref Unsafe.Add(ref r, b), ref Unsafe.Add(ref m, b), n, wr, wi);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Butterfly(ref float ar, ref float ai, ref float br, ref float bi, int n, float wr, float wi)
    {
        int c = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var vwr = new Vector<float>(wr);
            var vwi = new Vector<float>(wi);
            int vn = n - n % Vector<float>.Count;
            for (; c < vn; c += Vector<float>.Count)
            {
                ref float par = ref Unsafe.Add(ref ar, c);
                ref float pai = ref Unsafe.Add(ref ai, c);
                ref float pbr = ref Unsafe.Add(ref br, c);
                ref float pbi = ref Unsafe.Add(ref bi, c);
                var xr = Vector.LoadUnsafe(ref par);
                var xi = Vector.LoadUnsafe(ref pai);
                var yr = Vector.LoadUnsafe(ref pbr);
                var yi = Vector.LoadUnsafe(ref pbi);
                var tr = yr * vwr - yi * vwi;
                var ti = yr * vwi + yi * vwr;
                (xr - tr).StoreUnsafe(ref pbr);
                (xi - ti).StoreUnsafe(ref pbi);
                (xr + tr).StoreUnsafe(ref par);
                (xi + ti).StoreUnsafe(ref pai);
            }
        }
        for (; c < n; c++)
        {
            float xr = Unsafe.Add(ref ar, c), xi = Unsafe.Add(ref ai, c);
            float yr = Unsafe.Add(ref br, c), yi = Unsafe.Add(ref bi, c);
            float tr = yr * wr - yi * wi, ti = yr * wi + yi * wr;
            Unsafe.Add(ref br, c) = xr - tr;
            Unsafe.Add(ref bi, c) = xi - ti;
            Unsafe.Add(ref ar, c) = xr + tr;
            Unsafe.Add(ref ai, c) = xi + ti;
        }
    }

    /// <summary>The butterfly with twiddle 1 (first of each group): no multiplication.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Butterfly1(ref float ar, ref float ai, ref float br, ref float bi, int n)
    {
        int c = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            int vn = n - n % Vector<float>.Count;
            for (; c < vn; c += Vector<float>.Count)
            {
                ref float par = ref Unsafe.Add(ref ar, c);
                ref float pai = ref Unsafe.Add(ref ai, c);
                ref float pbr = ref Unsafe.Add(ref br, c);
                ref float pbi = ref Unsafe.Add(ref bi, c);
                var xr = Vector.LoadUnsafe(ref par);
                var xi = Vector.LoadUnsafe(ref pai);
                var yr = Vector.LoadUnsafe(ref pbr);
                var yi = Vector.LoadUnsafe(ref pbi);
                (xr - yr).StoreUnsafe(ref pbr);
                (xi - yi).StoreUnsafe(ref pbi);
                (xr + yr).StoreUnsafe(ref par);
                (xi + yi).StoreUnsafe(ref pai);
            }
        }
        for (; c < n; c++)
        {
            float xr = Unsafe.Add(ref ar, c), xi = Unsafe.Add(ref ai, c);
            float yr = Unsafe.Add(ref br, c), yi = Unsafe.Add(ref bi, c);
            Unsafe.Add(ref br, c) = xr - yr;
            Unsafe.Add(ref bi, c) = xi - yi;
            Unsafe.Add(ref ar, c) = xr + yr;
            Unsafe.Add(ref ai, c) = xi + yi;
        }
    }

    private static void SwapRows(Span<float> data, int a, int b, int n)
    {
        var ra = data.Slice(a, n);
        var rb = data.Slice(b, n);
        int c = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var va = MemoryMarshal.Cast<float, Vector<float>>(ra);
            var vb = MemoryMarshal.Cast<float, Vector<float>>(rb);
            for (int i = 0; i < va.Length; i++) (va[i], vb[i]) = (vb[i], va[i]);
            c = va.Length * Vector<float>.Count;
        }
        for (; c < n; c++) (ra[c], rb[c]) = (rb[c], ra[c]);
    }

    /// <summary>In-place transpose of the N × N square, in 8 × 8 tiles.</summary>
    private void Transpose(Span<float> data)
    {
        int n = Size;
        ref float d = ref MemoryMarshal.GetReference(data);
        const int tile = 8;
        for (int by = 0; by < n; by += tile)
        {
            for (int bx = by; bx < n; bx += tile)
            {
                for (int y = by; y < by + tile; y++)
                {
                    int x0 = bx == by ? y + 1 : bx;
                    for (int x = x0; x < bx + tile; x++)
                    {
                        ref float p = ref Unsafe.Add(ref d, y * n + x);
                        ref float q = ref Unsafe.Add(ref d, x * n + y);
                        (p, q) = (q, p);
                    }
                }
            }
        }
    }

    private static void Scale(Span<float> data, float s)
    {
        var v = MemoryMarshal.Cast<float, Vector<float>>(data);
        var vs = new Vector<float>(s);
        for (int i = 0; i < v.Length; i++) v[i] *= vs;
        for (int i = v.Length * Vector<float>.Count; i < data.Length; i++) data[i] *= s;
    }
}
