using ClosedLoop.Core;
using ClosedLoop.Hardware;

namespace ClosedLoop.FirmwareSim;

/// <summary>
/// A virtual field of view that emits photons, frame by frame: neurons fire (Poisson or real Spikefinder trains,
/// through synaptic pathways and when photostimulated through opsin kinetics), a calcium indicator (double-exponential
/// transient, Hill-type saturation) turns spikes into fluorescence on each neuron's footprint, a static background and
/// a slow shared neuropil fluctuation add light everywhere, the brightness drifts and bleaches, the field moves
/// (rigid or non-rigid, sub-pixel), and every pixel gets photon shot noise before it is converted to detector counts.
/// A requested noise level ν sets the photon budget. The model and its parameters are described in docs/simulation.md.
/// <para>Threading: <see cref="Render"/> and <see cref="Advance"/> run on one thread (the acquisition thread);
/// <see cref="Stimulate"/> and <see cref="CancelPendingStimulation"/> may be called from any other thread. Nothing
/// is allocated after construction. The same seed and the same stimulation commands give the same movie.</para>
/// </summary>
public sealed class VirtualTissue
{
    /// <summary>Median |difference| of two independent unit normals: 0.6745 · √2 (ν = this · σ(ΔF/F %) / √f).</summary>
    public const double MedianAbsDifferenceOfNormals = 0.674489750196 * 1.41421356237;

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
    private readonly IndicatorModel _indicator;
    private readonly float _countsPerPhoton;
    private readonly double _gammaRise;
    private readonly double _gammaDecay;
    private readonly double _kernelNorm;
    private readonly double _neuropilAmplitudePhotons;
    private readonly double _photonScale;
    private readonly double[] _predictedNoiseLevel;
    private readonly double _driftFraction;
    private readonly double _neuronDriftFraction;
    private readonly double _driftDecay;
    private readonly double _driftInnovation;
    private readonly double _bleachTauS;
    private readonly SpikefinderSampler? _spikefinder;
    private readonly TissueMotion? _motion;
    private readonly float[]? _warped;
    private readonly OpsinKinetics _opsin;
    private readonly long _opsinLatencyNs;
    private readonly double[] _opsinOpen;
    private readonly long[] _opsinUntilNs;
    private readonly double _neuropilDecay;
    private readonly double _neuropilInnovation;
    private readonly int _maxSpikesPerFrame;

    private readonly float[] _staticPhotons;
    private readonly float[] _photons;
    private readonly float[] _noiseScratch = new float[2 * ShotNoise.ChunkPixels];
    private readonly float[] _rateHz;
    private readonly double[] _spontaneousMean;
    private readonly double[] _spontaneousExp;
    private readonly int[] _spikes;
    private readonly double[] _riseState;
    private readonly double[] _decayState;
    private readonly float[] _calcium;
    private readonly float[] _dff;
    private readonly double[] _neuronDrift;
    private readonly float[] _neuronGain;
    private readonly long[] _spikeCounts;

    private readonly Pathway[] _pathways;
    private readonly int _ringFrames;
    private readonly int _opsinReachFrames;
    private readonly int[] _delayRing;

    private readonly double _spotRadius2Px;
    private readonly Lock _gate = new();
    private readonly PendingTrain[] _pending = new PendingTrain[PendingTrainCapacity];
    private readonly DueBatch[] _due = new DueBatch[PendingTrainCapacity];
    private int _pendingCount;

    private SimRandom _rngSpontaneous;
    private SimRandom _rngEvoked;
    private SimRandom _rngNeuropil;
    private SimRandom _rngPhotons;
    private SimRandom _rngDrift;
    private double _neuropil;
    private double _globalDrift;
    private double _brightness = 1;
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
        _indicator = tissue.ResolveIndicator();
        _countsPerPhoton = (float)tissue.CountsPerPhoton;
        _gammaRise = Math.Exp(-dtS / _indicator.RiseS);
        _gammaDecay = Math.Exp(-dtS / _indicator.DecayS);
        _kernelNorm = 1 / _indicator.KernelPeak;
        _neuropilDecay = Math.Exp(-dtS / NeuropilTimeConstantS);
        _neuropilInnovation = Math.Sqrt(1 - _neuropilDecay * _neuropilDecay);
        _maxSpikesPerFrame = Math.Max(1, (int)(dtS * 1000 / RefractoryMs));

