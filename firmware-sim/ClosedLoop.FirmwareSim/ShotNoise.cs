using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ClosedLoop.FirmwareSim;

/// <summary>
/// Photon shot noise. A pixel expecting λ photons receives a Poisson(λ) count: drawn exactly (by inversion) below
/// <see cref="ExactBelowPhotons"/>, and above it as λ + √λ·z with z a standard normal taken from a 4096-entry
/// quantile table indexed by 12 random bits (five draws per 64-bit random number). Mean and variance are exact in
/// both regimes; only the small skew of the Poisson law is left out where λ is large.
/// </summary>
internal static class ShotNoise
{
    /// <summary>Expected photon counts below this are drawn exactly from the Poisson law.</summary>
    public const float ExactBelowPhotons = 10f;

    /// <summary>Bits of randomness per normal deviate (table size = 2^bits).</summary>
    public const int TableBits = 12;

    /// <summary>Standard normal quantiles at the centres of 4096 equal-probability bins, rescaled to mean 0 and variance 1.</summary>
    public static readonly float[] NormalTable = BuildNormalTable();

    private static float[] BuildNormalTable()
    {
        // Integrate the normal density numerically (trapezoid on a fine grid) and invert the resulting CDF, so the
        // table needs no approximation formula; then remove the small variance lost to the discrete tails.
        int size = 1 << TableBits;
        const double lo = -7.0, step = 1e-4;
        int steps = (int)(14.0 / step);
        var table = new double[size];
        double cdf = 0, previousDensity = Density(lo);
        int next = 0;
        for (int i = 1; i <= steps && next < size; i++)
        {
            double x = lo + i * step;
            double density = Density(x);
            double increment = 0.5 * (density + previousDensity) * step;
            while (next < size && cdf + increment >= (next + 0.5) / size)
            {
                double fraction = ((next + 0.5) / size - cdf) / increment;
                table[next++] = x - step + fraction * step;
            }
            cdf += increment;
            previousDensity = density;
        }
        while (next < size) table[next] = -table[size - 1 - next++];
        double mean = table.Average();
        double variance = table.Sum(v => (v - mean) * (v - mean)) / size;
        double scale = 1.0 / Math.Sqrt(variance);
        return table.Select(v => (float)((v - mean) * scale)).ToArray();
    }

    private static double Density(double x) => Math.Exp(-0.5 * x * x) / Math.Sqrt(2 * Math.PI);

    /// <summary>Pixels handled per chunk: the chunk's normal deviates are drawn first, then used by a vectorised pass.</summary>
    public const int ChunkPixels = 1280;

