using ClosedLoop.Core;

namespace ClosedLoop.FirmwareSim.Culture;

/// <summary>
/// Parameters of the simulated culture: an Izhikevich network of regular-spiking excitatory and fast-spiking
/// inhibitory neurons with sparse random connectivity, axonal delays, STDP and short-term depression, laid on a
/// multi-electrode array. Read once when a <see cref="VirtualCulture"/> (or <see cref="IzhikevichNetwork"/>) is built;
/// nothing here may change during a run. Every setting is checked by <see cref="Validate"/>, which names the setting
/// and its allowed range. Units: ms, µm, µV, µA, nC; synaptic weights and noise are in the model's input units
/// (mV of depolarisation per 1 ms step).
/// </summary>
public sealed record CultureSettings
{
    /// <summary>Neurons in the dish (default 1000).</summary>
    public int NeuronCount { get; init; } = 1000;

    /// <summary>Fraction of neurons that are excitatory (regular spiking); the rest are inhibitory (fast spiking).</summary>
    public double ExcitatoryFraction { get; init; } = 0.8;

    /// <summary>Outgoing synapses per neuron, to distinct random targets (inhibitory neurons target excitatory ones only).</summary>
    public int ConnectionsPerNeuron { get; init; } = 100;

    /// <summary>Spatial scale of connectivity, µm: a target at distance r is drawn with relative probability
    /// exp(−r² / 2σ²) (σ = this), as neurons in a dish connect mostly to neighbours. 0: uniform random targets.</summary>
    public double ConnectionLengthUm { get; init; } = 200;

    /// <summary>Shortest axonal delay, ms (also the delay of every inhibitory synapse).</summary>
    public int MinDelayMs { get; init; } = 1;

    /// <summary>Longest axonal delay, ms; excitatory delays are uniform in [<see cref="MinDelayMs"/>, this].</summary>
    public int MaxDelayMs { get; init; } = 20;

    /// <summary>Initial excitatory weights are uniform in [0, this] (mV per spike).</summary>
    public double InitialExcitatoryWeightMax { get; init; } = 5;

    /// <summary>Weight of every inhibitory synapse (negative, mV per spike; not plastic).</summary>
    public double InhibitoryWeight { get; init; } = -5;

    /// <summary>Upper bound of plastic (excitatory) weights; the lower bound is 0.</summary>
    public double MaxWeight { get; init; } = 10;

    /// <summary>STDP potentiation per pre-before-post pairing at zero lag (A+).</summary>
    public double StdpPotentiation { get; init; } = 0.2;

    /// <summary>STDP depression per post-before-pre pairing at zero lag (A−).</summary>
    public double StdpDepression { get; init; } = 0.4;

    /// <summary>Time constant of both STDP windows, ms.</summary>
    public double StdpTauMs { get; init; } = 20;

    /// <summary>Whether excitatory → inhibitory synapses are plastic as well as excitatory → excitatory ones.</summary>
    public bool PlasticExcitatoryToInhibitory { get; init; } = true;

    /// <summary>Slow multiplicative decay of plastic weights toward 0, as a fraction per second (0 = none).</summary>
    public double WeightDecayPerS { get; init; } = 0;

    /// <summary>Standard deviation of the Gaussian input noise every neuron receives each ms (mV).</summary>
    public double NoiseSd { get; init; } = 3;

    /// <summary>Short-term depression (Tsodyks–Markram resources per presynaptic neuron) on excitatory synapses.</summary>
    public bool ShortTermDepression { get; init; } = true;

    /// <summary>Fraction of the available resources a spike uses (U).</summary>
    public double DepressionUtilisation { get; init; } = 0.1;

    /// <summary>Recovery time constant of the resources, ms.</summary>
    public double DepressionRecoveryMs { get; init; } = 200;

    /// <summary>Distance of the soma layer above the electrode plane, µm (keeps pick-up and stimulation finite).</summary>
    public double SomaHeightUm { get; init; } = 10;

    /// <summary>Neurons are spread uniformly over the electrode grid's bounding box widened by this margin, µm.</summary>
    public double DishMarginUm { get; init; } = 100;

    /// <summary>The electrode array (default: 8×8 grid without corners, 200 µm pitch).</summary>
    public MeaLayout Layout { get; init; } = MeaLayout.Mea60();

    /// <summary>How electrodes record.</summary>
    public PickupSettings Pickup { get; init; } = new();

    /// <summary>How electrodes stimulate.</summary>
    public StimulationSettings Stimulation { get; init; } = new();

    /// <summary>Seed of every random draw: the same settings give the same culture and the same activity.</summary>
    public long Seed { get; init; } = 1;

    /// <summary>Number of excitatory neurons (indices 0 … count − 1; inhibitory neurons follow).</summary>
    public int ExcitatoryCount => (int)Math.Round(NeuronCount * ExcitatoryFraction);