        _rngSpontaneous = new SimRandom(seed, 1);
        _rngEvoked = new SimRandom(seed, 2);
        _rngNeuropil = new SimRandom(seed, 3);
        _rngPhotons = new SimRandom(seed, 4);
        var setup = new SimRandom(seed, 5);
        _rngDrift = new SimRandom(seed, 6);

        int pixels = WidthPx * HeightPx;
        _staticPhotons = BuildStaticPhotons(tissue, ref setup);
        _photons = new float[pixels];

        _rateHz = new float[_neurons];
        _spontaneousMean = new double[_neurons];
        _spontaneousExp = new double[_neurons];
        DrawRates(tissue.SpontaneousRateHz, dtS, ref setup);
        if (tissue.SpikeSource == SpikeSource.Spikefinder)
        {
            _spikefinder = new SpikefinderSampler(SpikefinderTrains.Excerpt, _rateHz, tissue.SpikefinderMatchRate, new SimRandom(seed, 8));
            if (!tissue.SpikefinderMatchRate)
                for (int n = 0; n < _neurons; n++) _rateHz[n] = (float)_spikefinder.SegmentRateHz(n);
        }

        // Photon budget: scale soma and background photons together so the median neuron's ν is the one asked for.
        _predictedNoiseLevel = new double[_neurons];
        double medianNu = PredictNoiseLevels(_predictedNoiseLevel, tissue.NeuronBaselinePhotons);
        _photonScale = tissue.NoiseLevel is double wantedNu && _neurons > 0 ? Math.Pow(medianNu / wantedNu, 2) : 1.0;
        if (_photonScale != 1.0)
        {
            for (int p = 0; p < pixels; p++) _staticPhotons[p] = (float)(_staticPhotons[p] * _photonScale);
            PredictNoiseLevels(_predictedNoiseLevel, tissue.NeuronBaselinePhotons * _photonScale);
        }
        _neuronBaselinePhotons = tissue.NeuronBaselinePhotons * _photonScale;
        _neuropilAmplitudePhotons = tissue.NeuropilFraction * tissue.BackgroundPhotons * _photonScale;
        _spikes = new int[_neurons];
        _riseState = new double[_neurons];
        _decayState = new double[_neurons];
        _calcium = new float[_neurons];
        _dff = new float[_neurons];
        _spikeCounts = new long[_neurons];

        _driftFraction = tissue.DriftFraction;
        _neuronDriftFraction = tissue.NeuronDriftFraction;
        _driftDecay = Math.Exp(-dtS / tissue.DriftTimeConstantS);
        _driftInnovation = Math.Sqrt(1 - _driftDecay * _driftDecay);
        _bleachTauS = tissue.BleachTauS ?? double.PositiveInfinity;
        _neuronDrift = new double[_neurons];
        _neuronGain = new float[_neurons];
        if (_driftFraction > 0) _globalDrift = _rngDrift.NextGaussian();
        for (int n = 0; n < _neurons; n++)
        {
            if (_neuronDriftFraction > 0) _neuronDrift[n] = _rngDrift.NextGaussian();
            _neuronGain[n] = 1f;
        }

