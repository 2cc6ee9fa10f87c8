using ClosedLoop.Core;
using ClosedLoop.FirmwareSim.Daq;

namespace ClosedLoop.FirmwareSim.Optics;

/// <summary>Geometry and detector settings of a simulated resonant scan head.</summary>
/// <param name="ResonantFrequencyHz">Resonant mirror frequency (one line clock edge per period, at the turnaround
/// before a forward half-line).</param>
/// <param name="TemporalFillFraction">Fraction of each half-period, centred on the fastest point, inside the field of view.</param>
/// <param name="LineClockPhaseNs">Time of the first line clock edge on the device clock, ns.</param>
/// <param name="MirrorLagNs">How far the real mirror lags its line clock, ns: the line phase frame assembly must estimate.</param>
/// <param name="GalvoYAoChannel">Index of the galvo Y output among the device's analog outputs.</param>
/// <param name="GalvoYTopV">Galvo Y voltage that points at the top edge of the field of view.</param>
/// <param name="GalvoYBottomV">Galvo Y voltage that points at the bottom edge of the field of view.</param>
/// <param name="CodesPerPhoton">ADC codes per detected photon (PMT gain × digitiser scaling).</param>
/// <param name="OffsetCodes">ADC offset of the digitiser, codes.</param>
/// <param name="DarkNoiseCodes">RMS electronic noise per sample, codes.</param>
public sealed record ScanHeadSettings(
    double ResonantFrequencyHz,
    double TemporalFillFraction,
    double LineClockPhaseNs,
    double MirrorLagNs,
    int GalvoYAoChannel,
    double GalvoYTopV,
    double GalvoYBottomV,
    double CodesPerPhoton,
    double OffsetCodes = 0,
    double DarkNoiseCodes = 2)
{
    /// <summary>Galvo-galvo scan heads: index of the galvo X output among the device's analog outputs; null for a
    /// resonant mirror (x then follows the resonant phase).</summary>
    public int? GalvoXAoChannel { get; init; }

    /// <summary>Galvo X voltage that points at the left edge of the field of view.</summary>
    public double GalvoXLeftV { get; init; }

    /// <summary>Galvo X voltage that points at the right edge of the field of view.</summary>
    public double GalvoXRightV { get; init; }

    /// <summary>Detector samples per pixel on average (galvo-galvo: active samples per line ÷ pixels); null derives it
    /// from the resonant geometry and the sample rate.</summary>
    public double? SamplesPerPixel { get; init; }

    /// <summary>Checks every value.</summary>
    public void Validate()
    {
        Check.InRange("scanHead.resonantFrequencyHz", ResonantFrequencyHz, 100, 100_000);
        Check.InRange("scanHead.temporalFillFraction", TemporalFillFraction, 0.05, 0.99);
        Check.InRange("scanHead.mirrorLagNs", MirrorLagNs, -1e6, 1e6);
        Check.InRange("scanHead.galvoYAoChannel", GalvoYAoChannel, 0, 63);
        if (GalvoYTopV == GalvoYBottomV) throw new SettingException("scanHead.galvoYBottomV", GalvoYBottomV, "different from galvoYTopV");
        Check.InRange("scanHead.codesPerPhoton", CodesPerPhoton, 1e-3, 1e4);
        Check.InRange("scanHead.darkNoiseCodes", DarkNoiseCodes, 0, 1e4);
    }
}

/// <summary>
/// The optical half of a simulated two-photon rig: a resonant mirror (x) and a galvo (y) steer the beam over the
/// virtual tissue, and a PMT turns the photons collected at each detector sample into ADC codes. The mirror's
/// position follows from the sample time (a sinusoid locked to the line clock, lagging it by
/// <see cref="ScanHeadSettings.MirrorLagNs"/>); the galvo's from the voltage the simulated DAQ outputs at that time;
/// the photon flux from the tissue's expected image, which advances one tissue frame per frame period of sample time
/// (so stimulation and spiking stay on the same clock as the samples). Each sample draws its own shot noise; outside
/// the field of view (turnarounds, galvo flyback) the beam is blanked and only dark noise remains.
/// </summary>
public sealed class ScanHeadSimulator
{
    private const int PhaseTableSize = 1 << 16;
    private readonly ScanHeadSettings _s;
    private readonly VirtualTissue _tissue;
    private readonly float[] _expected;
    private readonly int[] _columnOfPhase; // −1 outside the field of view
    private readonly int _width, _height;
    private readonly double _photonsPerSampleScale;
    private SimRandom _rng;
    private long _tissueFrames;
    private readonly object _gate = new();

