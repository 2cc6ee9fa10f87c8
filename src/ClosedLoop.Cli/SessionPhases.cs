using ClosedLoop.Cli.Experiments;
using ClosedLoop.Control;
using ClosedLoop.Control.Mea;
using ClosedLoop.Control.Protocols;
using ClosedLoop.Core;
using ClosedLoop.Hardware;

namespace ClosedLoop.Cli;

/// <summary>The protocol engine's wiring: declared stimuli bound to stimulators and checked against the interlock,
/// and each phase's protocol built, before anything is acquired.</summary>
public sealed partial class Session
{
    /// <summary>The phases, when the experiment runs through the protocol engine (<c>phases:</c>, or protocol kind
    /// <c>rules</c> or <c>bakkum</c>).</summary>
    public PhaseSequence? Phases { get; private set; }

    /// <summary>The Bakkum protocol of the run (its first <c>bakkum</c> phase), or null.</summary>
    public BakkumProtocol? Bakkum { get; private set; }

    /// <summary>Binds every declared stimulus to its stimulator and checks it against the interlock, then builds the
    /// phases. Errors name the entry (<c>stimuli.NAME.FIELD</c>, <c>phases[i].protocol...</c>) and the limit.</summary>
    /// <param name="detectors">The run's detectors.</param>
    /// <param name="groups">Group name → unit indices.</param>
    /// <param name="targetsOf">Group name and the setting that names it → stimulation targets (electrodes or ROI centroids).</param>
    /// <param name="layout">The electrode array on an MEA rig; null on an imaging rig.</param>
    /// <returns>The group the first stimulating phase stimulates (for displays), or "".</returns>
    private string WirePhases(IReadOnlyList<IPatternDetector> detectors, Dictionary<string, int[]> groups,
        Func<string, string, StimulationTargets> targetsOf, ClosedLoop.FirmwareSim.Culture.MeaLayout? layout)
    {
        var channels = new Dictionary<string, StimulationChannel>();
        try
        {
            foreach (var st in Experiment.Stimuli)
            {
                var ch = ChannelFor(st);
                StimulationTargets probe = st.IsElectrical ? new StimulationTargets(st.Name, [0]) : new StimulationTargets(st.Name, [0f], [0f]);
                SafetyInterlock.CheckTemplate(ch, st.Command(probe, 0), st.SettingPath);
                channels[st.Name] = ch;
            }
        }
        catch (SettingException ex) { throw Experiment.Locate(ex); }

        var byName = detectors.ToDictionary(d => d.Name);
        var stimuli = Experiment.Stimuli.ToDictionary(s => s.Name);
        var cache = new Dictionary<string, StimulationTargets>();
        StimulationTargets Targets(string group, string setting)
        {
            if (cache.TryGetValue(group, out var t)) return t;
            if (!groups.ContainsKey(group)) throw new SettingException(setting, group, $"one of the groups: {string.Join(", ", groups.Keys)}");
            return cache[group] = targetsOf(group, setting);
        }
        StimulationChannel Channel(string name, string setting) => Interlock.Channels.Count == 0
            ? throw new SettingException(setting, name, $"a stimulator of the hardware profile {Profile.SourcePath} (it has none)")
            : Interlock.Find(name, setting);
        int[] G(string name, string setting) => groups.TryGetValue(name, out var g) ? g : throw new SettingException(setting, name, $"one of the groups: {string.Join(", ", groups.Keys)}");

        var phases = new List<Phase>();
        string stimulated = "";
        foreach (var ps in Experiment.Phases)
        {
            string path = ps.ProtocolPath;
            IProtocolStage? stage;
            try
            {
                switch (ps.Kind)
                {
                    case "rules":
                        var rules = new RuleProtocol(ps.Rules!, ps.Name, byName, stimuli, Targets, s => channels[s.Name], Interlock);
                        if (stimulated.Length == 0)
                            stimulated = ps.Rules!.Rules.SelectMany(r => r.Actions).Where(a => a.Kind == RuleActionKind.Deliver)
                                .Select(a => a.To ?? stimuli[a.Stimulus].Group).FirstOrDefault() ?? "";
                        stage = rules;
                        break;
                    case "stimulusAvoidance":
                        var av = ps.Avoidance!;
                        var detector = detectors.FirstOrDefault(d => d.Name == av.Detector)
                            ?? throw new SettingException($"{path}.detector", av.Detector, $"one of the detectors: {string.Join(", ", detectors.Select(d => d.Name))}");
                        if (layout is not null && !(av.AmplitudeUa > 0))
                            throw new SettingException($"{path}.pulse.amplitudeUa", av.AmplitudeUa, "> 0 µA: an MEA rig stimulates with current pulses");
                        stage = new StimulusAvoidanceProtocol(av, detector, Targets(av.Targets, $"{path}.targets"), Interlock, Channel(av.Stimulator, $"{path}.stimulator"));
                        if (stimulated.Length == 0) stimulated = av.Targets;
                        break;
                    case "pong":
                        var pong = ps.Pong!;
                        if (layout is null) throw new SettingException($"{path}.kind", "pong", "a protocol of an MEA rig (pong stimulates and reads electrodes)");
                        stage = new PongProtocol(pong, G(pong.Sensory, $"{path}.sensory"), G(pong.MotorUp, $"{path}.motorUp"), G(pong.MotorDown, $"{path}.motorDown"),
                            Activity, Interlock, Channel(pong.Stimulator, $"{path}.stimulator"));
                        if (stimulated.Length == 0) stimulated = pong.Sensory;
                        break;
                    case "bakkum":
                        var b = ps.Bakkum!;
                        if (layout is null) throw new SettingException($"{path}.kind", "bakkum", "a protocol of an MEA rig (CPS, PTS and SBS are electrode pulses)");
                        var e = layout.Electrodes;
                        var bakkum = new BakkumProtocol(b, G(b.Probes, $"{path}.probes"), G(b.Output, $"{path}.output"), G(b.Training, $"{path}.training.group"),
                            e.Select(x => x.XUm).ToArray(), e.Select(x => x.YUm).ToArray(), e.Select(x => x.Name).ToArray(),
                            Activity, Interlock, Channel(b.Stimulator, $"{path}.stimulator"));
                        Bakkum ??= bakkum;
                        if (stimulated.Length == 0) stimulated = b.Training;
                        stage = bakkum;
                        break;
                    default:
                        stage = null;
                        break;
                }
            }
            catch (SettingException ex) { throw Experiment.Locate(ex); }
            phases.Add(new Phase(ps.Name, ps.Kind, ps.DurationS, stage));
        }
        Phases = new PhaseSequence(phases, Interlock);
        Protocol = Phases;
        return stimulated;
    }

