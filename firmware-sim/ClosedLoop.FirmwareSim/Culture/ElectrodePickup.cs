using System.Runtime.CompilerServices;
namespace ClosedLoop.FirmwareSim.Culture;

/// <summary>
/// What the electrodes record: every spike of a neuron within <see cref="PickupSettings.CutoffUm"/> of an electrode adds
/// a biphasic extracellular waveform (a sharp negative trough, then a smaller, slower positive phase, lasting
/// <see cref="PickupSettings.SpikeDurationMs"/>) scaled by peak / (1 + (d / d0)²), where d is the 3-D distance from the
/// electrode centre to the soma; Gaussian noise of <see cref="PickupSettings.NoiseRmsUv"/> is added to every sample,
/// and the stimulation artifact (see <see cref="ElectricalStimulation"/>) on top. Output is in µV at the pick-up rate,
/// electrode-major per 1 ms step. Allocation-free per step.
/// </summary>
public sealed class ElectrodePickup
{
    private const int QueueCapacity = 32;
    private const double TemplateResolutionUs = 1;

    private readonly int _electrodes, _samplesPerStep;
    private readonly double _samplePeriodUs, _durationUs;
    private readonly int[] _neuronStart, _pickElectrode;
    private readonly float[] _pickAmplitudeUv;
    private readonly float[] _template;
    private readonly double[] _queueTimeUs;
    private readonly float[] _queueAmplitude;
    private readonly int[] _queueHead, _queueCount;
    private readonly float[] _tail;
    private readonly float _tailDecay;
    private readonly float _noiseRmsUv;
    private readonly GaussianNoise _noise;

    internal ElectrodePickup(CultureSettings settings, ReadOnlySpan<float> xUm, ReadOnlySpan<float> yUm)
    {
        PickupSettings p = settings.Pickup;
        MeaLayout layout = settings.Layout;
        _electrodes = layout.Count;
        _samplesPerStep = (int)Math.Round(p.SampleRateHz / 1000);
        SampleRateHz = _samplesPerStep * 1000.0;
        _samplePeriodUs = 1000.0 / _samplesPerStep;
        _durationUs = p.SpikeDurationMs * 1000;
        _noiseRmsUv = (float)p.NoiseRmsUv;

        // Which electrodes see which neuron, and how strongly.
        int n = xUm.Length;
        _neuronStart = new int[n + 1];
        var electrodes = new List<int>();
        var amplitudes = new List<float>();
        double h2 = settings.SomaHeightUm * settings.SomaHeightUm, d0 = p.HalfAmplitudeDistanceUm, cutoff2 = p.CutoffUm * p.CutoffUm;
        for (int j = 0; j < n; j++)
        {
            foreach (Electrode e in layout.Electrodes)
            {
                double dx = xUm[j] - e.XUm, dy = yUm[j] - e.YUm;
                double d2 = dx * dx + dy * dy + h2;
                if (d2 > cutoff2) continue;
                electrodes.Add(e.Index);
                amplitudes.Add((float)(p.SpikePeakUv / (1 + d2 / (d0 * d0))));
            }
            _neuronStart[j + 1] = electrodes.Count;
        }
        _pickElectrode = electrodes.ToArray();
        _pickAmplitudeUv = amplitudes.ToArray();

        // Waveform: trough of −1 at 0.25 D (width 0.08 D), positive phase of +0.35 at 0.55 D (width 0.18 D).
        int length = (int)Math.Ceiling(_durationUs / TemplateResolutionUs) + 1;
        _template = new float[length];
        for (int i = 0; i < length; i++)
        {
            double x = i * TemplateResolutionUs / _durationUs;
            double trough = Math.Exp(-Math.Pow((x - 0.25) / 0.08, 2));
            double hump = Math.Exp(-Math.Pow((x - 0.55) / 0.18, 2));
            double taper = x < 0.05 ? x / 0.05 : x > 0.9 ? Math.Max(0, (1 - x) / 0.1) : 1;
            _template[i] = (float)((-trough + 0.35 * hump) * taper);
        }

        _queueTimeUs = new double[_electrodes * QueueCapacity];
        _queueAmplitude = new float[_electrodes * QueueCapacity];
        _queueHead = new int[_electrodes];
        _queueCount = new int[_electrodes];
        _tail = new float[_electrodes];
        _tailDecay = (float)Math.Exp(-_samplePeriodUs / (settings.Stimulation.ArtifactTailMs * 1000));
        _noise = new GaussianNoise(settings.Seed, 201);
    }

    /// <summary>Samples per second actually used (the setting rounded to a whole number of samples per ms).</summary>
    public double SampleRateHz { get; }

