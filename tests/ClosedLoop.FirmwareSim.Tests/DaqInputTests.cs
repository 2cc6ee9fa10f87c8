using ClosedLoop.FirmwareSim.Daq;
using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.FirmwareSim.Tests;

public class DaqInputTests
{
    private const long LatencyNs = 1_000_000;

    private static SimulatedDaqSystem NewSystem(params SimulatedDaqDeviceOptions[] devices) =>
        new(new SimulatedDaqOptions { StartLatencyNs = LatencyNs, Devices = devices });

    private static AnalogInputConfig Ai(string channels = "Dev1/ai0:1", int buffer = 1000, double rateHz = 1_000_000, DaqStartTrigger? trigger = null) =>
        new("pmt", channels, new DaqRange(-10, 10), new DaqTiming(rateHz, buffer), trigger);

    // Each channel reads its own sample index (as a code), so contiguity and interleaving are visible.
    private static void ConnectIndexSignals(SimulatedDaqDevice dev)
    {
        dev.ConnectAnalogInput(0, new FunctionSignal((b, n) => n * b.VoltsPerCode));
        dev.ConnectAnalogInput(1, new FunctionSignal((b, n) => -n * b.VoltsPerCode));
    }

    [Fact]
    public void Read_SuccessiveReads_DeliverContiguousInterleavedSamplesWithIndices()
    {
        using var sys = NewSystem();
        ConnectIndexSignals(sys.Device("Dev1"));
        var ai = sys.CreateAnalogInputTask(Ai());
        ai.Start();
        var buf = new short[2 * 300];
        long expected = 0;
        for (int step = 1; step <= 5; step++)
        {
            sys.AdvanceTo(LatencyNs + step * 137_000L);
            int n;
            while ((n = ai.Read(buf, TimeSpan.Zero, out long first)) > 0)
            {
                Assert.Equal(expected, first);
                for (int i = 0; i < n; i++)
                {
                    Assert.Equal((short)(first + i), buf[2 * i]);
                    Assert.Equal((short)-(first + i), buf[2 * i + 1]);
                }
                expected += n;
            }
        }
        Assert.Equal(5 * 137 + 1, expected);
        Assert.Equal(expected, ai.SamplesAcquired);
    }

    [Fact]
    public void Read_BeforeFirstSample_ReturnsNothingWithoutWaitingInManualMode()
    {
        using var sys = NewSystem();
        var ai = sys.CreateAnalogInputTask(Ai());
        ai.Start();
        sys.AdvanceTo(LatencyNs - 1);
        Assert.Equal(0, ai.Read(new short[20], TimeSpan.Zero, out long first));
        Assert.Equal(0, first);
        Assert.True(ai.IsRunning);
    }

    [Fact]
    public void Read_ReaderFallsBehindBuffer_OverflowNamesTaskAndRemedy()
    {
        using var sys = NewSystem();
        var ai = sys.CreateAnalogInputTask(Ai(buffer: 100));
        ai.Start();
        sys.AdvanceTo(LatencyNs + 50_000);
        var buf = new short[2 * 40];
        Assert.Equal(40, ai.Read(buf, TimeSpan.Zero, out _));
        sys.AdvanceTo(LatencyNs + 500_000);
        var ex = Assert.Throws<DaqException>(() => ai.Read(buf, TimeSpan.Zero, out _));
        Assert.Equal(DaqErrorCodes.InputBufferOverflow, ex.Code);
        Assert.Equal("Dev1", ex.Device);
        Assert.Contains("'pmt'", ex.Message);
        Assert.Contains("read faster", ex.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("enlarge the buffer", ex.Message);
        Assert.False(ai.IsRunning);
        Assert.Equal(40, ai.NextSampleIndex);
    }

    [Fact]
    public void Read_InjectedFault_SurfacesOnNextRead()
    {
        using var sys = NewSystem();
        var ai = sys.CreateAnalogInputTask(Ai());
        ai.Start();
        sys.Device("Dev1").InjectFault(new DaqException(DaqErrorCodes.DeviceFault, "Dev1", "PMT power supply tripped"));
        var ex = Assert.Throws<DaqException>(() => ai.Read(new short[10], TimeSpan.Zero, out _));
        Assert.Contains("PMT power supply tripped", ex.Message);
    }

    [Fact]
    public void Read_CancelledWhileWaiting_ThrowsOperationCanceled()
    {
        using var sys = NewSystem();
        var ai = sys.CreateAnalogInputTask(Ai());
        ai.Start();
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() => ai.Read(new short[10], TimeSpan.FromSeconds(30), out _, cts.Token));
    }

