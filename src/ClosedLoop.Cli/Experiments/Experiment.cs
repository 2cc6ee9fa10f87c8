using ClosedLoop.Control;
using ClosedLoop.Core;
using ClosedLoop.Hardware.Yaml;
using ClosedLoop.Imaging;

namespace ClosedLoop.Cli.Experiments;

/// <summary>
/// An experiment file: which ROIs, which named groups of them, how activity is extracted, which pattern detectors
/// watch it and which protocol acts on them. The same file runs on the simulated or a real rig; the hardware
/// profile says which. Every setting is a stage's own settings object, so its ranges live in one place.
/// </summary>
public sealed class Experiment
{
    /// <summary>Value of <see cref="Rois"/> that takes the simulated tissue's true footprints as the ROI set.</summary>
    public const string TissueRois = "tissue";

    /// <summary>Value of <see cref="Rois"/> that finds the ROIs while imaging (online segmentation, see <see cref="Segmentation"/>).</summary>
    public const string OnlineRois = "online";

    /// <summary>Short name (used in output folder names).</summary>
    public string Name { get; set; } = "";

    /// <summary>Free text for people.</summary>
    public string? Description { get; set; }

    /// <summary>Where it was read from.</summary>
    public string SourcePath { get; set; } = "";

    /// <summary>Folder relative paths are resolved against (null for built-in experiments).</summary>
    public string? BaseDirectory { get; set; }

    /// <summary>ROI file (masks or ROI JSON layout), <c>builtin:YST_part11</c>-style shipped mask sets, or
    /// <c>tissue</c> (the simulated preparation's own footprints; simulated rigs only).</summary>
    public string Rois { get; set; } = "";

    /// <summary>Online segmentation settings (section <c>segmentation:</c>); set exactly when <see cref="Rois"/> is
    /// <c>online</c>. Unit i of the run is ROI id i (roi000, roi001, ... in the order ROIs are found or added).</summary>
    public OnlineSegmentationSettings? Segmentation { get; set; }

    /// <summary>True when the ROIs are found while imaging (<c>rois: online</c>).</summary>
    public bool IsOnline => Rois == OnlineRois;

    /// <summary>True for <c>protocol: {kind: observe}</c>: no stimulation, the run images, extracts traces and runs its
    /// detectors (their detections are logged) until <see cref="DurationS"/>.</summary>
    public bool Observe { get; set; }

    /// <summary>Planned length of the run on the sample clock, in s; 0 = until the protocol has finished its trials.</summary>
    public double DurationS { get; set; }

    /// <summary>Named groups of ROIs, by ROI name or index, in file order.</summary>
    public List<KeyValuePair<string, List<string>>> Groups { get; set; } = new();

    /// <summary>Trace extraction settings.</summary>
    public TraceExtractionSettings Traces { get; set; } = new();

    /// <summary>ΔF/F and noise-level settings.</summary>
    public DffSettings Dff { get; set; } = new();

    /// <summary>Online motion correction of each frame before trace extraction, or null when the experiment has no
    /// <c>motionCorrection</c> section.</summary>
    public ClosedLoop.Imaging.Registration.MotionCorrectionSettings? MotionCorrection { get; set; }

    /// <summary>Online spike inference (OASIS) after ΔF/F, or null when the experiment has no <c>spikes</c> section or
    /// it chooses <c>method: cnn</c>.</summary>
    public ClosedLoop.Spikes.OasisSettings? Spikes { get; set; }

    /// <summary>Online spike inference by the CNN ensemble after ΔF/F (<c>spikes: {method: cnn}</c>), or null.
    /// Model paths are resolved against the experiment's folder.</summary>
    public ClosedLoop.Spikes.Cnn.CnnSpikeSettings? SpikesCnn { get; set; }

    /// <summary>Pattern detectors of kind <c>groupActivity</c>, by name.</summary>
    public List<GroupActivityDetectorSettings> Detectors { get; set; } = new();

    /// <summary>Pattern detectors of kind <c>responseWindow</c>, by name.</summary>
    public List<ClosedLoop.Control.Mea.ResponseWindowDetectorSettings> ResponseDetectors { get; set; } = new();

    /// <summary>Pattern detectors of kind <c>template</c> (population-vector match), by name.</summary>
    public List<TemplateMatchDetectorSettings> TemplateDetectors { get; set; } = new();

    /// <summary>Pattern detectors of kind <c>sequence</c> (ordered group activation), by name.</summary>
    public List<SequenceDetectorSettings> SequenceDetectors { get; set; } = new();

