using System.Globalization;

namespace ClosedLoop.Hardware.Daq;

/// <summary>One physical channel: device, kind prefix and number, e.g. <c>Dev1</c>, <c>ai</c>, <c>3</c>
/// or <c>Dev1</c>, <c>port0/line</c>, <c>5</c>.</summary>
/// <param name="Device">Device name.</param>
/// <param name="Prefix">Kind prefix: <c>ai</c>, <c>ao</c>, <c>ctr</c>, <c>port0/line</c>, …</param>
/// <param name="Index">Channel number.</param>
public readonly record struct PhysicalChannel(string Device, string Prefix, int Index)
{
    /// <summary>Full name as NI writes it, e.g. <c>Dev1/ai3</c>.</summary>
    public string Name => Device + "/" + Prefix + Index.ToString(CultureInfo.InvariantCulture);

    /// <inheritdoc />
    public override string ToString() => Name;
}

/// <summary>Parses NI-style physical channel lists.</summary>
public static class DaqChannels
{
    /// <summary>
    /// Parses a comma-separated list of channels or ranges: <c>Dev1/ai0</c>, <c>Dev1/ai0:3</c> (ai0, ai1, ai2, ai3),
    /// <c>Dev1/ao1:0</c> (descending), <c>Dev1/port0/line0:7</c>, <c>Dev1/ctr0</c>; a range may repeat the prefix
    /// (<c>Dev1/ai0:ai3</c>). The order given is the order of the task's channels (and of interleaved samples).
    /// </summary>
    /// <exception cref="DaqException"><see cref="DaqErrorCodes.InvalidChannel"/> for malformed text or a channel
    /// named twice.</exception>
    public static IReadOnlyList<PhysicalChannel> Parse(string channels)
    {
        var result = new List<PhysicalChannel>();
        if (string.IsNullOrWhiteSpace(channels)) throw Invalid("", channels, "it is empty");
        foreach (string raw in channels.Split(','))
        {
            string part = raw.Trim().TrimStart('/');
            int slash = part.IndexOf('/');
            if (slash <= 0 || slash == part.Length - 1) throw Invalid(part, channels, "expected DEVICE/CHANNEL");
            string device = part[..slash];
            string rest = part[(slash + 1)..];
            int colon = rest.IndexOf(':');
            string first = colon < 0 ? rest : rest[..colon];
            (string prefix, int from) = SplitNumber(first, part, channels);
            int to = from;
            if (colon >= 0)
            {
                string last = rest[(colon + 1)..];
                (string lastPrefix, int lastIndex) = SplitNumber(last, part, channels, allowBare: true);
                if (lastPrefix.Length > 0 && !string.Equals(lastPrefix, prefix, StringComparison.OrdinalIgnoreCase))
                    throw Invalid(part, channels, $"a range must stay within one kind ('{prefix}' … '{lastPrefix}')");
                to = lastIndex;
            }
            int step = to >= from ? 1 : -1;
            for (int i = from; ; i += step)
            {
                var ch = new PhysicalChannel(device, prefix.ToLowerInvariant(), i);
                if (result.Contains(ch)) throw Invalid(part, channels, $"{ch.Name} is named twice");
                result.Add(ch);
                if (i == to) break;
            }
        }
        return result;
    }

    private static (string Prefix, int Index) SplitNumber(string text, string part, string all, bool allowBare = false)
    {
        int end = text.Length;
        int start = end;
        while (start > 0 && char.IsAsciiDigit(text[start - 1])) start--;
        if (start == end) throw Invalid(part, all, "a channel number is missing");
        if (start == 0 && !allowBare) throw Invalid(part, all, "a channel kind (ai, ao, ctr, port0/line) is missing");
        if (!int.TryParse(text.AsSpan(start), NumberStyles.None, CultureInfo.InvariantCulture, out int index) || index > 100_000)
            throw Invalid(part, all, "the channel number is too large");
        return (text[..start], index);
    }

    private static DaqException Invalid(string part, string all, string why) =>
        new(DaqErrorCodes.InvalidChannel, part.Split('/')[0],
            $"channel list '{all}' is not valid at '{part}': {why}. Write channels as Dev1/ai0, Dev1/ai0:3 or Dev1/port0/line0:7, separated by commas.");
}
