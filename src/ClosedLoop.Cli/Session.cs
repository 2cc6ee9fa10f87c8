using ClosedLoop.Cli.Experiments;
using ClosedLoop.Cli.Rigs;
using ClosedLoop.Control;
using ClosedLoop.Core;
using ClosedLoop.FirmwareSim;
using ClosedLoop.Hardware;
using ClosedLoop.Hardware.Daq;
using ClosedLoop.Interop.NiDaqmx;
using ClosedLoop.Imaging;
using ClosedLoop.Imaging.Segmentation;
using ClosedLoop.Spikes;
using ClosedLoop.Storage;

namespace ClosedLoop.Cli;

/// <summary>How the command line overrides an experiment and profile for one run. <paramref name="Replay"/> names a
/// recorded TIFF movie that replaces the rig's acquisition (stimulation is then decided and counted but goes nowhere).
/// <paramref name="ForceOpenLoop"/> runs the experiment as its own control (<c>protocol.control: open-loop</c>);
/// <paramref name="ForceRest"/> runs a pong experiment as its rest control (<c>protocol.control: rest</c>).
/// <paramref name="SegmentationFactory"/> builds the online segmentation of a <c>rois: online</c> experiment (null: the
/// product's <see cref="OnlineRois.Create"/>; tests pass a stand-in).</summary>
public sealed record RunOptions(
    string Profile,
    string Experiment,
    double? DurationS = null,
    SimulationPacing? Pacing = null,
    string? OutputDirectory = null,
    bool Quiet = false,
    string? Replay = null,
    double? ReplayFrameRateHz = null,
    string? RunId = null,
    bool ForceOpenLoop = false,
    OnlineSegmentationFactory? SegmentationFactory = null,
    bool ForceRest = false);

/// <summary>
/// The composition root of one run: builds the rig from a hardware profile, the fast loop from an experiment
/// (trace extraction → ΔF/F → detectors → protocol), routes every stimulator through one safety interlock, and
/// registers the shutdown that switches stimulation off on every path. Everything is checked before any frame
/// is acquired, so a bad file never stimulates.
/// </summary>
public sealed partial class Session : IDisposable
{
    private IReadOnlyList<ILiveConsumer> _consumers;

    private Session(HardwareProfile profile, Experiment experiment, RunOptions options, IReadOnlyList<ProfileProblem> warnings, IReadOnlyList<ILiveConsumer> consumers)
    {
        _consumers = consumers;
        Profile = profile;
        Experiment = experiment;
        Options = options;
        Warnings = warnings;
        Events = new RunEventLog();
        Stop = new CancellationTokenSource();
        Interlock = new SafetyInterlock(Events);
    }

    /// <summary>The rig description.</summary>
    public HardwareProfile Profile { get; }

    /// <summary>The experiment.</summary>
    public Experiment Experiment { get; }

    /// <summary>The command-line overrides.</summary>
    public RunOptions Options { get; }

    /// <summary>Non-fatal findings about the profile.</summary>
    public IReadOnlyList<ProfileProblem> Warnings { get; }

    /// <summary>The run's event log.</summary>
    public RunEventLog Events { get; }

    /// <summary>Cancelled when a stage ends the run.</summary>
    public CancellationTokenSource Stop { get; }

    /// <summary>Shared run context (at the rig's actual frame rate).</summary>
    public RunContext Context { get; private set; } = null!;

    /// <summary>The one interlock all stimulation passes through.</summary>
    public SafetyInterlock Interlock { get; }

    /// <summary>Where frames come from: the frame-level simulated rig, or a resonant scan through the (simulated) DAQ.</summary>
    public IFrameSource Source { get; private set; } = null!;

    /// <summary>The virtual tissue under the simulated objective (null on real hardware).</summary>
    public VirtualTissue? Tissue { get; private set; }

    /// <summary>How the simulated rig is paced.</summary>
    public SimulationPacing Pacing { get; private set; }

    /// <summary>"frames" for the frame-level simulated rig, "samples → frames" when frames are assembled from DAQ samples.</summary>
    public string AcquisitionPath { get; private set; } = "";

    /// <summary>The resonant rig, when the profile describes one.</summary>
    public ScanRig? ScanRig { get; private set; }

    /// <summary>The ROI set in use; null when the ROIs are found while imaging (<see cref="OnlineBoard"/>).</summary>
    public RoiSet? Rois { get; private set; }

