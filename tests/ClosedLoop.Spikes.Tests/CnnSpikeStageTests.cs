using ClosedLoop.Core;
using ClosedLoop.Models.Inference;
using ClosedLoop.Spikes.Cnn;

namespace ClosedLoop.Spikes.Tests;

public class CnnSpikeStageTests
{
    private sealed class Rig(int units, double rateHz, CnnSpikeSettings? settings = null, Ensemble ensemble = Ensemble.Shipped)
        : StageRig<CnnSpikeStage>(units, rateHz, a => new CnnSpikeStage(settings ?? new CnnSpikeSettings(), a, TestEnsembles.Models(ensemble)) { AutoRefit = false });

    /// <summary>The offline ensemble at the model rate on <paramref name="dff"/> (whole-trace normalisation): resample,
    /// normalise, one FillWindow window per model sample through RunWindows.</summary>
    private static float[] OfflineAtModelRate(float[] dff, double frameRateHz, Ensemble ensemble)
    {
        using var cnn = TestEnsembles.Open(ensemble);
        var m = cnn.Models[0];
        var x = SpikeCnnPreprocessing.Normalise(SpikeCnnPreprocessing.Resample(dff.Select(v => (double)v).ToArray(), frameRateHz, m.RateHz));
        int w = m.WindowSamples, n = x.Length;
        var windows = new float[n * w];
        for (int t = 0; t < n; t++) SpikeCnnPreprocessing.FillWindow(x, t, m.LookAheadSamples, windows.AsSpan(t * w, w));
        var mean = new float[n];
        cnn.RunWindows(windows, n, mean, new float[n]);
        return mean;
    }

