using ClosedLoop.Core;

namespace ClosedLoop.Control.Mea;

/// <summary>Settings of <see cref="BakkumProtocol"/> (protocol kind <c>bakkum</c>).</summary>
public sealed class BakkumSettings : IStageSettings
{
    /// <summary>Electrical stimulator (profile name).</summary>
    public string Stimulator { get; set; } = "";

    /// <summary>Probe electrodes: the context-control probing sequence (CPS) pulses each once per cycle, in this order.</summary>
    public string Probes { get; set; } = "";

    /// <summary>Electrodes whose evoked spikes make the motor output (centre of activity).</summary>
    public string Output { get; set; } = "";

    /// <summary>Electrodes the patterned training (PTS) and shuffled background stimulation (SBS) use.</summary>
    public string Training { get; set; } = "";

    /// <summary>Cycles (CPS → output → PTS or SBS → rest) to run, baseline cycles included.</summary>
    public int Cycles { get; set; } = 100;

    /// <summary>First cycles, without training (SBS only), whose mean centre of activity is the origin of the output.</summary>
    public int BaselineCycles { get; set; } = 10;

    /// <summary>Spontaneous activity before the first cycle, s.</summary>
    public double WarmUpS { get; set; } = 2;

    /// <summary>Time between two probe pulses of the CPS, ms.</summary>
    public double ProbeIntervalMs { get; set; } = 100;

    /// <summary>Start of the window after each probe in which spikes count, ms.</summary>
    public double ResponseWindowStartMs { get; set; } = 5;

    /// <summary>End of that window, ms (at most the probe interval).</summary>
    public double ResponseWindowEndMs { get; set; } = 50;

    /// <summary>Goal direction of the output, degrees (0 = towards higher x, 90 = towards higher y on the array).</summary>
    public double GoalDeg { get; set; }

    /// <summary>An output within this angle of the goal is right (SBS follows); beyond it, wrong (PTS follows), degrees.</summary>
    public double ToleranceDeg { get; set; } = 45;

    /// <summary>PTS patterns in the pool.</summary>
    public int PoolSize { get; set; } = 4;

    /// <summary>Pulses per electrode of a PTS pattern (and pulses of SBS: twice this, matched).</summary>
    public int TrainingPulses { get; set; } = 10;

    /// <summary>Rate of each PTS train, Hz (the feedback lasts <see cref="TrainingPulses"/> / this).</summary>
    public double TrainingRateHz { get; set; } = 20;

    /// <summary>Delay of the second electrode of a PTS pair after the first, ms.</summary>
    public double PairDelayMs { get; set; } = 5;

    /// <summary>Rest without stimulation after the feedback, s.</summary>
    public double RestS { get; set; } = 0.5;

    /// <summary>Control: the output is ignored; on a random half of the cycles a random pool pattern is delivered as PTS,
    /// SBS on the others, and the pool never changes.</summary>
    public bool OpenLoop { get; set; }

    /// <summary>Seed of the pool, the SBS and the control's choices.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Current of each phase, µA.</summary>
    public double AmplitudeUa { get; set; } = 15;

    /// <summary>Width of each phase, µs.</summary>
    public double PhaseUs { get; set; } = 200;

    /// <summary>Where these settings sit in the experiment file.</summary>
    public string SettingPath { get; set; } = "protocol";

    /// <summary>How long a PTS or SBS feedback lasts, s.</summary>
    public double FeedbackS => TrainingPulses / TrainingRateHz + PairDelayMs / 1000;

