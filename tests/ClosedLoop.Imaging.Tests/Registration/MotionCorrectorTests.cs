using ClosedLoop.Core;
using ClosedLoop.FirmwareSim;
using ClosedLoop.Hardware;
using ClosedLoop.Imaging.Registration;
using Xunit.Abstractions;

namespace ClosedLoop.Imaging.Tests.Registration;

public sealed class MotionCorrectorTests(ITestOutputHelper output)
{
    private const int Side = 256;

    private static MotionCorrectionSettings Rigid() => new() { Mode = MotionCorrectionMode.Rigid, Binning = 2, PatchPx = 64, MaxShiftPx = 20 };

    [Fact]
    public void Correct_VirtualTissueWithRigidMotionAtNoiseLevel1_TracksTheTrueShiftWithin02PxRms()
    {
        // ν = 1 %/√Hz is a good in vivo recording (a few photons per soma pixel per frame). Shifts are measured against
        // the reference, which sits at the mean position of its frames: a constant offset, removed before scoring.
        var tissue = TestImages.Tissue(Side, new MotionProfile { Mode = MotionMode.Rigid, RmsPx = 2, TimeConstantS = 0.5, JumpRateHz = 0.3, JumpPx = 2 },
            noiseLevel: 1, seed: 3);
        var corrector = new MotionCorrector(Rigid(), Side, Side);
        var frame = new ushort[Side * Side];
        var errX = new List<double>();
        var errY = new List<double>();
        double truthSq = 0;
        int low = 0;
        for (int f = 0; f < 300; f++)
        {
            tissue.Render(frame);
            var s = corrector.Correct(frame);
            if (s.ReferencePending) continue;
            if (s.LowConfidence) { low++; continue; }
            errX.Add(s.ShiftXPx - tissue.MotionDxPx);
            errY.Add(s.ShiftYPx - tissue.MotionDyPx);
            truthSq += tissue.MotionDxPx * tissue.MotionDxPx + tissue.MotionDyPx * tissue.MotionDyPx;
        }
        double mx = errX.Average(), my = errY.Average();
        double rms = Math.Sqrt(errX.Zip(errY, (ex, ey) => (ex - mx) * (ex - mx) + (ey - my) * (ey - my)).Average());
        double motionRms = Math.Sqrt(truthSq / errX.Count);
        output.WriteLine($"error RMS {rms:F3} px (offset {mx:F2}, {my:F2}), motion RMS {motionRms:F2} px, {low} low-confidence frames");
        Assert.True(motionRms > 1.5, $"the tissue barely moved ({motionRms:F2} px RMS)");
        Assert.True(rms <= 0.2, $"error RMS {rms:F3} px");
        Assert.True(low <= 3, $"{low} low-confidence frames");
    }

    [Fact]
    public void Correct_MovingTissue_MeanImageIsAsSharpAsTheStillTissues()
    {
        // Motion blurs the average of a movie; after correction it should be about as sharp as the average of the same
        // tissue without motion (same seed: same biology and noise).
        var motion = new MotionProfile { Mode = MotionMode.Rigid, RmsPx = 3, TimeConstantS = 0.3 };
        var moving = TestImages.Tissue(128, motion, noiseLevel: 0.5, seed: 5);
        var still = TestImages.Tissue(128, new MotionProfile(), noiseLevel: 0.5, seed: 5);
        var corrector = new MotionCorrector(new MotionCorrectionSettings { PatchPx = 32, Binning = 2, MaxShiftPx = 12, ReferenceFrames = 20 }, 128, 128);
        var a = new ushort[128 * 128];
        var b = new ushort[128 * 128];
        var raw = new double[a.Length];
        var corrected = new double[a.Length];
        var stillMean = new double[a.Length];
        for (int f = 0; f < 150; f++)
        {
            moving.Render(a);
            still.Render(b);
            if (f < 30) { corrector.Correct(a); continue; }
            for (int i = 0; i < a.Length; i++) { raw[i] += a[i]; stillMean[i] += b[i]; }
            corrector.Correct(a);
            for (int i = 0; i < a.Length; i++) corrected[i] += a[i];
        }
        double sRaw = Contrast(raw), sCorrected = Contrast(corrected), sStill = Contrast(stillMean);
        output.WriteLine($"mean-image contrast (s.d. of the central region / its mean): raw {sRaw:F3}, corrected {sCorrected:F3}, still {sStill:F3}");
        Assert.True(sCorrected > 0.9 * sStill, $"corrected {sCorrected:F3} vs still {sStill:F3}");
        Assert.True(sRaw < 0.8 * sStill, $"the motion did not blur the raw mean ({sRaw:F3} vs {sStill:F3})");
    }

    private static double Contrast(double[] img)
    {
        var v = new List<double>();
        for (int y = 16; y < 112; y++)
            for (int x = 16; x < 112; x++) v.Add(img[y * 128 + x]);
        double m = v.Average();
        return Math.Sqrt(v.Average(t => (t - m) * (t - m))) / m;
    }

