using ClosedLoop.Core;

namespace ClosedLoop.Scanning.Assembly;

/// <summary>Resonant-scanner line geometry: samples are binned into pixels of equal spatial size along a sinusoidal trajectory.</summary>
/// <param name="SampleRateHz">Detector sample rate per channel, in Hz.</param>
/// <param name="ResonantFrequencyHz">Resonant scanner frequency, in Hz (a half-period is one line when bidirectional).</param>
/// <param name="WidthPx">Pixels per line.</param>
/// <param name="TemporalFillFraction">Fraction of each half-period, centred on the fastest point, that is imaged.</param>
/// <param name="Bidirectional">True when both half-periods are imaged (odd lines reversed).</param>
public sealed record ResonantGeometry(double SampleRateHz, double ResonantFrequencyHz, int WidthPx, double TemporalFillFraction, bool Bidirectional);

/// <summary>Galvo-galvo line geometry: the beam moves at constant speed, so every pixel spans the same number of samples.</summary>
/// <param name="SamplesPerLine">Detector samples per line period (between consecutive line starts).</param>
/// <param name="FirstActiveSample">Samples after the line start at which the linear ramp begins (turnaround skipped before it).</param>
/// <param name="ActiveSamples">Samples covered by the linear ramp; the rest of the line (flyback/turnaround) is skipped.</param>
/// <param name="WidthPx">Pixels per line.</param>
/// <param name="Bidirectional">True for a triangle scan: odd lines run backwards over the same ramp timing.</param>
public sealed record LinearGeometry(double SamplesPerLine, double FirstActiveSample, double ActiveSamples, int WidthPx, bool Bidirectional);

/// <summary>The samples of one pixel, relative to its line's start: full samples [Start, Start+Count) plus fractional
/// weights on one sample either side.</summary>
internal struct PixelSpan
{
    public int Start;
    public int Count;
    public int LeftIndex;
    public int RightIndex;
    public float LeftWeight;
    public float RightWeight;
    public float Weight;
}

/// <summary>
/// Where each pixel's samples lie within a line, for forward and (bidirectional) backward lines. Pixel edges are
/// real-valued sample positions: samples wholly inside a pixel count fully, a sample cut by an edge is shared by
/// weight, so pixels keep their exact spatial size whatever the sample rate. A line-phase correction (fractional
/// samples, the delay from the line-clock edge to the true mirror position) is added to every edge. The tables are
/// built at construction and on <see cref="SetPhase"/> (call it between frames); assembling never allocates.
/// </summary>
public sealed class PixelMap
{
    private readonly double[] _lo, _hi; // base edges, [direction * W + pixel]
    private readonly PixelSpan[] _table; // [direction * W + pixel], phase applied
    private readonly float[] _weights;

    private PixelMap(int width, bool bidirectional, double linePeriodSamples, double mirrorSum, double[] lo, double[] hi)
    {
        WidthPx = width;
        Bidirectional = bidirectional;
        LinePeriodSamples = linePeriodSamples;
        MirrorSumSamples = mirrorSum;
        _lo = lo;
        _hi = hi;
        _table = new PixelSpan[lo.Length];
        _weights = new float[lo.Length];
        SetPhase(0);
    }

    /// <summary>Pixels per line.</summary>
    public int WidthPx { get; }

    /// <summary>True when odd lines are backward.</summary>
    public bool Bidirectional { get; }

    /// <summary>Detector samples per line period.</summary>
    public double LinePeriodSamples { get; }

    /// <summary>Line-phase correction in samples (positive: the mirror lags the line clock).</summary>
    public double PhaseSamples { get; private set; }

    /// <summary>Sample position s' of a backward line that sees the same place as sample s of a forward line is
    /// <c>MirrorSumSamples + 2·phase − s</c> (used by the phase estimator).</summary>
    public double MirrorSumSamples { get; }

    /// <summary>Lowest sample offset from a line start that any pixel reads (may be negative with a negative phase).</summary>
    public int MinSampleOffset { get; private set; }

    /// <summary>Highest sample offset from a line start that any pixel reads.</summary>
    public int MaxSampleOffset { get; private set; }

    /// <summary>Builds the equal-spatial-size map of a resonant line.</summary>
    /// <remarks>With H = f_s / (2 f_r) samples per half-period and s measured from the line-clock edge (a turnaround),
    /// the beam is at u(s) = sin(π (s − H/2) / H) ∈ [−1, 1]. The imaged fill fraction F spans |u| ≤ u_max = sin(π F / 2);
    /// pixel edges are u_k = u_max (2k/W − 1) and fall at samples s_k = H/2 + (H/π) asin(u_k) (backward lines:
    /// H/2 − (H/π) asin(u_k)).</remarks>
    public static PixelMap Resonant(ResonantGeometry g)
    {
        Check.Positive("assembly.sampleRateHz", g.SampleRateHz);
        Check.InRange("assembly.resonantFrequencyHz", g.ResonantFrequencyHz, 100, 100_000);
        Check.InRange("assembly.widthPx", g.WidthPx, 1, 8192);
        Check.InRange("assembly.temporalFillFraction", g.TemporalFillFraction, 0.05, 0.99);
        double h = g.SampleRateHz / (2 * g.ResonantFrequencyHz);
        int w = g.WidthPx;
        double uMax = Math.Sin(Math.PI * g.TemporalFillFraction / 2);
        int dirs = g.Bidirectional ? 2 : 1;
        var lo = new double[dirs * w];
        var hi = new double[dirs * w];
        for (int p = 0; p < w; p++)
        {
            double a = Math.Asin(uMax * (2.0 * p / w - 1)), b = Math.Asin(uMax * (2.0 * (p + 1) / w - 1));
            lo[p] = h / 2 + h / Math.PI * a;
            hi[p] = h / 2 + h / Math.PI * b;
            if (dirs == 2)
            {
                lo[w + p] = h / 2 - h / Math.PI * b;
                hi[w + p] = h / 2 - h / Math.PI * a;
            }
        }
        return new PixelMap(w, g.Bidirectional, g.Bidirectional ? h : 2 * h, h, lo, hi);
    }

