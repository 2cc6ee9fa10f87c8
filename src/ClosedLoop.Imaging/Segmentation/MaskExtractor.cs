using System.Runtime.Intrinsics;
using ClosedLoop.Core;

namespace ClosedLoop.Imaging.Segmentation;

/// <summary>
/// Candidate masks from one probability map: pixels at or above <see cref="SegmentationSettings.ProbabilityThreshold"/>,
/// grouped into 8-connected components (pixels touching by an edge or a corner belong together), kept when their area
/// lies within [<see cref="SegmentationSettings.MinAreaPx"/>, <see cref="SegmentationSettings.MaxAreaPx"/>].
/// All buffers are allocated once; <see cref="Extract"/> allocates nothing. Not thread-safe: one instance per thread.
/// </summary>
public sealed class MaskExtractor
{
    private readonly float _threshold;
    private readonly int _minArea, _maxArea;
    private readonly int[] _labels;     // provisional label per pixel (0 = background), then the compact label
    private readonly int[] _foreground; // foreground pixel indices in raster order
    private readonly int[] _parent;     // union-find over provisional labels
    private readonly int[] _compact;    // root label → component index
    private readonly int[] _area;       // per component
    private readonly int[] _kept;       // component → kept index or -1
    private readonly int[] _offsets;    // kept index → start in _pixels (Count + 1 entries)
    private readonly int[] _cursor;
    private readonly int[] _pixels;
    private readonly double[] _sumRow, _sumCol;

    /// <summary>Creates an extractor for maps of <paramref name="heightPx"/> × <paramref name="widthPx"/> pixels.</summary>
    public MaskExtractor(int heightPx, int widthPx, SegmentationSettings settings)
    {
        HeightPx = Check.InRange("heightPx", heightPx, 1, RoiSet.MaxSidePx);
        WidthPx = Check.InRange("widthPx", widthPx, 1, RoiSet.MaxSidePx);
        settings.Validate();
        Settings = settings;
        _threshold = (float)settings.ProbabilityThreshold;
        _minArea = settings.MinAreaPx;
        _maxArea = settings.MaxAreaPx;
        int n = heightPx * widthPx;
        _labels = new int[n];
        _foreground = new int[n];
        _parent = new int[n + 1];
        _compact = new int[n + 1];
        _area = new int[n + 1];
        _kept = new int[n + 1];
        _offsets = new int[n + 2];
        _cursor = new int[n + 1];
        _pixels = new int[n];
        _sumRow = new double[n + 1];
        _sumCol = new double[n + 1];
    }

    /// <summary>Map height in pixels.</summary>
    public int HeightPx { get; }

    /// <summary>Map width in pixels.</summary>
    public int WidthPx { get; }

    /// <summary>The settings in use.</summary>
    public SegmentationSettings Settings { get; }

    /// <summary>Masks kept by the last <see cref="Extract"/>.</summary>
    public int Count { get; private set; }

    /// <summary>Connected components of the last <see cref="Extract"/> dropped for their area.</summary>
    public int RejectedCount { get; private set; }

    /// <summary>Pixels (row * width + col, ascending) of mask <paramref name="index"/>; valid until the next <see cref="Extract"/>.</summary>
    public ReadOnlySpan<int> GetPixels(int index) => _pixels.AsSpan(_offsets[CheckIndex(index)], _offsets[index + 1] - _offsets[index]);

    /// <summary>Area of mask <paramref name="index"/>, in pixels.</summary>
    public int GetAreaPx(int index) => _offsets[CheckIndex(index) + 1] - _offsets[index];

    /// <summary>Centroid row of mask <paramref name="index"/>, in pixels.</summary>
    public double GetCentroidRowPx(int index) => _sumRow[CheckIndex(index)] / GetAreaPx(index);

    /// <summary>Centroid column of mask <paramref name="index"/>, in pixels.</summary>
    public double GetCentroidColPx(int index) => _sumCol[CheckIndex(index)] / GetAreaPx(index);