    /// <inheritdoc />
    public void Validate()
    {
        string p = SettingPath;
        Check.NotEmpty($"{p}.stimulator", Stimulator);
        Check.NotEmpty($"{p}.probes", Probes);
        Check.NotEmpty($"{p}.output", Output);
        Check.NotEmpty($"{p}.training", Training);
        Check.InRange($"{p}.cycles", Cycles, 1, 100_000);
        Check.InRange($"{p}.baselineCycles", BaselineCycles, 1, Math.Max(1, Cycles - 1));
        Check.InRange($"{p}.warmUpS", WarmUpS, 0, 3600);
        Check.InRange($"{p}.probeIntervalMs", ProbeIntervalMs, 1, 10_000);
        Check.InRange($"{p}.responseWindowMs[0]", ResponseWindowStartMs, 0, ProbeIntervalMs);
        Check.InRange($"{p}.responseWindowMs[1]", ResponseWindowEndMs, ResponseWindowStartMs + 0.001, ProbeIntervalMs);
        Check.InRange($"{p}.goalDeg", GoalDeg, -360, 360);
        Check.InRange($"{p}.toleranceDeg", ToleranceDeg, 1, 179);
        Check.InRange($"{p}.poolSize", PoolSize, 1, 1000);
        Check.InRange($"{p}.training.pulses", TrainingPulses, 1, 10_000);
        Check.InRange($"{p}.training.rateHz", TrainingRateHz, 0.1, 500);
        Check.InRange($"{p}.training.pairDelayMs", PairDelayMs, 0, 1000.0 / TrainingRateHz);
        Check.InRange($"{p}.restS", RestS, 0, 3600);
        Check.InRange($"{p}.pulse.amplitudeUa", AmplitudeUa, 0.001, 10_000);
        Check.InRange($"{p}.pulse.phaseUs", PhaseUs, 1, 100_000);
    }
}

/// <summary>One cycle of a Bakkum run.</summary>
/// <param name="Index">Cycle number from 1.</param>
/// <param name="StartS">Time of its first probe, s.</param>
/// <param name="EndS">End of its rest, s (the start of the next cycle's probes at the latest).</param>
/// <param name="EvokedSpikes">Spikes of the output electrodes in the response windows of the CPS.</param>
/// <param name="CentreX">Centre of activity, x, µm (NaN without spikes).</param>
/// <param name="CentreY">Centre of activity, y, µm.</param>
/// <param name="OutputDeg">Direction of the output (centre of activity − baseline centre), degrees; null in the baseline or without spikes.</param>
/// <param name="ErrorDeg">Angle between output and goal, 0–180 degrees (180 without evoked spikes); null in the baseline.</param>
/// <param name="Feedback">baseline, pts or sbs.</param>
/// <param name="Pattern">The PTS pair delivered ("a→b", electrode names), or null.</param>
/// <param name="Stimuli">Commands delivered in the cycle.</param>
/// <param name="Refused">Commands the interlock refused in the cycle.</param>
public sealed record BakkumCycle(int Index, double StartS, double EndS, int EvokedSpikes, double CentreX, double CentreY,
    double? OutputDeg, double? ErrorDeg, string Feedback, string? Pattern, int Stimuli, int Refused);

/// <summary>
/// Bakkum, Chao &amp; Potter (2008) on an MEA. Each cycle: the context-control probing sequence (CPS) pulses the probe
/// electrodes one after another; the spikes of the output electrodes in a window after each probe give a centre of
/// activity (spike-weighted mean electrode position); its displacement from the mean of the baseline cycles is the
/// motor output, compared with a goal direction. When the output is more than <see cref="BakkumSettings.ToleranceDeg"/>
/// off the goal, a patterned training stimulus (PTS: a pair of training electrodes pulsed at a rate, the second a few ms
/// after the first) from a pool follows; otherwise shuffled background stimulation (SBS: as many pulses, on random
/// training electrodes at random times within the same duration). The pool learns: a pattern after which the error
/// is right is kept; one after which it is still wrong loses credit and, below zero, is replaced by a new random pair. The
/// control (<see cref="BakkumSettings.OpenLoop"/>) ignores the output: PTS from a random pool pattern on a random
/// half of the cycles, SBS on the others. Cycles are reported as trials whose "response" value is the output error
/// in degrees. Sample-clock timing; allocation-free per block except for the event log.
/// </summary>
public sealed class BakkumProtocol : IProtocolStage
{
    private enum State { WarmUp, Probing, Feedback, Rest, Done }

