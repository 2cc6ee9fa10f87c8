using System.Globalization;
using ClosedLoop.Core;

namespace ClosedLoop.Imaging;

/// <summary>One ROI as given by code (a segmentation result) before it joins a <see cref="RoiSet"/>.</summary>
/// <param name="Name">Unique name within the set.</param>
/// <param name="PixelIndices">Pixel indices (row * width + col), each at most once.</param>
/// <param name="Weights">Optional non-negative weight per pixel (a spatial footprint); null = every pixel counts equally.</param>
public sealed record RoiDefinition(string Name, int[] PixelIndices, float[]? Weights = null);

/// <summary>
/// One region of interest of a <see cref="RoiSet"/>: a view on the set's flattened storage, so reading it copies nothing.
/// </summary>
public sealed class Roi
{
    private readonly RoiSet _set;
    private readonly int _start;

    internal Roi(RoiSet set, int index, string name, int start, int areaPx, bool isWeighted, float centroidXPx, float centroidYPx)
    {
        _set = set;
        Index = index;
        Name = name;
        _start = start;
        AreaPx = areaPx;
        IsWeighted = isWeighted;
        CentroidXPx = centroidXPx;
        CentroidYPx = centroidYPx;
    }

    /// <summary>Position in the set (and in the <see cref="PopulationActivity"/> arrays).</summary>
    public int Index { get; }

    /// <summary>Unique name within the set.</summary>
    public string Name { get; }

    /// <summary>Number of pixels.</summary>
    public int AreaPx { get; }

    /// <summary>True when the ROI came with per-pixel weights.</summary>
    public bool IsWeighted { get; }

    /// <summary>Centroid column (x), in pixels; weighted by the pixel weights when the ROI has them.</summary>
    public float CentroidXPx { get; }

    /// <summary>Centroid row (y), in pixels; weighted by the pixel weights when the ROI has them.</summary>
    public float CentroidYPx { get; }

    /// <summary>Pixel indices (row * width + col).</summary>
    public ReadOnlySpan<int> PixelIndices => _set.PixelIndices.Slice(_start, AreaPx);

    /// <summary>Weight per pixel, index-aligned with <see cref="PixelIndices"/> (all 1 when the ROI is unweighted).</summary>
    public ReadOnlySpan<float> Weights => _set.Weights.Slice(_start, AreaPx);

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({AreaPx} px at x={CentroidXPx:F1}, y={CentroidYPx:F1})";
}

/// <summary>
/// An immutable set of ROIs drawn on a frame of <see cref="WidthPx"/> × <see cref="HeightPx"/> pixels. Pixels are stored
/// flattened (compressed sparse rows: <see cref="Offsets"/>, <see cref="PixelIndices"/>, <see cref="Weights"/>) so trace
/// extraction walks one contiguous array. The slow loop hands a new set over as a whole; a set never changes.
/// Load one from JSON with <see cref="Load(string)"/> (see docs/imaging.md for the two accepted layouts).
/// </summary>
public sealed partial class RoiSet : IReadOnlyList<Roi>
{
    /// <summary>Largest frame side accepted, in pixels (same limit as the frame pool).</summary>
    public const int MaxSidePx = 8192;

    private readonly Roi[] _rois;
    private readonly string[] _names;
    private readonly Dictionary<string, int> _byName;
    private readonly int[] _offsets;
    private readonly int[] _pixels;
    private readonly float[] _weights;

    /// <summary>Builds a set from ROIs given by code. Throws <see cref="SettingException"/> naming the offending ROI and pixel
    /// (out of the frame, repeated, empty ROI, duplicate name, weights not matching pixels, negative or all-zero weights).</summary>
    public RoiSet(int widthPx, int heightPx, IEnumerable<RoiDefinition> rois)
        : this(widthPx, heightPx, rois.ToArray(), null, RoiLayout.Rois)
    {
    }

