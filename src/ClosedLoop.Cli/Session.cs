using ClosedLoop.Cli.Experiments;
using ClosedLoop.Cli.Rigs;
using ClosedLoop.Control;
using ClosedLoop.Core;
using ClosedLoop.FirmwareSim;
using ClosedLoop.Hardware;
using ClosedLoop.Hardware.Daq;
using ClosedLoop.Interop.NiDaqmx;
using ClosedLoop.Imaging;
using ClosedLoop.Spikes;

namespace ClosedLoop.Cli;

/// <summary>How the command line overrides an experiment and profile for one run.</summary>
public sealed record RunOptions(
    string Profile,
    string Experiment,
    double? DurationS = null,
    SimulationPacing? Pacing = null,
    string? OutputDirectory = null,
    bool Quiet = false);

/// <summary>
/// The composition root of one run: builds the rig from a hardware profile, the fast loop from an experiment
/// (trace extraction → ΔF/F → detectors → protocol), routes every stimulator through one safety interlock, and
/// registers the shutdown that switches stimulation off on every path. Everything is checked before any frame
/// is acquired, so a bad file never stimulates.
/// </summary>
public sealed class Session : IDisposable
{
    private Session(HardwareProfile profile, Experiment experiment, RunOptions options, IReadOnlyList<ProfileProblem> warnings)
    {
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

    /// <summary>The ROI set in use.</summary>
    public RoiSet Rois { get; private set; } = null!;

    /// <summary>Per-frame activity the stages share.</summary>
    public PopulationActivity Activity { get; private set; } = null!;

    /// <summary>The protocol stage.</summary>
    public StimulusAvoidanceProtocol Protocol { get; private set; } = null!;

    /// <summary>The detectors.</summary>
    public IReadOnlyList<GroupActivityDetector> Detectors { get; private set; } = Array.Empty<GroupActivityDetector>();

    /// <summary>Source, link, fast loop.</summary>
    public RunPipeline Pipeline { get; private set; } = null!;

    /// <summary>Frames the run will acquire, or null when it ends only by the protocol or the user.</summary>
    public long? FrameLimit { get; private set; }

    /// <summary>Loads and checks the profile and the experiment and wires the run. Throws <see cref="SettingException"/>
    /// naming file, line and setting for anything wrong; nothing is acquired or stimulated before that.</summary>
    public static Session Build(RunOptions options)
    {
        var profile = HardwareProfileLoader.Load(options.Profile);
        var warnings = ProfileChecks.Wiring(profile).Where(p => p.Severity == ProblemSeverity.Warning).ToList();
        var experiment = ExperimentLoader.Load(options.Experiment);
        var session = new Session(profile, experiment, options, warnings);
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
        FrameLimit = runS is double fs ? (long)Math.Ceiling(fs * Profile.Imaging.FrameRateHz) : null;
        if (Profile.Daq.Backend == DaqBackend.NiDaqmx)
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
        if (ScanRig is not null)
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
        Context = new RunContext($"{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Experiment.Name}", Source.FrameRateHz, Events, Stop);

        Rois = Experiment.LoadRois(Tissue is null ? null : () => TissueRois(Tissue.Footprints));
        try { Rois.Check(Profile.Imaging.WidthPx, Profile.Imaging.HeightPx); }
        catch (SettingException ex) { throw Experiment.Locate(new SettingException("rois", Rois.SourceName, ex.Allowed + $" (the ROI set is {Rois.WidthPx}×{Rois.HeightPx}; the profile images {Profile.Imaging.WidthPx}×{Profile.Imaging.HeightPx})")); }
        Activity = Rois.CreateActivity();

        var groups = new Dictionary<string, int[]>();
        foreach (var (name, members) in Experiment.Groups)
        {
            var indices = new int[members.Count];
            for (int i = 0; i < members.Count; i++)
            {
                try { indices[i] = Rois.IndexOf(members[i]); }
                catch (SettingException ex) { throw Experiment.Locate(new SettingException($"groups.{name}[{i}]", members[i], $"a ROI name or index of {Rois.SourceName} ({Rois.Count} ROIs: 0..{Rois.Count - 1}); {ex.Allowed}")); }
            }
            groups[name] = indices;
        }

        var detectors = new List<GroupActivityDetector>();
        foreach (var ds in Experiment.Detectors)
        {
            Experiment.Group(ds.Group, $"{ds.SettingPath}.group");
            try { detectors.Add(new GroupActivityDetector(ds, groups[ds.Group])); }
            catch (SettingException ex) { throw Experiment.Locate(ex); }
        }
        Detectors = detectors;

        foreach (var sp in Profile.Stimulators)
        {
            if (sp.Kind != StimulatorKind.Optogenetic) continue;
            if (Tissue is null)
                throw new SettingException("stimulators", sp.Name, "stimulators of a simulated rig for now: photostimulation on real hardware (galvo targeting, laser gating) has no driver yet", Profile.SourcePath);
            Interlock.Register(sp, new SimulatedPhotostimulator(sp, Tissue));
        }

        var ps = Experiment.Protocol;
        var detector = detectors.FirstOrDefault(x => x.Name == ps.Detector)
            ?? throw Experiment.Locate(new SettingException("protocol.detector", ps.Detector, $"one of the detectors: {string.Join(", ", detectors.Select(x => x.Name))}"));
        var targetIdx = groups.TryGetValue(ps.Targets, out var t) ? t : throw Experiment.Locate(new SettingException("protocol.targets", ps.Targets, $"one of the groups: {string.Join(", ", groups.Keys)}"));
        var targets = new StimulationTargets(ps.Targets, targetIdx.Select(i => Rois[i].CentroidXPx).ToArray(), targetIdx.Select(i => Rois[i].CentroidYPx).ToArray());
        try
        {
            var channel = Interlock.Channels.Count == 0
                ? throw new SettingException("protocol.stimulator", ps.Stimulator, $"a stimulator of the hardware profile {Profile.SourcePath} (it has none)")
                : Interlock.Find(ps.Stimulator, "protocol.stimulator");
            Protocol = new StimulusAvoidanceProtocol(ps, detector, targets, Interlock, channel);
        }
        catch (SettingException ex) { throw Experiment.Locate(ex); }

        var stages = new List<IFastStage>
        {
            new TraceExtractionStage(Experiment.Traces, Rois, Profile.Imaging.WidthPx, Profile.Imaging.HeightPx, Activity),
            new DffStage(Experiment.Dff, Activity),
        };
        if (Experiment.Spikes is { } spikes) stages.Add(new DeconvolutionStage(spikes, Activity));
        stages.Add(new DetectorStage(detectors, Activity));
        stages.Add(Protocol);
        Pipeline = new RunPipeline(Source, stages, Experiment.Pipeline);
        Pipeline.OnShutdown(() =>
        {
            Interlock.StopWatchdog();
            Interlock.AllOff("end of run: all stimulators off");
        });
    }

    /// <summary>Runs the loop until the planned end, a stage's stop, cancellation or a fault. A tripped interlock
    /// (watchdog, or a stimulator that could not be controlled) ends the run as a fault: stimulation stays off and
    /// what follows would no longer be a closed loop.</summary>
    public RunResult Run(CancellationToken userCancel)
    {
        Interlock.Tripped += reason => Context.RequestStop($"safety interlock tripped: {reason}");
        Interlock.StartWatchdog(() => Pipeline.Loop.LastProgressHostNs);
        var result = Pipeline.Run(Context, Stop, userCancel);
        if (result.Outcome == RunOutcome.Completed && Interlock.IsTripped)
            result = result with { Outcome = RunOutcome.Faulted, FaultMessage = $"safety interlock tripped: {Interlock.TripReason}" };
        return result;
    }

    /// <summary>The simulated tissue's true footprints as a ROI set (names roi000, roi001, ...).</summary>
    internal static RoiSet TissueRois(Footprints f) =>
        new(f.WidthPx, f.HeightPx, Enumerable.Range(0, f.Count).Select(i =>
            new RoiDefinition(RoiSet.DefaultName(i), f.PixelsOf(i).ToArray(), f.WeightsOf(i).ToArray())));

    /// <inheritdoc />
    public void Dispose()
    {
        Interlock.Dispose();
        ScanRig?.Dispose();
        Stop.Dispose();
    }
}
