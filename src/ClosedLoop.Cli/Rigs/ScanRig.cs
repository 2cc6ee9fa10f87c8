using ClosedLoop.Core;
using ClosedLoop.FirmwareSim;
using ClosedLoop.FirmwareSim.Daq;
using ClosedLoop.FirmwareSim.Optics;
using ClosedLoop.Hardware;
using ClosedLoop.Hardware.Daq;
using ClosedLoop.Scanning.Acquisition;
using ClosedLoop.Scanning.Assembly;
using ClosedLoop.Scanning.Waveforms;

namespace ClosedLoop.Cli.Rigs;

/// <summary>
/// A scanning rig (resonant-galvo or galvo-galvo) wired from a hardware profile: the galvo/ETL/Pockels waveforms on
/// the DAQ's analog outputs, the detectors and the resonant line clock on its inputs, and <see cref="DaqScanSource"/>
/// assembling frames from the digitised samples. On real hardware the DAQ is the NI-DAQmx backend; on a simulated
/// rig it is firmware-sim's device (the profile's ranges, rates and channels) with a scan head that images the
/// virtual tissue onto the PMT inputs and plays the resonant line clock. The acquisition code is the same for both.
/// </summary>
public sealed class ScanRig : IDisposable
{
    /// <summary>How far the simulated mirror lags its line clock: the line phase the acquisition must find by itself.</summary>
    public const double MirrorLagNs = 400;

    private ScanRig(IDaqSystem daq, VirtualTissue? tissue, DaqScanSource source, ScanPlan plan)
    {
        Daq = daq;
        Tissue = tissue;
        Source = source;
        Plan = plan;
    }

    /// <summary>The DAQ system (simulated or NI-DAQmx).</summary>
    public IDaqSystem Daq { get; }

    /// <summary>The virtual tissue under the objective (simulated rigs only).</summary>
    public VirtualTissue? Tissue { get; }

    /// <summary>The acquisition: samples → frames.</summary>
    public DaqScanSource Source { get; }

    /// <summary>Timing of one frame of the scan.</summary>
    public ScanPlan Plan { get; }

