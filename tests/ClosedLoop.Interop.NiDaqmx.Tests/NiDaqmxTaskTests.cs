using ClosedLoop.Hardware.Daq;
using ClosedLoop.Interop.NiDaqmx;

namespace ClosedLoop.Interop.NiDaqmx.Tests;

public class NiDaqmxTaskTests
{
    private readonly FakeNiDaqmxApi _api = new();
    private readonly NiDaqmxSystem _system;

    public NiDaqmxTaskTests() => _system = new NiDaqmxSystem(_api, new NiDaqmxOptions { ReadPollInterval = TimeSpan.FromMilliseconds(1) });

    private static AnalogOutputConfig Ao(bool regen = true, DaqStartTrigger? trigger = null, string? clock = null) =>
        new("galvo", "Dev1/ao0:1", new DaqRange(-5, 5), new DaqTiming(500_000, 1000, DaqSampleMode.Continuous, clock), regen, trigger);

    private static AnalogInputConfig Ai(int channels = 2) =>
        new("pmt", channels == 2 ? "Dev1/ai0:1" : "Dev1/ai0", new DaqRange(-10, 10), new DaqTiming(1_000_000, 4096));

    [Fact]
    public void CreateAnalogOutputTask_Config_IssuesChannelTimingAndRegenerationCalls()
    {
        using var task = _system.CreateAnalogOutputTask(Ao(clock: "/Dev1/ai/SampleClock"));

        nint handle = _api.CallsTo("DAQmxCreateTask").Single().Task;
        Assert.Equal("galvo", _api.CallsTo("DAQmxCreateTask").Single().Args[0]);
        var chan = _api.CallsTo("DAQmxCreateAOVoltageChan").Single();
        Assert.Equal(handle, chan.Task);
        Assert.Equal(["Dev1/ao0,Dev1/ao1", -5.0, 5.0, 10348], chan.Args);
        var timing = _api.CallsTo("DAQmxCfgSampClkTiming").Single();
        Assert.Equal(["/Dev1/ai/SampleClock", 500_000.0, 10280, 10123, 1000UL], timing.Args);
        Assert.Equal([10097], _api.CallsTo("DAQmxSetWriteRegenMode").Single().Args);
        Assert.Equal(1_000_000, task.SampleRateHz); // read back from DAQmxGetSampClkRate
        Assert.Equal("/Dev1/ao/StartTrigger", task.StartTriggerTerminal);
    }

    [Fact]
    public void CreateAnalogOutputTask_Streaming_DisallowsRegenerationAndSizesBuffer()
    {
        using var task = _system.CreateAnalogOutputTask(Ao(regen: false));

        Assert.Equal([10158], _api.CallsTo("DAQmxSetWriteRegenMode").Single().Args);
        Assert.Equal([1000u], _api.CallsTo("DAQmxCfgOutputBuffer").Single().Args);
    }

    [Fact]
    public void CreateAnalogInputTask_StartTrigger_IssuesDigEdgeStartTrigWithTerminalAndEdge()
    {
        var config = Ai() with { StartTrigger = new DaqStartTrigger("/Dev1/ao/StartTrigger", DaqEdge.Falling) };

        using var task = _system.CreateAnalogInputTask(config);

        Assert.Equal(["/Dev1/ao/StartTrigger", 10171], _api.CallsTo("DAQmxCfgDigEdgeStartTrig").Single().Args);
        Assert.Equal([4096u], _api.CallsTo("DAQmxCfgInputBuffer").Single().Args);
        Assert.Equal(0.000312, task.VoltsPerCode); // linear term of DAQmx_AI_DevScalingCoeff
    }

    [Fact]
    public void Write_InterleavedSamples_PassesScansPerChannelByScanNumber()
    {
        using var task = _system.CreateAnalogOutputTask(Ao());
        double[] samples = [0.1, -0.1, 0.2, -0.2, 0.3, -0.3];

        task.Write(samples);

        var write = _api.CallsTo("DAQmxWriteAnalogF64").Single();
        Assert.Equal(3, write.Args[0]);      // samples per channel
        Assert.Equal(false, write.Args[1]);  // no auto-start
        Assert.Equal(1, write.Args[3]);      // DAQmx_Val_GroupByScanNumber
        Assert.Equal(samples, (double[])write.Args[4]!);
        Assert.Equal(3, task.SamplesWritten);
    }

    [Fact]
    public void Write_ValueOutsideRange_ThrowsOutputValueOutOfRangeWithoutCallingDriver()
    {
        using var task = _system.CreateAnalogOutputTask(Ao());

        var e = Assert.Throws<DaqException>(() => task.Write([0, 7.5]));

        Assert.Equal(DaqErrorCodes.OutputValueOutOfRange, e.Code);
        Assert.Empty(_api.CallsTo("DAQmxWriteAnalogF64"));
    }

