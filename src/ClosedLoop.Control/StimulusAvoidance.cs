using ClosedLoop.Core;

namespace ClosedLoop.Control;

/// <summary>Settings of <see cref="StimulusAvoidanceProtocol"/>, read once when the run starts.</summary>
public sealed class StimulusAvoidanceSettings : IStageSettings
{
    /// <summary>Stimulator (profile name) that delivers the stimulus.</summary>
    public string Stimulator { get; set; } = "";

    /// <summary>Unit group whose positions are stimulated (the "sensory" group).</summary>
    public string Targets { get; set; } = "";

    /// <summary>Detector whose pattern is the wanted response (watching the "motor" group).</summary>
    public string Detector { get; set; } = "";

    /// <summary>Stimuli per second while a trial runs (Shahaf &amp; Marom used 0.3–1 Hz).</summary>
    public double StimulusRateHz { get; set; } = 1;

    /// <summary>Start of the response window after each stimulus, in s.</summary>
    public double ResponseWindowStartS { get; set; } = 0.1;

    /// <summary>End of the response window after each stimulus, in s.</summary>
    public double ResponseWindowEndS { get; set; } = 0.8;

    /// <summary>Pause without stimulation after a trial ends, in s.</summary>
    public double PauseS { get; set; } = 3;

    /// <summary>A trial without the response ends (timed out) after this long, in s.</summary>
    public double MaxTrialS { get; set; } = 30;

    /// <summary>Trials to run; the run ends after the last pause. 0 = until the run's duration is over.</summary>
    public int Trials { get; set; } = 10;

    /// <summary>Power per target, in mW.</summary>
    public double PowerMw { get; set; } = 8;

    /// <summary>Width of each pulse, in ms.</summary>
    public double PulseWidthMs { get; set; } = 10;

    /// <summary>Pulses per stimulus.</summary>
    public int PulseCount { get; set; } = 5;

    /// <summary>Pulse rate within a stimulus, in Hz.</summary>
    public double PulseRateHz { get; set; } = 20;

    /// <summary>Electrical pulses: current of each phase, µA (0 = light pulses with <see cref="PowerMw"/>).</summary>
    public double AmplitudeUa { get; set; }

    /// <summary>Electrical pulses: width of each phase, µs (biphasic, cathodic first, charge-balanced).</summary>
    public double PhaseUs { get; set; } = 200;

    /// <summary>Control condition: stimulation is not contingent on the response. Each trial stimulates for the
    /// whole <see cref="MaxTrialS"/> whatever the detector does; the first response time is still recorded.</summary>
    public bool OpenLoop { get; set; }

    /// <summary>Time before the first trial (spontaneous activity; the front end estimates its noise), s.</summary>
    public double WarmUpS { get; set; }

    /// <summary>Where these settings sit in the experiment file, for messages.</summary>
    public string SettingPath { get; set; } = "protocol";

    /// <inheritdoc />
    public void Validate()
    {
        Check.NotEmpty($"{SettingPath}.stimulator", Stimulator);
        Check.NotEmpty($"{SettingPath}.targets", Targets);
        Check.NotEmpty($"{SettingPath}.detector", Detector);
        Check.InRange($"{SettingPath}.stimulusRateHz", StimulusRateHz, 0.01, 500);
        Check.InRange($"{SettingPath}.warmUpS", WarmUpS, 0, 3600);
        Check.InRange($"{SettingPath}.pulse.amplitudeUa", AmplitudeUa, 0, 10_000);
        if (AmplitudeUa > 0) Check.InRange($"{SettingPath}.pulse.phaseUs", PhaseUs, 1, 100_000);
        Check.InRange($"{SettingPath}.responseWindowS[0]", ResponseWindowStartS, 0, 60);
        Check.InRange($"{SettingPath}.responseWindowS[1]", ResponseWindowEndS, ResponseWindowStartS + 1e-3, 60);
        Check.InRange($"{SettingPath}.pauseS", PauseS, 0, 3600);
        Check.InRange($"{SettingPath}.maxTrialS", MaxTrialS, 1.0 / StimulusRateHz, 86_400);
        Check.InRange($"{SettingPath}.trials", Trials, 0, 100_000);
        Check.InRange($"{SettingPath}.pulse.count", PulseCount, 1, 10_000);
        Check.InRange($"{SettingPath}.pulse.rateHz", PulseRateHz, 0.001, 10_000);
        Check.InRange($"{SettingPath}.pulse.widthMs", PulseWidthMs, 0.001, 10_000);
        Check.InRange($"{SettingPath}.pulse.powerMw", PowerMw, 0, 10_000);
    }
}

