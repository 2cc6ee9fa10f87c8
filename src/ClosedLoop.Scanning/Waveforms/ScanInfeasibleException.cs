using System.Globalization;
using ClosedLoop.Core;

namespace ClosedLoop.Scanning.Waveforms;

/// <summary>
/// A scan the hardware cannot follow: too fast for a scanner's slew or acceleration, too far for its angle, or
/// beyond the analog output's range. The message names the setting, the reason and the nearest setting that would
/// work; <see cref="NearestFeasible"/> carries that value so a caller (or a UI) can offer it.
/// </summary>
public sealed class ScanInfeasibleException : SettingException
{
    /// <summary>Creates the error for <paramref name="setting"/> = <paramref name="value"/>.</summary>
    /// <param name="setting">Dotted name of the setting, e.g. <c>raster.lineRateHz</c>.</param>
    /// <param name="value">The requested value.</param>
    /// <param name="nearestFeasible">The closest value of the same setting that the hardware can follow.</param>
    /// <param name="bound">"at most" or "at least".</param>
    /// <param name="unit">Unit shown after the numbers (may be empty).</param>
    /// <param name="reason">Which limit binds, e.g. "galvoX (slew 2000 °/s, accel 1e+07 °/s²)".</param>
    public ScanInfeasibleException(string setting, double value, double nearestFeasible, string bound, string unit, string reason)
        : base(setting, value, $"{bound} {F(nearestFeasible)}{(unit.Length > 0 ? " " + unit : "")} for {reason}")
    {
        NearestFeasible = nearestFeasible;
        Reason = reason;
    }

    /// <summary>The closest value of the setting that the hardware can follow.</summary>
    public double NearestFeasible { get; }

    /// <summary>The limit that binds, in words.</summary>
    public string Reason { get; }

    internal static string F(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
}
