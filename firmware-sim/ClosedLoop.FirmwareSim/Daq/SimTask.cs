using System.Globalization;
using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.FirmwareSim.Daq;

/// <summary>Where a simulated task is in its life.</summary>
internal enum SimTaskState
{
    Idle,
    Armed,
    Running,
    Done,
    Faulted,
    Disposed,
}

/// <summary>
/// Timing and life cycle shared by every simulated task. Sample n happens at device time
/// <c>StartNs + n · PeriodNs</c>; all state is guarded by the system's lock and brought up to date by
/// <see cref="Advance"/> before anything is read or written.
/// </summary>
internal abstract class SimTask : IDaqTask
{
    private readonly string? _triggerSource;
    private readonly string? _clockSource;

    protected SimTask(SimulatedDaqSystem system, SimulatedDaqDevice device, string name, string kind,
        IReadOnlyList<PhysicalChannel> channels, DaqTiming? timing, DaqStartTrigger? trigger, double maxRateHz, string rateSetting)
    {
        System = system;
        SimDevice = device;
        Name = name;
        Kind = kind;
        PhysicalChannels = channels;
        Channels = channels.Select(c => c.Name).ToArray();
        Timing = timing;
        _triggerSource = trigger is null ? null : SimulatedDaqSystem.NormalizeTerminal(trigger.Source);
        _clockSource = timing?.SampleClockSource is null ? null : SimulatedDaqSystem.NormalizeTerminal(timing.SampleClockSource);
        if (timing is not null)
        {
            if (!(timing.SampleRateHz > 0) || double.IsInfinity(timing.SampleRateHz))
                throw Error(DaqErrorCodes.InvalidAttributeValue, $"{rateSetting} = {F(timing.SampleRateHz)} Hz is not allowed; it must be a finite rate > 0.");
            if (timing.SampleRateHz > maxRateHz)
                throw Error(DaqErrorCodes.InvalidAttributeValue,
                    $"{rateSetting} = {F(timing.SampleRateHz)} Hz is beyond the device's maximum of {F(maxRateHz)} Hz ({device.ProductType}). Lower the rate to at most {F(maxRateHz)} Hz.");
            if (timing.SamplesPerChannel < 1)
                throw Error(DaqErrorCodes.InvalidAttributeValue, $"Timing.SamplesPerChannel = {timing.SamplesPerChannel} is not allowed; it must be at least 1.");
            long divisor = Math.Max(1, (long)Math.Round(device.TimebaseHz / timing.SampleRateHz));
            SampleRateHz = device.TimebaseHz / divisor;
            PeriodNs = divisor * device.TickNs;
        }
        if (_triggerSource is not null) system.RequireTerminal(_triggerSource, this, "StartTrigger.Source");
        if (_clockSource is not null) system.RequireTerminal(_clockSource, this, "Timing.SampleClockSource");
        StartTriggerTerminal = $"/{device.Name}/{kind}/StartTrigger";
        SampleClockTerminal = $"/{device.Name}/{kind}/SampleClock";
    }

    protected SimulatedDaqSystem System { get; }
    internal SimulatedDaqDevice SimDevice { get; }
    internal string Kind { get; }
    internal IReadOnlyList<PhysicalChannel> PhysicalChannels { get; }
    internal DaqTiming? Timing { get; }
    internal SimTaskState State { get; private set; } = SimTaskState.Idle;

    /// <summary>Device time of sample 0 (valid while running, done or faulted).</summary>
    internal double StartNs { get; private set; }

    /// <summary>Time between samples on the device's timebase.</summary>
    internal double PeriodNs { get; private set; }

    /// <summary>The fault that stopped the task; thrown on every read or write until the task is stopped.</summary>
    protected DaqException? Fault { get; private set; }

    internal string? TriggerSource => _triggerSource;
    internal string? ClockSource => _clockSource;
    internal bool HasStarted => State is SimTaskState.Running or SimTaskState.Done or SimTaskState.Faulted;

    public string Name { get; }
    public string Device => SimDevice.Name;
    public IReadOnlyList<string> Channels { get; }
    public double SampleRateHz { get; private set; }
    public string StartTriggerTerminal { get; }
    public string SampleClockTerminal { get; }

    public bool IsRunning
    {
        get
        {
            lock (System.Sync)
            {
                System.CatchUpLocked();
                return State is SimTaskState.Armed or SimTaskState.Running;
            }
        }
    }

    /// <summary>Number of samples whose tick is at or before <paramref name="timeNs"/>.</summary>
    internal long CountAtOrBefore(double timeNs)
    {
        if (!HasStarted || timeNs < StartNs) return 0;
        // A hair of slack so a time computed as StartNs + n·PeriodNs counts sample n despite rounding.
        return (long)Math.Floor((timeNs - StartNs) / PeriodNs + 1e-9) + 1;
    }

