namespace ClosedLoop.Core;

/// <summary>State of the run host as remote control sees it.</summary>
public enum HostState
{
    /// <summary>No run loaded or the last one ended; an experiment can be loaded or started.</summary>
    Idle,
    /// <summary>A run is going.</summary>
    Running,
    /// <summary>A stop was asked for; the run is ending safely.</summary>
    Stopping,
}

/// <summary>Live counters of a run, cheap to take from any thread (for status replies and the dashboard).</summary>
/// <param name="State">Host state.</param>
/// <param name="RunId">Current or last run, empty if none yet.</param>
/// <param name="Profile">Hardware profile of the loaded experiment.</param>
/// <param name="Experiment">Loaded experiment.</param>
/// <param name="FramesAcquired">Frames the source produced.</param>
/// <param name="FramesProcessed">Frames through the fast loop.</param>
/// <param name="FramesDropped">Frames lost before the fast loop (source and input link).</param>
/// <param name="StimuliDelivered">Stimulation commands delivered through the interlock.</param>
/// <param name="StimuliRefused">Stimulation commands the interlock refused.</param>
/// <param name="TrialsDone">Protocol trials finished.</param>
/// <param name="ProtocolState">Protocol state name.</param>
/// <param name="LatencyP50Us">Frame complete → decision, median so far, µs (NaN before any frame).</param>
/// <param name="LatencyP99Us">Frame complete → decision, 99th percentile so far, µs.</param>
/// <param name="LastOutcome">How the last run ended (completed, cancelled, faulted), empty while none has.</param>
/// <param name="LastMessage">Fault or stop reason of the last run, empty if none.</param>
public sealed record LiveStatus(
    HostState State, string RunId, string Profile, string Experiment,
    long FramesAcquired, long FramesProcessed, long FramesDropped,
    long StimuliDelivered, long StimuliRefused, int TrialsDone, string ProtocolState,
    double LatencyP50Us, double LatencyP99Us, string LastOutcome, string LastMessage);

/// <summary>A refused remote-control request; <see cref="Code"/> is a stable, machine-readable reason.</summary>
public sealed class ControlException : Exception
{
    /// <summary>Creates the error.</summary>
    public ControlException(string code, string message) : base(message) => Code = code;

    /// <summary>bad-request, busy, not-running, unknown-parameter, out-of-range, load-failed, unauthorised, too-large, unknown-command,
    /// unknown-roi, not-supported.</summary>
    public string Code { get; }
}

/// <summary>
/// What remote control (the event bus's request socket, the dashboard's buttons) can ask of the process that runs
/// experiments. Every method is safe to call from any thread and answers quickly; a request that cannot be honoured
/// throws <see cref="ControlException"/> with a code and a message naming what was wrong, and changes nothing.
/// </summary>
public interface IRunControl
{
    /// <summary>Counters and state now.</summary>
    LiveStatus Status();

    /// <summary>Loads (and fully checks) a hardware profile and an experiment for the next start; only while idle.</summary>
    void Load(string profile, string experiment);

    /// <summary>Starts the loaded experiment; only while idle.</summary>
    void Start();

    /// <summary>Ends the current run safely (stimulation off, report written); only while running.</summary>
    void Stop(string reason);

    /// <summary>The live parameters of the current run (empty while idle).</summary>
    IReadOnlyList<ParameterInfo> Parameters();

    /// <summary>Changes a live parameter of the current run, applied between two frames.</summary>
    void SetParameter(string name, double value);

    /// <summary>Locks, unlocks, adds or deletes an ROI of a run whose ROIs are found while imaging (<c>rois: online</c>);
    /// the new ROI set reaches the fast loop before the next frame and the change is logged in the run's events.
    /// Throws <see cref="ControlException"/> (<c>not-running</c>, <c>not-supported</c> for a run with a fixed ROI set,
    /// <c>unknown-roi</c>, <c>bad-request</c> naming the field) and then changes nothing.</summary>
    RoiEditReply EditRoi(RoiEditRequest request) =>
        throw new ControlException("not-supported", "this process cannot edit ROIs while running");
}

/// <summary>What a user can do to the ROI set of a run with online segmentation.</summary>
public enum RoiEditAction
{
    /// <summary>Keep the ROI's mask: segmentation updates neither refine nor remove it.</summary>
    Lock,
    /// <summary>Let segmentation updates refine (or remove) the ROI again.</summary>
    Unlock,
    /// <summary>Add a user ROI (locked) from pixel indices or a circle.</summary>
    Add,
    /// <summary>Delete the ROI; the segmentation will not bring it back and its unit stays absent (NaN).</summary>
    Delete,
}

/// <summary>One ROI edit asked for while a run goes.</summary>
/// <param name="Action">What to do.</param>
/// <param name="Id">ROI id (unit index) for lock, unlock and delete.</param>
/// <param name="Pixels">For add: pixel indices, row·width + col.</param>
/// <param name="CenterXPx">For add by circle: centre column, px.</param>
/// <param name="CenterYPx">For add by circle: centre row, px.</param>
/// <param name="RadiusPx">For add by circle: radius, px.</param>
public sealed record RoiEditRequest(RoiEditAction Action, int? Id = null, int[]? Pixels = null,
    double? CenterXPx = null, double? CenterYPx = null, double? RadiusPx = null);

