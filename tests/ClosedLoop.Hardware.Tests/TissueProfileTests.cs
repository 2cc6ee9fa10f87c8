using ClosedLoop.Core;

namespace ClosedLoop.Hardware.Tests;

/// <summary>The virtual tissue's model settings (indicator, spikes, noise level, drift, motion, opsin) in a profile.</summary>
public sealed class TissueProfileTests
{
    private static HardwareProfile Parse(string tissueLines) =>
        HardwareProfileLoader.Parse(TestProfiles.Minimal.Replace("    generatedNeuronCount: 20\n", "    generatedNeuronCount: 20\n" + tissueLines), TestProfiles.Source);

    private static SettingException Fails(string tissueLines) => Assert.Throws<SettingException>(() => Parse(tissueLines));

    [Fact]
    public void Parse_ModelKeys_ReadsEveryValue()
    {
        var t = Parse(
            "    indicator: OGB-1\n" +
            "    indicatorDecayS: 0.5\n" +
            "    spikeSource: spikefinder\n" +
            "    spikefinderMatchRate: false\n" +
            "    noiseLevel: 2\n" +
            "    driftFraction: 0.05\n" +
            "    neuronDriftFraction: 0.02\n" +
            "    driftTimeConstantS: 30\n" +
            "    bleachTauS: 600\n" +
            "    motion: { mode: nonrigid, rmsPx: 1.5, timeConstantS: 0.3, jumpRateHz: 0.1, jumpPx: 2, nonrigidRmsPx: 0.4, gridX: 3, gridY: 5 }\n" +
            "    opsin: { kind: ChRmine, offMs: 80, saturationPowerMw: 30 }\n").Simulation!.Tissue;

        var indicator = t.ResolveIndicator();
        Assert.Equal(("OGB-1", IndicatorModel.Ogb1.RiseS, 0.5, IndicatorModel.Ogb1.DffPerSpike), (indicator.Name, indicator.RiseS, indicator.DecayS, indicator.DffPerSpike));
        Assert.Equal((SpikeSource.Spikefinder, false), (t.SpikeSource, t.SpikefinderMatchRate));
        Assert.Equal((2.0, 0.05, 0.02, 30.0, 600.0), (t.NoiseLevel!.Value, t.DriftFraction, t.NeuronDriftFraction, t.DriftTimeConstantS, t.BleachTauS!.Value));
        var m = t.Motion;
        Assert.Equal((MotionMode.Nonrigid, 1.5, 0.3, 0.1, 2.0, 0.4, 3, 5), (m.Mode, m.RmsPx, m.TimeConstantS, m.JumpRateHz, m.JumpPx, m.NonrigidRmsPx, m.GridX, m.GridY));
        var opsin = t.Opsin.ResolveModel();
        Assert.Equal(("ChRmine", OpsinModel.ChRmine.OnMs, 80.0, 30.0), (opsin.Name, opsin.OnMs, opsin.OffMs, t.Opsin.SaturationPowerMw));
    }

    [Fact]
    public void Parse_UnknownIndicator_NamesKeyLineAndPresets()
    {
        var ex = Fails("    indicator: GCaMP9\n");

        Assert.Equal("simulation.tissue.indicator", ex.Setting);
        Assert.Equal("rig.yaml:12", ex.Location);
        Assert.Contains("GCaMP6s, GCaMP6f, OGB-1 or custom", ex.Message);
    }

    [Fact]
    public void Parse_CustomIndicatorWithoutRise_NamesTheMissingKey()
    {
        var ex = Fails("    indicator: custom\n    indicatorDecayS: 1\n    dffPerSpike: 0.2\n");

        Assert.Equal("simulation.tissue.indicatorRiseS", ex.Setting);
        Assert.Contains("given when indicator is 'custom'", ex.Message);
    }

    [Fact]
    public void Parse_RiseNotShorterThanDecay_NamesRise()
    {
        var ex = Fails("    indicatorRiseS: 2\n    indicatorDecayS: 1\n");

        Assert.Equal("simulation.tissue.indicatorRiseS", ex.Setting);
        Assert.Contains("shorter than simulation.tissue.indicatorDecayS", ex.Message);
    }

    [Theory]
    [InlineData("    noiseLevel: 0\n", "simulation.tissue.noiseLevel")]
    [InlineData("    noiseLevel: -1\n", "simulation.tissue.noiseLevel")]
    [InlineData("    bleachTauS: 0\n", "simulation.tissue.bleachTauS")]
    [InlineData("    driftFraction: -0.1\n", "simulation.tissue.driftFraction")]
    [InlineData("    spontaneousRateHz: -1\n", "simulation.tissue.spontaneousRateHz")]
    [InlineData("    motion: { mode: rigid, rmsPx: 20 }\n", "simulation.tissue.motion.rmsPx")]
    [InlineData("    motion: { mode: nonrigid, gridX: 1 }\n", "simulation.tissue.motion.gridX")]
    [InlineData("    opsin: { kind: halorhodopsin }\n", "simulation.tissue.opsin.kind")]
    [InlineData("    opsin: { kind: custom, onMs: 1 }\n", "simulation.tissue.opsin.offMs")]
    public void Parse_ImpossibleValue_NamesTheSettingAndItsLine(string lines, string setting)
    {
        var ex = Fails(lines);

        Assert.Equal(setting, ex.Setting);
        Assert.StartsWith("rig.yaml:12", ex.Location ?? "");
    }

    [Fact]
    public void IndicatorPresets_KineticsFollowFromTheirTimeConstants()
    {
        foreach (var m in IndicatorModel.Presets)
        {
            Assert.True(m.TimeToPeakS > m.RiseS && m.TimeToPeakS < m.DecayS, m.Name);
            Assert.InRange(m.Dff(1), 0.95 * m.DffPerSpike, 1.0 * m.DffPerSpike);
            Assert.True(m.Dff(40) / 40 < 0.7 * m.Dff(1), $"{m.Name}: no saturation at 40 spikes");
        }
        Assert.True(IndicatorModel.GCaMP6f.TimeToPeakS < IndicatorModel.GCaMP6s.TimeToPeakS);
        Assert.True(IndicatorModel.GCaMP6f.HalfDecayFromPeakS < IndicatorModel.GCaMP6s.HalfDecayFromPeakS);
        Assert.Same(IndicatorModel.Ogb1, IndicatorModel.FindPreset("ogb1"));
    }
}