    /// <summary>Device time of sample <paramref name="index"/>.</summary>
    internal double SampleTimeNs(long index) => StartNs + index * PeriodNs;

    public void Start()
    {
        lock (System.Sync)
        {
            ThrowIfDisposed();
            System.CatchUpLocked();
            if (State is SimTaskState.Armed or SimTaskState.Running) return;
            ValidateBeforeStartLocked();
            Fault = null;
            ResetForStartLocked();
            double now = System.NowNs;
            SimTask? clock = _clockSource is null ? null : System.FindTaskExporting(_clockSource);
            if (clock is not null)
            {
                PeriodNs = clock.PeriodNs;
                SampleRateHz = clock.SampleRateHz;
            }
            State = SimTaskState.Armed;
            if (_triggerSource is not null)
            {
                SimTask? source = System.FindTaskExporting(_triggerSource);
                // A trigger that already pulsed is missed: the task waits for the next one, as hardware does.
                if (source is not null && source.HasStarted && source.StartNs >= now) BeginLocked(source.StartNs);
            }
            else if (clock is not null)
            {
                if (clock.HasStarted)
                {
                    long first = (long)Math.Ceiling((now + System.StartLatencyNs - clock.StartNs) / clock.PeriodNs);
                    BeginLocked(clock.SampleTimeNs(Math.Max(0, first)));
                }
            }
            else
            {
                BeginLocked(SimDevice.NextTickNs(now + System.StartLatencyNs));
            }
        }
    }

    /// <summary>Makes sample 0 happen at <paramref name="startNs"/> and starts every task armed on this one.</summary>
    internal void BeginLocked(double startNs)
    {
        StartNs = startNs;
        State = SimTaskState.Running;
        OnBeganLocked();
        System.OnTaskBeganLocked(this);
    }

    /// <summary>Called when another task (or an external line) this task is armed on fires at <paramref name="timeNs"/>.</summary>
    internal void OnSourceFiredLocked(string terminal, double timeNs, SimTask? source)
    {
        if (State != SimTaskState.Armed) return;
        if (string.Equals(terminal, _triggerSource, StringComparison.OrdinalIgnoreCase))
        {
            BeginLocked(timeNs);
        }
        else if (_triggerSource is null && string.Equals(terminal, _clockSource, StringComparison.OrdinalIgnoreCase) && source is not null)
        {
            PeriodNs = source.PeriodNs;
            SampleRateHz = source.SampleRateHz;
            BeginLocked(timeNs);
        }
    }

    public void Stop()
    {
        lock (System.Sync)
        {
            if (State == SimTaskState.Disposed) return;
            System.CatchUpLocked();
            OnStopLocked(System.NowNs);
            State = SimTaskState.Idle;
            Fault = null;
        }
    }

    public void Dispose()
    {
        lock (System.Sync)
        {
            if (State == SimTaskState.Disposed) return;
            Stop();
            State = SimTaskState.Disposed;
            System.ReleaseLocked(this);
        }
    }

    /// <summary>Brings the task up to device time <paramref name="nowNs"/>.</summary>
    internal abstract void Advance(double nowNs);

    /// <summary>True for tasks that produce samples others read (AO, DO); they advance after the inputs.</summary>
    internal abstract bool IsOutput { get; }

    protected virtual void ValidateBeforeStartLocked() { }
    protected virtual void ResetForStartLocked() { }
    protected virtual void OnBeganLocked() { }
    protected virtual void OnStopLocked(double nowNs) { }

    /// <summary>Marks a finite task finished.</summary>
    protected void FinishLocked() => State = SimTaskState.Done;

    /// <summary>Stops the task with a fault that later calls throw.</summary>
    protected void FailLocked(DaqException fault)
    {
        if (State == SimTaskState.Faulted) return;
        Fault = fault;
        State = SimTaskState.Faulted;
        OnFaultedLocked();
    }

    protected virtual void OnFaultedLocked() { }

    /// <summary>Start of every read or write: disposed check, catch-up, injected device fault, the task's own fault.</summary>
    protected void EnterLocked()
    {
        ThrowIfDisposed();
        System.CatchUpLocked();
        DaqException? injected = SimDevice.TakeFaultLocked();
        if (injected is not null && State is not SimTaskState.Faulted) FailLocked(injected);
        if (Fault is not null) throw Fault;
    }

    protected void ThrowIfDisposed()
    {
        if (State == SimTaskState.Disposed)
            throw Error(DaqErrorCodes.InvalidTask, "the task has been disposed. Create a new task.");
    }

    internal DaqException Error(int code, string message) => new(code, SimDevice.Name, message, Name);

    internal static string F(double v) => v.ToString("G7", CultureInfo.InvariantCulture);
}
