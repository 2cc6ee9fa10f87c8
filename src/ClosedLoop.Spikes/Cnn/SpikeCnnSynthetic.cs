using ClosedLoop.Core;

namespace ClosedLoop.Spikes.Cnn;

/// <summary>
/// A calcium indicator for synthetic training traces, in the virtual tissue's terms: one spike adds a double-exponential
/// transient e^(−t/τd) − e^(−t/τr), scaled so its peak is one spike's worth of calcium, and the ΔF/F is a saturating
/// function of that calcium. The CLI builds these from the virtual tissue's presets (<c>IndicatorModel.Presets</c>:
/// GCaMP6s, GCaMP6f, OGB-1), so the kernel and its nonlinearity are the simulator's own.
/// </summary>
/// <param name="Name">Indicator name (reported, not interpreted).</param>
/// <param name="RiseS">Rise time constant, s.</param>
/// <param name="DecayS">Decay time constant, s (longer than the rise).</param>
/// <param name="DffOfCalcium">ΔF/F (fraction) of a neuron holding the given calcium, in spikes' worth (1 = the peak of
/// one isolated spike's transient); includes the saturation.</param>
public sealed record SyntheticIndicator(string Name, double RiseS, double DecayS, Func<double, double> DffOfCalcium)
{
    /// <summary>Checks the time constants; throws <see cref="SettingException"/> naming the indicator.</summary>
    public void Validate()
    {
        Check.InRange($"{Name}.RiseS", RiseS, 0.0005, 2);
        Check.InRange($"{Name}.DecayS", DecayS, 0.02, 10);
        if (!(RiseS < DecayS)) throw new SettingException($"{Name}.RiseS", RiseS, $"shorter than the decay ({DecayS} s)");
    }
}

/// <summary>What synthetic training traces to build (<see cref="SpikeCnnSynthetic.Generate"/>): indicators, spike
/// statistics, per-neuron jitter, drift, noise level range and frame rates.</summary>
public sealed record SyntheticTraceSettings
{
    /// <summary>Indicators; traces are spread evenly over them.</summary>
    public IReadOnlyList<SyntheticIndicator> Indicators { get; init; } = [];

    /// <summary>Synthetic neurons (traces) in all.</summary>
    public int Traces { get; init; } = 60;

    /// <summary>Length of each trace, s.</summary>
    public double DurationS { get; init; } = 240;

    /// <summary>Frame rates (Hz) the traces are sampled at, one drawn per trace.</summary>
    public double[] FrameRatesHz { get; init; } = [7.5, 15, 30, 60, 100];

    /// <summary>Lowest noise level ν (% ΔF/F per √Hz, see <see cref="SpikeCnnPreprocessing.NoiseLevel"/>); ν is drawn
    /// log-uniformly per trace between this and <see cref="NuMax"/>.</summary>
    public double NuMin { get; init; } = 0.5;

    /// <summary>Highest noise level ν.</summary>
    public double NuMax { get; init; } = 6;

    /// <summary>Lowest mean background firing rate, Hz (drawn log-uniformly per neuron up to <see cref="SpikeRateMaxHz"/>).</summary>
    public double SpikeRateMinHz { get; init; } = 0.2;

    /// <summary>Highest mean background firing rate, Hz.</summary>
    public double SpikeRateMaxHz { get; init; } = 5;

    /// <summary>Bursts per second per neuron, on top of the background firing (drawn uniformly per neuron from 0 to this).</summary>
    public double BurstRateMaxHz { get; init; } = 0.3;

    /// <summary>Largest number of spikes in one burst (2 … this, uniformly; spikes 5–20 ms apart).</summary>
    public int BurstSpikesMax { get; init; } = 6;

    /// <summary>S.d. of the natural log of the per-neuron ΔF/F amplitude factor (0.4: most neurons within ×0.5 … ×2).</summary>
    public double AmplitudeJitter { get; init; } = 0.4;

    /// <summary>S.d. of the natural log of the per-neuron factor on the rise and decay time constants.</summary>
    public double KineticsJitter { get; init; } = 0.25;

    /// <summary>S.d. of the slow baseline drift, ΔF/F fraction (an AR(1) process with a 30 s time constant).</summary>
    public double DriftDff { get; init; } = 0.05;

    /// <summary>Checks every field; throws <see cref="SettingException"/> naming the first bad one.</summary>
    public void Validate()
    {
        if (Indicators.Count == 0) throw new SettingException("synthetic indicators", 0, "at least one indicator");
        foreach (var i in Indicators) i.Validate();
        Check.InRange("synthetic Traces", Traces, 1, 100_000);
        Check.InRange("synthetic DurationS", DurationS, 5, 36_000);
        if (FrameRatesHz.Length == 0) throw new SettingException("synthetic FrameRatesHz", "(empty)", "at least one rate");
        foreach (var r in FrameRatesHz) Check.InRange("synthetic FrameRatesHz", r, 1, 1000);
        Check.InRange("synthetic NuMin", NuMin, 0.01, 100);
        Check.InRange("synthetic NuMax", NuMax, NuMin, 100);
        Check.InRange("synthetic SpikeRateMinHz", SpikeRateMinHz, 0.001, 100);
        Check.InRange("synthetic SpikeRateMaxHz", SpikeRateMaxHz, SpikeRateMinHz, 100);
        Check.InRange("synthetic BurstRateMaxHz", BurstRateMaxHz, 0, 10);
        Check.InRange("synthetic BurstSpikesMax", BurstSpikesMax, 2, 50);
        Check.InRange("synthetic AmplitudeJitter", AmplitudeJitter, 0, 2);
        Check.InRange("synthetic KineticsJitter", KineticsJitter, 0, 2);
        Check.InRange("synthetic DriftDff", DriftDff, 0, 10);
    }
}