    [Fact]
    public void Create_RateBeyondDeviceMaximum_RefusedNamingMaximum()
    {
        using var sys = NewSystem();
        var ex = Assert.Throws<DaqException>(() => sys.CreateAnalogInputTask(Ai(rateHz: 5_000_000)));
        Assert.Equal(DaqErrorCodes.InvalidAttributeValue, ex.Code);
        Assert.Contains("2000000 Hz", ex.Message);
        Assert.Contains("5000000 Hz", ex.Message);
    }

    [Fact]
    public void Parse_ChannelRangesAndLists_ExpandInOrder()
    {
        Assert.Equal(["Dev1/ai0", "Dev1/ai1", "Dev1/ai2", "Dev1/ai3"], DaqChannels.Parse("Dev1/ai0:3").Select(c => c.Name));
        Assert.Equal(["Dev1/ao1", "Dev1/ao0"], DaqChannels.Parse("/Dev1/ao1:0").Select(c => c.Name));
        Assert.Equal(["Dev1/ai0", "Dev1/ai5", "Dev1/ai6"], DaqChannels.Parse("Dev1/ai0, Dev1/ai5:ai6").Select(c => c.Name));
        Assert.Equal(["Dev1/port0/line0", "Dev1/port0/line1"], DaqChannels.Parse("Dev1/port0/line0:1").Select(c => c.Name));
    }

    [Theory]
    [InlineData("")]
    [InlineData("ai0")]
    [InlineData("Dev1/ai")]
    [InlineData("Dev1/ai0:ao3")]
    [InlineData("Dev1/ai0,Dev1/ai0")]
    public void Parse_MalformedChannels_RefusedAsInvalidChannel(string text)
    {
        Assert.Equal(DaqErrorCodes.InvalidChannel, Assert.Throws<DaqException>(() => DaqChannels.Parse(text)).Code);
    }

    [Fact]
    public void Create_ChannelDeviceLacks_RefusedNamingChannel()
    {
        using var sys = NewSystem();
        var ex = Assert.Throws<DaqException>(() => sys.CreateAnalogInputTask(Ai(channels: "Dev1/ai30:33")));
        Assert.Equal(DaqErrorCodes.PhysicalChannelDoesNotExist, ex.Code);
        Assert.Contains("Dev1/ai32", ex.Message);
        Assert.Equal(DaqErrorCodes.PhysicalChannelDoesNotExist,
            Assert.Throws<DaqException>(() => sys.CreateAnalogInputTask(Ai(channels: "Dev1/ao0"))).Code);
        Assert.Equal(DaqErrorCodes.InvalidDevice,
            Assert.Throws<DaqException>(() => sys.CreateAnalogInputTask(Ai(channels: "Dev9/ai0"))).Code);
    }

    [Fact]
    public void Create_SecondBufferedAiTaskOnDevice_RefusedAsReserved()
    {
        using var sys = NewSystem();
        using var first = sys.CreateAnalogInputTask(Ai(channels: "Dev1/ai0"));
        var ex = Assert.Throws<DaqException>(() => sys.CreateAnalogInputTask(Ai(channels: "Dev1/ai1")));
        Assert.Equal(DaqErrorCodes.ResourceReserved, ex.Code);
    }
}
