using ClosedLoop.Control;
using ClosedLoop.Control.Mea;
using ClosedLoop.Core;

namespace ClosedLoop.Cli;

/// <summary>
/// <c>protocol: {kind: observe}</c>: no stimulation. The run images, extracts traces, infers spikes and runs its detectors
/// (detections are logged and counted) until <c>durationS</c>. The protocol for runs whose ROIs are found while imaging,
/// where no stimulation target exists before the run.
/// </summary>
public sealed class ObserveProtocol : IProtocolStage
{
    /// <inheritdoc />
    public string Name => "observe";

    /// <inheritdoc />
    public IReadOnlyList<TrialRecord> Trials => Array.Empty<TrialRecord>();

    /// <inheritdoc />
    public string StateName => "Observing";

    /// <inheritdoc />
    public void RegisterParameters(ParameterBoard board)
    {
    }

    /// <inheritdoc />
    public void Start(RunContext context)
    {
    }

    /// <inheritdoc />
    public void Process(Frame frame)
    {
    }

    /// <inheritdoc />
    public void Stop()
    {
    }
}
