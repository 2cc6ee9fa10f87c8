using System.Globalization;
using System.Text;
using System.Text.Json;
using ClosedLoop.Core;

namespace ClosedLoop.Imaging.Segmentation;

/// <summary>
/// A set of binary neuron masks on a <see cref="WidthPx"/> × <see cref="HeightPx"/> frame: what segmentation finds and what
/// ground truth gives (the layout of the SUNS/YST mask files: height, width, masks as lists of row * width + col indices;
/// docs/segmentation.md). Unlike an <see cref="RoiSet"/> it may be empty. Masks are kept sorted ascending.
/// </summary>
public sealed class MaskSet
{
    private readonly int[][] _masks;
    private readonly string[] _names;

    /// <summary>Builds a set; throws <see cref="SettingException"/> naming <c>masks[i][j]</c> for a pixel outside the frame or
    /// listed twice, and <c>masks[i]</c> for an empty mask. Names default to roi000, roi001, ...</summary>
    public MaskSet(int heightPx, int widthPx, IEnumerable<int[]> masks, IReadOnlyList<string>? names = null, string? sourceName = null)
    {
        HeightPx = Check.InRange("height", heightPx, 1, RoiSet.MaxSidePx);
        WidthPx = Check.InRange("width", widthPx, 1, RoiSet.MaxSidePx);
        SourceName = sourceName;
        _masks = masks.Select(m => (int[])m.Clone()).ToArray();
        if (names is not null && names.Count != _masks.Length)
            throw new SettingException("names", names.Count, $"a list of exactly {_masks.Length} names, one per mask", sourceName);
        _names = names?.ToArray() ?? Enumerable.Range(0, _masks.Length).Select(RoiSet.DefaultName).ToArray();
        int n = heightPx * widthPx;
        for (int i = 0; i < _masks.Length; i++)
        {
            var m = _masks[i];
            if (m.Length == 0) throw new SettingException($"masks[{i}]", 0, "a non-empty list of pixel indices", sourceName);
            for (int j = 0; j < m.Length; j++)
                if ((uint)m[j] >= (uint)n)
                    throw new SettingException($"masks[{i}][{j}]", m[j],
                        $"a pixel index between 0 and {n - 1} (inside the {widthPx}×{heightPx} frame, index = row * width + col)", sourceName);
            Array.Sort(m);
            for (int j = 1; j < m.Length; j++)
                if (m[j] == m[j - 1])
                    throw new SettingException($"masks[{i}]", m[j], "pixel indices each listed once (this one is repeated)", sourceName);
        }
    }

    /// <summary>Frame height in pixels.</summary>
    public int HeightPx { get; }

    /// <summary>Frame width in pixels.</summary>
    public int WidthPx { get; }

    /// <summary>File the set was read from, when it was.</summary>
    public string? SourceName { get; }

    /// <summary>Number of masks.</summary>
    public int Count => _masks.Length;

    /// <summary>The masks' pixel indices, each ascending.</summary>
    public IReadOnlyList<int[]> Masks => _masks;

    /// <summary>Mask names (roi000, ... unless the file named them).</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>Throws <see cref="SettingException"/> naming both sizes unless <paramref name="other"/> has this frame size.</summary>
    public void CheckSameFrame(MaskSet other)
    {
        if (other.HeightPx != HeightPx || other.WidthPx != WidthPx)
            throw new SettingException("frame size", $"{other.WidthPx}×{other.HeightPx} px{Source(other)}",
                $"the {WidthPx}×{HeightPx} px of{Source(this)} (masks of different frames cannot be compared)");
    }

    private static string Source(MaskSet s) => s.SourceName is null ? "" : $" '{s.SourceName}'";

    /// <summary>Loads a masks file (or any ROI file, docs/imaging.md; weights are ignored). Errors are
    /// <see cref="SettingException"/>s naming the file and entry.</summary>
    public static MaskSet Load(string path) => RoiSet.ReadFile<MaskSet>(path, Load);

    /// <summary>Loads a masks file from <paramref name="stream"/>; <paramref name="sourceName"/> names it in errors.</summary>
    public static MaskSet Load(Stream stream, string sourceName) =>
        RoiSet.ParseJson(stream, sourceName, (root, source) =>
        {
            var file = RoiSet.Parse(root, source);
            return new MaskSet(file.HeightPx, file.WidthPx, file.Rois.Select(r => r.PixelIndices), file.Rois.Select(r => r.Name).ToArray(), source);
        });

    /// <summary>The set as an <see cref="RoiSet"/> for trace extraction (needs at least one mask).</summary>
    public RoiSet ToRoiSet() => new(WidthPx, HeightPx, _masks.Select((m, i) => new RoiDefinition(_names[i], m)));

    /// <summary>Writes the set to <paramref name="path"/> in the masks layout (readable by <see cref="RoiSet.Load(string)"/>).</summary>
    public void Save(string path, string? source = null)
    {
        using var stream = File.Create(path);
        Save(stream, source);
    }

    /// <summary>Writes the set in the masks layout, one mask per line, with its names and an optional source note.</summary>
    public void Save(Stream stream, string? source = null)
    {
        using var w = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true);
        var inv = CultureInfo.InvariantCulture;
        w.Write('{');
        if (source is not null) w.Write($"\n  \"source\": \"{JsonEncodedText.Encode(source).Value}\",");
        w.Write($"\n  \"height\": {HeightPx.ToString(inv)},\n  \"width\": {WidthPx.ToString(inv)},\n  \"pixel_index\": \"row*width+col\",\n  \"names\": [");
        for (int i = 0; i < _names.Length; i++) w.Write((i == 0 ? "" : ", ") + "\"" + JsonEncodedText.Encode(_names[i]).Value + "\"");
        w.Write("],\n  \"masks\": [");
        for (int i = 0; i < _masks.Length; i++)
        {
            w.Write(i == 0 ? "\n    [" : ",\n    [");
            var m = _masks[i];
            for (int j = 0; j < m.Length; j++)
            {
                if (j > 0) w.Write(", ");
                w.Write(m[j].ToString(inv));
            }
            w.Write(']');
        }
        w.Write(_masks.Length == 0 ? "]\n}\n" : "\n  ]\n}\n");
    }
}