    internal RoiSet(int widthPx, int heightPx, IReadOnlyList<RoiDefinition> rois, string? source, RoiLayout layout)
    {
        WidthPx = ClosedLoop.Core.Check.InRange("widthPx", widthPx, 1, MaxSidePx);
        HeightPx = ClosedLoop.Core.Check.InRange("heightPx", heightPx, 1, MaxSidePx);
        SourceName = source;
        if (rois.Count == 0) throw new SettingException(layout == RoiLayout.Masks ? "masks" : "rois", 0, "at least one ROI", source);

        int total = 0;
        foreach (var r in rois) total += r.PixelIndices.Length;
        _offsets = new int[rois.Count + 1];
        _pixels = new int[total];
        _weights = new float[total];
        _rois = new Roi[rois.Count];
        _names = new string[rois.Count];
        _byName = new Dictionary<string, int>(rois.Count, StringComparer.Ordinal);

        int pixelCount = widthPx * heightPx;
        var seen = new HashSet<int>();
        int at = 0;
        for (int i = 0; i < rois.Count; i++)
        {
            var def = rois[i];
            string nameField = layout == RoiLayout.Masks ? $"names[{i}]" : $"rois[{i}].name";
            string name = def.Name;
            if (string.IsNullOrWhiteSpace(name)) throw new SettingException(nameField, name, "a non-empty name", source);
            if (_byName.TryGetValue(name, out int first))
                throw new SettingException(nameField, name, $"a name not already used (ROI {first} is called '{name}')", source);
            _byName.Add(name, i);
            _names[i] = name;

            int[] px = def.PixelIndices;
            if (px.Length == 0) throw new SettingException(PixelsField(layout, i), 0, "a non-empty list of pixel indices (an ROI with no pixels)", source);
            float[]? w = def.Weights;
            if (w is not null && w.Length != px.Length)
                throw new SettingException($"rois[{i}].weights", w.Length, $"a list of exactly {px.Length} weights, one per pixel", source);

            seen.Clear();
            double sumW = 0, sumX = 0, sumY = 0;
            _offsets[i] = at;
            for (int j = 0; j < px.Length; j++)
            {
                int p = px[j];
                if ((uint)p >= (uint)pixelCount)
                    throw new SettingException($"{PixelsField(layout, i)}[{j}]", p,
                        $"a pixel index between 0 and {pixelCount - 1} (inside the {widthPx}×{heightPx} field, index = row * width + col)", source);
                if (!seen.Add(p))
                    throw new SettingException($"{PixelsField(layout, i)}[{j}]", p, "a pixel not already listed in this ROI", source);
                float wj = 1f;
                if (w is not null)
                {
                    wj = w[j];
                    if (!(wj >= 0) || float.IsInfinity(wj))
                        throw new SettingException($"rois[{i}].weights[{j}]", wj, "a finite weight ≥ 0", source);
                }
                _pixels[at + j] = p;
                _weights[at + j] = wj;
                sumW += wj;
                sumX += wj * (p % widthPx);
                sumY += wj * (p / widthPx);
            }
            if (!(sumW > 0)) throw new SettingException($"rois[{i}].weights", "all zero", "weights with a positive sum", source);
            _rois[i] = new Roi(this, i, name, at, px.Length, w is not null, (float)(sumX / sumW), (float)(sumY / sumW));
            at += px.Length;
        }
        _offsets[rois.Count] = at;
    }

    internal enum RoiLayout { Rois, Masks }

    private static string PixelsField(RoiLayout layout, int i) => layout == RoiLayout.Masks ? $"masks[{i}]" : $"rois[{i}].pixels";

    /// <summary>Width of the frame the ROIs were drawn on, in pixels.</summary>
    public int WidthPx { get; }

    /// <summary>Height of the frame the ROIs were drawn on, in pixels.</summary>
    public int HeightPx { get; }

    /// <summary>File (or stream name) the set was loaded from; null when built by code.</summary>
    public string? SourceName { get; }

    /// <summary>Number of ROIs.</summary>
    public int Count => _rois.Length;

    /// <summary>Total pixels over all ROIs (a pixel shared by two ROIs counts twice).</summary>
    public int TotalPixels => _pixels.Length;

    /// <summary>ROI names, index-aligned with the ROIs.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>Start of each ROI in <see cref="PixelIndices"/>; ROI i spans [Offsets[i], Offsets[i + 1]). Length = Count + 1.</summary>
    public ReadOnlySpan<int> Offsets => _offsets;

    /// <summary>Pixel indices of all ROIs, one after the other.</summary>
    public ReadOnlySpan<int> PixelIndices => _pixels;

    /// <summary>Weights of all ROIs' pixels, aligned with <see cref="PixelIndices"/> (1 for unweighted ROIs).</summary>
    public ReadOnlySpan<float> Weights => _weights;

    /// <summary>The ROI at <paramref name="index"/>.</summary>
    public Roi this[int index] => _rois[index];

    /// <summary>The ROI called <paramref name="name"/>; throws <see cref="SettingException"/> when there is none.</summary>
    public Roi this[string name] => TryGetIndex(name, out int i) ? _rois[i] : throw NotFound(name);

    /// <summary>Finds an ROI by name.</summary>
    public bool TryGetIndex(string name, out int index) => _byName.TryGetValue(name, out index);

    /// <summary>Index of the ROI named <paramref name="nameOrIndex"/>, or, when no ROI has that name, the ROI at that decimal
    /// index (e.g. "7"). Throws <see cref="SettingException"/> when neither matches.</summary>
    public int IndexOf(string nameOrIndex)
    {
        if (_byName.TryGetValue(nameOrIndex, out int i)) return i;
        if (int.TryParse(nameOrIndex, NumberStyles.None, CultureInfo.InvariantCulture, out i) && i < Count) return i;
        throw NotFound(nameOrIndex);
    }

    /// <summary>Throws <see cref="SettingException"/> (naming both sizes) unless the set was drawn on a frame of this size.</summary>
    public void Check(int widthPx, int heightPx)
    {
        if (widthPx != WidthPx || heightPx != HeightPx)
            throw new SettingException("frame size", $"{widthPx}×{heightPx} px",
                $"the {WidthPx}×{HeightPx} px the ROI set{(SourceName is null ? "" : $" '{SourceName}'")} was drawn on");
    }

    /// <summary>Creates the activity buffers (one unit per ROI, named after the ROIs) that the imaging stages write into.</summary>
    public PopulationActivity CreateActivity() => new(Count, _names);

    /// <inheritdoc />
    public IEnumerator<Roi> GetEnumerator() => ((IEnumerable<Roi>)_rois).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    private SettingException NotFound(string nameOrIndex) =>
        new("roi", nameOrIndex, $"the name of one of the {Count} ROIs or an index between 0 and {Count - 1}", SourceName);
}
