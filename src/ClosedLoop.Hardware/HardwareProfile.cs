using ClosedLoop.Core;

namespace ClosedLoop.Hardware;

/// <summary>
/// A rig described in a YAML hardware profile: which DAQ backend, what the imaging path produces, the simulated
/// preparation (for dry runs), the stimulators with their safety limits and, optionally, what a real scanning rig is
/// made of: DAQ devices and the channels wired to them, scanners, an electrically tunable lens, the optics, the laser
/// and the detectors. Every range lives in the <c>Validate</c> methods; the loader adds the file and line to their
/// errors, and <see cref="ProfileChecks"/> checks the wiring across sections.
/// Units are in the names and SI-derived (Hz, s, ms, µs, mW, px, V, deg, mm, nm, dpt).
/// </summary>
public sealed class HardwareProfile
{
    /// <summary>Short name of the rig.</summary>
    public string Name { get; set; } = "";

    /// <summary>Free text for people.</summary>
    public string? Description { get; set; }

    /// <summary>File the profile was read from ("builtin:..." for embedded ones).</summary>
    public string SourcePath { get; set; } = "";

    /// <summary>The acquisition backend.</summary>
    public DaqProfile Daq { get; set; } = new();

    /// <summary>What the imaging path delivers.</summary>
    public ImagingProfile Imaging { get; set; } = new();

    /// <summary>The simulated preparation; required when <see cref="DaqProfile.Backend"/> is <c>simulated</c>.</summary>
    public SimulationProfile? Simulation { get; set; }

    /// <summary>Stimulators, each with its own safety limits.</summary>
    public List<StimulatorProfile> Stimulators { get; set; } = new();

    /// <summary>The scan mirrors; null when the profile does not describe them (the simulated frame source needs none).</summary>
    public ScannersProfile? Scanners { get; set; }

    /// <summary>The electrically tunable lens used for remote focusing; null when the rig has none.</summary>
    public EtlProfile? Etl { get; set; }

    /// <summary>Lenses and mirrors of the scan path, for the optics calculators; null when not described.</summary>
    public OpticsProfile? Optics { get; set; }

    /// <summary>The imaging laser; null when not described.</summary>
    public LaserProfile? Laser { get; set; }

    /// <summary>The detectors (photomultipliers), in the order of their frame channels.</summary>
    public List<PmtProfile> Pmts { get; set; } = new();

    /// <summary>A multi-electrode array rig (electrode streams instead of images), or null.</summary>
    public MeaProfile? Mea { get; set; }

    /// <summary>Checks every value and the consistency between sections.</summary>
    public void Validate()
    {
        Check.NotEmpty("name", Name);
        Daq.Validate();
        Imaging.Validate();
        if (Daq.Backend == DaqBackend.Simulated)
        {
            if (Simulation is null) throw new SettingException("simulation", null, "present when daq.backend is 'simulated'");
            Simulation.Validate(Imaging);
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Stimulators.Count; i++)
        {
            Stimulators[i].Validate($"stimulators[{i}]");
            if (!names.Add(Stimulators[i].Name))
                throw new SettingException($"stimulators[{i}].name", Stimulators[i].Name, "unique among the profile's stimulators");
        }
        Scanners?.Validate();
        Etl?.Validate();
        Mea?.Validate();
        Optics?.Validate();
        Laser?.Validate();
        var pmtNames = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Pmts.Count; i++)
        {
            Pmts[i].Validate($"pmts[{i}]");
            if (!pmtNames.Add(Pmts[i].Name))
                throw new SettingException($"pmts[{i}].name", Pmts[i].Name, "unique among the profile's pmts");
        }
    }

    /// <summary>The stimulator with this name, or null.</summary>
    public StimulatorProfile? FindStimulator(string name) => Stimulators.FirstOrDefault(s => s.Name == name);
}

/// <summary>Which acquisition backend drives the rig.</summary>
public enum DaqBackend
{
    /// <summary>firmware-sim: simulated DAQ timing and a virtual preparation.</summary>
    Simulated,
    /// <summary>National Instruments hardware through the NI-DAQmx C API.</summary>
    NiDaqmx,
}

