using ClosedLoop.Core;

namespace ClosedLoop.Hardware.Tests;

/// <summary>Profiles that describe a scanning rig: DAQ devices and channels, scanners, ETL, optics, laser, PMTs.</summary>
public class ScanningRigTests
{
    // A small resonant rig; tests change one thing each with Replace. Line numbers matter for one test.
    private const string Rig =
        "name: rig\n" +                                         // 1
        "daq:\n" +                                              // 2
        "  backend: simulated\n" +                              // 3
        "  device: Dev1\n" +                                    // 4
        "  devices:\n" +                                        // 5
        "    - name: Dev1\n" +                                  // 6
        "      aoRangeV: [-10, 10]\n" +                         // 7
        "      aiRangeV: [-1, 1]\n" +                           // 8
        "      maxAiRateHz: 10.0e6\n" +                         // 9
        "  channels:\n" +                                       // 10
        "    galvoY:\n" +                                       // 11
        "      physical: ao0\n" +                               // 12
        "      kind: analogOutput\n" +                          // 13
        "    etl:\n" +                                          // 14
        "      physical: ao1\n" +                               // 15
        "      kind: analogOutput\n" +                          // 16
        "      rangeV: [0, 5]\n" +                              // 17
        "    pmt1: { physical: ai0, kind: analogInput }\n" +    // 18
        "    shutter: { physical: port0/line0, kind: digitalOutput }\n" + // 19
        "    lineClock: { physical: ctr0, kind: counterInput }\n" +       // 20
        "imaging:\n" +                                          // 21
        "  widthPx: 512\n" +                                    // 22
        "  heightPx: 512\n" +                                   // 23
        "  frameRateHz: 30\n" +                                 // 24
        "scanners:\n" +                                         // 25
        "  mode: resonantGalvo\n" +                             // 26
        "  resonant:\n" +                                       // 27
        "    frequencyHz: 7910\n" +                             // 28
        "    bidirectional: true\n" +                           // 29
        "    lineClockChannel: lineClock\n" +                   // 30
        "  galvoY:\n" +                                         // 31
        "    channel: galvoY\n" +                               // 32
        "    voltsPerDeg: 0.5\n" +                              // 33
        "    maxAngleDeg: 13\n" +                               // 34
        "etl:\n" +                                              // 35
        "  channel: etl\n" +                                    // 36
        "  diopterPerVolt: 1\n" +                               // 37
        "  offsetDiopter: -2.5\n" +                             // 38
        "  minDiopter: -2\n" +                                  // 39
        "  maxDiopter: 2\n" +                                   // 40
        "optics:\n" +                                           // 41
        "  scanLensFocalLengthMm: 50\n" +                       // 42
        "  relays: { r1Mm: 150, r2Mm: 75, r3Mm: 100, r4Mm: 100 }\n" + // 43
        "pmts:\n" +                                             // 44
        "  - name: green\n" +                                   // 45
        "    channel: pmt1\n" +                                 // 46
        "simulation:\n" +                                       // 47
        "  tissue: { footprints: generated }\n";                // 48

    private static HardwareProfile Parse(string text) => HardwareProfileLoader.Parse(text, TestProfiles.Source);

    private static SettingException Fails(string text) => Assert.Throws<SettingException>(() => Parse(text));

