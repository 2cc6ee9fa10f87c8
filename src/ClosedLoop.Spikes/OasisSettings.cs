using ClosedLoop.Core;

namespace ClosedLoop.Spikes;

/// <summary>Calcium model of the deconvolution.</summary>
public enum OasisModel
{
    /// <summary>AR(1): c(t) = γ c(t−1) + s(t), an instantaneous rise and an exponential decay.</summary>
    Ar1,

    /// <summary>AR(2): a finite rise time as well (difference of two exponentials); the rise is undone by a causal
    /// filter before the AR(1) pools (see docs/spikes.md).</summary>
    Ar2,
}

/// <summary>
/// Settings of the OASIS deconvolution, shared by <see cref="OasisDeconvolver"/> (offline) and
/// <see cref="DeconvolutionStage"/> (fast loop, names <c>spikes.*</c>). All are read once (at <see cref="IFastStage.Start"/>
/// for the stage); the parameters estimated from data may change live through <see cref="DeconvolutionStage.Refit"/>.
/// </summary>
public sealed class OasisSettings : IStageSettings
{
    /// <summary>Calcium model. Default <see cref="OasisModel.Ar1"/>.</summary>
    public OasisModel Model { get; set; } = OasisModel.Ar1;

    /// <summary>Estimate the decay γ, the noise σ and the baseline from the data (offline: the whole trace; the stage:
    /// each refit). When false, <see cref="DecayS"/>, <see cref="NoiseSigmaDff"/> and a baseline of 0 are used. Default true.</summary>
    public bool Estimate { get; set; } = true;

    /// <summary>Decay time constant τ of the calcium transient, s: γ = exp(−1 / (τ · frame rate)). Used when not
    /// estimated, and by the stage until its first refit. Range 0.01..20, default 0.7.</summary>
    public double DecayS { get; set; } = 0.7;

    /// <summary>Rise time constant of the AR(2) model, s (ignored for AR(1)). Range 0.001..1 and below <see cref="DecayS"/>; default 0.05.</summary>
    public double RiseS { get; set; } = 0.05;

    /// <summary>Noise σ of the input, in its units (ΔF/F as a fraction), used when not estimated and by the stage until
    /// its first refit. Range 1e-6..100, default 0.05.</summary>
    public double NoiseSigmaDff { get; set; } = 0.05;

    /// <summary>Sparsity penalty λ per unit of spike amplitude, in units of the noise σ (0 = none). Range 0..100, default 0.</summary>
    public double LambdaSigma { get; set; }

    /// <summary>Smallest spike amplitude s_min kept, in units of the noise σ (0 = any positive size). Range 0..100, default 0.5.</summary>
    public double MinSpikeSigma { get; set; } = 0.5;

    /// <summary>Percentile of the trace taken as its baseline when estimated. Range 0..50, default 20.</summary>
    public double BaselinePercentile { get; set; } = 20;

    /// <summary>Frames of look-ahead: the value written at frame t is the spike estimate for frame t − L, which has seen
    /// L more samples (added latency L / frame rate). Range 0..30, default 0.</summary>
    public int LookAheadFrames { get; set; }

    /// <summary>Pools (stretches between spikes) kept per unit online; an older pool is final. Range 8..65536 and at least
    /// look-ahead + 2; default 256.</summary>
    public int MaxPools { get; set; } = 256;

    /// <summary>ΔF/F of one spike: the rate written is the inferred amplitude divided by this. Range 1e-4..100, default 0.1.</summary>
    public double SpikeAmplitudeDff { get; set; } = 0.1;

    /// <summary>Recent window the stage keeps for refits, s. Range 2..600, default 30.</summary>
    public double EstimateWindowS { get; set; } = 30;

    /// <inheritdoc />
    public void Validate()
    {
        if (!Enum.IsDefined(Model)) throw new SettingException("spikes.model", Model.ToString(), "ar1 or ar2");
        Check.InRange("spikes.decayS", DecayS, 0.01, 20);
        Check.InRange("spikes.riseS", RiseS, 0.001, 1);
        if (Model == OasisModel.Ar2 && RiseS >= DecayS)
            throw new SettingException("spikes.riseS", RiseS, $"below spikes.decayS ({DecayS})");
        Check.InRange("spikes.noiseSigmaDff", NoiseSigmaDff, 1e-6, 100);
        Check.InRange("spikes.lambdaSigma", LambdaSigma, 0, 100);
        Check.InRange("spikes.minSpikeSigma", MinSpikeSigma, 0, 100);
        Check.InRange("spikes.baselinePercentile", BaselinePercentile, 0, 50);
        Check.InRange("spikes.lookAheadFrames", LookAheadFrames, 0, 30);
        Check.InRange("spikes.maxPools", MaxPools, Math.Max(8, LookAheadFrames + 2), 65536);
        Check.InRange("spikes.spikeAmplitudeDff", SpikeAmplitudeDff, 1e-4, 100);
        Check.InRange("spikes.estimateWindowS", EstimateWindowS, 2, 600);
    }
}

/// <summary>
/// The parameters one unit is deconvolved with, in the units of its input. Immutable: the slow path builds new ones and
/// hands them to the fast loop whole.
/// </summary>
/// <param name="Gamma">Decay per frame γ = exp(−1 / (τ · rate)), 0 &lt; γ &lt; 1.</param>
/// <param name="Rise">Rise factor per frame for AR(2), exp(−1 / (τ_rise · rate)); 0 for AR(1).</param>
/// <param name="Baseline">Subtracted from the input before deconvolution.</param>
/// <param name="NoiseSigma">Noise σ of the input.</param>
/// <param name="Lambda">Sparsity penalty λ, input units (λ = lambdaSigma · σ).</param>
/// <param name="MinSpike">Smallest spike amplitude kept, input units (s_min = minSpikeSigma · σ).</param>
public readonly record struct OasisParameters(double Gamma, double Rise, double Baseline, double NoiseSigma, double Lambda, double MinSpike)
{
    /// <summary>Decay time constant these parameters mean at <paramref name="frameRateHz"/>, s.</summary>
    public double DecayS(double frameRateHz) => -1.0 / (Math.Log(Gamma) * frameRateHz);

    /// <summary>Parameters from the settings alone (no estimation): γ from DecayS, σ from NoiseSigmaDff, baseline 0.</summary>
    public static OasisParameters FromSettings(OasisSettings settings, double frameRateHz) =>
        Make(settings, frameRateHz, Math.Exp(-1.0 / (settings.DecayS * frameRateHz)), settings.NoiseSigmaDff, 0);

    /// <summary>Parameters with the given γ, σ and baseline, the rest from the settings.</summary>
    public static OasisParameters Make(OasisSettings settings, double frameRateHz, double gamma, double noiseSigma, double baseline)
    {
        double rise = settings.Model == OasisModel.Ar2 ? Math.Exp(-1.0 / (settings.RiseS * frameRateHz)) : 0;
        return new OasisParameters(gamma, rise, baseline, noiseSigma, settings.LambdaSigma * noiseSigma, settings.MinSpikeSigma * noiseSigma);
    }
}
