using ClosedLoop.Core;

namespace ClosedLoop.Hardware.Tests;

public class HardwareProfileLoaderTests
{
    private static SettingException Fails(string text) =>
        Assert.Throws<SettingException>(() => HardwareProfileLoader.Parse(text, TestProfiles.Source));

    [Fact]
    public void Load_ShippedDefaultProfile_ReadsEveryValue()
    {
        string path = TestProfiles.ShippedFile("sim-two-photon.yaml");

        var p = HardwareProfileLoader.Load(path);

        Assert.Equal("sim-two-photon", p.Name);
        Assert.Equal(Path.GetFullPath(path), p.SourcePath);
        Assert.Equal(DaqBackend.Simulated, p.Daq.Backend);
        Assert.Equal((120, 88, 30.0, 1.2), (p.Imaging.WidthPx, p.Imaging.HeightPx, p.Imaging.FrameRateHz, p.Imaging.PixelSizeUm));
        var sim = Assert.IsType<SimulationProfile>(p.Simulation);
        Assert.Equal((SimulationPacing.Realtime, 7), (sim.Pacing, sim.Seed));
        var t = sim.Tissue;
        Assert.Equal("builtin:YST_part11", t.Footprints);
        Assert.Equal((0.2, 0.8, 0.25, 60.0, 20.0, 0.1, 4.0),
            (t.SpontaneousRateHz, t.IndicatorDecayS, t.DffPerSpike, t.NeuronBaselinePhotons, t.BackgroundPhotons, t.NeuropilFraction, t.CountsPerPhoton));
        var pathway = Assert.Single(t.Pathways);
        Assert.Equal([2, 9, 17, 25, 33, 48], pathway.From);
        Assert.Equal([5, 21, 38, 60], pathway.To);
        Assert.Equal((0.015, 0.15), (pathway.Probability, pathway.DelayS));
        Assert.Equal((5.0, 4.0, 2.0), (t.Opsin.HalfActivationPowerMw, t.Opsin.SpotRadiusPx, t.Opsin.LatencyMs));
        Assert.Equal(("GCaMP6s", "ChR2", SpikeSource.Poisson), (t.Indicator, t.Opsin.Kind, t.SpikeSource));
        Assert.Equal(0.8, t.ResolveIndicator().DecayS);
        Assert.Equal(IndicatorModel.GCaMP6s.RiseS, t.ResolveIndicator().RiseS);
        var s = Assert.Single(p.Stimulators);
        Assert.Equal(("photostim", StimulatorKind.Optogenetic), (s.Name, s.Kind));
        Assert.Equal((20.0, 50.0, 50.0, 0.2, 250.0), (s.MaxPowerMw, s.MaxPulseWidthMs, s.MaxPulseRateHz, s.MaxDutyCycle, s.WatchdogTimeoutMs));
    }

    [Fact]
    public void Load_Shipped512Profile_HasGeneratedFieldOfThreeHundredNeurons()
    {
        var p = HardwareProfileLoader.Load(TestProfiles.ShippedFile("sim-two-photon-512.yaml"));

        Assert.Equal((512, 512, 30.0), (p.Imaging.WidthPx, p.Imaging.HeightPx, p.Imaging.FrameRateHz));
        var t = p.Simulation!.Tissue;
        Assert.Equal(("generated", 300, 5.0), (t.Footprints, t.GeneratedNeuronCount, t.NeuronRadiusPx));
        Assert.Empty(t.Pathways);
        Assert.NotNull(p.FindStimulator("photostim"));
    }

    [Theory]
    [InlineData("sim-two-photon")]
    [InlineData("sim-two-photon-512")]
    public void Load_BuiltinName_LoadsEmbeddedProfile(string name)
    {
        var p = HardwareProfileLoader.Load("builtin:" + name);

        Assert.Equal(name, p.Name);
        Assert.Equal("builtin:" + name, p.SourcePath);
    }

    [Fact]
    public void BuiltinNames_ListsEveryShippedProfile()
    {
        Assert.Equal(["ni-x-series-resonant", "sim-galvo", "sim-mea", "sim-resonant", "sim-two-photon", "sim-two-photon-512", "sim-two-photon-motion"],
            HardwareProfileLoader.BuiltinNames());
    }

    [Fact]
    public void SimMea_LoadsTheArrayAndTheElectricalLimits()
    {
        var p = HardwareProfileLoader.Load("builtin:sim-mea");
        Assert.Equal("60", p.Mea!.Layout);
        Assert.Equal(25_000, p.Mea.SampleRateHz);
        var s = Assert.Single(p.Stimulators);
        Assert.Equal(StimulatorKind.Electrical, s.Kind);
        Assert.Equal(8, s.MaxChargePerPhaseNc);
        Assert.True(s.ChargeBalanceRequired);
    }

