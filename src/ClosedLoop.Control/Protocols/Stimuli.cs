using ClosedLoop.Core;

namespace ClosedLoop.Control.Protocols;

/// <summary>What a declared stimulus is (the <c>kind</c> of an entry of the experiment's <c>stimuli:</c> section).</summary>
public enum StimulusKind
{
    /// <summary>One charge-balanced biphasic current pulse (cathodic first) per electrode: <c>amplitudeUa</c>, <c>phaseUs</c>.</summary>
    Biphasic,
    /// <summary>A train: another stimulus's pulse repeated <c>count</c> times (or for <c>durationS</c>) at <c>rateHz</c>.</summary>
    Train,
    /// <summary>One light pulse per target: <c>powerMw</c>, <c>widthMs</c>.</summary>
    Optogenetic,
    /// <summary>Photostimulation of the centroids of an ROI group: <c>group</c>, <c>powerMw</c> per target, <c>dwellMs</c>.</summary>
    Photostim,
}

/// <summary>
/// One named stimulus of an experiment's <c>stimuli:</c> section, resolved to a single pulse shape and a train: a
/// train entry is stored with the fields of the pulse it repeats and its own <see cref="Count"/> and
/// <see cref="RateHz"/>. The loader checks ranges; the session checks every stimulus against the safety interlock of
/// the stimulator it goes to before the run, naming <c>stimuli.&lt;name&gt;.&lt;field&gt;</c> and the limit.
/// </summary>
public sealed class StimulusSettings : IStageSettings
{
    /// <summary>Name the rules refer to.</summary>
    public string Name { get; set; } = "";

    /// <summary>What the entry declares.</summary>
    public StimulusKind Kind { get; set; }

    /// <summary>For a train: the kind of the pulse it repeats (<see cref="StimulusKind.Biphasic"/>, optogenetic or photostim).</summary>
    public StimulusKind PulseKind => Kind == StimulusKind.Train ? TrainOf : Kind;

    /// <summary>For a train: the kind of the repeated pulse.</summary>
    public StimulusKind TrainOf { get; set; } = StimulusKind.Biphasic;

    /// <summary>Stimulator (hardware-profile name); empty = the profile's one stimulator of the matching kind.</summary>
    public string Stimulator { get; set; } = "";

    /// <summary>Biphasic: current of each phase, µA.</summary>
    public double AmplitudeUa { get; set; }

    /// <summary>Biphasic: width of each phase, µs.</summary>
    public double PhaseUs { get; set; } = 200;

    /// <summary>Light: power per target at the sample, mW.</summary>
    public double PowerMw { get; set; }

    /// <summary>Light: width of each pulse (photostim: dwell per target), ms.</summary>
    public double WidthMs { get; set; } = 10;

    /// <summary>Photostim: the ROI group whose centroids are the targets (fixed by the stimulus; rules give no <c>to</c>).</summary>
    public string? Group { get; set; }

    /// <summary>Pulses per delivery (1 unless a train).</summary>
    public int Count { get; set; } = 1;

    /// <summary>Pulse rate within a train, Hz (0 for one pulse).</summary>
    public double RateHz { get; set; }

    /// <summary>For a train: the repeated stimulus's name (for messages).</summary>
    public string? Pulse { get; set; }

    /// <summary>Where this entry sits in the experiment file.</summary>
    public string SettingPath { get; set; } = "stimuli";

    /// <summary>True for current pulses (electrodes), false for light.</summary>
    public bool IsElectrical => PulseKind == StimulusKind.Biphasic;

    /// <inheritdoc />
    public void Validate()
    {
        string p = SettingPath;
        if (IsElectrical)
        {
            Check.InRange($"{p}.amplitudeUa", AmplitudeUa, 0.001, 10_000);
            Check.InRange($"{p}.phaseUs", PhaseUs, 1, 100_000);
        }
        else
        {
            Check.InRange($"{p}.powerMw", PowerMw, 0, 10_000);
            Check.InRange(PulseKind == StimulusKind.Photostim ? $"{p}.dwellMs" : $"{p}.widthMs", WidthMs, 0.001, 10_000);
        }
        Check.InRange($"{p}.count", Count, 1, 100_000);
        if (Count > 1) Check.InRange($"{p}.rateHz", RateHz, 0.001, 10_000);
        if (PulseKind == StimulusKind.Photostim) Check.NotEmpty($"{p}.group", Group);
    }

    /// <summary>The command this stimulus sends to <paramref name="targets"/> at <paramref name="sampleTimeNs"/>.</summary>
    public StimulationCommand Command(StimulationTargets targets, long sampleTimeNs) => IsElectrical
        ? new(targets, 0, 2 * PhaseUs / 1000, Count, Count > 1 ? RateHz : 0, sampleTimeNs)
        {
            AmplitudeUa = AmplitudeUa, PhaseWidthUs = PhaseUs, BalanceAmplitudeUa = AmplitudeUa, BalancePhaseWidthUs = PhaseUs,
        }
        : new(targets, PowerMw, WidthMs, Count, Count > 1 ? RateHz : 0, sampleTimeNs);

    /// <summary>One line for people: "3× biphasic 15 µA × 200 µs at 100 Hz".</summary>
    public string Describe() => (Count > 1 ? $"{Count}× " : "") + (IsElectrical
        ? $"biphasic {SafetyInterlock.F(AmplitudeUa)} µA × {SafetyInterlock.F(PhaseUs)} µs"
        : $"{SafetyInterlock.F(WidthMs)} ms at {SafetyInterlock.F(PowerMw)} mW") + (Count > 1 ? $" at {SafetyInterlock.F(RateHz)} Hz" : "");
}