        if (tissue.Motion.Mode != MotionMode.None)
        {
            _motion = new TissueMotion(tissue.Motion, WidthPx, HeightPx, dtS, new SimRandom(seed, 7));
            _warped = new float[pixels];
        }

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
        _opsin = new OpsinKinetics(tissue.Opsin);
        _opsinLatencyNs = (long)Math.Round(tissue.Opsin.LatencyMs * 1e6);
        _opsinOpen = new double[_neurons];
        _opsinUntilNs = new long[_neurons];
        // Evoked spikes can land a few frames after their pulse (latency, slow channel closing): room in the ring.
        _opsinReachFrames = Math.Max(1, (int)Math.Ceiling((tissue.Opsin.LatencyMs + 100 + 5 * _opsin.OffMs) * 1e6 / _framePeriodNs));
        maxDelayFrames = Math.Max(maxDelayFrames, _opsinReachFrames);
        _ringFrames = maxDelayFrames + 1;
        _delayRing = new int[_ringFrames * _neurons];

        _spotRadius2Px = tissue.Opsin.SpotRadiusPx * tissue.Opsin.SpotRadiusPx;
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

    /// <summary>Indicator calcium of each neuron at the end of the last frame, in spikes' worth before saturation: the
    /// sum of the double-exponential transients of its spikes, each peaking at 1.</summary>
    public ReadOnlySpan<float> Calcium => _calcium;

    /// <summary>Noise-free ΔF/F (fraction) of each soma in the last frame: the indicator's saturating response to
    /// <see cref="Calcium"/>, before drift, bleaching and neuropil.</summary>
    public ReadOnlySpan<float> TrueDff => _dff;

    /// <summary>The indicator in effect (preset plus overrides).</summary>
    public IndicatorModel Indicator => _indicator;

    /// <summary>Factor applied to the profile's soma and background photons to reach the requested noise level (1 when
    /// none was requested).</summary>
    public double PhotonScale => _photonScale;

    /// <summary>Resting soma brightness in effect, in photons per pixel per frame (after <see cref="PhotonScale"/>).</summary>
    public double NeuronBaselinePhotons => _neuronBaselinePhotons;

    /// <summary>Shot-noise-limited ν each neuron's ROI-mean ΔF/F trace should have (its mask's pixels, unbleached);
    /// their median is the requested noise level when one was given.</summary>
    public ReadOnlySpan<double> PredictedNoiseLevel => _predictedNoiseLevel;

    /// <summary>Shared brightness factor of the last frame: slow drift × bleaching (1 = as at the start).</summary>
    public double Brightness => _brightness;

    /// <summary>How the field moves (<see cref="MotionMode.None"/> when it does not).</summary>
    public MotionMode MotionMode => _motion?.Mode ?? MotionMode.None;

    /// <summary>Rigid shift of the last frame's content along x (columns) relative to the footprints, in px:
    /// frame(x, y) = reference(x − dx, y − dy).</summary>
    public double MotionDxPx => _motion?.DxPx ?? 0;

    /// <summary>Rigid shift of the last frame's content along y (rows), in px.</summary>
    public double MotionDyPx => _motion?.DyPx ?? 0;

    /// <summary>Nodes along x of the non-rigid displacement grid (0 unless non-rigid).</summary>
    public int MotionGridX => _motion?.GridX ?? 0;

    /// <summary>Nodes along y of the non-rigid displacement grid (0 unless non-rigid).</summary>
    public int MotionGridY => _motion?.GridY ?? 0;

    /// <summary>Total x shift of each grid node in the last frame (row-major: node (ix, iy) at iy·GridX + ix), in px.</summary>
    public ReadOnlySpan<float> MotionNodeDxPx => _motion is null ? default : _motion.NodeDxPx;

    /// <summary>Total y shift of each grid node in the last frame, in px.</summary>
    public ReadOnlySpan<float> MotionNodeDyPx => _motion is null ? default : _motion.NodeDyPx;

    /// <summary>Column of grid node <paramref name="ix"/>: nodes are spread evenly from column 0 to width − 1.</summary>
    public double MotionNodeXPx(int ix) => _motion?.NodeXPx(ix) ?? 0;

