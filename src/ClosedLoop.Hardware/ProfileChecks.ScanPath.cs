using System.Globalization;

namespace ClosedLoop.Hardware;

/// <summary>Wiring checks of a scanning rig: DAQ devices and channels, and the roles that scanners, ETL, laser,
/// detectors and stimulators play on them.</summary>
public static partial class ProfileChecks
{
    /// <summary>Shortest time a galvo needs to sweep <paramref name="spanDeg"/> optical degrees and stop, in s: a
    /// bang-bang move at <see cref="GalvoProfile.MaxAccelDegPerS2"/>, or accelerate–coast–decelerate when that would
    /// exceed <see cref="GalvoProfile.MaxSlewDegPerS"/>. A lower bound: real galvos also overshoot and ring.</summary>
    public static double GalvoMoveTimeS(GalvoProfile galvo, double spanDeg)
    {
        ArgumentNullException.ThrowIfNull(galvo);
        double v = galvo.MaxSlewDegPerS, a = galvo.MaxAccelDegPerS2;
        return Math.Sqrt(spanDeg * a) <= v ? 2 * Math.Sqrt(spanDeg / a) : spanDeg / v + v / a;
    }

    /// <summary>Highest frame rate a galvo-galvo raster can reach, in Hz: each of <see cref="ImagingProfile.HeightPx"/>
    /// lines is a ramp across the field at the X galvo's slew limit, a flyback and a settle; each frame adds the Y
    /// galvo's flyback and settle. The field is ±maxAngleDeg / zoom. A lower bound on the time, so an upper bound on
    /// the rate.</summary>
    public static double GalvoGalvoMaxFrameRateHz(GalvoProfile galvoX, GalvoProfile galvoY, ImagingProfile imaging)
    {
        ArgumentNullException.ThrowIfNull(galvoX);
        ArgumentNullException.ThrowIfNull(galvoY);
        ArgumentNullException.ThrowIfNull(imaging);
        double spanX = 2 * galvoX.MaxAngleDeg / imaging.Zoom, spanY = 2 * galvoY.MaxAngleDeg / imaging.Zoom;
        double lineS = spanX / galvoX.MaxSlewDegPerS + GalvoMoveTimeS(galvoX, spanX) + galvoX.SettleTimeUs * 1e-6;
        double frameS = imaging.HeightPx * lineS + GalvoMoveTimeS(galvoY, spanY) + galvoY.SettleTimeUs * 1e-6;
        return 1 / frameS;
    }

    private static void CheckRig(HardwareProfile profile, List<ProfileProblem> problems)
    {
        var daq = profile.Daq;
        if (daq.Backend == DaqBackend.NiDaqmx)
        {
            if (daq.Devices.Count == 0)
                problems.Add(new(ProblemSeverity.Error, "daq.devices", null,
                    "at least one device (name, aoRangeV, aiRangeV) when daq.backend is 'nidaqmx': the driver needs to know what to open"));
            if (daq.Channels.Count == 0)
                problems.Add(new(ProblemSeverity.Error, "daq.channels", null,
                    "at least one channel when daq.backend is 'nidaqmx': scanners, detectors and stimulators are wired to roles declared there"));
        }
        if (daq.Device is { } defaultDevice && daq.Devices.Count > 0 && daq.FindDevice(defaultDevice) is null)
            problems.Add(new(ProblemSeverity.Error, "daq.device", defaultDevice, $"one of the devices in daq.devices: {DeviceNames(daq)}"));

        CheckChannels(daq, problems);

        if (profile.Scanners is { } scanners) CheckScanners(profile, scanners, problems);
        if (profile.Etl is { } etl) CheckEtl(daq, etl, problems);
        if (profile.Laser is { } laser)
        {
            Role(daq, problems, "laser.powerControlChannel", laser.PowerControlChannel, ChannelKind.AnalogOutput, required: false);
            Role(daq, problems, "laser.shutterChannel", laser.ShutterChannel, ChannelKind.DigitalOutput, required: false);
        }
        for (int i = 0; i < profile.Pmts.Count; i++)
            Role(daq, problems, $"pmts[{i}].channel", profile.Pmts[i].Channel, ChannelKind.AnalogInput, required: true);
        for (int i = 0; i < profile.Stimulators.Count; i++)
            Role(daq, problems, $"stimulators[{i}].triggerChannel", profile.Stimulators[i].TriggerChannel, ChannelKind.DigitalOutput, required: false);
    }

