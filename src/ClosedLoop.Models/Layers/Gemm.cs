using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ClosedLoop.Models.Layers;

/// <summary>
/// The matrix product the convolutions are built on: C[M×P] (+)= A[M×K] · B[K×P] (+ bias per row), row-major, with
/// a register-blocked kernel of 4 rows × 16 columns held in eight <see cref="Vector256{T}"/> accumulators, so each
/// loaded column block of B feeds four rows of A.
/// </summary>
internal static unsafe class Gemm
{
    /// <summary>C = A·B (+ bias[m]) when <paramref name="accumulate"/> is false, C += A·B otherwise.</summary>
    /// <param name="m">Rows of A and C.</param>
    /// <param name="k">Columns of A, rows of B.</param>
    /// <param name="p">Columns of B and C.</param>
    /// <param name="a">A, row stride <paramref name="k"/>.</param>
    /// <param name="b">B, row stride <paramref name="ldb"/>.</param>
    /// <param name="ldb">Row stride of B (≥ p).</param>
    /// <param name="c">C, row stride <paramref name="ldc"/>.</param>
    /// <param name="ldc">Row stride of C (≥ p).</param>
    /// <param name="bias">Per-row bias added when not accumulating; may be empty.</param>
    /// <param name="accumulate">Add to C instead of overwriting it.</param>
    public static void Multiply(int m, int k, int p, ReadOnlySpan<float> a, ReadOnlySpan<float> b, int ldb,
        Span<float> c, int ldc, ReadOnlySpan<float> bias, bool accumulate)
    {
        if (m == 0 || p == 0) return;
        if (a.Length < m * k || b.Length < (k - 1) * ldb + p || c.Length < (m - 1) * ldc + p)
            throw new ArgumentException("matrix buffers are smaller than their dimensions");
        fixed (float* pa = a, pb = b, pc = c, pbias = bias)
        {
            float* biasPtr = bias.IsEmpty ? null : pbias;
            int row = 0;
            for (; row + 4 <= m; row += 4) Rows4(k, p, pa + row * k, pb, ldb, pc + row * ldc, ldc, biasPtr == null ? null : biasPtr + row, accumulate);
            for (; row < m; row++) Row1(k, p, pa + row * k, pb, ldb, pc + row * ldc, biasPtr == null ? null : biasPtr + row, accumulate);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows4(int k, int p, float* a, float* b, int ldb, float* c, int ldc, float* bias, bool acc)
    {
        float* a0 = a, a1 = a + k, a2 = a + 2 * k, a3 = a + 3 * k;
        float* c0 = c, c1 = c + ldc, c2 = c + 2 * ldc, c3 = c + 3 * ldc;
        float i0 = bias == null ? 0 : bias[0], i1 = bias == null ? 0 : bias[1], i2 = bias == null ? 0 : bias[2], i3 = bias == null ? 0 : bias[3];
        int x = 0;
        for (; x + 16 <= p; x += 16)
        {
            Vector256<float> s00, s01, s10, s11, s20, s21, s30, s31;
            if (acc)
            {
                s00 = Vector256.Load(c0 + x); s01 = Vector256.Load(c0 + x + 8);
                s10 = Vector256.Load(c1 + x); s11 = Vector256.Load(c1 + x + 8);
                s20 = Vector256.Load(c2 + x); s21 = Vector256.Load(c2 + x + 8);
                s30 = Vector256.Load(c3 + x); s31 = Vector256.Load(c3 + x + 8);
            }
            else
            {
                s00 = s01 = Vector256.Create(i0); s10 = s11 = Vector256.Create(i1);
                s20 = s21 = Vector256.Create(i2); s30 = s31 = Vector256.Create(i3);
            }
            float* bp = b + x;
            for (int j = 0; j < k; j++, bp += ldb)
            {
                var b0 = Vector256.Load(bp);
                var b1 = Vector256.Load(bp + 8);
                var w = Vector256.Create(a0[j]);
                s00 = Vector256.MultiplyAddEstimate(w, b0, s00); s01 = Vector256.MultiplyAddEstimate(w, b1, s01);
                w = Vector256.Create(a1[j]);
                s10 = Vector256.MultiplyAddEstimate(w, b0, s10); s11 = Vector256.MultiplyAddEstimate(w, b1, s11);
                w = Vector256.Create(a2[j]);
                s20 = Vector256.MultiplyAddEstimate(w, b0, s20); s21 = Vector256.MultiplyAddEstimate(w, b1, s21);
                w = Vector256.Create(a3[j]);
                s30 = Vector256.MultiplyAddEstimate(w, b0, s30); s31 = Vector256.MultiplyAddEstimate(w, b1, s31);
            }
            s00.Store(c0 + x); s01.Store(c0 + x + 8);
            s10.Store(c1 + x); s11.Store(c1 + x + 8);
            s20.Store(c2 + x); s21.Store(c2 + x + 8);
            s30.Store(c3 + x); s31.Store(c3 + x + 8);
        }
        for (; x + 8 <= p; x += 8)
        {
            Vector256<float> s0, s1, s2, s3;
            if (acc) { s0 = Vector256.Load(c0 + x); s1 = Vector256.Load(c1 + x); s2 = Vector256.Load(c2 + x); s3 = Vector256.Load(c3 + x); }
            else { s0 = Vector256.Create(i0); s1 = Vector256.Create(i1); s2 = Vector256.Create(i2); s3 = Vector256.Create(i3); }
            float* bp = b + x;
            for (int j = 0; j < k; j++, bp += ldb)
            {
                var b0 = Vector256.Load(bp);
                s0 = Vector256.MultiplyAddEstimate(Vector256.Create(a0[j]), b0, s0);
                s1 = Vector256.MultiplyAddEstimate(Vector256.Create(a1[j]), b0, s1);
                s2 = Vector256.MultiplyAddEstimate(Vector256.Create(a2[j]), b0, s2);
                s3 = Vector256.MultiplyAddEstimate(Vector256.Create(a3[j]), b0, s3);
            }
            s0.Store(c0 + x); s1.Store(c1 + x); s2.Store(c2 + x); s3.Store(c3 + x);
        }
        for (; x < p; x++)
        {
            float s0 = acc ? c0[x] : i0, s1 = acc ? c1[x] : i1, s2 = acc ? c2[x] : i2, s3 = acc ? c3[x] : i3;
            float* bp = b + x;
            for (int j = 0; j < k; j++, bp += ldb)
            {
                float v = *bp;
                s0 += a0[j] * v; s1 += a1[j] * v; s2 += a2[j] * v; s3 += a3[j] * v;
            }
            c0[x] = s0; c1[x] = s1; c2[x] = s2; c3[x] = s3;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row1(int k, int p, float* a, float* b, int ldb, float* c, float* bias, bool acc)
    {
        float init = bias == null ? 0 : bias[0];
        int x = 0;
        for (; x + 16 <= p; x += 16)
        {
            Vector256<float> s0 = acc ? Vector256.Load(c + x) : Vector256.Create(init);
            Vector256<float> s1 = acc ? Vector256.Load(c + x + 8) : Vector256.Create(init);
            float* bp = b + x;
            for (int j = 0; j < k; j++, bp += ldb)
            {
                var w = Vector256.Create(a[j]);
                s0 = Vector256.MultiplyAddEstimate(w, Vector256.Load(bp), s0);
                s1 = Vector256.MultiplyAddEstimate(w, Vector256.Load(bp + 8), s1);
            }
            s0.Store(c + x); s1.Store(c + x + 8);
        }
        for (; x + 8 <= p; x += 8)
        {
            Vector256<float> s0 = acc ? Vector256.Load(c + x) : Vector256.Create(init);
            float* bp = b + x;
            for (int j = 0; j < k; j++, bp += ldb) s0 = Vector256.MultiplyAddEstimate(Vector256.Create(a[j]), Vector256.Load(bp), s0);
            s0.Store(c + x);
        }
        for (; x < p; x++)
        {
            float s = acc ? c[x] : init;
            float* bp = b + x;
            for (int j = 0; j < k; j++, bp += ldb) s += a[j] * *bp;
            c[x] = s;
        }
    }
}
