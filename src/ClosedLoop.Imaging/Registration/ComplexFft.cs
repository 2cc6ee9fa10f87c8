using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ClosedLoop.Imaging.Registration;

/// <summary>
/// In-place radix-2 complex FFT of one fixed length (a power of two), on split real and imaginary arrays.
/// Twiddle factors and the bit-reversal permutation are computed once in the constructor; a transform allocates nothing.
/// Forward: X[k] = Σ x[n]·e^(−2πi·kn/N). Inverse: x[n] = (1/N)·Σ X[k]·e^(+2πi·kn/N).
/// </summary>
public sealed class ComplexFft
{
    private readonly float[] _cos;
    private readonly float[] _sin;
    private readonly int[] _swapA;
    private readonly int[] _swapB;

    /// <summary>Creates the transform of <paramref name="length"/> points (a power of two, 2..65536).</summary>
    public ComplexFft(int length)
    {
        if (length < 2 || length > 65536 || !BitOperations.IsPow2(length))
            throw new ArgumentOutOfRangeException(nameof(length), length, "a power of two between 2 and 65536");
        Length = length;
        _cos = new float[length / 2];
        _sin = new float[length / 2];
        for (int k = 0; k < length / 2; k++)
        {
            double a = -2 * Math.PI * k / length;
            _cos[k] = (float)Math.Cos(a);
            _sin[k] = (float)Math.Sin(a);
        }
        BitReversalPairs(length, out _swapA, out _swapB);
    }

    /// <summary>Number of points.</summary>
    public int Length { get; }

    /// <summary>Cosine of the forward twiddles, e^(−2πik/N) for k in 0..N/2−1 (shared with <see cref="Fft2D"/>).</summary>
    internal ReadOnlySpan<float> Cos => _cos;

    /// <summary>Sine of the forward twiddles.</summary>
    internal ReadOnlySpan<float> Sin => _sin;

    /// <summary>Index pairs (a &lt; b) the bit-reversal permutation swaps.</summary>
    internal ReadOnlySpan<int> SwapA => _swapA;

    /// <summary>Partners of <see cref="SwapA"/>.</summary>
    internal ReadOnlySpan<int> SwapB => _swapB;

    /// <summary>Forward transform in place. Both spans must hold exactly <see cref="Length"/> values.</summary>
    public void Forward(Span<float> re, Span<float> im) => Transform(re, im, inverse: false);

    /// <summary>Inverse transform in place, scaled by 1/N so that Inverse(Forward(x)) = x.</summary>
    public void Inverse(Span<float> re, Span<float> im)
    {
        Transform(re, im, inverse: true);
        float s = 1f / Length;
        for (int i = 0; i < Length; i++) { re[i] *= s; im[i] *= s; }
    }

    private void Transform(Span<float> re, Span<float> im, bool inverse)
    {
        int n = Length;
        if (re.Length != n || im.Length != n)
            throw new ArgumentException($"The transform has {n} points; got {re.Length} real and {im.Length} imaginary values.");
        for (int i = 0; i < _swapA.Length; i++)
        {
            int a = _swapA[i], b = _swapB[i];
            (re[a], re[b]) = (re[b], re[a]);
            (im[a], im[b]) = (im[b], im[a]);
        }
        ref float r = ref MemoryMarshal.GetReference(re);
        ref float m = ref MemoryMarshal.GetReference(im);
        float sign = inverse ? -1f : 1f;
        for (int size = 2; size <= n; size <<= 1)
        {
            int half = size >> 1, step = n / size;
            for (int j = 0; j < half; j++)
            {
                float wr = _cos[j * step], wi = sign * _sin[j * step];
                for (int start = j; start < n; start += size)
                {
                    ref float ar = ref Unsafe.Add(ref r, start);
                    ref float ai = ref Unsafe.Add(ref m, start);
                    ref float br = ref Unsafe.Add(ref r, start + half);
                    ref float bi = ref Unsafe.Add(ref m, start + half);
                    float tr = br * wr - bi * wi;
                    float ti = br * wi + bi * wr;
                    br = ar - tr;
                    bi = ai - ti;
                    ar += tr;
                    ai += ti;
                }
            }
        }
    }

    /// <summary>The swaps of the bit-reversal permutation of <paramref name="n"/> points.</summary>
    internal static void BitReversalPairs(int n, out int[] a, out int[] b)
    {
        int bits = BitOperations.Log2((uint)n);
        var la = new List<int>();
        var lb = new List<int>();
        for (int i = 0; i < n; i++)
        {
            int rev = (int)(ReverseBits((uint)i) >> (32 - bits));
            if (i < rev) { la.Add(i); lb.Add(rev); }
        }
        a = la.ToArray();
        b = lb.ToArray();
    }

    private static uint ReverseBits(uint v)
    {
        v = ((v >> 1) & 0x55555555u) | ((v & 0x55555555u) << 1);
        v = ((v >> 2) & 0x33333333u) | ((v & 0x33333333u) << 2);
        v = ((v >> 4) & 0x0F0F0F0Fu) | ((v & 0x0F0F0F0Fu) << 4);
        v = ((v >> 8) & 0x00FF00FFu) | ((v & 0x00FF00FFu) << 8);
        return (v >> 16) | (v << 16);
    }
}