    private readonly BakkumSettings _s;
    private readonly SafetyInterlock _interlock;
    private readonly StimulationChannel _channel;
    private readonly int[] _probes, _output, _training;
    private readonly string[] _names;
    private readonly double[] _x, _y;
    private readonly StimulationTargets[] _single; // one target set per electrode index (allocated once)
    private readonly PopulationActivity _activity;
    private readonly float[] _counts;
    private readonly (int A, int B)[] _pool;
    private readonly int[] _score;
    private readonly long[] _pendingNs;
    private readonly int[] _pendingElectrode;
    private readonly List<BakkumCycle> _cycles = new(256);
    private Random _random;
    private RunContext? _context;
    private State _state;
    private long _cycleStartNs, _nextProbeNs, _lastProbeNs, _windowStartNs, _windowEndNs, _intervalNs, _phaseEndNs;
    private int _probeIndex, _cycleIndex, _pendingCount, _pendingNext, _stimuli, _refused, _current, _lastPattern = -1;
    private double _baseX, _baseY;
    private int _baselineN;
    private BakkumCycle? _open;

    /// <summary>Wires the protocol to its electrodes (unit indices, positions in µm, names) and the interlock channel.</summary>
    public BakkumProtocol(BakkumSettings settings, int[] probes, int[] output, int[] training, double[] xUm, double[] yUm, string[] names,
        PopulationActivity activity, SafetyInterlock interlock, StimulationChannel channel)
    {
        settings.Validate();
        if (training.Distinct().Count() < 2)
            throw new SettingException($"{settings.SettingPath}.training", settings.Training, "a group of at least two electrodes (a PTS pattern is a pair)");
        _s = settings;
        _interlock = interlock;
        _channel = channel;
        _probes = probes.ToArray();
        _output = output.ToArray();
        _training = training.Distinct().ToArray();
        _x = xUm;
        _y = yUm;
        _names = names;
        _activity = activity;
        _single = Enumerable.Range(0, activity.Units).Select(e => new StimulationTargets(names[e], [e])).ToArray();
        _counts = new float[activity.Units];
        _pool = new (int, int)[settings.PoolSize];
        _score = new int[settings.PoolSize];
        _pendingNs = new long[2 * settings.TrainingPulses];
        _pendingElectrode = new int[2 * settings.TrainingPulses];
        _random = new Random(settings.Seed);
        // The steadiest stimulation of a cycle is the PTS: one electrode's train at its rate, the other's a few ms later.
        SafetyInterlock.CheckTemplate(channel, Pulse(_single[_training[0]], 0), $"{settings.SettingPath}.pulse", 2 * settings.TrainingRateHz, $"{settings.SettingPath}.training.rateHz");
        SafetyInterlock.CheckTemplate(channel, Pulse(_single[_probes[0]], 0), $"{settings.SettingPath}.pulse", 1000 / settings.ProbeIntervalMs, $"{settings.SettingPath}.probeIntervalMs");
    }

    /// <inheritdoc />
    public string Name => "protocol";

    /// <summary>The settings.</summary>
    public BakkumSettings Settings => _s;

    /// <summary>Cycles finished so far (a copy).</summary>
    public IReadOnlyList<BakkumCycle> Cycles { get { lock (_cycles) return _cycles.ToArray(); } }

    /// <inheritdoc />
    public IReadOnlyList<TrialRecord> Trials =>
        Cycles.Select(c => new TrialRecord(c.Index, c.StartS, c.EndS, c.Stimuli, c.Refused, c.ErrorDeg)).ToArray();

    /// <inheritdoc />
    public string StateName => _state.ToString();

    /// <inheritdoc />
    public void Start(RunContext context)
    {
        _context = context;
        _state = State.WarmUp;
        _cycleIndex = 0;
        _baselineN = 0;
        _baseX = _baseY = 0;
        _lastPattern = -1;
        _current = 0;
        _random = new Random(_s.Seed);
        for (int i = 0; i < _pool.Length; i++) { _pool[i] = RandomPair(); _score[i] = 0; }
        _intervalNs = (long)Math.Round(_s.ProbeIntervalMs * 1e6);
        _windowStartNs = (long)Math.Round(_s.ResponseWindowStartMs * 1e6);
        _windowEndNs = (long)Math.Round(_s.ResponseWindowEndMs * 1e6);
        lock (_cycles) _cycles.Clear();
        _open = null;
        _phaseEndNs = long.MinValue;
    }

    /// <inheritdoc />
    public void RegisterParameters(ParameterBoard board)
    {
        string p = _s.SettingPath;
        board.Register($"{p}.toleranceDeg", "deg", 1, 179, () => _s.ToleranceDeg, v => _s.ToleranceDeg = v, "output within this angle of the goal counts as right");
    }

