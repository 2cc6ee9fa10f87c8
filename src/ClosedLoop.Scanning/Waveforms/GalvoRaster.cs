using ClosedLoop.Core;

namespace ClosedLoop.Scanning.Waveforms;

/// <summary>
/// Galvo-galvo raster waveforms. The fast axis (X) is a linear ramp over the active part of each line followed by
/// a flyback (sawtooth: a cubic move back to the start, continuous in position and velocity) or a turnaround
/// (triangle: a constant-acceleration parabola), each as short as the galvo's slew, acceleration and angle allow.
/// The slow axis (Y) ramps linearly over the imaged lines, then flies back over as few whole lines as its limits
/// allow. Everything is checked when the generator is built; an infeasible request throws
/// <see cref="ScanInfeasibleException"/>. Writing a frame copies a precomputed line template and does not allocate.
/// </summary>
public sealed class GalvoRaster
{
    private readonly double[] _xTemplateV;
    private readonly GalvoAxis _y;
    private readonly double _yStartDeg, _ySlopeDegPerSample;
    private readonly CubicMove _yFlyback;
    private readonly int _spl;

    /// <summary>Builds and checks the waveforms for <paramref name="settings"/> at <paramref name="aoSampleRateHz"/>.</summary>
    /// <exception cref="SettingException">A setting is out of range.</exception>
    /// <exception cref="ScanInfeasibleException">The galvos cannot follow the requested scan.</exception>
    public GalvoRaster(GalvoAxis x, GalvoAxis y, RasterSettings settings, double aoSampleRateHz)
    {
        AxisLimits.Validate("galvoX", x);
        AxisLimits.Validate("galvoY", y);
        Check.InRange("raster.linesPerFrame", settings.LinesPerFrame, 1, 8192);
        Check.Positive("raster.lineRateHz", settings.LineRateHz);
        Check.InRange("raster.maxFillFraction", settings.MaxFillFraction, 0.05, 1.0);
        Check.Positive("aoSampleRateHz", aoSampleRateHz);
        AxisLimits.CheckSweep("raster.amplitudeXDeg", x, settings.AmplitudeXDeg, settings.OffsetXDeg);
        AxisLimits.CheckSweep("raster.amplitudeYDeg", y, settings.AmplitudeYDeg, settings.OffsetYDeg);
        _y = y;
        bool tri = settings.Pattern == FastAxisPattern.Triangle;

        double maxLineRate = aoSampleRateHz / 8;
        if (settings.LineRateHz > maxLineRate)
            throw new ScanInfeasibleException("raster.lineRateHz", settings.LineRateHz, maxLineRate, "at most", "Hz",
                $"an AO clock of {ScanInfeasibleException.F(aoSampleRateHz)} Hz (8 samples per line or more)");
        int spl = (int)Math.Round(aoSampleRateHz / settings.LineRateHz);
        _spl = spl;
        int active = FindActiveSamples(x, settings, spl, aoSampleRateHz, tri);
        if (active < 0)
        {
            double best = AxisLimits.LargestFeasible(1e-3, settings.LineRateHz, rate =>
                FindActiveSamples(x, settings, (int)Math.Round(aoSampleRateHz / rate), aoSampleRateHz, tri, coarse: true) > 0);
            throw new ScanInfeasibleException("raster.lineRateHz", settings.LineRateHz, Math.Floor(best * 0.999 * 10) / 10, "at most", "Hz",
                $"{AxisLimits.Describe(x)} sweeping ±{ScanInfeasibleException.F(settings.AmplitudeXDeg)}° with a fill fraction of at most {ScanInfeasibleException.F(settings.MaxFillFraction)}");
        }

        // Fast-axis template: one line (sawtooth) or a forward + backward pair (triangle), in volts.
        double a = settings.AmplitudeXDeg, off = settings.OffsetXDeg, fs = aoSampleRateHz;
        double v = 2 * a / (active / fs);
        _xTemplateV = new double[tri ? 2 * spl : spl];
        if (!tri)
        {
            var fly = new CubicMove(off + a, v, off - a, v, (spl - active) / fs);
            for (int n = 0; n < spl; n++)
                _xTemplateV[n] = x.VoltsPerDeg * (n < active ? off - a + 2 * a * n / active : fly.Position((n - active) / fs));
        }
        else
        {
            var turnHigh = new CubicMove(off + a, v, off + a, -v, (spl - active) / fs);
            var turnLow = new CubicMove(off - a, -v, off - a, v, (spl - active) / fs);
            for (int n = 0; n < spl; n++)
            {
                _xTemplateV[n] = x.VoltsPerDeg * (n < active ? off - a + 2 * a * n / active : turnHigh.Position((n - active) / fs));
                _xTemplateV[spl + n] = x.VoltsPerDeg * (n < active ? off + a - 2 * a * n / active : turnLow.Position((n - active) / fs));
            }
        }

        // Slow axis: a ramp over the imaged lines, then the shortest whole-line flyback the galvo can follow.
        int lines = settings.LinesPerFrame;
        double ay = settings.AmplitudeYDeg, offY = settings.OffsetYDeg;
        double linePeriodS = spl / fs;
        double vy = 2 * ay / (lines * linePeriodS);
        double yLimit = AxisLimits.MaxAbsAngleDeg(y);
        int flybackLines = -1;
        if (vy <= y.MaxSlewDegPerS)
        {
            for (int n = 1; n <= 4 * lines + 16; n++)
            {
                var m = new CubicMove(offY + ay, vy, offY - ay, vy, n * linePeriodS);
                if (m.MaxAbsVelocity <= y.MaxSlewDegPerS && m.MaxAbsAccel <= y.MaxAccelDegPerS2 && m.MaxAbsPosition <= yLimit)
                {
                    flybackLines = n;
                    break;
                }
            }
        }
        if (flybackLines < 0)
            throw new ScanInfeasibleException("raster.amplitudeYDeg", ay, 0.5 * y.MaxSlewDegPerS * lines * linePeriodS / 2, "at most", "°",
                $"{AxisLimits.Describe(y)} at {ScanInfeasibleException.F(lines)} lines of {ScanInfeasibleException.F(linePeriodS * 1e3)} ms");
        if (tri && (lines + flybackLines) % 2 == 1) flybackLines++; // keep the X pattern in phase from frame to frame
        _yStartDeg = offY - ay;
        _ySlopeDegPerSample = 2 * ay / (lines * (double)spl);
        _yFlyback = new CubicMove(offY + ay, vy, offY - ay, vy, flybackLines * linePeriodS);

        var on = new SampleWindow[lines];
        for (int k = 0; k < lines; k++) on[k] = new SampleWindow(k * spl, active);
        Plan = new ScanPlan(fs, spl, lines, flybackLines, (lines + flybackLines) * spl, active, active / (double)spl, tri, on);
    }

