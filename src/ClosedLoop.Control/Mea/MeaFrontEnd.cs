using ClosedLoop.Core;

namespace ClosedLoop.Control.Mea;

/// <summary>Settings of <see cref="MeaFrontEndStage"/> (the <c>frontEnd</c> section of an MEA experiment).</summary>
public sealed class MeaFrontEndSettings : IStageSettings
{
    /// <summary>Lower edge of the band-pass (2nd-order Butterworth high-pass), Hz.</summary>
    public double LowCutHz { get; set; } = 300;

    /// <summary>Upper edge of the band-pass (2nd-order Butterworth low-pass), Hz.</summary>
    public double HighCutHz { get; set; } = 3000;

    /// <summary>A spike is a filtered sample below −k·σ, with σ = median(|x|) / 0.6745 (Quiroga et al. 2004).</summary>
    public double ThresholdSigma { get; set; } = 5;

    /// <summary>Noise window, s: σ is first estimated over this much signal (no detection before), then re-estimated
    /// over every later window and blended in with weight <see cref="NoiseUpdateWeight"/>.</summary>
    public double NoiseWindowS { get; set; } = 1;

    /// <summary>Weight of a new window's σ in the running estimate (0 = never update).</summary>
    public double NoiseUpdateWeight { get; set; } = 0.2;

    /// <summary>Shortest time between two spikes on one electrode, ms.</summary>
    public double RefractoryMs { get; set; } = 1;

    /// <summary>After every delivered stimulus, samples are blanked (not filtered, not detected) for this long, ms.</summary>
    public double BlankMs { get; set; } = 3;

    /// <summary>Time constant of the smoothed spike rate in <see cref="PopulationActivity.Rate"/>, s.</summary>
    public double RateTauS { get; set; } = 0.1;

    /// <summary>Where these settings sit in the experiment file.</summary>
    public string SettingPath { get; set; } = "frontEnd";

    /// <inheritdoc />
    public void Validate()
    {
        Check.InRange($"{SettingPath}.bandpassHz[0]", LowCutHz, 1, 10_000);
        Check.InRange($"{SettingPath}.bandpassHz[1]", HighCutHz, LowCutHz * 1.5, 20_000);
        Check.InRange($"{SettingPath}.thresholdSigma", ThresholdSigma, 1, 50);
        Check.InRange($"{SettingPath}.noiseWindowS", NoiseWindowS, 0.05, 60);
        Check.InRange($"{SettingPath}.noiseUpdateWeight", NoiseUpdateWeight, 0, 1);
        Check.InRange($"{SettingPath}.refractoryMs", RefractoryMs, 0.04, 100);
        Check.InRange($"{SettingPath}.blankMs", BlankMs, 0, 100);
        Check.InRange($"{SettingPath}.rateTauS", RateTauS, 0.001, 100);
    }
}

/// <summary>
/// The MEA front end as one fast-loop stage. A frame is one block of electrode samples: <c>Width</c> = electrodes,
/// <c>Height</c> = samples per electrode, scan-interleaved (sample s of electrode e at <c>s × Width + e</c>), each
/// pixel the int16 ADC code stored as its ushort bits. Per block and electrode: codes → µV; band-pass (two
/// biquads, per-electrode state); threshold at −k·σ with σ from the median absolute filtered signal; a refractory
/// period; blanking of the samples within <see cref="MeaFrontEndSettings.BlankMs"/> after every delivered stimulus
/// (they are fed to the filter as 0 and never detected, and the filter restarts in its steady state for the first
/// sample after the blank, so the artifact neither rings through the filter nor counts as spikes). It writes the block's spike count per electrode into <see cref="PopulationActivity.Raw"/> and
/// <see cref="PopulationActivity.Dff"/> (so <c>groupActivity</c> detectors threshold spike counts), the smoothed rate
/// in Hz into <see cref="PopulationActivity.Rate"/> and σ in µV into <see cref="PopulationActivity.NoiseLevel"/>.
/// Allocation-free per block.
/// </summary>
public sealed class MeaFrontEndStage : IFastStage
{
    private const int NoiseDecimation = 4;
    private readonly MeaFrontEndSettings _settings;
    private readonly int _channels, _samplesPerBlock;
    private readonly double _sampleRateHz;
    private readonly float _uvPerCode;
    private readonly PopulationActivity _activity;
    private readonly Func<long> _lastStimulusNs;
    // biquad coefficients (high-pass, low-pass), transposed direct form II
    private readonly float _hb0, _hb1, _hb2, _ha1, _ha2, _lb0, _lb1, _lb2, _la1, _la2;
    private readonly float[] _h1, _h2, _l1, _l2, _sigma, _counts;
    private readonly long[] _lastSpike;
    private readonly float[] _noise;     // per electrode, ring of |y| (decimated), electrode-major
    private readonly float[] _scratch;
    private readonly int _noiseLength;
    private int _noiseFill, _noiseNext, _decimate, _updateChannel;
    private bool _sigmaReady, _wasBlanked;
    private long _samplePeriodNs, _refractorySamples, _blankNs, _sampleIndex;
    private float _rateDecay;

