using System.Numerics;

namespace ClosedLoop.Core;

/// <summary>
/// A log-linear histogram of durations in nanoseconds: exact below 256 ns, and within 0.4 % above (128 sub-buckets
/// per power of two). Recording is O(1) and never allocates, so the fast loop can record every frame of a
/// ten-minute run. Single writer; readers take a <see cref="Summarise"/> snapshot.
/// </summary>
public sealed class LatencyHistogram
{
    private const int LinearLimit = 256;
    private const int SubBuckets = 128;
    private const int SubBits = 7;
    private readonly long[] _counts = new long[LinearLimit + 56 * SubBuckets];
    private long _count;
    private long _sumNs;
    private long _maxNs;
    private long _minNs = long.MaxValue;

    /// <summary>Number of recorded values.</summary>
    public long Count => Volatile.Read(ref _count);

    /// <summary>Largest recorded value (exact), in ns; 0 when empty.</summary>
    public long MaxNs => Volatile.Read(ref _maxNs);

    /// <summary>Adds one duration. Negative values (clock skew between stamps) are recorded as 0.</summary>
    public void Record(long valueNs)
    {
        if (valueNs < 0) valueNs = 0;
        _counts[IndexOf(valueNs)]++;
        _sumNs += valueNs;
        if (valueNs > _maxNs) _maxNs = valueNs;
        if (valueNs < _minNs) _minNs = valueNs;
        Volatile.Write(ref _count, _count + 1);
    }

    /// <summary>Forgets everything recorded (e.g. after a warm-up).</summary>
    public void Reset()
    {
        Array.Clear(_counts);
        _count = 0; _sumNs = 0; _maxNs = 0; _minNs = long.MaxValue;
    }

    /// <summary>Value at quantile <paramref name="q"/> (0..1), in ns: the representative value of the bucket holding it,
    /// clamped to the exact minimum and maximum.</summary>
    public long Quantile(double q)
    {
        long n = Count;
        if (n == 0) return 0;
        long rank = Math.Clamp((long)Math.Ceiling(q * n), 1, n);
        long seen = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank) return Math.Clamp(Representative(i), _minNs, _maxNs);
        }
        return _maxNs;
    }

    /// <summary>Percentiles and extremes of what was recorded, in microseconds.</summary>
    public LatencyStats Summarise(string name)
    {
        long n = Count;
        return new LatencyStats(
            name,
            n,
            n == 0 ? 0 : Quantile(0.50) / 1000.0,
            n == 0 ? 0 : Quantile(0.99) / 1000.0,
            n == 0 ? 0 : Quantile(0.999) / 1000.0,
            n == 0 ? 0 : _maxNs / 1000.0,
            n == 0 ? 0 : _sumNs / 1000.0 / n);
    }

    internal static int IndexOf(long v)
    {
        if (v < LinearLimit) return (int)v;
        int msb = 63 - BitOperations.LeadingZeroCount((ulong)v);
        int shift = msb - SubBits;
        long mantissa = v >> shift;
        return LinearLimit + (shift - 1) * SubBuckets + (int)(mantissa - SubBuckets);
    }

    internal static long Representative(int index)
    {
        if (index < LinearLimit) return index;
        int shift = (index - LinearLimit) / SubBuckets + 1;
        long mantissa = (index - LinearLimit) % SubBuckets + SubBuckets;
        return (mantissa << shift) + (1L << (shift - 1));
    }
}

/// <summary>Latency of one stage (or end to end) over a run, in microseconds.</summary>
public sealed record LatencyStats(string Name, long Count, double P50Us, double P99Us, double P999Us, double MaxUs, double MeanUs);
