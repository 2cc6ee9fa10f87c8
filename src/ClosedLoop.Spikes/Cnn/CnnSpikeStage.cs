using ClosedLoop.Core;

namespace ClosedLoop.Spikes.Cnn;

/// <summary>
/// Settings of the CNN spike stage (<see cref="CnnSpikeStage"/>, experiment <c>spikes: {method: cnn, …}</c>). Read once
/// at <see cref="IFastStage.Start"/>; the normalisation is re-estimated live from the recent window.
/// </summary>
public sealed class CnnSpikeSettings : IStageSettings
{
    /// <summary>ONNX files of the ensemble (written by <c>closedloop spikes train</c>); empty: the shipped ensemble.</summary>
    public IReadOnlyList<string> Models { get; set; } = [];

    /// <summary>Recent ΔF/F the normalisation (median, s.d.) and ν are estimated from, s. Range 2..600, default 30.</summary>
    public double NormWindowS { get; set; } = 30;

    /// <summary>ΔF/F seen before the first normalisation is estimated and the network starts, s. Range 0.5..NormWindowS,
    /// default 2.</summary>
    public double NormWarmupS { get; set; } = 2;

    /// <summary>Seconds of frames (sample clock) between re-estimates of the normalisation (slow thread). Range 0.5..600,
    /// default 5.</summary>
    public double RefitPeriodS { get; set; } = 5;

    /// <inheritdoc />
    public void Validate()
    {
        Check.InRange("spikes.normWindowS", NormWindowS, 2, 600);
        Check.InRange("spikes.normWarmupS", NormWarmupS, 0.5, NormWindowS);
        Check.InRange("spikes.refitPeriodS", RefitPeriodS, 0.5, 600);
        for (int i = 0; i < Models.Count; i++)
            if (string.IsNullOrWhiteSpace(Models[i])) throw new SettingException($"spikes.models[{i}]", Models[i], "a path to a spike-CNN .onnx file");
    }
}

/// <summary>One ROI's normalisation: the network sees (ΔF/F − <paramref name="Center"/>) / <paramref name="Scale"/>.</summary>
/// <param name="Center">Subtracted (the median of the window at the model rate).</param>
/// <param name="Scale">Divided by (the window's s.d. about the median, or its noise estimate, as the models were trained).</param>
/// <param name="Nu">Noise level ν of the window at the frame rate (as the models' training range is measured).</param>
public readonly record struct SpikeCnnScale(double Center, double Scale, double Nu)
{
    /// <summary>
    /// The normalisation of a recent window of ΔF/F sampled at <paramref name="frameRateHz"/>, by the same steps as
    /// training (<see cref="SpikeCnnPreprocessing.Normalise(ReadOnlySpan{double}, SpikeCnnNormalisation)"/> on the whole
    /// trace): resampled to the model rate, NaN held at the previous valid sample, then
    /// <see cref="SpikeCnnPreprocessing.Statistics"/> of <paramref name="kind"/>. This is the one place the online estimate
    /// is made; a test keeps it equal to the offline steps.
    /// </summary>
    public static SpikeCnnScale Estimate(ReadOnlySpan<double> dff, double frameRateHz, double modelRateHz, SpikeCnnNormalisation kind)
    {
        double nu = SpikeCnnPreprocessing.NoiseLevel(dff, frameRateHz);
        bool any = false;
        foreach (var v in dff) if (!double.IsNaN(v)) { any = true; break; }
        if (!any) return new SpikeCnnScale(0, 1, double.NaN);
        var x = SpikeCnnPreprocessing.HoldNaN(SpikeCnnPreprocessing.Resample(dff, frameRateHz, modelRateHz));
        var (center, scale) = SpikeCnnPreprocessing.Statistics(x, kind);
        return new SpikeCnnScale(center, scale, nu);
    }
}