    /// <summary>Units the fast loop traces: the ROI set's ROIs, or the online board's capacity (segmentation.maxRois).</summary>
    public int UnitCount => Rois?.Count ?? OnlineBoard?.Capacity ?? 0;

    /// <summary>With <c>rois: online</c>: the board through which the slow loop hands new ROI sets to the fast loop.</summary>
    public OnlineRoiBoard? OnlineBoard { get; private set; }

    /// <summary>With <c>rois: online</c>: the slow loop that segments frames and publishes ROI sets (a live consumer).</summary>
    public SegmentationLoop? Segmentation { get; private set; }

    /// <summary>Asked for the report: null when the movie stayed inside the segmentation model's training range.</summary>
    public Func<string?>? SegmentationRangeWarning { get; private set; }

    /// <summary>Per-frame activity the stages share.</summary>
    public PopulationActivity Activity { get; private set; } = null!;

    /// <summary>The protocol stage (stimulus avoidance or pong).</summary>
    public ClosedLoop.Control.Mea.IProtocolStage Protocol { get; private set; } = null!;

    /// <summary>The pong protocol, when the experiment plays pong.</summary>
    public ClosedLoop.Control.Mea.PongProtocol? Pong { get; private set; }

    /// <summary>The detectors.</summary>
    public IReadOnlyList<IPatternDetector> Detectors { get; private set; } = Array.Empty<IPatternDetector>();

    /// <summary>The MEA rig, when the profile has an <c>mea</c> section.</summary>
    public MeaRig? Mea { get; private set; }

    /// <summary>The MEA front-end stage (band-pass, spike detection, blanking), on MEA rigs.</summary>
    public ClosedLoop.Control.Mea.MeaFrontEndStage? FrontEnd { get; private set; }

    /// <summary>The motion-correction stage, when the experiment has a <c>motionCorrection</c> section (imaging rigs).</summary>
    public ClosedLoop.Imaging.Registration.MotionCorrectionStage? Motion { get; private set; }

    /// <summary>The CNN spike stage, when the experiment has <c>spikes: {method: cnn}</c>.</summary>
    public ClosedLoop.Spikes.Cnn.CnnSpikeStage? SpikesCnn { get; private set; }

    /// <summary>Source, link, fast loop.</summary>
    public RunPipeline Pipeline { get; private set; } = null!;

    /// <summary>Frames the run will acquire, or null when it ends only by the protocol or the user.</summary>
    public long? FrameLimit { get; private set; }

    /// <summary>The recording being replayed, when the run replays one.</summary>
    public TiffReplaySource? Replay { get; private set; }

    /// <summary>Parameters that remote control may change while the run goes.</summary>
    public ParameterBoard Parameters { get; } = new();

    /// <summary>The tap feeding live consumers (null when none is attached).</summary>
    public LiveTap? Tap { get; private set; }

    /// <summary>What live consumers are told about the run.</summary>
    public LiveRunInfo Live { get; private set; } = null!;

    /// <summary>Live consumers attached to this run (recorder, event bus, dashboard).</summary>
    public IReadOnlyList<ILiveConsumer> Consumers => _consumers;

    /// <summary>Frame width of the source, px.</summary>
    public int WidthPx => Source.WidthPx;

    /// <summary>Frame height of the source, px.</summary>
    public int HeightPx => Source.HeightPx;

