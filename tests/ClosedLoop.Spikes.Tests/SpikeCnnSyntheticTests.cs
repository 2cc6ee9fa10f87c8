using ClosedLoop.Core;
using ClosedLoop.Models.Inference;
using ClosedLoop.Models.Layers;
using ClosedLoop.Spikes.Cnn;

namespace ClosedLoop.Spikes.Tests;

public class SpikeCnnSyntheticTests
{
    // GCaMP6s as the virtual tissue's preset has it (rise 70 ms, decay 1.2 s, 25 % per spike, Hill saturation at 10
    // spikes, h = 1.5); the CLI takes these from ClosedLoop.Hardware.IndicatorModel.
    private static readonly SyntheticIndicator GCaMP6s = new("GCaMP6s", 0.07, 1.2,
        c => c <= 0 ? 0 : 0.25 * c / Math.Pow(1 + Math.Pow(c / 10, 1.5), 1 / 1.5));

    [Fact]
    public void SyntheticTraces_HitTheRequestedNoiseLevel_FrameRate_AndSpikeRate()
    {
        var settings = new SyntheticTraceSettings
        {
            Indicators = [GCaMP6s], Traces = 8, DurationS = 120, FrameRatesHz = [30], NuMin = 2, NuMax = 2,
            SpikeRateMinHz = 1, SpikeRateMaxHz = 1, BurstRateMaxHz = 0,
        };
        var traces = SpikeCnnSynthetic.Generate(settings, seed: 4);
        Assert.Equal(8, traces.Count);
        foreach (var tr in traces)
        {
            Assert.Equal(30, tr.RateHz);
            Assert.Equal(3600, tr.Calcium.Length);
            Assert.Equal(tr.Calcium.Length, tr.Spikes.Length);
            double nu = SpikeCnnPreprocessing.NoiseLevel(tr.Calcium, tr.RateHz);
            // The transients add a little to median |Δx|, so ν lies at or just above the requested 2.
            Assert.InRange(nu, 1.9, 2.4);
        }
        double meanRateHz = traces.Average(tr => tr.Spikes.Sum() / 120.0);
        Assert.InRange(meanRateHz, 0.8, 1.2);
        // Same settings and seed: the same traces.
        Assert.Equal(traces[3].Calcium, SpikeCnnSynthetic.Generate(settings, seed: 4)[3].Calcium);
    }

    [Fact]
    public void SyntheticTraces_SpreadOverIndicatorsRatesAndNoise()
    {
        var fast = new SyntheticIndicator("fast", 0.005, 0.2, c => 0.1 * c);
        var settings = new SyntheticTraceSettings { Indicators = [GCaMP6s, fast], Traces = 40, DurationS = 30, FrameRatesHz = [15, 60], NuMin = 0.5, NuMax = 8 };
        var traces = SpikeCnnSynthetic.Generate(settings, seed: 1);
        Assert.Contains(traces, t => t.RateHz == 15);
        Assert.Contains(traces, t => t.RateHz == 60);
        var nus = traces.Select(t => SpikeCnnPreprocessing.NoiseLevel(t.Calcium, t.RateHz)).ToList();
        Assert.True(nus.Min() < 1.5 && nus.Max() > 4, $"ν from {nus.Min():0.00} to {nus.Max():0.00}");
    }

    [Fact]
    public void ModelTrainedOnSyntheticGCaMP6sAlone_FollowsHeldOutSyntheticNeurons()
    {
        var train = new SyntheticTraceSettings { Indicators = [GCaMP6s], Traces = 24, DurationS = 120, FrameRatesHz = [30], NuMin = 0.5, NuMax = 2 };
        var settings = new SpikeCnnSettings { ModelRateHz = 30, WindowSamples = 64, LookAheadSamples = 16, Filters = [8, 8, 8], Kernels = [9, 5, 3], TargetSigmaSamples = 1.5, TrainingWindows = 20_000, Epochs = 3 };
        var model = SpikeCnnTrainer.Train([], SpikeCnnSynthetic.Generate(train, seed: 1), settings, seed: 3);
        // Every window came from synthetic traces; ν of the training set lies inside the requested range.
        Assert.InRange(model.NuMin, 0.4, 1.0);
        Assert.InRange(model.NuMax, 1.5, 3.0);
        using var cnn = new SpikeCnnInference([(model.ToOnnx(), "synthetic.onnx")], BackendKind.Managed);
        var test = SpikeCnnSynthetic.Generate(train with { Traces = 6 }, seed: 99);
        var corr = test.Select(tr => SpikefinderScore.Correlate(tr.Spikes, cnn.Infer(tr.Calcium, tr.RateHz).Mean, tr.RateHz)).ToList();
        // The trivial baseline: the first difference of ΔF/F clipped at 0.
        var baseline = test.Select(tr => SpikefinderScore.Correlate(tr.Spikes,
            tr.Calcium.Select((v, t) => t == 0 ? 0 : Math.Max(0, v - tr.Calcium[t - 1])).ToArray(), tr.RateHz)).ToList();
        string all = $"CNN {string.Join(", ", corr.Select(c => c.ToString("0.00")))}; derivative {string.Join(", ", baseline.Select(c => c.ToString("0.00")))}";
        Assert.True(corr.Average() > 0.45, all);
        Assert.True(corr.Average() > baseline.Average() + 0.1, all);
    }