    /// <summary>Row of grid node <paramref name="iy"/>: nodes are spread evenly from row 0 to height − 1.</summary>
    public double MotionNodeYPx(int iy) => _motion?.NodeYPx(iy) ?? 0;

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
        var image = ComposeExpected();
        float scale = (float)_brightness;
        ShotNoise.Sample(image, scale, (float)(_neuropilAmplitudePhotons * _neuropil * _brightness), _countsPerPhoton, frame, _noiseScratch, ref _rngPhotons);
    }

    /// <summary>
    /// Advances the biology by one frame and writes the noise-free expected photons per pixel over that frame
    /// (background, neuropil and somata, moved, drifted and bleached) into <paramref name="photonsPerPixel"/>. A scanner
    /// model samples this image along the beam's path and draws the shot noise per detector sample itself.
    /// </summary>
    public void AdvanceExpected(Span<float> photonsPerPixel)
    {
        if (photonsPerPixel.Length != _photons.Length)
            throw new ArgumentException($"The image holds {photonsPerPixel.Length} pixels; the tissue renders {WidthPx}×{HeightPx} = {_photons.Length}.", nameof(photonsPerPixel));
        StepBiology();
        var src = ComposeExpected();
        float scale = (float)_brightness;
        float neuropil = (float)(_neuropilAmplitudePhotons * _neuropil * _brightness);
        for (int i = 0; i < src.Length; i++) photonsPerPixel[i] = MathF.Max(0, src[i] * scale + neuropil);
    }

    /// <summary>Detector counts per photon of this tissue's profile.</summary>
    public double CountsPerPhoton => _countsPerPhoton;

    /// <summary>Static background plus each soma's drifting, calcium-dependent brightness, moved by the frame's
    /// motion; before the shared brightness factor, neuropil and noise.</summary>
    private ReadOnlySpan<float> ComposeExpected()
    {
        _staticPhotons.CopyTo(_photons.AsSpan());
        double baseline = _neuronBaselinePhotons;
        bool drifting = _neuronDriftFraction > 0;
        for (int n = 0; n < _neurons; n++)
        {
            // The static image holds each soma at rest; add its departure from rest.
            float extra = (float)(baseline * (_neuronGain[n] * (1 + _dff[n]) - 1));
            if (!drifting && extra < 1e-4f) continue;
            var pixels = _footprints.PixelsOf(n);
            var weights = _footprints.WeightsOf(n);
            for (int k = 0; k < pixels.Length; k++) _photons[pixels[k]] += weights[k] * extra;
        }
        if (_motion is null) return _photons;
        _motion.Warp(_photons, _warped);
        return _warped;
    }

    /// <summary>The ν (%/√Hz) that shot noise alone gives the ROI-mean ΔF/F of each neuron's mask: with Λ the expected
    /// photons summed over the mask per frame (at rest, plus the mean light the neuron's own firing adds:
    /// rate · ΔF/F per spike · kernel area), σ(ΔF/F) = 1/√Λ and ν = 100 · 0.6745·√2 · σ / √f. Returns the median.</summary>
    private double PredictNoiseLevels(double[] nu, double baselinePhotons)
    {
        if (_neurons == 0) return double.NaN;
        double kernelAreaS = _kernelNorm * (_indicator.DecayS - _indicator.RiseS);
        for (int n = 0; n < _neurons; n++)
        {
            double sum = 0, weights = 0;
            var pixels = _footprints.PixelsOf(n);
            var w = _footprints.WeightsOf(n);
            for (int k = 0; k < pixels.Length; k++) { sum += _staticPhotons[pixels[k]]; weights += w[k]; }
            sum += weights * baselinePhotons * _indicator.DffPerSpike * _rateHz[n] * kernelAreaS;
            nu[n] = sum > 0 ? 100 * MedianAbsDifferenceOfNormals / Math.Sqrt(sum * FrameRateHz) : double.PositiveInfinity;
        }
        var sorted = (double[])nu.Clone();
        Array.Sort(sorted);
        int m = sorted.Length;
        return m % 2 == 1 ? sorted[m / 2] : 0.5 * (sorted[m / 2 - 1] + sorted[m / 2]);
    }

    /// <summary>Advances the tissue by one frame without producing pixels (a frame the rig had to drop): spikes,
    /// calcium, pathways and stimulation go on as if it had been rendered.</summary>
    public void Advance() => StepBiology();

    /// <summary>
    /// Queues a photostimulation train. Pulse k starts at <c>SampleTimeNs + k/PulseRateHz</c> and lasts
    /// <c>PulseWidthMs</c>; it is applied when the tissue renders the frame whose sample-time window contains its start
    /// (or the next frame rendered when that window is already past). Every neuron whose centroid lies within the
    /// opsin's spot radius of a target spot is driven through the opsin kinetics (<see cref="OpsinProfile"/>) and may
    /// fire once per pulse; its spike lands in the frame that contains its time (pulse start + threshold crossing +
    /// latency), or in the next frame rendered when that is already past. Thread-safe, allocation-free.
    /// </summary>
    public void Stimulate(in StimulationCommand command)
    {
        if (command.Targets is null) throw new ArgumentException("The command has no targets.", nameof(command));
        if (command.PulseCount < 1) throw new ArgumentOutOfRangeException(nameof(command), command.PulseCount, "PulseCount must be at least 1.");
        if (command.PulseCount > 1 && !(command.PulseRateHz > 0 && !double.IsInfinity(command.PulseRateHz)))
            throw new ArgumentOutOfRangeException(nameof(command), command.PulseRateHz, "PulseRateHz must be finite and > 0 for a train of several pulses.");
        if (!(command.PowerMw >= 0) || double.IsInfinity(command.PowerMw))
            throw new ArgumentOutOfRangeException(nameof(command), command.PowerMw, "PowerMw must be finite and ≥ 0.");
        if (!(command.PulseWidthMs >= 0) || double.IsInfinity(command.PulseWidthMs))
            throw new ArgumentOutOfRangeException(nameof(command), command.PulseWidthMs, "PulseWidthMs must be finite and ≥ 0.");
        double intervalNs = command.PulseCount > 1 ? 1e9 / command.PulseRateHz : 0;
        lock (_gate)
        {
            if (_pendingCount == _pending.Length)
            {
                _trainsDropped++;
                return;
            }
            _pending[_pendingCount++] = new PendingTrain(command.Targets, command.PowerMw, command.PulseWidthMs, command.SampleTimeNs,
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

        if (_spikefinder is not null)
            _spikefinder.Fire((frame + 1) * (_framePeriodNs / 1e9), spikes);
        else
            for (int n = 0; n < _neurons; n++)
            {
                double mean = _spontaneousMean[n];
                if (mean > 0) spikes[n] += _rngSpontaneous.NextPoissonSmall(mean, _spontaneousExp[n]);
            }

        ApplyDuePulses(frame, spikes);

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

        // Indicator: a spike at the start of the frame adds norm·(e^(−t/τd) − e^(−t/τr)); the frame shows its value at
        // the frame's end, so two AR(1) states (decay and rise) advance as state ← γ·(state + spikes).
        double gr = _gammaRise, gd = _gammaDecay, norm = _kernelNorm;
        var indicator = _indicator;
        for (int n = 0; n < _neurons; n++)
        {
            int s = spikes[n];
            double decay = gd * (_decayState[n] + s), rise = gr * (_riseState[n] + s);
            _decayState[n] = decay;
            _riseState[n] = rise;
            double c = norm * (decay - rise);
            _calcium[n] = (float)c;
            _dff[n] = (float)indicator.Dff(c);
            _spikeCounts[n] += s;
        }

        _neuropil = _neuropil * _neuropilDecay + _neuropilInnovation * _rngNeuropil.NextGaussian();

        // Brightness: shared slow drift (lognormal, mean 1) and bleaching, at the frame's start time.
        double drift = 1;
        if (_driftFraction > 0)
        {
            _globalDrift = _globalDrift * _driftDecay + _driftInnovation * _rngDrift.NextGaussian();
            drift = Math.Exp(_driftFraction * _globalDrift - 0.5 * _driftFraction * _driftFraction);
        }
        _brightness = drift * Math.Exp(-frame * (_framePeriodNs / 1e9) / _bleachTauS);
        if (_neuronDriftFraction > 0)
        {
            double sd = _neuronDriftFraction, offset = 0.5 * sd * sd;
            for (int n = 0; n < _neurons; n++)
            {
                double x = _neuronDrift[n] * _driftDecay + _driftInnovation * _rngDrift.NextGaussian();
                _neuronDrift[n] = x;
                _neuronGain[n] = (float)Math.Exp(sd * x - offset);
            }
        }
        _motion?.Step();
        Volatile.Write(ref _frames, frame + 1);
    }

    private void ApplyDuePulses(long frame, Span<int> spikes)
    {
        long windowEndNs = (frame + 1) * _framePeriodNs;
        int batches = 0;
        lock (_gate)
        {
            int keep = 0;
            for (int i = 0; i < _pendingCount; i++)
            {
                ref var train = ref _pending[i];
                int first = train.Next, count = 0;
                while (train.Next < train.PulseCount && train.FirstPulseNs + (long)(train.Next * train.PulseIntervalNs) < windowEndNs)
                {
                    train.Next++;
                    count++;
                }
                if (count > 0) _due[batches++] = new DueBatch(train.Targets!, train.PowerMw, train.WidthMs, train.FirstPulseNs,
                    train.PulseIntervalNs, first, count, train.PulseCount);
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
            double gapMs = batch.IntervalNs / 1e6 - batch.WidthMs;
            for (int n = 0; n < _neurons; n++)
            {
                bool hit = false;
                for (int s = 0; s < xs.Length && !hit; s++)
                {
                    double dx = cx[n] - xs[s], dy = cy[n] - ys[s];
                    hit = dx * dx + dy * dy <= _spotRadius2Px;
                }
                if (!hit) continue;
                for (int k = batch.First; k < batch.First + batch.Pulses; k++)
                {
                    long onsetNs = batch.FirstPulseNs + (long)(k * batch.IntervalNs);
                    double open = _opsin.Decay(_opsinOpen[n], (onsetNs - _opsinUntilNs[n]) / 1e6);
                    double gap = k + 1 < batch.PulseCount && gapMs > 0 ? gapMs : double.PositiveInfinity;
                    double threshold = -Math.Log(_rngEvoked.NextDoubleNonZero());
                    double crossingMs = _opsin.Crossing(batch.PowerMw, batch.WidthMs, open, gap, threshold, out double openEnd);
                    _opsinOpen[n] = openEnd;
                    _opsinUntilNs[n] = onsetNs + (long)(batch.WidthMs * 1e6);
                    if (crossingMs < 0) continue;
                    long spikeNs = onsetNs + (long)(crossingMs * 1e6) + _opsinLatencyNs;
                    long ahead = spikeNs < windowEndNs ? 0 : Math.Min(_opsinReachFrames, (spikeNs - frame * _framePeriodNs) / _framePeriodNs);
                    if (ahead <= 0) spikes[n]++;
                    else _delayRing[(int)((frame + ahead) % _ringFrames) * _neurons + n]++;
                }
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

    private struct PendingTrain(StimulationTargets targets, double powerMw, double widthMs, long firstPulseNs, double pulseIntervalNs, int pulseCount, int next)
    {
        public StimulationTargets? Targets = targets;
        public readonly double PowerMw = powerMw;
        public readonly double WidthMs = widthMs;
        public readonly long FirstPulseNs = firstPulseNs;
        public readonly double PulseIntervalNs = pulseIntervalNs;
        public readonly int PulseCount = pulseCount;
        public int Next = next;
    }

    private readonly record struct DueBatch(StimulationTargets Targets, double PowerMw, double WidthMs, long FirstPulseNs,
        double IntervalNs, int First, int Pulses, int PulseCount);
}
