using ClosedLoop.Core;

namespace ClosedLoop.Control.Protocols;

/// <summary>What makes a rule fire (<c>on:</c> of a rule).</summary>
public enum RuleTrigger
{
    /// <summary><c>every</c>: periodically, every <see cref="RuleSettings.EveryS"/>, from the start of each trial (or of the phase).</summary>
    Every,
    /// <summary><c>phaseStart</c>: once, on the phase's first frame.</summary>
    PhaseStart,
    /// <summary><c>trialStart</c>: when a trial begins.</summary>
    TrialStart,
    /// <summary><c>trialTimeout</c>: when a trial reaches its longest duration without having been ended.</summary>
    TrialTimeout,
    /// <summary><c>afterStimulus</c>: <see cref="RuleSettings.DelayS"/> after the latest stimulus this phase delivered.</summary>
    AfterStimulus,
    /// <summary>A detector's name: when it fires (optionally only within a window after the latest stimulus).</summary>
    Detector,
}

/// <summary>What a rule does (<c>do:</c> items).</summary>
public enum RuleActionKind
{
    /// <summary><c>deliver: STIMULUS</c> (<c>to: GROUP</c>): one stimulus, through the safety interlock.</summary>
    Deliver,
    /// <summary><c>stop: true</c>: switch off any train still running on this phase's stimulators.</summary>
    Stop,
    /// <summary><c>endTrial: response | timeout</c>: end the trial (stimulation off, then the pause).</summary>
    EndTrial,
    /// <summary><c>nextPhase: true</c>: end this phase now.</summary>
    NextPhase,
    /// <summary><c>mark: TEXT</c>: write a mark into the event log.</summary>
    Mark,
}

/// <summary>One action of a rule.</summary>
public sealed class RuleAction
{
    /// <summary>What it does.</summary>
    public RuleActionKind Kind { get; set; }

    /// <summary><see cref="RuleActionKind.Deliver"/>: the stimulus's name (an entry of <c>stimuli:</c>).</summary>
    public string Stimulus { get; set; } = "";

    /// <summary><see cref="RuleActionKind.Deliver"/>: the group stimulated (absent for a photostim stimulus, which names its own).</summary>
    public string? To { get; set; }

    /// <summary><see cref="RuleActionKind.EndTrial"/>: true when the trial counts as answered (its response time is
    /// recorded), false for a time-out.</summary>
    public bool Response { get; set; } = true;

    /// <summary><see cref="RuleActionKind.Mark"/>: the text.</summary>
    public string Text { get; set; } = "";

    /// <summary>Where this action sits in the experiment file.</summary>
    public string SettingPath { get; set; } = "";
}

/// <summary>One rule: a trigger, a hold-off and the actions it carries out in order.</summary>
public sealed class RuleSettings : IStageSettings
{
    /// <summary>Name, for the event log (default <c>rule0</c>, <c>rule1</c>, ...).</summary>
    public string Name { get; set; } = "";

    /// <summary>What makes it fire.</summary>
    public RuleTrigger Trigger { get; set; }

    /// <summary><see cref="RuleTrigger.Detector"/>: the detector's name.</summary>
    public string Detector { get; set; } = "";

    /// <summary><see cref="RuleTrigger.Every"/>: period, s.</summary>
    public double EveryS { get; set; }

    /// <summary><see cref="RuleTrigger.AfterStimulus"/>: delay after the stimulus, s.</summary>
    public double DelayS { get; set; }

    /// <summary><see cref="RuleTrigger.Detector"/>: start of the window after the latest stimulus in which a detection
    /// counts, s; NaN = any detection counts.</summary>
    public double WindowStartS { get; set; } = double.NaN;

    /// <summary>End of that window, s.</summary>
    public double WindowEndS { get; set; } = double.NaN;

    /// <summary>After firing, the rule does not fire again for this long, s.</summary>
    public double HoldOffS { get; set; }

    /// <summary>The actions, in order.</summary>
    public List<RuleAction> Actions { get; set; } = new();

    /// <summary>Where this rule sits in the experiment file.</summary>
    public string SettingPath { get; set; } = "rules[0]";

