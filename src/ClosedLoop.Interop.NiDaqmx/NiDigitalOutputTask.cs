using System.Globalization;
using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.Interop.NiDaqmx;

/// <summary>
/// DO lines on NI-DAQmx as one channel for all lines (DAQmxCreateDOChan, DAQmx_Val_ChanForAllLines) written with
/// DAQmxWriteDigitalU32. NI places each line at its bit in the port (line5 is bit 5), while the contract puts task line
/// k at bit k, so states are remapped; all lines must be on one port. Static tasks write at once; buffered tasks are
/// clocked like AO. Stop drives the lines low.
/// </summary>
internal sealed class NiDigitalOutputTask : NiTask, IDigitalOutputTask
{
    /// <summary>Time allowed for an on-demand (static or zeroing) write.</summary>
    private const double OnDemandTimeoutS = 10;

    private readonly DigitalOutputConfig _config;
    private readonly int[] _portBit;
    private bool _stateWritten;

    public NiDigitalOutputTask(NiDaqmxSystem system, DigitalOutputConfig config)
        : base(system, config.Name, "do", DaqChannels.Parse(config.Lines), config.Timing, config.Timing is null ? null : config.StartTrigger)
    {
        _config = config;
        var lines = DaqChannels.Parse(config.Lines);
        if (lines.Count > 32 || lines.Any(l => !l.Prefix.EndsWith("/line", StringComparison.Ordinal) || l.Prefix != lines[0].Prefix || l.Index > 31))
            throw Error(DaqErrorCodes.InvalidChannel,
                $"Lines = '{config.Lines}' must be up to 32 lines of one port, e.g. Dev1/port0/line0:7.");
        _portBit = lines.Select(l => l.Index).ToArray();
        Create();
    }

    public bool IsStatic => _config.Timing is null;

    protected override bool RequiresZeroOnStop => IsStatic && _stateWritten;

    protected override void Configure()
    {
        using (var lease = Lease())
            Check(Api.CreateDOChan(lease.Handle, ChannelList, DaqmxConstants.ValChanForAllLines), "DAQmxCreateDOChan");
        if (_config.Timing is not { } timing) return;
        ConfigureTiming(timing, timing.SampleClockSource, DaqmxConstants.ValRising);
        using (var lease = Lease())
        {
            Check(Api.SetWriteRegenMode(lease.Handle, _config.AllowRegeneration ? DaqmxConstants.ValAllowRegen : DaqmxConstants.ValDoNotAllowRegen),
                "DAQmxSetWriteRegenMode");
            if (!_config.AllowRegeneration)
                Check(Api.CfgOutputBuffer(lease.Handle, (uint)timing.SamplesPerChannel), "DAQmxCfgOutputBuffer");
        }
        ConfigureTrigger();
        ReadBackRate();
    }

    /// <summary>Moves task line k (bit k of <paramref name="state"/>) to its bit in the port.</summary>
    internal uint ToPort(uint state)
    {
        uint port = 0;
        for (int k = 0; k < _portBit.Length; k++)
            if ((state & (1u << k)) != 0) port |= 1u << _portBit[k];
        return port;
    }

    public void WriteState(uint state)
    {
        ThrowIfDisposed();
        if (!IsStatic)
            throw Error(DaqErrorCodes.InvalidAttributeValue, "WriteState is for static tasks; this task is buffered, use Write.");
        ReadOnlySpan<uint> one = [ToPort(state)];
        int status;
        using (var lease = Lease())
            status = Api.WriteDigitalU32(lease.Handle, 1, autoStart: true, OnDemandTimeoutS, DaqmxConstants.ValGroupByScanNumber, one, out _);
        Check(status, "DAQmxWriteDigitalU32");
        _stateWritten = true;
    }

    public void Write(ReadOnlySpan<uint> states)
    {
        ThrowIfDisposed();
        if (IsStatic)
            throw Error(DaqErrorCodes.InvalidAttributeValue, "Write is for buffered tasks; this task is static, use WriteState.");
        if (states.IsEmpty) return;
        var port = new uint[states.Length];
        for (int i = 0; i < states.Length; i++) port[i] = ToPort(states[i]);
        if (!_config.AllowRegeneration)
        {
            uint space;
            using (var lease = Lease()) Check(Api.GetWriteSpaceAvail(lease.Handle, out space), "DAQmxGetWriteSpaceAvail");
            if (states.Length > space)
                throw Error(DaqErrorCodes.OutputBufferFull, string.Create(CultureInfo.InvariantCulture,
                    $"{states.Length} states do not fit in the {space} free. Write at most the free space at a time."));
        }
        double timeoutS = IsRunning && _config.AllowRegeneration ? 2 * states.Length / SampleRateHz + 1 : 0;
        int status;
        using (var lease = Lease())
            status = Api.WriteDigitalU32(lease.Handle, states.Length, autoStart: false, timeoutS, DaqmxConstants.ValGroupByScanNumber, port, out _);
        if (status is DaqErrorCodes.OutputUnderflow or DaqErrorCodes.OutputFifoUnderflow) MarkStopped();
        Check(status, "DAQmxWriteDigitalU32");
    }

    protected override void OnStopped()
    {
        ReadOnlySpan<uint> low = [0u];
        if (IsStatic)
        {
            int status;
            using (var lease = Lease())
                status = Api.WriteDigitalU32(lease.Handle, 1, autoStart: true, OnDemandTimeoutS, DaqmxConstants.ValGroupByScanNumber, low, out _);
            Check(status, "DAQmxWriteDigitalU32");
            _stateWritten = false;
            return;
        }
        uint[] zero = [0u];
        WithOnDemandTask(
            t => Check(Api.CreateDOChan(t, ChannelList, DaqmxConstants.ValChanForAllLines), "DAQmxCreateDOChan"),
            t => Api.WriteDigitalU32(t, 1, autoStart: true, OnDemandTimeoutS, DaqmxConstants.ValGroupByScanNumber, zero, out _),
            "DAQmxWriteDigitalU32");
    }
}
