using ClosedLoop.Core;
using ClosedLoop.Hardware;

namespace ClosedLoop.FirmwareSim;

/// <summary>
/// A virtual field of view that emits photons, frame by frame: neurons fire (spontaneously, through synaptic
/// pathways and when photostimulated), a calcium indicator turns spikes into fluorescence on each neuron's
/// footprint, a static background and a slow shared neuropil fluctuation add light everywhere, and every pixel
/// gets photon shot noise before it is converted to detector counts. The model and its parameters are described
/// in docs/simulation.md.
/// <para>Threading: <see cref="Render"/> and <see cref="Advance"/> run on one thread (the acquisition thread);
/// <see cref="Stimulate"/> and <see cref="CancelPendingStimulation"/> may be called from any other thread. Nothing
/// is allocated after construction. The same seed and the same stimulation commands give the same movie.</para>
/// </summary>
public sealed class VirtualTissue
{
    /// <summary>Calcium (in spikes' worth of indicator) at which the fluorescence response is half of linear.</summary>
    public const double CalciumSaturationSpikes = 8;

    /// <summary>Time constant of the shared neuropil fluctuation, in s.</summary>
    public const double NeuropilTimeConstantS = 2.0;

    /// <summary>Shortest interval between two spikes of one neuron, in ms: caps the spikes one neuron fires in one frame.</summary>
    public const double RefractoryMs = 2.0;

    /// <summary>Spread of the neurons' spontaneous rates: the s.d. of the log of the rate.</summary>
    public const double RateLogSd = 0.5;

    /// <summary>Relative amplitude of the static spatial variation of the background (±).</summary>
    public const double BackgroundVariation = 0.2;

    /// <summary>Stimulation trains that can wait at once; a train beyond that is dropped and counted.</summary>
    public const int PendingTrainCapacity = 1024;

    private readonly Footprints _footprints;
    private readonly int _neurons;
    private readonly long _framePeriodNs;
    private readonly double _neuronBaselinePhotons;
    private readonly double _dffPerSpike;
    private readonly float _countsPerPhoton;
    private readonly double _calciumDecay;
    private readonly double _neuropilAmplitudePhotons;
    private readonly double _neuropilDecay;
    private readonly double _neuropilInnovation;
    private readonly int _maxSpikesPerFrame;

    private readonly float[] _staticPhotons;
    private readonly float[] _photons;
    private readonly float[] _noiseScratch = new float[ShotNoise.ChunkPixels];
    private readonly float[] _rateHz;
    private readonly double[] _spontaneousMean;
    private readonly double[] _spontaneousExp;
    private readonly int[] _spikes;
    private readonly float[] _calcium;
    private readonly long[] _spikeCounts;

    private readonly Pathway[] _pathways;
    private readonly int _ringFrames;
    private readonly int[] _delayRing;

    private readonly double _spotRadius2Px;
    private readonly long _opsinLatencyNs;
    private readonly double _halfActivationPowerMw;
    private readonly Lock _gate = new();
    private readonly PendingTrain[] _pending = new PendingTrain[PendingTrainCapacity];
    private readonly DueBatch[] _due = new DueBatch[PendingTrainCapacity];
    private int _pendingCount;

    private SimRandom _rngSpontaneous;
    private SimRandom _rngEvoked;
    private SimRandom _rngNeuropil;
    private SimRandom _rngPhotons;
    private double _neuropil;
    private long _frames;
    private long _pulsesApplied;
    private long _trainsQueued;
    private long _trainsDropped;
    private long _trainsCancelled;

    /// <summary>Builds the tissue a profile describes: footprints from <see cref="TissueProfile.Footprints"/> (a relative
    /// path is taken relative to <paramref name="baseDirectory"/> when given), the imaging size and frame rate, and
    /// <paramref name="seed"/> for every random draw.</summary>
    /// <exception cref="SettingException">A profile value is out of range, the footprints cannot be loaded or a pathway
    /// names a neuron that does not exist.</exception>
    public VirtualTissue(TissueProfile tissue, ImagingProfile imaging, int seed, string? baseDirectory = null)
        : this(tissue, imaging, seed, LoadFootprints(tissue, imaging, seed, baseDirectory))
    {
    }