/// <summary>
/// Fast-loop stage (name <c>spikes-cnn</c>) that runs an ensemble of spike CNNs on each ROI's ΔF/F
/// (<see cref="PopulationActivity.Dff"/>) sample by sample with <see cref="StreamingSpikeCnnEnsemble"/> and writes the
/// ensemble-mean rate, spikes per frame, to <see cref="PopulationActivity.Rate"/>; the ±1 s.d. band goes to
/// <see cref="Lower"/> and <see cref="Upper"/>. It must run after the ΔF/F stage.
/// <para><b>Rates.</b> The models work at their own rate (100 Hz for the shipped ones). Each frame, ΔF/F is linearly
/// interpolated to every model sample that falls in (previous frame, this frame] — the same interpolation as offline
/// resampling — and each goes through the network: ceil(model rate / frame rate) steps per frame at most, of which
/// all but the last only advance the layers' streams (no edge positions, no dense layers: a third to two fifths of a
/// step for the shipped shape). The value
/// written is the ensemble's output for the newest model sample minus the look-ahead L, scaled from spikes per model
/// sample to spikes per frame; the added latency is <see cref="LatencyS"/> = L / model rate.</para>
/// <para><b>Normalisation.</b> Off the loop (<see cref="Refit"/>, from the stage's slow thread or a caller), each ROI's
/// median, s.d. and ν are estimated from the recent <see cref="CnnSpikeSettings.NormWindowS"/> of ΔF/F the stage keeps
/// (seqlock-published rows) and handed over whole; the loop takes the set at the next frame start. Until the first set
/// (after <see cref="CnnSpikeSettings.NormWarmupS"/>) and for the first window of model samples after it, the rate
/// written is 0. A later set applies to new samples only: for one window after a hand-over the network sees samples
/// of both normalisations (a small step when the trace is stationary).</para>
/// <para><b>NaN.</b> A NaN ΔF/F sample is replaced by the ROI's last valid sample, as offline; before its first valid
/// sample a ROI feeds the network 0 (its median). Nothing is allocated per frame.</para>
/// </summary>
public sealed class CnnSpikeStage : IFastStage, IDisposable
{
    private readonly CnnSpikeSettings _settings;
    private readonly PopulationActivity _activity;
    private readonly IReadOnlyList<SpikeCnnModel> _models;

    private sealed class NormSet(float[] center, float[] invScale, float[] nu, int outside)
    {
        public readonly float[] Center = center, InvScale = invScale, Nu = nu;
        public readonly int Outside = outside;
    }

    // Per-run state, created at Start.
    private int _units;
    private double _frameHz, _modelHz;
    private SpikeCnnNormalisation _normalisation;
    private StreamingSpikeCnnEnsemble? _ensemble;
    private float[] _held = [], _prev = [], _x = [], _mean = [], _lower = [], _upper = [];
    private FrameHistory _history = new(1, 0);
    private int _warmupFrames;
    private long _frames;
    private NormSet? _norm, _pending;
    private double _rateSum;
    private long _rateFrames;
    private long _streamStart = -1, _nextSample, _changes, _steps, _maxStepsPerFrame;
    private Thread? _thread;
    private ManualResetEventSlim? _stopSlow;
    private Exception? _slowFault;

    /// <summary>Creates the stage for <paramref name="models"/> (one ensemble: same window, look-ahead and rate).</summary>
    public CnnSpikeStage(CnnSpikeSettings settings, PopulationActivity activity, IReadOnlyList<SpikeCnnModel> models)
    {
        _settings = settings;
        _activity = activity;
        _models = models;
        if (models.Count == 0) throw new SettingException("spikes.models", "(none)", "at least one spike-CNN model");
    }

    /// <inheritdoc />
    public string Name => "spikes-cnn";

