using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.FirmwareSim.Daq;

/// <summary>Simulated edge-timestamping counter (see <see cref="ICounterInputTask"/>): edges of the digital signal on
/// its input terminal, each reported as the index of the first tick of its sample clock at or after the edge.</summary>
internal sealed class SimCounterInputTask : SimTask, ICounterInputTask
{
    private readonly string _input;
    private readonly DaqEdge _edge;
    private readonly long[] _ring;
    private readonly List<long> _edgeTimes = [];
    private long _count;
    private long _read;
    private double _seenUpToNs;

    public SimCounterInputTask(SimulatedDaqSystem system, SimulatedDaqDevice device, CounterInputConfig config,
        IReadOnlyList<PhysicalChannel> channels, string inputTerminal)
        : base(system, device, config.Name, channels[0].Prefix + channels[0].Index, channels, config.Timing, config.StartTrigger,
            device.TimebaseHz, "Timing.SampleRateHz (counter)")
    {
        _input = inputTerminal;
        _edge = config.Edge;
        _ring = new long[config.Timing.SamplesPerChannel];
    }

    internal override bool IsOutput => false;

    public long EdgeCount { get { lock (System.Sync) { System.CatchUpLocked(); return _count; } } }

    protected override void ResetForStartLocked()
    {
        _count = 0;
        _read = 0;
    }

    protected override void OnBeganLocked() => _seenUpToNs = StartNs - PeriodNs;

    internal override void Advance(double nowNs)
    {
        if (State != SimTaskState.Running) return;
        long ticks = CountAtOrBefore(nowNs);
        if (ticks == 0) return;
        double lastTick = SampleTimeNs(ticks - 1);
        if (lastTick <= _seenUpToNs) return;
        IDigitalSignal? signal = SimDevice.DigitalSourceFor(_input);
        _edgeTimes.Clear();
        signal?.CollectEdges((long)Math.Floor(_seenUpToNs), (long)Math.Floor(lastTick), _edge, _edgeTimes);
        _seenUpToNs = Math.Floor(lastTick);
        _edgeTimes.Sort();
        foreach (long t in _edgeTimes)
        {
            if (_count - _read >= _ring.Length)
            {
                FailLocked(Error(DaqErrorCodes.InputBufferOverflow,
                    $"edge buffer overflow: {_ring.Length} edge timestamps were waiting unread when edge {_count} arrived. Read edges faster or enlarge the buffer (Timing.SamplesPerChannel); stop and start the task to go on."));
                return;
            }
            long index = Math.Max(0, (long)Math.Ceiling((t - StartNs) / PeriodNs));
            _ring[_count % _ring.Length] = index;
            _count++;
        }
    }

    public int ReadEdges(Span<long> destination, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        long deadline = SimulatedDaqSystem.DeadlineHostNs(timeout);
        lock (System.Sync)
        {
            while (true)
            {
                EnterLocked();
                int n = (int)Math.Min(_count - _read, destination.Length);
                if (n > 0)
                {
                    for (int i = 0; i < n; i++) destination[i] = _ring[(_read + i) % _ring.Length];
                    _read += n;
                    return n;
                }
                if (destination.IsEmpty || State != SimTaskState.Running && State != SimTaskState.Armed) return 0;
                double next = State == SimTaskState.Running ? SampleTimeNs(CountAtOrBefore(System.NowNs)) : double.NaN;
                if (!System.WaitLocked(next, deadline, cancellationToken)) return 0;
            }
        }
    }
}
