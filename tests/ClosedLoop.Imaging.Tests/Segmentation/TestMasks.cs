using ClosedLoop.Imaging.Segmentation;

namespace ClosedLoop.Imaging.Tests.Segmentation;

/// <summary>Masks to build test maps from: the human-labelled YST masks in ../shared/data/masks when present, otherwise
/// small generated ellipses on the same 88 × 120 frame (so every test still runs in a clone without ../shared).</summary>
internal static class TestMasks
{
    public static string? RepoRoot { get; } = FindRepoRoot();

    public static string MasksFolder => Path.GetFullPath(Path.Combine(RepoRoot ?? AppContext.BaseDirectory, "..", "shared", "data", "masks"));

    public static string YstPath(string part = "11") => Path.Combine(MasksFolder, $"FinalMasks_YST_part{part}.json");

    /// <summary>The YST masks of <paramref name="part"/>, or generated ones when ../shared is absent.</summary>
    public static MaskSet YstOrGenerated(string part = "11") =>
        File.Exists(YstPath(part)) ? MaskSet.Load(YstPath(part)) : Generated(88, 120, 60, seed: part.GetHashCode());

    /// <summary>Random non-touching ellipses (radii 4–6 px) on a <paramref name="heightPx"/> × <paramref name="widthPx"/> frame.</summary>
    public static MaskSet Generated(int heightPx, int widthPx, int count, int seed)
    {
        var rng = new Random(seed);
        var taken = new bool[heightPx * widthPx];
        var masks = new List<int[]>();
        for (int attempt = 0; attempt < count * 50 && masks.Count < count; attempt++)
        {
            double ry = 4 + 2 * rng.NextDouble(), rx = 4 + 2 * rng.NextDouble();
            int cy = rng.Next(7, heightPx - 7), cx = rng.Next(7, widthPx - 7);
            var px = new List<int>();
            bool free = true;
            for (int r = cy - 7; r <= cy + 7 && free; r++)
                for (int c = cx - 7; c <= cx + 7; c++)
                {
                    double d = (r - cy) * (r - cy) / (ry * ry) + (c - cx) * (c - cx) / (rx * rx);
                    if (d > 1) continue;
                    px.Add(r * widthPx + c);
                    if (taken[r * widthPx + c]) { free = false; break; }
                }
            if (!free) continue;
            foreach (int p in px) taken[p] = true;
            masks.Add(px.ToArray());
        }
        return new MaskSet(heightPx, widthPx, masks);
    }

    /// <summary>Pixel sets of the 8-connected components of <c>map ≥ threshold</c> by breadth-first flood fill: an
    /// independent reference for the union-find labelling.</summary>
    public static List<int[]> FloodFillComponents(float[] map, int heightPx, int widthPx, float threshold)
    {
        var seen = new bool[map.Length];
        var result = new List<int[]>();
        var queue = new Queue<int>();
        for (int start = 0; start < map.Length; start++)
        {
            if (seen[start] || !(map[start] >= threshold)) continue;
            var comp = new List<int>();
            seen[start] = true;
            queue.Enqueue(start);
            while (queue.Count > 0)
            {
                int p = queue.Dequeue();
                comp.Add(p);
                int r = p / widthPx, c = p % widthPx;
                for (int dr = -1; dr <= 1; dr++)
                    for (int dc = -1; dc <= 1; dc++)
                    {
                        int rr = r + dr, cc = c + dc;
                        if (rr < 0 || rr >= heightPx || cc < 0 || cc >= widthPx) continue;
                        int q = rr * widthPx + cc;
                        if (seen[q] || !(map[q] >= threshold)) continue;
                        seen[q] = true;
                        queue.Enqueue(q);
                    }
            }
            comp.Sort();
            result.Add(comp.ToArray());
        }
        return result;
    }

    /// <summary>IoU of two pixel lists by hash sets (independent of the library's sorted walks).</summary>
    public static double Iou(int[] a, int[] b)
    {
        var sa = new HashSet<int>(a);
        int inter = b.Count(sa.Contains);
        return (double)inter / (a.Length + b.Length - inter);
    }

    private static string? FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "ClosedLoop.sln"))) return dir.FullName;
        return null;
    }
}

/// <summary>A fact that needs the real YST masks in ../shared/data/masks: skipped, saying so, when they are absent.</summary>
internal sealed class YstMasksFactAttribute : FactAttribute
{
    public YstMasksFactAttribute()
    {
        if (!File.Exists(TestMasks.YstPath("11")))
            Skip = $"../shared/data/masks not present: {TestMasks.YstPath("11")} does not exist (the YST masks live next to the repository, not in it)";
    }
}