    /// <summary>Builds a tissue on footprints the caller already has (their size must match the imaging profile).</summary>
    public VirtualTissue(TissueProfile tissue, ImagingProfile imaging, int seed, Footprints footprints)
    {
        imaging.Validate();
        tissue.Validate(imaging);
        if (footprints.WidthPx != imaging.WidthPx || footprints.HeightPx != imaging.HeightPx)
            throw new SettingException("simulation.tissue.footprints", $"{footprints.WidthPx}×{footprints.HeightPx} px",
                $"the imaging profile's {imaging.WidthPx}×{imaging.HeightPx} px", footprints.Source);

        _footprints = footprints;
        _neurons = footprints.Count;
        WidthPx = imaging.WidthPx;
        HeightPx = imaging.HeightPx;
        FrameRateHz = imaging.FrameRateHz;
        _framePeriodNs = (long)Math.Round(1e9 / imaging.FrameRateHz);
        double dtS = _framePeriodNs / 1e9;
        _neuronBaselinePhotons = tissue.NeuronBaselinePhotons;
        _dffPerSpike = tissue.DffPerSpike;
        _countsPerPhoton = (float)tissue.CountsPerPhoton;
        _calciumDecay = Math.Exp(-dtS / tissue.IndicatorDecayS);
        _neuropilAmplitudePhotons = tissue.NeuropilFraction * tissue.BackgroundPhotons;
        _neuropilDecay = Math.Exp(-dtS / NeuropilTimeConstantS);
        _neuropilInnovation = Math.Sqrt(1 - _neuropilDecay * _neuropilDecay);
        _maxSpikesPerFrame = Math.Max(1, (int)(dtS * 1000 / RefractoryMs));

        _rngSpontaneous = new SimRandom(seed, 1);
        _rngEvoked = new SimRandom(seed, 2);
        _rngNeuropil = new SimRandom(seed, 3);
        _rngPhotons = new SimRandom(seed, 4);
        var setup = new SimRandom(seed, 5);

        int pixels = WidthPx * HeightPx;
        _staticPhotons = BuildStaticPhotons(tissue, ref setup);
        _photons = new float[pixels];

        _rateHz = new float[_neurons];
        _spontaneousMean = new double[_neurons];
        _spontaneousExp = new double[_neurons];
        DrawRates(tissue.SpontaneousRateHz, dtS, ref setup);
        _spikes = new int[_neurons];
        _calcium = new float[_neurons];
        _spikeCounts = new long[_neurons];

        _pathways = new Pathway[tissue.Pathways.Count];
        int maxDelayFrames = 1;
        for (int i = 0; i < _pathways.Length; i++)
        {
            var pw = tissue.Pathways[i];
            string path = $"simulation.tissue.pathways[{i}]";
            int delayFrames = Math.Max(1, (int)Math.Round(pw.DelayS / dtS));
            _pathways[i] = new Pathway(CheckNeurons($"{path}.from", pw.From), CheckNeurons($"{path}.to", pw.To), pw.Probability, delayFrames);
            maxDelayFrames = Math.Max(maxDelayFrames, delayFrames);
        }
        _ringFrames = maxDelayFrames + 1;
        _delayRing = new int[_ringFrames * _neurons];

        _spotRadius2Px = tissue.Opsin.SpotRadiusPx * tissue.Opsin.SpotRadiusPx;
        _opsinLatencyNs = (long)Math.Round(tissue.Opsin.LatencyMs * 1e6);
        _halfActivationPowerMw = tissue.Opsin.HalfActivationPowerMw;
        _neuropil = _rngNeuropil.NextGaussian();
    }

    /// <summary>Field width in pixels.</summary>
    public int WidthPx { get; }

    /// <summary>Field height in pixels.</summary>
    public int HeightPx { get; }

    /// <summary>Frames per second; each <see cref="Render"/> advances the tissue by one frame period.</summary>
    public double FrameRateHz { get; }

    /// <summary>One frame period on the sample clock, in ns (frame i covers [i·T, (i+1)·T)).</summary>
    public long FramePeriodNs => _framePeriodNs;

    /// <summary>The neurons' footprints.</summary>
    public Footprints Footprints => _footprints;

    /// <summary>Number of neurons.</summary>
    public int NeuronCount => _neurons;

    /// <summary>Column of each neuron's centroid, in pixels (ground truth).</summary>
    public ReadOnlySpan<float> CentroidXPx => _footprints.CentroidXPx;

    /// <summary>Row of each neuron's centroid, in pixels (ground truth).</summary>
    public ReadOnlySpan<float> CentroidYPx => _footprints.CentroidYPx;

    /// <summary>Each neuron's spontaneous firing rate, in Hz (lognormal around the profile's rate; their mean equals it).</summary>
    public ReadOnlySpan<float> SpontaneousRateHz => _rateHz;

    /// <summary>Spikes each neuron fired in the last frame (spontaneous, pathway-evoked and photo-evoked).</summary>
    public ReadOnlySpan<int> LastSpikes => _spikes;

