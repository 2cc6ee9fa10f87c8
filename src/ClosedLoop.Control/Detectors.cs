using ClosedLoop.Core;

namespace ClosedLoop.Control;

/// <summary>A pattern detector over population activity. Evaluated once per frame on the fast loop's thread, in place.</summary>
public interface IPatternDetector
{
    /// <summary>Name experiments and protocols refer to.</summary>
    string Name { get; }

    /// <summary>Creates per-run state.</summary>
    void Start(RunContext context);

    /// <summary>Evaluates the current frame's activity; true on the frame where the pattern newly occurs.</summary>
    bool Evaluate(PopulationActivity activity, long sampleTimeNs);

    /// <summary>True when the last evaluated frame was a detection.</summary>
    bool FiredThisFrame { get; }

    /// <summary>Sample-clock time of the latest detection, in ns (−1 before any).</summary>
    long LastDetectionNs { get; }

    /// <summary>Detections so far in this run.</summary>
    long Detections { get; }
}

/// <summary>Settings of <see cref="GroupActivityDetector"/>. All are read once when the run starts.</summary>
public sealed class GroupActivityDetectorSettings : IStageSettings
{
    /// <summary>Detector name.</summary>
    public string Name { get; set; } = "pattern";

    /// <summary>Name of the unit group it watches (for messages; the members are resolved by the composition root).</summary>
    public string Group { get; set; } = "";

    /// <summary>ΔF/F (fraction, 0.15 = 15 %) a unit must reach to count as active.</summary>
    public double ThresholdDff { get; set; } = 0.15;

    /// <summary>Units of the group that must be active at once.</summary>
    public int MinActive { get; set; } = 2;

    /// <summary>Consecutive frames the condition must hold.</summary>
    public int MinFrames { get; set; } = 1;

    /// <summary>Shortest time between two detections, in s; the condition must also have lapsed in between.</summary>
    public double RefractoryS { get; set; } = 0.5;

    /// <summary>Where these settings sit in the experiment file, for messages.</summary>
    public string SettingPath { get; set; } = "detectors.pattern";

    /// <inheritdoc />
    public void Validate()
    {
        Check.NotEmpty($"{SettingPath}.group", Group);
        Check.InRange($"{SettingPath}.thresholdDff", ThresholdDff, 0.001, 100);
        Check.InRange($"{SettingPath}.minActive", MinActive, 1, 100_000);
        Check.InRange($"{SettingPath}.minFrames", MinFrames, 1, 10_000);
        Check.InRange($"{SettingPath}.refractoryS", RefractoryS, 0, 3600);
    }
}

/// <summary>
/// Fires when at least <see cref="GroupActivityDetectorSettings.MinActive"/> units of a group have ΔF/F at or above
/// a threshold for <see cref="GroupActivityDetectorSettings.MinFrames"/> consecutive frames. Edge-triggered: it fires
/// once when the pattern appears, then waits until the pattern has lapsed and the refractory time has passed.
/// </summary>
public sealed class GroupActivityDetector : IPatternDetector
{
    private readonly GroupActivityDetectorSettings _settings;
    private readonly int[] _members;
    private int _runLength;
    private bool _armed;
    private long _refractoryNs;

    /// <summary>Creates the detector over the unit indices <paramref name="members"/>.</summary>
    public GroupActivityDetector(GroupActivityDetectorSettings settings, int[] members)
    {
        settings.Validate();
        if (members.Length == 0) throw new SettingException($"{settings.SettingPath}.group", settings.Group, "a group with at least one unit");
        if (settings.MinActive > members.Length)
            throw new SettingException($"{settings.SettingPath}.minActive", settings.MinActive, $"at most the size of group '{settings.Group}' ({members.Length})");
        _settings = settings;
        _members = members.ToArray();
    }

    /// <inheritdoc />
    public string Name => _settings.Name;

    /// <summary>Indices of the watched units.</summary>
    public IReadOnlyList<int> Members => _members;

    /// <inheritdoc />
    public bool FiredThisFrame { get; private set; }

    /// <inheritdoc />
    public long LastDetectionNs { get; private set; } = -1;