    /// <summary>The stimulator a declared stimulus goes to: the one it names, else the profile's only stimulator of the
    /// matching kind (electrical for biphasic pulses, light otherwise).</summary>
    private StimulationChannel ChannelFor(StimulusSettings st)
    {
        if (st.Stimulator.Length > 0) return Interlock.Find(st.Stimulator, $"{st.SettingPath}.stimulator");
        var matching = Interlock.Channels.Where(c => (c.Limits.Kind == StimulatorKind.Electrical) == st.IsElectrical).ToList();
        string what = st.IsElectrical ? "electrical" : "light (optogenetic)";
        return matching.Count switch
        {
            1 => matching[0],
            0 => throw new SettingException($"{st.SettingPath}.kind", st.Kind.ToString().ToLowerInvariant(),
                $"a stimulus the rig can deliver: {Profile.SourcePath} has no {what} stimulator ({(Interlock.Channels.Count == 0 ? "none at all" : "it has " + string.Join(", ", Interlock.Channels.Select(c => $"'{c.Name}' ({c.Limits.Kind.ToString().ToLowerInvariant()})")))})"),
            _ => throw new SettingException($"{st.SettingPath}.stimulator", null, $"one of the {what} stimulators: {string.Join(", ", matching.Select(c => c.Name))} (the profile has several)"),
        };
    }
}