    /// <summary>True when only detections within a window after the latest stimulus count.</summary>
    public bool HasWindow => !double.IsNaN(WindowStartS);

    /// <inheritdoc />
    public void Validate()
    {
        string p = SettingPath;
        if (Trigger == RuleTrigger.Every) Check.InRange($"{p}.everyS", EveryS, 1e-4, 86_400);
        if (Trigger == RuleTrigger.AfterStimulus) Check.InRange($"{p}.delayS", DelayS, 0, 3600);
        if (Trigger == RuleTrigger.Detector) Check.NotEmpty($"{p}.on", Detector);
        if (HasWindow)
        {
            Check.InRange($"{p}.windowS[0]", WindowStartS, 0, 3600);
            Check.InRange($"{p}.windowS[1]", WindowEndS, WindowStartS + 1e-6, 3600);
        }
        Check.InRange($"{p}.holdOffS", HoldOffS, 0, 86_400);
        if (Actions.Count == 0) throw new SettingException($"{p}.do", "(none)", "at least one action: deliver, stop, endTrial, nextPhase or mark");
    }
}

/// <summary>Settings of a <c>rules</c> protocol (a phase whose behaviour is written as trigger → action rules).</summary>
public sealed class RulesSettings : IStageSettings
{
    /// <summary>True when the phase runs trials (its <c>trial:</c> section): the rules then act only inside a trial.</summary>
    public bool HasTrials { get; set; }

    /// <summary>Trials to run before the phase ends (after the last pause); 0 = until the phase's duration is over.</summary>
    public int Trials { get; set; }

    /// <summary>A trial not ended by a rule ends (timed out) after this long, s.</summary>
    public double MaxTrialS { get; set; } = 30;

    /// <summary>Pause without stimulation (and without rules) after a trial, s.</summary>
    public double PauseS { get; set; }

    /// <summary>Control condition: rules triggered by a detector are not carried out (the first detection whose rule
    /// would end the trial as answered is still recorded as the trial's response time).</summary>
    public bool OpenLoop { get; set; }

    /// <summary>The rules, in file order.</summary>
    public List<RuleSettings> Rules { get; set; } = new();

    /// <summary>Where these settings sit in the experiment file.</summary>
    public string SettingPath { get; set; } = "protocol";

    /// <inheritdoc />
    public void Validate()
    {
        string p = SettingPath;
        Check.InRange($"{p}.trial.maxS", MaxTrialS, 1e-3, 86_400);
        Check.InRange($"{p}.trial.pauseS", PauseS, 0, 86_400);
        Check.InRange($"{p}.trials", Trials, 0, 1_000_000);
        if (Rules.Count == 0) throw new SettingException($"{p}.rules", "(none)", "at least one rule");
        foreach (var r in Rules)
        {
            r.Validate();
            if (HasTrials) continue;
            if (r.Trigger is RuleTrigger.TrialStart or RuleTrigger.TrialTimeout)
                throw new SettingException($"{r.SettingPath}.on", r.Trigger == RuleTrigger.TrialStart ? "trialStart" : "trialTimeout", $"a trigger of a phase with trials (add a '{p}.trial' section), or every, phaseStart, afterStimulus, a detector");
            if (r.Actions.FirstOrDefault(a => a.Kind == RuleActionKind.EndTrial) is { } end)
                throw new SettingException(end.SettingPath + ".endTrial", end.Response ? "response" : "timeout", $"an action of a phase with trials (add a '{p}.trial' section with maxS and pauseS)");
        }
    }
}

/// <summary>
/// A protocol written as rules: each rule has a trigger (periodic, phase or trial start, trial time-out, a delay after
/// a stimulus, a detector firing — optionally only within a window after the latest stimulus) and actions (deliver a
/// declared stimulus on a group, stop stimulation, end the trial with a response time, go to the next phase, log a
/// mark), with a per-rule hold-off. Every stimulus goes through <see cref="SafetyInterlock.TryDeliver"/>.
/// <para>With trials, a trial starts on the frame the phase starts (and after each pause); inside a trial, each frame
/// evaluates first the detector rules (what the preparation did), then the time-out (<c>trialTimeout</c> rules, then
/// the trial ends without response), then the clock rules (<c>every</c>, <c>afterStimulus</c>), each group in file
/// order; once a rule ends the trial, the rest wait for the next one. Ending a trial always switches off a train still
/// running, and no rule runs during the pause. Without trials the rules run from the phase's first frame to its end.
/// All timing is on the sample clock; allocation-free per frame except for the event log.</para>
/// </summary>
public sealed class RuleProtocol : ClosedLoop.Control.Mea.IProtocolStage
{
    private enum State { NotStarted, Running, InTrial, Pausing, Done }