    /// <summary>Indicator calcium of each neuron after the last frame, in spikes' worth (before saturation).</summary>
    public ReadOnlySpan<float> Calcium => _calcium;

    /// <summary>Spikes each neuron fired since construction.</summary>
    public ReadOnlySpan<long> SpikeCounts => _spikeCounts;

    /// <summary>Frames the tissue has advanced (rendered or skipped).</summary>
    public long FramesAdvanced => Volatile.Read(ref _frames);

    /// <summary>Sample-clock time up to which the tissue has advanced (end of the last frame), in ns.</summary>
    public long CurrentSampleTimeNs => Volatile.Read(ref _frames) * _framePeriodNs;

    /// <summary>Light pulses applied to the tissue so far (each pulse counted once, whatever its number of spots).</summary>
    public long PulsesApplied => Interlocked.Read(ref _pulsesApplied);

    /// <summary>Stimulation trains accepted by <see cref="Stimulate"/>.</summary>
    public long TrainsQueued => Interlocked.Read(ref _trainsQueued);

    /// <summary>Stimulation trains refused because <see cref="PendingTrainCapacity"/> trains were already waiting.</summary>
    public long TrainsDropped => Interlocked.Read(ref _trainsDropped);

    /// <summary>Trains (or their remaining pulses) discarded by <see cref="CancelPendingStimulation"/>.</summary>
    public long TrainsCancelled => Interlocked.Read(ref _trainsCancelled);

    /// <summary>Trains with pulses still to come.</summary>
    public int PendingTrains
    {
        get { lock (_gate) return _pendingCount; }
    }

    /// <summary>Advances the tissue by one frame and writes the frame's pixels (detector counts, row-major) into
    /// <paramref name="frame"/>, which must hold exactly <see cref="WidthPx"/> × <see cref="HeightPx"/> values.</summary>
    public void Render(Span<ushort> frame)
    {
        if (frame.Length != _photons.Length)
            throw new ArgumentException($"The frame holds {frame.Length} pixels; the tissue renders {WidthPx}×{HeightPx} = {_photons.Length}.", nameof(frame));
        StepBiology();
        ComposeExpected();
        ShotNoise.Sample(_photons, (float)(_neuropilAmplitudePhotons * _neuropil), _countsPerPhoton, frame, _noiseScratch, ref _rngPhotons);
    }

    /// <summary>
    /// Advances the biology by one frame and writes the noise-free expected photons per pixel over that frame
    /// (background, neuropil and somata) into <paramref name="photonsPerPixel"/>. A scanner model samples this image
    /// along the beam's path and draws the shot noise per detector sample itself.
    /// </summary>
    public void AdvanceExpected(Span<float> photonsPerPixel)
    {
        if (photonsPerPixel.Length != _photons.Length)
            throw new ArgumentException($"The image holds {photonsPerPixel.Length} pixels; the tissue renders {WidthPx}×{HeightPx} = {_photons.Length}.", nameof(photonsPerPixel));
        StepBiology();
        ComposeExpected();
        float neuropil = (float)(_neuropilAmplitudePhotons * _neuropil);
        var src = _photons.AsSpan();
        for (int i = 0; i < src.Length; i++) photonsPerPixel[i] = MathF.Max(0, src[i] + neuropil);
    }

    /// <summary>Detector counts per photon of this tissue's profile.</summary>
    public double CountsPerPhoton => _countsPerPhoton;

    /// <summary>Static background plus each soma's calcium-dependent brightness, before neuropil and noise.</summary>
    private void ComposeExpected()
    {
        _staticPhotons.CopyTo(_photons.AsSpan());
        double gain = _neuronBaselinePhotons * _dffPerSpike;
        for (int n = 0; n < _neurons; n++)
        {
            double c = _calcium[n];
            float extra = (float)(gain * c / (1 + c / CalciumSaturationSpikes));
            if (extra < 1e-4f) continue;
            var pixels = _footprints.PixelsOf(n);
            var weights = _footprints.WeightsOf(n);
            for (int k = 0; k < pixels.Length; k++) _photons[pixels[k]] += weights[k] * extra;
        }
    }

    /// <summary>Advances the tissue by one frame without producing pixels (a frame the rig had to drop): spikes,
    /// calcium, pathways and stimulation go on as if it had been rendered.</summary>
    public void Advance() => StepBiology();

