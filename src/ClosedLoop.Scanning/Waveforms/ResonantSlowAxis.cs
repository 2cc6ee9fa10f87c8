using ClosedLoop.Core;

namespace ClosedLoop.Scanning.Waveforms;

/// <summary>
/// The slow galvo (Y) of a resonant-galvo scanner, synchronised to the resonant line clock. Line k occupies
/// [k·T_line, (k+1)·T_line) after the frame's first line-clock edge (the AO task is retriggered on it every frame);
/// the beam is on in the middle <c>TemporalFillFraction</c> of each forward half-period. Y either holds one level
/// per line and steps (a smoothstep) while the beam is blanked at the turnaround, or ramps linearly; after the last
/// line it flies back to the first level over as few whole line periods as the galvo allows. Writing a frame
/// does not allocate.
/// </summary>
public sealed class ResonantSlowAxis
{
    private readonly GalvoAxis _y;
    private readonly ResonantScanSettings _s;
    private readonly double _linePeriodS, _deadBeforeS, _deadAfterS, _stepDeg, _firstLevelDeg, _rampSlopeDegPerS;
    private readonly CubicMove _flyback;
    private readonly double _flybackStartS;

    /// <summary>Builds and checks the slow-axis waveform.</summary>
    /// <exception cref="SettingException">A setting is out of range.</exception>
    /// <exception cref="ScanInfeasibleException">The galvo cannot follow the requested scan.</exception>
    public ResonantSlowAxis(GalvoAxis y, ResonantScanSettings settings, double aoSampleRateHz)
    {
        AxisLimits.Validate("galvoY", y);
        Check.InRange("resonant.linesPerFrame", settings.LinesPerFrame, 1, 8192);
        Check.InRange("resonant.resonantFrequencyHz", settings.ResonantFrequencyHz, 100, 100_000);
        Check.InRange("resonant.temporalFillFraction", settings.TemporalFillFraction, 0.05, 0.99);
        Check.InRange("resonant.minFlybackLines", settings.MinFlybackLines, 1, 8192);
        Check.Positive("aoSampleRateHz", aoSampleRateHz);
        AxisLimits.CheckSweep("resonant.amplitudeYDeg", y, settings.AmplitudeYDeg, settings.OffsetYDeg);
        _y = y;
        _s = settings;
        double halfS = 0.5 / settings.ResonantFrequencyHz;
        _linePeriodS = settings.Bidirectional ? halfS : 2 * halfS;
        double f = settings.TemporalFillFraction;
        _deadAfterS = 0.5 * (1 - f) * halfS;                        // turnaround before the active window of a line
        _deadBeforeS = _linePeriodS - 0.5 * (1 + f) * halfS;        // after the active window, up to the next edge
        int lines = settings.LinesPerFrame;
        double ay = settings.AmplitudeYDeg, offY = settings.OffsetYDeg;
        _stepDeg = 2 * ay / lines;
        _firstLevelDeg = offY - ay + 0.5 * _stepDeg;
        _rampSlopeDegPerS = 2 * ay / (lines * _linePeriodS);

        if (settings.Motion == SlowAxisMotion.Stepped && lines > 1)
        {
            double tt = _deadBeforeS + _deadAfterS;
            double maxStep = Math.Min(y.MaxSlewDegPerS * tt / 1.5, y.MaxAccelDegPerS2 * tt * tt / 6);
            if (_stepDeg > maxStep)
                throw new ScanInfeasibleException("resonant.amplitudeYDeg", ay, maxStep * lines / 2, "at most", "°",
                    $"{AxisLimits.Describe(y)} stepping once per line within a {ScanInfeasibleException.F(tt * 1e6)} µs turnaround (or use ramped motion)");
        }
        else if (_rampSlopeDegPerS > y.MaxSlewDegPerS)
        {
            throw new ScanInfeasibleException("resonant.amplitudeYDeg", ay, y.MaxSlewDegPerS * lines * _linePeriodS / 2, "at most", "°", AxisLimits.Describe(y));
        }

        bool stepped = settings.Motion == SlowAxisMotion.Stepped;
        double pStart = stepped ? _firstLevelDeg + (lines - 1) * _stepDeg : offY + ay;
        double pEnd = stepped ? _firstLevelDeg : offY - ay;
        double vEnds = stepped ? 0 : _rampSlopeDegPerS;
        _flybackStartS = stepped ? lines * _linePeriodS - _deadBeforeS : lines * _linePeriodS;
        double limit = AxisLimits.MaxAbsAngleDeg(y);
        int flybackLines = -1;
        CubicMove move = default;
        for (int n = settings.MinFlybackLines; n <= 4 * lines + 64; n++)
        {
            move = new CubicMove(pStart, vEnds, pEnd, vEnds, (lines + n) * _linePeriodS - _flybackStartS);
            if (move.MaxAbsVelocity <= y.MaxSlewDegPerS && move.MaxAbsAccel <= y.MaxAccelDegPerS2 && move.MaxAbsPosition <= limit)
            {
                flybackLines = n;
                break;
            }
        }
        if (flybackLines < 0)
            throw new ScanInfeasibleException("resonant.amplitudeYDeg", ay, 0, "at most", "°", AxisLimits.Describe(y) + " (no flyback fits)");
        _flyback = move;

        double fs = aoSampleRateHz;
        double spl = _linePeriodS * fs;
        var on = new SampleWindow[lines];
        for (int k = 0; k < lines; k++)
        {
            int a = (int)Math.Ceiling((k * _linePeriodS + _deadAfterS) * fs);
            int b = (int)Math.Floor((k * _linePeriodS + _deadAfterS + f * halfS) * fs);
            on[k] = new SampleWindow(a, Math.Max(0, b - a));
        }
        int samplesPerFrame = (int)Math.Floor((lines + flybackLines) * spl);
        Plan = new ScanPlan(fs, spl, lines, flybackLines, samplesPerFrame, f * halfS * fs, f * halfS / _linePeriodS, settings.Bidirectional, on);
    }