    /// <summary>Creates the stage for <paramref name="channels"/> electrodes in blocks of <paramref name="samplesPerBlock"/>.</summary>
    /// <param name="settings">Filter, threshold, blanking.</param>
    /// <param name="channels">Electrodes per block (frame width).</param>
    /// <param name="samplesPerBlock">Samples per electrode per block (frame height).</param>
    /// <param name="sampleRateHz">Sampling rate per electrode.</param>
    /// <param name="microvoltsPerCode">Electrode µV per ADC code.</param>
    /// <param name="activity">Written in place every block (one unit per electrode).</param>
    /// <param name="lastStimulusNs">Sample-clock time of the latest delivered stimulus (e.g. the interlock's).</param>
    public MeaFrontEndStage(MeaFrontEndSettings settings, int channels, int samplesPerBlock, double sampleRateHz, double microvoltsPerCode,
        PopulationActivity activity, Func<long> lastStimulusNs)
    {
        settings.Validate();
        Check.InRange("mea.channels", channels, 1, 100_000);
        Check.InRange("mea.samplesPerBlock", samplesPerBlock, 1, 1_000_000);
        Check.Positive("mea.sampleRateHz", sampleRateHz);
        if (settings.HighCutHz >= sampleRateHz / 2)
            throw new SettingException($"{settings.SettingPath}.bandpassHz[1]", settings.HighCutHz, $"below the Nyquist frequency ({sampleRateHz / 2:0} Hz)");
        if (activity.Units != channels) throw new SettingException("activity.units", activity.Units, $"one unit per electrode ({channels})");
        _settings = settings;
        _channels = channels;
        _samplesPerBlock = samplesPerBlock;
        _sampleRateHz = sampleRateHz;
        _uvPerCode = (float)microvoltsPerCode;
        _activity = activity;
        _lastStimulusNs = lastStimulusNs;
        (_hb0, _hb1, _hb2, _ha1, _ha2) = Biquad(settings.LowCutHz, sampleRateHz, highPass: true);
        (_lb0, _lb1, _lb2, _la1, _la2) = Biquad(settings.HighCutHz, sampleRateHz, highPass: false);
        _h1 = new float[channels]; _h2 = new float[channels]; _l1 = new float[channels]; _l2 = new float[channels];
        _sigma = new float[channels];
        _counts = new float[channels];
        _lastSpike = new long[channels];
        _noiseLength = Math.Max(16, (int)(settings.NoiseWindowS * sampleRateHz / NoiseDecimation));
        _noise = new float[channels * _noiseLength];
        _scratch = new float[_noiseLength];
    }

    /// <inheritdoc />
    public string Name => "mea-front-end";

    /// <summary>Noise σ per electrode, µV (0 until the first window is complete).</summary>
    public ReadOnlySpan<float> SigmaUv => _sigma;

    /// <summary>Spikes detected so far, all electrodes.</summary>
    public long Spikes { get; private set; }

    /// <summary>Samples blanked so far (per electrode).</summary>
    public long BlankedSamples { get; private set; }

    /// <summary>Whether the first noise window is complete (detection runs from then on).</summary>
    public bool Detecting => _sigmaReady;

    /// <summary>2nd-order Butterworth (Q = 1/√2) high- or low-pass, bilinear transform (RBJ cookbook), a0 = 1.</summary>
    public static (float B0, float B1, float B2, float A1, float A2) Biquad(double cutHz, double rateHz, bool highPass)
    {
        double w = 2 * Math.PI * cutHz / rateHz, cos = Math.Cos(w), alpha = Math.Sin(w) / (2 / Math.Sqrt(2));
        double a0 = 1 + alpha;
        double b0 = highPass ? (1 + cos) / 2 : (1 - cos) / 2;
        double b1 = highPass ? -(1 + cos) : 1 - cos;
        return ((float)(b0 / a0), (float)(b1 / a0), (float)(b0 / a0), (float)(-2 * cos / a0), (float)((1 - alpha) / a0));
    }

    /// <inheritdoc />
    public void Start(RunContext context)
    {
        Array.Clear(_h1); Array.Clear(_h2); Array.Clear(_l1); Array.Clear(_l2);
        Array.Clear(_sigma); Array.Clear(_counts); Array.Clear(_noise);
        Array.Fill(_lastSpike, long.MinValue / 2);
        _noiseFill = _noiseNext = _decimate = _updateChannel = 0;
        _sigmaReady = _wasBlanked = false;
        _samplePeriodNs = (long)Math.Round(1e9 / _sampleRateHz);
        _refractorySamples = Math.Max(1, (long)Math.Round(_settings.RefractoryMs * 1e-3 * _sampleRateHz));
        _blankNs = (long)Math.Round(_settings.BlankMs * 1e6);
        _sampleIndex = 0;
        _rateDecay = (float)Math.Exp(-_samplesPerBlock / _sampleRateHz / _settings.RateTauS);
        Spikes = 0;
        BlankedSamples = 0;
    }

