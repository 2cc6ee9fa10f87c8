using ClosedLoop.Core;

namespace ClosedLoop.Spikes.Tests;

public class OasisTests
{
    private static double BinnedCorrelation(double[] truth, float[] predicted, double rateHz) =>
        SpikefinderScore.Correlate(truth, predicted.Select(v => (double)v).ToArray(), rateHz);

    [Fact]
    public void Infer_SyntheticAr1TraceWithKnownParameters_RecoversSpikeTimes()
    {
        var s = Synthetic.Make(6000, 30, 0.6, 0.8, 0.3, 0.05, seed: 1);
        var settings = new OasisSettings { Estimate = false, DecayS = 0.6, NoiseSigmaDff = 0.05, MinSpikeSigma = 1 };

        var r = OasisDeconvolver.Infer(s.Calcium, 30, settings);

        // Same-frame agreement, not only 40 ms bins: at 30 Hz a bin is about one frame.
        double r1 = SpikefinderScore.Pearson(s.Spikes, r.Spikes.Select(v => (double)v).ToArray());
        Assert.True(r1 > 0.9, $"frame-wise correlation {r1:0.000}");
        // The amplitude is in spikes when SpikeAmplitudeDff is the true ΔF/F of one spike.
        var scaled = OasisDeconvolver.Infer(s.Calcium, 30, new OasisSettings { Estimate = false, DecayS = 0.6, NoiseSigmaDff = 0.05, MinSpikeSigma = 1, SpikeAmplitudeDff = 0.3 });
        Assert.InRange(scaled.Spikes.Sum() / s.Spikes.Sum(), 0.85, 1.15);
    }

    [Fact]
    public void Infer_EstimatedParameters_CloseToKnownParametersResult()
    {
        var s = Synthetic.Make(9000, 30, 0.6, 0.8, 0.3, 0.05, seed: 2, baseline: 0.4);

        var r = OasisDeconvolver.Infer(s.Calcium, 30, new OasisSettings());

        Assert.True(BinnedCorrelation(s.Spikes, r.Spikes, 30) > 0.85);
    }

    [Theory]
    [InlineData(0.3, 30)]
    [InlineData(0.8, 30)]
    [InlineData(1.5, 100)]
    public void EstimateDecay_SyntheticTrace_RecoversTimeConstantWithin15Percent(double decayS, double rateHz)
    {
        var s = Synthetic.Make((int)(300 * rateHz), rateHz, decayS, 0.5, 0.3, 0.05, seed: 3);

        var p = OasisEstimator.Estimate(s.Calcium, rateHz, new OasisSettings());

        Assert.InRange(p.DecayS(rateHz), 0.85 * decayS, 1.15 * decayS);
        Assert.InRange(p.NoiseSigma, 0.04, 0.065);
    }

    [Fact]
    public void Estimate_TraceOnABaseline_BaselineNearTheRestingLevel()
    {
        var s = Synthetic.Make(9000, 30, 0.6, 0.3, 0.3, 0.02, seed: 4, baseline: 1.2);

        var p = OasisEstimator.Estimate(s.Calcium, 30, new OasisSettings());

        Assert.InRange(p.Baseline, 1.15, 1.25);
    }

    [Fact]
    public void InferCausal_AtTheEndOfTheTrace_OnlineFinalSolutionEqualsOffline()
    {
        // Feeding the samples one by one and reading the pools at the end is the offline solution: the online
        // estimate at each time is the offline solution of the trace so far.
        var s = Synthetic.Make(1500, 30, 0.5, 1, 0.3, 0.05, seed: 5);
        var settings = new OasisSettings { Estimate = false, MinSpikeSigma = 0.5, LambdaSigma = 0.2 };
        var p = OasisParameters.FromSettings(settings, 30);
        var full = OasisDeconvolver.Infer(s.Calcium, 30, settings, p);

        for (int end = 200; end <= 1500; end += 433)
        {
            var prefix = OasisDeconvolver.Infer(s.Calcium.AsSpan(0, end), 30, settings, p);
            var causal = OasisDeconvolver.InferCausal(s.Calcium.AsSpan(0, end), settings, p);
            // The newest sample's spike is the same in the prefix solution and in the causal output.
            Assert.Equal(prefix.Spikes[end - 1], causal[end - 1]);
        }
        Assert.Equal(full.Spikes[^1], OasisDeconvolver.InferCausal(s.Calcium, settings, p)[^1]);
    }