    /// <summary>Samples per electrode per 1 ms step.</summary>
    public int SamplesPerStep => _samplesPerStep;

    /// <summary>Spike waveforms lost because more than 32 overlapped on one electrode (should stay 0).</summary>
    public long WaveformsDropped { get; private set; }

    /// <summary>Peak amplitude (µV, positive) with which neuron <paramref name="neuron"/> appears on electrode
    /// <paramref name="electrode"/>; 0 beyond the cut-off.</summary>
    public double AmplitudeUv(int neuron, int electrode)
    {
        for (int k = _neuronStart[neuron]; k < _neuronStart[neuron + 1]; k++)
            if (_pickElectrode[k] == electrode) return _pickAmplitudeUv[k];
        return 0;
    }

    /// <summary>Queues the waveforms of the spikes of step <paramref name="stepMs"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot path: optimised from the first call, no tiering warm-up
    internal void Record(long stepMs, ReadOnlySpan<int> spikes, ReadOnlySpan<byte> halfSteps)
    {
        for (int k = 0; k < spikes.Length; k++)
        {
            int j = spikes[k];
            double timeUs = stepMs * 1000.0 + halfSteps[k] * 500.0 + 250.0;
            for (int p = _neuronStart[j]; p < _neuronStart[j + 1]; p++)
            {
                int e = _pickElectrode[p];
                if (_queueCount[e] == QueueCapacity)
                {
                    _queueHead[e] = (_queueHead[e] + 1) % QueueCapacity;
                    _queueCount[e]--;
                    WaveformsDropped++;
                }
                int slot = e * QueueCapacity + (_queueHead[e] + _queueCount[e]) % QueueCapacity;
                _queueTimeUs[slot] = timeUs;
                _queueAmplitude[slot] = _pickAmplitudeUv[p];
                _queueCount[e]++;
            }
        }
    }

    /// <summary>Writes step <paramref name="stepMs"/>'s samples (µV, electrode-major) into <paramref name="destination"/>:
    /// noise, queued spike waveforms and the artifact of <paramref name="stimulusCurrentUa"/> (the stimulus current
    /// coupled onto each electrode, same layout; may be empty when nothing stimulated).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot path: optimised from the first call, no tiering warm-up
    internal void Render(long stepMs, Span<float> destination, ReadOnlySpan<float> stimulusCurrentUa, float artifactUvPerUa)
    {
        int s = _samplesPerStep;
        if (_noiseRmsUv > 0) _noise.Fill(destination[..(_electrodes * s)], _noiseRmsUv);
        else destination[..(_electrodes * s)].Clear();
        double stepStartUs = stepMs * 1000.0;
        for (int e = 0; e < _electrodes; e++)
        {
            Span<float> trace = destination.Slice(e * s, s);
            int count = _queueCount[e];
            for (int q = 0; q < count; q++)
            {
                int slot = e * QueueCapacity + (_queueHead[e] + q) % QueueCapacity;
                double spikeUs = _queueTimeUs[slot];
                float amplitude = _queueAmplitude[slot];
                for (int i = 0; i < s; i++)
                {
                    double tau = stepStartUs + i * _samplePeriodUs - spikeUs;
                    if (tau < 0) continue;
                    int index = (int)(tau / TemplateResolutionUs);
                    if (index >= _template.Length) break;
                    trace[i] += amplitude * _template[index];
                }
            }
            // Forget waveforms that have ended by the start of the next step.
            double nextUs = stepStartUs + 1000.0;
            while (_queueCount[e] > 0 && _queueTimeUs[e * QueueCapacity + _queueHead[e]] + _durationUs < nextUs)
            {
                _queueHead[e] = (_queueHead[e] + 1) % QueueCapacity;
                _queueCount[e]--;
            }

            // Artifact: the coupled current itself plus the amplifier's exponential recovery.
            float tail = _tail[e];
            if (stimulusCurrentUa.IsEmpty)
            {
                if (tail != 0)
                {
                    for (int i = 0; i < s; i++) { tail *= _tailDecay; trace[i] += tail; }
                    _tail[e] = MathF.Abs(tail) < 1e-3f ? 0 : tail;
                }
                continue;
            }
            ReadOnlySpan<float> current = stimulusCurrentUa.Slice(e * s, s);
            for (int i = 0; i < s; i++)
            {
                float artifact = artifactUvPerUa * current[i];
                tail = tail * _tailDecay + (1 - _tailDecay) * MathF.Abs(artifact);
                trace[i] += artifact + tail;
            }
            _tail[e] = MathF.Abs(tail) < 1e-3f ? 0 : tail;
        }
    }
}