/// <summary>The acquisition backend section.</summary>
public sealed class DaqProfile
{
    /// <summary><c>simulated</c> or <c>nidaqmx</c>.</summary>
    public DaqBackend Backend { get; set; } = DaqBackend.Simulated;

    /// <summary>Device name as the driver knows it (e.g. <c>Dev1</c>); the device of every channel that names none.</summary>
    public string? Device { get; set; }

    /// <summary>The DAQ devices of the rig with their limits; channels may only be wired to these.</summary>
    public List<DaqDeviceProfile> Devices { get; set; } = new();

    /// <summary>The timebase every task derives its sample clock from, so AO, AI and counters stay in step; null =
    /// each device's own onboard clock.</summary>
    public TimebaseProfile? Timebase { get; set; }

    /// <summary>The trigger that starts every task together; null = tasks start in software order.</summary>
    public StartTriggerProfile? StartTrigger { get; set; }

    /// <summary>Physical channels by logical role name (<c>galvoY</c>, <c>pmt1</c>, <c>shutter</c>); scanners, ETL, laser,
    /// detectors and stimulators refer to these names. Kept in file order.</summary>
    public Dictionary<string, DaqChannelProfile> Channels { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The declared device named <paramref name="name"/>, or null.</summary>
    public DaqDeviceProfile? FindDevice(string? name) => Devices.FirstOrDefault(d => d.Name == name);

    /// <summary>Checks the section.</summary>
    public void Validate()
    {
        if (Backend == DaqBackend.NiDaqmx) Check.NotEmpty("daq.device", Device);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Devices.Count; i++)
        {
            Devices[i].Validate($"daq.devices[{i}]");
            if (!names.Add(Devices[i].Name))
                throw new SettingException($"daq.devices[{i}].name", Devices[i].Name, "unique among daq.devices");
        }
        Timebase?.Validate("daq.timebase");
        StartTrigger?.Validate("daq.startTrigger");
        foreach (var (role, channel) in Channels)
        {
            Check.NotEmpty($"daq.channels.{role}", role);
            channel.Validate($"daq.channels.{role}");
        }
    }
}

/// <summary>What the imaging path delivers to the fast loop.</summary>
public sealed class ImagingProfile
{
    /// <summary>Pixels per line (fast axis).</summary>
    public int WidthPx { get; set; } = 512;

    /// <summary>Lines per frame (slow axis).</summary>
    public int HeightPx { get; set; } = 512;

    /// <summary>Frames per second.</summary>
    public double FrameRateHz { get; set; } = 30;

    /// <summary>Edge length of one pixel at the sample, in µm (for stimulation spot sizes and reports).</summary>
    public double PixelSizeUm { get; set; } = 1.0;

    /// <summary>Scan zoom: the scanners sweep their largest angle divided by this (1 = the full field). Used by the
    /// galvo timing check and the optics calculators.</summary>
    public double Zoom { get; set; } = 1.0;

    /// <summary>Checks the section.</summary>
    public void Validate()
    {
        Check.InRange("imaging.zoom", Zoom, 1, 100);
        Check.InRange("imaging.widthPx", WidthPx, 8, 4096);
        Check.InRange("imaging.heightPx", HeightPx, 8, 4096);
        Check.InRange("imaging.frameRateHz", FrameRateHz, 0.1, 1000);
        Check.InRange("imaging.pixelSizeUm", PixelSizeUm, 0.01, 100);
    }
}

/// <summary>How a simulated rig paces its frames.</summary>
public enum SimulationPacing
{
    /// <summary>Frames come at the profile's frame rate on the host clock, as on a real rig.</summary>
    Realtime,
    /// <summary>Each frame is produced as soon as the loop has finished the previous one; the sample clock still
    /// advances by one frame period per frame, so protocols behave as in real time.</summary>
    Fast,
}

/// <summary>The simulated preparation of a dry run (firmware-sim).</summary>
public sealed class SimulationProfile
{
    /// <summary>Real-time or as-fast-as-possible pacing (the command line can override it).</summary>
    public SimulationPacing Pacing { get; set; } = SimulationPacing.Realtime;