    /// <inheritdoc />
    public void Process(Frame frame)
    {
        long now = frame.SampleTimeNs + frame.FramePeriodNs;
        switch (_state)
        {
            case State.WarmUp:
                if (_phaseEndNs == long.MinValue) _phaseEndNs = now - frame.FramePeriodNs + (long)(_s.WarmUpS * 1e9);
                if (now < _phaseEndNs) break;
                BeginCycle(now);
                goto case State.Probing;
            case State.Probing:
                Count(frame.SampleTimeNs);
                if (_probeIndex < _probes.Length)
                {
                    if (now >= _nextProbeNs)
                    {
                        Deliver(_single[_probes[_probeIndex]], now);
                        _lastProbeNs = now;
                        _probeIndex++;
                        _nextProbeNs += _intervalNs;
                    }
                }
                else if (now >= _lastProbeNs + _windowEndNs)
                {
                    Evaluate(now);
                    DeliverDue(now, frame.FramePeriodNs); // the feedback starts with the next block
                }
                break;
            case State.Feedback:
                DeliverDue(now, frame.FramePeriodNs);
                if (now >= _phaseEndNs) { _state = State.Rest; _phaseEndNs = now + (long)(_s.RestS * 1e9); }
                break;
            case State.Rest:
                if (now < _phaseEndNs) break;
                FinishCycle(now);
                if (_cycleIndex >= _s.Cycles)
                {
                    _state = State.Done;
                    _context!.RequestStop($"bakkum finished its {_s.Cycles} cycles");
                    break;
                }
                BeginCycle(now);
                goto case State.Probing;
        }
    }

    /// <inheritdoc />
    public void Stop() { }

    /// <summary>Hands the interlock the feedback pulses that start before the end of the next block, at their own times.</summary>
    private void DeliverDue(long now, long periodNs)
    {
        while (_pendingNext < _pendingCount && _pendingNs[_pendingNext] < now + periodNs)
        {
            Deliver(_single[_pendingElectrode[_pendingNext]], Math.Max(now, _pendingNs[_pendingNext]));
            _pendingNext++;
        }
    }

    private void BeginCycle(long now)
    {
        _state = State.Probing;
        _cycleIndex++;
        _cycleStartNs = now;
        _nextProbeNs = now;
        _lastProbeNs = long.MinValue;
        _probeIndex = 0;
        _stimuli = 0;
        _refused = 0;
        Array.Clear(_counts);
    }

    /// <summary>Adds the output electrodes' spikes of this block when it lies in the window after the latest probe.</summary>
    private void Count(long blockStartNs)
    {
        if (_lastProbeNs == long.MinValue) return;
        long lag = blockStartNs - _lastProbeNs;
        if (lag < _windowStartNs || lag >= _windowEndNs) return;
        float[] raw = _activity.Raw;
        foreach (int e in _output) _counts[e] += raw[e];
    }

    private void Evaluate(long now)
    {
        double total = 0, sx = 0, sy = 0;
        foreach (int e in _output) { total += _counts[e]; sx += _counts[e] * _x[e]; sy += _counts[e] * _y[e]; }
        double cx = total > 0 ? sx / total : double.NaN, cy = total > 0 ? sy / total : double.NaN;
        bool baseline = _cycleIndex <= _s.BaselineCycles;
        double? outputDeg = null, errorDeg = null;
        string feedback;
        int pattern = -1;
        if (baseline)
        {
            if (total > 0) { _baseX += cx; _baseY += cy; _baselineN++; }
            feedback = "baseline";
        }
        else
        {
            double error = 180;
            if (total > 0 && _baselineN > 0)
            {
                double dx = cx - _baseX / _baselineN, dy = cy - _baseY / _baselineN;
                if (dx != 0 || dy != 0)
                {
                    double angle = Math.Atan2(dy, dx) * 180 / Math.PI;
                    outputDeg = Math.Round(angle, 3);
                    error = Math.Abs(((angle - _s.GoalDeg) % 360 + 540) % 360 - 180);
                }
            }
            errorDeg = Math.Round(error, 3);
            if (_s.OpenLoop)
            {
                if (_random.NextDouble() < 0.5) pattern = _random.Next(_pool.Length);
            }
            else
            {
                if (_lastPattern >= 0)
                {
                    // Credit the pattern delivered after the previous (wrong) output: kept while the output it is
                    // followed by is right; replaced once it has failed more often than it succeeded.
                    if (error <= _s.ToleranceDeg) _score[_lastPattern]++;
                    else if (--_score[_lastPattern] < 0)
                    {
                        _pool[_lastPattern] = RandomPair();
                        _score[_lastPattern] = 0;
                        _current = (_lastPattern + 1) % _pool.Length;
                    }
                }
                if (error > _s.ToleranceDeg) pattern = _current;
            }
            _lastPattern = _s.OpenLoop ? -1 : pattern;
            feedback = pattern >= 0 ? "pts" : "sbs";
        }
        SchedulePts(now, pattern);
        _open = new BakkumCycle(_cycleIndex, _cycleStartNs / 1e9, 0, (int)total, Math.Round(cx, 2), Math.Round(cy, 2), outputDeg, errorDeg, feedback,
            pattern >= 0 ? $"{_names[_pool[pattern].A]}→{_names[_pool[pattern].B]}" : null, 0, 0);
        _state = State.Feedback;
        _phaseEndNs = now + (long)Math.Round(_s.FeedbackS * 1e9);
    }

