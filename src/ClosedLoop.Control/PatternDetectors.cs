using ClosedLoop.Core;

namespace ClosedLoop.Control;

/// <summary>Which per-unit value of <see cref="PopulationActivity"/> a detector reads.</summary>
public enum ActivitySignal
{
    /// <summary><see cref="PopulationActivity.Dff"/>: ΔF/F on imaging rigs, spikes in the block on MEA rigs.</summary>
    Dff,

    /// <summary><see cref="PopulationActivity.Rate"/>: inferred spikes per frame (imaging) or smoothed Hz (MEA).</summary>
    Rate,

    /// <summary><see cref="PopulationActivity.Raw"/>: mean fluorescence (imaging) or spikes in the block (MEA).</summary>
    Raw,
}

/// <summary>Settings of <see cref="TemplateMatchDetector"/> (detector kind <c>template</c>).</summary>
public sealed class TemplateMatchDetectorSettings : IStageSettings
{
    /// <summary>Detector name.</summary>
    public string Name { get; set; } = "template";

    /// <summary>Group of units the population vector is taken over (in the group's order).</summary>
    public string Group { get; set; } = "";

    /// <summary>The template: one value per unit of the group (any scale; only its direction matters).</summary>
    public List<double> Template { get; set; } = new();

    /// <summary>Value read per unit.</summary>
    public ActivitySignal Signal { get; set; } = ActivitySignal.Rate;

    /// <summary>Cosine similarity between the population vector and the template needed for a match (0–1).</summary>
    public double MinSimilarity { get; set; } = 0.9;

    /// <summary>Euclidean norm the population vector must reach (so silence never matches).</summary>
    public double MinNorm { get; set; } = 0.1;

    /// <summary>Shortest time between two detections, s; the match must also have lapsed in between.</summary>
    public double RefractoryS { get; set; } = 0.5;

    /// <summary>Where these settings sit in the experiment file.</summary>
    public string SettingPath { get; set; } = "detectors.template";

    /// <inheritdoc />
    public void Validate()
    {
        Check.NotEmpty($"{SettingPath}.group", Group);
        if (Template.Count == 0) throw new SettingException($"{SettingPath}.template", "[]", "one value per unit of the group");
        if (Template.Any(v => !double.IsFinite(v)) || Math.Sqrt(Template.Sum(v => v * v)) == 0)
            throw new SettingException($"{SettingPath}.template", string.Join(", ", Template), "finite values, not all 0");
        Check.InRange($"{SettingPath}.minSimilarity", MinSimilarity, -1, 1);
        Check.InRange($"{SettingPath}.minNorm", MinNorm, 0, 1e9);
        Check.InRange($"{SettingPath}.refractoryS", RefractoryS, 0, 3600);
    }
}

/// <summary>
/// Population-vector template match: fires when the cosine similarity between the group's activity vector
/// (<see cref="TemplateMatchDetectorSettings.Signal"/> of each unit) and a template reaches
/// <see cref="TemplateMatchDetectorSettings.MinSimilarity"/> while the vector's norm is at least
/// <see cref="TemplateMatchDetectorSettings.MinNorm"/>. Edge-triggered with a refractory period, like
/// <see cref="GroupActivityDetector"/>. Allocation-free.
/// </summary>
public sealed class TemplateMatchDetector : IPatternDetector
{
    private readonly TemplateMatchDetectorSettings _settings;
    private readonly int[] _members;
    private readonly float[] _template;
    private bool _armed;
    private long _refractoryNs;

    /// <summary>Creates the detector over unit indices <paramref name="members"/> (as many as template values).</summary>
    public TemplateMatchDetector(TemplateMatchDetectorSettings settings, int[] members)
    {
        settings.Validate();
        if (members.Length != settings.Template.Count)
            throw new SettingException($"{settings.SettingPath}.template", $"{settings.Template.Count} values", $"one value per unit of group '{settings.Group}' ({members.Length})");
        _settings = settings;
        _members = members.ToArray();
        double norm = Math.Sqrt(settings.Template.Sum(v => v * v));
        _template = settings.Template.Select(v => (float)(v / norm)).ToArray();
    }

    /// <inheritdoc />
    public string Name => _settings.Name;

    /// <inheritdoc />
    public bool FiredThisFrame { get; private set; }

    /// <inheritdoc />
    public long LastDetectionNs { get; private set; } = -1;

    /// <inheritdoc />
    public long Detections { get; private set; }

    /// <summary>Cosine similarity of the last evaluated frame (0 when the vector is below the minimum norm).</summary>
    public double Similarity { get; private set; }

    /// <inheritdoc />
    public void Start(RunContext context)
    {
        _armed = true;
        _refractoryNs = (long)(_settings.RefractoryS * 1e9);
        FiredThisFrame = false;
        LastDetectionNs = -1;
        Detections = 0;
        Similarity = 0;
    }

    /// <inheritdoc />
    public bool Evaluate(PopulationActivity activity, long sampleTimeNs)
    {
        float[] values = Values(activity, _settings.Signal);
        double dot = 0, sq = 0;
        for (int i = 0; i < _members.Length; i++)
        {
            double v = values[_members[i]];
            dot += v * _template[i];
            sq += v * v;
        }
        double norm = Math.Sqrt(sq);
        Similarity = norm >= _settings.MinNorm && norm > 0 ? dot / norm : 0;
        bool present = norm >= _settings.MinNorm && norm > 0 && Similarity >= _settings.MinSimilarity;
        if (!present) _armed = true;
        bool outOfRefractory = LastDetectionNs < 0 || sampleTimeNs - LastDetectionNs >= _refractoryNs;
        FiredThisFrame = present && _armed && outOfRefractory;
        if (FiredThisFrame)
        {
            _armed = false;
            LastDetectionNs = sampleTimeNs;
            Detections++;
        }
        return FiredThisFrame;
    }

