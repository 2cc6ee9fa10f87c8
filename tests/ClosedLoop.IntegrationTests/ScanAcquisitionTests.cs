using ClosedLoop.Cli.Rigs;
using ClosedLoop.Core;
using ClosedLoop.Hardware;

namespace ClosedLoop.IntegrationTests;

public class ScanAcquisitionTests
{
    /// <summary>Captures copies of the frames the source delivers.</summary>
    internal sealed class Capture(int keep) : IFastStage
    {
        public readonly List<ushort[]> Frames = new();
        public string Name => "capture";
        public void Start(RunContext context) { }
        public void Process(Frame frame) { if (Frames.Count < keep) Frames.Add(frame.Pixels.ToArray()); }
        public void Stop() { }
    }

    internal static (ScanRig Rig, Capture Capture, RunResult Result) Acquire(int frames, string profileName = "sim-resonant")
    {
        var profile = HardwareProfileLoader.Parse(HardwareProfileLoader.ReadBuiltin(profileName)!, profileName + ".yaml");
        var rig = ScanRig.Build(profile, frames, SimulationPacing.Fast);
        var capture = new Capture(frames);
        var pipeline = new RunPipeline(rig.Source, new IFastStage[] { capture }, new PipelineSettings { WarmupFrames = 0 });
        using var stop = new CancellationTokenSource();
        var result = pipeline.Run(new RunContext("resonant", rig.Source.FrameRateHz, new RunEventLog(), stop), stop, CancellationToken.None);
        return (rig, capture, result);
    }

    [Fact]
    public void Run_SimulatedGalvoGalvoRig_AssemblesFramesThatShowTheTissue()
    {
        var (rig, capture, result) = Acquire(3, "sim-galvo");
        using var _ = rig;

        Assert.Equal(RunOutcome.Completed, result.Outcome);
        var expected = new float[rig.Tissue!.WidthPx * rig.Tissue.HeightPx];
        rig.Tissue!.AdvanceExpected(expected);
        double r = Correlation(capture.Frames[^1], expected);
        Assert.True(r > 0.5, $"assembled frame correlates {r:0.000} with the tissue image");
    }

    [Fact]
    public void Run_SimulatedResonantRig_AssemblesFramesThatShowTheTissue()
    {
        var (rig, capture, result) = Acquire(6);
        using var _ = rig;

        Assert.Equal(RunOutcome.Completed, result.Outcome);
        Assert.Equal(6, capture.Frames.Count);
        // Compare the last assembled frame with the tissue's noise-free image: somata must be where the tissue has them.
        var tissue = rig.Tissue!;
        var expected = new float[tissue.WidthPx * tissue.HeightPx];
        tissue.AdvanceExpected(expected); // the run is over: this is the same field one frame later
        var frame = capture.Frames[^1];
        double r = Correlation(frame, expected);
        if (Environment.GetEnvironmentVariable("CLOSEDLOOP_DUMP") is string dump)
        {
            File.WriteAllBytes(dump + ".frame.raw", frame.SelectMany(BitConverter.GetBytes).ToArray());
            File.WriteAllBytes(dump + ".expected.raw", expected.SelectMany(BitConverter.GetBytes).ToArray());
        }
        Assert.True(r > 0.5, $"assembled frame correlates {r:0.000} with the tissue image");
        Assert.Equal(0, rig.Source.Assembler.Sync.TotalMissed);
        // The mirror lags its line clock by 400 ns = 4 samples at 10 MS/s; the acquisition found it from the data.
        double lagSamples = ScanRig.MirrorLagNs * 1e-9 * rig.Source.Config.AiRateHz;
        Assert.InRange(rig.Source.Map.PhaseSamples, lagSamples - 0.5, lagSamples + 0.5);
    }

    [Fact]
    public void Run_DetectorStreamStalls_FaultsWithShutterClosed()
    {
        // The same rig, but nothing advances the simulated device's clock: no sample ever arrives.
        var (rig, _, _) = Acquire(1);
        using var _ = rig;
        var stalled = new ClosedLoop.Scanning.Acquisition.DaqScanSource(rig.Daq, rig.Source.Config, frameLimit: 5);
        var pipeline = new RunPipeline(stalled, new IFastStage[] { new Capture(1) }, new PipelineSettings());
        using var stop = new CancellationTokenSource();

        var result = pipeline.Run(new RunContext("stall", 30, new RunEventLog(), stop), stop, CancellationToken.None);

        Assert.Equal(RunOutcome.Faulted, result.Outcome);
        Assert.Contains("stalled", result.FaultMessage);
        var shutter = ((ClosedLoop.FirmwareSim.Daq.SimulatedDaqSystem)rig.Daq).Device("Dev1").LineHistory(0);
        Assert.True(shutter.Count >= 2 && shutter[^2].High && !shutter[^1].High, "the shutter opened for the run and closed at the fault");
        Assert.False(((ClosedLoop.FirmwareSim.Daq.SimulatedDaqSystem)rig.Daq).Device("Dev1").LineState(0));
    }

    [Fact]
    public void Run_DetectorBufferOverflows_FaultsNamingTheOverflowWithShutterClosed()
    {
        // The reader falls far behind: the device's clock jumps ten seconds ahead before the first read, so unread
        // samples are overwritten in its half-second buffer.
        var (rig, _, _) = Acquire(1);
        using var _ = rig;
        var daq = (ClosedLoop.FirmwareSim.Daq.SimulatedDaqSystem)rig.Daq;
        var late = new ClosedLoop.Scanning.Acquisition.DaqScanSource(daq, rig.Source.Config, frameLimit: 5,
            pace: _ => daq.AdvanceTo(daq.NowNs + 10_000_000_000));
        var pipeline = new RunPipeline(late, new IFastStage[] { new Capture(1) }, new PipelineSettings());
        using var stop = new CancellationTokenSource();

        var result = pipeline.Run(new RunContext("overflow", 30, new RunEventLog(), stop), stop, CancellationToken.None);

        Assert.Equal(RunOutcome.Faulted, result.Outcome);
        Assert.Contains("overflow", result.FaultMessage);
        Assert.False(daq.Device("Dev1").LineState(0));
    }

    [Fact]
    public void Constructor_BidirectionalFrameWithOddLineCount_RefusedNamingFlyback()
    {
        var (rig, _, _) = Acquire(1);
        using var _ = rig;
        var config = rig.Source.Config with { FlybackLines = rig.Source.Config.FlybackLines + 1 };
        var ex = Assert.Throws<SettingException>(() => new ClosedLoop.Scanning.Acquisition.DaqScanSource(rig.Daq, config));
        Assert.Contains("scan.flybackLines", ex.Message);
        Assert.Contains("forward line", ex.Message);
    }

    private static double Correlation(ushort[] a, float[] b)
    {
        double ma = a.Average(x => (double)x), mb = b.Average(x => (double)x), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Length; i++) { double x = a[i] - ma, y = b[i] - mb; sab += x * y; saa += x * x; sbb += y * y; }
        return sab / Math.Sqrt(saa * sbb);
    }
}
