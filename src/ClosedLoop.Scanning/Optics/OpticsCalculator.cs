using ClosedLoop.Core;

namespace ClosedLoop.Scanning.Optics;

/// <summary>
/// First-order optics of a point-scanning microscope: field of view, beam size at the objective's back aperture,
/// pixel size, and the focus shift of an electrically tunable lens (ETL) used for remote focusing. Focal lengths
/// and diameters are in mm, angles in optical degrees (twice the mechanical angle), focus and pixel sizes in µm,
/// lens powers in diopters (1/m). Every method throws <see cref="SettingException"/> for a value that has no
/// physical meaning (zero or negative focal length, angle of 180° or more).
/// </summary>
public static class OpticsCalculator
{
    /// <summary>The objective's focal length, f_o = tube-lens standard / magnification (200 mm / 16 = 12.5 mm), in mm.</summary>
    public static double ObjectiveFocalLengthMm(double magnification, double tubeLensStandardMm = 200)
    {
        Check.Positive("objectiveMagnification", magnification);
        Check.Positive("tubeLensStandardMm", tubeLensStandardMm);
        return tubeLensStandardMm / magnification;
    }

    /// <summary>Field of view at the sample for a full optical scan angle α (peak to peak):
    /// s_FOV = tan(α) · f_o · f_s / f_t, in mm. Example: α = 26°, f_t / f_s = 4, f_o = 12.5 mm → 1.52 mm.</summary>
    public static double FieldOfViewMm(double scanAngleDeg, double objectiveFocalLengthMm, double scanLensFocalLengthMm, double tubeLensFocalLengthMm)
    {
        Check.InRange("scanAngleDeg", scanAngleDeg, 0, 179.999);
        Check.Positive("objectiveFocalLengthMm", objectiveFocalLengthMm);
        Check.Positive("scanLensFocalLengthMm", scanLensFocalLengthMm);
        Check.Positive("tubeLensFocalLengthMm", tubeLensFocalLengthMm);
        return Math.Tan(scanAngleDeg * Math.PI / 180) * objectiveFocalLengthMm * scanLensFocalLengthMm / tubeLensFocalLengthMm;
    }

    /// <summary>Beam diameter at the objective's back focal aperture: d_BFA = (f_t / f_s) · d_mirror, in mm (the scan
    /// and tube lenses expand the beam that fills the scan mirror).</summary>
    public static double BackApertureBeamDiameterMm(double mirrorDiameterMm, double scanLensFocalLengthMm, double tubeLensFocalLengthMm)
    {
        Check.Positive("mirrorDiameterMm", mirrorDiameterMm);
        Check.Positive("scanLensFocalLengthMm", scanLensFocalLengthMm);
        Check.Positive("tubeLensFocalLengthMm", tubeLensFocalLengthMm);
        return tubeLensFocalLengthMm / scanLensFocalLengthMm * mirrorDiameterMm;
    }

    /// <summary>Diameter of the objective's back aperture, 2 · NA · f_o, in mm (a beam this wide fills it).</summary>
    public static double BackApertureDiameterMm(double numericalAperture, double objectiveFocalLengthMm)
    {
        Check.Positive("objectiveNa", numericalAperture);
        Check.Positive("objectiveFocalLengthMm", objectiveFocalLengthMm);
        return 2 * numericalAperture * objectiveFocalLengthMm;
    }

    /// <summary>Edge of one pixel, in µm: the field of view (mm) divided by the pixels across it.</summary>
    public static double PixelSizeUm(double fieldOfViewMm, int pixels)
    {
        Check.InRange("pixels", pixels, 1, int.MaxValue);
        if (!(fieldOfViewMm >= 0) || double.IsInfinity(fieldOfViewMm))
            throw new SettingException("fieldOfViewMm", fieldOfViewMm, "a finite number >= 0");
        return fieldOfViewMm * 1000 / pixels;
    }

    /// <summary>The part of a resonant sweep that is imaged: a mirror swinging over α (peak to peak) and sampled during
    /// the central <paramref name="temporalFillFraction"/> of each half-period covers α · sin(π · fill / 2) degrees.</summary>
    public static double ResonantImagedAngleDeg(double scanAngleDeg, double temporalFillFraction)
    {
        Check.InRange("scanAngleDeg", scanAngleDeg, 0, 179.999);
        Check.InRange("temporalFillFraction", temporalFillFraction, 0, 1);
        return scanAngleDeg * Math.Sin(Math.PI * temporalFillFraction / 2);
    }
}