    [Fact]
    public void ElectricalStimulatorWithoutAnArray_IsRefusedNamingTheKind()
    {
        string text = HardwareProfileLoader.ReadBuiltin("sim-two-photon")!.Replace("kind: optogenetic", "kind: electrical");
        var ex = Assert.Throws<SettingException>(() => HardwareProfileLoader.Parse(text, "rig.yaml"));
        Assert.Contains("stimulators[0].kind", ex.Message);
        Assert.Contains("mea", ex.Message);
    }

    [Fact]
    public void Load_UnknownBuiltin_ListsTheBuiltinProfiles()
    {
        var ex = Assert.Throws<SettingException>(() => HardwareProfileLoader.Load("builtin:sim-two-foton"));

        Assert.Contains("'builtin:sim-two-foton'", ex.Message);
        Assert.Contains("builtin:sim-two-photon, builtin:sim-two-photon-512", ex.Message);
    }

    [Fact]
    public void Load_MissingFile_NamesThePath()
    {
        using var temp = new TempFolder();
        string path = Path.Combine(temp.Path, "no-such-rig.yaml");

        var ex = Assert.Throws<SettingException>(() => HardwareProfileLoader.Load(path));

        Assert.Contains(path, ex.Message);
        Assert.Contains("file not found", ex.Message);
    }

    [Fact]
    public void Load_MisspeltKeyInFile_NamesKeyFileLineAndKnownKeys()
    {
        using var temp = new TempFolder();
        string path = temp.Write("rig.yaml", TestProfiles.Minimal.Replace("frameRateHz: 30", "frameRateHZ: 30"));

        var ex = Assert.Throws<SettingException>(() => HardwareProfileLoader.Load(path));

        Assert.Equal("imaging.frameRateHZ", ex.Setting);
        Assert.Equal($"{path}:7", ex.Location);
        Assert.Contains("imaging.frameRateHZ = 'frameRateHZ'", ex.Message);
        Assert.Contains("one of the known keys: widthPx, heightPx, frameRateHz, pixelSizeUm", ex.Message);
        Assert.Contains("did you mean 'frameRateHz'?", ex.Message);
    }

    [Fact]
    public void Parse_UnknownTopLevelKey_IsRejectedNotIgnored()
    {
        var ex = Fails(TestProfiles.Minimal + "stimulator:\n  - name: other\n");

        Assert.Equal("stimulator", ex.Setting);
        Assert.Equal("rig.yaml:21", ex.Location);
        Assert.Contains("did you mean 'stimulators'?", ex.Message);
    }

    [Fact]
    public void Parse_UnknownKeyInStimulator_NamesListIndexPath()
    {
        var ex = Fails(TestProfiles.Minimal + "    maxPowerW: 1\n");

        Assert.StartsWith("rig.yaml:21: stimulators[0].maxPowerW = 'maxPowerW'", ex.Message);
        Assert.Contains("maxPowerMw", ex.Message);
    }

    [Fact]
    public void Parse_FrameRateOutOfRange_NamesSettingLineAndRange()
    {
        var ex = Fails(TestProfiles.Minimal.Replace("frameRateHz: 30", "frameRateHz: 5000"));

        Assert.Equal("rig.yaml:7: imaging.frameRateHz = 5000 is not allowed; it must be between 0.1 and 1000.", ex.Message);
    }

    [Fact]
    public void Parse_TextWhereNumberExpected_SaysANumber()
    {
        var ex = Fails(TestProfiles.Minimal.Replace("frameRateHz: 30", "frameRateHz: fast"));

        Assert.Equal("rig.yaml:7: imaging.frameRateHz = 'fast' is not allowed; it must be a number.", ex.Message);
    }

    [Fact]
    public void Parse_FractionWhereWholeNumberExpected_SaysAWholeNumber()
    {
        var ex = Fails(TestProfiles.Minimal.Replace("widthPx: 64", "widthPx: 64.5"));

        Assert.Equal("rig.yaml:5: imaging.widthPx = '64.5' is not allowed; it must be a whole number.", ex.Message);
    }

    [Fact]
    public void Parse_MalformedYaml_GivesLineAndColumnAndReason()
    {
        var ex = Fails("name: rig\nimaging:\n  widthPx: [64\n  heightPx: 64\n");

        Assert.Matches(@"^rig\.yaml:\d+:\d+$", ex.Location!);
        Assert.Contains("inside a [...] list", ex.Message);
        Assert.Equal("yaml", ex.Setting);
        Assert.Contains("well-formed YAML", ex.Message);
        Assert.DoesNotContain("Idx:", ex.Message);
    }