    [Fact]
    public void Read_FakeData_ReturnsCodesAndContiguousFirstSampleIndex()
    {
        using var task = _system.CreateAnalogInputTask(Ai());
        _api.AiChannels = 2;
        _api.AiBlocks.Enqueue([1, -1, 2, -2]);
        _api.AiBlocks.Enqueue([3, -3, 4, -4, 5, -5]);
        task.Start();
        var buffer = new short[16];

        int first = task.Read(buffer, TimeSpan.FromSeconds(1), out long firstIndex1);
        short[] firstCodes = buffer[..4];
        int second = task.Read(buffer, TimeSpan.FromSeconds(1), out long firstIndex2);

        Assert.Equal(2, first);
        Assert.Equal([1, -1, 2, -2], firstCodes);
        Assert.Equal(0, firstIndex1);
        Assert.Equal(3, second);
        Assert.Equal([3, -3, 4, -4, 5, -5], buffer[..6]);
        Assert.Equal(2, firstIndex2);
        Assert.Equal(5, task.NextSampleIndex);
        Assert.Equal(1, _api.CallsTo("DAQmxReadBinaryI16").First().Args[2]); // GroupByScanNumber
    }

    [Fact]
    public void Read_NoSamplesBeforeTimeout_ReturnsZero()
    {
        using var task = _system.CreateAnalogInputTask(Ai());
        task.Start();

        int read = task.Read(new short[8], TimeSpan.FromMilliseconds(20), out _);

        Assert.Equal(0, read);
        Assert.Empty(_api.CallsTo("DAQmxReadBinaryI16"));
    }

