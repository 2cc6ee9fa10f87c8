using System.Numerics;
using System.Runtime.CompilerServices;

namespace ClosedLoop.FirmwareSim;

/// <summary>
/// xoshiro256** (Blackman and Vigna): a small, fast, deterministic generator. A value type kept in a field of its
/// owner, so drawing never allocates. Not thread-safe: each stream belongs to one thread.
/// </summary>
internal struct SimRandom
{
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>Seeds the four state words from <paramref name="seed"/> and a stream number through splitmix64,
    /// so streams of one seed are independent.</summary>
    public SimRandom(long seed, ulong stream)
    {
        ulong x = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + stream * 0xD1B54A32D192ED03UL + 0x632BE59BD9B4E019UL);
        _s0 = SplitMix(ref x);
        _s1 = SplitMix(ref x);
        _s2 = SplitMix(ref x);
        _s3 = SplitMix(ref x);
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = unchecked(x += 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }

    /// <summary>Next 64 random bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong NextUInt64()
    {
        ulong result = unchecked(BitOperations.RotateLeft(_s1 * 5, 7) * 9);
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = BitOperations.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in (0, 1], safe to take the logarithm of.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double NextDoubleNonZero() => ((NextUInt64() >> 11) + 1) * (1.0 / (1UL << 53));

    /// <summary>True with probability <paramref name="p"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Chance(double p) => NextDouble() < p;

    /// <summary>Standard normal deviate (Box–Muller; one of the pair is discarded to keep the state simple).</summary>
    public double NextGaussian()
    {
        double u1 = NextDoubleNonZero();
        double u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>Poisson deviate for a small mean, by inversion; <paramref name="expMinusMean"/> is e^(−mean), passed in
    /// so callers with a fixed mean compute it once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int NextPoissonSmall(double mean, double expMinusMean)
    {
        double u = NextDouble();
        double p = expMinusMean, cumulative = p;
        int k = 0;
        while (u > cumulative && k < 1000)
        {
            k++;
            p *= mean / k;
            cumulative += p;
        }
        return k;
    }
}
