namespace ClosedLoop.Scanning.Waveforms;

/// <summary>
/// One galvanometric scanner driven by an analog output. Angles are mechanical, in degrees; the AO voltage is
/// <c>angleDeg × VoltsPerDeg</c> (centred on 0 V). The limits are what the scanner and its driver can follow.
/// </summary>
/// <param name="Name">Name used in error messages (e.g. <c>galvoX</c>).</param>
/// <param name="VoltsPerDeg">Command scale, volts per mechanical degree.</param>
/// <param name="MaxAngleDeg">Largest mechanical angle from centre, either side, in degrees.</param>
/// <param name="MaxSlewDegPerS">Largest angular velocity the scanner can follow, in °/s.</param>
/// <param name="MaxAccelDegPerS2">Largest angular acceleration the scanner can follow, in °/s².</param>
/// <param name="AoMinV">Lowest voltage the analog output can write.</param>
/// <param name="AoMaxV">Highest voltage the analog output can write.</param>
public sealed record GalvoAxis(
    string Name, double VoltsPerDeg, double MaxAngleDeg, double MaxSlewDegPerS, double MaxAccelDegPerS2,
    double AoMinV, double AoMaxV);

/// <summary>
/// An electrically tunable lens used for remote focusing, driven by an analog output. The command voltage is
/// <c>ZeroV + zUm × VoltsPerUm</c>.
/// </summary>
/// <param name="Name">Name used in error messages (e.g. <c>etl</c>).</param>
/// <param name="VoltsPerUm">Command scale, volts per micrometre of focal shift.</param>
/// <param name="ZeroV">Command voltage at the nominal focal plane (z = 0).</param>
/// <param name="MinZUm">Shallowest reachable focal shift, in µm.</param>
/// <param name="MaxZUm">Deepest reachable focal shift, in µm.</param>
/// <param name="SettleS">Time the lens needs after a step before the focus is stable, in seconds.</param>
/// <param name="AoMinV">Lowest voltage the analog output can write.</param>
/// <param name="AoMaxV">Highest voltage the analog output can write.</param>
public sealed record EtlAxis(
    string Name, double VoltsPerUm, double ZeroV, double MinZUm, double MaxZUm, double SettleS,
    double AoMinV, double AoMaxV);

/// <summary>Levels a beam-blanking output writes (a Pockels cell/AOM analog level, or a digital line as 0/5 V).</summary>
/// <param name="OnV">Level while the beam should reach the sample.</param>
/// <param name="OffV">Level while the beam is blanked.</param>
public sealed record BlankingLevels(double OnV, double OffV)
{
    /// <summary>A TTL-style digital gate: 5 V on, 0 V off.</summary>
    public static BlankingLevels Digital { get; } = new(5.0, 0.0);
}

/// <summary>Shape of the fast galvo in galvo-galvo raster scanning.</summary>
public enum FastAxisPattern
{
    /// <summary>Unidirectional: a linear ramp, then a flyback to the start of the next line.</summary>
    Sawtooth,

    /// <summary>Bidirectional: a linear ramp each way with a constant-acceleration turnaround at each end.</summary>
    Triangle,
}

/// <summary>How the slow (Y) axis moves during a frame.</summary>
public enum SlowAxisMotion
{
    /// <summary>A constant level per line; the step happens while the beam is blanked at the line's turnaround.</summary>
    Stepped,

    /// <summary>A continuous linear ramp over the frame.</summary>
    Ramped,
}

/// <summary>Galvo-galvo raster scan settings (read once, when the generator is built).</summary>
/// <param name="LinesPerFrame">Imaged lines per frame.</param>
/// <param name="LineRateHz">Lines per second (a triangle images one line each way).</param>
/// <param name="AmplitudeXDeg">Half the mechanical sweep of the fast axis, in degrees (sweep = ±amplitude around the offset).</param>
/// <param name="AmplitudeYDeg">Half the mechanical sweep of the slow axis, in degrees.</param>
/// <param name="OffsetXDeg">Centre of the fast sweep, in degrees.</param>
/// <param name="OffsetYDeg">Centre of the slow sweep, in degrees.</param>
/// <param name="Pattern">Sawtooth (unidirectional) or triangle (bidirectional).</param>
/// <param name="MaxFillFraction">Largest temporal fill fraction to use; the achieved one can be lower when the
/// flyback or turnaround needs more time.</param>
public sealed record RasterSettings(
    int LinesPerFrame, double LineRateHz, double AmplitudeXDeg, double AmplitudeYDeg,
    double OffsetXDeg = 0, double OffsetYDeg = 0, FastAxisPattern Pattern = FastAxisPattern.Sawtooth,
    double MaxFillFraction = 0.95);

/// <summary>Slow-axis settings for resonant-galvo scanning (read once, when the generator is built).</summary>
/// <param name="LinesPerFrame">Imaged lines per frame.</param>
/// <param name="ResonantFrequencyHz">Frequency of the resonant scanner, in Hz (one line per period, or two when bidirectional).</param>
/// <param name="Bidirectional">True to image on both half-periods.</param>
/// <param name="TemporalFillFraction">Fraction of each half-period that is imaged; the rest is the turnaround, blanked.</param>
/// <param name="AmplitudeYDeg">Half the mechanical sweep of the slow galvo, in degrees.</param>
/// <param name="OffsetYDeg">Centre of the slow sweep, in degrees.</param>
/// <param name="Motion">Stepped (one level per line) or ramped.</param>
/// <param name="MinFlybackLines">Fewest line periods to spend on the Y flyback (more are used when the galvo needs them).</param>
public sealed record ResonantScanSettings(
    int LinesPerFrame, double ResonantFrequencyHz, bool Bidirectional, double TemporalFillFraction,
    double AmplitudeYDeg, double OffsetYDeg = 0, SlowAxisMotion Motion = SlowAxisMotion.Stepped, int MinFlybackLines = 1);

/// <summary>How the ETL moves through a volume.</summary>
public enum EtlMotion
{
    /// <summary>One focal plane per frame; the step is taken at the start of the previous frame's Y flyback.</summary>
    Stepped,

    /// <summary>A continuous ramp through the volume (tilted planes).</summary>
    Ramped,
}

/// <summary>Volume-imaging settings for an ETL (read once, when the generator is built).</summary>
/// <param name="Planes">Imaged planes per volume (one frame each).</param>
/// <param name="FirstPlaneUm">Focal shift of the first plane, in µm.</param>
/// <param name="PlaneSpacingUm">Distance between planes, in µm (may be negative).</param>
/// <param name="FlybackFrames">Frames spent returning to the first plane, with the beam blanked.</param>
/// <param name="Motion">Stepped or ramped.</param>
public sealed record EtlVolumeSettings(
    int Planes, double FirstPlaneUm, double PlaneSpacingUm, int FlybackFrames = 1, EtlMotion Motion = EtlMotion.Stepped);
