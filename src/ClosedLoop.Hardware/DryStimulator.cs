using ClosedLoop.Core;

namespace ClosedLoop.Hardware;

/// <summary>
/// A stimulator with nothing behind it, for replaying a recording: the protocol and the interlock decide and count
/// exactly as in the live run, but no light or current goes anywhere (and the replayed frames cannot react to it).
/// Thread-safe, allocation-free.
/// </summary>
public sealed class DryStimulator : IStimulator
{
    private long _commands;
    private int _active;

    /// <summary>Creates the stand-in for the stimulator named in <paramref name="profile"/>.</summary>
    public DryStimulator(StimulatorProfile profile) => Name = Check.NotEmpty("stimulators[].name", profile.Name);

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>Commands the interlock passed on.</summary>
    public long DeliveredCommands => Interlocked.Read(ref _commands);

    /// <inheritdoc />
    public bool IsActive => Volatile.Read(ref _active) != 0;

    /// <inheritdoc />
    public void Deliver(in StimulationCommand command)
    {
        Interlocked.Increment(ref _commands);
        Volatile.Write(ref _active, 1);
    }

    /// <inheritdoc />
    public void AllOff() => Volatile.Write(ref _active, 0);
}
