using ClosedLoop.Core;

namespace ClosedLoop.Control.Mea;

/// <summary>Settings of <see cref="ResponseWindowDetector"/> (detector kind <c>responseWindow</c>).</summary>
public sealed class ResponseWindowDetectorSettings : IStageSettings
{
    /// <summary>Detector name.</summary>
    public string Name { get; set; } = "response";

    /// <summary>Unit group whose spikes are counted together (electrodes on an MEA).</summary>
    public string Group { get; set; } = "";

    /// <summary>Start of the window after each delivered stimulus, ms.</summary>
    public double WindowStartMs { get; set; } = 2;

    /// <summary>End of the window after each delivered stimulus, ms.</summary>
    public double WindowEndMs { get; set; } = 20;

    /// <summary>Spikes of the group within one stimulus's window that make a response.</summary>
    public int MinSpikes { get; set; } = 1;

    /// <summary>Where these settings sit in the experiment file.</summary>
    public string SettingPath { get; set; } = "detectors.response";

    /// <inheritdoc />
    public void Validate()
    {
        Check.NotEmpty($"{SettingPath}.group", Group);
        Check.InRange($"{SettingPath}.windowMs[0]", WindowStartMs, 0, 10_000);
        Check.InRange($"{SettingPath}.windowMs[1]", WindowEndMs, WindowStartMs + 0.001, 10_000);
        Check.InRange($"{SettingPath}.minSpikes", MinSpikes, 1, 1_000_000);
    }
}

/// <summary>
/// Counts the spikes (<see cref="PopulationActivity.Raw"/>, spikes per frame) of a unit group in a window
/// [start, end) after the latest delivered stimulus and fires once per stimulus when the count reaches
/// <see cref="ResponseWindowDetectorSettings.MinSpikes"/>. A frame counts when its first sample lies in the window;
/// a new stimulus restarts the count. The stimulus time comes from the safety interlock (the latest command it passed).
/// </summary>
public sealed class ResponseWindowDetector : IPatternDetector
{
    private readonly ResponseWindowDetectorSettings _settings;
    private readonly int[] _members;
    private readonly Func<long> _lastStimulusNs;
    private long _countedFor = long.MinValue;
    private long _startNs, _endNs;
    private int _count;
    private bool _firedForThis;

    /// <summary>Creates the detector over unit indices <paramref name="members"/>; <paramref name="lastStimulusNs"/>
    /// gives the sample-clock time of the latest delivered stimulus (<see cref="long.MinValue"/> before any).</summary>
    public ResponseWindowDetector(ResponseWindowDetectorSettings settings, int[] members, Func<long> lastStimulusNs)
    {
        settings.Validate();
        if (members.Length == 0) throw new SettingException($"{settings.SettingPath}.group", settings.Group, "a group with at least one unit");
        _settings = settings;
        _members = members.ToArray();
        _lastStimulusNs = lastStimulusNs;
    }

    /// <inheritdoc />
    public string Name => _settings.Name;

    /// <summary>Indices of the watched units.</summary>
    public IReadOnlyList<int> Members => _members;

    /// <summary>The settings.</summary>
    public ResponseWindowDetectorSettings Settings => _settings;

    /// <inheritdoc />
    public bool FiredThisFrame { get; private set; }

    /// <inheritdoc />
    public long LastDetectionNs { get; private set; } = -1;

    /// <inheritdoc />
    public long Detections { get; private set; }

    /// <inheritdoc />
    public void Start(RunContext context)
    {
        _countedFor = long.MinValue;
        _count = 0;
        _firedForThis = false;
        _startNs = (long)Math.Round(_settings.WindowStartMs * 1e6);
        _endNs = (long)Math.Round(_settings.WindowEndMs * 1e6);
        FiredThisFrame = false;
        LastDetectionNs = -1;
        Detections = 0;
    }

    /// <inheritdoc />
    public bool Evaluate(PopulationActivity activity, long sampleTimeNs)
    {
        FiredThisFrame = false;
        long stim = _lastStimulusNs();
        if (stim == long.MinValue) return false;
        if (stim != _countedFor) { _countedFor = stim; _count = 0; _firedForThis = false; }
        long lag = activity.SampleTimeNs - stim;
        if (lag < _startNs || lag >= _endNs || _firedForThis) return false;
        float[] raw = activity.Raw;
        int n = 0;
        foreach (int u in _members) n += (int)raw[u];
        _count += n;
        if (_count < _settings.MinSpikes) return false;
        _firedForThis = true;
        FiredThisFrame = true;
        LastDetectionNs = sampleTimeNs;
        Detections++;
        return true;
    }
}