    /// <summary>Builds the scan head over <paramref name="tissue"/>; <paramref name="sampleRateHz"/> is the digitiser rate.</summary>
    public ScanHeadSimulator(VirtualTissue tissue, ScanHeadSettings settings, double sampleRateHz, int seed)
    {
        settings.Validate();
        Check.Positive("scanHead.sampleRateHz", sampleRateHz);
        _s = settings;
        _tissue = tissue;
        _width = tissue.WidthPx;
        _height = tissue.HeightPx;
        _expected = new float[_width * _height];
        _rng = new SimRandom(seed, 0x5CA7);
        // One resonant period as a phase table: forward half then backward half, each a sinusoidal sweep.
        _columnOfPhase = new int[PhaseTableSize];
        double uMax = Math.Sin(Math.PI * settings.TemporalFillFraction / 2);
        for (int i = 0; i < PhaseTableSize; i++)
        {
            double phase = (i + 0.5) / PhaseTableSize; // 0..1 of a period
            bool forward = phase < 0.5;
            double within = forward ? phase * 2 : (phase - 0.5) * 2; // 0..1 of a half-period
            double u = Math.Sin(Math.PI * (within - 0.5)) * (forward ? 1 : -1);
            _columnOfPhase[i] = Math.Abs(u) > uMax ? -1 : Math.Clamp((int)Math.Floor((u / uMax + 1) / 2 * _width), 0, _width - 1);
        }
        // Expected photons per pixel and frame are spread over the samples that land in a pixel on average.
        double samplesPerHalfPeriod = sampleRateHz / (2 * settings.ResonantFrequencyHz);
        double samplesPerPixel = settings.SamplesPerPixel ?? settings.TemporalFillFraction * samplesPerHalfPeriod / _width;
        _photonsPerSampleScale = 1.0 / samplesPerPixel;
        _tissueFrames = -1;
    }

    /// <summary>The tissue being imaged.</summary>
    public VirtualTissue Tissue => _tissue;

    /// <summary>A PMT on this scan head; <paramref name="brightness"/> scales its photon yield (e.g. a dimmer second channel).</summary>
    public IAnalogSignal Pmt(double brightness = 1.0) => new PmtSignal(this, brightness);

    private void Fill(in AnalogSignalBlock block, Span<short> destination, double brightness)
    {
        lock (_gate)
        {
            double periodNs = 1e9 / _s.ResonantFrequencyHz;
            double tissuePeriodNs = _tissue.FramePeriodNs;
            double topV = _s.GalvoYTopV, spanV = _s.GalvoYBottomV - _s.GalvoYTopV;
            double scale = _photonsPerSampleScale * brightness;
            int row = -1;
            double halfSampleNs = 0.5e9 / block.SampleRateHz;
            double samplePeriodNs = 1e9 / block.SampleRateHz;
            // Mirror phase (0..1 of a period) advances by a fixed step per sample; tissue frame and galvo position
            // change slowly and are looked up every 64 samples.
            double phaseStep = samplePeriodNs / periodNs;
            double phase = 0;
            for (int i = 0; i < destination.Length; i++)
            {
                if ((i & 63) == 0)
                {
                    long n = block.FirstSampleIndex + i;
                    // A digitiser sample integrates over its interval [n, n+1): the beam is where it is mid-interval.
                    double t = block.SampleTimeNs(n) + halfSampleNs;
                    long frame = (long)Math.Floor(t / tissuePeriodNs);
                    while (_tissueFrames < frame) { _tissue.AdvanceExpected(_expected); _tissueFrames++; }
                    double v = block.AnalogOutputAt(_s.GalvoYAoChannel, n);
                    double y = (v - topV) / spanV * _height;
                    row = y >= 0 && y < _height ? (int)y : -1;
                    phase = (t - _s.LineClockPhaseNs - _s.MirrorLagNs) / periodNs;
                    phase -= Math.Floor(phase);
                }
                int col;
                if (_s.GalvoXAoChannel is int xChannel)
                {
                    double x = (block.AnalogOutputAt(xChannel, block.FirstSampleIndex + i) - _s.GalvoXLeftV) / (_s.GalvoXRightV - _s.GalvoXLeftV) * _width;
                    col = x >= 0 && x < _width ? (int)x : -1;
                }
                else
                {
                    col = _columnOfPhase[(int)(phase * PhaseTableSize) & (PhaseTableSize - 1)];
                    phase += phaseStep;
                    if (phase >= 1) phase -= 1;
                }
                double codes = _s.OffsetCodes;
                if (row >= 0 && col >= 0)
                {
                    double lambda = _expected[row * _width + col] * scale;
                    codes += _s.CodesPerPhoton * Photons(lambda);
                }
                if (_s.DarkNoiseCodes > 0) codes += _s.DarkNoiseCodes * NormalFromTable();
                destination[i] = (short)Math.Clamp(Math.Round(codes), short.MinValue, short.MaxValue);
            }
        }
    }

    private double Photons(double lambda)
    {
        if (lambda <= 0) return 0;
        if (lambda < ShotNoise.ExactBelowPhotons)
        {
            // Exact Poisson draw for a mean quantised to 1/64 photon, with e^(−mean) from a table (no exp per sample).
            int q = (int)(lambda * ExpSteps);
            return _rng.NextPoissonSmall(q * (1.0 / ExpSteps), ExpMinus[q]);
        }
        return Math.Max(0, lambda + Math.Sqrt(lambda) * NormalFromTable());
    }

    private const int ExpSteps = 64;
    private static readonly double[] ExpMinus = Enumerable.Range(0, (int)(ShotNoise.ExactBelowPhotons * ExpSteps) + 1)
        .Select(q => Math.Exp(-q / (double)ExpSteps)).ToArray();

    private double NormalFromTable() => ShotNoise.NormalTable[(int)(_rng.NextUInt64() >> (64 - ShotNoise.TableBits))];

    private sealed class PmtSignal(ScanHeadSimulator head, double brightness) : IAnalogSignal
    {
        public void Fill(in AnalogSignalBlock block, Span<short> destination) => head.Fill(block, destination, brightness);
    }
}
