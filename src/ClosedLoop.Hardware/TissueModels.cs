using System.Globalization;
using ClosedLoop.Core;

namespace ClosedLoop.Hardware;

/// <summary>
/// A calcium indicator as the virtual tissue models it: one spike adds a double-exponential transient
/// (rise <see cref="RiseS"/>, decay <see cref="DecayS"/>) to the neuron's calcium, scaled so its peak is one spike's
/// worth; the fluorescence follows a saturating (Hill-type) function of that calcium,
/// ΔF/F = <see cref="DffPerSpike"/> · c / (1 + (c / <see cref="SaturationSpikes"/>)^h)^(1/h), h = <see cref="SaturationHill"/>.
/// The presets are rounded literature values (docs/simulation.md cites them).
/// </summary>
/// <param name="Name">Preset name (<c>GCaMP6s</c>, <c>GCaMP6f</c>, <c>OGB-1</c>) or <c>custom</c>.</param>
/// <param name="RiseS">Rise time constant of the transient, in s.</param>
/// <param name="DecayS">Decay time constant of the transient, in s.</param>
/// <param name="DffPerSpike">Peak ΔF/F of one isolated spike, as a fraction (0.25 = 25 %).</param>
/// <param name="SaturationSpikes">Calcium (spikes' worth) where the response bends over; ΔF/F tends to
/// DffPerSpike × SaturationSpikes.</param>
/// <param name="SaturationHill">Sharpness h of the bend (1 = gradual, larger = linear longer, then a sharper plateau).</param>
public sealed record IndicatorModel(string Name, double RiseS, double DecayS, double DffPerSpike, double SaturationSpikes, double SaturationHill)
{
    /// <summary>Name that asks for a fully user-given indicator (rise, decay and ΔF/F per spike required).</summary>
    public const string CustomName = "custom";

    /// <summary>GCaMP6s (Chen et al. 2013): large, slow transients.</summary>
    public static readonly IndicatorModel GCaMP6s = new("GCaMP6s", 0.07, 1.2, 0.25, 10, 1.5);

    /// <summary>GCaMP6f (Chen et al. 2013): smaller, fast transients.</summary>
    public static readonly IndicatorModel GCaMP6f = new("GCaMP6f", 0.02, 0.4, 0.15, 20, 1.5);

    /// <summary>Oregon Green BAPTA-1 AM (synthetic dye; e.g. Kerr et al. 2005): very fast rise, small, nearly linear.</summary>
    public static readonly IndicatorModel Ogb1 = new("OGB-1", 0.005, 0.7, 0.08, 40, 1.0);

    /// <summary>The presets, by name.</summary>
    public static IReadOnlyList<IndicatorModel> Presets { get; } = [GCaMP6s, GCaMP6f, Ogb1];

