using ClosedLoop.Cli;
using ClosedLoop.Hardware;

namespace ClosedLoop.IntegrationTests;

public class MotionCorrectionRunTests
{
    [Fact]
    public void Run_ShippedMotionExperiment_ReportsCorrectedFramesAndWritesMotionCsv()
    {
        using var h = new Harness();
        // The shipped moving-tissue rig with a patient watchdog (a busy test machine must not end the run as a fault).
        string profile = Path.Combine(h.Folder, "rig-motion.yaml");
        File.WriteAllText(profile, HardwareProfileLoader.ReadBuiltin("sim-two-photon-motion")!.Replace("watchdogTimeoutMs: 250", "watchdogTimeoutMs: 5000"));

        var (code, report) = h.Run(profile, "builtin:stimulus-avoidance-motion", SimulationPacing.Fast, durationS: 3);

        Assert.Equal(ExitCodes.Ok, code);
        var motion = report!.Motion;
        Assert.NotNull(motion);
        Assert.Equal("rigid", motion.Mode);
        Assert.Equal(report.Frames.Processed, motion.Frames);
        Assert.Equal(report.Frames.Processed - 30, motion.FramesCorrected); // the first 30 frames build the reference
        Assert.True(motion.LowConfidenceFrames <= 2, $"{motion.LowConfidenceFrames} low-confidence frames");
        Assert.InRange(motion.RmsShiftPx, 0.2, 10); // the tissue moves ~2 px RMS per axis
        Assert.Contains("motion correction (rigid)", h.Output);
        Assert.Equal("motion", report.Latency[1].Name); // first stage, before trace extraction

        var csv = File.ReadAllLines(Path.Combine(h.RunFolder, "motion.csv"));
        Assert.Equal("frame,shiftXPx,shiftYPx,confidence,lowConfidence,clipped", csv[0]);
        Assert.Equal(report.Frames.Processed + 1, csv.Length);
        Assert.True(h.ReportJson().GetProperty("motion").GetProperty("framesCorrected").GetInt64() > 0);
    }
}