    [Fact]
    public void InferCausal_WithLookAhead_BetterThanWithout()
    {
        var s = Synthetic.Make(9000, 30, 0.6, 1, 0.3, 0.08, seed: 6);
        var p0 = new OasisSettings { Estimate = false, DecayS = 0.6, NoiseSigmaDff = 0.08, MinSpikeSigma = 1 };
        var p3 = new OasisSettings { Estimate = false, DecayS = 0.6, NoiseSigmaDff = 0.08, MinSpikeSigma = 1, LookAheadFrames = 3 };
        var par = OasisParameters.FromSettings(p0, 30);

        var now = OasisDeconvolver.InferCausal(s.Calcium, p0, par);
        var later = OasisDeconvolver.InferCausal(s.Calcium, p3, par);
        var aligned = later.Skip(3).Concat(new float[3]).ToArray();

        Assert.True(BinnedCorrelation(s.Spikes, aligned, 30) >= BinnedCorrelation(s.Spikes, now, 30));
        Assert.True(BinnedCorrelation(s.Spikes, aligned, 30) > 0.8);
    }

    [Fact]
    public void Infer_Ar2ModelOnTraceWithRise_RecoversSpikes()
    {
        double rate = 100, d = Math.Exp(-1 / (0.6 * rate)), rise = Math.Exp(-1 / (0.05 * rate));
        var rng = new Random(7);
        var spikes = new double[20000];
        var y = new float[spikes.Length];
        double c1 = 0, c2 = 0;
        for (int t = 0; t < spikes.Length; t++)
        {
            spikes[t] = rng.NextDouble() < 0.5 / rate ? 1 : 0;
            double c = (d + rise) * c1 - d * rise * c2 + 0.3 * spikes[t];
            c2 = c1; c1 = c;
            y[t] = (float)(c + 0.02 * (rng.NextDouble() - 0.5) * 3.4);
        }
        var ar2 = OasisDeconvolver.Infer(y, rate, new OasisSettings { Model = OasisModel.Ar2, Estimate = false, DecayS = 0.6, RiseS = 0.05, NoiseSigmaDff = 0.02, MinSpikeSigma = 1 });

        Assert.True(BinnedCorrelation(spikes, ar2.Spikes, rate) > 0.8);
    }

    [Theory]
    [InlineData("spikes.decayS")]
    [InlineData("spikes.lambdaSigma")]
    [InlineData("spikes.minSpikeSigma")]
    [InlineData("spikes.lookAheadFrames")]
    [InlineData("spikes.maxPools")]
    [InlineData("spikes.riseS")]
    [InlineData("spikes.spikeAmplitudeDff")]
    public void Validate_OutOfRange_ErrorNamesTheSetting(string setting)
    {
        var s = new OasisSettings();
        switch (setting)
        {
            case "spikes.decayS": s.DecayS = 0; break;
            case "spikes.lambdaSigma": s.LambdaSigma = -1; break;
            case "spikes.minSpikeSigma": s.MinSpikeSigma = double.NaN; break;
            case "spikes.lookAheadFrames": s.LookAheadFrames = 31; break;
            case "spikes.maxPools": s.LookAheadFrames = 20; s.MaxPools = 16; break;
            case "spikes.riseS": s.Model = OasisModel.Ar2; s.DecayS = 0.05; s.RiseS = 0.1; break;
            case "spikes.spikeAmplitudeDff": s.SpikeAmplitudeDff = 0; break;
        }

        var ex = Assert.Throws<SettingException>(s.Validate);

        Assert.Equal(setting, ex.Setting);
        Assert.Contains(setting, ex.Message);
    }
}
