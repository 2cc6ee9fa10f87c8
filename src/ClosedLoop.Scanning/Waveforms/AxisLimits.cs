using System.Globalization;
using ClosedLoop.Core;

namespace ClosedLoop.Scanning.Waveforms;

/// <summary>Shared checks of a galvo's angle and AO range.</summary>
internal static class AxisLimits
{
    /// <summary>Largest |angle| allowed on <paramref name="axis"/>: the mechanical limit and the AO range, whichever is tighter, around 0.</summary>
    public static double MaxAbsAngleDeg(GalvoAxis axis)
    {
        double aoLimitDeg = Math.Min(Math.Abs(axis.AoMaxV), Math.Abs(axis.AoMinV)) / Math.Abs(axis.VoltsPerDeg);
        return Math.Min(axis.MaxAngleDeg, aoLimitDeg);
    }

    public static string Describe(GalvoAxis a) => string.Create(CultureInfo.InvariantCulture,
        $"{a.Name} (max angle {a.MaxAngleDeg:G4}°, AO {a.AoMinV:G4}..{a.AoMaxV:G4} V at {a.VoltsPerDeg:G4} V/°, slew {a.MaxSlewDegPerS:G4} °/s, accel {a.MaxAccelDegPerS2:G4} °/s²)");

    public static void Validate(string prefix, GalvoAxis a)
    {
        Check.NotEmpty(prefix + ".name", a.Name);
        if (!(Math.Abs(a.VoltsPerDeg) > 0) || double.IsInfinity(a.VoltsPerDeg))
            throw new SettingException(prefix + ".voltsPerDeg", a.VoltsPerDeg, "a finite non-zero number");
        Check.Positive(prefix + ".maxAngleDeg", a.MaxAngleDeg);
        Check.Positive(prefix + ".maxSlewDegPerS", a.MaxSlewDegPerS);
        Check.Positive(prefix + ".maxAccelDegPerS2", a.MaxAccelDegPerS2);
        if (!(a.AoMinV < 0 && a.AoMaxV > 0))
            throw new SettingException(prefix + ".aoMinV/aoMaxV", $"{a.AoMinV}..{a.AoMaxV}", "a range around 0 V");
    }

    /// <summary>Throws when offset ± amplitude leaves the axis's range.</summary>
    public static void CheckSweep(string setting, GalvoAxis axis, double amplitudeDeg, double offsetDeg)
    {
        Check.Positive(setting, amplitudeDeg);
        double limit = MaxAbsAngleDeg(axis);
        if (Math.Abs(offsetDeg) + amplitudeDeg > limit)
            throw new ScanInfeasibleException(setting, amplitudeDeg, Math.Max(0, limit - Math.Abs(offsetDeg)), "at most", "°", Describe(axis));
    }

    /// <summary>Bisection for the largest value in (lo, hi] for which <paramref name="feasible"/> holds (it must hold at lo).</summary>
    public static double LargestFeasible(double lo, double hi, Func<double, bool> feasible)
    {
        for (int i = 0; i < 60; i++)
        {
            double mid = 0.5 * (lo + hi);
            if (feasible(mid)) lo = mid; else hi = mid;
        }
        return lo;
    }
}
