using ClosedLoop.Control;
using ClosedLoop.Control.Mea;
using ClosedLoop.Control.Protocols;
using ClosedLoop.Core;
using ClosedLoop.Hardware.Yaml;

namespace ClosedLoop.Cli.Experiments;

/// <summary>The protocol engine's part of the loader: <c>stimuli:</c>, <c>phases:</c>, the <c>rules</c> and
/// <c>bakkum</c> protocol kinds. Names that rules refer to (stimuli, groups, detectors) are checked here, so a file
/// that names something unknown is refused before any rig is built; the interlock checks follow when the session
/// binds each stimulus to its stimulator.</summary>
public static partial class ExperimentLoader
{
    /// <summary>Protocol kinds a phase may run.</summary>
    private static readonly string[] PhaseKinds = ["rest", "rules", "stimulusAvoidance", "pong", "bakkum"];

    private static readonly string[] TriggerWords = ["every", "phaseStart", "trialStart", "trialTimeout", "afterStimulus"];

    /// <summary>True when the file's protocol is run by the engine (a <c>phases:</c> list, or a top-level protocol of
    /// kind <c>rules</c> or <c>bakkum</c>).</summary>
    private static bool UsesEngine(YamlSection root) =>
        root.Has("phases") || root.Section("protocol")?.OptionalString("kind") is "rules" or "bakkum";

    /// <summary>Reads <c>stimuli:</c> (named entries in file order; a train is resolved against the pulse it repeats).</summary>
    private static void ReadStimuli(YamlSection root, Experiment x)
    {
        var entries = root.SectionMap("stimuli");
        var raw = new List<(StimulusSettings S, YamlSection Y)>();
        foreach (var (name, s) in entries)
        {
            string kind = s.String("kind");
            var st = new StimulusSettings { Name = name, SettingPath = s.Path, Stimulator = s.OptionalString("stimulator", "") ?? "" };
            switch (kind)
            {
                case "biphasic":
                    st.Kind = StimulusKind.Biphasic;
                    st.AmplitudeUa = s.Double("amplitudeUa");
                    st.PhaseUs = s.Double("phaseUs", st.PhaseUs);
                    break;
                case "optogenetic":
                    st.Kind = StimulusKind.Optogenetic;
                    st.PowerMw = s.Double("powerMw");
                    st.WidthMs = s.Double("widthMs", st.WidthMs);
                    break;
                case "photostim":
                    st.Kind = StimulusKind.Photostim;
                    st.Group = s.String("group");
                    x.Group(st.Group, $"{s.Path}.group");
                    st.PowerMw = s.Double("powerMw");
                    st.WidthMs = s.Double("dwellMs", st.WidthMs);
                    break;
                case "train":
                    st.Kind = StimulusKind.Train;
                    st.Pulse = s.String("pulse");
                    st.RateHz = s.Double("rateHz");
                    Check.InRange($"{s.Path}.rateHz", st.RateHz, 0.001, 10_000);
                    bool hasCount = s.Has("count"), hasDuration = s.Has("durationS");
                    if (hasCount == hasDuration)
                        throw new SettingException($"{s.Path}.count", hasCount ? "count and durationS" : "(neither)", "exactly one of count (pulses) or durationS (pulses = durationS × rateHz)");
                    if (hasCount) st.Count = s.Int("count");
                    else
                    {
                        double d = Check.InRange($"{s.Path}.durationS", s.Double("durationS"), 1e-6, 86_400);
                        st.Count = Math.Max(1, (int)Math.Round(d * st.RateHz));
                    }
                    break;
                default:
                    throw new SettingException($"{s.Path}.kind", kind, "one of 'biphasic' (current pulse), 'train', 'optogenetic' (light pulse), 'photostim' (ROI group)");
            }
            s.RejectUnknownKeys();
            raw.Add((st, s));
        }
        var byName = raw.ToDictionary(r => r.S.Name, r => r.S);
        foreach (var (st, s) in raw)
        {
            if (st.Kind == StimulusKind.Train)
            {
                if (!byName.TryGetValue(st.Pulse!, out var pulse) || pulse.Kind == StimulusKind.Train)
                    throw new SettingException($"{s.Path}.pulse", st.Pulse, $"a biphasic, optogenetic or photostim stimulus declared under 'stimuli': {string.Join(", ", raw.Where(r => r.S.Kind != StimulusKind.Train).Select(r => r.S.Name).DefaultIfEmpty("(there are none)"))}");
                st.TrainOf = pulse.Kind;
                st.AmplitudeUa = pulse.AmplitudeUa;
                st.PhaseUs = pulse.PhaseUs;
                st.PowerMw = pulse.PowerMw;
                st.WidthMs = pulse.WidthMs;
                st.Group = pulse.Group;
                if (st.Stimulator.Length == 0) st.Stimulator = pulse.Stimulator;
            }
            st.Validate();
            x.Stimuli.Add(st);
        }
        root.Section("stimuli")?.RejectUnknownKeys();
    }

