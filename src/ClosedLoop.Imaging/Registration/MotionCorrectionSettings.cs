using System.Globalization;
using System.Numerics;
using ClosedLoop.Core;

namespace ClosedLoop.Imaging.Registration;

/// <summary>How frames are motion-corrected.</summary>
public enum MotionCorrectionMode
{
    /// <summary>No correction (the stage passes frames through).</summary>
    None,

    /// <summary>One shift per frame, from the central patch.</summary>
    Rigid,

    /// <summary>A shift per patch of a grid, interpolated into a smooth per-pixel shift field.</summary>
    PiecewiseRigid,
}

/// <summary>
/// Settings of <see cref="MotionCorrectionStage"/> (the experiment's <c>motionCorrection:</c> section). Sizes in "binned
/// px" are pixels of the frame after <see cref="Binning"/> × <see cref="Binning"/> averaging; everything else is in frame
/// pixels. Read once when the run starts.
/// </summary>
public sealed class MotionCorrectionSettings : IStageSettings
{
    /// <summary><c>none</c>, <c>rigid</c> (default) or <c>piecewiseRigid</c>.</summary>
    public MotionCorrectionMode Mode { get; set; } = MotionCorrectionMode.Rigid;

    /// <summary>Side of the central patch the rigid shift is estimated on, in binned px: a power of two, 16..512, and
    /// PatchPx × Binning must fit in the frame. Default 128 (with binning 2: the central 256 × 256 frame pixels).</summary>
    public int PatchPx { get; set; } = 128;

    /// <summary>Frame pixels averaged along each axis before registration: 1, 2 or 4. Default 2. Binning cuts the cost
    /// by its square and the shot noise by its factor; the shift is measured in binned px and scaled back.</summary>
    public int Binning { get; set; } = 2;

    /// <summary>Frames the initial reference is built from: each is registered to the mean of those before it and
    /// averaged in. These frames are not corrected. Range 1..1000, default 30.</summary>
    public int ReferenceFrames { get; set; } = 30;

    /// <summary>Weight of each confidently registered, corrected frame in the running reference (exponential average),
    /// per frame: 0 freezes the reference after it is built; 0.02 (default) follows slow changes with a time constant of
    /// 50 frames. Range 0..0.5.</summary>
    public double ReferenceUpdateRate { get; set; } = 0.02;

    /// <summary>Largest shift searched, in frame px (each axis). A frame whose best match lies beyond is corrected by the
    /// limit and counted as clipped. Range 1..200 and below (PatchPx / 2 − 1) × Binning; default 20.</summary>
    public double MaxShiftPx { get; set; } = 20;

    /// <summary>Peak-to-sidelobe ratio below which a frame's (or a patch's) shift is not trusted: the frame is corrected by
    /// the last trusted shift instead (a patch takes the frame's rigid shift) and does not update the reference. Noise
    /// alone scores about 4–6. Range 0..1000, default 8.</summary>
    public double ConfidenceThreshold { get; set; } = 8;

    /// <summary>Patches across (piecewise-rigid only): 2..16, default 4.</summary>
    public int GridX { get; set; } = 4;

    /// <summary>Patches down (piecewise-rigid only): 2..16, default 4.</summary>
    public int GridY { get; set; } = 4;

    /// <summary>Side of each piecewise patch, in binned px: a power of two, 16..256, no larger than the binned frame.
    /// Default 64. Neighbouring patches overlap when GridX × PiecewisePatchPx exceeds the binned width.</summary>
    public int PiecewisePatchPx { get; set; } = 64;

    /// <summary>How far a patch's shift may depart from the frame's rigid shift, in frame px (piecewise-rigid only).
    /// A patch whose best match lies further is treated as low confidence. Range 0.5..50, default 4.</summary>
    public double MaxPatchDeviationPx { get; set; } = 4;

    /// <inheritdoc />
    public void Validate()
    {
        PowerOfTwo("motionCorrection.patchPx", PatchPx, 16, 512);
        if (Binning is not (1 or 2 or 4)) throw new SettingException("motionCorrection.binning", Binning, "1, 2 or 4");
        Check.InRange("motionCorrection.referenceFrames", ReferenceFrames, 1, 1000);
        Check.InRange("motionCorrection.referenceUpdateRate", ReferenceUpdateRate, 0, 0.5);
        Check.InRange("motionCorrection.maxShiftPx", MaxShiftPx, 1, 200);
        double limit = (PatchPx / 2 - 1) * Binning;
        if (!(MaxShiftPx < limit))
            throw new SettingException("motionCorrection.maxShiftPx", MaxShiftPx, $"below (patchPx / 2 − 1) × binning = {F(limit)} px");
        Check.InRange("motionCorrection.confidenceThreshold", ConfidenceThreshold, 0, 1000);
        if (Mode == MotionCorrectionMode.PiecewiseRigid)
        {
            Check.InRange("motionCorrection.gridX", GridX, 2, 16);
            Check.InRange("motionCorrection.gridY", GridY, 2, 16);
            PowerOfTwo("motionCorrection.piecewisePatchPx", PiecewisePatchPx, 16, 256);
            Check.InRange("motionCorrection.maxPatchDeviationPx", MaxPatchDeviationPx, 0.5, 50);
            double patchLimit = (PiecewisePatchPx / 2 - 1) * Binning;
            if (!(MaxShiftPx < patchLimit))
                throw new SettingException("motionCorrection.maxShiftPx", MaxShiftPx, $"below (piecewisePatchPx / 2 − 1) × binning = {F(patchLimit)} px in piecewiseRigid mode");
        }
    }

    /// <summary>Validates and checks the patches fit a <paramref name="widthPx"/> × <paramref name="heightPx"/> frame.</summary>
    public void Validate(int widthPx, int heightPx)
    {
        Validate();
        int side = Math.Min(widthPx, heightPx);
        if (PatchPx * Binning > side)
            throw new SettingException("motionCorrection.patchPx", PatchPx,
                $"a power of two with patchPx × binning ({Binning}) ≤ {side} px, the frame's smaller side ({widthPx}×{heightPx} px)");
        if (Mode == MotionCorrectionMode.PiecewiseRigid && PiecewisePatchPx * Binning > side)
            throw new SettingException("motionCorrection.piecewisePatchPx", PiecewisePatchPx,
                $"a power of two with piecewisePatchPx × binning ({Binning}) ≤ {side} px, the frame's smaller side ({widthPx}×{heightPx} px)");
    }

    private static void PowerOfTwo(string setting, int value, int min, int max)
    {
        if (value < min || value > max || !BitOperations.IsPow2(value))
            throw new SettingException(setting, value, $"a power of two between {min} and {max}");
    }

    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);
}
