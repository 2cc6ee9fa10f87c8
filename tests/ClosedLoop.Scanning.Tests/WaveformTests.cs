using ClosedLoop.Core;
using ClosedLoop.Scanning.Waveforms;

namespace ClosedLoop.Scanning.Tests;

public class WaveformTests
{
    private const double Ao = 1e6;
    private static readonly GalvoAxis X = new("galvoX", VoltsPerDeg: 0.5, MaxAngleDeg: 12, MaxSlewDegPerS: 60_000, MaxAccelDegPerS2: 1e9, AoMinV: -10, AoMaxV: 10);
    private static readonly GalvoAxis Y = X with { Name = "galvoY" };

    private static (double MaxSlew, double MaxAccel, double MaxAbsDeg) Derivatives(ReadOnlySpan<double> volts, double voltsPerDeg, double fs)
    {
        double slew = 0, accel = 0, peak = 0;
        for (int i = 0; i < volts.Length; i++)
        {
            peak = Math.Max(peak, Math.Abs(volts[i] / voltsPerDeg));
            if (i > 0) slew = Math.Max(slew, Math.Abs(volts[i] - volts[i - 1]) / voltsPerDeg * fs);
            if (i > 1) accel = Math.Max(accel, Math.Abs(volts[i] - 2 * volts[i - 1] + volts[i - 2]) / voltsPerDeg * fs * fs);
        }
        return (slew, accel, peak);
    }

    [Theory]
    [InlineData(FastAxisPattern.Sawtooth)]
    [InlineData(FastAxisPattern.Triangle)]
    public void WriteFrame_Raster_StaysWithinSlewAccelAndAngle(FastAxisPattern pattern)
    {
        var raster = new GalvoRaster(X, Y, new RasterSettings(64, 500, AmplitudeXDeg: 5, AmplitudeYDeg: 5, Pattern: pattern), Ao);
        var plan = raster.Plan;
        var x = new double[2 * plan.SamplesPerFrame];
        var y = new double[plan.SamplesPerFrame];
        raster.WriteFrame(x, y);
        raster.WriteFrame(x.AsSpan(plan.SamplesPerFrame), y); // two frames back to back: the wrap must be smooth too

        var (slew, accel, peak) = Derivatives(x, X.VoltsPerDeg, Ao);
        Assert.True(slew <= X.MaxSlewDegPerS * 1.0001, $"slew {slew}");
        Assert.True(accel <= X.MaxAccelDegPerS2 * 1.0001, $"accel {accel}");
        Assert.True(peak <= X.MaxAngleDeg, $"peak {peak}");
        var (ySlew, yAccel, _) = Derivatives(y, Y.VoltsPerDeg, Ao);
        Assert.True(ySlew <= Y.MaxSlewDegPerS && yAccel <= Y.MaxAccelDegPerS2);
        Assert.Equal(-5 * X.VoltsPerDeg, x[0], 9);
        Assert.Equal(500, Ao / plan.SamplesPerLine, 6);
        Assert.InRange(plan.TemporalFillFraction, 0.5, 0.95);
        Assert.Equal(plan.ActiveSamplesPerLine / plan.SamplesPerLine, plan.TemporalFillFraction, 9);
    }

    [Fact]
    public void WriteFrame_SawtoothActivePart_IsALinearRampOverTheSweep()
    {
        var raster = new GalvoRaster(X, Y, new RasterSettings(8, 500, 4, 4), Ao);
        var x = new double[raster.Plan.SamplesPerFrame];
        raster.WriteFrame(x, new double[x.Length]);
        int active = (int)raster.Plan.ActiveSamplesPerLine;

        double step = x[1] - x[0];
        for (int i = 1; i < active; i++) Assert.Equal(step, x[i] - x[i - 1], 9);
        Assert.Equal(2 * 4 * X.VoltsPerDeg, step * active, 6);
    }

    [Fact]
    public void Constructor_LineRateTooFastForGalvo_NamesSettingAndNearestFeasibleRate()
    {
        var settings = new RasterSettings(512, 4000, AmplitudeXDeg: 10, AmplitudeYDeg: 5);

        var e = Assert.Throws<ScanInfeasibleException>(() => new GalvoRaster(X, Y, settings, Ao));

        Assert.Equal("raster.lineRateHz", e.Setting);
        Assert.InRange(e.NearestFeasible, 100, 3999);
        Assert.Contains("galvoX", e.Message);
        Assert.Contains("at most", e.Message);
        Assert.IsAssignableFrom<SettingException>(e);
        var ok = new GalvoRaster(X, Y, settings with { LineRateHz = e.NearestFeasible }, Ao); // the suggestion works
        Assert.True(ok.Plan.TemporalFillFraction > 0);
    }

