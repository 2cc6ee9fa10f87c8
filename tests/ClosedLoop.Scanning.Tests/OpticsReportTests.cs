using ClosedLoop.Hardware;
using ClosedLoop.Scanning.Optics;

namespace ClosedLoop.Scanning.Tests;

public class OpticsReportTests
{
    [Fact]
    public void From_SimResonant_GivesFieldBeamAndFocusRange()
    {
        var report = OpticsReport.From(HardwareProfileLoader.Load("builtin:sim-resonant"));

        Assert.Empty(report.Missing);
        Assert.Equal(12.5, report.ObjectiveFocalLengthMm!.Value, 9);
        // Resonant: 26° / zoom 2.5, 90 % of each half-period imaged → 10.27°; galvo Y: 2 × 13° / 2.5 = 10.4°.
        Assert.Equal(566, report.FieldOfViewXUm!.Value, 0);
        Assert.Equal(573.5, report.FieldOfViewYUm!.Value, 1);
        Assert.Equal(1.1, report.PixelSizeXUm!.Value, 1);
        Assert.Equal((20.0, 20.0, 1.0), (report.BackApertureBeamDiameterMm!.Value, report.BackApertureDiameterMm!.Value, report.BackApertureFill!.Value));
        Assert.Equal(-39.0625, report.FocusUmPerDiopter!.Value, 9);
        Assert.Equal(156.25, report.FocusRangeUm!.Value, 9);
    }

    [Fact]
    public void From_ProfileWithoutOpticsOrScanners_ListsWhatIsMissing()
    {
        var report = OpticsReport.From(HardwareProfileLoader.Load("builtin:sim-two-photon"));

        Assert.Null(report.FieldOfViewXUm);
        Assert.Null(report.FocusRangeUm);
        Assert.Equal(["optics", "scanners", "etl"], report.Missing);
    }

    [Fact]
    public void From_GalvoRigWithoutEtl_ComputesFieldAndNamesTheMissingFocusInputs()
    {
        var report = OpticsReport.From(HardwareProfileLoader.Load("builtin:sim-galvo"));

        Assert.Equal(2 * 8 / 2.0, report.ScanAngleXDeg!.Value, 9);
        Assert.NotNull(report.PixelSizeXUm);
        Assert.Null(report.FocusUmPerDiopter);
        Assert.Equal(["etl", "optics.relays"], report.Missing);
    }
}
