using System.Globalization;
using ClosedLoop.Core;

namespace ClosedLoop.FirmwareSim.Culture;

/// <summary>One electrode of an array: its name, its index (the AI/AO channel number on the simulated MEA) and its
/// centre in the dish plane.</summary>
/// <param name="Index">Position in <see cref="MeaLayout.Electrodes"/>; channel <c>aiN</c>/<c>aoN</c> of the MEA device.</param>
/// <param name="Name">Name as the array's maker prints it (<c>12</c> … <c>87</c> on a 60-electrode MEA, <c>R1C1</c> … on a
/// high-density grid).</param>
/// <param name="XUm">Centre, µm from the first column.</param>
/// <param name="YUm">Centre, µm from the first row.</param>
public readonly record struct Electrode(int Index, string Name, double XUm, double YUm);

/// <summary>
/// Where the electrodes of a multi-electrode array lie. Two shapes: the classic 60-electrode MEA (an 8 × 8 grid without
/// its four corners, Multi Channel Systems naming: column digit then row digit, <c>12</c> … <c>87</c>, ordered by name)
/// and a configurable high-density grid of rows × columns (<c>R1C1</c>, <c>R1C2</c>, …, row by row).
/// </summary>
public sealed class MeaLayout
{
    private readonly Electrode[] _electrodes;
    private readonly Dictionary<string, int> _byName;

    private MeaLayout(string description, Electrode[] electrodes, double pitchUm)
    {
        if (electrodes.Length == 0)
            throw new SettingException("Layout", description, "an electrode grid with at least one electrode");
        Description = description;
        _electrodes = electrodes;
        PitchUm = pitchUm;
        _byName = electrodes.ToDictionary(e => e.Name, e => e.Index, StringComparer.OrdinalIgnoreCase);
        MinXUm = electrodes.Min(e => e.XUm);
        MaxXUm = electrodes.Max(e => e.XUm);
        MinYUm = electrodes.Min(e => e.YUm);
        MaxYUm = electrodes.Max(e => e.YUm);
    }

    /// <summary>The 60-electrode MEA: 8 × 8 positions at <paramref name="pitchUm"/> without the corners 11, 18, 81, 88.</summary>
    public static MeaLayout Mea60(double pitchUm = 200)
    {
        Check.InRange("Layout.PitchUm", pitchUm, 5, 2000);
        var list = new List<Electrode>(60);
        for (int col = 1; col <= 8; col++)
            for (int row = 1; row <= 8; row++)
            {
                bool corner = (col == 1 || col == 8) && (row == 1 || row == 8);
                if (corner) continue;
                list.Add(new Electrode(list.Count, string.Create(CultureInfo.InvariantCulture, $"{col}{row}"), (col - 1) * pitchUm, (row - 1) * pitchUm));
            }
        return new MeaLayout(string.Create(CultureInfo.InvariantCulture, $"60-electrode MEA (8×8 without corners, {pitchUm} µm pitch)"), list.ToArray(), pitchUm);
    }

    /// <summary>A high-density grid of <paramref name="rows"/> × <paramref name="columns"/> electrodes at
    /// <paramref name="pitchUm"/>, named <c>R{row}C{column}</c> from 1 and ordered row by row.</summary>
    public static MeaLayout HighDensity(int rows, int columns, double pitchUm)
    {
        if (rows < 1 || columns < 1)
            throw new SettingException(rows < 1 ? "Layout.Rows" : "Layout.Columns", rows < 1 ? rows : columns,
                "at least 1 (a grid without electrodes cannot record)");
        Check.InRange("Layout.Rows", rows, 1, 256);
        Check.InRange("Layout.Columns", columns, 1, 256);
        if (rows * columns > 4096) throw new SettingException("Layout.Rows × Layout.Columns", rows * columns, "at most 4096 electrodes");
        Check.InRange("Layout.PitchUm", pitchUm, 5, 2000);
        var list = new Electrode[rows * columns];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
            {
                int i = r * columns + c;
                list[i] = new Electrode(i, string.Create(CultureInfo.InvariantCulture, $"R{r + 1}C{c + 1}"), c * pitchUm, r * pitchUm);
            }
        return new MeaLayout(string.Create(CultureInfo.InvariantCulture, $"high-density grid {rows}×{columns}, {pitchUm} µm pitch"), list, pitchUm);
    }

    /// <summary>Parses a layout name: <c>60</c> (or <c>mea60</c>) for the 60-electrode MEA at 200 µm, or
    /// <c>hd</c> / <c>hd:ROWSxCOLS@PITCH</c> (e.g. <c>hd:32x32@60</c>; <c>hd</c> alone is 32 × 32 at 60 µm).</summary>
    /// <exception cref="SettingException">Not a layout name; <paramref name="setting"/> names where it came from.</exception>
    public static MeaLayout Parse(string text, string setting = "--electrodes")
    {
        string t = (text ?? "").Trim().ToLowerInvariant();
        if (t is "60" or "mea60") return Mea60();
        if (t == "hd") return HighDensity(32, 32, 60);
        if (t.StartsWith("hd:", StringComparison.Ordinal))
        {
            string[] parts = t[3..].Split('@');
            string[] rc = parts[0].Split('x');
            if (rc.Length == 2 && int.TryParse(rc[0], NumberStyles.None, CultureInfo.InvariantCulture, out int rows)
                && int.TryParse(rc[1], NumberStyles.None, CultureInfo.InvariantCulture, out int cols))
            {
                double pitch = 60;
                if (parts.Length == 1 || parts.Length == 2 && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out pitch))
                {
                    try
                    {
                        return HighDensity(rows, cols, pitch);
                    }
                    catch (SettingException ex)
                    {
                        throw new SettingException(setting, text, $"a grid that can exist ({ex.Setting}: {ex.Allowed})");
                    }
                }
            }
        }
        throw new SettingException(setting, text, "60 (the 60-electrode MEA), hd (32×32 at 60 µm) or hd:ROWSxCOLS@PITCH_UM, e.g. hd:16x16@100");
    }

    /// <summary>What the layout is, in words.</summary>
    public string Description { get; }

    /// <summary>Distance between neighbouring electrodes, µm.</summary>
    public double PitchUm { get; }

    /// <summary>The electrodes, by index.</summary>
    public IReadOnlyList<Electrode> Electrodes => _electrodes;

    /// <summary>Number of electrodes.</summary>
    public int Count => _electrodes.Length;

    /// <summary>Bounding box of the electrode centres, µm.</summary>
    public double MinXUm { get; }

    /// <summary>Bounding box of the electrode centres, µm.</summary>
    public double MaxXUm { get; }

    /// <summary>Bounding box of the electrode centres, µm.</summary>
    public double MinYUm { get; }

    /// <summary>Bounding box of the electrode centres, µm.</summary>
    public double MaxYUm { get; }

    /// <summary>Index of the electrode named <paramref name="name"/>.</summary>
    /// <exception cref="SettingException">No such electrode; names the setting and a few valid names.</exception>
    public int IndexOf(string name, string setting = "electrode") =>
        _byName.TryGetValue(name.Trim(), out int i) ? i
            : throw new SettingException(setting, name, $"an electrode of the {Description}: {_electrodes[0].Name} … {_electrodes[^1].Name}");

    /// <inheritdoc />
    public override string ToString() => Description;
}