    /// <summary>Timing of one frame (AO samples; the line period is fractional when it is not a multiple of the AO clock).</summary>
    public ScanPlan Plan { get; }

    /// <summary>Y angle in degrees at <paramref name="timeS"/> after the frame's first line-clock edge.</summary>
    public double AngleDegAt(double timeS)
    {
        int lines = _s.LinesPerFrame;
        if (timeS >= _flybackStartS) return _flyback.Position(Math.Min(timeS - _flybackStartS, _flyback.DurationS));
        if (_s.Motion == SlowAxisMotion.Ramped) return _s.OffsetYDeg - _s.AmplitudeYDeg + _rampSlopeDegPerS * timeS;
        int k = Math.Min((int)(timeS / _linePeriodS), lines - 1);
        double u = timeS - k * _linePeriodS;
        double level = _firstLevelDeg + k * _stepDeg;
        double tt = _deadBeforeS + _deadAfterS;
        if (u >= _linePeriodS - _deadBeforeS && k < lines - 1) return level + _stepDeg * SmoothStep((u - (_linePeriodS - _deadBeforeS)) / tt);
        if (u < _deadAfterS && k > 0) return level - _stepDeg + _stepDeg * SmoothStep((u + _deadBeforeS) / tt);
        return level;
    }

    /// <summary>Writes one frame of Y command voltages (at least <see cref="ScanPlan.SamplesPerFrame"/> samples). No allocation.</summary>
    public void WriteFrame(Span<double> yVolts)
    {
        int total = Plan.SamplesPerFrame;
        if (yVolts.Length < total) throw new ArgumentException($"Need {total} samples.", nameof(yVolts));
        double dt = 1 / Plan.AoSampleRateHz, vpd = _y.VoltsPerDeg;
        for (int n = 0; n < total; n++) yVolts[n] = vpd * AngleDegAt(n * dt);
    }

    private static double SmoothStep(double s) => s <= 0 ? 0 : s >= 1 ? 1 : s * s * (3 - 2 * s);
}
