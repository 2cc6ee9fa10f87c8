using System.Globalization;
using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.Interop.NiDaqmx;

/// <summary>
/// What every NI-DAQmx task shares: the handle, error checking with the task's name, sample-clock timing, the start
/// trigger and the start/stop/dispose life cycle. Subclasses create their channels in <see cref="Configure"/> and
/// return outputs to a safe level in <see cref="OnStopped"/>.
/// </summary>
internal abstract class NiTask : IDaqTask
{
    private readonly Lock _gate = new();
    private TaskHandle? _handle;
    private volatile bool _running;
    private bool _disposed;

    protected NiTask(NiDaqmxSystem system, string name, string kind, IReadOnlyList<PhysicalChannel> channels,
        DaqTiming? timing, DaqStartTrigger? trigger)
    {
        System = system;
        Name = name;
        Channels = channels.Select(c => c.Name).ToArray();
        Device = channels[0].Device;
        Timing = timing;
        Trigger = trigger;
        StartTriggerTerminal = $"/{Device}/{kind}/StartTrigger";
        SampleClockTerminal = $"/{Device}/{kind}/SampleClock";
    }

    protected NiDaqmxSystem System { get; }
    protected INiDaqmxApi Api => System.Api;
    protected DaqTiming? Timing { get; }
    protected DaqStartTrigger? Trigger { get; }

    /// <summary>The channel list as NI takes it (comma-separated physical channels in task order).</summary>
    protected string ChannelList => string.Join(",", Channels);

    public string Name { get; }
    public string Device { get; }
    public IReadOnlyList<string> Channels { get; }
    public double SampleRateHz { get; protected set; }
    public bool IsRunning => _running;
    public string StartTriggerTerminal { get; }
    public string SampleClockTerminal { get; }

    /// <summary>Creates the NI task and runs <see cref="Configure"/>; clears the handle if configuration fails.</summary>
    protected void Create()
    {
        Check(Api.CreateTask(Name, out nint raw), "DAQmxCreateTask");
        _handle = new TaskHandle(Api, raw);
        try
        {
            Configure();
        }
        catch
        {
            _handle.Dispose();
            _disposed = true;
            throw;
        }
    }

    /// <summary>Creates channels, timing and trigger on the new task.</summary>
    protected abstract void Configure();

    /// <summary>Called after DAQmxStopTask (and before the handle is cleared): leave outputs at 0 V / low.</summary>
    protected virtual void OnStopped() { }

    /// <summary>Called before DAQmxStartTask.</summary>
    protected virtual void OnStarting() { }

    /// <summary>Configures sample-clock timing from <see cref="Timing"/> and reads back the coerced rate.</summary>
    protected void ConfigureTiming(DaqTiming timing, string? source, int activeEdge, string rateSetting = "Timing.SampleRateHz")
    {
        if (!(timing.SampleRateHz > 0) || double.IsInfinity(timing.SampleRateHz))
            throw Error(DaqErrorCodes.InvalidAttributeValue, string.Create(CultureInfo.InvariantCulture,
                $"{rateSetting} = {timing.SampleRateHz} Hz is not allowed; it must be a finite rate > 0."));
        if (timing.SamplesPerChannel < 1)
            throw Error(DaqErrorCodes.InvalidAttributeValue, string.Create(CultureInfo.InvariantCulture,
                $"Timing.SamplesPerChannel = {timing.SamplesPerChannel} is not allowed; it must be at least 1."));
        using var lease = Lease();
        Check(Api.CfgSampClkTiming(lease.Handle, source, timing.SampleRateHz, activeEdge, DaqmxConstants.Mode(timing.Mode),
            (ulong)timing.SamplesPerChannel), "DAQmxCfgSampClkTiming");
    }

    /// <summary>Reads back the sample clock rate the device will use (NI coerces to its timebase divisors).</summary>
    protected void ReadBackRate()
    {
        using var lease = Lease();
        Check(Api.GetSampClkRate(lease.Handle, out double rate), "DAQmxGetSampClkRate");
        SampleRateHz = rate;
    }

    /// <summary>Arms the task on <see cref="Trigger"/>, if any.</summary>
    protected void ConfigureTrigger()
    {
        if (Trigger is null) return;
        using var lease = Lease();
        Check(Api.CfgDigEdgeStartTrig(lease.Handle, Trigger.Source, DaqmxConstants.Edge(Trigger.Edge)), "DAQmxCfgDigEdgeStartTrig");
    }