    /// <summary>Seed of every random draw; the same seed gives the same movie and the same spikes.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>The virtual tissue.</summary>
    public TissueProfile Tissue { get; set; } = new();

    /// <summary>Rehearses a device failure: the simulated DAQ stops with an error after this many seconds of
    /// acquisition, so a lab can see that stimulation goes off and the recording stays readable. Null = never.</summary>
    public double? FaultAfterS { get; set; }

    /// <summary>Checks the section against the imaging size.</summary>
    public void Validate(ImagingProfile imaging)
    {
        if (FaultAfterS is double f) Check.InRange("simulation.faultAfterS", f, 0, 7 * 86_400);
        Tissue.Validate(imaging);
    }
}

/// <summary>
/// A virtual field of view: neuron footprints (human-labelled masks or generated), spiking, a calcium indicator,
/// neuropil, background and photon shot noise, plus synaptic pathways and an opsin so stimulation has effects.
/// </summary>
public sealed class TissueProfile
{
    /// <summary><c>builtin:YST_part11</c> (the masks shipped with firmware-sim), a path to a masks JSON file
    /// (layout of ../shared/data/masks), or <c>generated</c>.</summary>
    public string Footprints { get; set; } = "builtin:YST_part11";

    /// <summary>Neurons to place when <see cref="Footprints"/> is <c>generated</c>.</summary>
    public int GeneratedNeuronCount { get; set; } = 300;

    /// <summary>Soma radius of generated neurons, in pixels.</summary>
    public double NeuronRadiusPx { get; set; } = 5;

    /// <summary>Mean spontaneous firing rate, in Hz (each neuron's rate is drawn around it).</summary>
    public double SpontaneousRateHz { get; set; } = 0.2;

    /// <summary>Where spontaneous spike trains come from: <c>poisson</c> or <c>spikefinder</c> (real ground-truth trains).</summary>
    public SpikeSource SpikeSource { get; set; } = SpikeSource.Poisson;

    /// <summary>With <c>spikeSource: spikefinder</c>: stretch or compress each real train in time so the neuron fires
    /// at its drawn rate (around <see cref="SpontaneousRateHz"/>); false keeps the recorded timing and rates.</summary>
    public bool SpikefinderMatchRate { get; set; } = true;

    /// <summary>Calcium indicator preset: <c>GCaMP6s</c>, <c>GCaMP6f</c>, <c>OGB-1</c> or <c>custom</c> (then
    /// <see cref="IndicatorRiseS"/>, <see cref="IndicatorDecayS"/> and <see cref="DffPerSpike"/> are required).</summary>
    public string Indicator { get; set; } = IndicatorModel.GCaMP6s.Name;

    /// <summary>Overrides the indicator's rise time constant, in s; null = the preset's.</summary>
    public double? IndicatorRiseS { get; set; }

    /// <summary>Overrides the indicator's decay time constant, in s; null = the preset's.</summary>
    public double? IndicatorDecayS { get; set; }

    /// <summary>Overrides the peak ΔF/F of one spike, as a fraction (0.2 = 20 %); null = the preset's.</summary>
    public double? DffPerSpike { get; set; }

    /// <summary>Overrides the calcium (spikes' worth) at which the indicator saturates; null = the preset's.</summary>
    public double? SaturationSpikes { get; set; }

    /// <summary>Overrides the sharpness of the saturation (Hill-type exponent); null = the preset's.</summary>
    public double? SaturationHill { get; set; }

    /// <summary>Requested noise level ν of ROI-mean ΔF/F traces (%/√Hz, Rupprecht et al. 2021). When set, the photon
    /// budget (soma and background photons, in proportion) is chosen so that the median neuron's ν equals it; null
    /// = use <see cref="NeuronBaselinePhotons"/> and <see cref="BackgroundPhotons"/> as given.</summary>
    public double? NoiseLevel { get; set; }

    /// <summary>S.d. of the slow multiplicative drift of the whole field's brightness (laser power, focus), as a
    /// fraction; 0 = none.</summary>
    public double DriftFraction { get; set; }

