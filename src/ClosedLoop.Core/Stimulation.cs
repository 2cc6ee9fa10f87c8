namespace ClosedLoop.Core;

/// <summary>
/// A named set of photostimulation spots in image coordinates (pixels; x = column, y = row), built once when a run
/// starts (e.g. from the centroids of an ROI group) and reused by every command, so a command allocates nothing.
/// </summary>
public sealed class StimulationTargets
{
    /// <summary>Creates a target set; <paramref name="xPx"/> and <paramref name="yPx"/> must have equal length.</summary>
    public StimulationTargets(string name, float[] xPx, float[] yPx)
    {
        Name = Check.NotEmpty("targets.name", name);
        if (xPx.Length != yPx.Length) throw new SettingException($"targets.{name}", yPx.Length, $"as many y as x coordinates ({xPx.Length})");
        if (xPx.Length == 0) throw new SettingException($"targets.{name}", 0, "at least one target");
        XPx = xPx;
        YPx = yPx;
    }

    /// <summary>Name (usually the ROI group's).</summary>
    public string Name { get; }

    /// <summary>Column of each spot, in pixels.</summary>
    public float[] XPx { get; }

    /// <summary>Row of each spot, in pixels.</summary>
    public float[] YPx { get; }

    /// <summary>Number of spots.</summary>
    public int Count => XPx.Length;
}

/// <summary>
/// One stimulation request: a train of <see cref="PulseCount"/> pulses of <see cref="PulseWidthMs"/> at
/// <see cref="PulseRateHz"/> and <see cref="PowerMw"/> (laser power at the sample, per spot) on every target,
/// starting at <see cref="SampleTimeNs"/> on the rig's sample clock. Every command passes the safety interlock
/// before it reaches a stimulator.
/// </summary>
public readonly record struct StimulationCommand(
    StimulationTargets Targets,
    double PowerMw,
    double PulseWidthMs,
    int PulseCount,
    double PulseRateHz,
    long SampleTimeNs)
{
    /// <summary>Duration of the whole train, in ms.</summary>
    public double TrainDurationMs => PulseCount <= 1 ? PulseWidthMs : (PulseCount - 1) * 1000.0 / PulseRateHz + PulseWidthMs;
}
