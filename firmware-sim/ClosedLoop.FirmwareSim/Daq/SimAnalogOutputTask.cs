using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.FirmwareSim.Daq;

/// <summary>Simulated buffered analog output (see <see cref="IAnalogOutputTask"/>).</summary>
internal sealed class SimAnalogOutputTask : SimTask, IAnalogOutputTask
{
    private readonly SimOutputBuffer<double> _buffer;
    private long _generated;
    private long _lastIndex = long.MaxValue; // last sample put out when the task finished or faulted

    public SimAnalogOutputTask(SimulatedDaqSystem system, SimulatedDaqDevice device, AnalogOutputConfig config,
        IReadOnlyList<PhysicalChannel> channels)
        : base(system, device, config.Name, "ao", channels, config.Timing, config.StartTrigger, device.MaxAoRateHz, "Timing.SampleRateHz (AO)")
    {
        if (!device.AoRangeV.Contains(config.Range))
            throw Error(DaqErrorCodes.InvalidAttributeValue,
                $"Range = {config.Range} is not allowed; it must lie within the device's AO range {device.AoRangeV} and have MinV < MaxV.");
        Range = config.Range;
        AllowRegeneration = config.AllowRegeneration;
        _buffer = new SimOutputBuffer<double>(channels.Count, config.Timing.SamplesPerChannel, config.AllowRegeneration);
    }

    public DaqRange Range { get; }
    public bool AllowRegeneration { get; }
    internal override bool IsOutput => true;

    public long SamplesGenerated { get { lock (System.Sync) { System.CatchUpLocked(); return _generated; } } }
    public long SamplesWritten { get { lock (System.Sync) { return _buffer.Written; } } }

    public int WriteSpaceAvailable
    {
        get { lock (System.Sync) { System.CatchUpLocked(); return _buffer.Space(HasStarted); } }
    }

    public void Write(ReadOnlySpan<double> samples)
    {
        lock (System.Sync)
        {
            EnterLocked();
            int channels = Channels.Count;
            if (samples.Length % channels != 0)
                throw Error(DaqErrorCodes.InvalidAttributeValue,
                    $"{samples.Length} values cannot be split into scans of {channels} channels. Write a multiple of {channels} values, interleaved by scan.");
            for (int i = 0; i < samples.Length; i++)
            {
                double v = samples[i];
                if (!Range.Contains(v))
                    throw Error(DaqErrorCodes.OutputValueOutOfRange,
                        $"value {F(v)} V (sample {i / channels} of {Channels[i % channels]}) is outside the task's range {Range}. Scale the waveform into the range, or widen Range within the device's {SimDevice.AoRangeV}.");
            }
            string? refused = _buffer.Write(samples, State == SimTaskState.Running, _generated);
            if (refused is not null) throw Error(DaqErrorCodes.OutputBufferFull, refused);
        }
    }

    protected override void ValidateBeforeStartLocked()
    {
        if (!_buffer.HasData)
            throw Error(DaqErrorCodes.OutputBufferEmpty, "cannot start: no samples were written. Write the waveform (or the first block of a stream) before Start().");
    }

    protected override void ResetForStartLocked()
    {
        _generated = 0;
        _lastIndex = long.MaxValue;
    }

    internal override void Advance(double nowNs)
    {
        if (State != SimTaskState.Running) return;
        long total = CountAtOrBefore(nowNs);
        DaqTiming timing = Timing!;
        if (timing.Mode == DaqSampleMode.Finite && total >= timing.SamplesPerChannel)
            total = timing.SamplesPerChannel;
        if (!AllowRegeneration && total > _buffer.Written)
        {
            long at = _buffer.Written;
            _generated = at;
            _buffer.Advance(at);
            _lastIndex = at - 1;
            FailLocked(Error(DaqErrorCodes.OutputUnderflow,
                $"output underflow at sample {at}: the sample clock ran past the {at} samples written (the output holds the last one). Write faster or in larger blocks ahead of the clock, enlarge Timing.SamplesPerChannel, or allow regeneration; then stop and start the task."));
            return;
        }
        _generated = total;
        _buffer.Advance(total);
        if (timing.Mode == DaqSampleMode.Finite && total >= timing.SamplesPerChannel)
        {
            _lastIndex = total - 1;
            FinishLocked();
        }
    }

    protected override void OnFaultedLocked()
    {
        if (_lastIndex == long.MaxValue) _lastIndex = Math.Max(0, _generated - 1);
    }

    protected override void OnStopLocked(double nowNs) => _buffer.ResetStream();

    /// <summary>Volts on channel <paramref name="channel"/> (task order) at device time <paramref name="timeNs"/>:
    /// 0 V before the first sample and after a stop; a finished or faulted task holds its last sample.</summary>
    internal double ValueAt(int channel, double timeNs)
    {
        if (!HasStarted || timeNs < StartNs) return 0;
        long index = Math.Min(CountAtOrBefore(timeNs) - 1, _lastIndex);
        return _buffer.Value(channel, index);
    }

    /// <summary>Volts on channel <paramref name="channel"/> at this task's sample <paramref name="index"/>.</summary>
    internal double ValueAtSample(int channel, long index) =>
        !HasStarted || index < 0 ? 0 : _buffer.Value(channel, Math.Min(index, _lastIndex));
}
