using ClosedLoop.Interop.NiDaqmx;

namespace ClosedLoop.Interop.NiDaqmx.Tests;

/// <summary>One recorded driver call: the NI function name, the task handle (0 for system calls) and its arguments.</summary>
internal sealed record FakeCall(string Function, nint Task, object?[] Args);

/// <summary>
/// A stand-in for the NI-DAQmx library: records every call, returns 0 unless a status was queued for that function,
/// and serves chosen data (devices, available samples, raw codes, counter values, read position).
/// </summary>
internal sealed class FakeNiDaqmxApi : INiDaqmxApi
{
    private readonly Dictionary<string, Queue<int>> _statuses = [];
    private nint _nextHandle = 0x1000;

    public List<FakeCall> Calls { get; } = [];
    public uint MajorVersion { get; set; } = 23;
    public uint MinorVersion { get; set; } = 5;
    public string DeviceNames { get; set; } = "Dev1";
    public string ExtendedErrorInfo { get; set; } = "";
    public double SampleClockRateHz { get; set; } = 1_000_000;
    public double[] ScalingCoefficients { get; set; } = [0.0012, 0.000312, 0, 0];
    public uint WriteSpace { get; set; } = 100_000;
    public ulong Generated { get; set; }

    /// <summary>Blocks of raw AI codes (interleaved) handed out by successive reads.</summary>
    public Queue<short[]> AiBlocks { get; } = new();

    /// <summary>Blocks of counter values handed out by successive reads.</summary>
    public Queue<uint[]> CounterBlocks { get; } = new();

    /// <summary>Samples per channel per scan, to convert AI blocks into scans.</summary>
    public int AiChannels { get; set; } = 1;

    /// <summary>Read position (samples per channel already read), advanced by reads.</summary>
    public ulong ReadPosition { get; set; }

    /// <summary>Makes the next call of <paramref name="function"/> return <paramref name="status"/>.</summary>
    public void Queue(string function, int status)
    {
        if (!_statuses.TryGetValue(function, out var q)) _statuses[function] = q = new Queue<int>();
        q.Enqueue(status);
    }

    public IEnumerable<FakeCall> CallsTo(string function) => Calls.Where(c => c.Function == function);

    private int Record(string function, nint task, params object?[] args)
    {
        Calls.Add(new FakeCall(function, task, args));
        return _statuses.TryGetValue(function, out var q) && q.Count > 0 ? q.Dequeue() : 0;
    }

    public int CreateTask(string name, out nint task)
    {
        task = _nextHandle++;
        return Record("DAQmxCreateTask", task, name);
    }

    public int StartTask(nint task) => Record("DAQmxStartTask", task);
    public int StopTask(nint task) => Record("DAQmxStopTask", task);
    public int ClearTask(nint task) => Record("DAQmxClearTask", task);

    public int CreateAOVoltageChan(nint task, string physicalChannel, double minV, double maxV, int units) =>
        Record("DAQmxCreateAOVoltageChan", task, physicalChannel, minV, maxV, units);

    public int CreateAIVoltageChan(nint task, string physicalChannel, int terminalConfig, double minV, double maxV, int units) =>
        Record("DAQmxCreateAIVoltageChan", task, physicalChannel, terminalConfig, minV, maxV, units);

    public int CreateDOChan(nint task, string lines, int lineGrouping) => Record("DAQmxCreateDOChan", task, lines, lineGrouping);

    public int CreateCICountEdgesChan(nint task, string counter, int edge, uint initialCount, int countDirection) =>
        Record("DAQmxCreateCICountEdgesChan", task, counter, edge, initialCount, countDirection);

    public int SetCICountEdgesTerm(nint task, string channel, string terminal) => Record("DAQmxSetCICountEdgesTerm", task, channel, terminal);

    public int CfgSampClkTiming(nint task, string? source, double rateHz, int activeEdge, int sampleMode, ulong samplesPerChannel) =>
        Record("DAQmxCfgSampClkTiming", task, source, rateHz, activeEdge, sampleMode, samplesPerChannel);

    public int CfgDigEdgeStartTrig(nint task, string source, int edge) => Record("DAQmxCfgDigEdgeStartTrig", task, source, edge);
    public int SetWriteRegenMode(nint task, int mode) => Record("DAQmxSetWriteRegenMode", task, mode);
    public int CfgInputBuffer(nint task, uint samplesPerChannel) => Record("DAQmxCfgInputBuffer", task, samplesPerChannel);
    public int CfgOutputBuffer(nint task, uint samplesPerChannel) => Record("DAQmxCfgOutputBuffer", task, samplesPerChannel);

    public int WriteAnalogF64(nint task, int samplesPerChannel, bool autoStart, double timeoutS, int dataLayout, ReadOnlySpan<double> data, out int written)
    {
        written = samplesPerChannel;
        return Record("DAQmxWriteAnalogF64", task, samplesPerChannel, autoStart, timeoutS, dataLayout, data.ToArray());
    }

