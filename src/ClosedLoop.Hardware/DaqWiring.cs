using System.Globalization;
using System.Text.RegularExpressions;
using ClosedLoop.Core;

namespace ClosedLoop.Hardware;

/// <summary>A voltage span written <c>[min, max]</c> in volts, e.g. <c>[-10, 10]</c>.</summary>
/// <param name="MinV">Lowest voltage, V.</param>
/// <param name="MaxV">Highest voltage, V.</param>
public readonly record struct VoltageRange(double MinV, double MaxV)
{
    /// <summary>Highest magnitude a signal symmetric about 0 V can reach inside the span: min(|min|, max), or 0 when
    /// the span does not contain 0 V.</summary>
    public double SymmetricLimitV => MinV <= 0 && MaxV >= 0 ? Math.Min(-MinV, MaxV) : 0;

    /// <summary>True when <paramref name="volts"/> lies inside the span (ends included, with 1 µV of slack for rounding).</summary>
    public bool Contains(double volts) => volts >= MinV - 1e-6 && volts <= MaxV + 1e-6;

    /// <summary>True when the whole of <paramref name="other"/> lies inside this span.</summary>
    public bool Contains(VoltageRange other) => Contains(other.MinV) && Contains(other.MaxV);

    /// <summary>Requires finite ends with min &lt; max, both within ±<paramref name="limitV"/>.</summary>
    public void Validate(string path, double limitV = 100)
    {
        Check.InRange($"{path}[0]", MinV, -limitV, limitV);
        Check.InRange($"{path}[1]", MaxV, -limitV, limitV);
        if (!(MinV < MaxV)) throw new SettingException(path, this, "[min, max] with min < max, in volts");
    }

    /// <summary>E.g. <c>[-10, 10] V</c>.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"[{MinV:0.###}, {MaxV:0.###}] V");
}

/// <summary>A DAQ device of the rig and the limits its channels must respect.</summary>
public sealed class DaqDeviceProfile
{
    /// <summary>Name as the driver knows it, e.g. <c>Dev1</c>.</summary>
    public string Name { get; set; } = "";

    /// <summary>Product for people and for the driver's check, e.g. <c>PCIe-6374</c>; null = not checked.</summary>
    public string? ProductType { get; set; }

    /// <summary>Span of the analog outputs, in V; null when the device has none.</summary>
    public VoltageRange? AoRangeV { get; set; }

    /// <summary>Widest input span of the analog inputs, in V; null when the device has none.</summary>
    public VoltageRange? AiRangeV { get; set; }

    /// <summary>Fastest analog-output update rate per channel, in Hz; null = not known.</summary>
    public double? MaxAoRateHz { get; set; }

    /// <summary>Fastest analog-input sample rate per channel, in Hz; null = not known.</summary>
    public double? MaxAiRateHz { get; set; }

    /// <summary>Checks the device; <paramref name="path"/> is its place in the file.</summary>
    public void Validate(string path)
    {
        Check.NotEmpty($"{path}.name", Name);
        if (ProductType is not null) Check.NotEmpty($"{path}.productType", ProductType);
        AoRangeV?.Validate($"{path}.aoRangeV");
        AiRangeV?.Validate($"{path}.aiRangeV");
        if (MaxAoRateHz is double ao) Check.InRange($"{path}.maxAoRateHz", ao, 1, 1e9);
        if (MaxAiRateHz is double ai) Check.InRange($"{path}.maxAiRateHz", ai, 1, 1e10);
    }
}

/// <summary>The shared timebase: every task's sample clock is derived from it, so outputs and inputs cannot drift.</summary>
public sealed class TimebaseProfile
{
    /// <summary>Terminal the timebase comes from, e.g. <c>/Dev1/20MHzTimebase</c> or <c>/Dev1/PFI14</c>.</summary>
    public string Source { get; set; } = "";

    /// <summary>Frequency of the timebase, in Hz.</summary>
    public double RateHz { get; set; } = 20e6;

    /// <summary>Checks the section.</summary>
    public void Validate(string path)
    {
        Check.NotEmpty($"{path}.source", Source);
        Check.InRange($"{path}.rateHz", RateHz, 1_000, 1e9);
    }
}

/// <summary>Which edge of a digital signal counts.</summary>
public enum TriggerEdge
{
    /// <summary>Low to high.</summary>
    Rising,
    /// <summary>High to low.</summary>
    Falling,
}

