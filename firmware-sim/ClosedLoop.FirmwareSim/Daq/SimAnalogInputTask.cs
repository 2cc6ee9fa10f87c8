using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.FirmwareSim.Daq;

/// <summary>Simulated continuous analog input (see <see cref="IAnalogInputTask"/>): a ring of raw codes filled from
/// the device's <see cref="IAnalogSignal"/> sources up to the current device time.</summary>
internal sealed class SimAnalogInputTask : SimTask, IAnalogInputTask
{
    private readonly int _capacity;
    private readonly short[] _ring;
    private readonly short[] _scratch;
    private long _filled;
    private long _read;

    public SimAnalogInputTask(SimulatedDaqSystem system, SimulatedDaqDevice device, AnalogInputConfig config,
        IReadOnlyList<PhysicalChannel> channels)
        : base(system, device, config.Name, "ai", channels, config.Timing, config.StartTrigger, device.MaxAiRateHz, "Timing.SampleRateHz (AI)")
    {
        if (!device.AiRangeV.Contains(config.Range))
            throw Error(DaqErrorCodes.InvalidAttributeValue,
                $"Range = {config.Range} is not allowed; it must lie within the device's AI range {device.AiRangeV} and have MinV < MaxV.");
        Range = config.Range;
        VoltsPerCode = Math.Max(Math.Abs(config.Range.MinV), Math.Abs(config.Range.MaxV)) / 32768.0;
        _capacity = config.Timing.SamplesPerChannel;
        _ring = new short[checked(_capacity * channels.Count)];
        _scratch = new short[_capacity];
    }

    public DaqRange Range { get; }
    public double VoltsPerCode { get; }
    internal override bool IsOutput => false;

    public long SamplesAcquired { get { lock (System.Sync) { System.CatchUpLocked(); return _filled; } } }
    public long NextSampleIndex { get { lock (System.Sync) { return _read; } } }

    protected override void ResetForStartLocked()
    {
        _filled = 0;
        _read = 0;
    }

    internal override void Advance(double nowNs)
    {
        if (State != SimTaskState.Running) return;
        long target = CountAtOrBefore(nowNs);
        DaqTiming timing = Timing!;
        bool finite = timing.Mode == DaqSampleMode.Finite;
        if (finite) target = Math.Min(target, timing.SamplesPerChannel);
        if (target - _read > _capacity)
        {
            long lostAt = _read + _capacity;
            FailLocked(Error(DaqErrorCodes.InputBufferOverflow,
                $"input buffer overflow at sample {lostAt}: the {_capacity}-sample buffer filled because the reader fell {target - _read - _capacity} samples per channel behind ({target} acquired, {_read} read). Read faster (more often or larger blocks) or enlarge the buffer (Timing.SamplesPerChannel); samples already read stay valid; stop and start the task to go on."));
            return;
        }
        int channels = PhysicalChannels.Count;
        while (_filled < target)
        {
            int slot = (int)(_filled % _capacity);
            int count = (int)Math.Min(target - _filled, _capacity - slot);
            for (int c = 0; c < channels; c++)
            {
                Span<short> block = _scratch.AsSpan(0, count);
                var info = new AnalogSignalBlock(SimDevice, PhysicalChannels[c].Name, _filled, SampleRateHz, StartNs, PeriodNs, Range, VoltsPerCode);
                IAnalogSignal? source = SimDevice.AnalogSourceFor(PhysicalChannels[c].Index);
                if (source is null) block.Clear();
                else source.Fill(info, block);
                for (int i = 0; i < count; i++) _ring[(slot + i) * channels + c] = block[i];
            }
            _filled += count;
        }
        if (finite && _filled >= timing.SamplesPerChannel) FinishLocked();
    }

    public int Read(Span<short> destination, TimeSpan timeout, out long firstSampleIndex, CancellationToken cancellationToken = default)
    {
        int channels = PhysicalChannels.Count;
        long deadline = SimulatedDaqSystem.DeadlineHostNs(timeout);
        lock (System.Sync)
        {
            while (true)
            {
                EnterLocked();
                firstSampleIndex = _read;
                long available = _filled - _read;
                int scans = (int)Math.Min(available, destination.Length / channels);
                if (scans > 0)
                {
                    for (int s = 0; s < scans; s++)
                    {
                        int slot = (int)((_read + s) % _capacity);
                        _ring.AsSpan(slot * channels, channels).CopyTo(destination.Slice(s * channels, channels));
                    }
                    _read += scans;
                    return scans;
                }
                if (destination.Length < channels || State != SimTaskState.Running && State != SimTaskState.Armed) return 0;
                double next = State == SimTaskState.Running ? SampleTimeNs(_filled) : double.NaN;
                if (!System.WaitLocked(next, deadline, cancellationToken)) return 0;
            }
        }
    }
}