    /// <summary>Reads <c>phases:</c>, or the single top-level <c>protocol</c> of kind rules or bakkum as one phase.</summary>
    private static void ReadPhases(YamlSection root, Experiment x)
    {
        if (root.Has("phases"))
        {
            if (root.Has("protocol"))
                throw new SettingException("protocol", "(section)", "absent when the experiment has 'phases' (each phase has its own protocol)");
            var list = root.SectionList("phases");
            if (list.Count == 0) throw new SettingException("phases", "[]", "at least one phase");
            for (int i = 0; i < list.Count; i++)
            {
                var ps = list[i];
                var phase = new PhaseSettings
                {
                    Name = ps.OptionalString("name", $"phase{i}") ?? $"phase{i}",
                    DurationS = ps.Double("durationS", 0),
                    SettingPath = ps.Path,
                };
                Check.InRange($"{ps.Path}.durationS", phase.DurationS, 0, 7 * 86_400);
                if (x.Phases.Any(p => p.Name == phase.Name))
                    throw new SettingException($"{ps.Path}.name", phase.Name, "a name no other phase has");
                ReadPhaseProtocol(ps.RequiredSection("protocol"), x, phase);
                ps.RejectUnknownKeys();
                if (phase.Kind == "rest" && phase.DurationS == 0)
                    throw new SettingException($"{ps.Path}.durationS", 0, "> 0 for a rest phase (nothing else would end it)");
                if (!EndsByItself(phase) && i < list.Count - 1)
                    throw new SettingException($"{ps.Path}.durationS", 0, "> 0, or a protocol that ends the phase (trials > 0 or a nextPhase action): later phases would never run");
                x.Phases.Add(phase);
            }
        }
        else
        {
            var p = root.RequiredSection("protocol");
            var single = new PhaseSettings { Name = p.String("kind"), SettingPath = "protocol" };
            ReadPhaseProtocol(p, x, single);
            x.Phases.Add(single);
        }
        if (!EndsByItself(x.Phases[^1]) && x.DurationS == 0)
            throw new SettingException("durationS", 0, "> 0: the last phase never ends by itself (give it a durationS, trials, or a nextPhase action)");
    }

    /// <summary>Whether a phase ends without the run's duration: by its own duration or its protocol finishing.</summary>
    private static bool EndsByItself(PhaseSettings p) => p.DurationS > 0 || p.Kind switch
    {
        "rules" => p.Rules!.HasTrials && p.Rules.Trials > 0 || p.Rules.Rules.Any(r => r.Actions.Any(a => a.Kind == RuleActionKind.NextPhase)),
        "stimulusAvoidance" => p.Avoidance!.Trials > 0,
        "pong" or "bakkum" => true,
        _ => false,
    };

