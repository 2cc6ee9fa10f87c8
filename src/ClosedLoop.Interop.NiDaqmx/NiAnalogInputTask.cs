using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.Interop.NiDaqmx;

/// <summary>
/// Buffered AI on NI-DAQmx: DAQmxCreateAIVoltageChan (default terminal configuration), DAQmxCfgSampClkTiming,
/// DAQmxCfgInputBuffer(SamplesPerChannel), DAQmxCfgDigEdgeStartTrig; reads raw codes with DAQmxReadBinaryI16 grouped by
/// scan. The first sample index of a read is DAQmx_Read_CurrReadPos; <see cref="VoltsPerCode"/> is the linear term of
/// the first channel's DAQmx_AI_DevScalingCoeff polynomial.
/// </summary>
internal sealed class NiAnalogInputTask : NiTask, IAnalogInputTask
{
    private readonly AnalogInputConfig _config;
    private long _nextSampleIndex;

    public NiAnalogInputTask(NiDaqmxSystem system, AnalogInputConfig config)
        : base(system, config.Name, "ai", DaqChannels.Parse(config.PhysicalChannels), config.Timing, config.StartTrigger)
    {
        _config = config;
        if (!(config.Range.MinV < config.Range.MaxV))
            throw Error(DaqErrorCodes.InvalidAttributeValue, $"Range = {config.Range} is not allowed; MinV must be below MaxV.");
        Create();
    }

    public DaqRange Range => _config.Range;
    public double VoltsPerCode { get; private set; }
    public long NextSampleIndex => Interlocked.Read(ref _nextSampleIndex);

    public long SamplesAcquired
    {
        get
        {
            if (!IsRunning) return 0;
            using var lease = Lease();
            Check(Api.GetReadTotalSampPerChanAcquired(lease.Handle, out ulong acquired), "DAQmxGetReadTotalSampPerChanAcquired");
            return (long)acquired;
        }
    }

    protected override void Configure()
    {
        using (var lease = Lease())
            Check(Api.CreateAIVoltageChan(lease.Handle, ChannelList, DaqmxConstants.ValCfgDefault, Range.MinV, Range.MaxV,
                DaqmxConstants.ValVolts), "DAQmxCreateAIVoltageChan");
        ConfigureTiming(_config.Timing, _config.Timing.SampleClockSource, DaqmxConstants.ValRising);
        if (_config.Timing.Mode == DaqSampleMode.Continuous)
        {
            using var lease = Lease();
            Check(Api.CfgInputBuffer(lease.Handle, (uint)_config.Timing.SamplesPerChannel), "DAQmxCfgInputBuffer");
        }
        ConfigureTrigger();
        ReadBackRate();
        VoltsPerCode = ReadVoltsPerCode();
    }

    /// <summary>NI converts a raw code to volts with a per-channel polynomial c0 + c1·code + …; the contract is linear,
    /// so the linear term c1 is reported (c0, a calibration offset of a few codes, is left out). If the driver gives no
    /// usable coefficient, the nominal range / 2^16 is used.</summary>
    private double ReadVoltsPerCode()
    {
        int status;
        double[] coefficients;
        using (var lease = Lease()) status = Api.GetAIDevScalingCoeff(lease.Handle, Channels[0], out coefficients);
        Check(status, "DAQmxGetAIDevScalingCoeff");
        if (coefficients.Length >= 2 && coefficients[1] > 0 && double.IsFinite(coefficients[1])) return coefficients[1];
        return (Range.MaxV - Range.MinV) / 65536.0;
    }

    protected override void OnStarting() => Interlocked.Exchange(ref _nextSampleIndex, 0);

    public int Read(Span<short> destination, TimeSpan timeout, out long firstSampleIndex, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        firstSampleIndex = NextSampleIndex;
        int scansFit = destination.Length / Channels.Count;
        if (scansFit == 0) return 0;
        uint available = PollAvailable(timeout, cancellationToken);
        if (available == 0) return 0;
        int scans = (int)Math.Min(available, (uint)scansFit);
        int status, read;
        ulong position;
        using (var lease = Lease())
        {
            status = Api.GetReadCurrReadPos(lease.Handle, out position);
            Check(status, "DAQmxGetReadCurrReadPos");
            status = Api.ReadBinaryI16(lease.Handle, scans, 0, DaqmxConstants.ValGroupByScanNumber,
                destination[..(scans * Channels.Count)], out read);
        }
        Check(status, "DAQmxReadBinaryI16");
        firstSampleIndex = (long)position;
        Interlocked.Exchange(ref _nextSampleIndex, firstSampleIndex + read);
        return read;
    }
}
