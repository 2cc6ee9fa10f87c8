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

    /// <summary>Draws shot noise on expected photon counts <paramref name="photons"/> plus a shared offset
    /// <paramref name="offsetPhotons"/>, converts to detector counts with <paramref name="countsPerPhoton"/>, rounds and
    /// clamps to the 16-bit range. Allocation-free.</summary>
    public static void Sample(ReadOnlySpan<float> photons, float offsetPhotons, float countsPerPhoton, Span<ushort> output, ref SimRandom rng)
    {
        var table = NormalTable;
        var local = rng;
        ulong bits = 0;
        int left = 0;
        output = output[..photons.Length];
        for (int p = 0; p < photons.Length; p++)
        {
            float lambda = photons[p] + offsetPhotons;
            float drawn;
            if (lambda >= ExactBelowPhotons)
            {
                if (left == 0) { bits = local.NextUInt64(); left = 5; }
                float z = table[(int)(bits & ((1u << TableBits) - 1))];
                bits >>= TableBits;
                left--;
                drawn = lambda + MathF.Sqrt(lambda) * z;
            }
            else if (lambda > 0f)
            {
                drawn = local.NextPoissonSmall(lambda, Math.Exp(-lambda));
            }
            else
            {
                drawn = 0f;
            }
            float counts = drawn * countsPerPhoton + 0.5f;
            output[p] = counts <= 0f ? (ushort)0 : counts >= 65535f ? ushort.MaxValue : (ushort)counts;
        }
        rng = local;
    }
}