    [Fact]
    public void Correct_NonrigidMotion_PiecewiseFieldIsCloserToTheTruthThanTheRigidShift()
    {
        var motion = new MotionProfile { Mode = MotionMode.Nonrigid, RmsPx = 1.5, TimeConstantS = 0.5, NonrigidRmsPx = 1.5, GridX = 3, GridY = 3 };
        var tissue = TestImages.Tissue(Side, motion, noiseLevel: 0.5, seed: 8);
        var settings = new MotionCorrectionSettings
        {
            Mode = MotionCorrectionMode.PiecewiseRigid, Binning = 2, PatchPx = 64, PiecewisePatchPx = 32, GridX = 4, GridY = 4,
            MaxShiftPx = 20, MaxPatchDeviationPx = 8,
        };
        var corrector = new MotionCorrector(settings, Side, Side);
        var frame = new ushort[Side * Side];
        var points = new[] { (40, 40), (128, 40), (216, 40), (40, 128), (128, 128), (216, 128), (40, 216), (128, 216), (216, 216) };
        var pieceErr = points.Select(_ => new List<(double, double)>()).ToArray();
        var rigidErr = points.Select(_ => new List<(double, double)>()).ToArray();
        for (int f = 0; f < 150; f++)
        {
            tissue.Render(frame);
            var s = corrector.Correct(frame);
            if (s.ReferencePending || s.LowConfidence) continue;
            for (int p = 0; p < points.Length; p++)
            {
                var (x, y) = points[p];
                var (tx, ty) = TrueShift(tissue, x, y);
                var (ex, ey) = corrector.Field!.At(x, y);
                pieceErr[p].Add((ex - tx, ey - ty));
                rigidErr[p].Add((s.ShiftXPx - tx, s.ShiftYPx - ty));
            }
        }
        double piece = OffsetFreeRms(pieceErr), rigid = OffsetFreeRms(rigidErr);
        output.WriteLine($"error RMS at 9 points: piecewise {piece:F3} px, rigid {rigid:F3} px");
        Assert.True(piece < 0.6 * rigid, $"piecewise {piece:F3} px vs rigid {rigid:F3} px");
    }

    /// <summary>RMS of the errors after removing each point's mean (the reference's own offset there).</summary>
    private static double OffsetFreeRms(List<(double X, double Y)>[] errors)
    {
        double sum = 0;
        int n = 0;
        foreach (var e in errors)
        {
            double mx = e.Average(v => v.X), my = e.Average(v => v.Y);
            foreach (var (x, y) in e) { sum += (x - mx) * (x - mx) + (y - my) * (y - my); n++; }
        }
        return Math.Sqrt(sum / n);
    }

    /// <summary>The tissue's displacement at (x, y): bilinear between its grid nodes (docs/simulation.md).</summary>
    private static (double, double) TrueShift(VirtualTissue t, double x, double y)
    {
        int gx = t.MotionGridX, gy = t.MotionGridY;
        double fx = x / t.MotionNodeXPx(1), fy = y / t.MotionNodeYPx(1);
        int ix = Math.Min((int)fx, gx - 2), iy = Math.Min((int)fy, gy - 2);
        double ax = fx - ix, ay = fy - iy;
        double Lerp2(ReadOnlySpan<float> v) =>
            (1 - ay) * ((1 - ax) * v[iy * gx + ix] + ax * v[iy * gx + ix + 1]) + ay * ((1 - ax) * v[(iy + 1) * gx + ix] + ax * v[(iy + 1) * gx + ix + 1]);
        return (Lerp2(t.MotionNodeDxPx), Lerp2(t.MotionNodeDyPx));
    }

    [Fact]
    public void Correct_NoiseOnlyAndBlankFrames_AreLowConfidenceAndKeepTheLastTrustedShift()
    {
        var tissue = TestImages.Tissue(128, new MotionProfile { Mode = MotionMode.Rigid, RmsPx = 2 }, noiseLevel: 0.5, seed: 2);
        var corrector = new MotionCorrector(new MotionCorrectionSettings { PatchPx = 32, MaxShiftPx = 12, ReferenceFrames = 10 }, 128, 128);
        var frame = new ushort[128 * 128];
        MotionSample last = default;
        for (int f = 0; f < 20; f++) { tissue.Render(frame); last = corrector.Correct(frame); }
        Assert.False(last.LowConfidence);

        var rng = new Random(1);
        for (int i = 0; i < frame.Length; i++) frame[i] = (ushort)(400 + 20 * TestImages.Gaussian(rng));
        var noise = corrector.Correct(frame);
        Assert.True(noise.LowConfidence, $"noise frame confidence {noise.Confidence:F2}");
        Assert.Equal(last.ShiftXPx, noise.ShiftXPx);
        Assert.Equal(last.ShiftYPx, noise.ShiftYPx);

        Array.Fill(frame, (ushort)500);
        var blank = corrector.Correct(frame);
        Assert.True(blank.LowConfidence);
        Assert.Equal(0, blank.Confidence);
    }

