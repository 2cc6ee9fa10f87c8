using ClosedLoop.Imaging.Registration;

namespace ClosedLoop.Imaging.Tests.Registration;

public sealed class PhaseCorrelationTests
{
    private const int Size = 96;   // image side; the patch is the central 64 × 64
    private const int Patch = 64;
    private const int Origin = (Size - Patch) / 2;
    private static readonly TestImages.Blob[] Blobs = TestImages.Blobs(Size, Size, 60, seed: 1);

    private static PhaseCorrelation WithReference()
    {
        var pc = new PhaseCorrelation(Patch);
        pc.SetReference(TestImages.Render(Blobs, Size, Size, 0, 0), Size, Origin, Origin);
        return pc;
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(3, -2)]
    [InlineData(-7, 5)]
    [InlineData(12, 11)]
    public void Estimate_IntegerShift_RecoversIt(int dx, int dy)
    {
        var pc = WithReference();
        var e = pc.Estimate(TestImages.Render(Blobs, Size, Size, dx, dy), Size, Origin, Origin, maxShiftPx: 20);
        Assert.Equal(dx, e.DxPx, 0.02);
        Assert.Equal(dy, e.DyPx, 0.02);
        Assert.False(e.Clipped);
        Assert.True(e.Confidence > new MotionCorrectionSettings().ConfidenceThreshold, $"confidence {e.Confidence}");
    }

    [Theory]
    [InlineData(0.5, 0.25)]
    [InlineData(-1.3, 2.7)]
    [InlineData(4.45, -3.8)]
    [InlineData(-0.1, -0.9)]
    public void Estimate_SubPixelShift_RecoversItWithin005Px(double dx, double dy)
    {
        var pc = WithReference();
        var e = pc.Estimate(TestImages.Render(Blobs, Size, Size, dx, dy), Size, Origin, Origin, maxShiftPx: 20);
        Assert.Equal(dx, e.DxPx, 0.05);
        Assert.Equal(dy, e.DyPx, 0.05);
    }

    [Fact]
    public void Estimate_BlankPatch_HasZeroConfidence()
    {
        var pc = WithReference();
        var blank = new float[Size * Size];
        Array.Fill(blank, 300f);
        var e = pc.Estimate(blank, Size, Origin, Origin, maxShiftPx: 20);
        Assert.Equal(0, e.Confidence);
    }

    [Fact]
    public void Estimate_NoiseOnlyPatch_ScoresBelowTheDefaultThresholdWhileTextureScoresFarAbove()
    {
        var pc = WithReference();
        var rng = new Random(4);
        double worstNoise = 0;
        for (int i = 0; i < 20; i++)
        {
            var noise = Enumerable.Range(0, Size * Size).Select(_ => (float)(500 + 30 * TestImages.Gaussian(rng))).ToArray();
            worstNoise = Math.Max(worstNoise, pc.Estimate(noise, Size, Origin, Origin, maxShiftPx: 20).Confidence);
        }
        var good = pc.Estimate(TestImages.Render(Blobs, Size, Size, 1.5, -2), Size, Origin, Origin, maxShiftPx: 20);
        double threshold = new MotionCorrectionSettings().ConfidenceThreshold;
        Assert.True(worstNoise < threshold, $"noise scored {worstNoise:F2}");
        Assert.True(good.Confidence > 3 * threshold, $"texture scored {good.Confidence:F2}");
    }

    [Fact]
    public void Estimate_ShiftBeyondTheLimit_IsClippedToTheLimitAndFlagged()
    {
        var pc = WithReference();
        var e = pc.Estimate(TestImages.Render(Blobs, Size, Size, 9, 1), Size, Origin, Origin, maxShiftPx: 5);
        Assert.True(e.Clipped);
        Assert.Equal(5, e.DxPx, 1e-9);
        var inside = pc.Estimate(TestImages.Render(Blobs, Size, Size, 4, 1), Size, Origin, Origin, maxShiftPx: 5);
        Assert.False(inside.Clipped);
    }
}
