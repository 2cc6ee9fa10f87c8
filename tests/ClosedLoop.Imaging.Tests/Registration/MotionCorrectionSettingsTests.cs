using ClosedLoop.Core;
using ClosedLoop.Imaging.Registration;

namespace ClosedLoop.Imaging.Tests.Registration;

public sealed class MotionCorrectionSettingsTests
{
    [Theory]
    [InlineData("patchPx", "a power of two")]
    [InlineData("binning", "1, 2 or 4")]
    [InlineData("referenceFrames", "between 1 and 1000")]
    [InlineData("referenceUpdateRate", "between 0 and 0.5")]
    [InlineData("maxShiftPx", "between 1 and 200")]
    [InlineData("confidenceThreshold", "between 0 and 1000")]
    [InlineData("gridX", "between 2 and 16")]
    [InlineData("gridY", "between 2 and 16")]
    [InlineData("piecewisePatchPx", "a power of two")]
    [InlineData("maxPatchDeviationPx", "between 0.5 and 50")]
    public void Validate_OutOfRange_NamesTheSettingAndItsRange(string field, string allowed)
    {
        var s = new MotionCorrectionSettings { Mode = MotionCorrectionMode.PiecewiseRigid };
        switch (field)
        {
            case "patchPx": s.PatchPx = 100; break;
            case "binning": s.Binning = 3; break;
            case "referenceFrames": s.ReferenceFrames = 0; break;
            case "referenceUpdateRate": s.ReferenceUpdateRate = 0.9; break;
            case "maxShiftPx": s.MaxShiftPx = 0.5; break;
            case "confidenceThreshold": s.ConfidenceThreshold = -1; break;
            case "gridX": s.GridX = 1; break;
            case "gridY": s.GridY = 40; break;
            case "piecewisePatchPx": s.PiecewisePatchPx = 48; break;
            case "maxPatchDeviationPx": s.MaxPatchDeviationPx = 0; break;
        }
        var ex = Assert.Throws<SettingException>(s.Validate);
        Assert.Equal("motionCorrection." + field, ex.Setting);
        Assert.Contains(allowed, ex.Message);
    }

    [Fact]
    public void Validate_PatchLargerThanTheFrame_NamesPatchPxAndTheFrameSize()
    {
        var s = new MotionCorrectionSettings { PatchPx = 128, Binning = 2 };
        var ex = Assert.Throws<SettingException>(() => s.Validate(120, 88));
        Assert.Equal("motionCorrection.patchPx", ex.Setting);
        Assert.Contains("120×88", ex.Message);
    }

    [Fact]
    public void Validate_MaxShiftBeyondWhatThePatchCanSee_NamesMaxShiftPx()
    {
        var s = new MotionCorrectionSettings { PatchPx = 32, Binning = 1, MaxShiftPx = 20 };
        var ex = Assert.Throws<SettingException>(s.Validate);
        Assert.Equal("motionCorrection.maxShiftPx", ex.Setting);
    }

    [Fact]
    public void Validate_Defaults_AreAccepted()
    {
        new MotionCorrectionSettings().Validate(512, 512);
        new MotionCorrectionSettings { Mode = MotionCorrectionMode.PiecewiseRigid }.Validate(512, 512);
    }
}
