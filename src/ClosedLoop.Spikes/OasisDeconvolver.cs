using ClosedLoop.Core;

namespace ClosedLoop.Spikes;

/// <summary>What the offline deconvolution found for one trace.</summary>
/// <param name="Spikes">Inferred spikes per sample: amplitude / <see cref="OasisSettings.SpikeAmplitudeDff"/>.</param>
/// <param name="Calcium">The fitted calcium trace, including the baseline, in the input's units.</param>
/// <param name="Parameters">The parameters used (estimated or from the settings).</param>
public sealed record OasisResult(float[] Spikes, float[] Calcium, OasisParameters Parameters);

/// <summary>
/// OASIS (Friedrich, Zhou &amp; Paninski 2017) on whole traces: the same pool algorithm as the fast-loop stage, run over
/// every sample with room for every pool, so the result is the exact solution of the penalised, constrained problem.
/// </summary>
public static class OasisDeconvolver
{
    /// <summary>Deconvolves <paramref name="calcium"/> (ΔF/F or raw fluorescence, sampled at <paramref name="frameRateHz"/>),
    /// estimating the parameters from the trace itself when <see cref="OasisSettings.Estimate"/> is set.</summary>
    public static OasisResult Infer(ReadOnlySpan<float> calcium, double frameRateHz, OasisSettings settings)
    {
        settings.Validate();
        Check.Positive("frameRateHz", frameRateHz);
        var p = settings.Estimate ? OasisEstimator.Estimate(calcium, frameRateHz, settings) : OasisParameters.FromSettings(settings, frameRateHz);
        return Infer(calcium, frameRateHz, settings, p);
    }

    /// <summary>Deconvolves <paramref name="calcium"/> with the given parameters (the full, non-causal solution).</summary>
    public static OasisResult Infer(ReadOnlySpan<float> calcium, double frameRateHz, OasisSettings settings, OasisParameters parameters)
    {
        settings.Validate();
        Check.Positive("frameRateHz", frameRateHz);
        int n = calcium.Length;
        var track = new OasisTrack(Math.Max(1, n), 0);
        track.Reset(parameters, 0);
        foreach (float y in calcium) track.Add(y);
        var s = new double[n];
        var c = new double[n];
        track.Solution(0, s, c);
        var spikes = new float[n];
        var fit = new float[n];
        double scale = 1.0 / settings.SpikeAmplitudeDff;
        for (int t = 0; t < n; t++) { spikes[t] = (float)(s[t] * scale); fit[t] = (float)c[t]; }
        return new OasisResult(spikes, fit, parameters);
    }

    /// <summary>What <see cref="DeconvolutionStage"/> writes, frame by frame, for this trace and these fixed parameters:
    /// element t is the spike estimate for sample t − look-ahead as known after sample t (0 for t below the look-ahead),
    /// with the stage's bounded pool ring (<see cref="OasisSettings.MaxPools"/>).</summary>
    public static float[] InferCausal(ReadOnlySpan<float> calcium, OasisSettings settings, OasisParameters parameters)
    {
        settings.Validate();
        var track = new OasisTrack(settings.MaxPools, settings.LookAheadFrames);
        track.Reset(parameters, 0);
        var output = new float[calcium.Length];
        float scale = (float)(1.0 / settings.SpikeAmplitudeDff);
        for (int t = 0; t < calcium.Length; t++) output[t] = (float)track.Add(calcium[t]) * scale;
        return output;
    }
}
