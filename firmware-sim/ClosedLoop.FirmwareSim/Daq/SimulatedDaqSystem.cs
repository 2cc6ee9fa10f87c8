using ClosedLoop.Core;
using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.FirmwareSim.Daq;

/// <summary>How the simulated devices' time advances.</summary>
public enum DaqClockMode
{
    /// <summary>Time moves only when <see cref="SimulatedDaqSystem.AdvanceTo"/> or <see cref="SimulatedDaqSystem.AdvanceBy"/>
    /// is called: deterministic tests and as-fast-as-possible runs.</summary>
    Manual,

    /// <summary>Time follows <see cref="MonotonicClock"/> from the system's creation; sample clocks tick in real time.</summary>
    RealTime,
}

/// <summary>Settings of a simulated DAQ system. Read once at construction.</summary>
public sealed record SimulatedDaqOptions
{
    /// <summary>Manual (default) or real-time clock.</summary>
    public DaqClockMode ClockMode { get; init; } = DaqClockMode.Manual;

    /// <summary>Delay from <see cref="IDaqTask.Start"/> to the first sample of a task that is not triggered
    /// (real X-series boards take roughly 0.5–2 ms); the first sample also waits for the next timebase tick.</summary>
    public long StartLatencyNs { get; init; } = 1_000_000;

    /// <summary>The devices; empty means one default device, <c>Dev1</c>.</summary>
    public IReadOnlyList<SimulatedDaqDeviceOptions> Devices { get; init; } = [];
}

/// <summary>
/// A simulated NI-DAQmx-like driver with one or more <see cref="SimulatedDaqDevice"/>s. All tasks share one device
/// time line (ns since the system was created); every call first brings every task up to the present, so buffers,
/// underflow, overflow and edges depend only on device time, never on when the host happened to call.
/// </summary>
public sealed class SimulatedDaqSystem : IDaqSystem
{
    private readonly List<SimulatedDaqDevice> _devices = [];
    private readonly List<SimTask> _tasks = [];
    private readonly long _originHostNs;
    private long _manualNs;

    /// <summary>Creates the system and its devices.</summary>
    public SimulatedDaqSystem(SimulatedDaqOptions? options = null)
    {
        options ??= new SimulatedDaqOptions();
        if (options.StartLatencyNs < 0)
            throw new SettingException("StartLatencyNs", options.StartLatencyNs, "≥ 0");
        ClockMode = options.ClockMode;
        StartLatencyNs = options.StartLatencyNs;
        IReadOnlyList<SimulatedDaqDeviceOptions> devices = options.Devices.Count > 0 ? options.Devices : [new SimulatedDaqDeviceOptions()];
        foreach (SimulatedDaqDeviceOptions d in devices)
        {
            Check.NotEmpty("Devices[].Name", d.Name);
            Check.Positive($"{d.Name}.TimebaseHz", d.TimebaseHz);
            if (_devices.Any(x => string.Equals(x.Name, d.Name, StringComparison.OrdinalIgnoreCase)))
                throw new SettingException("Devices[].Name", d.Name, "unique");
            _devices.Add(new SimulatedDaqDevice(this, d));
        }
        foreach (SimulatedDaqDevice d in _devices)
        {
            string ownerName = d.Options.TimebaseSource ?? d.Name;
            SimulatedDaqDevice owner = _devices.FirstOrDefault(x => string.Equals(x.Name, ownerName, StringComparison.OrdinalIgnoreCase))
                ?? throw new SettingException($"{d.Name}.TimebaseSource", ownerName, "the name of a device in this system");
            d.TickNs = 1e9 / d.TimebaseHz * (1 + owner.Options.TimebaseErrorPpm * 1e-6);
        }
        _originHostNs = MonotonicClock.NowNs();
    }

    /// <summary>The lock guarding all device and task state.</summary>
    internal object Sync { get; } = new();

    /// <summary>Manual or real time.</summary>
    public DaqClockMode ClockMode { get; }

    /// <summary>Delay from Start() to the first sample.</summary>
    public long StartLatencyNs { get; }

    /// <summary>Device time now, in ns since the system was created.</summary>
    public long NowNs => ClockMode == DaqClockMode.Manual ? Volatile.Read(ref _manualNs) : MonotonicClock.NowNs() - _originHostNs;

    /// <inheritdoc />
    public IReadOnlyList<IDaqDevice> Devices => _devices;

    /// <summary>The simulated device named <paramref name="name"/>.</summary>
    public SimulatedDaqDevice Device(string name) =>
        _devices.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new DaqException(DaqErrorCodes.InvalidDevice, name, $"no device named '{name}'; the system has {string.Join(", ", _devices.Select(d => d.Name))}.");