    /// <summary>S.d. of each soma's own slow multiplicative baseline drift, as a fraction; 0 = none.</summary>
    public double NeuronDriftFraction { get; set; }

    /// <summary>Time constant of both drifts (AR(1) processes), in s.</summary>
    public double DriftTimeConstantS { get; set; } = 60;

    /// <summary>Photobleaching: brightness falls as exp(−t / bleachTauS); null = no bleaching.</summary>
    public double? BleachTauS { get; set; }

    /// <summary>Brain motion (rigid or non-rigid); none by default.</summary>
    public MotionProfile Motion { get; set; } = new();

    /// <summary>Resting brightness of a soma, in photons per pixel per frame.</summary>
    public double NeuronBaselinePhotons { get; set; } = 60;

    /// <summary>Background (out-of-soma) brightness, in photons per pixel per frame.</summary>
    public double BackgroundPhotons { get; set; } = 20;

    /// <summary>Amplitude of the slow shared neuropil fluctuation, as a fraction of the background.</summary>
    public double NeuropilFraction { get; set; } = 0.1;

    /// <summary>Detector counts per photon (the PMT and digitiser gain).</summary>
    public double CountsPerPhoton { get; set; } = 4;

    /// <summary>Synaptic pathways between neuron groups (by neuron index), so stimulating one group can drive another.</summary>
    public List<PathwayProfile> Pathways { get; set; } = new();

    /// <summary>The opsin's response to photostimulation.</summary>
    public OpsinProfile Opsin { get; set; } = new();

    /// <summary>Checks the section.</summary>
    public void Validate(ImagingProfile imaging)
    {
        const string p = "simulation.tissue";
        Check.NotEmpty($"{p}.footprints", Footprints);
        Check.InRange($"{p}.generatedNeuronCount", GeneratedNeuronCount, 1, 100_000);
        Check.InRange($"{p}.neuronRadiusPx", NeuronRadiusPx, 1, Math.Min(imaging.WidthPx, imaging.HeightPx) / 4.0);
        Check.InRange($"{p}.spontaneousRateHz", SpontaneousRateHz, 0, 50);
        ResolveIndicator().Validate(p);
        if (NoiseLevel is double nu) Check.InRange($"{p}.noiseLevel", nu, 0.01, 100);
        Check.InRange($"{p}.driftFraction", DriftFraction, 0, 0.5);
        Check.InRange($"{p}.neuronDriftFraction", NeuronDriftFraction, 0, 0.5);
        Check.InRange($"{p}.driftTimeConstantS", DriftTimeConstantS, 0.1, 1e6);
        if (BleachTauS is double bleach) Check.InRange($"{p}.bleachTauS", bleach, 0.1, 1e7);
        Motion.Validate($"{p}.motion", imaging);
        Check.InRange($"{p}.neuronBaselinePhotons", NeuronBaselinePhotons, 0.01, 1e5);
        Check.InRange($"{p}.backgroundPhotons", BackgroundPhotons, 0, 1e5);
        Check.InRange($"{p}.neuropilFraction", NeuropilFraction, 0, 1);
        Check.InRange($"{p}.countsPerPhoton", CountsPerPhoton, 0.001, 1000);
        for (int i = 0; i < Pathways.Count; i++) Pathways[i].Validate($"{p}.pathways[{i}]");
        Opsin.Validate($"{p}.opsin");
    }