/// <summary>
/// The lenses between an ETL and the sample that set how far the focus moves when the ETL's power changes: the
/// objective (f_o), scan lens (f_s), tube lens (f_t) and two relays between the ETL and the scanners (r1 → r2, then
/// r3 → r4). All focal lengths in mm. The focus shift is
/// z = − f_o² · f_s² · f_r1² · f_r3² / (f_ETL · f_t² · f_r2² · f_r4²);
/// with the ETL's power P = 1 / f_ETL in diopters this is z [µm] = −K [mm²] · P [dpt], K the lens factor below.
/// </summary>
/// <param name="ObjectiveFocalLengthMm">f_o, mm.</param>
/// <param name="ScanLensFocalLengthMm">f_s, mm.</param>
/// <param name="TubeLensFocalLengthMm">f_t, mm.</param>
/// <param name="R1Mm">First lens of the first relay, mm.</param>
/// <param name="R2Mm">Second lens of the first relay, mm.</param>
/// <param name="R3Mm">First lens of the second relay, mm.</param>
/// <param name="R4Mm">Second lens of the second relay, mm.</param>
public sealed record RemoteFocusGeometry(
    double ObjectiveFocalLengthMm, double ScanLensFocalLengthMm, double TubeLensFocalLengthMm,
    double R1Mm, double R2Mm, double R3Mm, double R4Mm)
{
    /// <summary>K = f_o² · f_s² · f_r1² · f_r3² / (f_t² · f_r2² · f_r4²), in mm²: the focus moves K mm per 1/mm of
    /// ETL power, which is the same number in µm per diopter.</summary>
    public double LensFactorMm2
    {
        get
        {
            Check.Positive("objectiveFocalLengthMm", ObjectiveFocalLengthMm);
            Check.Positive("scanLensFocalLengthMm", ScanLensFocalLengthMm);
            Check.Positive("tubeLensFocalLengthMm", TubeLensFocalLengthMm);
            Check.Positive("r1Mm", R1Mm);
            Check.Positive("r2Mm", R2Mm);
            Check.Positive("r3Mm", R3Mm);
            Check.Positive("r4Mm", R4Mm);
            return Sq(ObjectiveFocalLengthMm) * Sq(ScanLensFocalLengthMm) * Sq(R1Mm) * Sq(R3Mm)
                / (Sq(TubeLensFocalLengthMm) * Sq(R2Mm) * Sq(R4Mm));
        }
    }

    /// <summary>Focus shift per diopter of ETL power, in µm/dpt (negative: more power pulls the focus up).</summary>
    public double UmPerDiopter => -LensFactorMm2;

    /// <summary>Focus shift for an ETL of focal length <paramref name="etlFocalLengthMm"/> (mm; negative for a
    /// diverging lens, infinite for a flat one), in µm.</summary>
    public double FocusShiftUm(double etlFocalLengthMm)
    {
        if (etlFocalLengthMm == 0 || double.IsNaN(etlFocalLengthMm))
            throw new SettingException("etlFocalLengthMm", etlFocalLengthMm, "a focal length other than 0 (infinite for a flat lens)");
        return -LensFactorMm2 / etlFocalLengthMm * 1000;
    }

    /// <summary>Focus shift for an ETL power of <paramref name="diopter"/> (1/m), in µm: −K · P.</summary>
    public double FocusShiftUmAtDiopter(double diopter)
    {
        if (double.IsNaN(diopter) || double.IsInfinity(diopter))
            throw new SettingException("diopter", diopter, "a finite number");
        return UmPerDiopter * diopter;
    }

    /// <summary>The lowest and highest focus shift, in µm, over ETL powers from <paramref name="minDiopter"/> to
    /// <paramref name="maxDiopter"/>; their difference is the axial range the ETL can scan.</summary>
    public (double MinUm, double MaxUm) FocusRangeUm(double minDiopter, double maxDiopter)
    {
        if (!(minDiopter <= maxDiopter))
            throw new SettingException("maxDiopter", maxDiopter, $"at least minDiopter ({minDiopter})");
        double a = FocusShiftUmAtDiopter(minDiopter), b = FocusShiftUmAtDiopter(maxDiopter);
        return (Math.Min(a, b), Math.Max(a, b));
    }

    private static double Sq(double v) => v * v;
}