    private static void ReadPhaseProtocol(YamlSection p, Experiment x, PhaseSettings phase)
    {
        phase.ProtocolPath = p.Path;
        string kind = p.String("kind");
        if (!PhaseKinds.Contains(kind))
            throw new SettingException($"{p.Path}.kind", kind, $"one of {string.Join(", ", PhaseKinds.Select(k => $"'{k}'"))}{(kind == "observe" ? " ('observe' is a whole experiment's protocol: use 'rest' for a phase without stimulation)" : "")}");
        phase.Kind = kind;
        switch (kind)
        {
            case "rest":
                p.RejectUnknownKeys();
                break;
            case "rules":
                phase.Rules = ReadRules(p, x);
                break;
            case "stimulusAvoidance":
                phase.Avoidance = ReadAvoidanceSettings(p);
                x.Group(phase.Avoidance.Targets, $"{p.Path}.targets");
                if (!x.DetectorNames.Contains(phase.Avoidance.Detector))
                    throw new SettingException($"{p.Path}.detector", phase.Avoidance.Detector, $"one of the detectors: {string.Join(", ", x.DetectorNames.DefaultIfEmpty("(there are none)"))}");
                break;
            case "pong":
                phase.Pong = ReadPong(p);
                break;
            case "bakkum":
                phase.Bakkum = ReadBakkum(p, x);
                break;
        }
    }

    private static bool ReadControl(YamlSection p, string closedMeans, string openMeans) =>
        !p.Has("control") ? false : p.String("control") switch
        {
            "closed-loop" => false,
            "open-loop" => true,
            var c => throw new SettingException($"{p.Path}.control", c, $"'closed-loop' ({closedMeans}) or 'open-loop' (the control: {openMeans})"),
        };

    private static RulesSettings ReadRules(YamlSection p, Experiment x)
    {
        var rs = new RulesSettings { SettingPath = p.Path };
        rs.OpenLoop = ReadControl(p, "rules triggered by detectors are carried out", "they are not; the response is only recorded");
        rs.Trials = p.Int("trials", rs.Trials);
        if (p.Section("trial") is { } t)
        {
            rs.HasTrials = true;
            rs.MaxTrialS = t.Double("maxS", rs.MaxTrialS);
            rs.PauseS = t.Double("pauseS", rs.PauseS);
            t.RejectUnknownKeys();
        }
        else if (rs.Trials > 0) throw new SettingException($"{p.Path}.trials", rs.Trials, $"0 without a '{p.Path}.trial' section (maxS, pauseS) that defines a trial");
        var list = p.SectionList("rules");
        if (list.Count == 0) throw new SettingException($"{p.Path}.rules", "(none)", "at least one rule (on: ..., do: [...])");
        var detectors = x.DetectorNames.ToHashSet();
        for (int j = 0; j < list.Count; j++)
        {
            var r = list[j];
            var rule = new RuleSettings { SettingPath = r.Path, Name = r.OptionalString("name", $"rule{j}") ?? $"rule{j}" };
            string on = r.String("on");
            switch (on)
            {
                case "every": rule.Trigger = RuleTrigger.Every; rule.EveryS = r.Double("everyS"); break;
                case "phaseStart": rule.Trigger = RuleTrigger.PhaseStart; break;
                case "trialStart": rule.Trigger = RuleTrigger.TrialStart; break;
                case "trialTimeout": rule.Trigger = RuleTrigger.TrialTimeout; break;
                case "afterStimulus": rule.Trigger = RuleTrigger.AfterStimulus; rule.DelayS = r.Double("delayS"); break;
                default:
                    if (!detectors.Contains(on))
                        throw new SettingException($"{r.Path}.on", on, $"{string.Join(", ", TriggerWords)} or a detector: {string.Join(", ", x.DetectorNames.DefaultIfEmpty("(there are none)"))}");
                    rule.Trigger = RuleTrigger.Detector;
                    rule.Detector = on;
                    break;
            }
            if (r.Has("windowS"))
            {
                if (rule.Trigger != RuleTrigger.Detector) throw new SettingException($"{r.Path}.windowS", "(set)", "absent unless 'on' names a detector");
                var w = r.DoubleList("windowS");
                if (w.Count != 2) throw new SettingException($"{r.Path}.windowS", $"{w.Count} values", "two values: [start, end] in s after the latest stimulus");
                rule.WindowStartS = w[0];
                rule.WindowEndS = w[1];
            }
            rule.HoldOffS = r.Double("holdOffS", 0);
            var actions = r.SectionList("do");
            for (int k = 0; k < actions.Count; k++) rule.Actions.Add(ReadAction(actions[k], x));
            r.RejectUnknownKeys();
            rs.Rules.Add(rule);
        }
        p.RejectUnknownKeys();
        rs.Validate();
        return rs;
    }

    private static RuleAction ReadAction(YamlSection a, Experiment x)
    {
        string[] kinds = ["deliver", "stop", "endTrial", "nextPhase", "mark"];
        var present = kinds.Where(a.Has).ToList();
        if (present.Count != 1)
            throw new SettingException(a.Path, present.Count == 0 ? string.Join(", ", a.Keys) : string.Join(" and ", present), "exactly one action: deliver (with to), stop, endTrial, nextPhase or mark");
        var action = new RuleAction { SettingPath = a.Path };
        switch (present[0])
        {
            case "deliver":
                action.Kind = RuleActionKind.Deliver;
                action.Stimulus = a.String("deliver");
                var stim = x.Stimuli.FirstOrDefault(s => s.Name == action.Stimulus)
                    ?? throw new SettingException($"{a.Path}.deliver", action.Stimulus, $"a stimulus declared under 'stimuli': {string.Join(", ", x.Stimuli.Select(s => s.Name).DefaultIfEmpty("(there are none)"))}");
                action.To = a.OptionalString("to");
                if (action.To is not null) x.Group(action.To, $"{a.Path}.to");
                else if (stim.PulseKind != StimulusKind.Photostim)
                    throw new SettingException($"{a.Path}.to", null, $"the group stimulus '{stim.Name}' goes to: one of {string.Join(", ", x.Groups.Select(g => g.Key))}");
                break;
            case "stop":
                action.Kind = RuleActionKind.Stop;
                if (!a.Bool("stop", true)) throw new SettingException($"{a.Path}.stop", false, "true (or leave the action out)");
                break;
            case "endTrial":
                action.Kind = RuleActionKind.EndTrial;
                string how = a.String("endTrial");
                action.Response = how switch
                {
                    "response" => true,
                    "timeout" => false,
                    _ => throw new SettingException($"{a.Path}.endTrial", how, "'response' (the trial is answered; its response time is recorded) or 'timeout'"),
                };
                break;
            case "nextPhase":
                action.Kind = RuleActionKind.NextPhase;
                if (!a.Bool("nextPhase", true)) throw new SettingException($"{a.Path}.nextPhase", false, "true (or leave the action out)");
                break;
            case "mark":
                action.Kind = RuleActionKind.Mark;
                action.Text = a.String("mark");
                break;
        }
        a.RejectUnknownKeys();
        return action;
    }

    private static BakkumSettings ReadBakkum(YamlSection p, Experiment x)
    {
        var b = new BakkumSettings
        {
            SettingPath = p.Path,
            Stimulator = p.String("stimulator"),
            Probes = p.String("probes"),
            Output = p.String("output"),
        };
        b.OpenLoop = ReadControl(p, "PTS when the output is wrong, SBS when right; the pool learns", "PTS on a random half of the cycles whatever the output");
        b.Cycles = p.Int("cycles", b.Cycles);
        b.BaselineCycles = p.Int("baselineCycles", b.BaselineCycles);
        b.WarmUpS = p.Double("warmUpS", b.WarmUpS);
        b.ProbeIntervalMs = p.Double("probeIntervalMs", b.ProbeIntervalMs);
        if (p.Has("responseWindowMs"))
        {
            var w = p.DoubleList("responseWindowMs");
            if (w.Count != 2) throw new SettingException($"{p.Path}.responseWindowMs", $"{w.Count} values", "two values: [start, end] in ms after each probe");
            b.ResponseWindowStartMs = w[0];
            b.ResponseWindowEndMs = w[1];
        }
        b.GoalDeg = p.Double("goalDeg", b.GoalDeg);
        b.ToleranceDeg = p.Double("toleranceDeg", b.ToleranceDeg);
        b.PoolSize = p.Int("poolSize", b.PoolSize);
        b.RestS = p.Double("restS", b.RestS);
        b.Seed = p.Int("seed", b.Seed);
        var t = p.RequiredSection("training");
        b.Training = t.String("group");
        b.TrainingPulses = t.Int("pulses", b.TrainingPulses);
        b.TrainingRateHz = t.Double("rateHz", b.TrainingRateHz);
        b.PairDelayMs = t.Double("pairDelayMs", b.PairDelayMs);
        t.RejectUnknownKeys();
        if (p.Section("pulse") is { } pulse)
        {
            b.AmplitudeUa = pulse.Double("amplitudeUa", b.AmplitudeUa);
            b.PhaseUs = pulse.Double("phaseUs", b.PhaseUs);
            pulse.RejectUnknownKeys();
        }
        p.RejectUnknownKeys();
        x.Group(b.Probes, $"{p.Path}.probes");
        x.Group(b.Output, $"{p.Path}.output");
        x.Group(b.Training, $"{p.Path}.training.group");
        b.Validate();
        return b;
    }
}