    /// <summary>Draws shot noise on expected photon counts <paramref name="photons"/> times <paramref name="scale"/>
    /// plus a shared offset <paramref name="offsetPhotons"/>, converts to detector counts with <paramref name="countsPerPhoton"/>, rounds and
    /// clamps to the 16-bit range. <paramref name="scratch"/> holds at least 2 × <see cref="ChunkPixels"/> values.
    /// Dim pixels (λ below <see cref="ExactBelowPhotons"/>) are drawn exactly by a vectorised inversion of the Poisson
    /// law. Allocation-free.</summary>
    public static void Sample(ReadOnlySpan<float> photons, float scale, float offsetPhotons, float countsPerPhoton, Span<ushort> output,
        Span<float> scratch, ref SimRandom rng)
    {
        var table = NormalTable;
        var local = rng;
        output = output[..photons.Length];
        var z = scratch[..ChunkPixels];
        var u = scratch.Slice(ChunkPixels, ChunkPixels);
        const ulong indexMask = (1u << TableBits) - 1;
        const float uniformStep = 1f / (1 << 24);
        for (int start = 0; start < photons.Length; start += ChunkPixels)
        {
            int length = Math.Min(ChunkPixels, photons.Length - start);
            var lambdas = photons.Slice(start, length);
            var counts = output.Slice(start, length);
            float dimmest = float.MaxValue, brightest = float.MinValue;
            foreach (float l in lambdas) { dimmest = MathF.Min(dimmest, l); brightest = MathF.Max(brightest, l); }
            bool anyDim = MathF.Min(dimmest * scale, brightest * scale) + offsetPhotons < ExactBelowPhotons;
            bool anyBright = MathF.Max(dimmest * scale, brightest * scale) + offsetPhotons >= ExactBelowPhotons;
            // Normal deviates for the chunk's bright pixels: five 12-bit table indices per 64 random bits.
            if (anyBright)
                for (int i = 0; i < length; i += 5)
                {
                    ulong bits = local.NextUInt64();
                    z[i] = table[(int)(bits & indexMask)];
                    z[i + 1] = table[(int)((bits >> 12) & indexMask)];
                    z[i + 2] = table[(int)((bits >> 24) & indexMask)];
                    z[i + 3] = table[(int)((bits >> 36) & indexMask)];
                    z[i + 4] = table[(int)((bits >> 48) & indexMask)];
                }
            else z[..length].Clear();
            // Uniform deviates (24 bits, two per 64 random bits) for the dim pixels' exact draws.
            if (anyDim)
                for (int i = 0; i < length; i += 2)
                {
                    ulong bits = local.NextUInt64();
                    u[i] = (bits >> 40) * uniformStep;
                    u[i + 1] = ((bits >> 8) & 0xFFFFFF) * uniformStep;
                }
            int p = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                var offset = Vector256.Create(offsetPhotons);
                var scaleV = Vector256.Create(scale);
                var gain = Vector256.Create(countsPerPhoton);
                for (; p <= length - 16; p += 16)
                {
                    var l0 = Vector256.Max(Vector256.Create(lambdas.Slice(p, 8)) * scaleV + offset, Vector256<float>.Zero);
                    var l1 = Vector256.Max(Vector256.Create(lambdas.Slice(p + 8, 8)) * scaleV + offset, Vector256<float>.Zero);
                    var c0 = Draw(l0, Vector256.Create(z.Slice(p, 8)), anyDim ? Vector256.Create(u.Slice(p, 8)) : default, anyDim, gain);
                    var c1 = Draw(l1, Vector256.Create(z.Slice(p + 8, 8)), anyDim ? Vector256.Create(u.Slice(p + 8, 8)) : default, anyDim, gain);
                    Vector256.Narrow(Vector256.ConvertToInt32(c0).AsUInt32(), Vector256.ConvertToInt32(c1).AsUInt32()).CopyTo(counts.Slice(p, 16));
                }
            }
            for (; p < length; p++)
                counts[p] = ToCounts(lambdas[p] * scale + offsetPhotons, z[p], countsPerPhoton, ref local);
        }
        rng = local;
    }

    private static readonly float[] InverseK = Enumerable.Range(0, 64).Select(k => k == 0 ? 0f : 1f / k).ToArray();

    /// <summary>Counts (rounded, clamped, as floats) for eight pixels of expected photons <paramref name="lambda"/>:
    /// λ + √λ·z above <see cref="ExactBelowPhotons"/>; below it, when <paramref name="exact"/>, the smallest k whose
    /// Poisson CDF reaches the uniform <paramref name="uniform"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Draw(Vector256<float> lambda, Vector256<float> z, Vector256<float> uniform, bool exact, Vector256<float> gain)
    {
        var drawn = lambda + Vector256.Sqrt(lambda) * z;
        if (exact)
        {
            var dim = Vector256.LessThan(lambda, Vector256.Create(ExactBelowPhotons));
            if (dim != Vector256<float>.Zero)
            {
                var l = dim & lambda; // bright lanes: λ = 0, so their loop ends at once
                var term = Vector256.Exp(-l);
                var cdf = term;
                var k = Vector256<float>.Zero;
                var one = Vector256.Create(1f);
                var inverse = InverseK;
                for (int i = 1; i < inverse.Length; i++)
                {
                    var more = Vector256.GreaterThan(uniform, cdf);
                    if (more == Vector256<float>.Zero) break;
                    k += more & one;
                    term *= l * Vector256.Create(inverse[i]);
                    cdf += term;
                }
                drawn = Vector256.ConditionalSelect(dim, k, drawn);
            }
        }
        var counts = drawn * gain + Vector256.Create(0.5f);
        return Vector256.Min(Vector256.Max(counts, Vector256<float>.Zero), Vector256.Create(65535f));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ushort ToCounts(float lambda, float z, float countsPerPhoton, ref SimRandom rng)
    {
        float drawn;
        if (lambda >= ExactBelowPhotons) drawn = lambda + MathF.Sqrt(lambda) * z;
        else if (lambda > 0f) drawn = rng.NextPoissonSmall(lambda, Math.Exp(-lambda));
        else drawn = 0f;
        float counts = drawn * countsPerPhoton + 0.5f;
        return counts <= 0f ? (ushort)0 : counts >= 65535f ? ushort.MaxValue : (ushort)counts;
    }
}
