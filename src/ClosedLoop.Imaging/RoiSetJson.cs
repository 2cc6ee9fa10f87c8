using System.Globalization;
using System.Text;
using System.Text.Json;
using ClosedLoop.Core;

namespace ClosedLoop.Imaging;

public sealed partial class RoiSet
{
    private const string PixelOrder = "row*width+col";

    /// <summary>Loads an ROI set from a JSON file in either layout (masks or rois; see docs/imaging.md).
    /// Every error is a <see cref="SettingException"/> naming the file and the field.</summary>
    public static RoiSet Load(string path) => ReadFile<RoiSet>(path, Load);

    /// <summary>Opens <paramref name="path"/> and hands the stream to <paramref name="load"/>; an unreadable file is a
    /// <see cref="SettingException"/> naming it. Shared with the segmentation's mask files.</summary>
    internal static T ReadFile<T>(string path, Func<Stream, string, T> load)
    {
        FileStream stream;
        try
        {
            stream = File.OpenRead(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SettingException("roi file", path, $"a readable file ({ex.Message})");
        }
        using (stream) return load(stream, path);
    }

    /// <summary>Loads an ROI set from JSON read from <paramref name="stream"/>; <paramref name="sourceName"/> names it in errors.</summary>
    public static RoiSet Load(Stream stream, string sourceName) =>
        ParseJson(stream, sourceName, (root, source) =>
        {
            var file = Parse(root, source);
            return new RoiSet(file.WidthPx, file.HeightPx, file.Rois, source, file.Layout);
        });

    /// <summary>Parses JSON from <paramref name="stream"/> and builds the result from its root with <paramref name="build"/>;
    /// malformed JSON is a <see cref="SettingException"/> naming the line.</summary>
    internal static T ParseJson<T>(Stream stream, string sourceName, Func<JsonElement, string, T> build)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException ex)
        {
            long line = (ex.LineNumber ?? 0) + 1;
            long col = (ex.BytePositionInLine ?? 0) + 1;
            throw new SettingException("json", $"malformed at line {line}, byte {col}", "well-formed JSON", $"{sourceName}, line {line}");
        }
        using (doc) return build(doc.RootElement, sourceName);
    }

    /// <summary>An ROI file read but not yet checked against its frame (that is the constructor's job); may hold no ROI.</summary>
    internal sealed record ParsedFile(int HeightPx, int WidthPx, List<RoiDefinition> Rois, RoiLayout Layout);

    /// <summary>Reads height, width and the ROIs (masks or rois layout) from a parsed file.</summary>
    internal static ParsedFile Parse(JsonElement root, string source)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new SettingException("(top level)", root.ValueKind.ToString(), "a JSON object with height, width and masks or rois", source);
        int height = ReadSide(root, "height", source);
        int width = ReadSide(root, "width", source);
        if (root.TryGetProperty("pixel_index", out var order) &&
            (order.ValueKind != JsonValueKind.String || order.GetString()!.Replace(" ", "") != PixelOrder))
            throw new SettingException("pixel_index", order.ToString(), $"'{PixelOrder}' (row-major pixel indices)", source);

        bool hasMasks = root.TryGetProperty("masks", out var masks);
        bool hasRois = root.TryGetProperty("rois", out var rois);
        if (hasMasks == hasRois)
            throw new SettingException(hasMasks ? "masks and rois" : "masks or rois", null, "exactly one of the two lists", source);

        var defs = new List<RoiDefinition>();
        if (hasMasks)
        {
            if (masks.ValueKind != JsonValueKind.Array) throw new SettingException("masks", masks.ValueKind.ToString(), "a list of pixel-index lists", source);
            string[]? names = null;
            if (root.TryGetProperty("names", out var namesEl))
            {
                if (namesEl.ValueKind != JsonValueKind.Array || namesEl.GetArrayLength() != masks.GetArrayLength())
                    throw new SettingException("names", namesEl.ValueKind == JsonValueKind.Array ? namesEl.GetArrayLength() : namesEl.ValueKind.ToString(),
                        $"a list of exactly {masks.GetArrayLength()} names, one per mask", source);
                names = new string[namesEl.GetArrayLength()];
                int k = 0;
                foreach (var n in namesEl.EnumerateArray())
                {
                    if (n.ValueKind != JsonValueKind.String) throw new SettingException($"names[{k}]", n.ToString(), "a string", source);
                    names[k++] = n.GetString()!;
                }
            }
            int i = 0;
            foreach (var m in masks.EnumerateArray())
            {
                string name = names?[i] ?? DefaultName(i);
                defs.Add(new RoiDefinition(name, ReadPixels(m, $"masks[{i}]", source)));
                i++;
            }
            return new ParsedFile(height, width, defs, RoiLayout.Masks);
        }

        if (rois.ValueKind != JsonValueKind.Array) throw new SettingException("rois", rois.ValueKind.ToString(), "a list of ROI objects", source);
        int r = 0;
        foreach (var roi in rois.EnumerateArray())
        {
            string at = $"rois[{r}]";
            if (roi.ValueKind != JsonValueKind.Object) throw new SettingException(at, roi.ValueKind.ToString(), "an object with name and pixels", source);
            string name = DefaultName(r);
            if (roi.TryGetProperty("name", out var nameEl))
            {
                if (nameEl.ValueKind != JsonValueKind.String) throw new SettingException($"{at}.name", nameEl.ToString(), "a string", source);
                name = nameEl.GetString()!;
            }
            if (!roi.TryGetProperty("pixels", out var pixEl)) throw new SettingException($"{at}.pixels", null, "a list of pixel indices", source);
            int[] pixels = ReadPixels(pixEl, $"{at}.pixels", source);
            float[]? weights = null;
            if (roi.TryGetProperty("weights", out var wEl) && wEl.ValueKind != JsonValueKind.Null)
                weights = ReadWeights(wEl, $"{at}.weights", source);
            defs.Add(new RoiDefinition(name, pixels, weights));
            r++;
        }
        return new ParsedFile(height, width, defs, RoiLayout.Rois);
    }

    /// <summary>Default name of the ROI at <paramref name="index"/> when the file gives none: roi000, roi001, ...</summary>
    public static string DefaultName(int index) => "roi" + index.ToString("D3", CultureInfo.InvariantCulture);

    private static int ReadSide(JsonElement root, string field, string source)
    {
        if (!root.TryGetProperty(field, out var el)) throw new SettingException(field, null, $"an integer between 1 and {MaxSidePx} (pixels)", source);
        if (!TryGetInteger(el, out long v) || v < 1 || v > MaxSidePx)
            throw new SettingException(field, el.ToString(), $"an integer between 1 and {MaxSidePx} (pixels)", source);
        return (int)v;
    }

    private static int[] ReadPixels(JsonElement el, string field, string source)
    {
        if (el.ValueKind != JsonValueKind.Array) throw new SettingException(field, el.ValueKind.ToString(), "a list of pixel indices", source);
        var pixels = new int[el.GetArrayLength()];
        int j = 0;
        foreach (var p in el.EnumerateArray())
        {
            if (!TryGetInteger(p, out long v) || v < int.MinValue || v > int.MaxValue)
                throw new SettingException($"{field}[{j}]", p.ToString(), "an integer pixel index (row * width + col)", source);
            pixels[j++] = (int)v;
        }
        return pixels;
    }

    private static float[] ReadWeights(JsonElement el, string field, string source)
    {
        if (el.ValueKind != JsonValueKind.Array) throw new SettingException(field, el.ValueKind.ToString(), "a list of weights", source);
        var weights = new float[el.GetArrayLength()];
        int j = 0;
        foreach (var w in el.EnumerateArray())
        {
            if (w.ValueKind != JsonValueKind.Number || !w.TryGetDouble(out double v))
                throw new SettingException($"{field}[{j}]", w.ToString(), "a number ≥ 0", source);
            weights[j++] = (float)v;
        }
        return weights;
    }

    private static bool TryGetInteger(JsonElement el, out long value)
    {
        value = 0;
        if (el.ValueKind != JsonValueKind.Number) return false;
        if (el.TryGetInt64(out value)) return true;
        // Files converted from MATLAB sometimes write integers as 12.0.
        if (el.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) < 1e15) { value = (long)d; return true; }
        return false;
    }

    /// <summary>Writes the set to <paramref name="path"/> in the rois layout (names, pixels, and weights for weighted ROIs).</summary>
    public void Save(string path)
    {
        using var stream = File.Create(path);
        Save(stream);
    }

    /// <summary>Writes the set to <paramref name="stream"/> in the rois layout, one ROI per line.</summary>
    public void Save(Stream stream)
    {
        using var w = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true);
        var inv = CultureInfo.InvariantCulture;
        w.Write("{\n  \"height\": ");
        w.Write(HeightPx.ToString(inv));
        w.Write(",\n  \"width\": ");
        w.Write(WidthPx.ToString(inv));
        w.Write(",\n  \"pixel_index\": \"" + PixelOrder + "\",\n  \"rois\": [");
        for (int i = 0; i < Count; i++)
        {
            var roi = _rois[i];
            w.Write(i == 0 ? "\n    " : ",\n    ");
            w.Write("{\"name\": ");
            w.Write('"');
            w.Write(JsonEncodedText.Encode(roi.Name).Value);
            w.Write('"');
            w.Write(", \"pixels\": [");
            var px = roi.PixelIndices;
            for (int j = 0; j < px.Length; j++)
            {
                if (j > 0) w.Write(", ");
                w.Write(px[j].ToString(inv));
            }
            w.Write(']');
            if (roi.IsWeighted)
            {
                w.Write(", \"weights\": [");
                var wt = roi.Weights;
                for (int j = 0; j < wt.Length; j++)
                {
                    if (j > 0) w.Write(", ");
                    w.Write(wt[j].ToString("R", inv));
                }
                w.Write(']');
            }
            w.Write('}');
        }
        w.Write("\n  ]\n}\n");
    }
}