    /// <summary>Builds the constant-samples-per-pixel map of a galvo-galvo line.</summary>
    public static PixelMap Linear(LinearGeometry g)
    {
        Check.Positive("assembly.samplesPerLine", g.SamplesPerLine);
        Check.InRange("assembly.widthPx", g.WidthPx, 1, 8192);
        Check.InRange("assembly.firstActiveSample", g.FirstActiveSample, 0, g.SamplesPerLine);
        Check.InRange("assembly.activeSamples", g.ActiveSamples, 1e-9, g.SamplesPerLine - g.FirstActiveSample);
        int w = g.WidthPx, dirs = g.Bidirectional ? 2 : 1;
        double spp = g.ActiveSamples / w;
        var lo = new double[dirs * w];
        var hi = new double[dirs * w];
        for (int p = 0; p < w; p++)
        {
            lo[p] = g.FirstActiveSample + p * spp;
            hi[p] = g.FirstActiveSample + (p + 1) * spp;
            if (dirs == 2)
            {
                lo[w + p] = g.FirstActiveSample + (w - 1 - p) * spp;
                hi[w + p] = g.FirstActiveSample + (w - p) * spp;
            }
        }
        return new PixelMap(w, g.Bidirectional, g.SamplesPerLine, 2 * g.FirstActiveSample + g.ActiveSamples, lo, hi);
    }

    /// <summary>Sets the line-phase correction (fractional samples) and rebuilds the tables in place. Not thread-safe
    /// with assembly: call between frames, on the thread that assembles.</summary>
    public void SetPhase(double phaseSamples)
    {
        if (double.IsNaN(phaseSamples) || Math.Abs(phaseSamples) > LinePeriodSamples / 2)
            throw new SettingException("assembly.phaseSamples", phaseSamples, $"between {-LinePeriodSamples / 2:G6} and {LinePeriodSamples / 2:G6}");
        PhaseSamples = phaseSamples;
        int min = int.MaxValue, max = int.MinValue;
        for (int i = 0; i < _table.Length; i++)
        {
            double lo = _lo[i] + phaseSamples, hi = _hi[i] + phaseSamples;
            int s0 = (int)Math.Ceiling(lo), s1 = (int)Math.Floor(hi);
            PixelSpan p;
            if (s1 >= s0)
            {
                p.Start = s0;
                p.Count = s1 - s0;
                p.LeftWeight = (float)(s0 - lo);
                p.RightWeight = (float)(hi - s1);
                p.LeftIndex = p.LeftWeight > 0 ? s0 - 1 : s0;
                p.RightIndex = p.RightWeight > 0 ? s1 : s0;
            }
            else
            {
                int i0 = (int)Math.Floor(lo); // the whole pixel lies inside one sample
                p.Start = i0;
                p.Count = 0;
                p.LeftIndex = i0;
                p.RightIndex = i0;
                p.LeftWeight = (float)(hi - lo);
                p.RightWeight = 0;
            }
            p.Weight = (float)(hi - lo);
            _table[i] = p;
            _weights[i] = p.Weight;
            min = Math.Min(min, Math.Min(p.LeftIndex, p.Start));
            max = Math.Max(max, Math.Max(p.RightIndex, p.Start + p.Count - 1));
        }
        MinSampleOffset = min;
        MaxSampleOffset = max;
    }

    /// <summary>Samples (fractional) that fall in each pixel of a forward or backward line, pixel order left to right.</summary>
    public ReadOnlySpan<float> SampleCounts(bool backward = false) =>
        _weights.AsSpan(backward && Bidirectional ? WidthPx : 0, WidthPx);

    /// <summary>First sample offset (fractional, phase applied) of the imaged part of a forward line.</summary>
    public double FirstActiveSample => _lo[0] + PhaseSamples;

    /// <summary>One past the last sample offset (fractional, phase applied) of the imaged part of a forward line.</summary>
    public double EndActiveSample => _hi[WidthPx - 1] + PhaseSamples;

    internal ReadOnlySpan<PixelSpan> Table(bool backward) => _table.AsSpan(backward && Bidirectional ? WidthPx : 0, WidthPx);
}
