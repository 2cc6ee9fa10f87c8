using System.Globalization;
using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.FirmwareSim.Daq;

/// <summary>What a simulated device offers. The defaults resemble an NI PCIe-6363 (X series).</summary>
public sealed record SimulatedDaqDeviceOptions
{
    /// <summary>Device name, e.g. <c>Dev1</c>.</summary>
    public string Name { get; init; } = "Dev1";

    /// <summary>Product type reported.</summary>
    public string ProductType { get; init; } = "PCIe-6363 (simulated)";

    /// <summary>Number of AI channels (ai0 …).</summary>
    public int AiChannelCount { get; init; } = 32;

    /// <summary>Number of AO channels (ao0 …).</summary>
    public int AoChannelCount { get; init; } = 4;

    /// <summary>Number of port0 lines (port0/line0 …).</summary>
    public int DigitalLineCount { get; init; } = 32;

    /// <summary>Number of counters (ctr0 …).</summary>
    public int CounterCount { get; init; } = 4;

    /// <summary>Number of PFI terminals (PFI0 …).</summary>
    public int PfiCount { get; init; } = 16;

    /// <summary>Widest AI range.</summary>
    public DaqRange AiRangeV { get; init; } = new(-10, 10);

    /// <summary>Widest AO range.</summary>
    public DaqRange AoRangeV { get; init; } = new(-10, 10);

    /// <summary>Highest AI sample rate (a 6363 samples one channel at 2 MS/s).</summary>
    public double MaxAiRateHz { get; init; } = 2_000_000;

    /// <summary>Highest AO sample rate.</summary>
    public double MaxAoRateHz { get; init; } = 2_860_000;

    /// <summary>Timebase every sample clock is divided from (X series: 100 MHz).</summary>
    public double TimebaseHz { get; init; } = 100_000_000;

    /// <summary>Frequency error of this device's own oscillator, in parts per million (0 = exact).</summary>
    public double TimebaseErrorPpm { get; init; }

    /// <summary>Name of another device whose timebase this one uses (as over RTSI or PXI_Clk10); <c>null</c>: its own.
    /// Devices on one timebase never drift apart.</summary>
    public string? TimebaseSource { get; init; }
}

/// <summary>A simulated X-series-like device: signal sources on its inputs, its AO outputs and line states for signal
/// models and tests, and injected faults.</summary>
public sealed class SimulatedDaqDevice : IDaqDevice
{
    private readonly SimulatedDaqSystem _system;
    private readonly SimulatedDaqDeviceOptions _options;
    private readonly Dictionary<int, IAnalogSignal> _analogSources = [];
    private readonly Dictionary<string, IDigitalSignal> _digitalSources = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<DigitalTransition>[] _lineHistory;
    private uint _lines;
    private DaqException? _pendingFault;

    internal SimulatedDaqDevice(SimulatedDaqSystem system, SimulatedDaqDeviceOptions options)
    {
        _system = system;
        _options = options;
        var channels = new List<string>();
        for (int i = 0; i < options.AiChannelCount; i++) channels.Add($"{options.Name}/ai{i}");
        for (int i = 0; i < options.AoChannelCount; i++) channels.Add($"{options.Name}/ao{i}");
        for (int i = 0; i < options.DigitalLineCount; i++) channels.Add($"{options.Name}/port0/line{i}");
        for (int i = 0; i < options.CounterCount; i++) channels.Add($"{options.Name}/ctr{i}");
        PhysicalChannels = channels;
        var terminals = new List<string>();
        for (int i = 0; i < options.PfiCount; i++) terminals.Add($"/{options.Name}/PFI{i}");
        foreach (string kind in new[] { "ai", "ao", "do" })
        {
            terminals.Add($"/{options.Name}/{kind}/StartTrigger");
            terminals.Add($"/{options.Name}/{kind}/SampleClock");
        }
        for (int i = 0; i < options.CounterCount; i++)
        {
            terminals.Add($"/{options.Name}/ctr{i}/StartTrigger");
            terminals.Add($"/{options.Name}/ctr{i}/SampleClock");
        }
        Terminals = terminals;
        _lineHistory = new List<DigitalTransition>[options.DigitalLineCount];
        for (int i = 0; i < _lineHistory.Length; i++) _lineHistory[i] = [];
    }

    /// <inheritdoc />
    public string Name => _options.Name;

    /// <inheritdoc />
    public string ProductType => _options.ProductType;

    /// <inheritdoc />
    public DaqRange AoRangeV => _options.AoRangeV;

    /// <inheritdoc />
    public DaqRange AiRangeV => _options.AiRangeV;

    /// <inheritdoc />
    public double MaxAoRateHz => _options.MaxAoRateHz;

    /// <inheritdoc />
    public double MaxAiRateHz => _options.MaxAiRateHz;