    /// <summary>Manual clock: moves device time forward to <paramref name="timeNs"/> and wakes waiting reads.</summary>
    public void AdvanceTo(long timeNs)
    {
        if (ClockMode != DaqClockMode.Manual)
            throw new InvalidOperationException("AdvanceTo needs DaqClockMode.Manual; a real-time system follows the monotonic clock.");
        lock (Sync)
        {
            if (timeNs < _manualNs)
                throw new ArgumentOutOfRangeException(nameof(timeNs), timeNs, $"Device time only moves forward; it is already {_manualNs} ns.");
            Volatile.Write(ref _manualNs, timeNs);
            CatchUpLocked();
            Monitor.PulseAll(Sync);
        }
    }

    /// <summary>Manual clock: moves device time forward by <paramref name="durationNs"/>.</summary>
    public void AdvanceBy(long durationNs)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(durationNs);
        lock (Sync) AdvanceTo(_manualNs + durationNs);
    }

    /// <inheritdoc />
    public IAnalogOutputTask CreateAnalogOutputTask(AnalogOutputConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        lock (Sync)
        {
            (SimulatedDaqDevice device, IReadOnlyList<PhysicalChannel> channels) = Resolve(config.Name, config.PhysicalChannels, "ao", "PhysicalChannels");
            return Register(new SimAnalogOutputTask(this, device, config, channels), buffered: true);
        }
    }

    /// <inheritdoc />
    public IAnalogInputTask CreateAnalogInputTask(AnalogInputConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        lock (Sync)
        {
            (SimulatedDaqDevice device, IReadOnlyList<PhysicalChannel> channels) = Resolve(config.Name, config.PhysicalChannels, "ai", "PhysicalChannels");
            return Register(new SimAnalogInputTask(this, device, config, channels), buffered: true);
        }
    }

    /// <inheritdoc />
    public IDigitalOutputTask CreateDigitalOutputTask(DigitalOutputConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        lock (Sync)
        {
            (SimulatedDaqDevice device, IReadOnlyList<PhysicalChannel> lines) = Resolve(config.Name, config.Lines, "port0/line", "Lines");
            return Register(new SimDigitalOutputTask(this, device, config, lines), buffered: config.Timing is not null);
        }
    }

    /// <inheritdoc />
    public ICounterInputTask CreateCounterInputTask(CounterInputConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        lock (Sync)
        {
            (SimulatedDaqDevice device, IReadOnlyList<PhysicalChannel> counters) = Resolve(config.Name, config.Counter, "ctr", "Counter");
            if (counters.Count != 1)
                throw new DaqException(DaqErrorCodes.InvalidChannel, device.Name, $"Counter = '{config.Counter}' names {counters.Count} counters; a counter task uses exactly one (e.g. Dev1/ctr0).", config.Name);
            string input = NormalizeTerminal(config.InputTerminal);
            RequireTerminal(input, null, "InputTerminal", config.Name);
            return Register(new SimCounterInputTask(this, device, config, counters, input), buffered: false);
        }
    }

    /// <summary>Stops and disposes every task.</summary>
    public void Dispose()
    {
        lock (Sync)
        {
            foreach (SimTask task in _tasks.ToArray()) task.Dispose();
        }
    }

    internal static long DeadlineHostNs(TimeSpan timeout) =>
        timeout == Timeout.InfiniteTimeSpan || timeout >= TimeSpan.FromDays(1)
            ? long.MaxValue
            : MonotonicClock.NowNs() + Math.Max(0, timeout.Ticks) * 100;

    internal static string NormalizeTerminal(string terminal) => "/" + terminal.Trim().TrimStart('/');

    internal IEnumerable<SimTask> TasksOn(SimulatedDaqDevice device)
    {
        foreach (SimTask t in _tasks)
            if (ReferenceEquals(t.SimDevice, device)) yield return t;
    }

    /// <summary>Brings every task up to the present: inputs first (they read what outputs put out), then outputs.</summary>
    internal void CatchUpLocked()
    {
        double now = NowNs;
        foreach (SimTask t in _tasks) if (!t.IsOutput) t.Advance(now);
        foreach (SimTask t in _tasks) if (t.IsOutput) t.Advance(now);
    }

    /// <summary>Waits (releasing the lock) for the next sample at device time <paramref name="nextEventNs"/> (NaN:
    /// unknown), for another thread to advance a manual clock, or until <paramref name="deadlineHostNs"/>.
    /// Returns false once the deadline has passed.</summary>
    internal bool WaitLocked(double nextEventNs, long deadlineHostNs, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        long hostNow = MonotonicClock.NowNs();
        if (hostNow >= deadlineHostNs) return false;
        long waitNs = deadlineHostNs - hostNow;
        if (ClockMode == DaqClockMode.RealTime && !double.IsNaN(nextEventNs))
            waitNs = Math.Min(waitNs, Math.Max(0, (long)(nextEventNs - NowNs)));
        int ms = (int)Math.Clamp((waitNs + 999_999) / 1_000_000, 1, 10);
        Monitor.Wait(Sync, ms);
        cancellationToken.ThrowIfCancellationRequested();
        return true;
    }

    internal SimTask? FindTaskExporting(string terminal)
    {
        foreach (SimTask t in _tasks)
        {
            if (string.Equals(t.StartTriggerTerminal, terminal, StringComparison.OrdinalIgnoreCase)
                || string.Equals(t.SampleClockTerminal, terminal, StringComparison.OrdinalIgnoreCase))
                return t;
        }
        return null;
    }

    internal void OnTaskBeganLocked(SimTask task)
    {
        FireLocked(task.StartTriggerTerminal, task.StartNs, task);
        FireLocked(task.SampleClockTerminal, task.StartNs, task);
    }

    internal void FireLocked(string terminal, double timeNs, SimTask? source)
    {
        foreach (SimTask t in _tasks.ToArray())
            if (!ReferenceEquals(t, source) && t.State == SimTaskState.Armed) t.OnSourceFiredLocked(terminal, timeNs, source);
    }

    internal void RequireTerminal(string terminal, SimTask? task, string setting, string? taskName = null)
    {
        string deviceName = terminal.TrimStart('/').Split('/')[0];
        SimulatedDaqDevice? device = _devices.FirstOrDefault(d => string.Equals(d.Name, deviceName, StringComparison.OrdinalIgnoreCase));
        if (device is null || !device.Terminals.Contains(terminal, StringComparer.OrdinalIgnoreCase))
        {
            string offered = device is null ? $"no device '{deviceName}' exists" : $"{device.Name} offers {string.Join(", ", device.Terminals.Take(6))}, …";
            throw new DaqException(DaqErrorCodes.InvalidTerminal, task?.Device ?? deviceName,
                $"{setting} = '{terminal}' is not a terminal of this system ({offered}). Name a terminal as /Dev1/PFI0 or another task's StartTriggerTerminal / SampleClockTerminal.",
                task?.Name ?? taskName);
        }
    }

    internal void ReleaseLocked(SimTask task) => _tasks.Remove(task);

    private (SimulatedDaqDevice Device, IReadOnlyList<PhysicalChannel> Channels) Resolve(string taskName, string channels, string prefix, string setting)
    {
        Check.NotEmpty("Name", taskName);
        IReadOnlyList<PhysicalChannel> parsed = DaqChannels.Parse(channels);
        SimulatedDaqDevice? device = _devices.FirstOrDefault(d => string.Equals(d.Name, parsed[0].Device, StringComparison.OrdinalIgnoreCase));
        if (device is null)
            throw new DaqException(DaqErrorCodes.InvalidDevice, parsed[0].Device,
                $"{setting} = '{channels}' names device '{parsed[0].Device}', which does not exist; devices: {string.Join(", ", _devices.Select(d => d.Name))}.", taskName);
        foreach (PhysicalChannel ch in parsed)
        {
            if (!string.Equals(ch.Device, device.Name, StringComparison.OrdinalIgnoreCase))
                throw new DaqException(DaqErrorCodes.InvalidChannel, device.Name, $"{setting} = '{channels}' spans devices {device.Name} and {ch.Device}; a task uses one device.", taskName);
            if (ch.Prefix != prefix || !device.HasChannel(ch))
            {
                string range = string.Join(", ", device.PhysicalChannels.Where(p => p.StartsWith($"{device.Name}/{prefix}", StringComparison.OrdinalIgnoreCase)).Take(1)
                    .Concat(device.PhysicalChannels.Where(p => p.StartsWith($"{device.Name}/{prefix}", StringComparison.OrdinalIgnoreCase)).TakeLast(1)).Distinct());
                throw new DaqException(DaqErrorCodes.PhysicalChannelDoesNotExist, device.Name,
                    $"{setting} = '{channels}': {ch.Name} does not exist or is not a {prefix} channel; this task can use {range.Replace(", ", " … ")}.", taskName);
            }
            SimTask? owner = TasksOn(device).FirstOrDefault(t => t.PhysicalChannels.Contains(ch));
            if (owner is not null)
                throw new DaqException(DaqErrorCodes.ResourceReserved, device.Name, $"{ch.Name} is already used by task '{owner.Name}'. Dispose that task first.", taskName);
        }
        return (device, parsed);
    }

    private T Register<T>(T task, bool buffered) where T : SimTask
    {
        if (buffered)
        {
            SimTask? other = TasksOn(task.SimDevice).FirstOrDefault(t => t.Kind == task.Kind && t.Timing is not null);
            if (other is not null)
                throw new DaqException(DaqErrorCodes.ResourceReserved, task.Device,
                    $"the device's {task.Kind.ToUpperInvariant()} timing engine is already used by task '{other.Name}'; one buffered {task.Kind.ToUpperInvariant()} task per device. Put the channels in one task or dispose the other.", task.Name);
        }
        _tasks.Add(task);
        return task;
    }
}
