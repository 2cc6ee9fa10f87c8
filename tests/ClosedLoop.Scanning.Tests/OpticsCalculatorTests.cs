using ClosedLoop.Core;
using ClosedLoop.Scanning.Optics;

namespace ClosedLoop.Scanning.Tests;

public class OpticsCalculatorTests
{
    [Fact]
    public void ObjectiveFocalLengthMm_16xOn200mmStandard_Is12Point5()
    {
        Assert.Equal(12.5, OpticsCalculator.ObjectiveFocalLengthMm(16, 200), 12);
    }

    [Fact]
    public void FieldOfViewMm_26DegreesExpandedFourTimesThrough12Point5mm_IsAbout1Point5mm()
    {
        // Worked example: α = 26°, f_t / f_s = 4 (200 / 50), f_o = 12.5 mm → tan(26°) · 12.5 / 4 ≈ 1.52 mm.
        double fov = OpticsCalculator.FieldOfViewMm(26, 12.5, 50, 200);

        Assert.Equal(1.524, fov, 3);
    }

    [Fact]
    public void FieldOfViewMm_ZeroFocalLength_NamesTheSetting()
    {
        var ex = Assert.Throws<SettingException>(() => OpticsCalculator.FieldOfViewMm(26, 12.5, 0, 200));

        Assert.Equal("scanLensFocalLengthMm", ex.Setting);
    }

    [Fact]
    public void BackApertureBeamDiameterMm_5mmMirrorExpandedFourTimes_Is20mm()
    {
        Assert.Equal(20, OpticsCalculator.BackApertureBeamDiameterMm(5, 50, 200), 12);
    }

    [Fact]
    public void BackApertureDiameterMm_16xNa0Point8_Is20mm()
    {
        Assert.Equal(20, OpticsCalculator.BackApertureDiameterMm(0.8, 12.5), 12);
    }

    [Fact]
    public void PixelSizeUm_1Point5mmOver512Pixels_IsAbout2Point9um()
    {
        Assert.Equal(2.9297, OpticsCalculator.PixelSizeUm(1.5, 512), 4);
    }

    [Fact]
    public void ResonantImagedAngleDeg_FullFill_IsTheWholeSweep()
    {
        Assert.Equal(26, OpticsCalculator.ResonantImagedAngleDeg(26, 1), 12);
        Assert.Equal(26 * Math.Sin(Math.PI * 0.45), OpticsCalculator.ResonantImagedAngleDeg(26, 0.9), 12);
    }

    [Fact]
    public void FocusRangeUm_200umWith16x_Becomes32umWith40x()
    {
        // Same scan and tube lenses, relays and ETL; only the objective changes: z scales with f_o².
        var with16x = new RemoteFocusGeometry(OpticsCalculator.ObjectiveFocalLengthMm(16), 50, 200, 150, 75, 100, 100);
        var with40x = with16x with { ObjectiveFocalLengthMm = OpticsCalculator.ObjectiveFocalLengthMm(40) };
        // K = 12.5² · 50² · 150² · 100² / (200² · 75² · 100²) = 39.0625 mm², so ±2.56 dpt spans 200 µm.
        var (min16, max16) = with16x.FocusRangeUm(-2.56, 2.56);
        var (min40, max40) = with40x.FocusRangeUm(-2.56, 2.56);

        Assert.Equal(200, max16 - min16, 9);
        Assert.Equal(32, max40 - min40, 9);
    }

    [Fact]
    public void FocusShiftUm_FocalLengthAndDiopterForms_Agree()
    {
        var g = new RemoteFocusGeometry(12.5, 50, 200, 150, 75, 100, 100);

        // 2 dpt is a 500 mm lens: z = −39.0625 mm² / 500 mm = −0.078125 mm = −78.125 µm.
        Assert.Equal(-78.125, g.FocusShiftUm(500), 9);
        Assert.Equal(-78.125, g.FocusShiftUmAtDiopter(2), 9);
        Assert.Equal(0, g.FocusShiftUm(double.PositiveInfinity), 12);
    }

    [Fact]
    public void FocusShiftUm_RelayMagnification_EntersSquared()
    {
        var unit = new RemoteFocusGeometry(12.5, 50, 200, 100, 100, 100, 100);
        var twice = unit with { R1Mm = 200 };

        Assert.Equal(4 * unit.FocusShiftUmAtDiopter(1), twice.FocusShiftUmAtDiopter(1), 9);
    }
}
