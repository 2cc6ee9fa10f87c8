using ClosedLoop.Core;

namespace ClosedLoop.Core.Tests;

public class LatencyTests
{
    [Fact]
    public void Quantile_ManyValues_WithinHalfPercentOfExactSortedValue()
    {
        var rng = new Random(3);
        var values = Enumerable.Range(0, 50_000).Select(_ => (long)(Math.Exp(rng.NextDouble() * 14) + rng.Next(100))).ToArray();
        var h = new LatencyHistogram();
        foreach (var v in values) h.Record(v);
        Array.Sort(values);

        foreach (var q in new[] { 0.5, 0.9, 0.99, 0.999 })
        {
            long exact = values[(int)Math.Ceiling(q * values.Length) - 1];
            long got = h.Quantile(q);
            Assert.InRange(got, exact * 0.995 - 1, exact * 1.005 + 1);
        }
        Assert.Equal(values[^1], h.MaxNs);
    }

    [Fact]
    public void Summarise_Empty_ReportsZerosNotGarbage()
    {
        var s = new LatencyHistogram().Summarise("x");
        Assert.Equal(0, s.Count);
        Assert.Equal(0, s.P99Us);
        Assert.Equal(0, s.MaxUs);
    }

    [Fact]
    public void IndexOf_And_Representative_RoundTripWithinBucketWidth()
    {
        foreach (long v in new long[] { 0, 1, 255, 256, 257, 1000, 123_456, 1L << 40, long.MaxValue / 4 })
        {
            long rep = LatencyHistogram.Representative(LatencyHistogram.IndexOf(v));
            Assert.InRange(rep, v - v / 128 - 1, v + v / 128 + 1);
        }
    }

    [Fact]
    public void Record_LedgerStages_AttributesTimeToTheRightStage()
    {
        var ledger = new LatencyLedger(new[] { "traces", "decide" });
        var pool = new FramePool(2, 2, 1);
        Assert.True(pool.TryRent(out var f));
        f.AcquiredHostNs = 0;
        f.CompletedHostNs = 1_000_000;
        f.StageExitHostNs[0] = 1_010_000; // waited 10 µs in the link
        f.StageExitHostNs[1] = 1_110_000; // traces took 100 µs
        f.StageExitHostNs[2] = 1_120_000; // decision took 10 µs
        ledger.Record(f);

        var s = ledger.Summarise().ToDictionary(x => x.Name);
        Assert.Equal(10, s[LatencyLedger.QueueStage].P50Us, 1);
        Assert.Equal(100, s["traces"].P50Us, 0);
        Assert.Equal(10, s["decide"].P50Us, 1);
        Assert.Equal(120, s.Values.First(x => x.Name.StartsWith("end-to-end")).P50Us, 0);
    }
}
