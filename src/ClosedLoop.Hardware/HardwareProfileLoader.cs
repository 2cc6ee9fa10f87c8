using System.Reflection;
using ClosedLoop.Core;
using ClosedLoop.Hardware.Yaml;

namespace ClosedLoop.Hardware;

/// <summary>
/// Reads a <see cref="HardwareProfile"/> from YAML (a file or one of the profiles built into this assembly),
/// refuses unknown keys, keeps the model's defaults for keys left out, validates the result and reports every
/// problem as a <see cref="SettingException"/> naming the file, line, setting and allowed range.
/// Keys are the model's property names in camelCase (<c>frameRateHz</c>, <c>maxPowerMw</c>).
/// </summary>
public static partial class HardwareProfileLoader
{
    /// <summary>Prefix that selects a profile built into the assembly, e.g. <c>builtin:sim-two-photon</c>.</summary>
    public const string BuiltinPrefix = "builtin:";

    private const string ResourcePrefix = "profiles/";
    private const string ResourceSuffix = ".yaml";

    /// <summary>Loads <paramref name="pathOrBuiltin"/>: a path to a YAML file, or <c>builtin:NAME</c> for a shipped
    /// profile (see <see cref="BuiltinNames"/>). Relative <c>simulation.tissue.footprints</c> paths are resolved
    /// against the profile file's folder.</summary>
    /// <exception cref="SettingException">The file is missing or malformed, a key is unknown, a value has the
    /// wrong type or range, or the model's checks (including the wiring errors of <see cref="ProfileChecks.Wiring"/>)
    /// fail; the message names file, line, setting and what is allowed.</exception>
    public static HardwareProfile Load(string pathOrBuiltin)
    {
        ArgumentNullException.ThrowIfNull(pathOrBuiltin);
        if (pathOrBuiltin.StartsWith(BuiltinPrefix, StringComparison.Ordinal))
        {
            string name = pathOrBuiltin[BuiltinPrefix.Length..];
            string text = ReadBuiltin(name) ?? throw new SettingException("profile", pathOrBuiltin,
                $"a path to a YAML file or one of the built-in profiles: {string.Join(", ", BuiltinNames().Select(n => BuiltinPrefix + n))}");
            return Parse(text, pathOrBuiltin);
        }
        var file = YamlFile.Load(pathOrBuiltin);
        string full = Path.GetFullPath(pathOrBuiltin);
        return Read(file, full, Path.GetDirectoryName(full));
    }

    /// <summary>Parses profile text; <paramref name="sourceName"/> names it in errors and becomes
    /// <see cref="HardwareProfile.SourcePath"/>. Relative footprint paths are left as written.</summary>
    /// <exception cref="SettingException">As for <see cref="Load"/>.</exception>
    public static HardwareProfile Parse(string text, string sourceName)
    {
        var file = YamlFile.Parse(text, sourceName);
        return Read(file, sourceName, baseFolder: null);
    }

