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

    /// <summary>Creates a set of stimulation electrodes (indices into the array's electrode list, as the MEA front end
    /// numbers them); <see cref="XPx"/> and <see cref="YPx"/> are then empty.</summary>
    public StimulationTargets(string name, int[] electrodes)
    {
        Name = Check.NotEmpty("targets.name", name);
        ArgumentNullException.ThrowIfNull(electrodes);
        if (electrodes.Length == 0) throw new SettingException($"targets.{name}", 0, "at least one electrode");
        XPx = Array.Empty<float>();
        YPx = Array.Empty<float>();
        Electrodes = electrodes;
    }

    /// <summary>Electrode indices for electrical stimulation; null for photostimulation spots.</summary>
    public int[]? Electrodes { get; }

    /// <summary>Name (usually the ROI group's).</summary>
    public string Name { get; }

    /// <summary>Column of each spot, in pixels.</summary>
    public float[] XPx { get; }

    /// <summary>Row of each spot, in pixels.</summary>
    public float[] YPx { get; }

    /// <summary>Number of spots (or electrodes).</summary>
    public int Count => Electrodes?.Length ?? XPx.Length;
}

/// <summary>
/// One stimulation request: a train of <see cref="PulseCount"/> pulses of <see cref="PulseWidthMs"/> at
/// <see cref="PulseRateHz"/> and <see cref="PowerMw"/> (laser power at the sample, per spot) on every target,
/// starting at <see cref="SampleTimeNs"/> on the rig's sample clock. Every command passes the safety interlock
/// before it reaches a stimulator. An electrical (MEA) command also sets <see cref="AmplitudeUa"/> and
/// <see cref="PhaseWidthUs"/>: each pulse is then biphasic, a cathodic phase of that current and width followed by an
/// anodic phase of <see cref="BalanceAmplitudeUa"/> for <see cref="BalancePhaseWidthUs"/>, on every electrode of the
/// targets; <see cref="PulseWidthMs"/> is the whole pulse (both phases) and <see cref="PowerMw"/> is 0.
/// </summary>
public readonly record struct StimulationCommand(
    StimulationTargets Targets,
    double PowerMw,
    double PulseWidthMs,
    int PulseCount,
    double PulseRateHz,
    long SampleTimeNs)
{
    /// <summary>Electrical pulses: current of the first (cathodic) phase, µA; 0 for light.</summary>
    public double AmplitudeUa { get; init; }

    /// <summary>Electrical pulses: width of the first phase, µs.</summary>
    public double PhaseWidthUs { get; init; }

    /// <summary>Electrical pulses: current of the second (anodic, balancing) phase, µA.</summary>
    public double BalanceAmplitudeUa { get; init; }

    /// <summary>Electrical pulses: width of the second phase, µs.</summary>
    public double BalancePhaseWidthUs { get; init; }

    /// <summary>True for an electrical pulse command.</summary>
    public bool IsElectrical => AmplitudeUa > 0 || PhaseWidthUs > 0;

    /// <summary>Charge of the first phase, nC (µA × µs / 1000).</summary>
    public double ChargePerPhaseNc => AmplitudeUa * PhaseWidthUs / 1000;

    /// <summary>Duration of the whole train, in ms.</summary>
    public double TrainDurationMs => PulseCount <= 1 ? PulseWidthMs : (PulseCount - 1) * 1000.0 / PulseRateHz + PulseWidthMs;
}
