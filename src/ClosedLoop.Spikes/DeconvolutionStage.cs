using ClosedLoop.Core;

namespace ClosedLoop.Spikes;

/// <summary>
/// Fast-loop stage (name <c>spikes</c>) that deconvolves each unit's ΔF/F (<see cref="PopulationActivity.Dff"/>) online
/// with OASIS and writes the inferred spike rate, spikes per frame, to <see cref="PopulationActivity.Rate"/>. It must
/// run after the stage that fills ΔF/F for the same frame.
/// <para><b>Per frame</b>, for each unit: the new sample becomes a pool and is merged backwards while it breaks the
/// constraint "each spike ≥ s_min" (O(1) amortised), then the estimate for frame t − <see cref="OasisSettings.LookAheadFrames"/>
/// is written (0 until that frame exists): amplitude / <see cref="OasisSettings.SpikeAmplitudeDff"/>. Nothing is allocated.</para>
/// <para><b>Parameters.</b> At Start every unit gets γ, σ (hence λ, s_min) from the settings and a baseline of 0. The
/// slow path calls <see cref="Refit"/> (any thread but the loop's): it copies the recent window of ΔF/F the stage keeps
/// (<see cref="OasisSettings.EstimateWindowS"/>), estimates each unit's parameters and hands the whole set over; the loop
/// picks it up at the start of the next frame, restarts each unit's pools and replays the look-ahead frames so the
/// output continues without a gap. Spikes before the hand-over are final.</para>
/// </summary>
public sealed class DeconvolutionStage : IFastStage
{
    private readonly OasisSettings _settings;
    private readonly PopulationActivity _activity;

    // Per-run state, created at Start.
    private int _units;
    private double _rateHz;
    private float _scale;
    private OasisTrack[] _tracks = [];
    private OasisParameters[] _current = [];
    private OasisParameters[]? _pending;
    private long _frames;
    private long _changes;
    private FrameHistory _history = new(1, 0);

    /// <summary>Creates the stage reading ΔF/F from and writing the rate to <paramref name="activity"/>.</summary>
    public DeconvolutionStage(OasisSettings settings, PopulationActivity activity)
    {
        _settings = settings;
        _activity = activity;
    }

    /// <inheritdoc />
    public string Name => "spikes";

    /// <summary>Added latency of the estimate, in frames (the look-ahead).</summary>
    public int LatencyFrames => _settings.LookAheadFrames;

    /// <summary>Added latency of the estimate in seconds at this run's frame rate (set at Start).</summary>
    public double LatencyS => _rateHz > 0 ? _settings.LookAheadFrames / _rateHz : 0;

    /// <summary>The parameters each unit is deconvolved with now (an immutable snapshot; replaced at each hand-over).</summary>
    public IReadOnlyList<OasisParameters> CurrentParameters => Volatile.Read(ref _current);

    /// <summary>How many parameter sets the loop has taken over since Start.</summary>
    public long ParameterChanges => Interlocked.Read(ref _changes);

    /// <summary>Frames of ΔF/F kept for refits in this run (set at Start).</summary>
    public int HistoryFrames => _history.Frames;

    /// <inheritdoc />
    public void Start(RunContext context)
    {
        _settings.Validate();
        _rateHz = context.FrameRateHz;
        _units = _activity.Units;
        _scale = (float)(1.0 / _settings.SpikeAmplitudeDff);
        var initial = OasisParameters.FromSettings(_settings, _rateHz);
        _current = new OasisParameters[_units];
        Array.Fill(_current, initial);
        _tracks = new OasisTrack[_units];
        for (int i = 0; i < _units; i++)
        {
            _tracks[i] = new OasisTrack(_settings.MaxPools, _settings.LookAheadFrames);
            _tracks[i].Reset(initial, 0);
        }
        _history = new FrameHistory(Math.Max(Math.Max(16, _settings.LookAheadFrames + 1), (int)Math.Round(_settings.EstimateWindowS * _rateHz)), _units);
        _frames = 0;
        _changes = 0;
        _pending = null;
    }