    /// <summary>Thresholds <paramref name="probability"/> (HeightPx × WidthPx, row-major), labels its 8-connected components and
    /// keeps those within the area limits; returns how many were kept. Allocates nothing.</summary>
    public int Extract(ReadOnlySpan<float> probability)
    {
        int w = WidthPx, h = HeightPx, n = w * h;
        if (probability.Length < n)
            throw new ArgumentException($"A {w}×{h} map needs {n} values; got {probability.Length}.", nameof(probability));
        var labels = _labels.AsSpan(0, n);
        labels.Clear();
        var parent = _parent;
        int next = 1, fgCount = 0;
        var thr = Vector256.Create(_threshold);

        // Pass 1: provisional labels with a decision tree over the already-visited neighbours (left, up-left, up, up-right).
        for (int r = 0; r < h; r++)
        {
            int rowStart = r * w;
            var row = probability.Slice(rowStart, w);
            int c = 0;
            while (c < w)
            {
                if (c + Vector256<float>.Count <= w &&
                    !Vector256.GreaterThanOrEqualAny(Vector256.Create(row.Slice(c, Vector256<float>.Count)), thr))
                {
                    c += Vector256<float>.Count; // a block of background: labels already zero
                    continue;
                }
                int end = Math.Min(w, c + Vector256<float>.Count);
                for (; c < end; c++)
                {
                    if (!(row[c] >= _threshold)) continue;
                    int i = rowStart + c;
                    int label;
                    int up = r > 0 ? labels[i - w] : 0;
                    if (up != 0) label = up; // up touches left, up-left and up-right: already one component
                    else
                    {
                        int a = c > 0 ? labels[i - 1] : 0;
                        if (a == 0 && r > 0 && c > 0) a = labels[i - w - 1];
                        int b = r > 0 && c + 1 < w ? labels[i - w + 1] : 0;
                        if (a != 0)
                        {
                            label = a;
                            if (b != 0) Union(parent, a, b);
                        }
                        else if (b != 0) label = b;
                        else
                        {
                            label = next;
                            parent[next] = next;
                            next++;
                        }
                    }
                    labels[i] = label;
                    _foreground[fgCount++] = i;
                }
            }
        }

        // Resolve: parents are always smaller labels, so one ascending pass flattens every chain to its root.
        int components = 0;
        for (int l = 1; l < next; l++)
        {
            int p = parent[l];
            if (p == l) { _compact[l] = components; _area[components] = 0; _sumRow[components] = 0; _sumCol[components] = 0; components++; }
            else parent[l] = parent[p];
        }
        var fg = _foreground.AsSpan(0, fgCount);
        foreach (int i in fg)
        {
            int k = _compact[parent[labels[i]]];
            labels[i] = k;
            _area[k]++;
        }

        int kept = 0, total = 0;
        for (int k = 0; k < components; k++)
        {
            int a = _area[k];
            if (a < _minArea || a > _maxArea) { _kept[k] = -1; continue; }
            _kept[k] = kept;
            _offsets[kept] = total;
            _cursor[kept] = total;
            _sumRow[kept] = 0;
            _sumCol[kept] = 0;
            total += a;
            kept++;
        }
        _offsets[kept] = total;
        foreach (int i in fg)
        {
            int k = _kept[labels[i]];
            if (k < 0) continue;
            _pixels[_cursor[k]++] = i; // raster order: ascending within each mask
            int r = i / w;
            _sumRow[k] += r;
            _sumCol[k] += i - r * w;
        }
        Count = kept;
        RejectedCount = components - kept;
        return kept;
    }

    private static void Union(int[] parent, int a, int b)
    {
        a = Find(parent, a);
        b = Find(parent, b);
        if (a == b) return;
        if (a < b) parent[b] = a; else parent[a] = b;
    }

    private static int Find(int[] parent, int x)
    {
        while (parent[x] != x)
        {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        return x;
    }

    private int CheckIndex(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"between 0 and {Count - 1}");
        return index;
    }
}
