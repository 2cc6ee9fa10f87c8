using ClosedLoop.FirmwareSim.Daq;
using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.FirmwareSim.Tests;

public class DaqOutputTests
{
    private const long LatencyNs = 1_000_000;

    private static SimulatedDaqSystem NewSystem() => new(new SimulatedDaqOptions { StartLatencyNs = LatencyNs });

    private static AnalogOutputConfig Ao(bool regenerate, int buffer = 4, string channels = "Dev1/ao0") =>
        new("galvo", channels, new DaqRange(-5, 5), new DaqTiming(1_000_000, buffer), regenerate);

    [Fact]
    public void Write_Regeneration_RepeatsBufferOnOutput()
    {
        using var sys = NewSystem();
        var ao = sys.CreateAnalogOutputTask(Ao(regenerate: true));
        ao.Write([0.0, 1.0, 2.0, 3.0]);
        ao.Start();
        sys.AdvanceTo(LatencyNs + 20_000);
        var dev = sys.Device("Dev1");
        for (int n = 0; n < 12; n++)
            Assert.Equal(n % 4, dev.AnalogOutputVoltage(0, LatencyNs + n * 1000.0));
        Assert.Equal(21, ao.SamplesGenerated);
    }

    [Fact]
    public void Write_WhileRegenerating_ReplacesWaveformAtNextPeriod()
    {
        using var sys = NewSystem();
        var ao = sys.CreateAnalogOutputTask(Ao(regenerate: true));
        ao.Write([0.0, 1.0, 2.0, 3.0]);
        ao.Start();
        sys.AdvanceTo(LatencyNs + 5_000); // samples 0..5 out; sample 5 is index 1 of period 2
        ao.Write([4.0, 4.0, 4.0, 4.0]);
        sys.AdvanceTo(LatencyNs + 20_000);
        var dev = sys.Device("Dev1");
        Assert.Equal(2.0, dev.AnalogOutputVoltage(0, LatencyNs + 6_000));
        Assert.Equal(3.0, dev.AnalogOutputVoltage(0, LatencyNs + 7_000));
        Assert.Equal(4.0, dev.AnalogOutputVoltage(0, LatencyNs + 8_000));
    }

    [Fact]
    public void Write_StreamingWriterFallsBehind_FaultsWithUnderflow()
    {
        using var sys = NewSystem();
        var ao = sys.CreateAnalogOutputTask(Ao(regenerate: false, buffer: 8));
        ao.Write([0.5, 0.5, 0.5, 0.5]);
        ao.Start();
        sys.AdvanceTo(LatencyNs + 2_000);
        ao.Write([1.0, 1.0]); // 6 written, 3 generated: still ahead
        sys.AdvanceTo(LatencyNs + 10_000);
        var ex = Assert.Throws<DaqException>(() => ao.Write([1.0]));
        Assert.Equal(DaqErrorCodes.OutputUnderflow, ex.Code);
        Assert.Contains("underflow at sample 6", ex.Message);
        Assert.Contains("galvo", ex.Message);
        Assert.False(ao.IsRunning);
        Assert.Equal(1.0, sys.Device("Dev1").AnalogOutputVoltage(0, LatencyNs + 9_000));
    }

    [Fact]
    public void Write_StreamingBeyondFreeSpace_RefusedAsBufferFull()
    {
        using var sys = NewSystem();
        var ao = sys.CreateAnalogOutputTask(Ao(regenerate: false, buffer: 4));
        ao.Write([0.0, 0.0, 0.0]);
        var ex = Assert.Throws<DaqException>(() => ao.Write([0.0, 0.0]));
        Assert.Equal(DaqErrorCodes.OutputBufferFull, ex.Code);
        Assert.Equal(1, ao.WriteSpaceAvailable);
    }

    [Fact]
    public void Write_ValueOutsideRange_RefusedNamingValueAndRange()
    {
        using var sys = NewSystem();
        var ao = sys.CreateAnalogOutputTask(Ao(regenerate: true, channels: "Dev1/ao0:1"));
        var ex = Assert.Throws<DaqException>(() => ao.Write([0.0, 0.0, 1.0, 7.5]));
        Assert.Equal(DaqErrorCodes.OutputValueOutOfRange, ex.Code);
        Assert.Contains("7.5 V", ex.Message);
        Assert.Contains("Dev1/ao1", ex.Message);
        Assert.Contains("[-5 V, 5 V]", ex.Message);
    }

    [Fact]
    public void Start_NothingWritten_RefusedAsBufferEmpty()
    {
        using var sys = NewSystem();
        var ao = sys.CreateAnalogOutputTask(Ao(regenerate: true));
        Assert.Equal(DaqErrorCodes.OutputBufferEmpty, Assert.Throws<DaqException>(ao.Start).Code);
    }

    [Fact]
    public void StopAndDispose_RunningOutputs_LeaveZeroVoltsAndLinesLow()
    {
        using var sys = NewSystem();
        var dev = sys.Device("Dev1");
        var ao = sys.CreateAnalogOutputTask(Ao(regenerate: true));
        ao.Write([2.0, 2.0, 2.0, 2.0]);
        var shutter = sys.CreateDigitalOutputTask(new DigitalOutputConfig("shutter", "Dev1/port0/line0:1"));
        shutter.WriteState(0b11);
        ao.Start();
        sys.AdvanceTo(LatencyNs + 10_000);
        Assert.Equal(2.0, dev.AnalogOutputVoltage(0, sys.NowNs));
        Assert.True(dev.LineState(1));

        ao.Stop();
        shutter.Dispose();
        Assert.Equal(0.0, dev.AnalogOutputVoltage(0, sys.NowNs));
        Assert.False(dev.LineState(0));
        Assert.False(dev.LineState(1));
        ao.Dispose();
        Assert.Equal(0.0, dev.AnalogOutputVoltage(0, sys.NowNs + 1_000));
        Assert.Equal(DaqErrorCodes.InvalidTask, Assert.Throws<DaqException>(() => ao.Write([0.0])).Code);
    }

    [Fact]
    public void Write_BufferedDigital_RecordsLineHistoryAtSampleTimes()
    {
        using var sys = NewSystem();
        var stim = sys.CreateDigitalOutputTask(new DigitalOutputConfig("stim", "Dev1/port0/line2",
            new DaqTiming(100_000, 4, DaqSampleMode.Finite)));
        stim.Write([0u, 1u, 1u, 0u]);
        stim.Start();
        sys.AdvanceTo(LatencyNs + 100_000);
        var history = sys.Device("Dev1").LineHistory(2);
        Assert.Equal([new DigitalTransition(LatencyNs + 10_000, true), new DigitalTransition(LatencyNs + 30_000, false)], history);
        Assert.False(stim.IsRunning);
    }

    [Fact]
    public void Write_InjectedFault_SurfacesOnNextWriteAndStopsTask()
    {
        using var sys = NewSystem();
        var ao = sys.CreateAnalogOutputTask(Ao(regenerate: false, buffer: 100));
        ao.Write([0.0, 0.0]);
        ao.Start();
        sys.Device("Dev1").InjectFault(new DaqException(-88709, "Dev1", "device was removed"));
        var ex = Assert.Throws<DaqException>(() => ao.Write([0.0]));
        Assert.Equal(-88709, ex.Code);
        Assert.False(ao.IsRunning);
    }
}