    /// <inheritdoc />
    public void Process(Frame frame)
    {
        if (_activity.FrameIndex != frame.FrameIndex) ThrowStale(frame);
        if (Volatile.Read(ref _pending) is not null)
        {
            var next = Interlocked.Exchange(ref _pending, null);
            if (next is not null) TakeOver(next);
        }

        float[] dff = _activity.Dff, rate = _activity.Rate;
        long f = _frames;
        _history.Write(f, dff);

        float scale = _scale;
        var tracks = _tracks;
        for (int i = 0; i < tracks.Length; i++) rate[i] = (float)tracks[i].Add(dff[i]) * scale;
        _frames = f + 1;
    }

    /// <inheritdoc />
    public void Stop()
    {
        Volatile.Write(ref _pending, null);
    }

    /// <summary>
    /// Slow path (call from any thread but the fast loop's): estimates every unit's γ, σ and baseline from the recent
    /// window of ΔF/F (up to <see cref="OasisSettings.EstimateWindowS"/>) and hands the set to the loop, which takes it
    /// over at the next frame boundary. With <see cref="OasisSettings.Estimate"/> off, the settings' values are handed
    /// over instead. Returns the proposed set, or null when fewer than 16 frames have been seen.
    /// </summary>
    public IReadOnlyList<OasisParameters>? Refit()
    {
        if (_units == 0) throw new InvalidOperationException("The stage has not been started.");
        int units = _units;
        var snapshot = _history.TryCopy(16);
        if (snapshot is null) return null;
        var window = new float[snapshot.Length];
        var proposal = new OasisParameters[units];
        for (int i = 0; i < units; i++)
        {
            snapshot.Column(i, window);
            proposal[i] = _settings.Estimate
                ? OasisEstimator.Estimate(window, _rateHz, _settings)
                : OasisParameters.FromSettings(_settings, _rateHz);
        }
        Propose(proposal);
        return proposal;
    }

    /// <summary>Hands a parameter set (one per unit, e.g. estimated elsewhere) to the loop, which takes it over at the
    /// next frame boundary; a set proposed before then replaces this one. Any thread.</summary>
    public void Propose(IReadOnlyList<OasisParameters> parameters)
    {
        if (parameters.Count != _units)
            throw new SettingException("spikes.parameters", parameters.Count, $"one set per unit ({_units})");
        for (int i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i];
            if (!(p.Gamma > 0 && p.Gamma < 1) || !(p.Rise >= 0 && p.Rise < 1) || !double.IsFinite(p.Baseline)
                || !(p.Lambda >= 0) || !(p.MinSpike >= 0) || double.IsInfinity(p.Lambda) || double.IsInfinity(p.MinSpike))
                throw new SettingException($"spikes.parameters[{i}]", p.ToString(), "0 < γ < 1, 0 ≤ rise < 1, a finite baseline, λ ≥ 0 and s_min ≥ 0");
        }
        Volatile.Write(ref _pending, parameters.ToArray());
    }

    private void TakeOver(OasisParameters[] next)
    {
        // Restart each unit's pools a look-ahead before this frame and replay those frames, so the frames whose
        // estimate is still to be written get one from the new parameters.
        int replay = (int)Math.Min(_settings.LookAheadFrames, _frames);
        long from = _frames - replay;
        for (int i = 0; i < _units; i++)
        {
            var track = _tracks[i];
            track.Reset(next[i], from);
            for (long f = from; f < _frames; f++) track.Add(_history[f, i]);
        }
        Volatile.Write(ref _current, next);
        Interlocked.Increment(ref _changes);
    }

    private void ThrowStale(Frame frame) =>
        throw new InvalidOperationException(
            $"Spike inference got frame {frame.FrameIndex} but the activity holds frame {_activity.FrameIndex}: put the ΔF/F stage before it.");
}