    /// <inheritdoc />
    public void Process(Frame frame)
    {
        if (frame.Width != _channels || frame.Height != _samplesPerBlock)
            throw new InvalidOperationException($"MEA block is {frame.Width}×{frame.Height}, expected {_channels} electrodes × {_samplesPerBlock} samples");
        ReadOnlySpan<ushort> pixels = frame.Pixels;
        long stim = _lastStimulusNs();
        long blankUntil = stim == long.MinValue ? long.MinValue : stim + _blankNs;
        Array.Clear(_counts);
        int channels = _channels;
        float[] h1 = _h1, h2 = _h2, l1 = _l1, l2 = _l2, sigma = _sigma, counts = _counts;
        float k = (float)_settings.ThresholdSigma;
        for (int s = 0; s < _samplesPerBlock; s++)
        {
            long t = frame.SampleTimeNs + s * _samplePeriodNs;
            bool blanked = t >= stim && t < blankUntil;
            if (blanked) { BlankedSamples++; _wasBlanked = true; }
            else if (_wasBlanked)
            {
                // First sample after a blank: start the filter in its steady state for this input, so the artifact's
                // residual enters as a level (which the high-pass ignores), not as a step (which it turns into a spike).
                _wasBlanked = false;
                ReadOnlySpan<ushort> first = pixels.Slice(s * channels, channels);
                for (int c = 0; c < channels; c++)
                {
                    float x0 = (short)first[c] * _uvPerCode;
                    h1[c] = -_hb0 * x0;
                    h2[c] = _hb2 * x0;
                    l1[c] = 0;
                    l2[c] = 0;
                }
            }
            bool keepNoise = !blanked && ++_decimate >= NoiseDecimation;
            if (keepNoise) _decimate = 0;
            long index = _sampleIndex++;
            ReadOnlySpan<ushort> scan = pixels.Slice(s * channels, channels);
            for (int c = 0; c < channels; c++)
            {
                float x = blanked ? 0f : (short)scan[c] * _uvPerCode;
                float y = _hb0 * x + h1[c];
                h1[c] = _hb1 * x - _ha1 * y + h2[c];
                h2[c] = _hb2 * x - _ha2 * y;
                float z = _lb0 * y + l1[c];
                l1[c] = _lb1 * y - _la1 * z + l2[c];
                l2[c] = _lb2 * y - _la2 * z;
                if (blanked) continue;
                if (keepNoise) _noise[c * _noiseLength + _noiseNext] = Math.Abs(z);
                if (_sigmaReady && z < -k * sigma[c] && index - _lastSpike[c] >= _refractorySamples)
                {
                    _lastSpike[c] = index;
                    counts[c]++;
                }
            }
            if (keepNoise)
            {
                _noiseNext = (_noiseNext + 1) % _noiseLength;
                if (_noiseFill < _noiseLength && ++_noiseFill == _noiseLength && !_sigmaReady)
                {
                    for (int c = 0; c < channels; c++) sigma[c] = MedianSigma(c);
                    _sigmaReady = true;
                }
            }
        }
        // Slow update: one electrode per block re-estimates σ over the last window and blends it in.
        if (_sigmaReady && _settings.NoiseUpdateWeight > 0)
        {
            int c = _updateChannel;
            _updateChannel = (_updateChannel + 1) % channels;
            float w = (float)_settings.NoiseUpdateWeight * channels * _samplesPerBlock / NoiseDecimation / _noiseLength;
            w = Math.Min(w, 1);
            sigma[c] = (1 - w) * sigma[c] + w * MedianSigma(c);
        }
        float toHz = (float)(_sampleRateHz / _samplesPerBlock);
        var a = _activity;
        for (int c = 0; c < channels; c++)
        {
            Spikes += (long)counts[c];
            a.Raw[c] = counts[c];
            a.Dff[c] = counts[c];
            a.Rate[c] = _rateDecay * a.Rate[c] + (1 - _rateDecay) * counts[c] * toHz;
            a.NoiseLevel[c] = sigma[c];
        }
        a.FrameIndex = frame.FrameIndex;
        a.SampleTimeNs = frame.SampleTimeNs;
    }

    /// <inheritdoc />
    public void Stop() { }

    private float MedianSigma(int channel)
    {
        int n = _noiseFill;
        _noise.AsSpan(channel * _noiseLength, n).CopyTo(_scratch);
        return Select(_scratch.AsSpan(0, n), n / 2) / 0.6745f;
    }

    /// <summary>The k-th smallest value (quickselect, in place, allocation-free).</summary>
    internal static float Select(Span<float> v, int k)
    {
        int lo = 0, hi = v.Length - 1;
        while (lo < hi)
        {
            float pivot = v[(lo + hi) >>> 1];
            int i = lo, j = hi;
            while (i <= j)
            {
                while (v[i] < pivot) i++;
                while (v[j] > pivot) j--;
                if (i <= j) { (v[i], v[j]) = (v[j], v[i]); i++; j--; }
            }
            if (k <= j) hi = j;
            else if (k >= i) lo = i;
            else return v[k];
        }
        return v[k];
    }
}
