using ClosedLoop.Cli;
using ClosedLoop.Cli.Experiments;

namespace ClosedLoop.IntegrationTests;

public class BadInputTests
{
    [Fact]
    public void Run_StimulusBeyondTheInterlock_RefusedBeforeAnythingIsAcquired()
    {
        using var h = new Harness();
        string experiment = h.Experiment(t => t.Replace("powerMw: 8 ", "powerMw: 50 "));
        var (code, report) = h.Run("builtin:sim-two-photon", experiment);

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Null(report);
        Assert.Contains("protocol.pulse.powerMw", h.Output);
        Assert.Contains("maxPowerMw", h.Output);
        Assert.Contains("experiment.yaml:", h.Output);
        Assert.False(Directory.Exists(h.RunFolder));
    }

    [Fact]
    public void Run_UnknownTargetGroup_NamesTheSettingFileAndLine()
    {
        using var h = new Harness();
        string experiment = h.Experiment(t => t.Replace("targets: sensory", "targets: sensroy"));
        var (code, _) = h.Run("builtin:sim-two-photon", experiment);

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Matches(@"experiment\.yaml:\d+: protocol\.targets = 'sensroy'", h.Output);
        Assert.Contains("one of the groups: sensory, motor", h.Output);
    }

    [Fact]
    public void Run_GroupMemberOutsideTheRoiSet_NamesTheMemberAndTheRange()
    {
        using var h = new Harness();
        string experiment = h.Experiment(t => t.Replace("motor: [5, 21, 38, 60]", "motor: [5, 21, 38, 600]"));
        var (code, _) = h.Run("builtin:sim-two-photon", experiment);

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("groups.motor[3] = '600'", h.Output);
        Assert.Contains("0..74", h.Output);
    }

    [Fact]
    public void Run_RoisDrawnForAnotherFrameSize_RefusedNamingBothSizes()
    {
        using var h = new Harness();
        var (code, _) = h.Run("builtin:sim-two-photon-512", ExperimentLoader.DefaultExperiment);

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("120×88", h.Output);
        Assert.Contains("512×512", h.Output);
    }

    [Fact]
    public void Run_MissingExperimentFile_NamesThePath()
    {
        using var h = new Harness();
        var (code, _) = h.Run("builtin:sim-two-photon", Path.Combine(h.Folder, "nope.yaml"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("nope.yaml", h.Output);
    }

    [Fact]
    public void Run_TypoInExperimentKey_NamesTheKeyAndLine()
    {
        using var h = new Harness();
        string experiment = h.Experiment(t => t.Replace("pauseS: 3", "pauseSec: 3"));
        var (code, _) = h.Run("builtin:sim-two-photon", experiment);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Matches(@"experiment\.yaml:\d+: protocol\.pauseSec", h.Output);
    }

    [Fact]
    public void Run_NiDaqmxRigWithoutTheDriver_RefusedNamingTheLibraryAndHowToInstallIt()
    {
        using var h = new Harness();
        var (code, report) = h.Run("builtin:ni-x-series-resonant", "builtin:stimulus-avoidance-512", ClosedLoop.Hardware.SimulationPacing.Realtime);

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Null(report);
        Assert.Contains("daq.backend", h.Output);
        Assert.Contains("libnidaqmx.so", h.Output);
        Assert.Contains("Install NI-DAQmx", h.Output);
    }

    [Fact]
    public void Run_SpikeInferenceSettingOutOfRange_NamesTheSettingAndLine()
    {
        using var h = new Harness();
        string experiment = h.Experiment(t => t.Replace("  estimate: true ", "  lookAheadFrames: -3\n  estimate: true "));
        var (code, _) = h.Run("builtin:sim-two-photon", experiment);

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Matches(@"experiment\.yaml:\d+: spikes\.lookAheadFrames = -3", h.Output);
    }

    [Fact]
    public void Validate_ProfileWithFrameRateOutOfRange_NamesSettingLineAndRange()
    {
        using var h = new Harness();
        string profile = h.Profile(t => t.Replace("frameRateHz: 30", "frameRateHz: 5000"));
        int code = ValidateCommand.Execute(profile, null, false, h.Console);

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Matches(@"rig\.yaml:\d+: imaging\.frameRateHz = 5000", h.Output);
        Assert.Contains("between 0.1 and 1000", h.Output);
    }

    [Fact]
    public void Validate_ShippedProfilesAndExperiments_AreValid()
    {
        using var h = new Harness();
        Assert.Equal(ExitCodes.Ok, ValidateCommand.Execute("builtin:sim-two-photon", ExperimentLoader.DefaultExperiment, false, h.Console));
        Assert.Equal(ExitCodes.Ok, ValidateCommand.Execute("builtin:sim-two-photon-512", "builtin:stimulus-avoidance-512", false, h.Console));
        Assert.Contains("Experiment valid on this rig", h.Output);
    }

    [Fact]
    public void Validate_ExperimentWhoseSteadyRateExceedsTheDutyCycle_Refused()
    {
        using var h = new Harness();
        // 5 × 40 ms per stimulus at 2 Hz is 400 ms of light per second: beyond the profile's maxDutyCycle 0.2.
        string experiment = h.Experiment(t => t.Replace("widthMs: 10", "widthMs: 40").Replace("stimulusRateHz: 1", "stimulusRateHz: 2"));
        int code = ValidateCommand.Execute("builtin:sim-two-photon", experiment, false, h.Console);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("maxDutyCycle", h.Output);
    }
}