    internal static float[] Values(PopulationActivity a, ActivitySignal signal) => signal switch
    {
        ActivitySignal.Rate => a.Rate,
        ActivitySignal.Raw => a.Raw,
        _ => a.Dff,
    };
}

/// <summary>Settings of <see cref="SequenceDetector"/> (detector kind <c>sequence</c>).</summary>
public sealed class SequenceDetectorSettings : IStageSettings
{
    /// <summary>Detector name.</summary>
    public string Name { get; set; } = "sequence";

    /// <summary>The groups that must become active in this order (at least two).</summary>
    public List<string> Steps { get; set; } = new();

    /// <summary>Value read per unit.</summary>
    public ActivitySignal Signal { get; set; } = ActivitySignal.Dff;

    /// <summary>A unit is active when its value is at least this (ΔF/F fraction, or spikes per block on an MEA).</summary>
    public double Threshold { get; set; } = 0.15;

    /// <summary>Active units a step's group needs.</summary>
    public int MinActive { get; set; } = 1;

    /// <summary>Longest time from one step to the next, s; later, the sequence starts over.</summary>
    public double MaxIntervalS { get; set; } = 0.5;

    /// <summary>Shortest time between two detections, s.</summary>
    public double RefractoryS { get; set; } = 0.5;

    /// <summary>Where these settings sit in the experiment file.</summary>
    public string SettingPath { get; set; } = "detectors.sequence";

    /// <inheritdoc />
    public void Validate()
    {
        if (Steps.Count < 2) throw new SettingException($"{SettingPath}.steps", Steps.Count, "at least two groups, in the order they must become active");
        for (int i = 0; i < Steps.Count; i++) Check.NotEmpty($"{SettingPath}.steps[{i}]", Steps[i]);
        Check.InRange($"{SettingPath}.threshold", Threshold, 1e-6, 1e9);
        Check.InRange($"{SettingPath}.minActive", MinActive, 1, 100_000);
        Check.InRange($"{SettingPath}.maxIntervalS", MaxIntervalS, 1e-4, 3600);
        Check.InRange($"{SettingPath}.refractoryS", RefractoryS, 0, 3600);
    }
}

/// <summary>
/// Ordered sequence: fires when the step groups become active one after another, in order, each step (at least
/// <see cref="SequenceDetectorSettings.MinActive"/> units at or above the threshold) beginning on a later frame than
/// the previous step and no more than <see cref="SequenceDetectorSettings.MaxIntervalS"/> after it. A step that takes
/// too long starts the sequence over (from a first step active now). Dated at the last step; a refractory period
/// follows. Allocation-free.
/// </summary>
public sealed class SequenceDetector : IPatternDetector
{
    private readonly SequenceDetectorSettings _settings;
    private readonly int[][] _steps;
    private int _next;
    private long _lastStepNs, _maxIntervalNs, _refractoryNs;

    /// <summary>Creates the detector; <paramref name="steps"/> holds the unit indices of each step's group.</summary>
    public SequenceDetector(SequenceDetectorSettings settings, int[][] steps)
    {
        settings.Validate();
        if (steps.Length != settings.Steps.Count || steps.Any(s => s.Length == 0))
            throw new SettingException($"{settings.SettingPath}.steps", settings.Steps.Count, "groups with at least one unit each");
        if (settings.MinActive > steps.Min(s => s.Length))
            throw new SettingException($"{settings.SettingPath}.minActive", settings.MinActive, $"at most the size of the smallest step group ({steps.Min(s => s.Length)})");
        _settings = settings;
        _steps = steps.Select(s => s.ToArray()).ToArray();
    }

    /// <inheritdoc />
    public string Name => _settings.Name;

    /// <inheritdoc />
    public bool FiredThisFrame { get; private set; }

    /// <inheritdoc />
    public long LastDetectionNs { get; private set; } = -1;

    /// <inheritdoc />
    public long Detections { get; private set; }

    /// <summary>Steps of the sequence already seen (0 = waiting for the first).</summary>
    public int StepsDone => _next;

    /// <inheritdoc />
    public void Start(RunContext context)
    {
        _next = 0;
        _lastStepNs = long.MinValue;
        _maxIntervalNs = (long)(_settings.MaxIntervalS * 1e9);
        _refractoryNs = (long)(_settings.RefractoryS * 1e9);
        FiredThisFrame = false;
        LastDetectionNs = -1;
        Detections = 0;
    }

    /// <inheritdoc />
    public bool Evaluate(PopulationActivity activity, long sampleTimeNs)
    {
        FiredThisFrame = false;
        float[] values = TemplateMatchDetector.Values(activity, _settings.Signal);
        if (LastDetectionNs >= 0 && sampleTimeNs - LastDetectionNs < _refractoryNs) return false;
        if (_next > 0 && sampleTimeNs - _lastStepNs > _maxIntervalNs) _next = 0;
        if (_next > 0 && sampleTimeNs > _lastStepNs && Active(values, _steps[_next]))
        {
            _next++;
            _lastStepNs = sampleTimeNs;
        }
        else if (_next <= 1 && Active(values, _steps[0]))
        {
            _next = 1; // (re)start from a first step active now
            _lastStepNs = sampleTimeNs;
        }
        if (_next < _steps.Length) return false;
        _next = 0;
        FiredThisFrame = true;
        LastDetectionNs = sampleTimeNs;
        Detections++;
        return true;
    }

    private bool Active(float[] values, int[] group)
    {
        float threshold = (float)_settings.Threshold;
        int active = 0;
        foreach (int u in group)
            if (values[u] >= threshold && ++active >= _settings.MinActive) return true;
        return false;
    }
}