    /// <summary>Loads the ensemble the settings name (the shipped one when <see cref="CnnSpikeSettings.Models"/> is empty);
    /// a missing or unsuitable file gives a <see cref="SettingException"/> naming its <c>spikes.models[i]</c> entry.</summary>
    public static IReadOnlyList<SpikeCnnModel> LoadModels(CnnSpikeSettings settings)
    {
        if (settings.Models.Count == 0)
            return SpikeCnnInference.ShippedModels().Select(m => SpikeCnnModel.Load(m.Bytes, m.Source)).ToArray();
        var models = new SpikeCnnModel[settings.Models.Count];
        for (int i = 0; i < models.Length; i++)
        {
            string path = settings.Models[i];
            if (!File.Exists(path)) throw new SettingException($"spikes.models[{i}]", path, "an existing spike-CNN .onnx file (written by 'closedloop spikes train')");
            try { models[i] = SpikeCnnModel.Load(File.ReadAllBytes(path), path); }
            catch (SettingException ex) { throw new SettingException($"spikes.models[{i}]", path, ex.Message); }
        }
        var m0 = models[0];
        for (int i = 1; i < models.Length; i++)
            if (models[i].WindowSamples != m0.WindowSamples || models[i].LookAheadSamples != m0.LookAheadSamples || models[i].RateHz != m0.RateHz)
                throw new SettingException($"spikes.models[{i}]", settings.Models[i], $"a model with the window ({m0.WindowSamples}), look-ahead ({m0.LookAheadSamples}) and rate ({m0.RateHz} Hz) of spikes.models[0]");
        return models;
    }

    /// <summary>One line for the run report: models, rates, latency, normalisation hand-overs and ν flags.</summary>
    public string Summary() => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{_models.Count} models, window {_models[0].WindowSamples} samples at {_modelHz:0.#} Hz, look-ahead {_models[0].LookAheadSamples} samples = {LatencyS * 1000:0} ms added latency; "
        + $"{Steps} steps, up to {MaxStepsPerFrameSeen} per frame (ceil({_modelHz:0.#} / {_frameHz:0.##} Hz) = {StepsPerFrame}); {NormalisationChanges} normalisation hand-overs; "
        + $"rates on {RateFrames} frames, mean {MeanRate:0.####} spikes per frame per ROI; "
        + $"{RoisOutsideTrainingNu} of {_units} ROIs with ν outside the training range {NuMin:0.00}–{NuMax:0.00}");

    /// <summary>When true (default), Start runs a slow thread that calls <see cref="Refit"/> (as soon as the warm-up is
    /// seen, then every <see cref="CnnSpikeSettings.RefitPeriodS"/> of frames, i.e. of the sample clock); tests turn it
    /// off and call Refit themselves.</summary>
    public bool AutoRefit { get; init; } = true;

    /// <summary>The models of the ensemble.</summary>
    public IReadOnlyList<SpikeCnnModel> Models => _models;

    /// <summary>Added latency of the rate, s: the look-ahead over the model rate.</summary>
    public double LatencyS => _models[0].LookAheadSamples / _models[0].RateHz;

    /// <summary>Lowest ν of the ensemble's training range.</summary>
    public double NuMin => _models.Min(m => m.NuMin);

    /// <summary>Highest ν of the ensemble's training range.</summary>
    public double NuMax => _models.Max(m => m.NuMax);

    /// <summary>Network steps per frame at this run's rates, at most (ceil(model rate / frame rate)); set at Start.</summary>
    public int StepsPerFrame => _frameHz > 0 ? (int)Math.Ceiling(_modelHz / _frameHz - 1e-9) : 0;

    /// <summary>Most network steps one frame took in this run.</summary>
    public long MaxStepsPerFrameSeen => Interlocked.Read(ref _maxStepsPerFrame);

    /// <summary>Network steps run (model samples) in this run.</summary>
    public long Steps => Interlocked.Read(ref _steps);

    /// <summary>Mean rate written, spikes per frame per ROI, over the frames after warm-up (NaN before any).</summary>
    public double MeanRate => _rateFrames > 0 ? _rateSum / _rateFrames / _units : double.NaN;

    /// <summary>Frames whose rate came from the network (after the normalisation and a window of samples).</summary>
    public long RateFrames => _rateFrames;

    /// <summary>Normalisation sets the loop has taken over since Start.</summary>
    public long NormalisationChanges => Interlocked.Read(ref _changes);

    /// <summary>Lower edge of the band (mean − 1 s.d., ≥ 0) per ROI, spikes per frame, for the same sample as the rate.</summary>
    public float[] Lower { get; private set; } = [];

    /// <summary>Upper edge of the band (mean + 1 s.d.) per ROI, spikes per frame.</summary>
    public float[] Upper { get; private set; } = [];

