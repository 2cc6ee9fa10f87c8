using ClosedLoop.Core;

namespace ClosedLoop.Imaging.Segmentation;

/// <summary>One ground-truth mask matched to one found mask.</summary>
/// <param name="TruthIndex">Index in the ground-truth set.</param>
/// <param name="FoundIndex">Index in the found set.</param>
/// <param name="Iou">Intersection over union of the two masks.</param>
public readonly record struct MaskMatch(int TruthIndex, int FoundIndex, double Iou);

/// <summary>
/// Segmentation accuracy as SUNS and Neurofinder report it: ground-truth and found masks are matched one to one, a pair
/// only when its intersection over union reaches <see cref="IouThreshold"/>; precision = matches / found, recall =
/// matches / truth, F1 = their harmonic mean. The matching maximises first the number of matches, then their summed IoU
/// (Hungarian algorithm on 1 − IoU over the pairs above the threshold, solved per connected group of candidate pairs).
/// At the usual threshold 0.5 a truth mask has at most one partner unless found masks overlap each other, and the result
/// equals a greedy match by descending IoU.
/// </summary>
public sealed class SegmentationScore
{
    private SegmentationScore(int truthCount, int foundCount, double iouThreshold, IReadOnlyList<MaskMatch> matches)
    {
        TruthCount = truthCount;
        FoundCount = foundCount;
        IouThreshold = iouThreshold;
        Matches = matches;
    }

    /// <summary>Ground-truth masks.</summary>
    public int TruthCount { get; }

    /// <summary>Found masks.</summary>
    public int FoundCount { get; }

    /// <summary>Least IoU for a match.</summary>
    public double IouThreshold { get; }

    /// <summary>The one-to-one matches, ordered by truth index.</summary>
    public IReadOnlyList<MaskMatch> Matches { get; }

    /// <summary>Matches / found masks (1 when nothing was found and there was nothing to find, 0 when nothing was found).</summary>
    public double Precision => FoundCount == 0 ? (TruthCount == 0 ? 1 : 0) : (double)Matches.Count / FoundCount;

    /// <summary>Matches / ground-truth masks (1 when there was nothing to find).</summary>
    public double Recall => TruthCount == 0 ? 1 : (double)Matches.Count / TruthCount;

    /// <summary>Harmonic mean of precision and recall (0 when both are 0).</summary>
    public double F1 => Precision + Recall == 0 ? 0 : 2 * Precision * Recall / (Precision + Recall);

    /// <summary>Mean IoU of the matched pairs (NaN when there is none).</summary>
    public double MeanMatchedIou => Matches.Count == 0 ? double.NaN : Matches.Average(m => m.Iou);

    /// <summary>Scores <paramref name="found"/> against <paramref name="truth"/>; masks of another frame size are a
    /// <see cref="SettingException"/> naming both sizes.</summary>
    public static SegmentationScore Compute(MaskSet truth, MaskSet found, double iouThreshold = 0.5)
    {
        truth.CheckSameFrame(found);
        return Compute(truth.Masks, found.Masks, truth.HeightPx * truth.WidthPx, iouThreshold);
    }

    /// <summary>Scores masks given as pixel-index lists (each index in [0, <paramref name="pixelCount"/>), each listed once).</summary>
    public static SegmentationScore Compute(IReadOnlyList<int[]> truth, IReadOnlyList<int[]> found, int pixelCount, double iouThreshold = 0.5)
    {
        if (!(iouThreshold > 0 && iouThreshold <= 1)) throw new SettingException("iou", iouThreshold, "greater than 0 and at most 1");
        var pairs = Intersections(truth, found, pixelCount);

        // Candidate pairs above the threshold, grouped into connected components of the bipartite graph.
        var candidates = new List<MaskMatch>();
        foreach (var ((t, f), inter) in pairs)
        {
            double iou = (double)inter / (truth[t].Length + found[f].Length - inter);
            if (iou >= iouThreshold) candidates.Add(new MaskMatch(t, f, iou));
        }
        int nt = truth.Count;
        var parent = Enumerable.Range(0, nt + found.Count).ToArray();
        int Find(int x) { while (parent[x] != x) x = parent[x] = parent[parent[x]]; return x; }
        foreach (var c in candidates) parent[Find(c.TruthIndex)] = Find(nt + c.FoundIndex);

        var matches = new List<MaskMatch>();
        foreach (var component in candidates.GroupBy(c => Find(c.TruthIndex)))
        {
            var edges = component.ToList();
            if (edges.Count == 1) { matches.Add(edges[0]); continue; }
            var ts = edges.Select(e => e.TruthIndex).Distinct().ToList();
            var fs = edges.Select(e => e.FoundIndex).Distinct().ToList();
            int size = Math.Max(ts.Count, fs.Count);
            // Cost: 1 − IoU for a candidate pair; a larger cost than any set of candidates for a non-pair, so that the
            // assignment first maximises the number of matches.
            double none = size + 1;
            var cost = new double[size, size];
            for (int i = 0; i < size; i++) for (int j = 0; j < size; j++) cost[i, j] = none;
            var byPair = new Dictionary<(int, int), MaskMatch>();
            foreach (var e in edges)
            {
                int i = ts.IndexOf(e.TruthIndex), j = fs.IndexOf(e.FoundIndex);
                cost[i, j] = 1 - e.Iou;
                byPair[(i, j)] = e;
            }
            var assign = Hungarian(cost);
            for (int i = 0; i < size; i++)
                if (byPair.TryGetValue((i, assign[i]), out var m)) matches.Add(m);
        }
        matches.Sort((a, b) => a.TruthIndex.CompareTo(b.TruthIndex));
        return new SegmentationScore(truth.Count, found.Count, iouThreshold, matches);
    }

