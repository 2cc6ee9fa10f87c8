using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.FirmwareSim.Daq;

/// <summary>Simulated digital output (see <see cref="IDigitalOutputTask"/>): static lines set on demand, or a buffered
/// stream of states clocked out; every change lands in the device's line history.</summary>
internal sealed class SimDigitalOutputTask : SimTask, IDigitalOutputTask
{
    private readonly SimOutputBuffer<uint>? _buffer;
    private readonly bool _regenerate;
    private long _generated;

    public SimDigitalOutputTask(SimulatedDaqSystem system, SimulatedDaqDevice device, DigitalOutputConfig config,
        IReadOnlyList<PhysicalChannel> lines)
        : base(system, device, config.Name, "do", lines, config.Timing, config.StartTrigger, device.MaxAoRateHz, "Timing.SampleRateHz (DO)")
    {
        if (lines.Count > 32)
            throw Error(DaqErrorCodes.InvalidChannel, $"{lines.Count} lines in one task; at most 32 fit in a state word. Split the lines over tasks.");
        _regenerate = config.AllowRegeneration;
        if (config.Timing is not null)
            _buffer = new SimOutputBuffer<uint>(1, config.Timing.SamplesPerChannel, config.AllowRegeneration);
    }

    public bool IsStatic => _buffer is null;
    internal override bool IsOutput => true;

    public void WriteState(uint state)
    {
        lock (System.Sync)
        {
            EnterLocked();
            if (_buffer is not null)
                throw Error(DaqErrorCodes.InvalidAttributeValue, "WriteState is for static tasks; this task is buffered. Use Write(states), or create the task without Timing.");
            ApplyLocked(state, System.NowNs);
        }
    }

    public void Write(ReadOnlySpan<uint> states)
    {
        lock (System.Sync)
        {
            EnterLocked();
            if (_buffer is null)
                throw Error(DaqErrorCodes.InvalidAttributeValue, "Write(states) needs a buffered task (with Timing); this one is static. Use WriteState.");
            string? refused = _buffer.Write(states, State == SimTaskState.Running, _generated);
            if (refused is not null) throw Error(DaqErrorCodes.OutputBufferFull, refused);
        }
    }

    protected override void ValidateBeforeStartLocked()
    {
        if (_buffer is null)
            throw Error(DaqErrorCodes.InvalidAttributeValue, "a static task needs no Start(); set its lines with WriteState.");
        if (!_buffer.HasData)
            throw Error(DaqErrorCodes.OutputBufferEmpty, "cannot start: no states were written. Write the states before Start().");
    }

    protected override void ResetForStartLocked() => _generated = 0;

    internal override void Advance(double nowNs)
    {
        if (_buffer is null || State != SimTaskState.Running) return;
        long total = CountAtOrBefore(nowNs);
        DaqTiming timing = Timing!;
        bool finite = timing.Mode == DaqSampleMode.Finite;
        if (finite) total = Math.Min(total, timing.SamplesPerChannel);
        bool underflow = !_regenerate && total > _buffer.Written;
        long end = underflow ? _buffer.Written : total;
        for (long n = _generated; n < end; n++) ApplyLocked(_buffer.Value(0, n), SampleTimeNs(n));
        _generated = end;
        _buffer.Advance(end);
        if (underflow)
            FailLocked(Error(DaqErrorCodes.OutputUnderflow,
                $"output underflow at sample {end}: the sample clock ran past the {end} states written (lines hold the last one). Write ahead of the clock, enlarge Timing.SamplesPerChannel, or allow regeneration; then stop and start the task."));
        else if (finite && end >= timing.SamplesPerChannel) FinishLocked();
    }

    protected override void OnStopLocked(double nowNs)
    {
        ApplyLocked(0, nowNs);
        _buffer?.ResetStream();
    }

    private void ApplyLocked(uint state, double timeNs)
    {
        for (int k = 0; k < PhysicalChannels.Count; k++)
            SimDevice.SetLineLocked(PhysicalChannels[k].Index, (state >> k & 1) != 0, (long)Math.Round(timeNs));
    }
}