    /// <summary>
    /// Queues a photostimulation train. Pulse k happens at <c>SampleTimeNs + k/PulseRateHz</c> plus the opsin
    /// latency, and is applied in the frame whose sample-time window contains it (or in the next frame rendered when
    /// that window is already past). Each pulse makes every neuron whose centroid lies within the opsin's spot radius
    /// of a target spot fire with probability 1 − exp(−PowerMw / halfActivationPowerMw). Thread-safe, allocation-free.
    /// </summary>
    public void Stimulate(in StimulationCommand command)
    {
        if (command.Targets is null) throw new ArgumentException("The command has no targets.", nameof(command));
        if (command.PulseCount < 1) throw new ArgumentOutOfRangeException(nameof(command), command.PulseCount, "PulseCount must be at least 1.");
        if (command.PulseCount > 1 && !(command.PulseRateHz > 0 && !double.IsInfinity(command.PulseRateHz)))
            throw new ArgumentOutOfRangeException(nameof(command), command.PulseRateHz, "PulseRateHz must be finite and > 0 for a train of several pulses.");
        if (!(command.PowerMw >= 0) || double.IsInfinity(command.PowerMw))
            throw new ArgumentOutOfRangeException(nameof(command), command.PowerMw, "PowerMw must be finite and ≥ 0.");
        double probability = 1 - Math.Exp(-command.PowerMw / _halfActivationPowerMw);
        double intervalNs = command.PulseCount > 1 ? 1e9 / command.PulseRateHz : 0;
        lock (_gate)
        {
            if (_pendingCount == _pending.Length)
            {
                _trainsDropped++;
                return;
            }
            _pending[_pendingCount++] = new PendingTrain(command.Targets, probability, command.SampleTimeNs + _opsinLatencyNs,
                intervalNs, command.PulseCount, 0);
            _trainsQueued++;
        }
    }

    /// <summary>Drops every queued pulse that has not been applied yet. Thread-safe.</summary>
    public void CancelPendingStimulation()
    {
        lock (_gate)
        {
            _trainsCancelled += _pendingCount;
            Array.Clear(_pending, 0, _pendingCount);
            _pendingCount = 0;
        }
    }

    private void StepBiology()
    {
        long frame = _frames;
        var spikes = _spikes.AsSpan();
        var due = _delayRing.AsSpan((int)(frame % _ringFrames) * _neurons, _neurons);
        due.CopyTo(spikes);
        due.Clear();

        for (int n = 0; n < _neurons; n++)
        {
            double mean = _spontaneousMean[n];
            if (mean > 0) spikes[n] += _rngSpontaneous.NextPoissonSmall(mean, _spontaneousExp[n]);
        }

        ApplyDuePulses((frame + 1) * _framePeriodNs, spikes);

        for (int n = 0; n < _neurons; n++)
            if (spikes[n] > _maxSpikesPerFrame) spikes[n] = _maxSpikesPerFrame;

        foreach (var pathway in _pathways)
        {
            int presynaptic = 0;
            foreach (int n in pathway.From) presynaptic += spikes[n];
            if (presynaptic == 0 || pathway.Probability <= 0) continue;
            var target = _delayRing.AsSpan((int)((frame + pathway.DelayFrames) % _ringFrames) * _neurons, _neurons);
            foreach (int n in pathway.To)
            {
                int evoked = 0;
                for (int s = 0; s < presynaptic; s++)
                    if (_rngEvoked.Chance(pathway.Probability)) evoked++;
                target[n] += evoked;
            }
        }

        float decay = (float)_calciumDecay;
        for (int n = 0; n < _neurons; n++)
        {
            _calcium[n] = _calcium[n] * decay + spikes[n];
            _spikeCounts[n] += spikes[n];
        }

        _neuropil = _neuropil * _neuropilDecay + _neuropilInnovation * _rngNeuropil.NextGaussian();
        Volatile.Write(ref _frames, frame + 1);
    }

    private void ApplyDuePulses(long windowEndNs, Span<int> spikes)
    {
        int batches = 0;
        lock (_gate)
        {
            int keep = 0;
            for (int i = 0; i < _pendingCount; i++)
            {
                ref var train = ref _pending[i];
                int count = 0;
                while (train.Next < train.PulseCount && train.FirstPulseNs + (long)(train.Next * train.PulseIntervalNs) < windowEndNs)
                {
                    train.Next++;
                    count++;
                }
                if (count > 0) _due[batches++] = new DueBatch(train.Targets!, train.Probability, count);
                if (train.Next < train.PulseCount) _pending[keep++] = train;
            }
            Array.Clear(_pending, keep, _pendingCount - keep);
            _pendingCount = keep;
        }

        var cx = _footprints.CentroidXPx;
        var cy = _footprints.CentroidYPx;
        for (int b = 0; b < batches; b++)
        {
            var batch = _due[b];
            var xs = batch.Targets.XPx;
            var ys = batch.Targets.YPx;
            for (int n = 0; n < _neurons; n++)
            {
                bool hit = false;
                for (int s = 0; s < xs.Length && !hit; s++)
                {
                    double dx = cx[n] - xs[s], dy = cy[n] - ys[s];
                    hit = dx * dx + dy * dy <= _spotRadius2Px;
                }
                if (!hit) continue;
                for (int k = 0; k < batch.Pulses; k++)
                    if (_rngEvoked.Chance(batch.Probability)) spikes[n]++;
            }
            Interlocked.Add(ref _pulsesApplied, batch.Pulses);
            _due[b] = default;
        }
    }

