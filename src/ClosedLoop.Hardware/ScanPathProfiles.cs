using ClosedLoop.Core;

namespace ClosedLoop.Hardware;

/// <summary>How the beam is scanned across the field.</summary>
public enum ScanMode
{
    /// <summary>A resonant mirror on the fast axis (fixed line rate, sinusoidal) and a galvo on the slow axis.</summary>
    ResonantGalvo,
    /// <summary>Two galvos: a sawtooth on the fast axis, a ramp or steps on the slow axis.</summary>
    GalvoGalvo,
}

/// <summary>The scan mirrors. Angles are optical (twice the mechanical angle).</summary>
public sealed class ScannersProfile
{
    /// <summary>Resonant-galvo or galvo-galvo.</summary>
    public ScanMode Mode { get; set; } = ScanMode.ResonantGalvo;

    /// <summary>The resonant scanner (fast axis); required for <see cref="ScanMode.ResonantGalvo"/>.</summary>
    public ResonantScannerProfile? Resonant { get; set; }

    /// <summary>The fast-axis galvo; required for <see cref="ScanMode.GalvoGalvo"/>.</summary>
    public GalvoProfile? GalvoX { get; set; }

    /// <summary>The slow-axis galvo; always required.</summary>
    public GalvoProfile? GalvoY { get; set; }

    /// <summary>Checks the section: the mirrors the mode needs are present and each is in range.</summary>
    public void Validate()
    {
        if (Mode == ScanMode.ResonantGalvo && Resonant is null)
            throw new SettingException("scanners.resonant", null, "present when scanners.mode is 'resonantGalvo'");
        if (Mode == ScanMode.GalvoGalvo && GalvoX is null)
            throw new SettingException("scanners.galvoX", null, "present when scanners.mode is 'galvoGalvo'");
        if (GalvoY is null) throw new SettingException("scanners.galvoY", null, "present: the slow axis needs a galvo");
        Resonant?.Validate("scanners.resonant");
        GalvoX?.Validate("scanners.galvoX");
        GalvoY.Validate("scanners.galvoY");
    }
}

/// <summary>A resonant scanner: a mirror oscillating at a fixed frequency; its amplitude sets the zoom.</summary>
public sealed class ResonantScannerProfile
{
    /// <summary>Resonant frequency, in Hz (e.g. 7910 for an "8 kHz" scanner).</summary>
    public double FrequencyHz { get; set; } = 7910;

    /// <summary>Largest optical scan angle, peak to peak, in degrees (the full sweep at zoom 1).</summary>
    public double MaxScanAngleDeg { get; set; } = 26;

    /// <summary>True when lines are imaged on both half-periods (two lines per period).</summary>
    public bool Bidirectional { get; set; } = true;

    /// <summary>Fraction of each half-period during which samples are kept (the slow edges of the sine are cut).</summary>
    public double TemporalFillFraction { get; set; } = 0.9;

    /// <summary>Role name of the counter input that receives the scanner's line-sync pulses.</summary>
    public string? LineClockChannel { get; set; }

    /// <summary>Role name of the analog output that sets the scan amplitude (zoom); null when it is set by hand.</summary>
    public string? AngleControlChannel { get; set; }

    /// <summary>Lines per second: the frequency, doubled when bidirectional.</summary>
    public double LineRateHz => FrequencyHz * (Bidirectional ? 2 : 1);

    /// <summary>Checks the scanner; <paramref name="path"/> is its place in the file.</summary>
    public void Validate(string path)
    {
        Check.InRange($"{path}.frequencyHz", FrequencyHz, 100, 100_000);
        Check.InRange($"{path}.maxScanAngleDeg", MaxScanAngleDeg, 0.1, 90);
        Check.InRange($"{path}.temporalFillFraction", TemporalFillFraction, 0.1, 1);
        if (LineClockChannel is not null) Check.NotEmpty($"{path}.lineClockChannel", LineClockChannel);
        if (AngleControlChannel is not null) Check.NotEmpty($"{path}.angleControlChannel", AngleControlChannel);
    }
}

/// <summary>A galvanometric scanner driven by an analog output. Angles are optical, measured from the centre of the
/// field: the galvo moves between −<see cref="MaxAngleDeg"/> and +<see cref="MaxAngleDeg"/>.</summary>
public sealed class GalvoProfile
{
    /// <summary>Role name of the analog output that drives it.</summary>
    public string Channel { get; set; } = "";

    /// <summary>Command voltage per optical degree, in V/deg (a servo set to 0.5 V per mechanical degree gives 0.25).</summary>
    public double VoltsPerDeg { get; set; } = 0.25;