    /// <summary>ν per ROI of the normalisation in use (NaN before the first), at the model rate.</summary>
    public IReadOnlyList<float> Nu => Volatile.Read(ref _norm)?.Nu ?? [];

    /// <summary>ROIs whose ν (in the normalisation in use) lies outside the models' training range.</summary>
    public int RoisOutsideTrainingNu => Volatile.Read(ref _norm)?.Outside ?? 0;

    /// <summary>True for ROI <paramref name="roi"/> when its ν lies outside the models' training range (or is unknown).</summary>
    public bool IsOutsideTrainingNu(int roi)
    {
        var n = Volatile.Read(ref _norm);
        return n is not null && !(n.Nu[roi] >= NuMin && n.Nu[roi] <= NuMax);
    }

    /// <inheritdoc />
    public void Start(RunContext context)
    {
        _settings.Validate();
        _frameHz = context.FrameRateHz;
        _modelHz = _models[0].RateHz;
        _normalisation = _models[0].Normalisation;
        _units = _activity.Units;
        _ensemble = new StreamingSpikeCnnEnsemble(_models, _units);
        _held = new float[_units]; _prev = new float[_units];
        Array.Fill(_held, float.NaN); Array.Fill(_prev, float.NaN);
        _x = new float[_units]; _mean = new float[_units]; _lower = new float[_units]; _upper = new float[_units];
        Lower = new float[_units]; Upper = new float[_units];
        int historyFrames = Math.Max(4, (int)Math.Round(_settings.NormWindowS * _frameHz));
        _warmupFrames = Math.Max(2, (int)Math.Round(_settings.NormWarmupS * _frameHz));
        if ((long)historyFrames * _units > int.MaxValue) throw new SettingException("spikes.normWindowS", _settings.NormWindowS, "a shorter window for this many ROIs");
        _history = new FrameHistory(historyFrames, _units);
        _frames = 0;
        _norm = _pending = null;
        _streamStart = -1; _nextSample = 0; _changes = 0; _steps = 0; _maxStepsPerFrame = 0;
        _slowFault = null;
        _rateSum = 0; _rateFrames = 0;
        if (AutoRefit)
        {
            _stopSlow = new ManualResetEventSlim(false);
            _thread = new Thread(SlowLoop) { IsBackground = true, Name = "spikes-cnn refit", Priority = ThreadPriority.BelowNormal };
            _thread.Start();
        }
    }

    /// <inheritdoc />
    public void Process(Frame frame)
    {
        if (_activity.FrameIndex != frame.FrameIndex) ThrowStale(frame);
        if (Volatile.Read(ref _slowFault) is { } fault)
            throw new InvalidOperationException("The CNN spike stage's normalisation thread failed: " + fault.Message, fault);
        if (Volatile.Read(ref _pending) is not null)
        {
            var next = Interlocked.Exchange(ref _pending, null);
            if (next is not null)
            {
                if (_norm is null) _streamStart = _frames;
                Volatile.Write(ref _norm, next);
                Interlocked.Increment(ref _changes);
            }
        }

        float[] dff = _activity.Dff, rate = _activity.Rate;
        int units = _units;
        long f = _frames;
        _history.Write(f, dff);

        var held = _held;
        for (int i = 0; i < units; i++) { float v = dff[i]; if (!float.IsNaN(v)) held[i] = v; }

        var norm = _norm;
        var ensemble = _ensemble!;
        if (norm is not null)
        {
            // Model samples i with time i / model rate in (previous frame, this frame], counted from the stream start.
            long fr = f - _streamStart;
            double ratio = _frameHz / _modelHz;
            long steps = 0;
            float[] prev = _prev, x = _x, center = norm.Center, inv = norm.InvScale;
            for (long i = _nextSample; ; i++)
            {
                double pos = i * ratio;
                if (pos > fr + 1e-9) { _nextSample = i; break; }
                bool lastOfFrame = (i + 1) * ratio > fr + 1e-9;
                float frac = fr == 0 ? 1f : (float)(pos - (fr - 1));
                for (int u = 0; u < units; u++)
                {
                    float cur = held[u], before = float.IsNaN(prev[u]) ? cur : prev[u];
                    float v = before * (1 - frac) + cur * frac;
                    x[u] = float.IsNaN(v) ? 0f : (v - center[u]) * inv[u];
                }
                // Only the frame's last model sample needs an output; the others only advance the streams.
                if (lastOfFrame) ensemble.Step(x, _mean, _lower, _upper);
                else ensemble.Advance(x);
                steps++;
            }
            _steps += steps;
            if (steps > _maxStepsPerFrame) _maxStepsPerFrame = steps;
        }
        if (norm is not null && ensemble.Ready)
        {
            // Spikes per model sample → spikes per frame.
            float scale = (float)(_modelHz / _frameHz);
            float[] lo = Lower, hi = Upper;
            double sum = 0;
            for (int i = 0; i < units; i++) { rate[i] = _mean[i] * scale; lo[i] = _lower[i] * scale; hi[i] = _upper[i] * scale; sum += rate[i]; }
            _rateSum += sum;
            _rateFrames++;
        }
        else
        {
            rate.AsSpan(0, units).Clear();
            Lower.AsSpan().Clear();
            Upper.AsSpan().Clear();
        }
        held.AsSpan().CopyTo(_prev);
        _frames = f + 1;
    }

