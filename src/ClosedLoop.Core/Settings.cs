using System.Globalization;

namespace ClosedLoop.Core;

/// <summary>A setting, parameter or field whose value is not allowed. The message names the setting,
/// the value given and the allowed range, and (when it came from a file) where it was written.</summary>
public class SettingException : Exception
{
    /// <summary>Creates the error for <paramref name="setting"/> holding <paramref name="value"/>, which must be <paramref name="allowed"/>.</summary>
    public SettingException(string setting, object? value, string allowed, string? source = null)
        : base(Compose(setting, value, allowed, source))
    {
        Setting = setting;
        Value = value;
        Allowed = allowed;
        Location = source;
    }

    /// <summary>Dotted name of the setting, e.g. <c>protocol.stimulusRateHz</c>.</summary>
    public string Setting { get; }

    /// <summary>The rejected value.</summary>
    public object? Value { get; }

    /// <summary>What would have been accepted, in words (e.g. "between 0.01 and 100").</summary>
    public string Allowed { get; }

    /// <summary>File and line the value came from, when known.</summary>
    public string? Location { get; }

    private static string Compose(string setting, object? value, string allowed, string? source)
    {
        string shown = value switch
        {
            null => "(missing)",
            string s => $"'{s}'",
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? "?",
        };
        string where = source is null ? "" : source + ": ";
        return $"{where}{setting} = {shown} is not allowed; it must be {allowed}.";
    }
}

/// <summary>Checks for settings; each throws <see cref="SettingException"/> naming the setting and its allowed range.</summary>
public static class Check
{
    /// <summary>Requires <paramref name="min"/> ≤ value ≤ <paramref name="max"/>.</summary>
    public static double InRange(string setting, double value, double min, double max)
    {
        if (double.IsNaN(value) || value < min || value > max)
            throw new SettingException(setting, value, $"between {F(min)} and {F(max)}");
        return value;
    }

    /// <summary>Requires <paramref name="min"/> ≤ value ≤ <paramref name="max"/>.</summary>
    public static int InRange(string setting, int value, int min, int max)
    {
        if (value < min || value > max)
            throw new SettingException(setting, value, $"between {min} and {max}");
        return value;
    }

    /// <summary>Requires a finite value strictly greater than zero.</summary>
    public static double Positive(string setting, double value)
    {
        if (!(value > 0) || double.IsInfinity(value))
            throw new SettingException(setting, value, "a finite number > 0");
        return value;
    }

    /// <summary>Requires a non-empty string.</summary>
    public static string NotEmpty(string setting, string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
            throw new SettingException(setting, value, "a non-empty name");
        return value;
    }

    private static string F(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}