    private sealed class Bound
    {
        public required RuleSettings Settings { get; init; }
        public IPatternDetector? Detector { get; init; }
        public required BoundAction[] Actions { get; init; }
        public bool EndsTrialAnswered { get; init; }
        public long IntervalNs, DelayNs, WindowStartNs, WindowEndNs, HoldOffNs;
        public long NextNs, LastFiredNs = long.MinValue, ArmedForStimulusNs = long.MinValue;
    }

    private readonly record struct BoundAction(RuleAction Settings, StimulusSettings? Stimulus, StimulationTargets? Targets, StimulationChannel? Channel);

    private readonly RulesSettings _settings;
    private readonly SafetyInterlock _interlock;
    private readonly Bound[] _rules;
    private readonly Bound[] _detectorRules, _timeoutRules, _clockRules, _phaseStartRules, _trialStartRules;
    private readonly StimulationChannel[] _channels;
    private readonly List<TrialRecord> _trials = new(256);
    private readonly string _source;
    private RunContext? _context;
    private State _state;
    private long _phaseStartNs, _trialStartNs, _pauseEndNs, _lastStimulusNs, _firstResponseNs, _maxTrialNs, _pauseNs;
    private int _trialIndex, _trialStimuli, _trialRefused;

    /// <summary>Binds the rules to their detectors, stimuli, targets and stimulators, and checks each periodic delivery
    /// against the interlock at its rate. Throws naming the rule entry for anything unknown.</summary>
    /// <param name="settings">The rules and the trial structure.</param>
    /// <param name="name">Name for the event log (the phase's).</param>
    /// <param name="detectors">The run's detectors by name.</param>
    /// <param name="stimuli">The experiment's declared stimuli by name.</param>
    /// <param name="targets">Resolves a group name to stimulation targets (electrodes or ROI centroids); the second
    /// argument is the setting to name in an error.</param>
    /// <param name="channel">The interlock channel a stimulus goes to (already checked against it).</param>
    /// <param name="interlock">The one interlock.</param>
    public RuleProtocol(RulesSettings settings, string name, IReadOnlyDictionary<string, IPatternDetector> detectors,
        IReadOnlyDictionary<string, StimulusSettings> stimuli, Func<string, string, StimulationTargets> targets,
        Func<StimulusSettings, StimulationChannel> channel, SafetyInterlock interlock)
    {
        settings.Validate();
        _settings = settings;
        _interlock = interlock;
        _source = name;
        var channels = new List<StimulationChannel>();
        _rules = new Bound[settings.Rules.Count];
        for (int i = 0; i < _rules.Length; i++)
        {
            var r = settings.Rules[i];
            IPatternDetector? detector = null;
            if (r.Trigger == RuleTrigger.Detector && !detectors.TryGetValue(r.Detector, out detector))
                throw new SettingException($"{r.SettingPath}.on", r.Detector, $"every, phaseStart, trialStart, trialTimeout, afterStimulus or a detector: {(detectors.Count == 0 ? "(there are none)" : string.Join(", ", detectors.Keys))}");
            var actions = new BoundAction[r.Actions.Count];
            for (int k = 0; k < actions.Length; k++)
            {
                var a = r.Actions[k];
                if (a.Kind != RuleActionKind.Deliver) { actions[k] = new BoundAction(a, null, null, null); continue; }
                if (!stimuli.TryGetValue(a.Stimulus, out var stim))
                    throw new SettingException($"{a.SettingPath}.deliver", a.Stimulus, $"a stimulus declared under 'stimuli': {(stimuli.Count == 0 ? "(there are none)" : string.Join(", ", stimuli.Keys))}");
                string? group = stim.PulseKind == StimulusKind.Photostim ? stim.Group : a.To;
                if (group is null) throw new SettingException($"{a.SettingPath}.to", null, $"the group stimulus '{stim.Name}' goes to");
                if (stim.PulseKind == StimulusKind.Photostim && a.To is not null && a.To != stim.Group)
                    throw new SettingException($"{a.SettingPath}.to", a.To, $"absent: photostim stimulus '{stim.Name}' targets its own group '{stim.Group}'");
                var ch = channel(stim);
                if (!channels.Contains(ch)) channels.Add(ch);
                var t = targets(group, stim.PulseKind == StimulusKind.Photostim ? $"{stim.SettingPath}.group" : $"{a.SettingPath}.to");
                actions[k] = new BoundAction(a, stim, t, ch);
                if (r.Trigger == RuleTrigger.Every) CheckPeriod(r, stim, ch, t);
            }
            _rules[i] = new Bound
            {
                Settings = r, Detector = detector, Actions = actions,
                EndsTrialAnswered = r.Actions.Any(a => a.Kind == RuleActionKind.EndTrial && a.Response),
            };
        }
        _channels = channels.ToArray();
        _detectorRules = _rules.Where(b => b.Settings.Trigger == RuleTrigger.Detector).ToArray();
        _timeoutRules = _rules.Where(b => b.Settings.Trigger == RuleTrigger.TrialTimeout).ToArray();
        _clockRules = _rules.Where(b => b.Settings.Trigger is RuleTrigger.Every or RuleTrigger.AfterStimulus).ToArray();
        _phaseStartRules = _rules.Where(b => b.Settings.Trigger == RuleTrigger.PhaseStart).ToArray();
        _trialStartRules = _rules.Where(b => b.Settings.Trigger == RuleTrigger.TrialStart).ToArray();
    }