    /// <summary>Largest optical angle from the centre, in degrees.</summary>
    public double MaxAngleDeg { get; set; } = 10;

    /// <summary>Fastest angular speed the galvo follows, in optical deg/s.</summary>
    public double MaxSlewDegPerS { get; set; } = 20_000;

    /// <summary>Highest angular acceleration, in optical deg/s².</summary>
    public double MaxAccelDegPerS2 { get; set; } = 1e8;

    /// <summary>Time to settle after a step or a flyback, in µs.</summary>
    public double SettleTimeUs { get; set; } = 200;

    /// <summary>Checks the galvo; <paramref name="path"/> is its place in the file.</summary>
    public void Validate(string path)
    {
        Check.NotEmpty($"{path}.channel", Channel);
        Check.InRange($"{path}.voltsPerDeg", VoltsPerDeg, 0.001, 100);
        Check.InRange($"{path}.maxAngleDeg", MaxAngleDeg, 0.01, 45);
        Check.InRange($"{path}.maxSlewDegPerS", MaxSlewDegPerS, 1, 1e7);
        Check.InRange($"{path}.maxAccelDegPerS2", MaxAccelDegPerS2, 1, 1e12);
        Check.InRange($"{path}.settleTimeUs", SettleTimeUs, 0, 1e6);
    }
}

/// <summary>An electrically tunable lens: optical power (diopters) = <see cref="OffsetDiopter"/> +
/// <see cref="DiopterPerVolt"/> × command voltage.</summary>
public sealed class EtlProfile
{
    /// <summary>Role name of the analog output that drives the lens (through its driver).</summary>
    public string Channel { get; set; } = "";

    /// <summary>Change of optical power per volt of command, in dpt/V (may be negative).</summary>
    public double DiopterPerVolt { get; set; } = 1;

    /// <summary>Optical power at 0 V command, in dpt.</summary>
    public double OffsetDiopter { get; set; }

    /// <summary>Lowest optical power the experiment may ask for, in dpt.</summary>
    public double MinDiopter { get; set; } = -2;

    /// <summary>Highest optical power the experiment may ask for, in dpt.</summary>
    public double MaxDiopter { get; set; } = 2;

    /// <summary>Time for the focus to settle after a change, in ms.</summary>
    public double SettleTimeMs { get; set; } = 15;

    /// <summary>Command voltage for <paramref name="diopter"/>, in V.</summary>
    public double VoltsFor(double diopter) => (diopter - OffsetDiopter) / DiopterPerVolt;

    /// <summary>Optical power at <paramref name="volts"/>, in dpt.</summary>
    public double DiopterAt(double volts) => OffsetDiopter + DiopterPerVolt * volts;

    /// <summary>Checks the section.</summary>
    public void Validate()
    {
        Check.NotEmpty("etl.channel", Channel);
        if (double.IsNaN(DiopterPerVolt) || Math.Abs(DiopterPerVolt) < 1e-4 || Math.Abs(DiopterPerVolt) > 1000)
            throw new SettingException("etl.diopterPerVolt", DiopterPerVolt, "between -1000 and -0.0001 or between 0.0001 and 1000");
        Check.InRange("etl.offsetDiopter", OffsetDiopter, -100, 100);
        Check.InRange("etl.minDiopter", MinDiopter, -100, 100);
        Check.InRange("etl.maxDiopter", MaxDiopter, -100, 100);
        if (!(MinDiopter < MaxDiopter))
            throw new SettingException("etl.maxDiopter", MaxDiopter, $"greater than etl.minDiopter ({MinDiopter})");
        Check.InRange("etl.settleTimeMs", SettleTimeMs, 0, 10_000);
    }
}

/// <summary>Lenses and mirror of the scan path. Every figure is optional: the optics calculators say which are
/// missing. Focal lengths in mm.</summary>
public sealed class OpticsProfile
{
    /// <summary>Focal length of the scan lens, f_s, in mm.</summary>
    public double? ScanLensFocalLengthMm { get; set; }

    /// <summary>Focal length of the tube lens, f_t, in mm.</summary>
    public double? TubeLensFocalLengthMm { get; set; }

    /// <summary>Objective magnification as engraved (16 for a 16x).</summary>
    public double? ObjectiveMagnification { get; set; }

    /// <summary>Objective numerical aperture (for the back-aperture fill); null = not known.</summary>
    public double? ObjectiveNa { get; set; }

