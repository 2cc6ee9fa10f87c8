using ClosedLoop.Imaging.Segmentation;

namespace ClosedLoop.Imaging.Tests.Segmentation;

/// <summary>
/// Probability maps synthesised from known masks: each "active" neuron fires in one burst of consecutive frames (during
/// which the map is high on its mask, in some frames only on a shrunken core, as a network's maps are), neurons that touch
/// are never active together, some neurons flash in one frame only, and noise blobs appear at random places for one frame.
/// </summary>
internal sealed class SyntheticMovie
{
    public SyntheticMovie(MaskSet masks, int seed, int burstFrames = 6, double activeFraction = 0.8, int noiseBlobsPerFrame = 2)
    {
        Masks = masks;
        H = masks.HeightPx;
        W = masks.WidthPx;
        var rng = new Random(seed);
        int n = masks.Count;
        var neighbours = Neighbours(masks);

        // Schedule: neuron i gets a slot; neurons that touch never share one. Flashers (one frame) and silent neurons too.
        var slot = new int[n];
        Kind = new NeuronKind[n];
        var slotMembers = new List<List<int>>();
        for (int i = 0; i < n; i++)
        {
            double u = rng.NextDouble();
            Kind[i] = u < activeFraction ? NeuronKind.Active : u < activeFraction + (1 - activeFraction) / 2 ? NeuronKind.Flash : NeuronKind.Silent;
            // Labelled masks sometimes overlap by most of the smaller one (cells at two depths); post-processing merges
            // those by design, so such a neuron stays silent when its overlapping partner already fires.
            for (int j = 0; j < i && Kind[i] != NeuronKind.Silent; j++)
                if (Kind[j] != NeuronKind.Silent && OverlapOfSmaller(masks.Masks[i], masks.Masks[j]) >= 0.5) Kind[i] = NeuronKind.Silent;
            if (Kind[i] == NeuronKind.Silent) { slot[i] = -1; continue; }
            int s = 0;
            while (s < slotMembers.Count && slotMembers[s].Any(j => neighbours[i].Contains(j))) s++;
            if (s == slotMembers.Count) slotMembers.Add(new List<int>());
            slotMembers[s].Add(i);
            slot[i] = s;
        }
        int gap = 2;
        Frames = slotMembers.Count * (burstFrames + gap) + gap;
        Maps = new float[Frames * H * W];
        for (int f = 0; f < Frames; f++)
            for (int p = 0; p < H * W; p++) Maps[f * H * W + p] = (float)(0.15 * rng.NextDouble());

        var cores = masks.Masks.Select(m => Core(m, W)).ToArray();
        for (int i = 0; i < n; i++)
        {
            if (slot[i] < 0) continue;
            int start = gap + slot[i] * (burstFrames + gap);
            int length = Kind[i] == NeuronKind.Flash ? 1 : burstFrames;
            for (int f = start; f < start + length; f++)
            {
                // One frame in three shows only the core (a weak transient); the others the whole mask.
                var px = (f - start) % 3 == 2 && cores[i].Length >= 20 ? cores[i] : masks.Masks[i];
                foreach (int p in px) Maps[f * H * W + p] = 0.6f + 0.4f * (float)rng.NextDouble();
            }
        }

        // Noise: 5 × 5 blobs (25 px: passes the area filter), one frame each.
        for (int f = 0; f < Frames; f++)
            for (int b = 0; b < noiseBlobsPerFrame; b++)
            {
                int r0 = rng.Next(0, H - 5), c0 = rng.Next(0, W - 5);
                for (int r = r0; r < r0 + 5; r++)
                    for (int c = c0; c < c0 + 5; c++) Maps[f * H * W + r * W + c] = 0.9f;
            }
    }

    public enum NeuronKind { Active, Flash, Silent }

    public MaskSet Masks { get; }
    public int H { get; }
    public int W { get; }
    public int Frames { get; }
    public float[] Maps { get; }
    public NeuronKind[] Kind { get; }

    /// <summary>The masks that a correct post-processing must find: the neurons active over several frames.</summary>
    public MaskSet ActiveTruth => new(H, W, Masks.Masks.Where((_, i) => Kind[i] == NeuronKind.Active));

    private static double OverlapOfSmaller(int[] a, int[] b) => (double)a.Intersect(b).Count() / Math.Min(a.Length, b.Length);

    /// <summary>Mask pixels whose 4 neighbours are all in the mask (a one-pixel erosion).</summary>
    public static int[] Core(int[] mask, int w)
    {
        var set = new HashSet<int>(mask);
        return mask.Where(p => set.Contains(p - 1) && set.Contains(p + 1) && set.Contains(p - w) && set.Contains(p + w)).ToArray();
    }

    private static HashSet<int>[] Neighbours(MaskSet masks)
    {
        int w = masks.WidthPx, h = masks.HeightPx;
        var owner = new List<int>[w * h];
        for (int i = 0; i < masks.Count; i++)
            foreach (int p in masks.Masks[i])
            {
                int r = p / w, c = p % w;
                // Dilate by 2 px so that neighbours never even touch in a thresholded map.
                for (int dr = -2; dr <= 2; dr++)
                    for (int dc = -2; dc <= 2; dc++)
                    {
                        int rr = r + dr, cc = c + dc;
                        if (rr < 0 || rr >= h || cc < 0 || cc >= w) continue;
                        (owner[rr * w + cc] ??= new List<int>()).Add(i);
                    }
            }
        var result = Enumerable.Range(0, masks.Count).Select(_ => new HashSet<int>()).ToArray();
        foreach (var list in owner)
            if (list is not null)
                foreach (int a in list) foreach (int b in list) if (a != b) result[a].Add(b);
        return result;
    }
}