    /// <inheritdoc />
    public long Detections { get; private set; }

    /// <summary>Units active in the last evaluated frame.</summary>
    public int ActiveNow { get; private set; }

    /// <inheritdoc />
    public void Start(RunContext context)
    {
        _runLength = 0;
        _armed = true;
        _refractoryNs = (long)(_settings.RefractoryS * 1e9);
        FiredThisFrame = false;
        LastDetectionNs = -1;
        Detections = 0;
        ActiveNow = 0;
    }

    /// <summary>Registers the detector's threshold, minimum active units, minimum frames and refractory period as live parameters.</summary>
    public void RegisterParameters(ParameterBoard board)
    {
        string p = _settings.SettingPath;
        board.Register($"{p}.thresholdDff", "ΔF/F (fraction)", 0.001, 100, () => _settings.ThresholdDff, v => _settings.ThresholdDff = v,
            "a unit is active at or above this ΔF/F");
        board.Register($"{p}.minActive", "units", 1, _members.Length, () => _settings.MinActive, v => _settings.MinActive = (int)v,
            "active units needed for the pattern", integer: true);
        board.Register($"{p}.minFrames", "frames", 1, 1000, () => _settings.MinFrames, v => _settings.MinFrames = (int)v,
            "consecutive frames the pattern must last", integer: true);
        board.Register($"{p}.refractoryS", "s", 0, 3600, () => _settings.RefractoryS, v => { _settings.RefractoryS = v; _refractoryNs = (long)(v * 1e9); },
            "shortest time between two detections");
    }

    /// <inheritdoc />
    public bool Evaluate(PopulationActivity activity, long sampleTimeNs)
    {
        var dff = activity.Dff;
        float threshold = (float)_settings.ThresholdDff;
        int active = 0;
        foreach (int u in _members)
            if (dff[u] >= threshold) active++;
        ActiveNow = active;

        bool present = active >= _settings.MinActive;
        _runLength = present ? _runLength + 1 : 0;
        if (!present) _armed = true;

        bool outOfRefractory = LastDetectionNs < 0 || sampleTimeNs - LastDetectionNs >= _refractoryNs;
        FiredThisFrame = _armed && _runLength >= _settings.MinFrames && outOfRefractory;
        if (FiredThisFrame)
        {
            _armed = false;
            LastDetectionNs = sampleTimeNs;
            Detections++;
        }
        return FiredThisFrame;
    }
}

/// <summary>Runs every pattern detector of an experiment on each frame, after the activity stages.</summary>
public sealed class DetectorStage : IFastStage
{
    private readonly IPatternDetector[] _detectors;
    private readonly PopulationActivity _activity;
    private RunContext? _context;

    /// <summary>Creates the stage over <paramref name="detectors"/> reading <paramref name="activity"/>.</summary>
    public DetectorStage(IReadOnlyList<IPatternDetector> detectors, PopulationActivity activity)
    {
        _detectors = detectors.ToArray();
        _activity = activity;
    }

    /// <inheritdoc />
    public string Name => "detectors";

    /// <summary>The detectors, in evaluation order.</summary>
    public IReadOnlyList<IPatternDetector> Detectors => _detectors;

    /// <inheritdoc />
    public void Start(RunContext context)
    {
        _context = context;
        foreach (var d in _detectors) d.Start(context);
    }

    /// <inheritdoc />
    public void Process(Frame frame)
    {
        if (_activity.FrameIndex != frame.FrameIndex)
            throw new InvalidOperationException($"activity is for frame {_activity.FrameIndex}, not {frame.FrameIndex}: the extraction stages must run before the detectors");
        // A frame's activity is known once its last sample is in: detections are dated at the frame's end.
        long t = frame.SampleTimeNs + frame.FramePeriodNs;
        foreach (var d in _detectors)
        {
            if (d.Evaluate(_activity, t))
                _context!.Events.Add(new RunEvent(RunEventKind.Detection, t, MonotonicClock.NowNs(), d.Name, $"pattern detected at frame {frame.FrameIndex}"));
        }
    }

    /// <inheritdoc />
    public void Stop() { }
}