/// <summary>One trial of a stimulus-avoidance run.</summary>
/// <param name="Index">Trial number, from 1.</param>
/// <param name="StartS">Sample-clock time the trial's stimulation began, in s.</param>
/// <param name="EndS">Time it ended (response or time-out), in s.</param>
/// <param name="Stimuli">Stimuli delivered during the trial.</param>
/// <param name="Refused">Stimuli the interlock refused during the trial.</param>
/// <param name="ResponseTimeS">From trial start to the response that stopped stimulation, in s; null when timed out.</param>
public sealed record TrialRecord(int Index, double StartS, double EndS, int Stimuli, int Refused, double? ResponseTimeS)
{
    /// <summary>True when the trial ended without the wanted response.</summary>
    public bool TimedOut => ResponseTimeS is null;

    /// <summary>The phase the trial ran in (experiments with <c>phases:</c>); null for a single-protocol experiment.</summary>
    public string? Phase { get; init; }
}

/// <summary>
/// Stimulus avoidance in imaging form (Shahaf &amp; Marom 2001): stimulate the target group at a fixed rate; when the
/// watched detector fires inside the response window after a stimulus, stop stimulating (the network "avoided" the
/// stimulus), note the response time (trial start → response) and pause; then start the next trial. A trial without
/// the response ends after <see cref="StimulusAvoidanceSettings.MaxTrialS"/>. All timing is on the sample clock, so
/// the protocol behaves the same in real time and in an as-fast-as-possible dry run. It decides on every frame; the
/// decision ("stimulate now" or not) is the last stage of the fast loop.
/// </summary>
public sealed class StimulusAvoidanceProtocol : ClosedLoop.Control.Mea.IProtocolStage
{
    private enum State { Idle, Stimulating, Pausing, Done }

    private readonly StimulusAvoidanceSettings _settings;
    private readonly IPatternDetector _detector;
    private readonly StimulationTargets _targets;
    private readonly SafetyInterlock _interlock;
    private readonly StimulationChannel _channel;
    private readonly List<TrialRecord> _trials = new(256);
    private RunContext? _context;
    private State _state;
    private long _trialStartNs, _nextStimulusNs, _lastStimulusNs, _pauseEndNs;
    private long _intervalNs, _windowStartNs, _windowEndNs, _maxTrialNs, _pauseNs;
    private int _trialIndex, _trialStimuli, _trialRefused;
    private long _firstResponseNs;

    /// <summary>Wires the protocol to its detector, its targets and the interlock channel it stimulates through.</summary>
    public StimulusAvoidanceProtocol(StimulusAvoidanceSettings settings, IPatternDetector detector, StimulationTargets targets,
        SafetyInterlock interlock, StimulationChannel channel)
    {
        settings.Validate();
        _settings = settings;
        _detector = detector;
        _targets = targets;
        _interlock = interlock;
        _channel = channel;
        SafetyInterlock.CheckTemplate(channel, Command(0), $"{settings.SettingPath}.pulse", settings.StimulusRateHz, $"{settings.SettingPath}.stimulusRateHz");
        var probe = Command(0);
        if (probe.TrainDurationMs >= 1000.0 / settings.StimulusRateHz)
            throw new SettingException($"{settings.SettingPath}.stimulusRateHz", settings.StimulusRateHz,
                $"low enough that one stimulus ({probe.TrainDurationMs:0.#} ms) ends before the next begins");
    }

    /// <inheritdoc />
    public string Name => "protocol";

    /// <summary>Trials finished so far (a copy).</summary>
    public IReadOnlyList<TrialRecord> Trials
    {
        get { lock (_trials) return _trials.ToArray(); }
    }

