using System.Globalization;
using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.Interop.NiDaqmx;

/// <summary>
/// Edge timestamps on NI-DAQmx by counting the timestamping clock and sampling the count on each edge of the signal:
/// DAQmxCreateCICountEdgesChan on the counter, its count terminal (DAQmx_CI_CountEdges_Term) set to
/// <c>Timing.SampleClockSource</c> (the AI sample clock), and DAQmxCfgSampClkTiming with the <em>signal</em>
/// (<c>InputTerminal</c>, <c>Edge</c>) as the counter's sample clock. Each buffered sample is then the number of AI ticks
/// before that edge, which is the AI sample index of the first tick at or after it. One sample per edge (a few kHz for
/// a resonant line clock) instead of one per AI tick; the 32-bit count is unwrapped to 64 bits.
/// </summary>
internal sealed class NiCounterInputTask : NiTask, ICounterInputTask
{
    private readonly CounterInputConfig _config;
    private readonly string _counter;
    private uint[] _raw = [];
    private uint _lastRaw;
    private long _index;
    private long _edgesRead;

    public NiCounterInputTask(NiDaqmxSystem system, CounterInputConfig config)
        : base(system, config.Name, CounterKind(config), DaqChannels.Parse(config.Counter), config.Timing, config.StartTrigger)
    {
        _config = config;
        _counter = Channels[0];
        if (string.IsNullOrWhiteSpace(config.Timing.SampleClockSource))
            throw Error(DaqErrorCodes.InvalidAttributeValue,
                "Timing.SampleClockSource is required for an NI-DAQmx edge counter: set it to the AI task's SampleClockTerminal (e.g. /Dev1/ai/SampleClock), whose ticks the counter counts.");
        Create();
    }

    public long EdgeCount
    {
        get
        {
            if (!IsRunning) return Interlocked.Read(ref _edgesRead);
            uint available;
            using (var lease = Lease()) Check(Api.GetReadAvailSampPerChan(lease.Handle, out available), "DAQmxGetReadAvailSampPerChan");
            return Interlocked.Read(ref _edgesRead) + available;
        }
    }

    private static string CounterKind(CounterInputConfig config)
    {
        var channels = DaqChannels.Parse(config.Counter);
        if (channels.Count != 1 || channels[0].Prefix != "ctr")
            throw new DaqException(DaqErrorCodes.InvalidChannel, channels[0].Device,
                $"Counter = '{config.Counter}' must name one counter, e.g. Dev1/ctr0.", config.Name);
        return "ctr" + channels[0].Index.ToString(CultureInfo.InvariantCulture);
    }

    protected override void Configure()
    {
        using (var lease = Lease())
        {
            Check(Api.CreateCICountEdgesChan(lease.Handle, _counter, DaqmxConstants.ValRising, 0, DaqmxConstants.ValCountUp),
                "DAQmxCreateCICountEdgesChan");
            Check(Api.SetCICountEdgesTerm(lease.Handle, _counter, _config.Timing.SampleClockSource!), "DAQmxSetCICountEdgesTerm");
        }
        // The signal is the sample clock; NI takes the rate only as the expected maximum, so the timestamping clock's
        // rate (an upper bound on any edge rate it can resolve) is passed.
        ConfigureTiming(_config.Timing, _config.InputTerminal, DaqmxConstants.Edge(_config.Edge));
        using (var lease = Lease()) Check(Api.CfgInputBuffer(lease.Handle, (uint)_config.Timing.SamplesPerChannel), "DAQmxCfgInputBuffer");
        ConfigureTrigger();
        SampleRateHz = _config.Timing.SampleRateHz;
    }

    protected override void OnStarting()
    {
        _lastRaw = 0;
        _index = 0;
        Interlocked.Exchange(ref _edgesRead, 0);
    }

    public int ReadEdges(Span<long> destination, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (destination.IsEmpty) return 0;
        uint available = PollAvailable(timeout, cancellationToken);
        if (available == 0) return 0;
        int count = (int)Math.Min(available, (uint)destination.Length);
        if (_raw.Length < count) _raw = new uint[Math.Max(count, 256)];
        int status, read;
        using (var lease = Lease()) status = Api.ReadCounterU32(lease.Handle, count, 0, _raw.AsSpan(0, count), out read);
        Check(status, "DAQmxReadCounterU32");
        for (int i = 0; i < read; i++)
        {
            uint raw = _raw[i];
            _index += unchecked(raw - _lastRaw); // modular difference unwraps the 32-bit counter
            _lastRaw = raw;
            destination[i] = _index;
        }
        Interlocked.Add(ref _edgesRead, read);
        return read;
    }
}