    public void Start()
    {
        lock (_gate)
        {
            ThrowIfDisposed();
            if (_running) return;
            OnStarting();
            using (var lease = Lease()) Check(Api.StartTask(lease.Handle), "DAQmxStartTask");
            _running = true;
        }
    }

    public void Stop()
    {
        lock (_gate)
        {
            if (_disposed) return;
            StopLocked();
        }
    }

    private void StopLocked()
    {
        bool wasRunning = _running;
        _running = false;
        int status;
        using (var lease = Lease()) status = Api.StopTask(lease.Handle);
        Check(status, "DAQmxStopTask");
        // NI holds an output's last value after a stop; the contract wants 0 V and low lines.
        if (wasRunning || RequiresZeroOnStop) OnStopped();
    }

    /// <summary>True when <see cref="OnStopped"/> must run even if the task never ran (e.g. static lines that were set).</summary>
    protected virtual bool RequiresZeroOnStop => false;

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            DaqException? failure = null;
            try
            {
                StopLocked();
            }
            catch (DaqException e)
            {
                failure = e;
            }
            _disposed = true;
            _handle?.Dispose();
            if (failure is not null) throw failure;
        }
    }

    /// <summary>Holds the handle for one driver call; a disposed task throws <see cref="DaqErrorCodes.InvalidTask"/>.</summary>
    protected TaskHandle.HandleLease Lease()
    {
        if (_handle is null) throw Disposed();
        try
        {
            return _handle.Lease();
        }
        catch (ObjectDisposedException)
        {
            throw Disposed();
        }
    }

    protected void ThrowIfDisposed()
    {
        if (_disposed) throw Disposed();
    }

    /// <summary>Marks the task stopped after a driver error ended it (NI stops a task on buffer errors).</summary>
    protected void MarkStopped() => _running = false;

    protected void Check(int status, string operation) => System.Status.Check(status, operation, Device, Name);

    protected DaqException Error(int code, string message) => new(code, Device, message, Name);

    private DaqException Disposed() => Error(DaqErrorCodes.InvalidTask, "the task has been disposed. Create a new task.");

    /// <summary>Sets an output to a level with a short-lived on-demand task on the same channels (the buffered task is
    /// stopped, so its channels are free).</summary>
    protected void WithOnDemandTask(Action<nint> create, Func<nint, int> write, string writeOperation)
    {
        Check(Api.CreateTask("", out nint raw), "DAQmxCreateTask");
        using var temp = new TaskHandle(Api, raw);
        create(raw);
        Check(write(raw), writeOperation);
        Check(Api.StopTask(raw), "DAQmxStopTask");
    }

    /// <summary>Throws when a write is not whole scans.</summary>
    protected void RequireWholeScans(int length)
    {
        if (length % Channels.Count != 0)
            throw Error(DaqErrorCodes.InvalidAttributeValue, string.Create(CultureInfo.InvariantCulture,
                $"a write of {length} values is not a whole number of scans of {Channels.Count} channels; samples are interleaved by scan."));
    }

    /// <summary>
    /// Waits until the driver reports at least one sample per channel to read (DAQmxGetReadAvailSampPerChan), polling every
    /// <see cref="NiDaqmxOptions.ReadPollInterval"/>; returns 0 when the timeout passes or the task is not running.
    /// Reads poll with a zero driver timeout instead of blocking inside NI, so the token is honoured within one interval.
    /// </summary>
    protected uint PollAvailable(TimeSpan timeout, CancellationToken cancellationToken)
    {
        long deadline = Environment.TickCount64 + (long)Math.Max(0, timeout.TotalMilliseconds);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!_running) return 0;
            uint available;
            int status;
            using (var lease = Lease()) status = Api.GetReadAvailSampPerChan(lease.Handle, out available);
            Check(status, "DAQmxGetReadAvailSampPerChan");
            if (available > 0) return available;
            long left = deadline - Environment.TickCount64;
            if (left <= 0) return 0;
            cancellationToken.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(Math.Min(left, System.PollInterval.TotalMilliseconds)));
        }
    }
}