    /// <summary>The indicator in effect: the preset named by <see cref="Indicator"/> with the overrides that are set.</summary>
    /// <exception cref="SettingException">The name is unknown, or <c>custom</c> lacks a required value.</exception>
    public IndicatorModel ResolveIndicator()
    {
        const string p = "simulation.tissue";
        string name = Check.NotEmpty($"{p}.indicator", Indicator).Trim();
        IndicatorModel basis;
        if (string.Equals(name, IndicatorModel.CustomName, StringComparison.OrdinalIgnoreCase))
        {
            if (IndicatorRiseS is null) throw new SettingException($"{p}.indicatorRiseS", null, "given when indicator is 'custom'");
            if (IndicatorDecayS is null) throw new SettingException($"{p}.indicatorDecayS", null, "given when indicator is 'custom'");
            if (DffPerSpike is null) throw new SettingException($"{p}.dffPerSpike", null, "given when indicator is 'custom'");
            basis = new IndicatorModel(IndicatorModel.CustomName, IndicatorRiseS.Value, IndicatorDecayS.Value, DffPerSpike.Value, 10, 1);
        }
        else
            basis = IndicatorModel.FindPreset(name) ?? throw new SettingException($"{p}.indicator", Indicator,
                $"one of {string.Join(", ", IndicatorModel.Presets.Select(m => m.Name))} or {IndicatorModel.CustomName}");
        return basis with
        {
            RiseS = IndicatorRiseS ?? basis.RiseS,
            DecayS = IndicatorDecayS ?? basis.DecayS,
            DffPerSpike = DffPerSpike ?? basis.DffPerSpike,
            SaturationSpikes = SaturationSpikes ?? basis.SaturationSpikes,
            SaturationHill = SaturationHill ?? basis.SaturationHill,
        };
    }
}

/// <summary>A synaptic pathway: a spike in any <see cref="From"/> neuron makes each <see cref="To"/> neuron fire
/// with <see cref="Probability"/> after <see cref="DelayS"/>.</summary>
public sealed class PathwayProfile
{
    /// <summary>Presynaptic neuron indices.</summary>
    public List<int> From { get; set; } = new();

    /// <summary>Postsynaptic neuron indices.</summary>
    public List<int> To { get; set; } = new();

    /// <summary>Chance that one presynaptic spike makes one postsynaptic neuron fire.</summary>
    public double Probability { get; set; } = 0.1;

    /// <summary>Delay from the presynaptic to the postsynaptic spike, in s.</summary>
    public double DelayS { get; set; } = 0.1;

    /// <summary>Checks the pathway.</summary>
    public void Validate(string path)
    {
        if (From.Count == 0) throw new SettingException($"{path}.from", 0, "at least one neuron index");
        if (To.Count == 0) throw new SettingException($"{path}.to", 0, "at least one neuron index");
        Check.InRange($"{path}.probability", Probability, 0, 1);
        Check.InRange($"{path}.delayS", DelayS, 0, 10);
    }
}

/// <summary>How neurons respond to light: opsin kinetics (see <see cref="OpsinModel"/>) turn each pulse into an open
/// fraction over time; a targeted neuron fires (at most once per pulse) when the integrated photocurrent crosses a
/// random threshold, so the chance of a spike grows with power, pulse width and pulse rate.</summary>
public sealed class OpsinProfile
{
    /// <summary>Pulse width at which <see cref="HalfActivationPowerMw"/> is defined, in ms.</summary>
    public const double ReferencePulseMs = 5;

    /// <summary>Opsin preset: <c>ChR2</c>, <c>C1V1</c>, <c>ChRmine</c> or <c>custom</c> (then <see cref="OnMs"/> and
    /// <see cref="OffMs"/> are required).</summary>
    public string Kind { get; set; } = OpsinModel.ChR2.Name;

    /// <summary>Overrides the activation time constant at saturating light, in ms; null = the preset's.</summary>
    public double? OnMs { get; set; }

    /// <summary>Overrides the deactivation time constant, in ms; null = the preset's.</summary>
    public double? OffMs { get; set; }

    /// <summary>Power at which one isolated <see cref="ReferencePulseMs"/> ms pulse fires a targeted neuron with
    /// probability 1 − 1/e, in mW.</summary>
    public double HalfActivationPowerMw { get; set; } = 5;

    /// <summary>Power at which the opening rate is half its maximum, in mW.</summary>
    public double SaturationPowerMw { get; set; } = 20;

    /// <summary>Radius around a stimulation spot within which a soma is driven, in pixels.</summary>
    public double SpotRadiusPx { get; set; } = 4;

    /// <summary>Delay from the photocurrent's threshold crossing to the spike (membrane charging, spike initiation), in ms.</summary>
    public double LatencyMs { get; set; } = 2;

