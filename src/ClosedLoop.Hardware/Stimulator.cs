using ClosedLoop.Core;

namespace ClosedLoop.Hardware;

/// <summary>
/// A device that stimulates: a photostimulation laser with its galvos, an LED, an MEA stimulator. Protocols never
/// hold one directly; they talk to the safety interlock, which is the only caller of <see cref="Deliver"/>.
/// </summary>
public interface IStimulator
{
    /// <summary>Name from the hardware profile.</summary>
    string Name { get; }

    /// <summary>Starts a pulse train. Must return quickly (it runs on the fast loop's thread) and must not allocate.</summary>
    void Deliver(in StimulationCommand command);

    /// <summary>Stops any ongoing train and leaves the output off (laser gated, shutter closed, outputs at 0).
    /// Safe to call at any time, from any thread, any number of times.</summary>
    void AllOff();

    /// <summary>True while the output may be on (a train is running). False after <see cref="AllOff"/>.</summary>
    bool IsActive { get; }
}