    /// <summary>Names of the built-in profiles (without the <c>builtin:</c> prefix), sorted.</summary>
    public static IReadOnlyList<string> BuiltinNames() =>
        typeof(HardwareProfileLoader).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal) && n.EndsWith(ResourceSuffix, StringComparison.Ordinal))
            .Select(n => n[ResourcePrefix.Length..^ResourceSuffix.Length])
            .Order(StringComparer.Ordinal)
            .ToList();

    /// <summary>The YAML text of a built-in profile, or null when there is none of that name.</summary>
    public static string? ReadBuiltin(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        using var stream = typeof(HardwareProfileLoader).Assembly.GetManifestResourceStream(ResourcePrefix + name + ResourceSuffix);
        if (stream is null) return null;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static HardwareProfile Read(YamlFile file, string sourcePath, string? baseFolder)
    {
        var root = file.Root;
        var profile = new HardwareProfile
        {
            Name = root.OptionalString("name", "")!,
            Description = root.OptionalString("description"),
            SourcePath = sourcePath,
        };
        if (root.Section("daq") is { } daq) profile.Daq = ReadDaq(daq);
        if (root.Section("imaging") is { } imaging) profile.Imaging = ReadImaging(imaging);
        if (root.Section("simulation") is { } simulation) profile.Simulation = ReadSimulation(simulation, baseFolder);
        foreach (var s in root.SectionList("stimulators")) profile.Stimulators.Add(ReadStimulator(s));
        if (root.Section("scanners") is { } scanners) profile.Scanners = ReadScanners(scanners);
        if (root.Section("etl") is { } etl) profile.Etl = ReadEtl(etl);
        if (root.Section("optics") is { } optics) profile.Optics = ReadOptics(optics);
        if (root.Section("laser") is { } laser) profile.Laser = ReadLaser(laser);
        foreach (var s in root.SectionList("pmts")) profile.Pmts.Add(ReadPmt(s));
        if (root.Section("mea") is { } mea) profile.Mea = ReadMea(mea);
        root.RejectUnknownKeys();

        try
        {
            profile.Validate();
            var error = ProfileChecks.Wiring(profile).FirstOrDefault(p => p.Severity == ProblemSeverity.Error);
            if (error is not null) throw error.ToException();
        }
        catch (SettingException ex)
        {
            throw file.Locate(ex);
        }
        return profile;
    }

    private static DaqProfile ReadDaq(YamlSection s)
    {
        var d = new DaqProfile();
        d.Backend = s.Enum("backend", d.Backend);
        d.Device = s.OptionalString("device", d.Device);
        foreach (var device in s.SectionList("devices")) d.Devices.Add(ReadDevice(device));
        if (s.Section("timebase") is { } timebase) d.Timebase = ReadTimebase(timebase);
        if (s.Section("startTrigger") is { } trigger) d.StartTrigger = ReadStartTrigger(trigger);
        foreach (var (role, channel) in s.SectionMap("channels")) d.Channels[role] = ReadChannel(channel);
        s.RejectUnknownKeys();
        return d;
    }

    private static ImagingProfile ReadImaging(YamlSection s)
    {
        var m = new ImagingProfile();
        m.WidthPx = s.Int("widthPx", m.WidthPx);
        m.HeightPx = s.Int("heightPx", m.HeightPx);
        m.FrameRateHz = s.Double("frameRateHz", m.FrameRateHz);
        m.PixelSizeUm = s.Double("pixelSizeUm", m.PixelSizeUm);
        m.Zoom = s.Double("zoom", m.Zoom);
        s.RejectUnknownKeys();
        return m;
    }

    private static SimulationProfile ReadSimulation(YamlSection s, string? baseFolder)
    {
        var sim = new SimulationProfile();
        sim.Pacing = s.Enum("pacing", sim.Pacing);
        sim.Seed = s.Int("seed", sim.Seed);
        if (s.Has("faultAfterS")) sim.FaultAfterS = s.Double("faultAfterS");
        if (s.Section("tissue") is { } tissue) sim.Tissue = ReadTissue(tissue, baseFolder);
        s.RejectUnknownKeys();
        return sim;
    }

    private static TissueProfile ReadTissue(YamlSection s, string? baseFolder)
    {
        var t = new TissueProfile();
        t.Footprints = ResolveFootprints(s.OptionalString("footprints", t.Footprints)!, baseFolder);
        t.GeneratedNeuronCount = s.Int("generatedNeuronCount", t.GeneratedNeuronCount);
        t.NeuronRadiusPx = s.Double("neuronRadiusPx", t.NeuronRadiusPx);
        t.SpontaneousRateHz = s.Double("spontaneousRateHz", t.SpontaneousRateHz);
        t.SpikeSource = s.Enum("spikeSource", t.SpikeSource);
        t.SpikefinderMatchRate = s.Bool("spikefinderMatchRate", t.SpikefinderMatchRate);
        t.Indicator = s.OptionalString("indicator", t.Indicator)!;
        if (s.Has("indicatorRiseS")) t.IndicatorRiseS = s.Double("indicatorRiseS");
        if (s.Has("indicatorDecayS")) t.IndicatorDecayS = s.Double("indicatorDecayS");
        if (s.Has("dffPerSpike")) t.DffPerSpike = s.Double("dffPerSpike");
        if (s.Has("saturationSpikes")) t.SaturationSpikes = s.Double("saturationSpikes");
        if (s.Has("saturationHill")) t.SaturationHill = s.Double("saturationHill");
        if (s.Has("noiseLevel")) t.NoiseLevel = s.Double("noiseLevel");
        t.DriftFraction = s.Double("driftFraction", t.DriftFraction);
        t.NeuronDriftFraction = s.Double("neuronDriftFraction", t.NeuronDriftFraction);
        t.DriftTimeConstantS = s.Double("driftTimeConstantS", t.DriftTimeConstantS);
        if (s.Has("bleachTauS")) t.BleachTauS = s.Double("bleachTauS");
        if (s.Section("motion") is { } motion) t.Motion = ReadMotion(motion);
        t.NeuronBaselinePhotons = s.Double("neuronBaselinePhotons", t.NeuronBaselinePhotons);
        t.BackgroundPhotons = s.Double("backgroundPhotons", t.BackgroundPhotons);
        t.NeuropilFraction = s.Double("neuropilFraction", t.NeuropilFraction);
        t.CountsPerPhoton = s.Double("countsPerPhoton", t.CountsPerPhoton);
        foreach (var p in s.SectionList("pathways")) t.Pathways.Add(ReadPathway(p));
        if (s.Section("opsin") is { } opsin) t.Opsin = ReadOpsin(opsin);
        s.RejectUnknownKeys();
        return t;
    }

    private static MotionProfile ReadMotion(YamlSection s)
    {
        var m = new MotionProfile();
        m.Mode = s.Enum("mode", m.Mode);
        m.RmsPx = s.Double("rmsPx", m.RmsPx);
        m.TimeConstantS = s.Double("timeConstantS", m.TimeConstantS);
        m.JumpRateHz = s.Double("jumpRateHz", m.JumpRateHz);
        m.JumpPx = s.Double("jumpPx", m.JumpPx);
        m.NonrigidRmsPx = s.Double("nonrigidRmsPx", m.NonrigidRmsPx);
        m.GridX = s.Int("gridX", m.GridX);
        m.GridY = s.Int("gridY", m.GridY);
        s.RejectUnknownKeys();
        return m;
    }

    private static PathwayProfile ReadPathway(YamlSection s)
    {
        var p = new PathwayProfile();
        p.From = s.IntList("from");
        p.To = s.IntList("to");
        p.Probability = s.Double("probability", p.Probability);
        p.DelayS = s.Double("delayS", p.DelayS);
        s.RejectUnknownKeys();
        return p;
    }

    private static OpsinProfile ReadOpsin(YamlSection s)
    {
        var o = new OpsinProfile();
        o.Kind = s.OptionalString("kind", o.Kind)!;
        if (s.Has("onMs")) o.OnMs = s.Double("onMs");
        if (s.Has("offMs")) o.OffMs = s.Double("offMs");
        o.SaturationPowerMw = s.Double("saturationPowerMw", o.SaturationPowerMw);
        o.HalfActivationPowerMw = s.Double("halfActivationPowerMw", o.HalfActivationPowerMw);
        o.SpotRadiusPx = s.Double("spotRadiusPx", o.SpotRadiusPx);
        o.LatencyMs = s.Double("latencyMs", o.LatencyMs);
        s.RejectUnknownKeys();
        return o;
    }

    private static StimulatorProfile ReadStimulator(YamlSection s)
    {
        var m = new StimulatorProfile();
        m.Name = s.OptionalString("name", m.Name)!;
        m.Kind = s.Enum("kind", m.Kind);
        m.MaxPowerMw = s.Double("maxPowerMw", m.MaxPowerMw);
        m.MaxPulseWidthMs = s.Double("maxPulseWidthMs", m.MaxPulseWidthMs);
        m.MaxPulseRateHz = s.Double("maxPulseRateHz", m.MaxPulseRateHz);
        m.MaxDutyCycle = s.Double("maxDutyCycle", m.MaxDutyCycle);
        m.WatchdogTimeoutMs = s.Double("watchdogTimeoutMs", m.WatchdogTimeoutMs);
        m.TriggerChannel = s.OptionalString("triggerChannel", m.TriggerChannel);
        m.MaxAmplitudeUa = s.Double("maxAmplitudeUa", m.MaxAmplitudeUa);
        m.MaxPhaseWidthUs = s.Double("maxPhaseWidthUs", m.MaxPhaseWidthUs);
        m.MaxChargePerPhaseNc = s.Double("maxChargePerPhaseNc", m.MaxChargePerPhaseNc);
        m.ChargeBalanceRequired = s.Bool("chargeBalanceRequired", m.ChargeBalanceRequired);
        s.RejectUnknownKeys();
        return m;
    }

    private static MeaProfile ReadMea(YamlSection s)
    {
        var m = new MeaProfile();
        m.Layout = s.OptionalString("layout", m.Layout)!;
        m.Device = s.OptionalString("device", m.Device)!;
        m.SampleRateHz = s.Double("sampleRateHz", m.SampleRateHz);
        m.BlockMs = s.Int("blockMs", m.BlockMs);
        m.AmplifierGain = s.Double("amplifierGain", m.AmplifierGain);
        m.AiRangeV = s.Double("aiRangeV", m.AiRangeV);
        m.AoRangeV = s.Double("aoRangeV", m.AoRangeV);
        m.MicroampsPerVolt = s.Double("microampsPerVolt", m.MicroampsPerVolt);
        if (s.Section("culture") is { } c)
        {
            m.CultureNeurons = c.Int("neurons", m.CultureNeurons);
            m.CultureSeed = c.Int("seed", (int)m.CultureSeed);
            c.RejectUnknownKeys();
        }
        s.RejectUnknownKeys();
        return m;
    }

    /// <summary>A masks file written relative to the profile is found next to the profile, whatever the working
    /// folder; <c>generated</c> and <c>builtin:</c> names are kept.</summary>
    private static string ResolveFootprints(string footprints, string? baseFolder)
    {
        if (baseFolder is null || footprints.Length == 0 || footprints == "generated"
            || footprints.StartsWith(BuiltinPrefix, StringComparison.Ordinal) || Path.IsPathRooted(footprints))
            return footprints;
        return Path.GetFullPath(Path.Combine(baseFolder, footprints));
    }
}