    /// <summary>The opsin kinetics in effect: the preset named by <see cref="Kind"/> with the overrides that are set.</summary>
    public OpsinModel ResolveModel(string path = "simulation.tissue.opsin")
    {
        string name = Check.NotEmpty($"{path}.kind", Kind).Trim();
        OpsinModel basis;
        if (string.Equals(name, "custom", StringComparison.OrdinalIgnoreCase))
        {
            if (OnMs is null) throw new SettingException($"{path}.onMs", null, "given when kind is 'custom'");
            if (OffMs is null) throw new SettingException($"{path}.offMs", null, "given when kind is 'custom'");
            basis = new OpsinModel("custom", OnMs.Value, OffMs.Value);
        }
        else
            basis = OpsinModel.FindPreset(name) ?? throw new SettingException($"{path}.kind", Kind,
                $"one of {string.Join(", ", OpsinModel.Presets.Select(m => m.Name))} or custom");
        return basis with { OnMs = OnMs ?? basis.OnMs, OffMs = OffMs ?? basis.OffMs };
    }

    /// <summary>Checks the section.</summary>
    public void Validate(string path)
    {
        var model = ResolveModel(path);
        Check.InRange($"{path}.onMs", model.OnMs, 0.05, 100);
        Check.InRange($"{path}.offMs", model.OffMs, 0.5, 5000);
        Check.InRange($"{path}.halfActivationPowerMw", HalfActivationPowerMw, 0.01, 1000);
        Check.InRange($"{path}.saturationPowerMw", SaturationPowerMw, 0.01, 10_000);
        Check.InRange($"{path}.spotRadiusPx", SpotRadiusPx, 0.5, 100);
        Check.InRange($"{path}.latencyMs", LatencyMs, 0, 1000);
    }
}

/// <summary>Kinds of stimulator.</summary>
public enum StimulatorKind
{
    /// <summary>Photostimulation of spots in the field of view (laser + galvos or SLM).</summary>
    Optogenetic,

    /// <summary>Current-controlled biphasic pulses on MEA electrodes.</summary>
    Electrical,
}

/// <summary>A stimulator and its safety limits. The limits are enforced by the safety interlock for every command
/// of every protocol; a protocol cannot raise them.</summary>
public sealed class StimulatorProfile
{
    /// <summary>Name protocols refer to.</summary>
    public string Name { get; set; } = "";

    /// <summary>What kind of device it is.</summary>
    public StimulatorKind Kind { get; set; } = StimulatorKind.Optogenetic;

    /// <summary>Highest power per spot at the sample, in mW.</summary>
    public double MaxPowerMw { get; set; } = 20;

    /// <summary>Longest single pulse, in ms.</summary>
    public double MaxPulseWidthMs { get; set; } = 50;

    /// <summary>Most pulses in any one-second window.</summary>
    public double MaxPulseRateHz { get; set; } = 50;

    /// <summary>Highest fraction of time the output may be on over any one-second window.</summary>
    public double MaxDutyCycle { get; set; } = 0.2;

    /// <summary>Stimulation is switched off when the fast loop has not finished a frame for this long, in ms.</summary>
    public double WatchdogTimeoutMs { get; set; } = 250;

    /// <summary>Electrical stimulators: highest current of either phase, µA.</summary>
    public double MaxAmplitudeUa { get; set; } = 50;

    /// <summary>Electrical stimulators: longest phase, µs.</summary>
    public double MaxPhaseWidthUs { get; set; } = 500;

    /// <summary>Electrical stimulators: most charge in one phase, nC (µA × µs / 1000).</summary>
    public double MaxChargePerPhaseNc { get; set; } = 10;

    /// <summary>Electrical stimulators: every pulse must be charge-balanced (both phases carry the same charge,
    /// within 1 %).</summary>
    public bool ChargeBalanceRequired { get; set; } = true;

    /// <summary>Role name of the digital output (in <c>daq.channels</c>) that gates or triggers this stimulator; null
    /// when it is driven some other way.</summary>
    public string? TriggerChannel { get; set; }

