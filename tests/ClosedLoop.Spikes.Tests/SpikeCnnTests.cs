using ClosedLoop.Core;
using ClosedLoop.Models;
using ClosedLoop.Models.Inference;
using ClosedLoop.Models.Onnx;
using ClosedLoop.Spikes.Cnn;

namespace ClosedLoop.Spikes.Tests;

public class SpikeCnnTests
{
    private static double[] ToDouble(float[] x) => x.Select(v => (double)v).ToArray();

    private static double Correlation40Ms(double[] truth, double[] predicted)
    {
        var a = new SpikefinderTable(["n"], [truth]);
        var b = new SpikefinderTable(["n"], [predicted]);
        return SpikefinderScore.Score(a, b).PerNeuron[0];
    }

    [Fact]
    public void ShippedModels_OnnxRuntimeAndManaged_GiveTheSameRates()
    {
        var models = SpikeCnnInference.ShippedModels();
        Assert.True(models.Count >= 5, $"expected at least 5 shipped models, found {models.Count}");
        var rng = new Random(3);
        foreach (var (bytes, source) in models)
        {
            using var ort = InferenceBackends.Open(bytes, BackendKind.OnnxRuntime, null, source);
            using var managed = InferenceBackends.Open(bytes, BackendKind.Managed, null, source);
            int w = ort.InputSize, batch = 50;
            var input = new float[batch * w];
            for (int i = 0; i < input.Length; i++) input[i] = (float)(rng.NextDouble() * 4 - 1);
            var a = new float[batch]; var b = new float[batch];
            ort.Run(input, batch, a);
            managed.Run(input, batch, b);
            for (int i = 0; i < batch; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-4, $"{source} sample {i}: ORT {a[i]} vs managed {b[i]}");
        }
    }

    [Fact]
    public void ShippedEnsemble_OnSyntheticTrace_FollowsTheTrueSpikes_AndTheBandHoldsTheMean()
    {
        var s = Synthetic.Make(6000, 100, 0.6, 1.0, 1.0, 0.1, seed: 11);
        using var cnn = SpikeCnnInference.OpenShipped(BackendKind.Managed);
        var r = cnn.Infer(ToDouble(s.Calcium), 100);
        Assert.Equal(6000, r.Mean.Length);
        double corr = Correlation40Ms(s.Spikes, r.Mean);
        Assert.True(corr > 0.5, $"correlation with the true spikes {corr:0.000}, expected > 0.5");
        for (int t = 0; t < r.Mean.Length; t++)
            Assert.True(r.Lower[t] <= r.Mean[t] + 1e-12 && r.Mean[t] <= r.Upper[t] + 1e-12, $"band at {t}: {r.Lower[t]} ≤ {r.Mean[t]} ≤ {r.Upper[t]}");
        Assert.False(r.NuOutsideTraining, $"ν = {r.Nu:0.00} should lie inside the training range {cnn.NuMin:0.00}–{cnn.NuMax:0.00}");
        Assert.Equal(32, cnn.Models[0].LookAheadSamples);
        Assert.Equal(0.32, cnn.LatencyS, 6);
    }

    [Fact]
    public void ShippedEnsemble_AtAnotherFrameRate_KeepsLengthAndNaNs()
    {
        var s = Synthetic.Make(1800, 30, 0.6, 1.0, 1.0, 0.05, seed: 5);
        var x = ToDouble(s.Calcium);
        x[100] = double.NaN;
        var padded = x.Concat(Enumerable.Repeat(double.NaN, 20)).ToArray();
        using var cnn = SpikeCnnInference.OpenShipped(BackendKind.Managed);
        var r = cnn.Infer(padded, 30);
        Assert.Equal(padded.Length, r.Mean.Length);
        Assert.True(double.IsNaN(r.Mean[100]));
        Assert.True(double.IsNaN(r.Mean[^1]));
        Assert.True(Correlation40Ms(s.Spikes.Concat(Enumerable.Repeat(0.0, 20)).ToArray(), r.Mean.Select(v => double.IsNaN(v) ? 0 : v).ToArray()) > 0.3);
    }

    [Fact]
    public void NoisyTrace_IsFlaggedOutsideTheTrainingNoiseRange()
    {
        var s = Synthetic.Make(3000, 100, 0.6, 1.0, 1.0, 3.0, seed: 2);
        using var cnn = SpikeCnnInference.OpenShipped(BackendKind.Managed);
        var r = cnn.Infer(ToDouble(s.Calcium), 100);
        Assert.True(r.Nu > cnn.NuMax, $"ν = {r.Nu:0.00}");
        Assert.True(r.NuOutsideTraining);
    }