    /// <summary>Two seconds of <paramref name="stim"/> repeated every <see cref="RuleSettings.EveryS"/> must pass the
    /// interlock; the error names the rule's <c>everyS</c> with its value in s.</summary>
    private static void CheckPeriod(RuleSettings r, StimulusSettings stim, StimulationChannel channel, StimulationTargets targets)
    {
        string setting = $"{r.SettingPath}.everyS";
        try { SafetyInterlock.CheckTemplate(channel, stim.Command(targets, 0), stim.SettingPath, 1 / r.EveryS, setting); }
        catch (SettingException ex) when (ex.Setting == setting)
        {
            string reason = ex.Allowed;
            int open = reason.IndexOf('(');
            if (open >= 0 && reason.EndsWith(')')) reason = reason[(open + 1)..^1];
            throw new SettingException(setting, r.EveryS,
                $"a period at which '{stim.Name}' stays within the limits when repeated (every {SafetyInterlock.F(r.EveryS)} s = {SafetyInterlock.F(1 / r.EveryS)} Hz: {reason})");
        }
    }

    /// <inheritdoc />
    public string Name => "protocol";

    /// <summary>The settings.</summary>
    public RulesSettings Settings => _settings;

    /// <inheritdoc />
    public IReadOnlyList<TrialRecord> Trials { get { lock (_trials) return _trials.ToArray(); } }

    /// <inheritdoc />
    public string StateName => _state == State.InTrial ? "Stimulating" : _state.ToString();

    /// <summary>Stimuli this protocol delivered.</summary>
    public long StimuliDelivered { get; private set; }

    /// <summary>Stimuli the interlock refused.</summary>
    public long StimuliRefused { get; private set; }

    /// <summary>The stimulators its rules deliver through.</summary>
    public IReadOnlyList<StimulationChannel> Channels => _channels;

