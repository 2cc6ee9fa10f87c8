using ClosedLoop.Core;

namespace ClosedLoop.Messaging;

/// <summary>
/// Topics of the event bus: the first part of every message. A subscriber's filter is a prefix, so <c>event.</c>
/// receives every event and <c>run.</c> the run descriptions. docs/messaging.md documents each one.
/// </summary>
public static class Topics
{
    /// <summary>An image (every N-th frame, optionally binned): uint16 pixels, row-major.</summary>
    public const string Frame = "frame";
    /// <summary>ΔF/F per unit (fraction), float32.</summary>
    public const string Traces = "traces";
    /// <summary>Inferred spike rate per unit (spikes per frame), float32.</summary>
    public const string Rates = "rates";
    /// <summary>Noise level ν per unit, float32.</summary>
    public const string Noise = "noise";
    /// <summary>Raw signal per unit (detector counts), float32.</summary>
    public const string Raw = "raw";
    /// <summary>A pattern detector fired.</summary>
    public const string Detection = "event.detection";
    /// <summary>A stimulation command reached a stimulator, or the interlock refused one.</summary>
    public const string Stimulation = "event.stimulation";
    /// <summary>A protocol trial started or ended.</summary>
    public const string Trial = "event.trial";
    /// <summary>A protocol changed state.</summary>
    public const string Protocol = "event.protocol";
    /// <summary>Stimulation was switched off for safety.</summary>
    public const string Safety = "event.safety";
    /// <summary>Something went wrong in the run.</summary>
    public const string Fault = "event.fault";
    /// <summary>Informational run event (e.g. a live parameter changed).</summary>
    public const string Info = "event.info";
    /// <summary>A run started: units (ROIs or electrodes), groups, parameters.</summary>
    public const string RunStart = "run.start";
    /// <summary>The same description as <see cref="RunStart"/>, repeated for subscribers that joined late.</summary>
    public const string RunInfo = "run.info";
    /// <summary>A run ended: outcome and counters.</summary>
    public const string RunEnd = "run.end";
    /// <summary>Host state and counters, about once a second.</summary>
    public const string Status = "status";

    /// <summary>Every topic, in the order of <see cref="TopicId"/>.</summary>
    public static readonly IReadOnlyList<string> All =
        [Frame, Traces, Rates, Noise, Raw, Detection, Stimulation, Trial, Protocol, Safety, Fault, Info, RunStart, RunInfo, RunEnd, Status];

    /// <summary>The topic of a run event of <paramref name="kind"/>.</summary>
    public static string ForEvent(RunEventKind kind) => All[(int)ForEventId(kind)];

    internal static TopicId ForEventId(RunEventKind kind) => kind switch
    {
        RunEventKind.Detection => TopicId.Detection,
        RunEventKind.Stimulation or RunEventKind.StimulationRefused => TopicId.Stimulation,
        RunEventKind.TrialStarted or RunEventKind.TrialEnded => TopicId.Trial,
        RunEventKind.ProtocolState => TopicId.Protocol,
        RunEventKind.SafetyOff => TopicId.Safety,
        RunEventKind.Fault => TopicId.Fault,
        _ => TopicId.Info,
    };
}

/// <summary>Index of a topic in <see cref="Topics.All"/> (for per-topic sequence numbers).</summary>
internal enum TopicId
{
    Frame, Traces, Rates, Noise, Raw, Detection, Stimulation, Trial, Protocol, Safety, Fault, Info, RunStart, RunInfo, RunEnd, Status,
}
