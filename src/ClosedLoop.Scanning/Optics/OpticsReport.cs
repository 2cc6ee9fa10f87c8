using ClosedLoop.Hardware;

namespace ClosedLoop.Scanning.Optics;

/// <summary>
/// The optics figures of a hardware profile, each null when an input it needs is not in the profile; those inputs
/// are listed in <see cref="Missing"/> by their setting names. Angles are optical, at the profile's
/// <see cref="ImagingProfile.Zoom"/>; X is the fast (line) axis.
/// </summary>
/// <param name="ObjectiveFocalLengthMm">f_o = tube-lens standard / magnification, mm.</param>
/// <param name="ScanAngleXDeg">Optical angle imaged along a line (for a resonant scanner: the part inside the
/// temporal fill fraction), degrees.</param>
/// <param name="ScanAngleYDeg">Optical angle swept by the slow-axis galvo, degrees.</param>
/// <param name="FieldOfViewXUm">Field of view along a line, µm.</param>
/// <param name="FieldOfViewYUm">Field of view across lines, µm.</param>
/// <param name="PixelSizeXUm">Field of view along a line / widthPx, µm.</param>
/// <param name="PixelSizeYUm">Field of view across lines / heightPx, µm.</param>
/// <param name="ProfilePixelSizeUm">The profile's own <c>imaging.pixelSizeUm</c>, to compare with the computed sizes.</param>
/// <param name="BackApertureBeamDiameterMm">Beam diameter at the objective's back aperture, (f_t / f_s) · d_mirror, mm.</param>
/// <param name="BackApertureDiameterMm">The objective's back aperture, 2 · NA · f_o, mm.</param>
/// <param name="BackApertureFill">Beam diameter / back aperture (1 = just filled; below 1 under-fills and loses resolution).</param>
/// <param name="FocusUmPerDiopter">Focus shift per diopter of ETL power, µm/dpt.</param>
/// <param name="FocusMinUm">Focus shift at one end of the ETL's diopter range, µm.</param>
/// <param name="FocusMaxUm">Focus shift at the other end, µm.</param>
/// <param name="Missing">Settings that are missing for the figures left null (e.g. <c>optics.relays</c>).</param>
public sealed record OpticsReport(
    double? ObjectiveFocalLengthMm,
    double? ScanAngleXDeg,
    double? ScanAngleYDeg,
    double? FieldOfViewXUm,
    double? FieldOfViewYUm,
    double? PixelSizeXUm,
    double? PixelSizeYUm,
    double ProfilePixelSizeUm,
    double? BackApertureBeamDiameterMm,
    double? BackApertureDiameterMm,
    double? BackApertureFill,
    double? FocusUmPerDiopter,
    double? FocusMinUm,
    double? FocusMaxUm,
    IReadOnlyList<string> Missing)
{
    /// <summary>Axial range the ETL scans over its diopter range, µm; null when not computable.</summary>
    public double? FocusRangeUm => FocusMaxUm - FocusMinUm;

    /// <summary>Computes every figure the profile has the inputs for.</summary>
    public static OpticsReport From(HardwareProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var missing = new List<string>();
        var optics = profile.Optics;
        var imaging = profile.Imaging;
        if (optics is null) missing.Add("optics");

        double? fs = Need(optics?.ScanLensFocalLengthMm, "optics.scanLensFocalLengthMm", optics, missing);
        double? ft = Need(optics?.TubeLensFocalLengthMm, "optics.tubeLensFocalLengthMm", optics, missing);
        double? fo = Need(optics?.ObjectiveFocalLengthMm, "optics.objectiveMagnification", optics, missing);
        double? mirror = Need(optics?.MirrorDiameterMm, "optics.mirrorDiameterMm", optics, missing);
        double? na = Need(optics?.ObjectiveNa, "optics.objectiveNa", optics, missing);

        var (angleX, angleY) = ScanAngles(profile, missing);
        double? fovX = null, fovY = null;
        if (fo is double o && fs is double s && ft is double t)
        {
            if (angleX is double ax) fovX = OpticsCalculator.FieldOfViewMm(ax, o, s, t) * 1000;
            if (angleY is double ay) fovY = OpticsCalculator.FieldOfViewMm(ay, o, s, t) * 1000;
        }
        double? pixelX = fovX / imaging.WidthPx, pixelY = fovY / imaging.HeightPx;

        double? beam = mirror is double m && fs is double s2 && ft is double t2
            ? OpticsCalculator.BackApertureBeamDiameterMm(m, s2, t2) : null;
        double? aperture = na is double n && fo is double o2 ? OpticsCalculator.BackApertureDiameterMm(n, o2) : null;

        double? perDiopter = null, focusMin = null, focusMax = null;
        if (profile.Etl is not { } etl) missing.Add("etl");
        if (optics is not null && optics.Relays is null) missing.Add("optics.relays");
        if (optics?.Relays is { } r && fo is double o3 && fs is double s3 && ft is double t3)
        {
            var geometry = new RemoteFocusGeometry(o3, s3, t3, r.R1Mm, r.R2Mm, r.R3Mm, r.R4Mm);
            perDiopter = geometry.UmPerDiopter;
            if (profile.Etl is { } lens) (focusMin, focusMax) = geometry.FocusRangeUm(lens.MinDiopter, lens.MaxDiopter);
        }

        return new OpticsReport(fo, angleX, angleY, fovX, fovY, pixelX, pixelY, imaging.PixelSizeUm,
            beam, aperture, beam / aperture, perDiopter, focusMin, focusMax, missing);
    }

    private static double? Need(double? value, string setting, OpticsProfile? optics, List<string> missing)
    {
        if (value is null && optics is not null) missing.Add(setting);
        return value;
    }

    private static (double? X, double? Y) ScanAngles(HardwareProfile profile, List<string> missing)
    {
        if (profile.Scanners is not { } scanners)
        {
            missing.Add("scanners");
            return (null, null);
        }
        double zoom = profile.Imaging.Zoom;
        double? x = scanners.Mode switch
        {
            ScanMode.ResonantGalvo when scanners.Resonant is { } r =>
                OpticsCalculator.ResonantImagedAngleDeg(r.MaxScanAngleDeg / zoom, r.TemporalFillFraction),
            ScanMode.GalvoGalvo when scanners.GalvoX is { } g => 2 * g.MaxAngleDeg / zoom,
            _ => null,
        };
        double? y = scanners.GalvoY is { } gy ? 2 * gy.MaxAngleDeg / zoom : null;
        return (x, y);
    }
}
