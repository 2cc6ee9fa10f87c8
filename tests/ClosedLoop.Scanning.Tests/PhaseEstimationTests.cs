using ClosedLoop.Scanning.Assembly;
using static ClosedLoop.Scanning.Tests.AssemblyTestScenes;

namespace ClosedLoop.Scanning.Tests;

public class PhaseEstimationTests
{
    private const int W = 128, H = 32;
    private const double Fill = 0.8;

    // Vertical structure (the same on every row): a few blobs and a ramp, so forward and backward lines should match.
    private static double Scene(double u, int row) =>
        200 + 150 * u + 800 * Math.Exp(-Math.Pow((u + 0.5) / 0.04, 2)) + 500 * Math.Exp(-Math.Pow((u - 0.1) / 0.08, 2))
        + 600 * Math.Exp(-Math.Pow((u - 0.55) / 0.03, 2)) + ((row * 7919 + (int)(u * 1000)) % 13);

    private static double Comb(ushort[] img)
    {
        double diff = 0;
        for (int row = 0; row + 1 < H; row += 2)
            for (int col = 0; col < W; col++) diff += Math.Abs(img[row * W + col] - img[(row + 1) * W + col]);
        return diff / (H / 2 * W);
    }

    [Theory]
    [InlineData(3.3)]
    [InlineData(-2.6)]
    [InlineData(0.0)]
    [InlineData(4.4)]
    [InlineData(1.7)]
    public void Estimate_KnownLineDelay_RecoversItWithinHalfASample(double delay)
    {
        var (samples, edges, n) = Resonant(Scene, H, bidirectional: true, delaySamples: delay);
        var map = Map(W, Fill, true);
        var estimator = new PhaseEstimator(map, searchRangeSamples: 8);

        var e = estimator.Estimate(samples.AsSpan(0, n), edges);

        Assert.True(Math.Abs(e.PhaseSamples - delay) < 0.25, $"estimated {e.PhaseSamples:F2}, true {delay}");
        Assert.True(e.Correlation > 0.9, $"correlation {e.Correlation:F3}");
        Assert.Equal(H / 2, e.LinePairs);
    }

    [Fact]
    public void Track_UncorrectedDelay_CombArtefactsDisappearAfterCorrection()
    {
        const double delay = 4.4;
        var (samples, edges, n) = Resonant(Scene, H, bidirectional: true, delaySamples: delay);
        var map = Map(W, Fill, true);
        var asm = new FrameAssembler(map, new AssemblySettings(H));
        var raw = new ushort[asm.DestinationLength];
        asm.AssembleFrame(samples, n, edges, raw);
        double combBefore = Comb(raw);

        var e = new PhaseEstimator(map).Track(samples.AsSpan(0, n), asm.Sync.LineStarts);
        var fixedImg = new ushort[asm.DestinationLength];
        asm.AssembleFrame(samples, n, edges, fixedImg);
        double combAfter = Comb(fixedImg);

        Assert.Equal(e.PhaseSamples, map.PhaseSamples, 9);
        Assert.True(combBefore > 5 * combAfter, $"comb before {combBefore:F1}, after {combAfter:F1}");
        var (clean, cleanEdges, cn) = Resonant(Scene, H, bidirectional: true);
        var reference = new ushort[asm.DestinationLength];
        new FrameAssembler(Map(W, Fill, true), new AssemblySettings(H)).AssembleFrame(clean, cn, cleanEdges, reference);
        Assert.True(combAfter < 1.3 * Comb(reference) + 1, $"comb after {combAfter:F1} (phase {e.PhaseSamples:F2}), delay-free scan {Comb(reference):F1}");
    }

    [Fact]
    public void Track_SmallGain_MovesPhasePartWayTowardEstimate()
    {
        var (samples, edges, n) = Resonant(Scene, H, bidirectional: true, delaySamples: 4);
        var map = Map(W, Fill, true);

        new PhaseEstimator(map).Track(samples.AsSpan(0, n), edges, gain: 0.25);

        Assert.InRange(map.PhaseSamples, 0.75, 1.25);
    }
}