    /// <summary>The preset named <paramref name="name"/> (any case; <c>OGB1</c> also finds <c>OGB-1</c>), or null.</summary>
    public static IndicatorModel? FindPreset(string? name)
    {
        if (name is null) return null;
        string bare = name.Trim().Replace("-", "", StringComparison.Ordinal);
        return Presets.FirstOrDefault(p => string.Equals(p.Name.Replace("-", "", StringComparison.Ordinal), bare, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Time from a spike to the peak of its transient, in s: τr·τd/(τd − τr)·ln(τd/τr).</summary>
    public double TimeToPeakS => RiseS * DecayS / (DecayS - RiseS) * Math.Log(DecayS / RiseS);

    /// <summary>Value of the unnormalised kernel e^(−t/τd) − e^(−t/τr) at its peak (divide by it to make the peak 1).</summary>
    public double KernelPeak => Math.Exp(-TimeToPeakS / DecayS) - Math.Exp(-TimeToPeakS / RiseS);

    /// <summary>Time from the peak of an isolated spike's transient until it has fallen to half, in s (solved numerically).</summary>
    public double HalfDecayFromPeakS
    {
        get
        {
            double peak = KernelPeak, tp = TimeToPeakS, lo = tp, hi = tp + 20 * DecayS;
            for (int i = 0; i < 100; i++)
            {
                double mid = 0.5 * (lo + hi);
                if (Math.Exp(-mid / DecayS) - Math.Exp(-mid / RiseS) > 0.5 * peak) lo = mid; else hi = mid;
            }
            return 0.5 * (lo + hi) - tp;
        }
    }

    /// <summary>ΔF/F (fraction) of a neuron holding calcium <paramref name="calciumSpikes"/> (spikes' worth).</summary>
    public double Dff(double calciumSpikes)
    {
        if (calciumSpikes <= 0) return 0;
        double x = calciumSpikes / SaturationSpikes;
        return DffPerSpike * calciumSpikes / Math.Pow(1 + Math.Pow(x, SaturationHill), 1 / SaturationHill);
    }

    /// <summary>Checks the values; <paramref name="path"/> is the settings prefix (e.g. <c>simulation.tissue</c>).</summary>
    public void Validate(string path)
    {
        Check.InRange($"{path}.indicatorRiseS", RiseS, 0.0005, 2);
        Check.InRange($"{path}.indicatorDecayS", DecayS, 0.02, 10);
        if (!(RiseS < DecayS))
            throw new SettingException($"{path}.indicatorRiseS", RiseS, string.Create(CultureInfo.InvariantCulture,
                $"shorter than {path}.indicatorDecayS ({DecayS} s) for the {Name} indicator"));
        Check.InRange($"{path}.dffPerSpike", DffPerSpike, 0.001, 10);
        Check.InRange($"{path}.saturationSpikes", SaturationSpikes, 0.5, 1000);
        Check.InRange($"{path}.saturationHill", SaturationHill, 0.5, 8);
    }
}

/// <summary>
/// Opsin kinetics: a two-state channel whose open fraction O relaxes toward O∞ = k/(k + 1/τoff) during a light pulse,
/// with k = (1/τon)·P/(P + saturationPowerMw), and decays with τoff after it. The presets are rounded literature
/// values (docs/simulation.md cites them).
/// </summary>
/// <param name="Name">Preset name (<c>ChR2</c>, <c>C1V1</c>, <c>ChRmine</c>) or <c>custom</c>.</param>
/// <param name="OnMs">Activation time constant at saturating light, in ms.</param>
/// <param name="OffMs">Deactivation (channel closing) time constant, in ms.</param>
public sealed record OpsinModel(string Name, double OnMs, double OffMs)
{
    /// <summary>Channelrhodopsin-2 (e.g. Nagel et al. 2003; Lin et al. 2009): fast on, τoff ≈ 10–20 ms.</summary>
    public static readonly OpsinModel ChR2 = new("ChR2", 1.5, 12);

    /// <summary>C1V1(T/T) (Yizhar et al. 2011): red-shifted, slower closing.</summary>
    public static readonly OpsinModel C1V1 = new("C1V1", 3, 35);

    /// <summary>ChRmine (Marshel et al. 2019): very large currents, slow closing.</summary>
    public static readonly OpsinModel ChRmine = new("ChRmine", 2, 60);

    /// <summary>The presets, by name.</summary>
    public static IReadOnlyList<OpsinModel> Presets { get; } = [ChR2, C1V1, ChRmine];

    /// <summary>The preset named <paramref name="name"/> (any case), or null.</summary>
    public static OpsinModel? FindPreset(string? name) =>
        name is null ? null : Presets.FirstOrDefault(p => string.Equals(p.Name, name.Trim(), StringComparison.OrdinalIgnoreCase));
}

/// <summary>Where the neurons' spontaneous spike trains come from.</summary>
public enum SpikeSource
{
    /// <summary>Independent Poisson processes at lognormally spread rates.</summary>
    Poisson,
    /// <summary>Segments of real ground-truth spike trains (a Spikefinder excerpt shipped with firmware-sim): real
    /// bursts and inter-spike intervals, optionally time-scaled to each neuron's rate.</summary>
    Spikefinder,
}

/// <summary>How the field moves under the objective.</summary>
public enum MotionMode
{
    /// <summary>No motion.</summary>
    None,
    /// <summary>The whole field shifts (sub-pixel, smooth random motion, optional jumps).</summary>
    Rigid,
    /// <summary>A rigid shift plus a smooth displacement field interpolated from a coarse grid of patch shifts.</summary>
    Nonrigid,
}

/// <summary>
/// Brain motion of the virtual tissue. Each shift component follows two cascaded AR(1) filters (a smooth random
/// motion with time constant <see cref="TimeConstantS"/>) scaled to a stationary RMS of <see cref="RmsPx"/>; jumps
/// (at <see cref="JumpRateHz"/>, normal with s.d. <see cref="JumpPx"/>) add an offset that relaxes back over
/// 10 time constants. Shifts are clamped to a quarter of the field.
/// </summary>
public sealed class MotionProfile
{
    /// <summary><c>none</c>, <c>rigid</c> or <c>nonrigid</c>.</summary>
    public MotionMode Mode { get; set; } = MotionMode.None;

    /// <summary>Stationary RMS of each component (x, y) of the rigid shift, in pixels.</summary>
    public double RmsPx { get; set; } = 1.0;

    /// <summary>Time constant of the smooth random motion, in s.</summary>
    public double TimeConstantS { get; set; } = 0.5;

    /// <summary>Mean rate of sudden jumps, in Hz (0 = none).</summary>
    public double JumpRateHz { get; set; }

    /// <summary>S.d. of a jump in each component, in pixels.</summary>
    public double JumpPx { get; set; } = 3;

    /// <summary>Stationary RMS of each grid node's own shift (on top of the rigid shift), in pixels (non-rigid only).</summary>
    public double NonrigidRmsPx { get; set; } = 0.5;

    /// <summary>Grid nodes along x (columns) of the non-rigid displacement field, ≥ 2.</summary>
    public int GridX { get; set; } = 4;

    /// <summary>Grid nodes along y (rows) of the non-rigid displacement field, ≥ 2.</summary>
    public int GridY { get; set; } = 4;

    /// <summary>Checks the section against the field size; <paramref name="path"/> is its place in the file.</summary>
    public void Validate(string path, ImagingProfile imaging)
    {
        if (Mode == MotionMode.None) return;
        double maxPx = Math.Min(imaging.WidthPx, imaging.HeightPx) / 8.0;
        Check.InRange($"{path}.rmsPx", RmsPx, 0, maxPx);
        Check.InRange($"{path}.timeConstantS", TimeConstantS, 1e-3, 3600);
        Check.InRange($"{path}.jumpRateHz", JumpRateHz, 0, imaging.FrameRateHz);
        Check.InRange($"{path}.jumpPx", JumpPx, 0, maxPx);
        if (Mode == MotionMode.Nonrigid)
        {
            Check.InRange($"{path}.nonrigidRmsPx", NonrigidRmsPx, 0, maxPx);
            Check.InRange($"{path}.gridX", GridX, 2, Math.Max(2, imaging.WidthPx / 8));
            Check.InRange($"{path}.gridY", GridY, 2, Math.Max(2, imaging.HeightPx / 8));
        }
    }
}