    /// <summary>The MEA front end (band-pass, threshold detection, blanking), or null for an imaging experiment.
    /// An experiment with a <c>frontEnd</c> section runs on MEA rigs; its groups name electrodes.</summary>
    public ClosedLoop.Control.Mea.MeaFrontEndSettings? FrontEnd { get; set; }

    /// <summary>Names of every detector, in file order.</summary>
    public IEnumerable<string> DetectorNames => Detectors.Select(d => d.Name).Concat(ResponseDetectors.Select(d => d.Name))
        .Concat(TemplateDetectors.Select(d => d.Name)).Concat(SequenceDetectors.Select(d => d.Name));

    /// <summary>Whether a detector watches group <paramref name="group"/>.</summary>
    public bool Watches(string group) => Detectors.Any(d => d.Group == group) || ResponseDetectors.Any(d => d.Group == group)
        || TemplateDetectors.Any(d => d.Group == group) || SequenceDetectors.Any(d => d.Steps.Contains(group));

    /// <summary>The protocol (stimulus avoidance; unused defaults when the protocol is <see cref="Pong"/>).</summary>
    public StimulusAvoidanceSettings Protocol { get; set; } = new();

    /// <summary>The pong protocol (<c>protocol.kind: pong</c>), or null.</summary>
    public ClosedLoop.Control.Mea.PongSettings? Pong { get; set; }

    /// <summary>Declared stimuli (section <c>stimuli:</c>), by name in file order; a train is stored resolved (the
    /// fields of the pulse it repeats, its own count and rate).</summary>
    public List<ClosedLoop.Control.Protocols.StimulusSettings> Stimuli { get; set; } = new();

    /// <summary>The phases run in order (section <c>phases:</c>, or one phase for a top-level <c>protocol</c> of kind
    /// <c>rules</c> or <c>bakkum</c>); empty for a single built-in protocol (stimulusAvoidance, pong, observe).</summary>
    public List<PhaseSettings> Phases { get; set; } = new();

    /// <summary>True when the run is a sequence of phases (<see cref="Phases"/>).</summary>
    public bool HasPhases => Phases.Count > 0;

    /// <summary>What a trial without response counts as in the learning curve, s: the longest trial of the protocol
    /// (of any phase that runs trials).</summary>
    public double TrialLimitS => HasPhases
        ? Phases.Select(p => p.Rules is { HasTrials: true } r ? r.MaxTrialS : p.Avoidance?.MaxTrialS ?? 0).DefaultIfEmpty(0).Max() is var m && m > 0 ? m : 1
        : Protocol.MaxTrialS;

    /// <summary>True when the experiment runs as its control (open loop) in every phase that has a condition.</summary>
    public bool IsOpenLoop => HasPhases
        ? Phases.Any(p => p.Stage is not null) && Phases.All(p => p.Rules?.OpenLoop ?? p.Avoidance?.OpenLoop ?? (p.Pong is { } pg ? pg.Condition != ClosedLoop.Control.Mea.PongCondition.ClosedLoop : (bool?)null) ?? p.Bakkum?.OpenLoop ?? true)
        : Pong is { } single ? single.Condition != ClosedLoop.Control.Mea.PongCondition.ClosedLoop : Protocol.OpenLoop;

    /// <summary>Trials (games, cycles) the protocol will run, for progress displays; 0 when it runs until the duration.</summary>
    public int PlannedTrials => HasPhases
        ? Phases.Sum(p => p.Rules?.Trials ?? p.Avoidance?.Trials ?? p.Pong?.Games ?? p.Bakkum?.Cycles ?? 0)
        : Pong?.Games ?? Protocol.Trials;

    /// <summary>Switches every phase (or the single protocol) to its control condition; false when it already was.</summary>
    public bool MakeOpenLoop()
    {
        if (IsOpenLoop) return false;
        if (!HasPhases)
        {
            if (Pong is { } pong) pong.Condition = ClosedLoop.Control.Mea.PongCondition.OpenLoop;
            else Protocol.OpenLoop = true;
            return true;
        }
        foreach (var p in Phases)
        {
            if (p.Rules is { } r) r.OpenLoop = true;
            if (p.Avoidance is { } a) a.OpenLoop = true;
            if (p.Pong is { Condition: ClosedLoop.Control.Mea.PongCondition.ClosedLoop } g) g.Condition = ClosedLoop.Control.Mea.PongCondition.OpenLoop;
            if (p.Bakkum is { } b) b.OpenLoop = true;
        }
        return true;
    }

    /// <summary>Queue sizes between stages.</summary>
    public PipelineSettings Pipeline { get; set; } = new();