    [Fact]
    public void Parse_BadIndentation_PointsAtTheLine()
    {
        var ex = Fails("name: rig\nimaging:\n  widthPx: 64\n heightPx: 64\n");

        Assert.StartsWith("rig.yaml:4:", ex.Location);
    }

    [Fact]
    public void Parse_SimulatedBackendWithoutSimulation_SaysSectionIsRequired()
    {
        string text = "name: rig\ndaq:\n  backend: simulated\nimaging:\n  frameRateHz: 30\n";

        var ex = Fails(text);

        Assert.Equal("simulation", ex.Setting);
        Assert.Contains("present when daq.backend is 'simulated'", ex.Message);
        Assert.StartsWith("rig.yaml:", ex.Location);
    }

    [Fact]
    public void Parse_DuplicateStimulatorNames_NamesTheSecondOne()
    {
        var ex = Fails(TestProfiles.Minimal + "  - name: laser\n    maxPowerMw: 5\n");

        Assert.Equal("rig.yaml:21: stimulators[1].name = 'laser' is not allowed; it must be unique among the profile's stimulators.", ex.Message);
    }

    [Fact]
    public void Parse_PathwayProbabilityOutOfRange_NamesListIndexPathAndLine()
    {
        var ex = Fails(TestProfiles.Minimal.Replace("probability: 0.5", "probability: 1.5"));

        Assert.Equal("rig.yaml:17: simulation.tissue.pathways[1].probability = 1.5 is not allowed; it must be between 0 and 1.", ex.Message);
    }

    [Fact]
    public void Parse_PathwayWithoutTargets_NamesPathwayTo()
    {
        var ex = Fails(TestProfiles.Minimal.Replace("        to: [5]\n", ""));

        Assert.Equal("simulation.tissue.pathways[1].to", ex.Setting);
        Assert.Equal("rig.yaml:15", ex.Location);
        Assert.Contains("at least one neuron index", ex.Message);
    }

    [Fact]
    public void Parse_NegativeNeuronIndex_NamesTheListItem()
    {
        var ex = Fails(TestProfiles.Minimal.Replace("from: [1, 2]", "from: [1, -2]"));

        Assert.Equal("rig.yaml:13: simulation.tissue.pathways[0].from[1] = -2 is not allowed; it must be a neuron index >= 0.", ex.Message);
    }

    [Fact]
    public void Parse_NeuronIndexBeyondGeneratedCount_NamesTheCount()
    {
        var ex = Fails(TestProfiles.Minimal.Replace("to: [5]", "to: [20]"));

        Assert.Equal("simulation.tissue.pathways[1].to[0]", ex.Setting);
        Assert.Contains("below simulation.tissue.generatedNeuronCount (20)", ex.Message);
    }

    [Fact]
    public void Parse_UnknownBackend_ListsAllowedValues()
    {
        var ex = Fails(TestProfiles.Minimal.Replace("backend: simulated", "backend: labview"));

        Assert.Equal("rig.yaml:3: daq.backend = 'labview' is not allowed; it must be one of: simulated, nidaqmx.", ex.Message);
    }

    [Fact]
    public void Parse_NiDaqmxWithoutDevice_NamesDaqDevice()
    {
        var ex = Fails("name: rig\ndaq:\n  backend: ni-daqmx\n");

        Assert.Equal("daq.device", ex.Setting);
        Assert.Equal("rig.yaml:2", ex.Location);
    }

    [Fact]
    public void Parse_AbsentOptionalKeys_KeepModelDefaults()
    {
        var p = HardwareProfileLoader.Parse(TestProfiles.Minimal, TestProfiles.Source);

        var defaults = new HardwareProfile();
        Assert.Equal(defaults.Imaging.PixelSizeUm, p.Imaging.PixelSizeUm);
        Assert.Equal(new SimulationProfile().Seed, p.Simulation!.Seed);
        Assert.Equal(new OpsinProfile().LatencyMs, p.Simulation.Tissue.Opsin.LatencyMs);
        Assert.Equal(new PathwayProfile().DelayS, p.Simulation.Tissue.Pathways[0].DelayS);
        var s = Assert.Single(p.Stimulators);
        Assert.Equal((10.0, new StimulatorProfile().WatchdogTimeoutMs), (s.MaxPowerMw, s.WatchdogTimeoutMs));
        Assert.Equal(TestProfiles.Source, p.SourcePath);
    }

    [Fact]
    public void Load_RelativeFootprintsPath_ResolvedNextToTheProfile()
    {
        using var temp = new TempFolder();
        string path = temp.Write("rig.yaml", TestProfiles.Minimal.Replace("footprints: generated", "footprints: masks/field1.json"));

        var p = HardwareProfileLoader.Load(path);

        Assert.Equal(Path.Combine(temp.Path, "masks", "field1.json"), p.Simulation!.Tissue.Footprints);
    }
}