    private static double Correlation(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Count; i++) { sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) * (a[i] - ma); sbb += (b[i] - mb) * (b[i] - mb); }
        return sab / Math.Sqrt(saa * sbb);
    }

    /// <summary>Runs a stationary synthetic trace through the stage (normalisation from the last 60 s, refits every 5 s
    /// of frames, the first after 2 s) and pairs each online rate with the offline rate of the same model sample.</summary>
    private static (List<double> Online, List<double> Offline) Compare(double frameRateHz, int frames, int seed, Ensemble ensemble)
    {
        var s = Synthetic.Make(frames, frameRateHz, 0.6, 2.0, 1.0, 0.1, seed: seed);
        using var rig = new Rig(1, frameRateHz, new CnnSpikeSettings { NormWindowS = 60 }, ensemble);
        var model = rig.Stage.Models[0];
        int warm = (int)(2 * frameRateHz), every = (int)(5 * frameRateHz);
        var online = new float[frames];
        long start = -1;
        for (int f = 0; f < frames; f++)
        {
            if (f >= warm && (f - warm) % every == 0) Assert.NotNull(rig.Stage.Refit());
            rig.Step([s.Calcium[f]]);
            if (start < 0 && rig.Stage.NormalisationChanges > 0) start = f;
            online[f] = rig.Activity.Rate[0];
        }
        // The stream starts at the first hand-over; offline sees the trace from there on.
        var offline = OfflineAtModelRate(s.Calcium[(int)start..], frameRateHz, ensemble);
        double scale = model.RateHz / frameRateHz;
        var a = new List<double>(); var b = new List<double>();
        for (int f = (int)start + (int)(62 * frameRateHz); f < frames - 1; f++)
        {
            // Newest model sample at this frame, minus the look-ahead.
            long newest = (long)Math.Floor((f - start) * model.RateHz / frameRateHz + 1e-9);
            long i = newest - model.LookAheadSamples;
            a.Add(online[f] / scale); b.Add(offline[i]);
        }
        return (a, b);
    }

    [Theory]
    [InlineData(100.0, Ensemble.Shipped)]
    [InlineData(30.0, Ensemble.Shipped)]
    [InlineData(100.0, Ensemble.SamePadding)]
    [InlineData(30.0, Ensemble.SamePadding)]
    public void Stage_OnAStationaryTrace_MatchesTheOfflineEnsembleAfterWarmUp(double frameRateHz, Ensemble ensemble)
    {
        var (online, offline) = Compare(frameRateHz, (int)(100 * frameRateHz), seed: 21, ensemble);
        double r = Correlation(online, offline);
        double meanAbs = online.Zip(offline, (p, q) => Math.Abs(p - q)).Average(), level = offline.Average();
        Assert.True(r > 0.99, $"correlation online vs offline {r:0.0000}");
        Assert.True(meanAbs < 0.08 * level, $"mean |online − offline| {meanAbs:g3} vs mean rate {level:g3}");
    }

    [Theory]
    [InlineData(Ensemble.Shipped)]
    [InlineData(Ensemble.SamePadding)]
    public void Stage_WritesZeroUntilNormalisedAndAWindowHasStreamed_ThenRatesAndABand(Ensemble ensemble)
    {
        var s = Synthetic.Make(1000, 100, 0.6, 2.0, 1.0, 0.1, seed: 3);
        using var rig = new Rig(1, 100, ensemble: ensemble);
        for (int f = 0; f < 300; f++) { rig.Step([s.Calcium[f]]); Assert.Equal(0f, rig.Activity.Rate[0]); }
        Assert.NotNull(rig.Stage.Refit());
        int w = rig.Stage.Models[0].WindowSamples;
        double sum = 0;
        for (int f = 300; f < 1000; f++)
        {
            rig.Step([s.Calcium[f]]);
            float rate = rig.Activity.Rate[0];
            if (f < 300 + w - 1) Assert.Equal(0f, rate);
            else
            {
                Assert.True(rig.Stage.Lower[0] <= rate && rate <= rig.Stage.Upper[0]);
                sum += rate;
            }
        }
        Assert.True(sum > 0, "no rate after warm-up");
        Assert.Equal(1, rig.Stage.MaxStepsPerFrameSeen);
        Assert.Equal(0.32, rig.Stage.LatencyS, 6);
    }

    [Theory]
    [InlineData(Ensemble.Shipped)]
    [InlineData(Ensemble.SamePadding)]
    public void Stage_HoldsTheLastValidSampleOverNaN(Ensemble ensemble)
    {
        var s = Synthetic.Make(1500, 100, 0.6, 1.0, 1.0, 0.1, seed: 8);
        var gappy = (float[])s.Calcium.Clone();
        var held = (float[])s.Calcium.Clone();
        for (int f = 700; f < 1500; f += 37) { gappy[f] = float.NaN; held[f] = held[f - 1]; }
        using var a = new Rig(2, 100, ensemble: ensemble);
        for (int f = 0; f < 1500; f++)
        {
            if (f == 200) a.Stage.Refit();
            a.Step([gappy[f], held[f]]);
            Assert.False(float.IsNaN(a.Activity.Rate[0]));
            // The refit sees NaN where the other sees the held value; before it, both ROIs are normalised alike.
            if (f < 700) Assert.Equal(a.Activity.Rate[1], a.Activity.Rate[0]);
            else Assert.Equal(a.Activity.Rate[1], a.Activity.Rate[0], 1e-4);
        }
    }

    [Theory]
    [InlineData(SpikeCnnNormalisation.StandardDeviation)]
    [InlineData(SpikeCnnNormalisation.Noise)]
    public void Normalisation_EqualsTheTrainingNormalisation_OnTheSameWindow(SpikeCnnNormalisation kind)
    {
        var s = Synthetic.Make(3000, 100, 0.6, 1.0, 1.0, 0.1, seed: 2, baseline: 0.3);
        var x = s.Calcium.Select(v => (double)v).ToArray();
        var e = SpikeCnnScale.Estimate(x, 100, 100, kind);
        var offline = SpikeCnnPreprocessing.Normalise(x, kind);
        for (int t = 0; t < x.Length; t++) Assert.Equal(offline[t], (float)((x[t] - e.Center) / e.Scale), 1e-5);
        Assert.Equal(SpikeCnnPreprocessing.NoiseLevel(x, 100), e.Nu, 12);
    }

    [Fact]
    public void Normalisation_AtAnotherFrameRate_ScalesTheResampledTrace_AndMeasuresNuAtTheFrameRate()
    {
        var s = Synthetic.Make(900, 30, 0.6, 1.0, 1.0, 0.1, seed: 3, baseline: 0.2);
        var x = s.Calcium.Select(v => (double)v).ToArray();
        var e = SpikeCnnScale.Estimate(x, 30, 100, SpikeCnnNormalisation.StandardDeviation);
        var atModel = SpikeCnnPreprocessing.Resample(x, 30, 100);
        var offline = SpikeCnnPreprocessing.Normalise(atModel);
        for (int t = 0; t < atModel.Length; t++) Assert.Equal(offline[t], (float)((atModel[t] - e.Center) / e.Scale), 1e-5);
        Assert.Equal(SpikeCnnPreprocessing.NoiseLevel(x, 30), e.Nu, 12);
    }

    [Fact]
    public void Stage_FlagsRoisWhoseNoiseIsOutsideTheTrainingRange()
    {
        var quiet = Synthetic.Make(600, 100, 0.6, 1.0, 1.0, 0.05, seed: 4);
        var loud = Synthetic.Make(600, 100, 0.6, 1.0, 1.0, 5.0, seed: 5);
        using var rig = new Rig(2, 100);
        for (int f = 0; f < 600; f++) rig.Step([quiet.Calcium[f], loud.Calcium[f]]);
        rig.Stage.Refit();
        rig.Step([0f, 0f]);
        Assert.False(rig.Stage.IsOutsideTrainingNu(0), $"ν {rig.Stage.Nu[0]} in {rig.Stage.NuMin}–{rig.Stage.NuMax}");
        Assert.True(rig.Stage.IsOutsideTrainingNu(1), $"ν {rig.Stage.Nu[1]} in {rig.Stage.NuMin}–{rig.Stage.NuMax}");
        Assert.Equal(1, rig.Stage.RoisOutsideTrainingNu);
    }

    [Theory]
    [InlineData(Ensemble.Shipped)]
    [InlineData(Ensemble.SamePadding)]
    public void Stage_AllocatesNothingPerFrame_AtThirtyHertz(Ensemble ensemble)
    {
        using var rig = new Rig(50, 30, ensemble: ensemble);
        var rng = new Random(1);
        var dff = new float[50];
        for (int f = 0; f < 200; f++)
        {
            if (f == 100) rig.Stage.Refit();
            for (int i = 0; i < 50; i++) dff[i] = (float)(rng.NextDouble() * 0.1);
            rig.Step(dff);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int f = 0; f < 300; f++) rig.Step(dff);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(4, rig.Stage.StepsPerFrame);
        Assert.Equal(4, rig.Stage.MaxStepsPerFrameSeen);
    }

    [Fact]
    public void Settings_OutOfRange_NameTheKey()
    {
        Assert.Contains("spikes.normWindowS", Assert.Throws<SettingException>(() => new CnnSpikeSettings { NormWindowS = 1 }.Validate()).Message);
        Assert.Contains("spikes.normWarmupS", Assert.Throws<SettingException>(() => new CnnSpikeSettings { NormWarmupS = 40 }.Validate()).Message);
        Assert.Contains("spikes.refitPeriodS", Assert.Throws<SettingException>(() => new CnnSpikeSettings { RefitPeriodS = 0 }.Validate()).Message);
    }
}