/// <summary>
/// Synthetic ΔF/F traces with known spikes, for training the spike CNN on indicators it has no ground truth for.
/// Per neuron: a Poisson spike train whose rate follows a slow log-normal modulation (10 s time constant) plus Poisson
/// bursts; an indicator from the list with its rise, decay and amplitude jittered; the transient integrated frame by
/// frame as in the virtual tissue (two AR(1) states, a spike during a frame counted at the frame's end) and passed
/// through the indicator's saturation; a slow baseline drift; white noise scaled to a drawn ν.
/// </summary>
public static class SpikeCnnSynthetic
{
    /// <summary>Builds <see cref="SyntheticTraceSettings.Traces"/> traces; the same settings and seed give the same traces.</summary>
    public static List<SpikeTrainingTrace> Generate(SyntheticTraceSettings settings, int seed)
    {
        settings.Validate();
        var rng = new Random(seed);
        var list = new List<SpikeTrainingTrace>(settings.Traces);
        for (int k = 0; k < settings.Traces; k++)
        {
            var ind = settings.Indicators[k % settings.Indicators.Count];
            double rate = settings.FrameRatesHz[rng.Next(settings.FrameRatesHz.Length)];
            double nu = LogUniform(rng, settings.NuMin, settings.NuMax);
            list.Add(One(settings, ind, rate, nu, rng));
        }
        return list;
    }

    private static SpikeTrainingTrace One(SyntheticTraceSettings s, SyntheticIndicator ind, double rateHz, double nu, Random rng)
    {
        int n = (int)Math.Round(s.DurationS * rateHz);
        double dt = 1 / rateHz;
        // Spike times on a 1 ms grid, then counted per frame.
        double meanHz = LogUniform(rng, s.SpikeRateMinHz, s.SpikeRateMaxHz);
        double burstHz = rng.NextDouble() * s.BurstRateMaxHz;
        double modSd = 0.3 + 0.7 * rng.NextDouble();
        var spikes = new double[n];
        const double step = 1e-3;
        double mod = Gaussian(rng), modDecay = Math.Exp(-10 * step / 10.0), modInnov = Math.Sqrt(1 - modDecay * modDecay);
        double norm = Math.Exp(-0.5 * modSd * modSd); // keeps the mean rate at meanHz
        int steps = (int)(s.DurationS / step);
        double lambda = 0;
        for (int i = 0; i < steps; i++)
        {
            if (i % 10 == 0)
            {
                mod = mod * modDecay + modInnov * Gaussian(rng);
                lambda = meanHz * norm * Math.Exp(modSd * mod);
            }
            double t = i * step;
            if (rng.NextDouble() < lambda * step) Add(spikes, t, rateHz);
            if (rng.NextDouble() < burstHz * step)
            {
                int count = 2 + rng.Next(s.BurstSpikesMax - 1);
                double bt = t;
                for (int j = 0; j < count; j++) { Add(spikes, bt, rateHz); bt += 0.005 + 0.015 * rng.NextDouble(); }
            }
        }
        // Indicator with per-neuron jitter.
        double kin = Math.Exp(s.KineticsJitter * Gaussian(rng));
        double rise = ind.RiseS * kin, decay = ind.DecayS * Math.Exp(s.KineticsJitter * Gaussian(rng));
        if (decay <= rise * 1.5) decay = rise * 1.5;
        double amp = Math.Exp(s.AmplitudeJitter * Gaussian(rng));
        double tp = rise * decay / (decay - rise) * Math.Log(decay / rise);
        double peak = Math.Exp(-tp / decay) - Math.Exp(-tp / rise);
        double gr = Math.Exp(-dt / rise), gd = Math.Exp(-dt / decay);
        double driftDecay = Math.Exp(-dt / 30.0), driftInnov = Math.Sqrt(1 - driftDecay * driftDecay);
        double drift = s.DriftDff * Gaussian(rng);
        double sigma = nu * Math.Sqrt(rateHz) / (100 * 0.954);
        var ca = new double[n];
        double dState = 0, rState = 0;
        for (int t = 0; t < n; t++)
        {
            dState = gd * (dState + spikes[t]);
            rState = gr * (rState + spikes[t]);
            double c = (dState - rState) / peak;
            drift = drift * driftDecay + s.DriftDff * driftInnov * Gaussian(rng);
            ca[t] = amp * ind.DffOfCalcium(c) + drift + sigma * Gaussian(rng);
        }
        return new SpikeTrainingTrace(ca, spikes, rateHz);
    }

    private static void Add(double[] spikes, double timeS, double rateHz)
    {
        int f = (int)(timeS * rateHz);
        if (f < spikes.Length) spikes[f] += 1;
    }

    private static double LogUniform(Random rng, double lo, double hi) => lo * Math.Exp(rng.NextDouble() * Math.Log(hi / lo));

    private static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
