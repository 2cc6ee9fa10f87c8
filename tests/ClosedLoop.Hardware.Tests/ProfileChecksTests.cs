namespace ClosedLoop.Hardware.Tests;

public class ProfileChecksTests
{
    private static HardwareProfile Rig(double frameRateHz, double watchdogMs, double pulseWidthMs = 10) => new()
    {
        Name = "rig",
        Imaging = { FrameRateHz = frameRateHz },
        Simulation = new SimulationProfile(),
        Stimulators = { new StimulatorProfile { Name = "laser", WatchdogTimeoutMs = watchdogMs, MaxPulseWidthMs = pulseWidthMs } },
    };

    [Theory]
    [InlineData("builtin:sim-two-photon")]
    [InlineData("builtin:sim-two-photon-512")]
    public void Wiring_ShippedProfiles_HaveNoProblems(string name)
    {
        Assert.Empty(ProfileChecks.Wiring(HardwareProfileLoader.Load(name)));
    }

    [Fact]
    public void Wiring_WatchdogLongerThanTenFrames_Warns()
    {
        var problem = Assert.Single(ProfileChecks.Wiring(Rig(frameRateHz: 30, watchdogMs: 500)));

        Assert.Equal(ProblemSeverity.Warning, problem.Severity);
        Assert.Equal("warning: stimulators[0].watchdogTimeoutMs = 500: at most 10 frame periods (333.33 ms), " +
            "or stimulation stays on long after the loop has stalled", problem.ToString());
    }

    [Fact]
    public void Wiring_WatchdogShorterThanOneFrame_IsAnError()
    {
        var problem = Assert.Single(ProfileChecks.Wiring(Rig(frameRateHz: 10, watchdogMs: 50)));

        Assert.Equal(ProblemSeverity.Error, problem.Severity);
        Assert.Contains("longer than one frame period (100 ms", problem.Advice);
    }

    [Fact]
    public void Wiring_PulseLongerThanDutyCycleAllows_Warns()
    {
        var problem = Assert.Single(ProfileChecks.Wiring(Rig(frameRateHz: 30, watchdogMs: 250, pulseWidthMs: 500)));

        Assert.Equal("stimulators[0].maxPulseWidthMs", problem.Setting);
        Assert.Contains("200 ms", problem.Advice);
    }

    [Fact]
    public void Wiring_SimulationOnRealBackend_WarnsItIsIgnored()
    {
        var rig = Rig(frameRateHz: 30, watchdogMs: 250);
        rig.Daq = new DaqProfile
        {
            Backend = DaqBackend.NiDaqmx,
            Device = "Dev1",
            Devices = { new DaqDeviceProfile { Name = "Dev1" } },
            Channels = { ["shutter"] = new DaqChannelProfile { Physical = "port0/line0", Kind = ChannelKind.DigitalOutput } },
        };

        var problem = Assert.Single(ProfileChecks.Wiring(rig));

        Assert.Equal("simulation", problem.Setting);
        Assert.Contains("ignored", problem.Advice);
    }

    [Fact]
    public void Wiring_NeuronInBothEndsOfPathway_Warns()
    {
        var rig = Rig(frameRateHz: 30, watchdogMs: 250);
        rig.Simulation!.Tissue.Pathways.Add(new PathwayProfile { From = [1, 2], To = [2, 3] });

        var problem = Assert.Single(ProfileChecks.Wiring(rig));

        Assert.Equal(("simulation.tissue.pathways[0].to", (object?)2), (problem.Setting, problem.Value));
    }
}