    /// <summary>Checks the stimulator's settings; <paramref name="path"/> is its place in the file.</summary>
    public void Validate(string path)
    {
        Check.NotEmpty($"{path}.name", Name);
        Check.InRange($"{path}.maxPowerMw", MaxPowerMw, 0, 2000);
        Check.InRange($"{path}.maxPulseWidthMs", MaxPulseWidthMs, 0.001, 10_000);
        Check.InRange($"{path}.maxPulseRateHz", MaxPulseRateHz, 0.001, 10_000);
        Check.InRange($"{path}.maxDutyCycle", MaxDutyCycle, 0.0001, 1);
        Check.InRange($"{path}.watchdogTimeoutMs", WatchdogTimeoutMs, 10, 10_000);
        Check.InRange($"{path}.maxAmplitudeUa", MaxAmplitudeUa, 0, 10_000);
        Check.InRange($"{path}.maxPhaseWidthUs", MaxPhaseWidthUs, 1, 100_000);
        Check.InRange($"{path}.maxChargePerPhaseNc", MaxChargePerPhaseNc, 0, 10_000);
        if (TriggerChannel is not null) Check.NotEmpty($"{path}.triggerChannel", TriggerChannel);
    }
}

/// <summary>
/// A multi-electrode array rig: one analog input channel per electrode (channel N = electrode N, in the layout's
/// name order) read in blocks of <see cref="BlockMs"/>, one analog output channel per electrode driving its current
/// stimulator. With <c>daq.backend: simulated</c> the array carries a virtual culture (firmware-sim).
/// </summary>
public sealed class MeaProfile
{
    /// <summary>Electrode layout: <c>60</c> (8 × 8 without corners, names 12 … 87) or <c>hd</c> /
    /// <c>hd:ROWSxCOLS@PITCH_UM</c>.</summary>
    public string Layout { get; set; } = "60";

    /// <summary>DAQ device name (channels DEVICE/aiN and DEVICE/aoN).</summary>
    public string Device { get; set; } = "Mea1";

    /// <summary>Sampling rate per electrode, Hz.</summary>
    public double SampleRateHz { get; set; } = 25_000;

    /// <summary>Samples of every electrode are handed on in blocks of this many ms (one block = one frame of the
    /// fast loop).</summary>
    public int BlockMs { get; set; } = 1;

    /// <summary>Head-stage and amplifier gain between electrode and ADC.</summary>
    public double AmplifierGain { get; set; } = 1000;

    /// <summary>AI range at the ADC, ± V.</summary>
    public double AiRangeV { get; set; } = 5;

    /// <summary>AO range, ± V.</summary>
    public double AoRangeV { get; set; } = 10;

    /// <summary>Stimulator current per AO volt, µA/V.</summary>
    public double MicroampsPerVolt { get; set; } = 10;

    /// <summary>Simulated culture: neurons.</summary>
    public int CultureNeurons { get; set; } = 1000;

    /// <summary>Simulated culture: seed (same seed, same culture and activity).</summary>
    public long CultureSeed { get; set; } = 1;

    /// <summary>Checks every setting, naming the first bad one.</summary>
    public void Validate()
    {
        Check.NotEmpty("mea.layout", Layout);
        Check.NotEmpty("mea.device", Device);
        Check.InRange("mea.sampleRateHz", SampleRateHz, 1000, 100_000);
        Check.InRange("mea.blockMs", BlockMs, 1, 100);
        Check.InRange("mea.amplifierGain", AmplifierGain, 1, 1e6);
        Check.InRange("mea.aiRangeV", AiRangeV, 0.01, 10);
        Check.InRange("mea.aoRangeV", AoRangeV, 0.01, 10);
        Check.InRange("mea.microampsPerVolt", MicroampsPerVolt, 0.001, 10_000);
        Check.InRange("mea.culture.neurons", CultureNeurons, 50, 200_000);
        if (SampleRateHz / 1000 * BlockMs % 1 != 0)
            throw new SettingException("mea.sampleRateHz", SampleRateHz, "a whole number of samples per block (a multiple of 1000 Hz / blockMs)");
    }
}
