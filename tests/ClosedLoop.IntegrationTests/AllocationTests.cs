using ClosedLoop.Control;
using ClosedLoop.Core;
using ClosedLoop.FirmwareSim;
using ClosedLoop.Hardware;
using ClosedLoop.Imaging;

namespace ClosedLoop.IntegrationTests;

public class AllocationTests
{
    [Fact]
    public void FastLoop_RealStagesOnSimulatedFrames_AllocateNothingPerFrame()
    {
        // Trace extraction → ΔF/F → detectors on 256×256 frames with 150 ROIs, on frames where nothing is detected:
        // the per-frame path must not allocate (events, which are rare, are the only allocations a run makes).
        var profile = new HardwareProfile
        {
            Name = "alloc",
            Imaging = new ImagingProfile { WidthPx = 256, HeightPx = 256, FrameRateHz = 30 },
            Simulation = new SimulationProfile
            {
                Pacing = SimulationPacing.Fast,
                Tissue = new TissueProfile { Footprints = "generated", GeneratedNeuronCount = 150 },
            },
        };
        var rig = new SimulatedTwoPhotonRig(profile, frameLimit: 1200);
        var rois = ClosedLoop.Cli.Session.TissueRois(rig.Tissue.Footprints);
        var activity = rois.CreateActivity();
        var detector = new GroupActivityDetector(new GroupActivityDetectorSettings { Name = "never", Group = "all", ThresholdDff = 50, MinActive = 3 },
            Enumerable.Range(0, 20).ToArray());
        var stages = new IFastStage[]
        {
            new TraceExtractionStage(new TraceExtractionSettings { NeuropilCoefficient = 0.7 }, rois, 256, 256, activity),
            new DffStage(new DffSettings(), activity),
            new DetectorStage(new[] { detector }, activity),
        };
        var pipeline = new RunPipeline(rig, stages, new PipelineSettings { WarmupFrames = 100 });
        using var stop = new CancellationTokenSource();

        var result = pipeline.Run(new RunContext("alloc", 30, new RunEventLog(), stop), stop, CancellationToken.None);

        Assert.Equal(RunOutcome.Completed, result.Outcome);
        Assert.Equal(1200, pipeline.Loop.FramesProcessed);
        Assert.Equal(0, detector.Detections);
        // Any object allocated per frame costs at least 24 B/frame; under 1 B/frame leaves room only for a one-off
        // runtime allocation (e.g. the wait event's lock the first time the loop blocks), never a per-frame one.
        Assert.True(pipeline.Loop.AllocatedBytesPerFrame < 1, $"{pipeline.Loop.AllocatedBytesPerFrame} B/frame");
    }
}