    [Fact]
    public void Constructor_SweepBeyondMaxAngle_SuggestsLargestAmplitude()
    {
        var e = Assert.Throws<ScanInfeasibleException>(() => new GalvoRaster(X, Y, new RasterSettings(64, 500, 11, 5, OffsetXDeg: 2), Ao));

        Assert.Equal("raster.amplitudeXDeg", e.Setting);
        Assert.Equal(10, e.NearestFeasible, 9);
    }

    [Fact]
    public void Constructor_SweepBeyondAoRange_SuggestsLargestAmplitude()
    {
        var tight = X with { VoltsPerDeg = 1, AoMinV = -5, AoMaxV = 5 };

        var e = Assert.Throws<ScanInfeasibleException>(() => new GalvoRaster(tight, Y, new RasterSettings(64, 500, 8, 5), Ao));

        Assert.Equal(5, e.NearestFeasible, 9);
        Assert.Contains("AO", e.Message);
    }

    [Fact]
    public void WriteBlanking_Raster_BeamOffDuringFlybackAndSlowAxisReturn()
    {
        var raster = new GalvoRaster(X, Y, new RasterSettings(16, 500, 5, 5), Ao);
        var plan = raster.Plan;
        var blank = new double[plan.SamplesPerFrame];
        plan.WriteBlanking(blank, BlankingLevels.Digital);
        int spl = (int)plan.SamplesPerLine, active = (int)plan.ActiveSamplesPerLine;

        Assert.True(plan.FlybackLines >= 1);
        for (int line = 0; line < plan.LinesPerFrame; line++)
        {
            Assert.Equal(5.0, blank[line * spl + active / 2]);
            Assert.Equal(0.0, blank[line * spl + active + 1]); // X flyback
        }
        Assert.All(blank.AsSpan(plan.LinesPerFrame * spl).ToArray(), v => Assert.Equal(0.0, v)); // Y flyback
        Assert.Equal(plan.SamplesPerFrame, plan.BeamOnWindows.Sum(w => w.Length) + plan.BlankedWindows.Sum(w => w.Length));
        Assert.False(plan.IsBeamOn(active + 1));
        Assert.True(plan.IsBeamOn(spl + 3));
    }

    [Fact]
    public void WriteFrame_ResonantStepped_HoldsOneLevelPerLineWhileBeamIsOn()
    {
        var fastY = Y with { MaxSlewDegPerS = 1e5, MaxAccelDegPerS2 = 5e9 };
        var axis = new ResonantSlowAxis(fastY, new ResonantScanSettings(64, 7910, true, 0.7, AmplitudeYDeg: 3), Ao);
        var plan = axis.Plan;
        var y = new double[plan.SamplesPerFrame];
        axis.WriteFrame(y);

        Assert.Equal(64, plan.BeamOnWindows.Count);
        double previous = double.NegativeInfinity;
        foreach (var w in plan.BeamOnWindows)
        {
            var seg = y.AsSpan(w.Start, w.Length).ToArray();
            Assert.All(seg, v => Assert.Equal(seg[0], v, 12));
            Assert.True(seg[0] > previous);
            previous = seg[0];
        }
        Assert.Equal(0.5 / 7910 * Ao, plan.SamplesPerLine, 9);
        var (slew, accel, peak) = Derivatives(y, Y.VoltsPerDeg, Ao);
        Assert.True(slew <= fastY.MaxSlewDegPerS && accel <= fastY.MaxAccelDegPerS2 * 1.0001 && peak <= 3, $"{slew} {accel} {peak}");
    }

    [Fact]
    public void WriteBlanking_Resonant_BeamOffAtEveryTurnaroundAndDuringFlyback()
    {
        var axis = new ResonantSlowAxis(Y, new ResonantScanSettings(32, 7910, true, 0.7, 2, Motion: SlowAxisMotion.Ramped, MinFlybackLines: 3), Ao);
        var plan = axis.Plan;
        var blank = new double[plan.SamplesPerFrame];
        plan.WriteBlanking(blank, new BlankingLevels(OnV: 1.2, OffV: 0));

        for (int line = 1; line < plan.LinesPerFrame; line++)
        {
            Assert.Equal(0.0, blank[(int)Math.Round(line * plan.SamplesPerLine)]);        // turnaround at the line-clock edge
            Assert.Equal(1.2, blank[(int)Math.Round((line + 0.5) * plan.SamplesPerLine)]); // centre of the line, fastest beam
        }
        Assert.True(plan.FlybackLines >= 3);
        int flybackStart = (int)Math.Ceiling(plan.LinesPerFrame * plan.SamplesPerLine);
        Assert.All(blank.AsSpan(flybackStart).ToArray(), v => Assert.Equal(0.0, v));
        Assert.InRange(plan.BeamOnWindows.Sum(w => w.Length) / (double)(plan.LinesPerFrame * plan.SamplesPerLine), 0.68, 0.70);
    }

