using ClosedLoop.Core;
using ClosedLoop.FirmwareSim;
using ClosedLoop.Hardware;

namespace ClosedLoop.FirmwareSim.Tests;

public sealed class SimulatedRigTests
{
    private static SimulatedTwoPhotonRig Rig(long frames, SimulationPacing pacing, double frameRateHz = 30, int seed = 1) =>
        new(TissueSetup.Imaging(frameRateHz: frameRateHz), new SimulationProfile { Seed = seed, Tissue = TissueSetup.Generated(rateHz: 1) },
            frames, pacing);

    private static List<(long Index, long SampleTimeNs, long Checksum, long Acquired, long Completed)> RunFast(SimulatedTwoPhotonRig rig)
    {
        var pool = new FramePool(rig.WidthPx, rig.HeightPx, 4);
        using var link = new BoundedLink<Frame>("rig→test", 4, LinkFullMode.Wait, f => f.Release());
        var seen = new List<(long, long, long, long, long)>();
        var consumer = Task.Run(() =>
        {
            while (link.TryTake(out var frame, CancellationToken.None))
            {
                long checksum = 0;
                foreach (ushort v in frame.Pixels) checksum = checksum * 31 + v;
                seen.Add((frame.FrameIndex, frame.SampleTimeNs, checksum, frame.AcquiredHostNs, frame.CompletedHostNs));
                frame.Release();
            }
        });
        rig.Run(pool, link, CancellationToken.None);
        link.Complete();
        consumer.Wait(TimeSpan.FromSeconds(10));
        Assert.Equal(0, pool.Outstanding);
        return seen;
    }

    [Fact]
    public void Run_FastPacingWithFrameLimit_WritesConsecutiveFramesOnTheSampleClock()
    {
        var rig = Rig(40, SimulationPacing.Fast);

        var seen = RunFast(rig);

        Assert.Equal(40, seen.Count);
        for (int i = 0; i < seen.Count; i++)
        {
            Assert.Equal(i, seen[i].Index);
            Assert.Equal(i * rig.FramePeriodNs, seen[i].SampleTimeNs);
            Assert.True(seen[i].Completed >= seen[i].Acquired);
        }
        Assert.Equal(40, rig.FramesAcquired);
        Assert.Equal(0, rig.FramesDroppedAtSource);
    }

    [Fact]
    public void Run_FastPacingSameSeed_ProducesTheSameMovie()
    {
        var first = RunFast(Rig(20, SimulationPacing.Fast, seed: 3)).Select(s => s.Checksum);
        var second = RunFast(Rig(20, SimulationPacing.Fast, seed: 3)).Select(s => s.Checksum);

        Assert.Equal(first, second);
    }

    [Fact]
    public void Run_PoolExhausted_CountsDropsInsteadOfBlocking()
    {
        var rig = Rig(30, SimulationPacing.Realtime, frameRateHz: 1000);
        var pool = new FramePool(rig.WidthPx, rig.HeightPx, 3);
        using var link = new BoundedLink<Frame>("rig→nobody", 100, LinkFullMode.Wait, f => f.Release());

        rig.Run(pool, link, CancellationToken.None);

        Assert.Equal(30, rig.FramesAcquired);
        Assert.Equal(27, rig.FramesDroppedAtSource);
        Assert.Equal(3, link.Count);
        Assert.Equal(30, rig.Tissue.FramesAdvanced);
        link.Drain();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Run_Cancelled_ReturnsNormally()
    {
        var rig = Rig(frames: long.MaxValue, SimulationPacing.Realtime);
        var pool = new FramePool(rig.WidthPx, rig.HeightPx, 4);
        using var link = new BoundedLink<Frame>("rig→drop", 2, LinkFullMode.DropOldest, f => f.Release());
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(150));

        rig.Run(pool, link, cancel.Token);

        Assert.True(rig.FramesAcquired < 1000);
        link.Drain();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Constructor_ProfileWithoutSimulation_ErrorNamesTheSection()
    {
        var profile = new HardwareProfile { Name = "rig", Imaging = TissueSetup.Imaging() };

        var error = Assert.Throws<SettingException>(() => new SimulatedTwoPhotonRig(profile));

        Assert.Contains("simulation", error.Message);
    }

    [Fact]
    public void Deliver_Train_ActiveUntilTrainEndsAndAllOffCancels()
    {
        var rig = Rig(0, SimulationPacing.Fast);
        var tissue = rig.Tissue;
        var stimulator = new SimulatedPhotostimulator(new StimulatorProfile { Name = "slm" }, tissue);
        var frame = new ushort[tissue.WidthPx * tissue.HeightPx];
        var targets = TissueSetup.TargetsOn(tissue, [0, 1]);

        stimulator.Deliver(new StimulationCommand(targets, 20, 5, 4, 10, SampleTimeNs: 0));
        Assert.Equal("slm", stimulator.Name);
        Assert.True(stimulator.IsActive);
        for (int i = 0; i < 11 && stimulator.IsActive; i++) tissue.Render(frame);
        Assert.False(stimulator.IsActive);
        Assert.Equal(1, stimulator.DeliveredCommands);
        Assert.Equal(4, stimulator.DeliveredPulses);
        Assert.Equal(4, tissue.PulsesApplied);

        stimulator.Deliver(new StimulationCommand(targets, 20, 5, 4, 10, SampleTimeNs: tissue.CurrentSampleTimeNs + 1_000_000_000));
        Assert.True(stimulator.IsActive);
        stimulator.AllOff();
        Assert.False(stimulator.IsActive);
        for (int i = 0; i < 60; i++) tissue.Render(frame);
        Assert.Equal(4, tissue.PulsesApplied);
    }
}