    /// <summary>Current state, for displays.</summary>
    public string StateName => _state.ToString();

    /// <summary>Stimuli delivered in this run.</summary>
    public long StimuliDelivered { get; private set; }

    /// <inheritdoc />
    public void Start(RunContext context)
    {
        _context = context;
        _state = State.Idle;
        _trialIndex = 0;
        StimuliDelivered = 0;
        lock (_trials) _trials.Clear();
        _intervalNs = (long)Math.Round(1e9 / _settings.StimulusRateHz);
        _windowStartNs = (long)(_settings.ResponseWindowStartS * 1e9);
        _windowEndNs = (long)(_settings.ResponseWindowEndS * 1e9);
        _maxTrialNs = (long)(_settings.MaxTrialS * 1e9);
        _pauseNs = (long)(_settings.PauseS * 1e9);
        _lastStimulusNs = long.MinValue;
        _firstResponseNs = long.MinValue;
    }

    /// <summary>The settings (the condition, the pulse, the trial timing).</summary>
    public StimulusAvoidanceSettings Settings => _settings;

    /// <inheritdoc />
    public void Process(Frame frame)
    {
        // "Now" on the sample clock is the end of the frame just analysed: the next stimulus can happen from here on.
        long now = frame.SampleTimeNs + frame.FramePeriodNs;
        switch (_state)
        {
            case State.Idle:
                if (now < (long)(_settings.WarmUpS * 1e9)) break;
                BeginTrial(now);
                goto case State.Stimulating;

            case State.Stimulating:
                if (_detector.FiredThisFrame && _lastStimulusNs != long.MinValue)
                {
                    long sinceStimulus = _detector.LastDetectionNs - _lastStimulusNs;
                    if (sinceStimulus >= _windowStartNs && sinceStimulus <= _windowEndNs && _settings.OpenLoop)
                    {
                        if (_firstResponseNs == long.MinValue) _firstResponseNs = _detector.LastDetectionNs;
                    }
                    else if (sinceStimulus >= _windowStartNs && sinceStimulus <= _windowEndNs)
                    {
                        _interlock.Stop(_channel);
                        EndTrial(now, (_detector.LastDetectionNs - _trialStartNs) / 1e9);
                        break;
                    }
                }
                if (now - _trialStartNs >= _maxTrialNs)
                {
                    _interlock.Stop(_channel); // a train still running must not spill into the pause
                    EndTrial(now, _firstResponseNs == long.MinValue ? null : (_firstResponseNs - _trialStartNs) / 1e9);
                    break;
                }
                if (now >= _nextStimulusNs)
                {
                    if (_interlock.TryDeliver(_channel, Command(now))) { _trialStimuli++; StimuliDelivered++; _lastStimulusNs = now; }
                    else _trialRefused++;
                    _nextStimulusNs += _intervalNs;
                    if (_nextStimulusNs <= now) _nextStimulusNs = now + _intervalNs; // fell behind (dropped frames): do not burst to catch up
                }
                break;

            case State.Pausing:
                if (now < _pauseEndNs) break;
                if (_settings.Trials > 0 && _trialIndex >= _settings.Trials)
                {
                    _state = State.Done;
                    Log(RunEventKind.ProtocolState, now, $"all {_settings.Trials} trials done");
                    _context!.RequestStop($"protocol finished its {_settings.Trials} trials");
                    break;
                }
                // Like the first trial, a later one stimulates on the frame it starts: otherwise its first stimulus comes
                // a frame late and its first interval is a frame short.
                BeginTrial(now);
                goto case State.Stimulating;

            case State.Done:
                break;
        }
    }

    /// <inheritdoc />
    public void Stop() { }