    /// <summary>The parsed file, to point errors found later (unknown group, stimulator) at their line.</summary>
    internal YamlFile? File { get; set; }

    /// <summary>Adds the file and line to an error about one of this experiment's settings.</summary>
    public SettingException Locate(SettingException ex) => File is null || ex.Location is not null ? ex : File.Locate(ex);

    /// <summary>Members of a group, or an error listing the groups there are.</summary>
    public List<string> Group(string name, string setting) =>
        Groups.FirstOrDefault(g => g.Key == name).Value
        ?? throw Locate(new SettingException(setting, name, Groups.Count == 0 ? "a group defined under 'groups' (there are none)" : $"one of the groups: {string.Join(", ", Groups.Select(g => g.Key))}"));

    /// <summary>Loads the ROI set this experiment names; <paramref name="tissueRois"/> supplies the simulated
    /// preparation's footprints when <see cref="Rois"/> is <c>tissue</c> (null on a real rig).</summary>
    public RoiSet LoadRois(Func<RoiSet>? tissueRois)
    {
        const string setting = "rois";
        try
        {
            if (IsOnline)
                throw new SettingException(setting, Rois, "a fixed ROI set: with 'online' the ROIs are found while imaging (the run uses an online ROI board)");
            if (Rois == TissueRois)
                return tissueRois?.Invoke() ?? throw new SettingException(setting, Rois, "a ROI file: 'tissue' exists only on a simulated rig");
            if (Rois.StartsWith(FirmwareSim.Footprints.BuiltinPrefix, StringComparison.Ordinal))
                return BuiltinRois.Load(Rois);
            string path = BaseDirectory is null || Path.IsPathRooted(Rois) ? Rois : Path.Combine(BaseDirectory, Rois);
            if (!System.IO.File.Exists(path))
                throw new SettingException(setting, Rois, $"an existing ROI file (looked for {Path.GetFullPath(path)}), a built-in mask set ({string.Join(", ", FirmwareSim.Footprints.BuiltinNames.Select(n => "builtin:" + n))}) or '{TissueRois}'");
            return RoiSet.Load(path);
        }
        catch (SettingException ex) { throw Locate(ex); }
    }
}

/// <summary>The human-labelled mask sets shipped with firmware-sim, read as ROI sets.</summary>
internal static class BuiltinRois
{
    public static RoiSet Load(string builtin)
    {
        using var stream = FirmwareSim.Footprints.OpenBuiltin(builtin, out string canonical)
            ?? throw new SettingException("rois", builtin, $"one of {string.Join(", ", FirmwareSim.Footprints.BuiltinNames.Select(n => "builtin:" + n))}, a ROI file, or '{Experiment.TissueRois}'");
        return RoiSet.Load(stream, canonical);
    }
}

/// <summary>One entry of an experiment's <c>phases:</c> list: a name, how long, and what runs in it (exactly one of
/// the protocol settings, or none for <c>rest</c>).</summary>
public sealed class PhaseSettings
{
    /// <summary>Name (events, report).</summary>
    public string Name { get; set; } = "";

    /// <summary><c>rest</c>, <c>rules</c>, <c>stimulusAvoidance</c>, <c>pong</c> or <c>bakkum</c>.</summary>
    public string Kind { get; set; } = "rest";

    /// <summary>The phase ends after this long, s; 0 = when its protocol is done.</summary>
    public double DurationS { get; set; }

    /// <summary>Where the phase sits in the file (<c>phases[1]</c>, or <c>protocol</c> for a single top-level protocol).</summary>
    public string SettingPath { get; set; } = "phases[0]";

    /// <summary>Where its protocol settings sit (<c>phases[1].protocol</c>).</summary>
    public string ProtocolPath { get; set; } = "phases[0].protocol";

    /// <summary>A <c>rules</c> phase.</summary>
    public ClosedLoop.Control.Protocols.RulesSettings? Rules { get; set; }

    /// <summary>A <c>stimulusAvoidance</c> phase.</summary>
    public StimulusAvoidanceSettings? Avoidance { get; set; }

    /// <summary>A <c>pong</c> phase.</summary>
    public ClosedLoop.Control.Mea.PongSettings? Pong { get; set; }

    /// <summary>A <c>bakkum</c> phase.</summary>
    public ClosedLoop.Control.Mea.BakkumSettings? Bakkum { get; set; }

    /// <summary>The protocol settings of the phase (null for rest).</summary>
    public object? Stage => (object?)Rules ?? (object?)Avoidance ?? (object?)Pong ?? Bakkum;
}