    /// <inheritdoc />
    public void Stop()
    {
        _stopSlow?.Set();
        _thread?.Join(TimeSpan.FromSeconds(10));
        _thread = null;
        _stopSlow?.Dispose();
        _stopSlow = null;
        Volatile.Write(ref _pending, null);
    }

    /// <summary>Stops the slow thread if a run is still going.</summary>
    public void Dispose() => Stop();

    /// <summary>
    /// Slow path (any thread but the fast loop's): estimates every ROI's normalisation and ν from the recent window of
    /// ΔF/F (<see cref="CnnSpikeSettings.NormWindowS"/>, at least <see cref="CnnSpikeSettings.NormWarmupS"/>) and hands
    /// the set to the loop, which takes it at the next frame start. Returns the set, or null while fewer frames have
    /// been seen than the warm-up.
    /// </summary>
    public IReadOnlyList<SpikeCnnScale>? Refit()
    {
        if (_units == 0) throw new InvalidOperationException("The stage has not been started.");
        int units = _units;
        var snapshot = _history.TryCopy(_warmupFrames);
        if (snapshot is null) return null;
        var window = new double[snapshot.Length];
        var result = new SpikeCnnScale[units];
        var center = new float[units]; var inv = new float[units]; var nu = new float[units];
        int outside = 0;
        double nuMin = NuMin, nuMax = NuMax;
        for (int i = 0; i < units; i++)
        {
            snapshot.Column(i, window);
            var e = SpikeCnnScale.Estimate(window, _frameHz, _modelHz, _normalisation);
            result[i] = e;
            center[i] = (float)e.Center; inv[i] = (float)(1 / e.Scale); nu[i] = (float)e.Nu;
            if (!(e.Nu >= nuMin && e.Nu <= nuMax)) outside++;
        }
        Volatile.Write(ref _pending, new NormSet(center, inv, nu, outside));
        return result;
    }

    private void SlowLoop()
    {
        var stop = _stopSlow!;
        // Scheduled on the sample clock (frames seen), not the wall clock, so a replayed or fast-paced run refits as
        // often per second of data as a real-time one.
        long period = Math.Max(1, (long)Math.Round(_settings.RefitPeriodS * _frameHz)), last = long.MinValue / 2;
        try
        {
            while (!stop.Wait(TimeSpan.FromMilliseconds(20)))
            {
                long seen = _history.Count;
                if (seen >= _warmupFrames && seen - last >= period && Refit() is not null) last = seen;
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Volatile.Write(ref _slowFault, ex);
        }
    }

    private void ThrowStale(Frame frame) =>
        throw new InvalidOperationException(
            $"CNN spike inference got frame {frame.FrameIndex} but the activity holds frame {_activity.FrameIndex}: put the ΔF/F stage before it.");
}