    [Fact]
    public void MixedTraining_RecordsTheSyntheticNoiseRange_AndNoiseNormalisationRoundTrips()
    {
        var real = Enumerable.Range(0, 2).Select(i =>
        {
            var s = Synthetic.Make(3000, 100, 0.5, 1.5, 1.0, 0.1, seed: 40 + i);
            return new SpikeTrainingTrace(s.Calcium.Select(v => (double)v).ToArray(), s.Spikes, 100);
        }).ToList();
        var syn = SpikeCnnSynthetic.Generate(new SyntheticTraceSettings { Indicators = [GCaMP6s], Traces = 4, DurationS = 30, NuMin = 6, NuMax = 8 }, seed: 2);
        var settings = new SpikeCnnSettings { WindowSamples = 64, LookAheadSamples = 16, TrainingWindows = 2000, Epochs = 1, NoiseFactors = [1],
            ResampleRatesHz = [], SyntheticFraction = 0.5, Normalisation = SpikeCnnNormalisation.Noise };
        var model = SpikeCnnTrainer.Train(real, syn, settings, seed: 1);
        Assert.True(model.NuMax >= 6, $"ν max {model.NuMax:0.00} should include the synthetic traces' 6–8");
        Assert.Equal(settings.StreamingMultiplyAdds, model.StreamingMultiplyAdds);
        var back = SpikeCnnModel.Load(model.ToOnnx(), "mixed.onnx");
        Assert.Equal(SpikeCnnNormalisation.Noise, back.Normalisation);
        Assert.Equal("noise", back.Metadata["normalisation_kind"]);
    }

    [Fact]
    public void ValidPaddingTraining_GivesAValidModelThatCostsWhatTheSettingsSay()
    {
        var real = Enumerable.Range(0, 2).Select(i =>
        {
            var s = Synthetic.Make(3000, 100, 0.5, 1.5, 1.0, 0.1, seed: 50 + i);
            return new SpikeTrainingTrace(s.Calcium.Select(v => (double)v).ToArray(), s.Spikes, 100);
        }).ToList();
        var settings = new SpikeCnnSettings { WindowSamples = 64, LookAheadSamples = 16, Filters = [4, 4, 4], Kernels = [9, 5, 3], Hidden = 8,
            Padding = ConvPadding.Valid, TrainingWindows = 1000, Epochs = 1, NoiseFactors = [1], ResampleRatesHz = [], SyntheticFraction = 0 };
        settings.Validate();
        // 64 − 8 = 56 → 28, 28 − 4 = 24 → 12, 12 − 2 = 10 positions × 4 filters into the dense layer.
        Assert.Equal(4 * 9 + 4 * 4 * 5 + 4 * 4 * 3 + 10 * 4 * 8 + 8, settings.StreamingMultiplyAdds);
        var model = SpikeCnnTrainer.Train(real, [], settings, seed: 3);
        Assert.Equal(settings.StreamingMultiplyAdds, model.StreamingMultiplyAdds);
        var back = SpikeCnnModel.Load(model.ToOnnx(), "valid.onnx");
        Assert.All(back.Network.Nodes.Select(n => n.Layer).OfType<Conv1d>(), c => Assert.Equal(ConvPadding.Valid, c.Padding));
    }

    [Fact]
    public void ValidPadding_WindowLeavingAnOddLengthBeforeAPooling_NamesTheWindow()
    {
        // 64 − 6 = 58 → 29, 29 − 4 = 25: odd before the second pooling.
        var e = Assert.Throws<SettingException>(() => new SpikeCnnSettings { WindowSamples = 64, Filters = [8, 8, 8], Kernels = [7, 5, 3], Padding = ConvPadding.Valid }.Validate());
        Assert.Contains("WindowSamples", e.Message);
        Assert.Contains("even", e.Message);
    }

    [Fact]
    public void NoiseNormalisation_DividesByTheNoiseNotTheSpread()
    {
        // White noise of s.d. 0.1 plus one large step: the s.d. is dominated by the step, the noise estimate is not.
        var rng = new Random(5);
        var x = new double[4000];
        for (int t = 0; t < x.Length; t++) x[t] = (t > 3000 ? 5 : 0) + 0.1 * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var byNoise = SpikeCnnPreprocessing.Normalise(x, SpikeCnnNormalisation.Noise);
        var bySd = SpikeCnnPreprocessing.Normalise(x, SpikeCnnNormalisation.StandardDeviation);
        Assert.InRange(byNoise[3500] - byNoise[500], 45, 55);
        Assert.InRange(bySd[3500] - bySd[500], 1.5, 3);
    }

    [Fact]
    public void Settings_OverTheStreamingBudget_OrWithBadKernels_NameTheField()
    {
        Assert.Equal(2648, new SpikeCnnSettings { Filters = [8, 8, 8], Kernels = [9, 5, 3], Hidden = 16, WindowSamples = 64, Padding = ConvPadding.Same }.StreamingMultiplyAdds);
        var big = Assert.Throws<SettingException>(() => new SpikeCnnSettings { WindowSamples = 64, Filters = [16, 16, 16], Kernels = [9, 5, 3], Hidden = 32 }.Validate());
        Assert.Contains("4000", big.Message);
        var even = Assert.Throws<SettingException>(() => new SpikeCnnSettings { Filters = [8, 8, 8], Kernels = [9, 4, 3] }.Validate());
        Assert.Contains("Kernels", even.Message);
        var bad = Assert.Throws<SettingException>(() => new SyntheticTraceSettings { Indicators = [GCaMP6s], NuMin = 3, NuMax = 1 }.Validate());
        Assert.Contains("NuMax", bad.Message);
        var none = Assert.Throws<SettingException>(() => new SyntheticTraceSettings().Validate());
        Assert.Contains("indicators", none.Message);
    }
}