/// <summary>The hardware start trigger shared by every task.</summary>
public sealed class StartTriggerProfile
{
    /// <summary>Terminal of the trigger, e.g. <c>/Dev1/PFI0</c>.</summary>
    public string Terminal { get; set; } = "";

    /// <summary>The edge that starts the tasks.</summary>
    public TriggerEdge Edge { get; set; } = TriggerEdge.Rising;

    /// <summary>Checks the section.</summary>
    public void Validate(string path) => Check.NotEmpty($"{path}.terminal", Terminal);
}

/// <summary>What a physical channel does.</summary>
public enum ChannelKind
{
    /// <summary>An analog output (<c>ao0</c>): galvo, ETL, Pockels cell, PMT gain.</summary>
    AnalogOutput,
    /// <summary>An analog input (<c>ai0</c>): detector signals.</summary>
    AnalogInput,
    /// <summary>A digital output line (<c>port0/line0</c> or <c>PFI5</c>): shutter, stimulation trigger.</summary>
    DigitalOutput,
    /// <summary>A counter input (<c>ctr0</c>): the resonant scanner's line clock.</summary>
    CounterInput,
}

/// <summary>One physical channel, named by its logical role in <see cref="DaqProfile.Channels"/>.</summary>
public sealed partial class DaqChannelProfile
{
    /// <summary>Device the channel is on; null = <see cref="DaqProfile.Device"/>.</summary>
    public string? Device { get; set; }

    /// <summary>Physical channel on the device: <c>aoN</c>, <c>aiN</c>, <c>portN/lineM</c> or <c>PFIN</c>, <c>ctrN</c>.</summary>
    public string Physical { get; set; } = "";

    /// <summary>What the channel does; it must match <see cref="Physical"/>.</summary>
    public ChannelKind Kind { get; set; } = ChannelKind.AnalogOutput;

    /// <summary>Voltage span of an analog channel, in V; null = the device's AO or AI span. Not allowed on digital
    /// or counter channels.</summary>
    public VoltageRange? RangeV { get; set; }

    /// <summary>Counter inputs only: the terminal the counted signal enters on, e.g. <c>PFI8</c>; null = the
    /// counter's default terminal.</summary>
    public string? Terminal { get; set; }

    /// <summary>Checks the channel; <paramref name="path"/> is its place in the file (<c>daq.channels.galvoY</c>).</summary>
    public void Validate(string path)
    {
        if (Device is not null) Check.NotEmpty($"{path}.device", Device);
        Check.NotEmpty($"{path}.physical", Physical);
        var (pattern, example) = Kind switch
        {
            ChannelKind.AnalogOutput => (AnalogOutputLine(), "aoN (e.g. ao0)"),
            ChannelKind.AnalogInput => (AnalogInputLine(), "aiN (e.g. ai0)"),
            ChannelKind.DigitalOutput => (DigitalLine(), "portN/lineM or PFIN (e.g. port0/line0)"),
            _ => (CounterLine(), "ctrN (e.g. ctr0)"),
        };
        if (!pattern.IsMatch(Physical))
            throw new SettingException($"{path}.physical", Physical,
                $"a channel of kind {KindName(Kind)}: {example}");
        if (RangeV is { } range)
        {
            if (Kind is ChannelKind.DigitalOutput or ChannelKind.CounterInput)
                throw new SettingException($"{path}.rangeV", range.ToString(), "left out: only analog channels have a voltage range");
            range.Validate($"{path}.rangeV");
        }
        if (Terminal is not null)
        {
            if (Kind != ChannelKind.CounterInput)
                throw new SettingException($"{path}.terminal", Terminal, "left out: only counter inputs have an input terminal");
            Check.NotEmpty($"{path}.terminal", Terminal);
        }
    }

    /// <summary>The kind as written in profiles, e.g. <c>analogOutput</c>.</summary>
    public static string KindName(ChannelKind kind)
    {
        string name = kind.ToString();
        return char.ToLowerInvariant(name[0]) + name[1..];
    }

    [GeneratedRegex(@"^ao\d+$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex AnalogOutputLine();

    [GeneratedRegex(@"^ai\d+$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex AnalogInputLine();

    [GeneratedRegex(@"^(port\d+/line\d+|PFI\d+)$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex DigitalLine();

    [GeneratedRegex(@"^ctr\d+$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex CounterLine();
}