    /// <inheritdoc />
    public IReadOnlyList<string> PhysicalChannels { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> Terminals { get; }

    /// <summary>The options the device was built from.</summary>
    public SimulatedDaqDeviceOptions Options => _options;

    internal double TimebaseHz => _options.TimebaseHz;

    /// <summary>One timebase tick in device ns, including the oscillator error of whichever device provides the timebase.</summary>
    internal double TickNs { get; set; }

    /// <summary>The first timebase tick at or after <paramref name="timeNs"/>.</summary>
    internal double NextTickNs(double timeNs) => Math.Ceiling(timeNs / TickNs - 1e-9) * TickNs;

    /// <summary>Connects <paramref name="signal"/> to AI channel <paramref name="aiChannel"/> (replacing any other);
    /// unconnected channels read 0.</summary>
    public void ConnectAnalogInput(int aiChannel, IAnalogSignal signal)
    {
        if (aiChannel < 0 || aiChannel >= _options.AiChannelCount)
            throw new DaqException(DaqErrorCodes.PhysicalChannelDoesNotExist, Name, $"ai{aiChannel} does not exist; the device has ai0 … ai{_options.AiChannelCount - 1}.");
        ArgumentNullException.ThrowIfNull(signal);
        lock (_system.Sync) _analogSources[aiChannel] = signal;
    }

    /// <summary>Connects a digital signal to a terminal (e.g. <c>PFI0</c> or <c>/Dev1/PFI0</c>) for counters to count.</summary>
    public void ConnectDigitalInput(string terminal, IDigitalSignal signal)
    {
        ArgumentNullException.ThrowIfNull(signal);
        string key = LocalTerminal(terminal);
        if (!Terminals.Contains($"/{Name}/{key}", StringComparer.OrdinalIgnoreCase))
            throw new DaqException(DaqErrorCodes.InvalidTerminal, Name, $"terminal '{terminal}' does not exist; use PFI0 … PFI{_options.PfiCount - 1}.");
        lock (_system.Sync) _digitalSources[key] = signal;
    }

    /// <summary>Fires an external trigger on <paramref name="terminal"/> (e.g. <c>PFI1</c>) now: tasks armed on it
    /// start at the next timebase tick.</summary>
    public void FireTrigger(string terminal)
    {
        lock (_system.Sync)
        {
            _system.CatchUpLocked();
            _system.FireLocked($"/{Name}/{LocalTerminal(terminal)}", NextTickNs(_system.NowNs), null);
        }
    }

    /// <summary>Makes the next read or write of any task on this device fail with <paramref name="fault"/>; that task
    /// stops (outputs hold their last value until stopped).</summary>
    public void InjectFault(DaqException fault)
    {
        ArgumentNullException.ThrowIfNull(fault);
        lock (_system.Sync) _pendingFault = fault;
    }

    /// <summary>Volts on AO channel <paramref name="aoChannel"/> at device time <paramref name="timeNs"/> (0 V when
    /// no task drives it). Times up to the device's present are known.</summary>
    public double AnalogOutputVoltage(int aoChannel, double timeNs)
    {
        lock (_system.Sync)
        {
            _system.CatchUpLocked();
            return AnalogOutputVoltageLocked(aoChannel, timeNs);
        }
    }

    internal double AnalogOutputVoltageLocked(int aoChannel, double timeNs)
    {
        foreach (SimTask task in _system.TasksOn(this))
        {
            if (task is not SimAnalogOutputTask ao) continue;
            for (int c = 0; c < ao.PhysicalChannels.Count; c++)
                if (ao.PhysicalChannels[c].Index == aoChannel) return ao.ValueAt(c, timeNs);
        }
        return 0;
    }

    /// <summary>Current state of port0 line <paramref name="line"/>.</summary>
    public bool LineState(int line)
    {
        lock (_system.Sync)
        {
            _system.CatchUpLocked();
            return (_lines >> line & 1) != 0;
        }
    }

    /// <summary>Every change of port0 line <paramref name="line"/> so far, oldest first (a copy).</summary>
    public IReadOnlyList<DigitalTransition> LineHistory(int line)
    {
        lock (_system.Sync)
        {
            _system.CatchUpLocked();
            return _lineHistory[line].ToArray();
        }
    }

    internal void SetLineLocked(int line, bool high, long timeNs)
    {
        bool was = (_lines >> line & 1) != 0;
        if (was == high) return;
        _lines = high ? _lines | 1u << line : _lines & ~(1u << line);
        _lineHistory[line].Add(new DigitalTransition(timeNs, high));
    }

    internal IAnalogSignal? AnalogSourceFor(int aiChannel) => _analogSources.GetValueOrDefault(aiChannel);

    internal IDigitalSignal? DigitalSourceFor(string terminal) => _digitalSources.GetValueOrDefault(LocalTerminal(terminal));

    internal DaqException? TakeFaultLocked()
    {
        DaqException? fault = _pendingFault;
        _pendingFault = null;
        return fault;
    }

    /// <summary>A terminal name without its device: <c>/Dev1/PFI0</c> → <c>PFI0</c>.</summary>
    internal string LocalTerminal(string terminal)
    {
        string t = terminal.TrimStart('/');
        return t.StartsWith(Name + "/", StringComparison.OrdinalIgnoreCase) ? t[(Name.Length + 1)..] : t;
    }

    internal bool HasChannel(PhysicalChannel channel) =>
        PhysicalChannels.Contains(channel.Name, StringComparer.OrdinalIgnoreCase);

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Name} ({ProductType})");
}

/// <summary>A change of a digital line.</summary>
/// <param name="TimeNs">Device time of the change, in ns.</param>
/// <param name="High">The new state.</param>
public readonly record struct DigitalTransition(long TimeNs, bool High);