    /// <summary>Fills the pending pulses: the pool pattern's pair (<paramref name="pattern"/> ≥ 0) or SBS (as many pulses
    /// on random training electrodes at random times within the same duration).</summary>
    private void SchedulePts(long now, int pattern)
    {
        int n = _s.TrainingPulses;
        long periodNs = (long)Math.Round(1e9 / _s.TrainingRateHz), delayNs = (long)Math.Round(_s.PairDelayMs * 1e6);
        _pendingCount = 2 * n;
        _pendingNext = 0;
        for (int i = 0; i < n; i++)
        {
            if (pattern >= 0)
            {
                _pendingNs[2 * i] = now + i * periodNs;
                _pendingElectrode[2 * i] = _pool[pattern].A;
                _pendingNs[2 * i + 1] = now + i * periodNs + delayNs;
                _pendingElectrode[2 * i + 1] = _pool[pattern].B;
            }
            else
            {
                for (int k = 0; k < 2; k++)
                {
                    // Whole milliseconds apart from each other is not guaranteed; the interlock decides per pulse.
                    _pendingNs[2 * i + k] = now + (long)(_random.NextDouble() * n * periodNs);
                    _pendingElectrode[2 * i + k] = _training[_random.Next(_training.Length)];
                }
            }
        }
        Array.Sort(_pendingNs, _pendingElectrode, 0, _pendingCount);
    }

    private void FinishCycle(long now)
    {
        if (_open is null) return;
        var done = _open with { EndS = now / 1e9, Stimuli = _stimuli, Refused = _refused };
        _open = null;
        lock (_cycles) _cycles.Add(done);
        _context!.Events.Add(new RunEvent(RunEventKind.TrialEnded, now, MonotonicClock.NowNs(), "bakkum",
            done.ErrorDeg is double e
                ? $"cycle {done.Index}: output {(done.OutputDeg is double o ? $"{o:0} deg" : "none")}, error {e:0} deg → {done.Feedback}{(done.Pattern is null ? "" : " " + done.Pattern)}"
                : $"cycle {done.Index}: baseline ({done.EvokedSpikes} evoked spikes)", done.ErrorDeg ?? double.NaN));
    }

    private (int, int) RandomPair()
    {
        int a = _training[_random.Next(_training.Length)], b;
        do b = _training[_random.Next(_training.Length)]; while (b == a);
        return (a, b);
    }

    private void Deliver(StimulationTargets targets, long at)
    {
        if (_interlock.TryDeliver(_channel, Pulse(targets, at))) _stimuli++;
        else _refused++;
    }

    private StimulationCommand Pulse(StimulationTargets targets, long at) =>
        new(targets, 0, 2 * _s.PhaseUs / 1000, 1, 0, at)
        {
            AmplitudeUa = _s.AmplitudeUa, PhaseWidthUs = _s.PhaseUs, BalanceAmplitudeUa = _s.AmplitudeUa, BalancePhaseWidthUs = _s.PhaseUs,
        };
}