    /// <summary>Tube-lens focal length the objective was designed for, in mm (Nikon, Leica, Thorlabs 200; Olympus
    /// 180; Zeiss 165): the objective's focal length is this divided by the magnification.</summary>
    public double TubeLensStandardMm { get; set; } = 200;

    /// <summary>Clear aperture of the scan mirrors, in mm.</summary>
    public double? MirrorDiameterMm { get; set; }

    /// <summary>The two relays between the ETL and the scanners; null when the rig has no remote focusing path.</summary>
    public RelaysProfile? Relays { get; set; }

    /// <summary>Focal length of the objective, f_o = standard / magnification, in mm; null without a magnification.</summary>
    public double? ObjectiveFocalLengthMm => ObjectiveMagnification is double m ? TubeLensStandardMm / m : null;

    /// <summary>Checks the section.</summary>
    public void Validate()
    {
        Focal("optics.scanLensFocalLengthMm", ScanLensFocalLengthMm);
        Focal("optics.tubeLensFocalLengthMm", TubeLensFocalLengthMm);
        if (ObjectiveMagnification is double m) Check.InRange("optics.objectiveMagnification", m, 1, 200);
        if (ObjectiveNa is double na) Check.InRange("optics.objectiveNa", na, 0.01, 1.7);
        Check.InRange("optics.tubeLensStandardMm", TubeLensStandardMm, 50, 500);
        if (MirrorDiameterMm is double d) Check.InRange("optics.mirrorDiameterMm", d, 0.5, 100);
        Relays?.Validate("optics.relays");
    }

    internal static void Focal(string path, double? value)
    {
        if (value is double f) Check.InRange(path, f, 1, 5000);
    }
}

/// <summary>Two relays between the ETL and the scanners: r1 → r2, then r3 → r4 (focal lengths in mm, in the order
/// the light meets them).</summary>
public sealed class RelaysProfile
{
    /// <summary>First lens of the first relay, in mm.</summary>
    public double R1Mm { get; set; } = 100;

    /// <summary>Second lens of the first relay, in mm.</summary>
    public double R2Mm { get; set; } = 100;

    /// <summary>First lens of the second relay, in mm.</summary>
    public double R3Mm { get; set; } = 100;

    /// <summary>Second lens of the second relay, in mm.</summary>
    public double R4Mm { get; set; } = 100;

    /// <summary>Checks the section.</summary>
    public void Validate(string path)
    {
        OpticsProfile.Focal($"{path}.r1Mm", R1Mm);
        OpticsProfile.Focal($"{path}.r2Mm", R2Mm);
        OpticsProfile.Focal($"{path}.r3Mm", R3Mm);
        OpticsProfile.Focal($"{path}.r4Mm", R4Mm);
    }
}

/// <summary>The imaging laser.</summary>
public sealed class LaserProfile
{
    /// <summary>Wavelength, in nm (920 for GCaMP two-photon imaging).</summary>
    public double WavelengthNm { get; set; } = 920;

    /// <summary>Highest power at the sample the rig may ever deliver, in mW.</summary>
    public double MaxPowerMw { get; set; } = 100;

    /// <summary>Role name of the analog output that sets the power (Pockels cell); null when set by hand.</summary>
    public string? PowerControlChannel { get; set; }

    /// <summary>Role name of the digital output that opens the shutter; null when there is none.</summary>
    public string? ShutterChannel { get; set; }

    /// <summary>Checks the section.</summary>
    public void Validate()
    {
        Check.InRange("laser.wavelengthNm", WavelengthNm, 200, 2500);
        Check.InRange("laser.maxPowerMw", MaxPowerMw, 0, 10_000);
        if (PowerControlChannel is not null) Check.NotEmpty("laser.powerControlChannel", PowerControlChannel);
        if (ShutterChannel is not null) Check.NotEmpty("laser.shutterChannel", ShutterChannel);
    }
}

/// <summary>A photomultiplier and the analog input that digitises it.</summary>
public sealed class PmtProfile
{
    /// <summary>Name shown in reports (<c>green</c>, <c>pmt1</c>).</summary>
    public string Name { get; set; } = "";

    /// <summary>Role name of the analog input that samples it.</summary>
    public string Channel { get; set; } = "";

    /// <summary>Gain-control voltage applied to the PMT module, in V; null when set by hand.</summary>
    public double? GainV { get; set; }

    /// <summary>Checks the detector; <paramref name="path"/> is its place in the file.</summary>
    public void Validate(string path)
    {
        Check.NotEmpty($"{path}.name", Name);
        Check.NotEmpty($"{path}.channel", Channel);
        if (GainV is double g) Check.InRange($"{path}.gainV", g, 0, 10);
    }
}