    /// <inheritdoc />
    public void Start(RunContext context)
    {
        _context = context;
        _state = State.NotStarted;
        _trialIndex = 0;
        StimuliDelivered = 0;
        StimuliRefused = 0;
        lock (_trials) _trials.Clear();
        _maxTrialNs = (long)Math.Round(_settings.MaxTrialS * 1e9);
        _pauseNs = (long)Math.Round(_settings.PauseS * 1e9);
        foreach (var b in _rules)
        {
            b.IntervalNs = (long)Math.Round(b.Settings.EveryS * 1e9);
            b.DelayNs = (long)Math.Round(b.Settings.DelayS * 1e9);
            b.WindowStartNs = b.Settings.HasWindow ? (long)(b.Settings.WindowStartS * 1e9) : 0;
            b.WindowEndNs = b.Settings.HasWindow ? (long)(b.Settings.WindowEndS * 1e9) : 0;
            b.HoldOffNs = (long)Math.Round(b.Settings.HoldOffS * 1e9);
            b.LastFiredNs = long.MinValue;
            b.ArmedForStimulusNs = long.MinValue;
        }
    }

    /// <inheritdoc />
    public void Process(Frame frame)
    {
        long now = frame.SampleTimeNs + frame.FramePeriodNs;
        switch (_state)
        {
            case State.NotStarted:
                _phaseStartNs = now;
                _lastStimulusNs = long.MinValue;
                ResetClocks(now);
                _state = State.Running;
                foreach (var b in _phaseStartRules) if (Fire(b, now, now)) return;
                if (_settings.HasTrials)
                {
                    BeginTrial(now);
                    if (_state != State.InTrial) break;
                    goto case State.InTrial;
                }
                goto case State.Running;

            case State.Running:
                foreach (var b in _detectorRules) if (DetectorFires(b, now) && Fire(b, now, b.Detector!.LastDetectionNs)) return;
                Clock(now);
                break;

            case State.InTrial:
                foreach (var b in _detectorRules)
                {
                    if (!DetectorFires(b, now)) continue;
                    if (_settings.OpenLoop)
                    {
                        // The control: nothing is carried out; the first answer the closed loop would have taken is noted.
                        if (b.EndsTrialAnswered && _firstResponseNs == long.MinValue) _firstResponseNs = b.Detector!.LastDetectionNs;
                        continue;
                    }
                    if (Fire(b, now, b.Detector!.LastDetectionNs) || _state != State.InTrial) return;
                }
                if (now - _trialStartNs >= _maxTrialNs)
                {
                    foreach (var b in _timeoutRules) if (Fire(b, now, now) || _state != State.InTrial) return;
                    EndTrial(now, _firstResponseNs == long.MinValue ? null : _firstResponseNs);
                    return;
                }
                Clock(now);
                break;

            case State.Pausing:
                if (now < _pauseEndNs) break;
                if (_settings.Trials > 0 && _trialIndex >= _settings.Trials)
                {
                    _state = State.Done;
                    Log(RunEventKind.ProtocolState, now, $"all {_settings.Trials} trials done");
                    _context!.RequestStop($"{_source}: all {_settings.Trials} trials done");
                    break;
                }
                BeginTrial(now);
                if (_state != State.InTrial) break;
                goto case State.InTrial;

            case State.Done:
                break;
        }
    }

    /// <inheritdoc />
    public void Stop() { }

    /// <inheritdoc />
    public void RegisterParameters(ParameterBoard board)
    {
        if (!_settings.HasTrials) return;
        string p = _settings.SettingPath;
        board.Register($"{p}.trial.pauseS", "s", 0, 3600, () => _settings.PauseS, v => { _settings.PauseS = v; _pauseNs = (long)(v * 1e9); },
            "pause after a trial (applies from the next pause)");
        board.Register($"{p}.trial.maxS", "s", 0.01, 3600, () => _settings.MaxTrialS, v => { _settings.MaxTrialS = v; _maxTrialNs = (long)(v * 1e9); },
            "longest trial before it ends without response");
    }

    private void Clock(long now)
    {
        foreach (var b in _clockRules)
        {
            if (b.Settings.Trigger == RuleTrigger.Every)
            {
                if (now < b.NextNs) continue;
                b.NextNs += b.IntervalNs;
                if (b.NextNs <= now) b.NextNs = now + b.IntervalNs; // fell behind (dropped frames): do not burst to catch up
                if (Fire(b, now, now) || _state is not (State.InTrial or State.Running)) return;
            }
            else
            {
                if (_lastStimulusNs == long.MinValue || b.ArmedForStimulusNs == _lastStimulusNs || now < _lastStimulusNs + b.DelayNs) continue;
                b.ArmedForStimulusNs = _lastStimulusNs; // once per stimulus
                if (Fire(b, now, now) || _state is not (State.InTrial or State.Running)) return;
            }
        }
    }