/// <summary>The answer to an ROI edit.</summary>
/// <param name="Id">ROI id (unit index) edited or added.</param>
/// <param name="Name">ROI name (roi000, ...).</param>
/// <param name="AreaPx">Pixels of its mask now (0 after a delete).</param>
/// <param name="Version">ROI-set version published to the fast loop after the edit.</param>
/// <param name="Message">What was done, in words (as logged in the run's events).</param>
public sealed record RoiEditReply(int Id, string Name, int AreaPx, long Version, string Message);

/// <summary>The units of a run whose ROI set changes while it goes, as they are now.</summary>
/// <param name="Version">Increases with every published change.</param>
/// <param name="Units">All units, index-aligned with the activity; a unit whose ROI does not exist (yet) has no pixels.</param>
public sealed record LiveUnitSet(long Version, IReadOnlyList<LiveUnit> Units);

/// <summary>A unit (ROI or electrode) as the live views draw it.</summary>
/// <param name="Name">Unit name.</param>
/// <param name="Pixels">Pixel indices (row·width + col) of an ROI; empty for an electrode.</param>
/// <param name="CentroidXPx">Centroid column (or electrode x), px.</param>
/// <param name="CentroidYPx">Centroid row (or electrode y), px.</param>
public sealed record LiveUnit(string Name, int[] Pixels, double CentroidXPx, double CentroidYPx);

/// <summary>A named group of units (e.g. the stimulation targets, the detector's group).</summary>
/// <param name="Name">Group name.</param>
/// <param name="Units">Unit indices.</param>
/// <param name="Role">"stimulated", "detected" or "group".</param>
public sealed record LiveGroup(string Name, int[] Units, string Role);

/// <summary>Everything a live consumer needs to know about a run before its first frame.</summary>
public sealed class LiveRunInfo
{
    /// <summary>Creates the description of a run.</summary>
    public LiveRunInfo(RunContext context, string profile, string experiment, int widthPx, int heightPx,
        IReadOnlyList<LiveUnit> units, IReadOnlyList<LiveGroup> groups, ParameterBoard parameters, Func<LiveStatus> status,
        IReadOnlyDictionary<string, string> metadata)
    {
        Context = context;
        Profile = profile;
        Experiment = experiment;
        WidthPx = widthPx;
        HeightPx = heightPx;
        Units = units;
        Groups = groups;
        Parameters = parameters;
        Status = status;
        Metadata = metadata;
    }

    /// <summary>Run id, frame rate, event log.</summary>
    public RunContext Context { get; }

    /// <summary>Hardware profile name or path.</summary>
    public string Profile { get; }

    /// <summary>Experiment name.</summary>
    public string Experiment { get; }

    /// <summary>Frame width, px.</summary>
    public int WidthPx { get; }

    /// <summary>Frame height, px.</summary>
    public int HeightPx { get; }

    /// <summary>Units (ROIs or electrodes), index-aligned with the activity snapshots.</summary>
    public IReadOnlyList<LiveUnit> Units { get; }

    /// <summary>Named groups (stimulation targets, detector groups).</summary>
    public IReadOnlyList<LiveGroup> Groups { get; }

    /// <summary>Live parameters.</summary>
    public ParameterBoard Parameters { get; }

    /// <summary>Live counters.</summary>
    public Func<LiveStatus> Status { get; }

    /// <summary>Frame-invariant metadata (profile and experiment text, versions, clock alignment) for recordings.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Frames the run plans to acquire; null when it ends only by its protocol or by the user.</summary>
    public long? PlannedFrames { get; init; }

    /// <summary>For runs whose ROIs are found while imaging (online segmentation): the units as they are now (masks
    /// appear, change and disappear; indices never change). Null when <see cref="Units"/> is fixed for the run. Cheap,
    /// any thread.</summary>
    public Func<LiveUnitSet>? CurrentUnits { get; init; }
}

/// <summary>What a consumer reports at the end of a run (in report.json).</summary>
/// <param name="Name">Consumer.</param>
/// <param name="Summary">One line: what it did (files written, messages sent, clients served).</param>
/// <param name="Error">What stopped it early, if anything (the run itself goes on).</param>
/// <param name="Counters">Named counters (frames written, messages sent, dropped at high-water mark, …).</param>
public sealed record LiveConsumerReport(string Name, string Summary, string? Error, IReadOnlyDictionary<string, long> Counters);

/// <summary>
/// Something outside the fast loop that follows a run: the recorder, the event bus, the dashboard. For each run it is
/// attached before the first frame (subscribe to the tap and the event log there), started, and detached after the
/// last frame (drain what is queued, release every frame, close files). It works on its own threads and must never
/// block the fast loop; a failure inside it stops only the consumer, is reported, and leaves the run going.
/// </summary>
public interface ILiveConsumer
{
    /// <summary>Consumer name.</summary>
    string Name { get; }

    /// <summary>Called before the run starts: subscribe to <paramref name="tap"/> and <c>run.Context.Events</c>.</summary>
    void Attach(LiveRunInfo run, LiveTap tap);

    /// <summary>Called after the last frame has gone through the fast loop (the tap's links are complete):
    /// finish, release everything, and say what was done.</summary>
    LiveConsumerReport Detach(RunResult result);
}