    /// <summary>Checks every setting; throws <see cref="SettingException"/> naming the first bad one and its range.</summary>
    public CultureSettings Validate()
    {
        Check.InRange(nameof(NeuronCount), NeuronCount, 50, 200_000);
        Check.InRange(nameof(ExcitatoryFraction), ExcitatoryFraction, 0.5, 0.95);
        Check.InRange(nameof(ConnectionsPerNeuron), ConnectionsPerNeuron, 1, Math.Min(1000, ExcitatoryCount - 1));
        Check.InRange(nameof(ConnectionLengthUm), ConnectionLengthUm, 0, 100_000);
        Check.InRange(nameof(MinDelayMs), MinDelayMs, 1, 100);
        Check.InRange(nameof(MaxDelayMs), MaxDelayMs, MinDelayMs, 100);
        Check.InRange(nameof(MaxWeight), MaxWeight, 0.01, 1000);
        Check.InRange(nameof(InitialExcitatoryWeightMax), InitialExcitatoryWeightMax, 0, MaxWeight);
        Check.InRange(nameof(InhibitoryWeight), InhibitoryWeight, -1000, 0);
        Check.InRange(nameof(StdpPotentiation), StdpPotentiation, 0, 10);
        Check.InRange(nameof(StdpDepression), StdpDepression, 0, 10);
        Check.InRange(nameof(StdpTauMs), StdpTauMs, 0.5, 1000);
        Check.InRange(nameof(WeightDecayPerS), WeightDecayPerS, 0, 1);
        Check.InRange(nameof(NoiseSd), NoiseSd, 0, 100);
        Check.InRange(nameof(DepressionUtilisation), DepressionUtilisation, 0.001, 1);
        Check.InRange(nameof(DepressionRecoveryMs), DepressionRecoveryMs, 1, 100_000);
        Check.InRange(nameof(SomaHeightUm), SomaHeightUm, 0, 1000);
        Check.InRange(nameof(DishMarginUm), DishMarginUm, 0, 10_000);
        if (Layout is null) throw new SettingException(nameof(Layout), null, "an electrode layout with at least one electrode (MeaLayout.Mea60() or MeaLayout.HighDensity(…))");
        if (Pickup is null) throw new SettingException(nameof(Pickup), null, "pick-up settings");
        if (Stimulation is null) throw new SettingException(nameof(Stimulation), null, "stimulation settings");
        Pickup.Validate();
        Stimulation.Validate();
        return this;
    }
}

/// <summary>How an electrode records extracellular spikes. Read once at construction.</summary>
public sealed record PickupSettings
{
    /// <summary>Samples per second of every electrode's voltage trace.</summary>
    public double SampleRateHz { get; init; } = 25_000;

    /// <summary>Root-mean-square of the electrode's Gaussian noise, µV.</summary>
    public double NoiseRmsUv { get; init; } = 5;

    /// <summary>Peak (negative) amplitude of a spike recorded right at the soma, µV.</summary>
    public double SpikePeakUv { get; init; } = 120;

    /// <summary>Distance at which the amplitude halves: amplitude = peak / (1 + (d / d0)²), µm.</summary>
    public double HalfAmplitudeDistanceUm { get; init; } = 25;

    /// <summary>Neurons farther than this from an electrode are not recorded on it, µm.</summary>
    public double CutoffUm { get; init; } = 100;

    /// <summary>Duration of the biphasic spike waveform, ms.</summary>
    public double SpikeDurationMs { get; init; } = 1.2;

    /// <summary>Checks the settings, naming the first bad one.</summary>
    public void Validate()
    {
        Check.InRange("Pickup.SampleRateHz", SampleRateHz, 2_000, 200_000);
        Check.InRange("Pickup.NoiseRmsUv", NoiseRmsUv, 0, 1000);
        Check.InRange("Pickup.SpikePeakUv", SpikePeakUv, 0, 10_000);
        Check.InRange("Pickup.HalfAmplitudeDistanceUm", HalfAmplitudeDistanceUm, 1, 1000);
        Check.InRange("Pickup.CutoffUm", CutoffUm, 1, 2000);
        Check.InRange("Pickup.SpikeDurationMs", SpikeDurationMs, 0.2, 5);
    }
}

/// <summary>How an electrode stimulates: current spread to somata and the artifact seen on recording electrodes.
/// Read once at construction.</summary>
public sealed record StimulationSettings
{
    /// <summary>Input to a neuron right at the electrode per nC of phase charge (mV per nC): a 20 µA × 200 µs phase
    /// (4 nC) gives 4 × this, scaled by the spread.</summary>
    public double DrivePerNanocoulomb { get; init; } = 10;

    /// <summary>Spread length: drive = charge × gain / (1 + (d / λ)²), µm.</summary>
    public double SpreadUm { get; init; } = 50;

    /// <summary>Neurons farther than this from a stimulating electrode get no drive, µm.</summary>
    public double CutoffUm { get; init; } = 200;

    /// <summary>Artifact on a recording electrode at the stimulating electrode, µV per µA of stimulus current (it falls
    /// off as 1 / (1 + d / 100 µm) with distance).</summary>
    public double ArtifactUvPerUa { get; init; } = 40;

    /// <summary>Time constant of the amplifier's recovery after a pulse (the artifact's tail), ms.</summary>
    public double ArtifactTailMs { get; init; } = 0.8;

    /// <summary>Analog-output scaling of the stimulator: µA of electrode current per volt written to an AO channel.</summary>
    public double MicroampsPerVolt { get; init; } = 10;

    /// <summary>Checks the settings, naming the first bad one.</summary>
    public void Validate()
    {
        Check.InRange("Stimulation.DrivePerNanocoulomb", DrivePerNanocoulomb, 0, 10_000);
        Check.InRange("Stimulation.SpreadUm", SpreadUm, 1, 2000);
        Check.InRange("Stimulation.CutoffUm", CutoffUm, 1, 5000);
        Check.InRange("Stimulation.ArtifactUvPerUa", ArtifactUvPerUa, 0, 100_000);
        Check.InRange("Stimulation.ArtifactTailMs", ArtifactTailMs, 0.01, 100);
        Check.InRange("Stimulation.MicroampsPerVolt", MicroampsPerVolt, 0.001, 100_000);
    }
}
