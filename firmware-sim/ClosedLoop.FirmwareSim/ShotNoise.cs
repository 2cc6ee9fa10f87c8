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
    /// clamps to the 16-bit range. <paramref name="scratch"/> holds at least <see cref="ChunkPixels"/> values.
    /// Allocation-free.</summary>
    public static void Sample(ReadOnlySpan<float> photons, float scale, float offsetPhotons, float countsPerPhoton, Span<ushort> output,
        Span<float> scratch, ref SimRandom rng)
    {
        var table = NormalTable;
        var local = rng;
        output = output[..photons.Length];
        var z = scratch[..ChunkPixels];
        const ulong indexMask = (1u << TableBits) - 1;
        for (int start = 0; start < photons.Length; start += ChunkPixels)
        {
            int length = Math.Min(ChunkPixels, photons.Length - start);
            // Normal deviates for the chunk: five 12-bit table indices per 64 random bits.
            for (int i = 0; i < length; i += 5)
            {
                ulong bits = local.NextUInt64();
                z[i] = table[(int)(bits & indexMask)];
                z[i + 1] = table[(int)((bits >> 12) & indexMask)];
                z[i + 2] = table[(int)((bits >> 24) & indexMask)];
                z[i + 3] = table[(int)((bits >> 36) & indexMask)];
                z[i + 4] = table[(int)((bits >> 48) & indexMask)];
            }
            var lambdas = photons.Slice(start, length);
            var counts = output.Slice(start, length);
            int p = 0;
            bool anyDim = false;
            if (Vector256.IsHardwareAccelerated)
            {
                var offset = Vector256.Create(offsetPhotons);
                var scaleV = Vector256.Create(scale);
                var gain = Vector256.Create(countsPerPhoton);
                var half = Vector256.Create(0.5f);
                var max = Vector256.Create(65535f);
                var exactBelow = Vector256.Create(ExactBelowPhotons);
                var dim = Vector256<float>.Zero;
                for (; p <= length - 16; p += 16)
                {
                    var l0 = Vector256.Create(lambdas.Slice(p, 8)) * scaleV + offset;
                    var l1 = Vector256.Create(lambdas.Slice(p + 8, 8)) * scaleV + offset;
                    dim |= Vector256.LessThan(l0, exactBelow) | Vector256.LessThan(l1, exactBelow);
                    var c0 = Vector256.Max(l0, Vector256<float>.Zero);
                    var c1 = Vector256.Max(l1, Vector256<float>.Zero);
                    c0 = (c0 + Vector256.Sqrt(c0) * Vector256.Create(z.Slice(p, 8))) * gain + half;
                    c1 = (c1 + Vector256.Sqrt(c1) * Vector256.Create(z.Slice(p + 8, 8))) * gain + half;
                    c0 = Vector256.Min(Vector256.Max(c0, Vector256<float>.Zero), max);
                    c1 = Vector256.Min(Vector256.Max(c1, Vector256<float>.Zero), max);
                    Vector256.Narrow(Vector256.ConvertToInt32(c0).AsUInt32(), Vector256.ConvertToInt32(c1).AsUInt32()).CopyTo(counts.Slice(p, 16));
                }
                anyDim = dim != Vector256<float>.Zero;
            }
            for (; p < length; p++)
                counts[p] = ToCounts(lambdas[p] * scale + offsetPhotons, z[p], countsPerPhoton, ref local);
            if (anyDim)
            {
                // Dim pixels were given the normal approximation above; draw them again, exactly.
                int vectorised = length - length % 16;
                for (int i = 0; i < vectorised; i++)
                {
                    float lambda = lambdas[i] * scale + offsetPhotons;
                    if (lambda < ExactBelowPhotons) counts[i] = ToCounts(lambda, 0f, countsPerPhoton, ref local);
                }
            }
        }
        rng = local;
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