    [Fact]
    public async Task Read_Cancelled_UnblocksWithOperationCanceled()
    {
        using var task = _system.CreateAnalogInputTask(Ai());
        task.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));

        var reading = Task.Run(() => task.Read(new short[8], TimeSpan.FromMinutes(5), out _, cts.Token));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void Start_NegativeStatus_ThrowsDaqExceptionWithCodeAndExtendedMessage()
    {
        using var task = _system.CreateAnalogOutputTask(Ao());
        _api.ExtendedErrorInfo = "Measurements: Requested value is not a supported value for this property.";
        _api.Queue("DAQmxStartTask", DaqErrorCodes.InvalidAttributeValue);

        var e = Assert.Throws<DaqException>(() => task.Start());

        Assert.Equal(DaqErrorCodes.InvalidAttributeValue, e.Code);
        Assert.Equal("Dev1", e.Device);
        Assert.Equal("galvo", e.Task);
        Assert.Contains("Requested value is not a supported value", e.Message);
        Assert.Contains("DAQmxStartTask", e.Message);
        int failed = _api.Calls.FindIndex(c => c.Function == "DAQmxStartTask");
        Assert.Equal("DAQmxGetExtendedErrorInfo", _api.Calls[failed + 1].Function); // copied before anything else
        Assert.False(task.IsRunning);
    }

    [Fact]
    public void Start_WarningStatus_DoesNotThrowAndIsReported()
    {
        var warnings = new List<NiDaqmxWarning>();
        using var system = new NiDaqmxSystem(_api, new NiDaqmxOptions { OnWarning = warnings.Add });
        using var task = system.CreateAnalogOutputTask(Ao());
        _api.Queue("DAQmxStartTask", 200_015);

        task.Start();

        Assert.True(task.IsRunning);
        Assert.Equal(1, system.WarningCount);
        Assert.Equal(200_015, Assert.Single(warnings).Code);
    }

    [Fact]
    public void Read_SamplesNoLongerAvailable_ThrowsInputBufferOverflow()
    {
        using var task = _system.CreateAnalogInputTask(Ai());
        _api.AiChannels = 2;
        _api.AiBlocks.Enqueue([1, 2]);
        _api.Queue("DAQmxReadBinaryI16", -200279);
        task.Start();

        var e = Assert.Throws<DaqException>(() => task.Read(new short[8], TimeSpan.FromSeconds(1), out _));

        Assert.Equal(DaqErrorCodes.InputBufferOverflow, e.Code);
        Assert.Contains("SamplesPerChannel", e.Message);
    }

    [Fact]
    public void Dispose_Twice_ClearsTaskOnce()
    {
        var task = _system.CreateAnalogInputTask(Ai());
        nint handle = _api.CallsTo("DAQmxCreateTask").Single().Task;

        task.Dispose();
        task.Dispose();

        Assert.Single(_api.CallsTo("DAQmxClearTask"), c => c.Task == handle);
        var e = Assert.Throws<DaqException>(() => task.Start());
        Assert.Equal(DaqErrorCodes.InvalidTask, e.Code);
    }

    [Fact]
    public void CreateAnalogInputTask_ChannelCreationFails_ClearsHandleAndThrows()
    {
        _api.Queue("DAQmxCreateAIVoltageChan", DaqErrorCodes.PhysicalChannelDoesNotExist);

        var e = Assert.Throws<DaqException>(() => _system.CreateAnalogInputTask(Ai()));

        Assert.Equal(DaqErrorCodes.PhysicalChannelDoesNotExist, e.Code);
        Assert.Single(_api.CallsTo("DAQmxClearTask"));
    }

    [Fact]
    public void Stop_RunningOutput_WritesZeroVoltsAfterStopping()
    {
        using var task = _system.CreateAnalogOutputTask(Ao());
        nint handle = _api.CallsTo("DAQmxCreateTask").Single().Task;
        task.Write([1, 1]);
        task.Start();

        task.Stop();

        int stop = _api.Calls.FindIndex(c => c.Function == "DAQmxStopTask" && c.Task == handle);
        var zero = _api.Calls.Skip(stop).Single(c => c.Function == "DAQmxWriteAnalogF64");
        Assert.NotEqual(handle, zero.Task); // a short-lived on-demand task on the same channels
        Assert.Equal([0.0, 0.0], (double[])zero.Args[4]!);
        Assert.Equal(true, zero.Args[1]);
        Assert.Contains(_api.CallsTo("DAQmxClearTask"), c => c.Task == zero.Task);
        Assert.False(task.IsRunning);
    }

    [Fact]
    public void ReadEdges_CountSamples_ReturnsAiSampleIndicesAcrossCounterWrap()
    {
        var config = new CounterInputConfig("lines", "Dev1/ctr0", "/Dev1/PFI0", DaqEdge.Rising,
            new DaqTiming(1_000_000, 10_000, DaqSampleMode.Continuous, "/Dev1/ai/SampleClock"));
        using var task = _system.CreateCounterInputTask(config);
        _api.CounterBlocks.Enqueue([125, 250]);
        _api.CounterBlocks.Enqueue([uint.MaxValue - 4, 120]);
        task.Start();
        var edges = new long[8];

        int n1 = task.ReadEdges(edges, TimeSpan.FromSeconds(1));
        long[] first = edges[..n1];
        int n2 = task.ReadEdges(edges, TimeSpan.FromSeconds(1));

        Assert.Equal(["Dev1/ctr0", "/Dev1/ai/SampleClock"], _api.CallsTo("DAQmxSetCICountEdgesTerm").Single().Args);
        Assert.Equal("/Dev1/PFI0", _api.CallsTo("DAQmxCfgSampClkTiming").Single().Args[0]);
        Assert.Equal([125L, 250L], first);
        Assert.Equal([(long)uint.MaxValue - 4, (long)uint.MaxValue + 1 + 120], edges[..n2]);
        Assert.Equal(4, task.EdgeCount);
    }

    [Fact]
    public void CreateCounterInputTask_NoTimestampClock_ThrowsNamingTheSetting()
    {
        var config = new CounterInputConfig("lines", "Dev1/ctr0", "/Dev1/PFI0", DaqEdge.Rising, new DaqTiming(1_000_000, 100));

        var e = Assert.Throws<DaqException>(() => _system.CreateCounterInputTask(config));

        Assert.Contains("Timing.SampleClockSource", e.Message);
    }

    [Fact]
    public void WriteState_LinesFromFour_MapsTaskBitsToPortLines()
    {
        using var task = _system.CreateDigitalOutputTask(new DigitalOutputConfig("shutter", "Dev1/port0/line4:5"));

        task.WriteState(0b10);

        Assert.Equal(["Dev1/port0/line4,Dev1/port0/line5", 1], _api.CallsTo("DAQmxCreateDOChan").Single().Args);
        var write = _api.CallsTo("DAQmxWriteDigitalU32").Single();
        Assert.Equal([1u << 5], (uint[])write.Args[4]!);
        Assert.True(task.IsStatic);
    }

    [Fact]
    public void Dispose_StaticLinesSet_DrivesLinesLow()
    {
        var task = _system.CreateDigitalOutputTask(new DigitalOutputConfig("shutter", "Dev1/port0/line0"));
        task.WriteState(1);

        task.Dispose();

        Assert.Equal([0u], (uint[])_api.CallsTo("DAQmxWriteDigitalU32").Last().Args[4]!);
    }
}