    /// <summary>Builds the rig. Throws <see cref="SettingException"/> naming the profile setting for anything that
    /// cannot be wired (missing sections or channels, a scan the galvos cannot follow).</summary>
    /// <param name="p">The profile.</param>
    /// <param name="frameLimit">Frames to acquire, or null until cancelled (ignored when <paramref name="durationS"/> is given).</param>
    /// <param name="pacing">Simulated rigs: real time or as fast as possible.</param>
    /// <param name="hardware">A real DAQ system (NI-DAQmx); null builds the simulated one from the profile.</param>
    /// <param name="durationS">Sample-clock time to acquire, in s: turned into frames at the scan's own frame rate
    /// (imaged lines + flyback), which differs from the profile's nominal <c>frameRateHz</c>.</param>
    public static ScanRig Build(HardwareProfile p, long? frameLimit, SimulationPacing pacing, IDaqSystem? hardware = null, double? durationS = null)
    {
        var sim = hardware is not null ? null : p.Simulation ?? throw new SettingException("simulation", null, "present for a simulated rig", p.SourcePath);
        var scanners = p.Scanners ?? throw new SettingException("scanners", null, "present for a scanning rig", p.SourcePath);
        var galvoY = scanners.GalvoY ?? throw new SettingException("scanners.galvoY", null, "present", p.SourcePath);
        var yChannel = Channel(p, galvoY.Channel, "scanners.galvoY.channel");
        var deviceProfile = p.Daq.FindDevice(yChannel.Device ?? p.Daq.Device ?? "")
            ?? throw new SettingException("daq.devices", null, $"a device named '{yChannel.Device ?? p.Daq.Device}'", p.SourcePath);
        var pmtChannels = p.Pmts.Select((pmt, i) => Channel(p, pmt.Channel, $"pmts[{i}].channel")).ToList();
        if (pmtChannels.Count == 0) throw new SettingException("pmts", 0, "at least one PMT", p.SourcePath);

        string dev = deviceProfile.Name;
        // Values the profile leaves out take the simulated device's defaults (an X-series-like card).
        var defaults = new SimulatedDaqDeviceOptions();
        var aiRangeV = deviceProfile.AiRangeV is { } ai ? new DaqRange(ai.MinV, ai.MaxV) : defaults.AiRangeV;
        var aoRangeV = deviceProfile.AoRangeV is { } ao ? new DaqRange(ao.MinV, ao.MaxV) : defaults.AoRangeV;
        double maxAiRateHz = deviceProfile.MaxAiRateHz ?? defaults.MaxAiRateHz;
        double maxAoRateHz = deviceProfile.MaxAoRateHz ?? defaults.MaxAoRateHz;
        var simulated = hardware is null ? new SimulatedDaqSystem(new SimulatedDaqOptions
        {
            ClockMode = pacing == SimulationPacing.Fast ? DaqClockMode.Manual : DaqClockMode.RealTime,
            Devices =
            [
                new SimulatedDaqDeviceOptions
                {
                    Name = dev,
                    ProductType = deviceProfile.ProductType ?? "simulated",
                    AiRangeV = aiRangeV,
                    AoRangeV = aoRangeV,
                    MaxAiRateHz = maxAiRateHz,
                    MaxAoRateHz = maxAoRateHz,
                },
            ],
        }) : null;
        IDaqSystem daq = hardware ?? simulated!;
        try
        {
            var imaging = p.Imaging;
            var yRange = yChannel.RangeV is { } yr ? new DaqRange(yr.MinV, yr.MaxV) : aoRangeV;
            var yAxis = new GalvoAxis("galvoY", galvoY.VoltsPerDeg, galvoY.MaxAngleDeg, galvoY.MaxSlewDegPerS, galvoY.MaxAccelDegPerS2, yRange.MinV, yRange.MaxV);
            var tissue = sim is null ? null : new VirtualTissue(sim.Tissue, imaging, sim.Seed,
                Path.GetDirectoryName(Path.GetFullPath(p.SourcePath.StartsWith("builtin:", StringComparison.Ordinal) ? "." : p.SourcePath)));
            var device = simulated?.Device(dev);
            double codesPerPhoton = tissue?.CountsPerPhoton ?? 1;
            ScanPlan plan;
            (string Channels, DaqRange Range, double[] Waveform) outputs;
            ScanHeadSettings headSettings;
            double aiRateHz, aoRateHz;
            ResonantGeometry? resonantGeometry = null;
            LinearGeometry? linearGeometry = null;
            string? counter = null, lineTerminal = null;

            if (scanners.Mode == ScanMode.ResonantGalvo)
            {
                var resonant = scanners.Resonant ?? throw new SettingException("scanners.resonant", null, "present when scanners.mode is resonantGalvo", p.SourcePath);
                var lineClockChannel = Channel(p, resonant.LineClockChannel, "scanners.resonant.lineClockChannel");
                // One AO tick per µs keeps the galvo waveform locked to the line clock when a line lasts a whole number
                // of ticks (see docs/scanning.md); the detectors run at the device's full rate.
                aoRateHz = Math.Min(1e6, maxAoRateHz);
                aiRateHz = maxAiRateHz;
                double yAmplitudeDeg = resonant.MaxScanAngleDeg / imaging.Zoom / 2 * imaging.HeightPx / imaging.WidthPx;
                var settings = new ResonantScanSettings(imaging.HeightPx, resonant.FrequencyHz, resonant.Bidirectional,
                    resonant.TemporalFillFraction, yAmplitudeDeg, Motion: SlowAxisMotion.Ramped);
                var slow = new ResonantSlowAxis(yAxis, settings, aoRateHz);
                if (resonant.Bidirectional && (imaging.HeightPx + slow.Plan.FlybackLines) % 2 != 0)
                    slow = new ResonantSlowAxis(yAxis, settings with { MinFlybackLines = slow.Plan.FlybackLines + 1 }, aoRateHz); // start every frame on a forward line
                plan = slow.Plan;
                var y = new double[plan.SamplesPerFrame];
                slow.WriteFrame(y);
                outputs = ScanOutputs(p, dev, [(yChannel, y)], yRange, aoRangeV, plan);
                headSettings = new ScanHeadSettings(resonant.FrequencyHz, resonant.TemporalFillFraction,
                    LineClockPhaseNs: 0, MirrorLagNs, GalvoYAoChannel: Index(yChannel.Physical, "ao"),
                    galvoY.VoltsPerDeg * -yAmplitudeDeg, galvoY.VoltsPerDeg * yAmplitudeDeg,
                    CodesPerPhoton: codesPerPhoton, OffsetCodes: 0, DarkNoiseCodes: 2);
                lineTerminal = lineClockChannel.Terminal ?? throw new SettingException("daq.channels.lineClock.terminal", null, "the terminal the resonant sync arrives on", p.SourcePath);
                device?.ConnectDigitalInput(lineTerminal, new ResonantLineClock(resonant.FrequencyHz, sim!.Seed));
                counter = $"{dev}/{lineClockChannel.Physical}";
                lineTerminal = "/" + dev + "/" + lineTerminal;
                resonantGeometry = new ResonantGeometry(aiRateHz, resonant.FrequencyHz, imaging.WidthPx, resonant.TemporalFillFraction, resonant.Bidirectional);
            }
            else
            {
                var galvoX = scanners.GalvoX ?? throw new SettingException("scanners.galvoX", null, "present when scanners.mode is galvoGalvo", p.SourcePath);
                var xChannel = Channel(p, galvoX.Channel, "scanners.galvoX.channel");
                var xRange = xChannel.RangeV is { } xr ? new DaqRange(xr.MinV, xr.MaxV) : aoRangeV;
                var xAxis = new GalvoAxis("galvoX", galvoX.VoltsPerDeg, galvoX.MaxAngleDeg, galvoX.MaxSlewDegPerS, galvoX.MaxAccelDegPerS2, xRange.MinV, xRange.MaxV);
                // Detectors at 4 samples per AO tick: both clocks divide the device timebase, so lines stay aligned.
                aiRateHz = Math.Min(maxAiRateHz, 1e6);
                aoRateHz = Math.Min(maxAoRateHz, aiRateHz / 4);
                double xAmplitudeDeg = galvoX.MaxAngleDeg / imaging.Zoom;
                double yAmplitudeDeg = xAmplitudeDeg * imaging.HeightPx / imaging.WidthPx;
                var raster = new GalvoRaster(xAxis, yAxis, new RasterSettings(imaging.HeightPx, imaging.FrameRateHz * imaging.HeightPx,
                    xAmplitudeDeg, yAmplitudeDeg), aoRateHz);
                plan = raster.Plan;
                double[] x = new double[plan.SamplesPerFrame], y = new double[plan.SamplesPerFrame];
                raster.WriteFrame(x, y);
                outputs = ScanOutputs(p, dev, [(xChannel, x), (yChannel, y)], xRange, aoRangeV, plan);
                double ratio = aiRateHz / aoRateHz;
                linearGeometry = new LinearGeometry(plan.SamplesPerLine * ratio, 0, plan.ActiveSamplesPerLine * ratio, imaging.WidthPx, plan.Bidirectional);
                headSettings = new ScanHeadSettings(1000, 0.5, 0, 0, GalvoYAoChannel: Index(yChannel.Physical, "ao"),
                    galvoY.VoltsPerDeg * -yAmplitudeDeg, galvoY.VoltsPerDeg * yAmplitudeDeg, CodesPerPhoton: codesPerPhoton)
                {
                    GalvoXAoChannel = Index(xChannel.Physical, "ao"),
                    GalvoXLeftV = galvoX.VoltsPerDeg * -xAmplitudeDeg,
                    GalvoXRightV = galvoX.VoltsPerDeg * xAmplitudeDeg,
                    SamplesPerPixel = plan.ActiveSamplesPerLine * ratio / imaging.WidthPx,
                };
            }

            if (device is not null)
            {
                var head = new ScanHeadSimulator(tissue!, headSettings, aiRateHz, sim!.Seed);
                for (int i = 0; i < pmtChannels.Count; i++)
                    device.ConnectAnalogInput(Index(pmtChannels[i].Physical, "ai"), head.Pmt(i == 0 ? 1.0 : 0.3));
            }
            var config = new DaqScanConfig(
                AiChannels: string.Join(",", pmtChannels.Select(c => $"{dev}/{c.Physical}")), AiRange: aiRangeV, AiRateHz: aiRateHz,
                AoChannels: outputs.Channels, AoRange: outputs.Range, AoRateHz: aoRateHz, FrameWaveform: outputs.Waveform,
                Counter: counter, LineClockTerminal: lineTerminal,
                ShutterLines: p.Laser?.ShutterChannel is string s && p.Daq.Channels.ContainsKey(s) ? $"{dev}/{Channel(p, s, "laser.shutterChannel").Physical}" : null,
                Resonant: resonantGeometry, Linear: linearGeometry, HeightPx: imaging.HeightPx, FlybackLines: plan.FlybackLines, AdcOffset: 0,
                FrameRateHz: plan.FrameRateHz);
            long periodNs = (long)Math.Round(1e9 / aiRateHz);
            Action<long>? pace = simulated is not null && pacing == SimulationPacing.Fast
                ? sample => simulated.AdvanceTo(Math.Max(simulated.NowNs, (sample + 1) * periodNs + simulated.StartLatencyNs + 1)) : null;
            if (durationS is double seconds) frameLimit = (long)Math.Ceiling(seconds * plan.FrameRateHz);
            var source = new DaqScanSource(daq, config, frameLimit, pace);
            return new ScanRig(daq, tissue, source, plan);
        }
        catch
        {
            simulated?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The scan outputs of one frame, interleaved by scan: the galvos (Y; or X then Y), then the ETL held at 0 dpt (the nominal focal
    /// plane) when the profile has one, then the Pockels cell when the laser has a power-control channel: at the top
    /// of its range while the beam is on, at the bottom during turnarounds and the galvo's flyback. (The Pockels
    /// level is not yet calibrated to power at the sample.)
    /// </summary>
    private static (string Channels, DaqRange Range, double[] Waveform) ScanOutputs(HardwareProfile p, string dev,
        (DaqChannelProfile Channel, double[] Volts)[] galvos, DaqRange firstRange, DaqRange deviceAo, ScanPlan plan)
    {
        int n = plan.SamplesPerFrame;
        var columns = galvos.Select(g => g.Volts).ToList();
        var names = galvos.Select(g => $"{dev}/{g.Channel.Physical}").ToList();
        if (p.Etl is { } etl)
        {
            var c = Channel(p, etl.Channel, "etl.channel");
            double v = etl.VoltsFor(0);
            if (c.RangeV is { } r) v = Math.Clamp(v, r.MinV, r.MaxV);
            columns.Add(Enumerable.Repeat(v, n).ToArray());
            names.Add($"{dev}/{c.Physical}");
        }
        if (p.Laser?.PowerControlChannel is string pockels)
        {
            var c = Channel(p, pockels, "laser.powerControlChannel");
            var r = c.RangeV is { } cr ? new DaqRange(cr.MinV, cr.MaxV) : deviceAo;
            var blank = new double[n];
            plan.WriteBlanking(blank, new BlankingLevels(r.MaxV, r.MinV));
            columns.Add(blank);
            names.Add($"{dev}/{c.Physical}");
        }
        var interleaved = new double[n * columns.Count];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < columns.Count; k++)
                interleaved[i * columns.Count + k] = columns[k][i];
        return (string.Join(",", names), columns.Count == 1 ? firstRange : deviceAo, interleaved);
    }

    private static DaqChannelProfile Channel(HardwareProfile p, string? role, string setting) =>
        role is not null && p.Daq.Channels.TryGetValue(role, out var c) ? c
            : throw new SettingException(setting, role, $"one of the roles under daq.channels: {string.Join(", ", p.Daq.Channels.Keys)}", p.SourcePath);

    private static int Index(string physical, string prefix) =>
        physical.StartsWith(prefix, StringComparison.Ordinal) && int.TryParse(physical.AsSpan(prefix.Length), out int i) ? i
            : throw new SettingException("daq.channels", physical, $"a channel named {prefix}N");

    /// <inheritdoc />
    public void Dispose() => Daq.Dispose();
}