    [Fact]
    public void ShippedModels_FitTheStreamingBudget_AndCoverTheSyntheticNoiseRange()
    {
        using var cnn = SpikeCnnInference.OpenShipped(BackendKind.Managed);
        foreach (var m in cnn.Models)
            Assert.True(m.StreamingMultiplyAdds <= SpikeCnnSettings.MaxStreamingMultiplyAdds, $"seed {m.Seed}: {m.StreamingMultiplyAdds} multiply-adds per sample");
        // Trained with synthetic traces of ν up to 6: a trace that noisy is not flagged.
        Assert.True(cnn.NuMax >= 5, $"training ν range {cnn.NuMin:0.00}–{cnn.NuMax:0.00}");
    }

    [Fact]
    public void NoiseLevel_OfWhiteNoise_IsAbout954TimesSigmaOverRootRate()
    {
        var rng = new Random(1);
        var x = new double[20000];
        for (int i = 0; i < x.Length; i++) x[i] = 0.02 * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        // median |Δx| of white noise = 0.954 σ; ν = 100 · 0.954 · 0.02 / √100 = 0.191.
        Assert.Equal(0.191, SpikeCnnPreprocessing.NoiseLevel(x, 100), 2);
    }

    [Fact]
    public void ModelOfTheWrongShape_GivesAClearError()
    {
        var unet = OnnxExporter.Export(Architectures.ShallowUNet(8, 8, [2, 4]));
        var ex = Assert.Throws<SettingException>(() => new SpikeCnnInference([(unet, "unet.onnx")]));
        Assert.Contains("unet.onnx", ex.Message);
        Assert.Contains("input [N, 1, W]", ex.Message);
        var bare = OnnxExporter.Export(Architectures.SpikeCnn(32));
        var ex2 = Assert.Throws<SettingException>(() => SpikeCnnModel.Load(bare, "bare.onnx"));
        Assert.Contains("look_ahead_samples", ex2.Message);
        var garbage = Assert.Throws<SettingException>(() => SpikeCnnModel.Load([1, 2, 3, 4], "junk.onnx"));
        Assert.Contains("junk.onnx", garbage.Message);
    }

    [Fact]
    public void TinyTraining_LearnsSyntheticSpikes_AndRoundTripsThroughOnnx()
    {
        var traces = Enumerable.Range(0, 3).Select(i =>
        {
            var s = Synthetic.Make(4000, 100, 0.5, 1.5, 1.0, 0.1, seed: 20 + i);
            return new SpikeTrainingTrace(ToDouble(s.Calcium), s.Spikes, 100);
        }).ToList();
        var settings = new SpikeCnnSettings { WindowSamples = 64, LookAheadSamples = 16, TrainingWindows = 6000, Epochs = 3, NoiseFactors = [1, 2], ResampleRatesHz = [50, 100] };
        var model = SpikeCnnTrainer.Train(traces, settings, seed: 7);
        string path = Path.Combine(Path.GetTempPath(), $"spike-cnn-test-{Environment.ProcessId}.onnx");
        try
        {
            model.Save(path);
            var back = SpikeCnnModel.Load(path);
            Assert.Equal(16, back.LookAheadSamples);
            Assert.Equal(model.NuMin, back.NuMin);
            Assert.Equal(model.NuMax, back.NuMax);
            Assert.True(model.NuMax > model.NuMin);
            using var cnn = new SpikeCnnInference([(File.ReadAllBytes(path), path)], BackendKind.Managed);
            var test = Synthetic.Make(3000, 100, 0.5, 1.5, 1.0, 0.1, seed: 99);
            var r = cnn.Infer(ToDouble(test.Calcium), 100);
            double corr = Correlation40Ms(test.Spikes, r.Mean);
            Assert.True(corr > 0.5, $"held-out correlation {corr:0.000}, expected > 0.5");
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Settings_OutOfRange_NameTheField()
    {
        var ex = Assert.Throws<SettingException>(() => new SpikeCnnSettings { LookAheadSamples = 128 }.Validate());
        Assert.Contains("LookAheadSamples", ex.Message);
        var ex2 = Assert.Throws<SettingException>(() => new SpikeCnnSettings { WindowSamples = 30 }.Validate());
        Assert.Contains("WindowSamples", ex2.Message);
    }
}
