using ClosedLoop.Core;
using ClosedLoop.Hardware;

namespace ClosedLoop.FirmwareSim;

/// <summary>
/// The photostimulation path of the simulated rig: every delivered command becomes light on the
/// <see cref="VirtualTissue"/> (see <see cref="VirtualTissue.Stimulate"/>). It is active from delivery until the end
/// of the latest train on the tissue's sample clock, and off after <see cref="AllOff"/>. Thread-safe, allocation-free.
/// </summary>
public sealed class SimulatedPhotostimulator : IStimulator
{
    private readonly VirtualTissue _tissue;
    private long _activeUntilNs = long.MinValue;
    private long _commands;
    private long _pulses;

    /// <summary>Creates the stimulator named in <paramref name="profile"/>, acting on <paramref name="tissue"/>.</summary>
    public SimulatedPhotostimulator(StimulatorProfile profile, VirtualTissue tissue)
    {
        Name = Check.NotEmpty("stimulators[].name", profile.Name);
        _tissue = tissue;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>Commands delivered to the tissue.</summary>
    public long DeliveredCommands => Interlocked.Read(ref _commands);

    /// <summary>Pulses in the delivered commands (whether or not they were later cancelled).</summary>
    public long DeliveredPulses => Interlocked.Read(ref _pulses);

    /// <inheritdoc />
    public bool IsActive => Volatile.Read(ref _activeUntilNs) > _tissue.CurrentSampleTimeNs;

    /// <inheritdoc />
    public void Deliver(in StimulationCommand command)
    {
        _tissue.Stimulate(command);
        Interlocked.Increment(ref _commands);
        Interlocked.Add(ref _pulses, command.PulseCount);
        long endNs = command.SampleTimeNs + (long)Math.Ceiling(command.TrainDurationMs * 1e6);
        long current;
        do
        {
            current = Volatile.Read(ref _activeUntilNs);
            if (endNs <= current) break;
        }
        while (Interlocked.CompareExchange(ref _activeUntilNs, endNs, current) != current);
    }

    /// <inheritdoc />
    public void AllOff()
    {
        Volatile.Write(ref _activeUntilNs, long.MinValue);
        _tissue.CancelPendingStimulation();
    }
}