    public int WriteDigitalU32(nint task, int samplesPerChannel, bool autoStart, double timeoutS, int dataLayout, ReadOnlySpan<uint> data, out int written)
    {
        written = samplesPerChannel;
        return Record("DAQmxWriteDigitalU32", task, samplesPerChannel, autoStart, timeoutS, dataLayout, data.ToArray());
    }

    public int ReadBinaryI16(nint task, int samplesPerChannel, double timeoutS, int fillMode, Span<short> destination, out int read)
    {
        int status = Record("DAQmxReadBinaryI16", task, samplesPerChannel, timeoutS, fillMode, destination.Length);
        read = 0;
        if (status < 0 || AiBlocks.Count == 0) return status;
        short[] block = AiBlocks.Dequeue();
        block.CopyTo(destination);
        read = block.Length / AiChannels;
        ReadPosition += (ulong)read;
        return status;
    }

    public int ReadCounterU32(nint task, int samplesPerChannel, double timeoutS, Span<uint> destination, out int read)
    {
        int status = Record("DAQmxReadCounterU32", task, samplesPerChannel, timeoutS, destination.Length);
        read = 0;
        if (status < 0 || CounterBlocks.Count == 0) return status;
        uint[] block = CounterBlocks.Dequeue();
        block.CopyTo(destination);
        read = block.Length;
        return status;
    }

    public int GetReadAvailSampPerChan(nint task, out uint available)
    {
        if (AiBlocks.Count > 0) available = (uint)(AiBlocks.Peek().Length / AiChannels);
        else if (CounterBlocks.Count > 0) available = (uint)CounterBlocks.Peek().Length;
        else available = 0;
        return Record("DAQmxGetReadAvailSampPerChan", task);
    }

    public int GetReadCurrReadPos(nint task, out ulong position)
    {
        position = ReadPosition;
        return Record("DAQmxGetReadCurrReadPos", task);
    }

    public int GetReadTotalSampPerChanAcquired(nint task, out ulong acquired)
    {
        acquired = ReadPosition;
        return Record("DAQmxGetReadTotalSampPerChanAcquired", task);
    }

    public int GetWriteSpaceAvail(nint task, out uint space)
    {
        space = WriteSpace;
        return Record("DAQmxGetWriteSpaceAvail", task);
    }

    public int GetWriteTotalSampPerChanGenerated(nint task, out ulong generated)
    {
        generated = Generated;
        return Record("DAQmxGetWriteTotalSampPerChanGenerated", task);
    }

    public int GetSampClkRate(nint task, out double rateHz)
    {
        rateHz = SampleClockRateHz;
        return Record("DAQmxGetSampClkRate", task);
    }

    public int GetAIDevScalingCoeff(nint task, string channel, out double[] coefficients)
    {
        coefficients = ScalingCoefficients;
        return Record("DAQmxGetAIDevScalingCoeff", task, channel);
    }

    public string GetExtendedErrorInfo()
    {
        Record("DAQmxGetExtendedErrorInfo", 0);
        return ExtendedErrorInfo;
    }

    public string GetErrorString(int code)
    {
        Record("DAQmxGetErrorString", 0, code);
        return $"status {code}";
    }

    public int GetSysNIDAQMajorVersion(out uint major)
    {
        major = MajorVersion;
        return Record("DAQmxGetSysNIDAQMajorVersion", 0);
    }

    public int GetSysNIDAQMinorVersion(out uint minor)
    {
        minor = MinorVersion;
        return Record("DAQmxGetSysNIDAQMinorVersion", 0);
    }

    public int GetSysDevNames(out string names)
    {
        names = DeviceNames;
        return Record("DAQmxGetSysDevNames", 0);
    }

    public int GetDeviceString(DeviceStringProperty property, string device, out string value)
    {
        value = property switch
        {
            DeviceStringProperty.ProductType => "PCIe-6363",
            DeviceStringProperty.AIPhysicalChans => $"{device}/ai0, {device}/ai1",
            DeviceStringProperty.AOPhysicalChans => $"{device}/ao0, {device}/ao1",
            DeviceStringProperty.DOLines => $"{device}/port0/line0, {device}/port0/line1",
            DeviceStringProperty.CIPhysicalChans => $"{device}/ctr0",
            _ => $"/{device}/PFI0, /{device}/ai/SampleClock",
        };
        return Record("DAQmxGetDev" + property, 0, device);
    }

    public int GetDeviceRanges(DeviceRangeProperty property, string device, out double[] minMaxPairs)
    {
        minMaxPairs = [-5, 5, -10, 10, 0, 0];
        return Record("DAQmxGetDev" + property, 0, device);
    }

    public int GetDeviceDouble(DeviceDoubleProperty property, string device, out double value)
    {
        value = property == DeviceDoubleProperty.AOMaxRate ? 2_860_000 : 2_000_000;
        return Record("DAQmxGetDev" + property, 0, device);
    }
}