    /// <summary>Intersection sizes of every overlapping (truth, found) pair, computed sparsely through a pixel → truth-mask index.</summary>
    private static Dictionary<(int Truth, int Found), int> Intersections(IReadOnlyList<int[]> truth, IReadOnlyList<int[]> found, int pixelCount)
    {
        // Compressed rows: for each pixel, the truth masks that contain it (truth masks may overlap each other).
        var start = new int[pixelCount + 1];
        for (int t = 0; t < truth.Count; t++)
            foreach (int p in truth[t]) start[CheckPixel(p, pixelCount, "truth", t) + 1]++;
        for (int p = 0; p < pixelCount; p++) start[p + 1] += start[p];
        var owners = new int[start[pixelCount]];
        var fill = (int[])start.Clone();
        for (int t = 0; t < truth.Count; t++)
            foreach (int p in truth[t]) owners[fill[p]++] = t;

        var inter = new Dictionary<(int, int), int>();
        for (int f = 0; f < found.Count; f++)
            foreach (int p in found[f])
            {
                CheckPixel(p, pixelCount, "found", f);
                for (int k = start[p]; k < start[p + 1]; k++)
                {
                    var key = (owners[k], f);
                    inter[key] = inter.GetValueOrDefault(key) + 1;
                }
            }
        return inter;
    }

    private static int CheckPixel(int p, int pixelCount, string set, int index) =>
        (uint)p < (uint)pixelCount ? p : throw new SettingException($"{set} masks[{index}]", p, $"pixel indices between 0 and {pixelCount - 1}");

    /// <summary>Minimum-cost assignment of rows to columns of a square matrix (Kuhn–Munkres with potentials, O(n³));
    /// returns the column of each row.</summary>
    internal static int[] Hungarian(double[,] cost)
    {
        int n = cost.GetLength(0);
        var u = new double[n + 1];
        var v = new double[n + 1];
        var p = new int[n + 1];   // p[j]: row assigned to column j (1-based; 0 = none)
        var way = new int[n + 1];
        for (int i = 1; i <= n; i++)
        {
            p[0] = i;
            int j0 = 0;
            var minv = new double[n + 1];
            var used = new bool[n + 1];
            Array.Fill(minv, double.PositiveInfinity);
            do
            {
                used[j0] = true;
                int i0 = p[j0], j1 = 0;
                double delta = double.PositiveInfinity;
                for (int j = 1; j <= n; j++)
                {
                    if (used[j]) continue;
                    double cur = cost[i0 - 1, j - 1] - u[i0] - v[j];
                    if (cur < minv[j]) { minv[j] = cur; way[j] = j0; }
                    if (minv[j] < delta) { delta = minv[j]; j1 = j; }
                }
                for (int j = 0; j <= n; j++)
                {
                    if (used[j]) { u[p[j]] += delta; v[j] -= delta; }
                    else minv[j] -= delta;
                }
                j0 = j1;
            } while (p[j0] != 0);
            do
            {
                int j1 = way[j0];
                p[j0] = p[j1];
                j0 = j1;
            } while (j0 != 0);
        }
        var rowToCol = new int[n];
        for (int j = 1; j <= n; j++) if (p[j] > 0) rowToCol[p[j] - 1] = j - 1;
        return rowToCol;
    }
}