    [Fact]
    public void Correct_LongBlankPeriod_RebuildsTheReferenceAndCorrectsAgainAfterIt()
    {
        // A shutter closed for longer than LostAfterFrames: the reference is given up, and when light returns a new one
        // is built (the blank frames cannot build one: they do not match each other) and frames are corrected again.
        var tissue = TestImages.Tissue(128, new MotionProfile { Mode = MotionMode.Rigid, RmsPx = 2 }, noiseLevel: 0.5, seed: 7);
        var corrector = new MotionCorrector(new MotionCorrectionSettings { PatchPx = 32, MaxShiftPx = 12, ReferenceFrames = 10 }, 128, 128);
        var frame = new ushort[128 * 128];
        var rng = new Random(3);
        for (int f = 0; f < 15; f++) { tissue.Render(frame); corrector.Correct(frame); }
        Assert.True(corrector.HasReference);
        for (int f = 0; f < corrector.LostAfterFrames + 20; f++)
        {
            for (int i = 0; i < frame.Length; i++) frame[i] = (ushort)(200 + 10 * TestImages.Gaussian(rng)); // dark noise
            corrector.Correct(frame);
        }
        Assert.False(corrector.HasReference);
        Assert.Equal(1, corrector.ReferencesRebuilt);
        MotionSample last = default;
        for (int f = 0; f < 15; f++) { tissue.Render(frame); last = corrector.Correct(frame); }
        Assert.True(corrector.HasReference);
        Assert.False(last.ReferencePending);
        Assert.False(last.LowConfidence);
    }

    [Theory]
    [InlineData(MotionCorrectionMode.Rigid)]
    [InlineData(MotionCorrectionMode.PiecewiseRigid)]
    public void Process_AfterWarmUp_AllocatesNothingPerFrame(MotionCorrectionMode mode)
    {
        var tissue = TestImages.Tissue(128, new MotionProfile { Mode = MotionMode.Rigid, RmsPx = 2 }, noiseLevel: 0.5, seed: 4);
        var settings = new MotionCorrectionSettings { Mode = mode, PatchPx = 32, PiecewisePatchPx = 16, GridX = 3, GridY = 3, MaxShiftPx = 10, ReferenceFrames = 10 };
        var stage = new MotionCorrectionStage(settings, 128, 128, traceCapacityFrames: 1000);
        stage.Start(TestRig.Context());
        var pool = new FramePool(128, 128, 2);
        var frames = Enumerable.Range(0, 40).Select(_ => { var a = new ushort[128 * 128]; tissue.Render(a); return a; }).ToArray();
        var frame = TestRig.Rent(pool, 0);
        for (int f = 0; f < 20; f++) { frames[f].CopyTo(frame.Pixels, 0); frame.FrameIndex = f; stage.Process(frame); }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int f = 20; f < 40; f++) { frames[f].CopyTo(frame.Pixels, 0); frame.FrameIndex = f; stage.Process(frame); }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(40, stage.Trace.Count);
        Assert.Equal(30, stage.Trace.Summary().FramesCorrected);
    }

    [Fact]
    public void Stage_Summary_CountsCorrectedLowConfidenceAndShift()
    {
        var tissue = TestImages.Tissue(128, new MotionProfile { Mode = MotionMode.Rigid, RmsPx = 2 }, noiseLevel: 0.5, seed: 6);
        var stage = new MotionCorrectionStage(new MotionCorrectionSettings { PatchPx = 32, MaxShiftPx = 12, ReferenceFrames = 10 }, 128, 128);
        var context = TestRig.Context();
        stage.Start(context);
        var pool = new FramePool(128, 128, 2);
        var frame = TestRig.Rent(pool, 0);
        for (int f = 0; f < 60; f++)
        {
            if (f == 45) frame.Pixels.AsSpan().Fill(300); // a blank frame (shutter closed)
            else tissue.Render(frame.Pixels);
            frame.FrameIndex = f;
            stage.Process(frame);
        }
        stage.Stop();
        var s = stage.Trace.Summary();
        Assert.Equal(60, s.Frames);
        Assert.Equal(50, s.FramesCorrected);
        Assert.Equal(1, s.LowConfidenceFrames);
        Assert.True(stage.Trace.LowConfidence(45));
        Assert.True(stage.Trace.ReferencePending(0) && !stage.Trace.ReferencePending(10));
        Assert.InRange(s.RmsShiftPx, 0.3, 8);
        Assert.True(s.MaxShiftPx >= s.RmsShiftPx);
        Assert.Contains(context.Events.Snapshot(), e => e.Source == "motion" && e.Message.Contains("50 frames corrected"));
        string csv = Path.Combine(Path.GetTempPath(), $"motion-{Guid.NewGuid():N}.csv");
        try
        {
            stage.Trace.WriteCsv(csv);
            var lines = File.ReadAllLines(csv);
            Assert.Equal("frame,shiftXPx,shiftYPx,confidence,lowConfidence,clipped", lines[0]);
            Assert.Equal(61, lines.Length);
            Assert.StartsWith("45,", lines[46]);
            Assert.Equal("1", lines[46].Split(',')[4]);
        }
        finally { File.Delete(csv); }
    }
}