    private static void CheckChannels(DaqProfile daq, List<ProfileProblem> problems)
    {
        var used = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (role, channel) in daq.Channels)
        {
            string path = $"daq.channels.{role}";
            string? deviceName = channel.Device ?? daq.Device;
            if (deviceName is null)
            {
                problems.Add(new(ProblemSeverity.Error, $"{path}.device", null, "the device the channel is on (or set daq.device for all channels)"));
                continue;
            }
            var device = daq.FindDevice(deviceName);
            if (device is null)
            {
                problems.Add(new(ProblemSeverity.Error, $"{path}.device", deviceName, daq.Devices.Count == 0
                    ? "a device declared in daq.devices (there are none: add one with its name, aoRangeV and aiRangeV)"
                    : $"one of the devices declared in daq.devices: {DeviceNames(daq)}"));
                continue;
            }
            string line = $"{deviceName}/{channel.Physical}";
            if (!used.TryAdd(line, role))
                problems.Add(new(ProblemSeverity.Error, $"{path}.physical", channel.Physical,
                    $"a line no other role uses: daq.channels.{used[line]} is already wired to {line}"));
            if (channel.Kind == ChannelKind.CounterInput && channel.Terminal is { } terminal && !used.TryAdd($"{deviceName}/{terminal}", role))
                problems.Add(new(ProblemSeverity.Error, $"{path}.terminal", terminal,
                    $"a terminal no other role uses: daq.channels.{used[$"{deviceName}/{terminal}"]} already uses {deviceName}/{terminal}"));

            var (deviceRange, rangeKey) = channel.Kind switch
            {
                ChannelKind.AnalogOutput => (device.AoRangeV, "aoRangeV"),
                ChannelKind.AnalogInput => (device.AiRangeV, "aiRangeV"),
                _ => ((VoltageRange?)null, ""),
            };
            if (channel.RangeV is { } range && deviceRange is { } limit && !limit.Contains(range))
                problems.Add(new(ProblemSeverity.Error, $"{path}.rangeV", range.ToString(),
                    $"within {deviceName}'s {rangeKey} {limit}: the device cannot {(channel.Kind == ChannelKind.AnalogOutput ? "output" : "measure")} beyond it"));
        }
    }

    private static void CheckScanners(HardwareProfile profile, ScannersProfile scanners, List<ProfileProblem> problems)
    {
        var daq = profile.Daq;
        var imaging = profile.Imaging;
        if (scanners.Mode == ScanMode.GalvoGalvo && scanners.Resonant is not null)
            problems.Add(new(ProblemSeverity.Warning, "scanners.resonant", "galvoGalvo",
                "only used when scanners.mode is 'resonantGalvo'; this section is ignored"));
        if (scanners.Mode == ScanMode.ResonantGalvo && scanners.Resonant is { } resonant)
        {
            Role(daq, problems, "scanners.resonant.lineClockChannel", resonant.LineClockChannel, ChannelKind.CounterInput,
                required: daq.Backend == DaqBackend.NiDaqmx);
            Role(daq, problems, "scanners.resonant.angleControlChannel", resonant.AngleControlChannel, ChannelKind.AnalogOutput, required: false);
            double lineRateHz = resonant.LineRateHz;
            double maxFrameRateHz = lineRateHz / imaging.HeightPx;
            if (imaging.FrameRateHz > maxFrameRateHz * (1 + 1e-9))
                problems.Add(new(ProblemSeverity.Error, "imaging.frameRateHz", imaging.FrameRateHz,
                    $"at most {F(maxFrameRateHz)} Hz: the resonant scanner gives {F(lineRateHz)} lines/s " +
                    $"({F(resonant.FrequencyHz)} Hz{(resonant.Bidirectional ? " × 2, bidirectional" : ", unidirectional")}) " +
                    $"and a frame has {imaging.HeightPx} lines (imaging.heightPx); nearest feasible frameRateHz = {F(Floor2(maxFrameRateHz))}, " +
                    $"or fewer lines (at most {(int)Math.Floor(lineRateHz / imaging.FrameRateHz)} at this rate)"));
            CheckSampleRate(profile, resonant, problems);
        }
        if (scanners.Mode == ScanMode.GalvoGalvo && scanners.GalvoX is { } gx && scanners.GalvoY is { } gy)
        {
            double maxFrameRateHz = GalvoGalvoMaxFrameRateHz(gx, gy, imaging);
            if (imaging.FrameRateHz > maxFrameRateHz)
                problems.Add(new(ProblemSeverity.Warning, "imaging.frameRateHz", imaging.FrameRateHz,
                    $"at most about {F(maxFrameRateHz)} Hz for a sawtooth raster of {imaging.HeightPx} lines over ±{F(gx.MaxAngleDeg / imaging.Zoom)}° " +
                    $"(slew, acceleration and settle limits of scanners.galvoX and scanners.galvoY); nearest feasible frameRateHz = {F(Floor2(maxFrameRateHz))}, " +
                    "or raise imaging.zoom or lower imaging.heightPx"));
        }
        if (scanners.GalvoX is { } x) CheckGalvo(daq, problems, "scanners.galvoX", x);
        if (scanners.GalvoY is { } y) CheckGalvo(daq, problems, "scanners.galvoY", y);
    }

    /// <summary>A resonant line leaves 1/lineRate × fill fraction for widthPx pixels; the detector inputs must sample
    /// at least once per pixel on average, or pixels repeat samples.</summary>
    private static void CheckSampleRate(HardwareProfile profile, ResonantScannerProfile resonant, List<ProfileProblem> problems)
    {
        double neededHz = profile.Imaging.WidthPx * resonant.LineRateHz / resonant.TemporalFillFraction;
        foreach (var pmt in profile.Pmts)
        {
            if (!profile.Daq.Channels.TryGetValue(pmt.Channel, out var channel)) continue;
            if (profile.Daq.FindDevice(channel.Device ?? profile.Daq.Device) is not { MaxAiRateHz: double maxHz } device) continue;
            if (neededHz <= maxHz) continue;
            int widthPx = (int)Math.Floor(maxHz * resonant.TemporalFillFraction / resonant.LineRateHz);
            problems.Add(new(ProblemSeverity.Warning, "imaging.widthPx", profile.Imaging.WidthPx,
                $"at most {widthPx} px per line for one sample per pixel: {profile.Imaging.WidthPx} px at {F(resonant.LineRateHz)} lines/s " +
                $"and a fill fraction of {F(resonant.TemporalFillFraction)} need {F(neededHz / 1e6)} MS/s, but {device.Name} " +
                $"samples at most {F(maxHz / 1e6)} MS/s per channel (pmt '{pmt.Name}')"));
            return;
        }
    }

    private static void CheckGalvo(DaqProfile daq, List<ProfileProblem> problems, string path, GalvoProfile galvo)
    {
        if (Role(daq, problems, $"{path}.channel", galvo.Channel, ChannelKind.AnalogOutput, required: true) is not { } channel) return;
        if (OutputRange(daq, channel) is not { } range) return;
        double neededV = galvo.MaxAngleDeg * galvo.VoltsPerDeg;
        double availableV = range.SymmetricLimitV;
        if (neededV <= availableV + 1e-9) return;
        string name = path[(path.LastIndexOf('.') + 1)..];
        problems.Add(new(ProblemSeverity.Error, $"{path}.maxAngleDeg", galvo.MaxAngleDeg,
            $"within the reach of its output: {name} needs ±{F(neededV)} V (maxAngleDeg {F(galvo.MaxAngleDeg)} × voltsPerDeg {F(galvo.VoltsPerDeg)}), " +
            $"but daq.channels.{galvo.Channel} spans {range}; nearest feasible maxAngleDeg = {F(Floor2(availableV / galvo.VoltsPerDeg))}"));
    }

    private static void CheckEtl(DaqProfile daq, EtlProfile etl, List<ProfileProblem> problems)
    {
        if (Role(daq, problems, "etl.channel", etl.Channel, ChannelKind.AnalogOutput, required: true) is not { } channel) return;
        if (OutputRange(daq, channel) is not { } range) return;
        double atMin = etl.DiopterAt(range.MinV), atMax = etl.DiopterAt(range.MaxV);
        double lowest = Math.Min(atMin, atMax), highest = Math.Max(atMin, atMax);
        double minV = etl.VoltsFor(etl.MinDiopter), maxV = etl.VoltsFor(etl.MaxDiopter);
        if (!range.Contains(minV))
            problems.Add(new(ProblemSeverity.Error, "etl.minDiopter", etl.MinDiopter,
                $"reachable from daq.channels.{etl.Channel} ({range}): it needs {F(minV)} V; nearest feasible minDiopter = {F(Math.Ceiling(lowest * 1000) / 1000)}"));
        if (!range.Contains(maxV))
            problems.Add(new(ProblemSeverity.Error, "etl.maxDiopter", etl.MaxDiopter,
                $"reachable from daq.channels.{etl.Channel} ({range}): it needs {F(maxV)} V; nearest feasible maxDiopter = {F(Math.Floor(highest * 1000) / 1000)}"));
    }

    /// <summary>Looks up a role and checks its kind; adds an error and returns null when it is missing or wrong.</summary>
    private static DaqChannelProfile? Role(DaqProfile daq, List<ProfileProblem> problems, string setting, string? role, ChannelKind kind, bool required)
    {
        string kindName = DaqChannelProfile.KindName(kind);
        if (role is null)
        {
            if (required)
                problems.Add(new(ProblemSeverity.Error, setting, null, $"the role name of an {kindName} channel declared in daq.channels"));
            return null;
        }
        if (!daq.Channels.TryGetValue(role, out var channel))
        {
            string known = daq.Channels.Count == 0 ? "none are declared" : "declared: " + string.Join(", ", daq.Channels.Keys);
            problems.Add(new(ProblemSeverity.Error, setting, role, $"a role declared in daq.channels ({known})"));
            return null;
        }
        if (channel.Kind != kind)
        {
            problems.Add(new(ProblemSeverity.Error, setting, role,
                $"a role whose channel is of kind {kindName}, but daq.channels.{role} is {DaqChannelProfile.KindName(channel.Kind)} ({channel.Physical})"));
            return null;
        }
        return channel;
    }

    /// <summary>The span an analog output really has: its own rangeV, else its device's aoRangeV; null when unknown.</summary>
    private static VoltageRange? OutputRange(DaqProfile daq, DaqChannelProfile channel) =>
        channel.RangeV ?? daq.FindDevice(channel.Device ?? daq.Device)?.AoRangeV;

    private static string DeviceNames(DaqProfile daq) => string.Join(", ", daq.Devices.Select(d => d.Name));

    private static double Floor2(double v) => Math.Floor(v * 100) / 100;

    private static string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
}