    [Fact]
    public void WriteFrame_ResonantRamped_FliesBackToStartOfFrame()
    {
        var axis = new ResonantSlowAxis(Y, new ResonantScanSettings(32, 7910, false, 0.7, 2, Motion: SlowAxisMotion.Ramped), Ao);
        var y = new double[axis.Plan.SamplesPerFrame];
        axis.WriteFrame(y);

        Assert.Equal(-2 * Y.VoltsPerDeg, y[0], 9);
        Assert.Equal(-2 * Y.VoltsPerDeg, y[^1], 2);
        Assert.True(y[(int)(16 * axis.Plan.SamplesPerLine)] > y[(int)(8 * axis.Plan.SamplesPerLine)]);
        Assert.Equal(0.7 / 2, axis.Plan.TemporalFillFraction, 9);
    }

    [Fact]
    public void Constructor_ResonantStepTooFastForSlowGalvo_SuggestsAmplitude()
    {
        var sluggish = Y with { MaxAccelDegPerS2 = 1e5 };

        var e = Assert.Throws<ScanInfeasibleException>(() => new ResonantSlowAxis(sluggish, new ResonantScanSettings(64, 7910, true, 0.7, 5), Ao));

        Assert.Equal("resonant.amplitudeYDeg", e.Setting);
        Assert.True(e.NearestFeasible < 5);
        new ResonantSlowAxis(sluggish, new ResonantScanSettings(64, 7910, true, 0.7, e.NearestFeasible * 0.999), Ao);
    }

    private static ScanPlan ResonantPlan(int lines = 64) =>
        new ResonantSlowAxis(Y, new ResonantScanSettings(lines, 7910, true, 0.7, 3, Motion: SlowAxisMotion.Ramped), Ao).Plan;

    private static readonly EtlAxis Etl = new("etl", VoltsPerUm: 0.01, ZeroV: 2, MinZUm: -200, MaxZUm: 200, SettleS: 0.002, AoMinV: 0, AoMaxV: 5);

    [Fact]
    public void EtlVolume_StepsPerPlane_HasPlanesAndBlankedFlybackFrames()
    {
        var plan = ResonantPlan();
        var volume = new EtlVolume(Etl, new EtlVolumeSettings(5, -50, 25, FlybackFrames: 2), plan);
        var etl = new double[plan.SamplesPerFrame];
        var blank = new double[plan.SamplesPerFrame];

        Assert.Equal(7, volume.FramesPerVolume);
        Assert.Equal(new[] { -50.0, -25, 0, 25, 50 }, volume.PlaneDepthsUm);
        for (int f = 0; f < volume.FramesPerVolume; f++)
        {
            volume.WriteFrame(f, etl);
            volume.WriteBlanking(f, blank, BlankingLevels.Digital);
            if (f < 5)
            {
                Assert.Equal(2 + 0.01 * volume.PlaneDepthsUm[f], etl[plan.BeamOnWindows[^1].Start], 12);
                Assert.Contains(5.0, blank);
            }
            else
            {
                Assert.All(blank, v => Assert.Equal(0.0, v));
                Assert.Equal(2 - 0.5, etl[0], 12);
            }
        }
        Assert.True(volume.SettleBlankSamples > 0); // 2 ms settling outlasts a ~0.13 ms Y flyback
        volume.WriteBlanking(1, blank, BlankingLevels.Digital);
        Assert.All(blank.AsSpan(0, volume.SettleBlankSamples).ToArray(), v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void EtlVolume_ReturnCannotSettle_SuggestsFlybackFrames()
    {
        var plan = ResonantPlan(lines: 16);
        var slow = Etl with { SettleS = 0.02 };

        var e = Assert.Throws<ScanInfeasibleException>(() => new EtlVolume(slow, new EtlVolumeSettings(4, 0, 10, FlybackFrames: 0), plan));

        Assert.Equal("etlVolume.flybackFrames", e.Setting);
        new EtlVolume(slow, new EtlVolumeSettings(4, 0, 10, FlybackFrames: (int)e.NearestFeasible), plan);
    }

    [Fact]
    public void EtlVolume_PlanesBeyondRange_SuggestsMostPlanes()
    {
        var e = Assert.Throws<ScanInfeasibleException>(() => new EtlVolume(Etl, new EtlVolumeSettings(20, 0, 20), ResonantPlan()));

        Assert.Equal("etlVolume.planes", e.Setting);
        Assert.Equal(11, e.NearestFeasible); // 0..200 µm in 20 µm steps
    }

    [Fact]
    public void EtlVolume_Ramped_MovesContinuouslyThroughTheVolume()
    {
        var plan = ResonantPlan();
        var volume = new EtlVolume(Etl, new EtlVolumeSettings(3, 0, 30, 1, EtlMotion.Ramped), plan);
        var a = new double[plan.SamplesPerFrame];
        var b = new double[plan.SamplesPerFrame];
        volume.WriteFrame(0, a);
        volume.WriteFrame(1, b);

        Assert.True(a[^1] > a[0]);
        Assert.InRange(b[0] - a[^1], 0, 2 * (a[1] - a[0])); // one AO step apart: no jump between frames
    }
}
