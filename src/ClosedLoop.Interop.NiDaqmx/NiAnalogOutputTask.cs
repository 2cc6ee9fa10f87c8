using System.Globalization;
using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.Interop.NiDaqmx;

/// <summary>
/// Buffered AO on NI-DAQmx: DAQmxCreateAOVoltageChan, DAQmxCfgSampClkTiming (source = Timing.SampleClockSource),
/// DAQmxSetWriteRegenMode, DAQmxCfgDigEdgeStartTrig, DAQmxWriteAnalogF64 interleaved by scan. Regenerating tasks let
/// the first writes set the buffer (the period); a running regenerating write must be one whole period. Streaming tasks
/// get a buffer of Timing.SamplesPerChannel and a write larger than the free space is refused. Stop writes 0 V.
/// </summary>
internal sealed class NiAnalogOutputTask : NiTask, IAnalogOutputTask
{
    /// <summary>Extra time a blocking regenerating write may take beyond two periods.</summary>
    private static readonly TimeSpan RegenerationWriteSlack = TimeSpan.FromSeconds(1);

    /// <summary>Time allowed for the single on-demand write that sets 0 V after a stop.</summary>
    private const double ZeroWriteTimeoutS = 10;

    private readonly AnalogOutputConfig _config;
    private long _samplesWritten;
    private long _periodSamples;

    public NiAnalogOutputTask(NiDaqmxSystem system, AnalogOutputConfig config)
        : base(system, config.Name, "ao", DaqChannels.Parse(config.PhysicalChannels), config.Timing, config.StartTrigger)
    {
        _config = config;
        if (!(config.Range.MinV < config.Range.MaxV))
            throw Error(DaqErrorCodes.InvalidAttributeValue, $"Range = {config.Range} is not allowed; MinV must be below MaxV.");
        Create();
    }

    public DaqRange Range => _config.Range;
    public bool AllowRegeneration => _config.AllowRegeneration;
    public long SamplesWritten => Interlocked.Read(ref _samplesWritten);

    public long SamplesGenerated
    {
        get
        {
            if (!IsRunning) return 0;
            using var lease = Lease();
            Check(Api.GetWriteTotalSampPerChanGenerated(lease.Handle, out ulong generated), "DAQmxGetWriteTotalSampPerChanGenerated");
            return (long)generated;
        }
    }

    public int WriteSpaceAvailable
    {
        get
        {
            using var lease = Lease();
            Check(Api.GetWriteSpaceAvail(lease.Handle, out uint space), "DAQmxGetWriteSpaceAvail");
            return (int)Math.Min(space, int.MaxValue);
        }
    }

    protected override void Configure()
    {
        using (var lease = Lease())
            Check(Api.CreateAOVoltageChan(lease.Handle, ChannelList, Range.MinV, Range.MaxV, DaqmxConstants.ValVolts), "DAQmxCreateAOVoltageChan");
        ConfigureTiming(_config.Timing, _config.Timing.SampleClockSource, DaqmxConstants.ValRising);
        using (var lease = Lease())
        {
            Check(Api.SetWriteRegenMode(lease.Handle, AllowRegeneration ? DaqmxConstants.ValAllowRegen : DaqmxConstants.ValDoNotAllowRegen),
                "DAQmxSetWriteRegenMode");
            // Regeneration: the samples written before start size the buffer (NI's default when no buffer is configured),
            // so one period repeats. Streaming: a fixed FIFO of SamplesPerChannel.
            if (!AllowRegeneration)
                Check(Api.CfgOutputBuffer(lease.Handle, (uint)_config.Timing.SamplesPerChannel), "DAQmxCfgOutputBuffer");
        }
        ConfigureTrigger();
        ReadBackRate();
    }

    public void Write(ReadOnlySpan<double> samples)
    {
        ThrowIfDisposed();
        RequireWholeScans(samples.Length);
        int scans = samples.Length / Channels.Count;
        if (scans == 0) return;
        for (int i = 0; i < samples.Length; i++)
        {
            if (!Range.Contains(samples[i]))
                throw Error(DaqErrorCodes.OutputValueOutOfRange, string.Create(CultureInfo.InvariantCulture,
                    $"value {samples[i]} V (sample {i / Channels.Count} of {Channels[i % Channels.Count]}) is outside the task's range {Range}. Scale the waveform into the range."));
        }
        double timeoutS = 0;
        if (AllowRegeneration && IsRunning)
        {
            if (scans != _periodSamples)
                throw Error(DaqErrorCodes.InvalidAttributeValue, string.Create(CultureInfo.InvariantCulture,
                    $"a write while regenerating must be one whole period of {_periodSamples} samples per channel, not {scans}."));
            // The driver only overwrites samples already generated, so the write lands at the next period boundary and
            // may wait up to a period for room.
            timeoutS = 2 * scans / SampleRateHz + RegenerationWriteSlack.TotalSeconds;
        }
        else if (!AllowRegeneration)
        {
            int space = WriteSpaceAvailable;
            if (scans > space)
                throw Error(DaqErrorCodes.OutputBufferFull, string.Create(CultureInfo.InvariantCulture,
                    $"{scans} samples per channel do not fit in the {space} free. Write at most WriteSpaceAvailable samples per channel at a time."));
        }
        else if (_samplesWritten + scans > _config.Timing.SamplesPerChannel)
        {
            throw Error(DaqErrorCodes.OutputBufferFull, string.Create(CultureInfo.InvariantCulture,
                $"the repeating buffer would hold {_samplesWritten + scans} samples per channel, more than Timing.SamplesPerChannel = {_config.Timing.SamplesPerChannel}."));
        }

        int status, written;
        using (var lease = Lease())
            status = Api.WriteAnalogF64(lease.Handle, scans, autoStart: false, timeoutS, DaqmxConstants.ValGroupByScanNumber, samples, out written);
        if (status is DaqErrorCodes.OutputUnderflow or DaqErrorCodes.OutputFifoUnderflow) MarkStopped();
        Check(status, "DAQmxWriteAnalogF64");
        Interlocked.Add(ref _samplesWritten, written);
        if (AllowRegeneration && !IsRunning) _periodSamples = _samplesWritten;
    }

    protected override void OnStopped()
    {
        Interlocked.Exchange(ref _samplesWritten, 0);
        _periodSamples = 0;
        double min = Math.Min(Range.MinV, 0), max = Math.Max(Range.MaxV, 0);
        var zeros = new double[Channels.Count];
        WithOnDemandTask(
            t => Check(Api.CreateAOVoltageChan(t, ChannelList, min, max, DaqmxConstants.ValVolts), "DAQmxCreateAOVoltageChan"),
            t => Api.WriteAnalogF64(t, 1, autoStart: true, ZeroWriteTimeoutS, DaqmxConstants.ValGroupByScanNumber, zeros, out _),
            "DAQmxWriteAnalogF64");
    }
}