    private static string With(string oldText, string newText)
    {
        Assert.Contains(oldText, Rig);
        return Rig.Replace(oldText, newText, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sim-resonant.yaml")]
    [InlineData("sim-galvo.yaml")]
    [InlineData("ni-x-series-resonant.yaml")]
    public void Load_ShippedScanningProfile_LoadsWithoutErrorsOrWarnings(string file)
    {
        var profile = HardwareProfileLoader.Load(TestProfiles.ShippedFile(file));

        Assert.Empty(ProfileChecks.Wiring(profile));
    }

    [Fact]
    public void Load_SimResonant_ReadsTheWholeRig()
    {
        var p = HardwareProfileLoader.Load("builtin:sim-resonant");

        var dev = Assert.Single(p.Daq.Devices);
        Assert.Equal(("Dev1", new VoltageRange(-10, 10), new VoltageRange(-1, 1)), (dev.Name, dev.AoRangeV, dev.AiRangeV));
        Assert.Equal(("/Dev1/20MHzTimebase", 20e6), (p.Daq.Timebase!.Source, p.Daq.Timebase.RateHz));
        Assert.Equal("/Dev1/PFI0", p.Daq.StartTrigger!.Terminal);
        Assert.Equal(["galvoY", "etl", "pockels", "pmt1", "pmt2", "shutter", "stimTrigger", "lineClock"], p.Daq.Channels.Keys);
        Assert.Equal(("ctr0", ChannelKind.CounterInput, "PFI1"), (p.Daq.Channels["lineClock"].Physical, p.Daq.Channels["lineClock"].Kind, p.Daq.Channels["lineClock"].Terminal));
        Assert.Equal(new VoltageRange(0, 5), p.Daq.Channels["etl"].RangeV);
        var scanners = p.Scanners!;
        Assert.Equal((ScanMode.ResonantGalvo, 7936.507936508, true, 2 * 7936.507936508), (scanners.Mode, scanners.Resonant!.FrequencyHz, scanners.Resonant.Bidirectional, scanners.Resonant.LineRateHz));
        Assert.Equal(("galvoY", 0.5, 13.0), (scanners.GalvoY!.Channel, scanners.GalvoY.VoltsPerDeg, scanners.GalvoY.MaxAngleDeg));
        Assert.Equal((-2.0, 2.0, 0.5, 4.5), (p.Etl!.MinDiopter, p.Etl.MaxDiopter, p.Etl.VoltsFor(-2), p.Etl.VoltsFor(2)));
        Assert.Equal((50.0, 200.0, 16.0, 12.5, 5.0), (p.Optics!.ScanLensFocalLengthMm, p.Optics.TubeLensFocalLengthMm, p.Optics.ObjectiveMagnification, p.Optics.ObjectiveFocalLengthMm, p.Optics.MirrorDiameterMm));
        Assert.Equal((150.0, 75.0, 100.0, 100.0), (p.Optics.Relays!.R1Mm, p.Optics.Relays.R2Mm, p.Optics.Relays.R3Mm, p.Optics.Relays.R4Mm));
        Assert.Equal((920.0, "pockels", "shutter"), (p.Laser!.WavelengthNm, p.Laser.PowerControlChannel, p.Laser.ShutterChannel));
        Assert.Equal(["green", "red"], p.Pmts.Select(x => x.Name));
        Assert.Equal("stimTrigger", p.FindStimulator("photostim")!.TriggerChannel);
        Assert.Equal((512, 512, 30.0, 2.5), (p.Imaging.WidthPx, p.Imaging.HeightPx, p.Imaging.FrameRateHz, p.Imaging.Zoom));
    }

    [Fact]
    public void Load_NiExample_IsARealBackendWithoutSimulation()
    {
        var p = HardwareProfileLoader.Load("builtin:ni-x-series-resonant");

        Assert.Equal((DaqBackend.NiDaqmx, "PCIe-6374"), (p.Daq.Backend, p.Daq.Devices[0].ProductType));
        Assert.Null(p.Simulation);
    }

    [Fact]
    public void Parse_TestRig_IsValid()
    {
        Assert.Empty(ProfileChecks.Wiring(Parse(Rig)));
    }

    [Fact]
    public void Parse_GalvoOnUnknownRole_NamesTheSettingAndTheDeclaredRoles()
    {
        var ex = Fails(With("    channel: galvoY\n", "    channel: galvoZ\n"));

        Assert.Equal(("scanners.galvoY.channel", "rig.yaml:32"), (ex.Setting, ex.Location));
        Assert.Contains("a role declared in daq.channels (declared: galvoY, etl, pmt1, shutter, lineClock)", ex.Message);
    }

    [Fact]
    public void Parse_GalvoOnAnalogInput_SaysTheKindIsWrong()
    {
        var ex = Fails(With("    channel: galvoY\n", "    channel: pmt1\n"));

        Assert.Equal("scanners.galvoY.channel", ex.Setting);
        Assert.Contains("kind analogOutput, but daq.channels.pmt1 is analogInput (ai0)", ex.Message);
    }

    [Fact]
    public void Parse_TwoRolesOnOneLine_NamesTheSecondAndTheFirst()
    {
        var ex = Fails(With("      physical: ao1\n", "      physical: ao0\n"));

        Assert.Equal(("daq.channels.etl.physical", "rig.yaml:15"), (ex.Setting, ex.Location));
        Assert.Contains("daq.channels.galvoY is already wired to Dev1/ao0", ex.Message);
    }

    [Fact]
    public void Parse_ChannelOnUndeclaredDevice_ListsTheDeclaredDevices()
    {
        var ex = Fails(With("    pmt1: { physical: ai0,", "    pmt1: { device: Dev2, physical: ai0,"));

        Assert.Equal("daq.channels.pmt1.device", ex.Setting);
        Assert.Contains("one of the devices declared in daq.devices: Dev1", ex.Message);
    }

    [Fact]
    public void Parse_OutputRangeBeyondDevice_NamesTheDeviceRange()
    {
        var ex = Fails(With("      rangeV: [0, 5]\n", "      rangeV: [0, 12]\n"));

        Assert.Equal(("daq.channels.etl.rangeV", "rig.yaml:17"), (ex.Setting, ex.Location));
        Assert.Contains("within Dev1's aoRangeV [-10, 10] V", ex.Message);
    }

    [Fact]
    public void Parse_GalvoAngleNeedingMoreVoltsThanItsOutput_GivesVoltsRangeAndNearestFeasibleAngle()
    {
        var ex = Fails(With("    maxAngleDeg: 13\n", "    maxAngleDeg: 25\n"));

        Assert.Equal(("scanners.galvoY.maxAngleDeg", "rig.yaml:34"), (ex.Setting, ex.Location));
        Assert.Contains("galvoY needs ±12.5 V", ex.Message);
        Assert.Contains("daq.channels.galvoY spans [-10, 10] V", ex.Message);
        Assert.Contains("nearest feasible maxAngleDeg = 20", ex.Message);
    }

    [Fact]
    public void Parse_ResonantFrameRateTooHigh_GivesAchievableMaximumAndNearestFeasibleValue()
    {
        var ex = Fails(With("  frameRateHz: 30\n", "  frameRateHz: 31\n"));

        Assert.Equal(("imaging.frameRateHz", "rig.yaml:24"), (ex.Setting, ex.Location));
        Assert.Contains("at most 30.898 Hz", ex.Message);
        Assert.Contains("15820 lines/s", ex.Message);
        Assert.Contains("nearest feasible frameRateHz = 30.89", ex.Message);
    }

    [Fact]
    public void Parse_UnidirectionalResonantAt30Hz_IsRefused()
    {
        var ex = Fails(With("    bidirectional: true\n", "    bidirectional: false\n"));

        Assert.Equal("imaging.frameRateHz", ex.Setting);
        Assert.Contains("nearest feasible frameRateHz = 15.44", ex.Message);
    }

    [Fact]
    public void Parse_EtlPowerBeyondItsOutput_GivesVoltsAndNearestFeasibleDiopter()
    {
        var ex = Fails(With("  maxDiopter: 2\n", "  maxDiopter: 3\n"));

        Assert.Equal(("etl.maxDiopter", "rig.yaml:40"), (ex.Setting, ex.Location));
        Assert.Contains("it needs 5.5 V", ex.Message);
        Assert.Contains("nearest feasible maxDiopter = 2.5", ex.Message);
    }

    [Fact]
    public void Parse_EtlMinimumBelowItsOutput_GivesNearestFeasibleMinimum()
    {
        var ex = Fails(With("  minDiopter: -2\n", "  minDiopter: -4\n"));

        Assert.Equal("etl.minDiopter", ex.Setting);
        Assert.Contains("nearest feasible minDiopter = -2.5", ex.Message);
    }

    [Fact]
    public void Parse_NiDaqmxWithoutDevices_AsksForThem()
    {
        var ex = Fails("name: rig\ndaq:\n  backend: nidaqmx\n  device: Dev1\n");

        Assert.Equal("daq.devices", ex.Setting);
        Assert.Contains("nidaqmx", ex.Message);
    }

    [Fact]
    public void Parse_NiDaqmxWithoutChannels_AsksForThem()
    {
        var ex = Fails("name: rig\ndaq:\n  backend: nidaqmx\n  device: Dev1\n  devices:\n    - name: Dev1\n");

        Assert.Equal("daq.channels", ex.Setting);
    }

    [Fact]
    public void Parse_PmtOnDigitalOutput_SaysItNeedsAnAnalogInput()
    {
        var ex = Fails(With("    channel: pmt1\n", "    channel: shutter\n"));

        Assert.Equal(("pmts[0].channel", "rig.yaml:46"), (ex.Setting, ex.Location));
        Assert.Contains("kind analogInput, but daq.channels.shutter is digitalOutput", ex.Message);
    }

    [Fact]
    public void Parse_PhysicalLineOfAnotherKind_ShowsTheExpectedForm()
    {
        var ex = Fails(With("      physical: ao0\n", "      physical: ai3\n"));

        Assert.Equal("daq.channels.galvoY.physical", ex.Setting);
        Assert.Contains("a channel of kind analogOutput: aoN (e.g. ao0)", ex.Message);
    }

    [Fact]
    public void Parse_RangeOnDigitalLine_IsRefused()
    {
        var ex = Fails(With("kind: digitalOutput }", "kind: digitalOutput, rangeV: [0, 5] }"));

        Assert.Equal("daq.channels.shutter.rangeV", ex.Setting);
    }

    [Fact]
    public void Parse_RangeWithThreeNumbers_AsksForMinAndMax()
    {
        var ex = Fails(With("      aoRangeV: [-10, 10]\n", "      aoRangeV: [-10, 0, 10]\n"));

        Assert.Equal(("daq.devices[0].aoRangeV", "rig.yaml:7"), (ex.Setting, ex.Location));
        Assert.Contains("[min, max]", ex.Message);
    }

    [Fact]
    public void Parse_ResonantModeWithoutResonantSection_SaysItIsRequired()
    {
        string text = With("  resonant:\n    frequencyHz: 7910\n    bidirectional: true\n    lineClockChannel: lineClock\n", "");

        Assert.Equal("scanners.resonant", Fails(text).Setting);
    }

    [Theory]
    [InlineData("    voltsPerDeg: 0.5\n", "    voltPerDeg: 0.5\n", "scanners.galvoY.voltPerDeg", "voltsPerDeg")]
    [InlineData("    frequencyHz: 7910\n", "    frequencyHZ: 7910\n", "scanners.resonant.frequencyHZ", "frequencyHz")]
    [InlineData("      rangeV: [0, 5]\n", "      rangeV: [0, 5]\n      gain: 2\n", "daq.channels.etl.gain", null)]
    [InlineData("      maxAiRateHz: 10.0e6\n", "      maxAiRateHz: 10.0e6\n      color: red\n", "daq.devices[0].color", null)]
    [InlineData("  diopterPerVolt: 1\n", "  dioptersPerVolt: 1\n", "etl.dioptersPerVolt", "diopterPerVolt")]
    [InlineData("r4Mm: 100 }", "r4Mm: 100, r5Mm: 50 }", "optics.relays.r5Mm", null)]
    [InlineData("  scanLensFocalLengthMm: 50\n", "  scanLensFocalLength: 50\n", "optics.scanLensFocalLength", null)]
    [InlineData("    channel: pmt1\n", "    channel: pmt1\n    gain: 0.7\n", "pmts[0].gain", null)]
    public void Parse_UnknownKeyInScanningSection_IsRefusedWithItsPath(string oldText, string newText, string setting, string? guess)
    {
        var ex = Fails(With(oldText, newText));

        Assert.Equal(setting, ex.Setting);
        Assert.Contains("one of the known keys", ex.Message);
        if (guess is not null) Assert.Contains($"did you mean '{guess}'?", ex.Message);
    }

    [Fact]
    public void Parse_TimebaseAndStartTrigger_AreRead()
    {
        var p = Parse(With("  channels:\n", "  timebase: { source: /Dev1/PFI14, rateHz: 10.0e6 }\n  startTrigger: { terminal: /Dev1/PFI0, edge: falling }\n  channels:\n"));

        Assert.Equal(("/Dev1/PFI14", 10e6, TriggerEdge.Falling), (p.Daq.Timebase!.Source, p.Daq.Timebase.RateHz, p.Daq.StartTrigger!.Edge));
    }

    [Fact]
    public void Wiring_GalvoGalvoFasterThanTheGalvosCanFollow_WarnsWithNearestFeasibleRate()
    {
        var p = HardwareProfileLoader.Load("builtin:sim-galvo");
        p.Imaging.FrameRateHz = 5;

        var problem = Assert.Single(ProfileChecks.Wiring(p));

        Assert.Equal((ProblemSeverity.Warning, "imaging.frameRateHz"), (problem.Severity, problem.Setting));
        Assert.Contains("nearest feasible frameRateHz = 4.1", problem.Advice);
    }

    [Fact]
    public void GalvoGalvoMaxFrameRateHz_SimGalvo_MatchesTheSumInItsComment()
    {
        var p = HardwareProfileLoader.Load("builtin:sim-galvo");

        double hz = ProfileChecks.GalvoGalvoMaxFrameRateHz(p.Scanners!.GalvoX!, p.Scanners.GalvoY!, p.Imaging);

        Assert.Equal(1 / 0.24375, hz, 6);
    }

    [Fact]
    public void Wiring_ResonantLineWiderThanTheInputsCanSample_Warns()
    {
        var p = Parse(Rig.Replace("maxAiRateHz: 10.0e6", "maxAiRateHz: 3.57e6", StringComparison.Ordinal));

        var problem = Assert.Single(ProfileChecks.Wiring(p));

        Assert.Equal(("imaging.widthPx", ProblemSeverity.Warning), (problem.Setting, problem.Severity));
        Assert.Contains("at most 203 px per line", problem.Advice);
    }

    [Fact]
    public void Wiring_StimulatorTriggerOnAnalogOutput_IsAnError()
    {
        var p = Parse(Rig);
        p.Stimulators.Add(new StimulatorProfile { Name = "laser", TriggerChannel = "etl" });

        var problem = ProfileChecks.Wiring(p)[0];

        Assert.Equal(("stimulators[0].triggerChannel", ProblemSeverity.Error), (problem.Setting, problem.Severity));
    }
}
