using ClosedLoop.Cli;

namespace ClosedLoop.IntegrationTests;

public class BenchTests
{
    [Fact]
    public void Run_SmallField_ProcessesEveryFrameAndReportsEachStage()
    {
        var r = BenchCommand.Run(128, 128, 50, 2000);

        Assert.Equal(2000, r.FramesMeasured);
        Assert.Equal(0, r.FramesLost);
        Assert.True(r.LoopFramesPerSecond > 0 && r.BaselineCopyP50Us > 0);
        Assert.Equal(new[] { "queue", "traces", "dff", "detectors", "protocol" }, r.Latency.Take(5).Select(s => s.Name));
        Assert.True(r.StimuliDelivered > 0);
    }
}
