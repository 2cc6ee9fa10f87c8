namespace ClosedLoop.Core;

/// <summary>
/// Population activity at one time point, the common currency between front ends (imaging ROIs, MEA units) and
/// pattern detectors. One instance per run is written in place each frame by the extraction stages and read by
/// the detectors after them on the same thread, so nothing is allocated per frame.
/// </summary>
public sealed class PopulationActivity
{
    /// <summary>Creates buffers for <paramref name="units"/> units (ROIs or electrodes).</summary>
    public PopulationActivity(int units, IReadOnlyList<string> unitNames)
    {
        Check.InRange("activity.units", units, 1, 1_000_000);
        if (unitNames.Count != units) throw new SettingException("activity.unitNames", unitNames.Count, $"exactly {units} names");
        Units = units;
        UnitNames = unitNames;
        Raw = new float[units];
        Dff = new float[units];
        NoiseLevel = new float[units];
        Rate = new float[units];
    }

    /// <summary>Number of units.</summary>
    public int Units { get; }

    /// <summary>Unit names (ROI or electrode names), index-aligned with the value arrays.</summary>
    public IReadOnlyList<string> UnitNames { get; }

    /// <summary>Frame the values belong to.</summary>
    public long FrameIndex { get; set; } = -1;

    /// <summary>Sample-clock time of the frame's first sample, in ns.</summary>
    public long SampleTimeNs { get; set; }

    /// <summary>Raw signal per unit (mean fluorescence over an ROI's pixels, in detector counts).</summary>
    public float[] Raw { get; }

    /// <summary>ΔF/F per unit, as a fraction (0.5 = 50 %).</summary>
    public float[] Dff { get; }

    /// <summary>Running noise level ν per unit (Rupprecht et al. 2021: median |Δ(ΔF/F in %)| / √frame rate).</summary>
    public float[] NoiseLevel { get; }

    /// <summary>Inferred spike rate per unit, spikes per frame.</summary>
    public float[] Rate { get; }
}