    private bool DetectorFires(Bound b, long now)
    {
        var d = b.Detector!;
        if (!d.FiredThisFrame) return false;
        if (b.Settings.HasWindow)
        {
            if (_lastStimulusNs == long.MinValue) return false;
            long since = d.LastDetectionNs - _lastStimulusNs;
            if (since < b.WindowStartNs || since > b.WindowEndNs) return false;
        }
        return b.HoldOffNs == 0 || b.LastFiredNs == long.MinValue || now - b.LastFiredNs >= b.HoldOffNs;
    }

    /// <summary>Carries out a rule's actions; true when the phase ended (nothing more this frame).</summary>
    private bool Fire(Bound b, long now, long eventNs)
    {
        if (b.HoldOffNs > 0 && b.LastFiredNs != long.MinValue && now - b.LastFiredNs < b.HoldOffNs) return false;
        b.LastFiredNs = now;
        foreach (var a in b.Actions)
        {
            switch (a.Settings.Kind)
            {
                case RuleActionKind.Deliver:
                    if (_interlock.TryDeliver(a.Channel!, a.Stimulus!.Command(a.Targets!, now)))
                    {
                        StimuliDelivered++;
                        _trialStimuli++;
                        _lastStimulusNs = now;
                    }
                    else { StimuliRefused++; _trialRefused++; }
                    break;
                case RuleActionKind.Stop:
                    foreach (var c in _channels) _interlock.Stop(c);
                    break;
                case RuleActionKind.EndTrial:
                    if (_state != State.InTrial) break;
                    EndTrial(now, a.Settings.Response ? eventNs : null);
                    return false;
                case RuleActionKind.NextPhase:
                    foreach (var c in _channels) _interlock.Stop(c);
                    _state = State.Done;
                    Log(RunEventKind.ProtocolState, now, $"rule '{b.Settings.Name}': next phase");
                    _context!.RequestStop($"{_source}: rule '{b.Settings.Name}' ended the phase");
                    return true;
                case RuleActionKind.Mark:
                    Log(RunEventKind.Info, now, $"mark ({b.Settings.Name}): {a.Settings.Text}");
                    break;
            }
        }
        return false;
    }

    private void ResetClocks(long now)
    {
        foreach (var b in _rules)
        {
            b.NextNs = now;
            b.ArmedForStimulusNs = long.MinValue;
        }
    }

    private void BeginTrial(long now)
    {
        _state = State.InTrial;
        _trialIndex++;
        _trialStartNs = now;
        _lastStimulusNs = long.MinValue;
        _firstResponseNs = long.MinValue;
        _trialStimuli = 0;
        _trialRefused = 0;
        ResetClocks(now);
        Log(RunEventKind.TrialStarted, now, $"trial {_trialIndex}");
        foreach (var b in _trialStartRules) if (Fire(b, now, now) || _state != State.InTrial) return;
    }

    private void EndTrial(long now, long? responseNs)
    {
        foreach (var c in _channels) _interlock.Stop(c); // a train still running must not spill into the pause
        double? responseS = responseNs is long r ? (r - _trialStartNs) / 1e9 : null;
        var record = new TrialRecord(_trialIndex, _trialStartNs / 1e9, now / 1e9, _trialStimuli, _trialRefused, responseS);
        lock (_trials) _trials.Add(record);
        _state = State.Pausing;
        _pauseEndNs = now + _pauseNs;
        Log(RunEventKind.TrialEnded, now, responseS is double s
            ? $"trial {_trialIndex}: response after {s:0.000} s and {_trialStimuli} stimuli"
            : $"trial {_trialIndex}: no response ({_trialStimuli} stimuli)", responseS ?? double.NaN);
    }

    private void Log(RunEventKind kind, long now, string message, double value = double.NaN) =>
        _context!.Events.Add(new RunEvent(kind, now, MonotonicClock.NowNs(), _source, message, value));
}