    /// <summary>Timing of one frame.</summary>
    public ScanPlan Plan { get; }

    /// <summary>Writes one frame of X and Y command voltages (each span at least <see cref="ScanPlan.SamplesPerFrame"/> long). No allocation.</summary>
    public void WriteFrame(Span<double> xVolts, Span<double> yVolts)
    {
        int total = Plan.SamplesPerFrame;
        if (xVolts.Length < total || yVolts.Length < total)
            throw new ArgumentException($"Each span needs {total} samples.");
        int period = _xTemplateV.Length;
        for (int start = 0; start < total; start += period)
            _xTemplateV.AsSpan(0, Math.Min(period, total - start)).CopyTo(xVolts[start..]);

        int ramp = Plan.LinesPerFrame * _spl;
        double vpd = _y.VoltsPerDeg, fs = Plan.AoSampleRateHz;
        for (int n = 0; n < ramp; n++) yVolts[n] = vpd * (_yStartDeg + _ySlopeDegPerSample * n);
        for (int n = ramp; n < total; n++) yVolts[n] = vpd * _yFlyback.Position((n - ramp) / fs);
    }

    /// <summary>Active (linear-ramp) samples per line for a line of <paramref name="spl"/> samples, or -1 when no flyback fits.</summary>
    private static int FindActiveSamples(GalvoAxis x, RasterSettings s, int spl, double fs, bool tri, bool coarse = false)
    {
        if (spl < 8) return -1;
        double a = s.AmplitudeXDeg, off = Math.Abs(s.OffsetXDeg), limit = AxisLimits.MaxAbsAngleDeg(x);
        int minDead = Math.Max(2, (int)Math.Ceiling((1 - s.MaxFillFraction) * spl - 1e-9));
        int step = coarse ? Math.Max(1, spl / 400) : 1;
        for (int dead = minDead; dead <= spl - 2; dead += step)
        {
            int active = spl - dead;
            double v = 2 * a / (active / fs);
            if (v > x.MaxSlewDegPerS) return -1; // shorter active ramps are only faster
            var m = tri
                ? new CubicMove(off + a, v, off + a, -v, dead / fs)
                : new CubicMove(off + a, v, off - a, v, dead / fs);
            if (m.MaxAbsVelocity <= x.MaxSlewDegPerS && m.MaxAbsAccel <= x.MaxAccelDegPerS2 && m.MaxAbsPosition <= limit)
                return active;
        }
        return -1;
    }
}