    /// <summary>Loads and checks the profile and the experiment and wires the run. Throws <see cref="SettingException"/>
    /// naming file, line and setting for anything wrong; nothing is acquired or stimulated before that.</summary>
    /// <param name="options">Profile, experiment and command-line overrides.</param>
    /// <param name="consumers">Live consumers to attach before the first frame (recorder, event bus, dashboard).</param>
    public static Session Build(RunOptions options, IReadOnlyList<ILiveConsumer>? consumers = null)
    {
        var profile = HardwareProfileLoader.Load(options.Profile);
        var warnings = ProfileChecks.Wiring(profile).Where(p => p.Severity == ProblemSeverity.Warning).ToList();
        var experiment = ExperimentLoader.Load(options.Experiment);
        if (options.ForceRest)
        {
            var restPong = experiment.Pong ?? throw new SettingException("--controls", "rest",
                $"'open-loop' for {experiment.SourcePath}: only pong has a rest control (no stimulation at all)");
            restPong.Condition = ClosedLoop.Control.Mea.PongCondition.Rest;
            experiment.Name += "-rest";
        }
        else if (options.ForceOpenLoop && experiment.MakeOpenLoop()) experiment.Name += "-control";
        var session = new Session(profile, experiment, options, warnings, consumers ?? Array.Empty<ILiveConsumer>());
        try
        {
            session.Wire();
            return session;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    private void Wire()
    {
        double durationS = Options.DurationS ?? Experiment.DurationS;
        if (Options.DurationS is double d) Check.InRange("--duration", d, 0.1, 7 * 86_400);
        double? runS = durationS > 0 ? durationS : null;
        if (Profile.Mea is not null || Experiment.FrontEnd is not null)
        {
            WireMea(runS);
            return;
        }
        FrameLimit = runS is double fs ? (long)Math.Ceiling(fs * Profile.Imaging.FrameRateHz) : null;
        if (Options.Replay is { } replayPath)
        {
            Pacing = Options.Pacing ?? SimulationPacing.Realtime;
            Replay = new TiffReplaySource(replayPath, Options.ReplayFrameRateHz, Pacing == SimulationPacing.Realtime);
            Source = Replay;
            FrameLimit = runS is double rs ? Math.Min(Replay.FrameCount, (long)Math.Ceiling(rs * Replay.FrameRateHz)) : Replay.FrameCount;
            AcquisitionPath = $"replay of {Path.GetFullPath(replayPath)} ({Replay.FrameCount} frames at {Replay.FrameRateHz:0.###} Hz{(Replay.IsSigned ? ", signed pixels clipped at 0" : "")}{(Replay.TruncationNote is null ? "" : ", truncated: " + Replay.TruncationNote)})";
        }
        else if (Profile.Daq.Backend == DaqBackend.NiDaqmx)
        {
            if (Profile.Scanners is null)
                throw new SettingException("scanners", null, "present: an NI-DAQmx rig acquires through its scanners", Profile.SourcePath);
            IDaqSystem ni;
            try { ni = new NiDaqmxSystem(); }
            catch (DaqException ex) { throw new SettingException("daq.backend", "nidaqmx", $"usable on this machine, but {ex.Message}", Profile.SourcePath); }
            Pacing = SimulationPacing.Realtime;
            ScanRig = ScanRig.Build(Profile, null, Pacing, ni, runS);
        }
        else
        {
            Pacing = Options.Pacing ?? Profile.Simulation!.Pacing;
            if (Profile.Scanners is not null) ScanRig = ScanRig.Build(Profile, null, Pacing, durationS: runS);
        }
        if (Replay is not null)
        {
            // the source is set
        }
        else if (ScanRig is not null)
        {
            FrameLimit = ScanRig.Source.FrameLimit; // at the scan's own frame rate
            Source = ScanRig.Source;
            Tissue = ScanRig.Tissue;
            AcquisitionPath = $"samples → frames ({(Profile.Scanners!.Mode == ScanMode.ResonantGalvo ? "resonant" : "galvo-galvo")} {ScanRig.Plan.FrameRateHz:0.##} Hz, {ScanRig.Source.Assembler.Channels} detector channel(s), {(Tissue is null ? "NI-DAQmx" : "simulated DAQ")})";
        }
        else
        {
            var rig = new SimulatedTwoPhotonRig(Profile, FrameLimit, Pacing);
            Source = rig;
            Tissue = rig.Tissue;
            AcquisitionPath = "frames (frame-level simulated rig)";
        }
        Context = new RunContext(Options.RunId ?? NewRunId(Experiment.Name), Source.FrameRateHz, Events, Stop);

        RoiSet? rois = null;
        if (Experiment.IsOnline) WireOnlineRois();
        else
        {
            rois = Experiment.LoadRois(Tissue is null ? null : () => TissueRois(Tissue.Footprints));
            Rois = rois;
            try { rois.Check(WidthPx, HeightPx); }
            catch (SettingException ex) { throw Experiment.Locate(new SettingException("rois", rois.SourceName, ex.Allowed + $" (the ROI set is {rois.WidthPx}×{rois.HeightPx}; {(Replay is null ? "the profile images" : "the replayed movie is")} {WidthPx}×{HeightPx})")); }
            Activity = rois.CreateActivity();
        }

        var groups = new Dictionary<string, int[]>();
        foreach (var (name, members) in Experiment.Groups)
        {
            var indices = new int[members.Count];
            for (int i = 0; i < members.Count; i++)
            {
                if (rois is null) { indices[i] = OnlineRoiId(members[i], $"groups.{name}[{i}]"); continue; }
                try { indices[i] = rois.IndexOf(members[i]); }
                catch (SettingException ex) { throw Experiment.Locate(new SettingException($"groups.{name}[{i}]", members[i], $"a ROI name or index of {rois.SourceName} ({rois.Count} ROIs: 0..{rois.Count - 1}); {ex.Allowed}")); }
            }
            groups[name] = indices;
        }

        if (Experiment.ResponseDetectors.Count > 0)
            throw Experiment.Locate(new SettingException($"{Experiment.ResponseDetectors[0].SettingPath}.kind", "responseWindow", "'groupActivity' on an imaging rig (responseWindow counts spikes of an MEA front end)"));
        var detectors = new List<IPatternDetector>();
        foreach (var ds in Experiment.Detectors)
        {
            Experiment.Group(ds.Group, $"{ds.SettingPath}.group");
            try { detectors.Add(new GroupActivityDetector(ds, groups[ds.Group])); }
            catch (SettingException ex) { throw Experiment.Locate(ex); }
        }
        AddGeneralDetectors(detectors, groups);
        Detectors = detectors;

        foreach (var sp in Profile.Stimulators)
        {
            if (sp.Kind != StimulatorKind.Optogenetic) continue;
            if (Replay is not null) { Interlock.Register(sp, new DryStimulator(sp)); continue; }
            if (Tissue is null)
                throw new SettingException("stimulators", sp.Name, "stimulators of a simulated rig for now: photostimulation on real hardware (galvo targeting, laser gating) has no driver yet", Profile.SourcePath);
            Interlock.Register(sp, new SimulatedPhotostimulator(sp, Tissue));
        }

        var ps = Experiment.Protocol;
        string stimulatedGroup = Experiment.Observe ? "" : ps.Targets;
        if (Experiment.Observe) Protocol = new ObserveProtocol();
        else if (Experiment.HasPhases)
        {
            var fixedRois = rois ?? throw Experiment.Locate(new SettingException("phases", "(section)", "absent when rois is 'online'"));
            stimulatedGroup = WirePhases(detectors, groups, (g, _) => new StimulationTargets(g,
                groups[g].Select(i => fixedRois[i].CentroidXPx).ToArray(), groups[g].Select(i => fixedRois[i].CentroidYPx).ToArray()), null);
        }
        else
        {
            var detector = detectors.FirstOrDefault(x => x.Name == ps.Detector)
                ?? throw Experiment.Locate(new SettingException("protocol.detector", ps.Detector, $"one of the detectors: {string.Join(", ", detectors.Select(x => x.Name))}"));
            var targetIdx = groups.TryGetValue(ps.Targets, out var t) ? t : throw Experiment.Locate(new SettingException("protocol.targets", ps.Targets, $"one of the groups: {string.Join(", ", groups.Keys)}"));
            var fixedRois = rois ?? throw Experiment.Locate(new SettingException("protocol.kind", "stimulusAvoidance", "'observe' when rois is 'online'"));
            var targets = new StimulationTargets(ps.Targets, targetIdx.Select(i => fixedRois[i].CentroidXPx).ToArray(), targetIdx.Select(i => fixedRois[i].CentroidYPx).ToArray());
            try
            {
                var channel = Interlock.Channels.Count == 0
                    ? throw new SettingException("protocol.stimulator", ps.Stimulator, $"a stimulator of the hardware profile {Profile.SourcePath} (it has none)")
                    : Interlock.Find(ps.Stimulator, "protocol.stimulator");
                Protocol = new StimulusAvoidanceProtocol(ps, detector, targets, Interlock, channel);
            }
            catch (SettingException ex) { throw Experiment.Locate(ex); }
        }

        if (rois is null) OpenSegmentation();
        var stages = new List<IFastStage>
        {
            rois is null
                ? new TraceExtractionStage(Experiment.Traces, OnlineBoard!, Activity)
                : new TraceExtractionStage(Experiment.Traces, rois, WidthPx, HeightPx, Activity),
            new DffStage(Experiment.Dff, Activity),
        };
        if (Experiment.Spikes is { } spikes) stages.Add(new DeconvolutionStage(spikes, Activity));
        if (Experiment.SpikesCnn is { } cnn)
        {
            try { SpikesCnn = new ClosedLoop.Spikes.Cnn.CnnSpikeStage(cnn, Activity, ClosedLoop.Spikes.Cnn.CnnSpikeStage.LoadModels(cnn)); }
            catch (SettingException ex) { throw Experiment.Locate(ex); }
            stages.Add(SpikesCnn);
        }
        if (Experiment.MotionCorrection is { Mode: not ClosedLoop.Imaging.Registration.MotionCorrectionMode.None } motion)
        {
            // First of all: every later stage (traces, the live tap and the recorder) sees corrected pixels.
            try { Motion = new ClosedLoop.Imaging.Registration.MotionCorrectionStage(motion, WidthPx, HeightPx, FrameLimit ?? ClosedLoop.Imaging.Registration.MotionCorrectionStage.DefaultTraceCapacityFrames); }
            catch (SettingException ex) { throw Experiment.Locate(ex); }
            stages.Insert(0, Motion);
        }
        stages.Add(new DetectorStage(detectors, Activity));
        stages.Add(Protocol);

        FinishWiring(stages, detectors, groups, stimulatedGroup,
            rois is null ? OnlineBoard!.Units().Units
                : Enumerable.Range(0, rois.Count).Select(i => new LiveUnit(rois[i].Name, rois[i].PixelIndices.ToArray(), rois[i].CentroidXPx, rois[i].CentroidYPx)).ToList());
    }

    /// <summary><c>rois: online</c>: a fixed capacity of units (ROI id i = unit i, roi000...) and the board the fast loop
    /// reads; no ROI exists yet.</summary>
    private void WireOnlineRois()
    {
        var settings = Experiment.Segmentation ?? throw new InvalidOperationException("rois: online without segmentation settings");
        OnlineBoard = new OnlineRoiBoard(settings.MaxRois, WidthPx, HeightPx, Experiment.Traces);
        Activity = OnlineBoard.CreateActivity();
    }

    /// <summary>Opens the segmentation model, last of all the checks (it is the slowest): the slow loop that pushes frames
    /// into it goes first among the live consumers, so it is detached first and its final ROI set is the one recorded.</summary>
    private void OpenSegmentation()
    {
        var settings = Experiment.Segmentation!;
        var board = OnlineBoard!;
        var factory = Options.SegmentationFactory ?? OnlineRois.Create;
        OnlineSegmentationInstance made;
        try { made = factory(settings, HeightPx, WidthPx, Source.FrameRateHz); }
        catch (Exception ex) when (ex is NotSupportedException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException or IOException)
        {
            throw Experiment.Locate(new SettingException("segmentation.model", settings.ModelPath ?? "default", $"a usable segmentation model ({ex.Message})"));
        }
        if (made.Segmentation.WidthPx != WidthPx || made.Segmentation.HeightPx != HeightPx)
        {
            made.Segmentation.Dispose();
            throw Experiment.Locate(new SettingException("segmentation.model", settings.ModelPath ?? "default", $"a segmentation for {WidthPx}×{HeightPx} px frames (it segments {made.Segmentation.WidthPx}×{made.Segmentation.HeightPx})"));
        }
        Segmentation = new SegmentationLoop(made.Segmentation, board, settings, made.Description);
        SegmentationRangeWarning = made.TrainingRangeWarning;
        _consumers = [Segmentation, .. _consumers];
    }

    /// <summary>A group member of a <c>rois: online</c> experiment: an ROI id as name (roi007) or index (7) below the capacity.</summary>
    private int OnlineRoiId(string member, string setting)
    {
        int cap = OnlineBoard!.Capacity;
        if (member.StartsWith("roi", StringComparison.Ordinal) && int.TryParse(member.AsSpan(3), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int id) && id < cap && RoiSet.DefaultName(id) == member)
            return id;
        if (int.TryParse(member, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out id) && id < cap)
            return id;
        throw Experiment.Locate(new SettingException(setting, member,
            $"an ROI id of the online segmentation: {RoiSet.DefaultName(0)}..{RoiSet.DefaultName(cap - 1)} or 0..{cap - 1} (segmentation.maxRois = {cap}); ids are given in the order ROIs are found or added, and a unit is NaN until its ROI exists"));
    }

    /// <summary>What every rig's wiring ends with: live parameters, the live description and tap for consumers, the
    /// pipeline, and stimulation off at the end on every path.</summary>
    private void FinishWiring(List<IFastStage> stages, IEnumerable<IPatternDetector> detectors, Dictionary<string, int[]> groups,
        string stimulatedGroup, IReadOnlyList<LiveUnit> units)
    {
        Protocol.RegisterParameters(Parameters);
        foreach (var det in detectors.OfType<GroupActivityDetector>()) det.RegisterParameters(Parameters);
        Parameters.LogTo(Events);
        Live = new LiveRunInfo(Context, Profile.SourcePath, Experiment.SourcePath, WidthPx, HeightPx, units,
            groups.Select(g => new LiveGroup(g.Key, g.Value, g.Key == stimulatedGroup ? "stimulated" : Experiment.Watches(g.Key) ? "detected" : "group")).ToList(),
            Parameters, LiveStatusNow, RunMetadata()) { PlannedFrames = FrameLimit, CurrentUnits = OnlineBoard is { } board ? board.Units : null };
        if (_consumers.Count > 0)
        {
            Tap = new LiveTap(Activity);
            stages.Add(Tap);
            foreach (var c in _consumers) c.Attach(Live, Tap);
        }
        Pipeline = new RunPipeline(Source, stages, Experiment.Pipeline, Tap?.FramesHeldMax ?? 0, Parameters);
        Pipeline.OnShutdown(() =>
        {
            Interlock.StopWatchdog();
            Interlock.AllOff("end of run: all stimulators off");
        });
    }

    /// <summary>Template-match and sequence detectors, the same on either front end.</summary>
    private void AddGeneralDetectors(List<IPatternDetector> detectors, Dictionary<string, int[]> groups)
    {
        foreach (var ds in Experiment.TemplateDetectors)
        {
            Experiment.Group(ds.Group, $"{ds.SettingPath}.group");
            try { detectors.Add(new TemplateMatchDetector(ds, groups[ds.Group])); }
            catch (SettingException ex) { throw Experiment.Locate(ex); }
        }
        foreach (var ds in Experiment.SequenceDetectors)
        {
            for (int i = 0; i < ds.Steps.Count; i++) Experiment.Group(ds.Steps[i], $"{ds.SettingPath}.steps[{i}]");
            try { detectors.Add(new SequenceDetector(ds, ds.Steps.Select(g => groups[g]).ToArray())); }
            catch (SettingException ex) { throw Experiment.Locate(ex); }
        }
    }

    /// <summary>The MEA path: electrode blocks from the array's AI task → front end (band-pass, threshold spikes,
    /// blanking) → detectors → protocol, stimulating electrodes through the AO task behind the interlock.</summary>
    private void WireMea(double? runS)
    {
        if (Profile.Mea is null)
            throw Experiment.Locate(new SettingException("frontEnd", "mea", $"a hardware profile with an 'mea' section ({Profile.SourcePath} has none; try builtin:sim-mea)"));
        if (Experiment.FrontEnd is null)
            throw new SettingException("frontEnd", null, $"a 'frontEnd: {{kind: mea}}' section: {Profile.SourcePath} is an MEA rig (electrode groups, no ROIs), but {Experiment.SourcePath} is an imaging experiment", Experiment.SourcePath);
        if (Options.Replay is not null)
            throw new SettingException("--replay", Options.Replay, "absent on an MEA rig (replay is for recorded imaging movies)");
        if (Profile.Daq.Backend != DaqBackend.Simulated)
            throw new SettingException("daq.backend", "nidaqmx", "simulated for an MEA rig for now (a real MEA system needs its AI/AO driver behind the same DAQ contracts)", Profile.SourcePath);
        Pacing = Options.Pacing ?? Profile.Simulation?.Pacing ?? SimulationPacing.Realtime;
        double blockRateHz = 1000.0 / Profile.Mea.BlockMs;
        FrameLimit = runS is double fs ? (long)Math.Ceiling(fs * blockRateHz) : null;
        Mea = new MeaRig(Profile, FrameLimit, Pacing);
        Source = Mea;
        AcquisitionPath = $"electrode blocks ({Mea.Layout.Count} electrodes at {Mea.SampleRateHz / 1000:0.#} kHz, {Mea.SamplesPerBlock} samples per block, simulated culture of {Profile.Mea.CultureNeurons} neurons through the DAQ contracts, lock-step)";
        Context = new RunContext(Options.RunId ?? NewRunId(Experiment.Name), Source.FrameRateHz, Events, Stop);

        var layout = Mea.Layout;
        int channels = layout.Count, samples = Mea.SamplesPerBlock;
        Rois = new RoiSet(channels, samples, layout.Electrodes.Select(e =>
            new RoiDefinition(e.Name, Enumerable.Range(0, samples).Select(s => s * channels + e.Index).ToArray())));
        Activity = new PopulationActivity(channels, layout.Electrodes.Select(e => e.Name).ToArray());

        var groups = new Dictionary<string, int[]>();
        foreach (var (name, members) in Experiment.Groups)
        {
            var indices = new int[members.Count];
            for (int i = 0; i < members.Count; i++)
            {
                try { indices[i] = layout.IndexOf(members[i], $"groups.{name}[{i}]"); }
                catch (SettingException ex) { throw Experiment.Locate(ex); }
            }
            groups[name] = indices;
        }

        foreach (var sp in Profile.Stimulators)
            if (sp.Kind == StimulatorKind.Electrical) Interlock.Register(sp, Mea.Stimulator);
            else throw new SettingException("stimulators", sp.Name, "electrical stimulators on an MEA rig", Profile.SourcePath);

        var detectors = new List<IPatternDetector>();
        foreach (var ds in Experiment.Detectors)
        {
            Experiment.Group(ds.Group, $"{ds.SettingPath}.group");
            try { detectors.Add(new GroupActivityDetector(ds, groups[ds.Group])); }
            catch (SettingException ex) { throw Experiment.Locate(ex); }
        }
        foreach (var ds in Experiment.ResponseDetectors)
        {
            Experiment.Group(ds.Group, $"{ds.SettingPath}.group");
            try { detectors.Add(new ClosedLoop.Control.Mea.ResponseWindowDetector(ds, groups[ds.Group], () => Interlock.LastDeliveryNs)); }
            catch (SettingException ex) { throw Experiment.Locate(ex); }
        }
        AddGeneralDetectors(detectors, groups);
        Detectors = detectors;

        var ps = Experiment.Protocol;
        string stimulatedGroup = ps.Targets;
        if (Experiment.HasPhases)
            stimulatedGroup = WirePhases(detectors, groups, (g, _) => new StimulationTargets(g, groups[g]), layout);
        else if (Experiment.Pong is { } pong)
        {
            int[] G(string name, string setting) => groups.TryGetValue(name, out var g) ? g : throw Experiment.Locate(new SettingException(setting, name, $"one of the groups: {string.Join(", ", groups.Keys)}"));
            try
            {
                var channel = Interlock.Channels.Count == 0
                    ? throw new SettingException("protocol.stimulator", pong.Stimulator, $"a stimulator of the hardware profile {Profile.SourcePath} (it has none)")
                    : Interlock.Find(pong.Stimulator, "protocol.stimulator");
                Pong = new ClosedLoop.Control.Mea.PongProtocol(pong, G(pong.Sensory, "protocol.sensory"), G(pong.MotorUp, "protocol.motorUp"), G(pong.MotorDown, "protocol.motorDown"),
                    Activity, Interlock, channel);
            }
            catch (SettingException ex) { throw Experiment.Locate(ex); }
            Protocol = Pong;
            stimulatedGroup = pong.Sensory;
        }
        else WireAvoidance(ps, detectors, groups);
        WireMeaStages(detectors, groups, stimulatedGroup, channels, samples, layout);
    }

    private void WireAvoidance(StimulusAvoidanceSettings ps, List<IPatternDetector> detectors, Dictionary<string, int[]> groups)
    {
        var detector = detectors.FirstOrDefault(x => x.Name == ps.Detector)
            ?? throw Experiment.Locate(new SettingException("protocol.detector", ps.Detector, $"one of the detectors: {string.Join(", ", detectors.Select(x => x.Name))}"));
        var targetIdx = groups.TryGetValue(ps.Targets, out var t) ? t : throw Experiment.Locate(new SettingException("protocol.targets", ps.Targets, $"one of the groups: {string.Join(", ", groups.Keys)}"));
        if (!(ps.AmplitudeUa > 0))
            throw Experiment.Locate(new SettingException("protocol.pulse.amplitudeUa", ps.AmplitudeUa, "> 0 µA: an MEA rig stimulates with current pulses"));
        try
        {
            var channel = Interlock.Channels.Count == 0
                ? throw new SettingException("protocol.stimulator", ps.Stimulator, $"a stimulator of the hardware profile {Profile.SourcePath} (it has none)")
                : Interlock.Find(ps.Stimulator, "protocol.stimulator");
            Protocol = new StimulusAvoidanceProtocol(ps, detector, new StimulationTargets(ps.Targets, targetIdx), Interlock, channel);
        }
        catch (SettingException ex) { throw Experiment.Locate(ex); }
    }

    private void WireMeaStages(List<IPatternDetector> detectors, Dictionary<string, int[]> groups, string stimulatedGroup, int channels, int samples, ClosedLoop.FirmwareSim.Culture.MeaLayout layout)
    {
        var mea = Mea!;
        FrontEnd = new ClosedLoop.Control.Mea.MeaFrontEndStage(Experiment.FrontEnd!, channels, samples, mea.SampleRateHz, mea.MicrovoltsPerCode, Activity, () => Interlock.LastDeliveryNs);
        var stages = new List<IFastStage> { FrontEnd, new DetectorStage(detectors, Activity), Protocol };
        FinishWiring(stages, detectors, groups, stimulatedGroup,
            layout.Electrodes.Select(e => new LiveUnit(e.Name, Rois![e.Index].PixelIndices.ToArray(), e.Index, samples / 2.0)).ToList());
    }

    /// <summary>Runs the loop until the planned end, a stage's stop, cancellation or a fault. A tripped interlock
    /// (watchdog, or a stimulator that could not be controlled) ends the run as a fault: stimulation stays off and
    /// what follows would no longer be a closed loop.</summary>
    public RunResult Run(CancellationToken userCancel)
    {
        Interlock.Tripped += reason => Context.RequestStop($"safety interlock tripped: {reason}");
        // In real time a loop that finishes no frame is blind, whatever the reason: stimulation goes off. In lock-step
        // pacing (simulated rigs and replays with --fast) the rig's clock stops while the loop waits for the next frame,
        // so waiting is harmless and only a frame stuck inside the loop counts.
        var loop = Pipeline.Loop;
        Interlock.StartWatchdog(Pacing == SimulationPacing.Fast
            ? () => loop.FramesProcessed > 0 ? loop.BusySinceHostNs : 0
            : () => loop.LastProgressHostNs);
        var result = Pipeline.Run(Context, Stop, userCancel);
        if (result.Outcome == RunOutcome.Completed && Interlock.IsTripped)
            result = result with { Outcome = RunOutcome.Faulted, FaultMessage = $"safety interlock tripped: {Interlock.TripReason}" };
        return result;
    }

    /// <summary>A run id: UTC start time and experiment name (also the default output folder's name).</summary>
    public static string NewRunId(string experimentName) => $"{DateTime.UtcNow:yyyyMMdd-HHmmss}-{experimentName}";

    /// <summary>Counters now, for remote control and the dashboard (safe from any thread).</summary>
    public LiveStatus LiveStatusNow()
    {
        var loop = Pipeline?.Loop;
        var e2e = loop?.Ledger.EndToEnd;
        bool any = e2e is not null && e2e.Count > 0;
        return new LiveStatus(HostState.Running, Context.RunId, Profile.SourcePath, Experiment.SourcePath,
            Source.FramesAcquired, loop?.FramesProcessed ?? 0, Source.FramesDroppedAtSource + (Pipeline?.Input.Dropped ?? 0),
            Interlock.Delivered, Interlock.Refused, Protocol.Trials.Count, Protocol.StateName,
            any ? e2e!.Quantile(0.5) / 1e3 : double.NaN, any ? e2e!.Quantile(0.99) / 1e3 : double.NaN, "", "");
    }

    private Dictionary<string, string> RunMetadata()
    {
        var m = new Dictionary<string, string>
        {
            ["profileName"] = Profile.Name,
            ["experimentName"] = Experiment.Name,
            ["acquisition"] = AcquisitionPath,
            ["pacing"] = Pacing.ToString().ToLowerInvariant(),
            ["rois"] = Rois?.SourceName ?? (Experiment.IsOnline ? $"online segmentation ({Segmentation?.Description}), {UnitCount} units" : ""),
        };
        foreach (var (key, path) in new[] { ("profileYaml", Profile.SourcePath), ("experimentYaml", Experiment.SourcePath) })
            if (File.Exists(path)) m[key] = File.ReadAllText(path);
        if (Tissue is not null) m["simulationSeed"] = Profile.Simulation?.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "";
        return m;
    }

    /// <summary>The simulated tissue's true footprints as a ROI set (names roi000, roi001, ...).</summary>
    internal static RoiSet TissueRois(Footprints f) =>
        new(f.WidthPx, f.HeightPx, Enumerable.Range(0, f.Count).Select(i =>
            new RoiDefinition(RoiSet.DefaultName(i), f.PixelsOf(i).ToArray(), f.WeightsOf(i).ToArray())));

    /// <inheritdoc />
    public void Dispose()
    {
        Segmentation?.Dispose();
        Interlock.Dispose();
        ScanRig?.Dispose();
        Mea?.Dispose();
        Replay?.Dispose();
        Stop.Dispose();
    }
}