    /// <summary>Registers what may be changed while the run goes: power (up to the stimulator's interlock limit),
    /// response window, pause, trial length and number of trials. Pulse shape and rate stay as checked before the run.</summary>
    public void RegisterParameters(ParameterBoard board)
    {
        string p = _settings.SettingPath;
        if (_settings.AmplitudeUa > 0)
            board.Register($"{p}.amplitudeUa", "µA", 0.001, _channel.Limits.MaxAmplitudeUa, () => _settings.AmplitudeUa, v => _settings.AmplitudeUa = v,
                $"current of each phase (at most the interlock's limit for '{_channel.Name}'; the charge limit still applies per command)");
        else board.Register($"{p}.powerMw", "mW", 0, _channel.Limits.MaxPowerMw, () => _settings.PowerMw, v => _settings.PowerMw = v,
            $"light power of each pulse (at most the interlock's limit for '{_channel.Name}')");
        board.Register($"{p}.responseWindowStartS", "s", 0, 10, () => _settings.ResponseWindowStartS,
            v => { _settings.ResponseWindowStartS = Math.Min(v, _settings.ResponseWindowEndS); _windowStartNs = (long)(_settings.ResponseWindowStartS * 1e9); },
            "start of the response window after a stimulus (kept ≤ its end)");
        board.Register($"{p}.responseWindowEndS", "s", 0.001, 10, () => _settings.ResponseWindowEndS,
            v => { _settings.ResponseWindowEndS = Math.Max(v, _settings.ResponseWindowStartS); _windowEndNs = (long)(_settings.ResponseWindowEndS * 1e9); },
            "end of the response window after a stimulus (kept ≥ its start)");
        board.Register($"{p}.pauseS", "s", 0, 3600, () => _settings.PauseS, v => { _settings.PauseS = v; _pauseNs = (long)(v * 1e9); },
            "pause after a trial (applies from the next pause)");
        board.Register($"{p}.maxTrialS", "s", 0.1, 3600, () => _settings.MaxTrialS, v => { _settings.MaxTrialS = v; _maxTrialNs = (long)(v * 1e9); },
            "longest trial before it ends without response");
        board.Register($"{p}.trials", "trials", 0, 100_000, () => _settings.Trials, v => _settings.Trials = (int)v,
            "trials to run (0 = until the run ends)", integer: true);
    }

    private void BeginTrial(long now)
    {
        _state = State.Stimulating;
        _trialIndex++;
        _trialStartNs = now;
        _nextStimulusNs = now;
        _lastStimulusNs = long.MinValue;
        _trialStimuli = 0;
        _trialRefused = 0;
        _firstResponseNs = long.MinValue;
        Log(RunEventKind.TrialStarted, now, $"trial {_trialIndex}: stimulating '{_targets.Name}' at {SafetyInterlock.F(_settings.StimulusRateHz)} Hz");
    }

    private void EndTrial(long now, double? responseTimeS)
    {
        var record = new TrialRecord(_trialIndex, _trialStartNs / 1e9, now / 1e9, _trialStimuli, _trialRefused, responseTimeS);
        lock (_trials) _trials.Add(record);
        _state = State.Pausing;
        _pauseEndNs = now + _pauseNs;
        Log(RunEventKind.TrialEnded, now, responseTimeS is double r
            ? $"trial {_trialIndex}: response after {r:0.000} s and {_trialStimuli} stimuli; stimulation stopped"
            : $"trial {_trialIndex}: no response within {SafetyInterlock.F(_settings.MaxTrialS)} s ({_trialStimuli} stimuli)",
            responseTimeS ?? double.NaN);
    }

    private StimulationCommand Command(long now) => _settings.AmplitudeUa > 0
        ? new(_targets, 0, 2 * _settings.PhaseUs / 1000, _settings.PulseCount, _settings.PulseRateHz, now)
        {
            AmplitudeUa = _settings.AmplitudeUa, PhaseWidthUs = _settings.PhaseUs,
            BalanceAmplitudeUa = _settings.AmplitudeUa, BalancePhaseWidthUs = _settings.PhaseUs,
        }
        : new(_targets, _settings.PowerMw, _settings.PulseWidthMs, _settings.PulseCount, _settings.PulseRateHz, now);

    private void Log(RunEventKind kind, long now, string message, double value = double.NaN) =>
        _context!.Events.Add(new RunEvent(kind, now, MonotonicClock.NowNs(), "stimulus-avoidance", message, value));
}