    private float[] BuildStaticPhotons(TissueProfile tissue, ref SimRandom rng)
    {
        int w = WidthPx, h = HeightPx;
        var photons = new float[w * h];
        var occupancy = new float[w * h];
        var neuronPhotons = new float[w * h];
        for (int n = 0; n < _footprints.Count; n++)
        {
            var pixels = _footprints.PixelsOf(n);
            var weights = _footprints.WeightsOf(n);
            for (int k = 0; k < pixels.Length; k++)
            {
                occupancy[pixels[k]] += weights[k];
                neuronPhotons[pixels[k]] += (float)(weights[k] * tissue.NeuronBaselinePhotons);
            }
        }

        // Three random low-frequency plane waves (0.3–1.5 cycles per field) make a smooth, static unevenness.
        const int waves = 3;
        Span<double> fx = stackalloc double[waves], fy = stackalloc double[waves], phase = stackalloc double[waves];
        for (int k = 0; k < waves; k++)
        {
            fx[k] = (0.3 + 1.2 * rng.NextDouble()) * (rng.Chance(0.5) ? 1 : -1) * 2 * Math.PI / w;
            fy[k] = (0.3 + 1.2 * rng.NextDouble()) * (rng.Chance(0.5) ? 1 : -1) * 2 * Math.PI / h;
            phase[k] = 2 * Math.PI * rng.NextDouble();
        }
        for (int row = 0; row < h; row++)
            for (int col = 0; col < w; col++)
            {
                double wave = 0;
                for (int k = 0; k < waves; k++) wave += Math.Cos(fx[k] * col + fy[k] * row + phase[k]);
                double background = tissue.BackgroundPhotons * (1 + BackgroundVariation * wave / waves);
                int p = row * w + col;
                photons[p] = (float)(background * (1 - Math.Min(1f, occupancy[p])) + neuronPhotons[p]);
            }
        return photons;
    }

    private void DrawRates(double meanRateHz, double dtS, ref SimRandom rng)
    {
        if (_neurons == 0) return;
        var raw = new double[_neurons];
        for (int n = 0; n < _neurons; n++) raw[n] = Math.Exp(RateLogSd * rng.NextGaussian());
        double scale = meanRateHz / raw.Average();
        for (int n = 0; n < _neurons; n++)
        {
            double rate = raw[n] * scale;
            _rateHz[n] = (float)rate;
            _spontaneousMean[n] = rate * dtS;
            _spontaneousExp[n] = Math.Exp(-rate * dtS);
        }
    }

    private int[] CheckNeurons(string setting, List<int> indices)
    {
        var result = indices.ToArray();
        for (int i = 0; i < result.Length; i++)
            if (result[i] < 0 || result[i] >= _neurons)
                throw new SettingException($"{setting}[{i}]", result[i], $"a neuron index from 0 to {_neurons - 1} ({_footprints.Source} has {_neurons} neurons)");
        return result;
    }

    private static Footprints LoadFootprints(TissueProfile tissue, ImagingProfile imaging, int seed, string? baseDirectory)
    {
        imaging.Validate();
        tissue.Validate(imaging);
        return Footprints.FromProfile(tissue, imaging, seed, baseDirectory);
    }

    private sealed record Pathway(int[] From, int[] To, double Probability, int DelayFrames);

    private struct PendingTrain(StimulationTargets targets, double probability, long firstPulseNs, double pulseIntervalNs, int pulseCount, int next)
    {
        public StimulationTargets? Targets = targets;
        public readonly double Probability = probability;
        public readonly long FirstPulseNs = firstPulseNs;
        public readonly double PulseIntervalNs = pulseIntervalNs;
        public readonly int PulseCount = pulseCount;
        public int Next = next;
    }

    private readonly record struct DueBatch(StimulationTargets Targets, double Probability, int Pulses);
}
