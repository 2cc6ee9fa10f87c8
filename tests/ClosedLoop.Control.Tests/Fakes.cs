using ClosedLoop.Core;
using ClosedLoop.Hardware;

namespace ClosedLoop.Control.Tests;

/// <summary>A stimulator that only records what the interlock asked of it.</summary>
internal sealed class FakeStimulator(string name) : IStimulator
{
    private readonly List<StimulationCommand> _delivered = new();
    private int _allOffCalls;

    public string Name => name;

    public bool IsActive { get; private set; }

    /// <summary>Commands that reached the device, in order (a copy).</summary>
    public IReadOnlyList<StimulationCommand> Delivered
    {
        get { lock (_delivered) return _delivered.ToArray(); }
    }

    public int AllOffCalls => Volatile.Read(ref _allOffCalls);

    public void Deliver(in StimulationCommand command)
    {
        lock (_delivered) _delivered.Add(command);
        IsActive = true;
    }

    public void AllOff()
    {
        Interlocked.Increment(ref _allOffCalls);
        IsActive = false;
    }
}

internal static class TestRig
{
    public static readonly StimulationTargets Targets = new("sensory", [10f, 20f], [5f, 6f]);

    /// <summary>Limits with the defaults of a profile unless a test changes them.</summary>
    public static StimulatorProfile Limits(string name = "laser", double maxPowerMw = 20, double maxPulseWidthMs = 50,
        double maxPulseRateHz = 50, double maxDutyCycle = 0.2, double watchdogTimeoutMs = 250) => new()
    {
        Name = name,
        MaxPowerMw = maxPowerMw,
        MaxPulseWidthMs = maxPulseWidthMs,
        MaxPulseRateHz = maxPulseRateHz,
        MaxDutyCycle = maxDutyCycle,
        WatchdogTimeoutMs = watchdogTimeoutMs,
    };

    public static StimulationCommand Command(double powerMw = 5, double widthMs = 5, int count = 1, double rateHz = 0, long atNs = 0) =>
        new(Targets, powerMw, widthMs, count, rateHz, atNs);

    public static long Ms(double ms) => (long)Math.Round(ms * 1e6);
}
