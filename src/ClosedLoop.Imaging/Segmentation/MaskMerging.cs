using ClosedLoop.Core;

namespace ClosedLoop.Imaging.Segmentation;

/// <summary>A neuron mask merged from the candidate masks of many frames.</summary>
/// <param name="PixelIndices">Pixels (row * width + col, ascending) present in at least
/// <see cref="SegmentationSettings.MaskFraction"/> of the member masks, relative to the most frequent pixel.</param>
/// <param name="SeenInFrames">Frames in which a member mask was found.</param>
/// <param name="LongestRunFrames">Longest run of consecutive frames with a member mask (the temporal-consistency figure).</param>
/// <param name="FirstFrame">First frame with a member mask.</param>
/// <param name="LastFrame">Last frame with a member mask.</param>
public sealed record MergedMask(int[] PixelIndices, int SeenInFrames, int LongestRunFrames, long FirstFrame, long LastFrame)
{
    /// <summary>Area in pixels.</summary>
    public int AreaPx => PixelIndices.Length;
}

/// <summary>
/// Merges candidate masks across frames (docs/segmentation.md). Each candidate joins the group whose current mask it
/// matches best (intersection over union ≥ <see cref="SegmentationSettings.MergeIou"/>, or intersection over the smaller
/// area ≥ <see cref="SegmentationSettings.MergeConsume"/>, or overlapping with centroids within
/// <see cref="SegmentationSettings.MergeCentroidDistancePx"/>); otherwise it starts a group. A group counts, per pixel,
/// how many member masks contained it; its mask is the pixels counted at least <see cref="SegmentationSettings.MaskFraction"/>
/// × the highest count. <see cref="Consolidate"/> also merges groups that came to match each other and returns the groups
/// seen in at least <see cref="SegmentationSettings.MinConsecutiveFrames"/> consecutive frames (temporal consistency).
/// Groups whose run ended before reaching that length are dropped as they go (noise), so memory stays bounded on long
/// recordings. Not thread-safe; adding allocates only when a group outgrows its buffers or the pool of groups is empty.
/// </summary>
public sealed class MaskMerger
{
    private readonly SegmentationSettings _s;
    private readonly int[] _owner;            // last group written at each pixel (a hint for finding overlaps), -1 = none
    private readonly Dictionary<int, Group> _groups = new();
    private readonly Stack<Group> _pool = new();
    private readonly List<int> _near = new(16);
    private readonly List<int> _ids = new();
    private int[] _scratchPx = new int[256], _scratchCnt = new int[256];
    private int _nextId;
    private long _lastPruneFrame = -1000;

    /// <summary>Creates a merger for masks on a <paramref name="heightPx"/> × <paramref name="widthPx"/> frame.</summary>
    public MaskMerger(int heightPx, int widthPx, SegmentationSettings settings)
    {
        HeightPx = Check.InRange("heightPx", heightPx, 1, RoiSet.MaxSidePx);
        WidthPx = Check.InRange("widthPx", widthPx, 1, RoiSet.MaxSidePx);
        _s = settings.Validate().ForFilter(1);
        _owner = new int[heightPx * widthPx];
        Array.Fill(_owner, -1);
    }

    /// <summary>Frame height in pixels.</summary>
    public int HeightPx { get; }

    /// <summary>Frame width in pixels.</summary>
    public int WidthPx { get; }

    /// <summary>Groups currently held (consistent ones and those whose run may still grow).</summary>
    public int GroupCount => _groups.Count;

    /// <summary>Adds every mask the extractor kept for frame <paramref name="frame"/>. Frames must come in ascending order.</summary>
    public void AddFrame(long frame, MaskExtractor extractor)
    {
        for (int i = 0; i < extractor.Count; i++) AddMask(frame, extractor.GetPixels(i));
        PruneStale(frame);
    }

    /// <summary>Adds one candidate mask (ascending pixel indices, inside the frame) found in frame <paramref name="frame"/>.</summary>
    public void AddMask(long frame, ReadOnlySpan<int> pixels)
    {
        if (pixels.IsEmpty) return;
        int n = _owner.Length;
        _near.Clear();
        double cRow = 0, cCol = 0;
        int prev = -1;
        foreach (int p in pixels)
        {
            if ((uint)p >= (uint)n || p <= prev)
                throw new ArgumentException($"Mask pixels must be ascending indices between 0 and {n - 1}; got {p} after {prev}.", nameof(pixels));
            prev = p;
            int r = p / WidthPx;
            cRow += r;
            cCol += p - r * WidthPx;
            int o = _owner[p];
            if (o >= 0 && !_near.Contains(o)) _near.Add(o);
        }
        cRow /= pixels.Length;
        cCol /= pixels.Length;

        Group? best = null;
        double bestIou = -1;
        foreach (int id in _near)
        {
            if (!_groups.TryGetValue(id, out var g)) continue;
            int inter = g.IntersectRepresentative(pixels);
            if (!Same(inter, pixels.Length, g.RepArea, cRow, cCol, g.CentroidRow, g.CentroidCol)) continue;
            double iou = (double)inter / (pixels.Length + g.RepArea - inter);
            if (iou > bestIou) { bestIou = iou; best = g; }
        }
        if (best is null)
        {
            best = _pool.Count > 0 ? _pool.Pop() : new Group();
            best.Reset(_nextId++);
            _groups.Add(best.Id, best);
        }
        best.AddMask(pixels, ref _scratchPx, ref _scratchCnt, _s.MaskFraction, WidthPx);
        best.AddFrame(frame);
        foreach (int p in pixels) _owner[p] = best.Id;
    }

    /// <summary>Drops groups whose last run ended before <paramref name="frame"/> − 1 without reaching
    /// <see cref="SegmentationSettings.MinConsecutiveFrames"/> (they can no longer pass the consistency test).</summary>
    public void PruneStale(long frame)
    {
        if (frame - _lastPruneFrame < 8) return;
        _lastPruneFrame = frame;
        _ids.Clear();
        foreach (var (id, g) in _groups)
            if (g.LongestRun < _s.MinConsecutiveFrames && g.LastFrame < frame - 1) _ids.Add(id);
        foreach (int id in _ids)
        {
            _pool.Push(_groups[id]);
            _groups.Remove(id);
        }
    }

    /// <summary>Merges groups whose masks came to match each other, then returns the masks of the groups seen in at least
    /// <see cref="SegmentationSettings.MinConsecutiveFrames"/> consecutive frames and within the area limits, in order of
    /// first appearance. Adding may continue afterwards (the online mode calls this at every update).</summary>
    public IReadOnlyList<MergedMask> Consolidate()
    {
        bool merged = true;
        while (merged)
        {
            merged = false;
            _ids.Clear();
            _ids.AddRange(_groups.Keys);
            _ids.Sort();
            foreach (int id in _ids)
            {
                if (!_groups.TryGetValue(id, out var g)) continue;
                _near.Clear();
                for (int j = 0; j < g.N; j++)
                {
                    int o = _owner[g.Px[j]];
                    if (o >= 0 && o != id && !_near.Contains(o)) _near.Add(o);
                }
                foreach (int other in _near)
                {
                    if (!_groups.TryGetValue(other, out var h)) continue;
                    int inter = g.IntersectRepresentatives(h);
                    if (!Same(inter, g.RepArea, h.RepArea, g.CentroidRow, g.CentroidCol, h.CentroidRow, h.CentroidCol)) continue;
                    // The older group survives, so ids and output order follow first appearance.
                    var (keep, drop) = g.Id < h.Id ? (g, h) : (h, g);
                    keep.Absorb(drop, ref _scratchPx, ref _scratchCnt, _s.MaskFraction);
                    for (int j = 0; j < keep.N; j++) _owner[keep.Px[j]] = keep.Id;
                    _groups.Remove(drop.Id);
                    _pool.Push(drop);
                    merged = true;
                    if (drop == g) break;
                }
            }
        }

        var result = new List<MergedMask>();
        _ids.Clear();
        _ids.AddRange(_groups.Keys);
        _ids.Sort();
        foreach (int id in _ids)
        {
            var g = _groups[id];
            if (g.LongestRun < _s.MinConsecutiveFrames || g.RepArea < _s.MinAreaPx || g.RepArea > _s.MaxAreaPx) continue;
            result.Add(new MergedMask(g.Representative(), g.TotalFrames, g.LongestRun, g.FirstFrame, g.LastFrame));
        }
        return result;
    }

    /// <summary>Batch post-processing: extracts candidates from <paramref name="count"/> probability maps (row-major, one
    /// after the other), skipping the first <paramref name="skipFrames"/> (segmenter warm-up), and merges them.</summary>
    public static IReadOnlyList<MergedMask> FromProbabilityMaps(ReadOnlySpan<float> maps, int count, int heightPx, int widthPx,
        SegmentationSettings settings, int skipFrames = 0)
    {
        var extractor = new MaskExtractor(heightPx, widthPx, settings);
        var merger = new MaskMerger(heightPx, widthPx, settings);
        int n = heightPx * widthPx;
        if (maps.Length < (long)count * n) throw new ArgumentException($"{count} maps of {widthPx}×{heightPx} need {(long)count * n} values; got {maps.Length}.", nameof(maps));
        for (int f = skipFrames; f < count; f++)
        {
            extractor.Extract(maps.Slice(f * n, n));
            merger.AddFrame(f, extractor);
        }
        return merger.Consolidate();
    }

    /// <summary>The merge test shared by candidates, groups and the online tracker: IoU, consume, or close centroids.</summary>
    internal bool Same(int inter, int areaA, int areaB, double rowA, double colA, double rowB, double colB)
    {
        if (inter <= 0) return false;
        if ((double)inter / (areaA + areaB - inter) >= _s.MergeIou) return true;
        if ((double)inter / Math.Min(areaA, areaB) >= _s.MergeConsume) return true;
        double dr = rowA - rowB, dc = colA - colB;
        return _s.MergeCentroidDistancePx > 0 && dr * dr + dc * dc <= _s.MergeCentroidDistancePx * _s.MergeCentroidDistancePx;
    }

    private sealed class Group
    {
        public int Id;
        public int[] Px = new int[64];
        public int[] Cnt = new int[64];
        public int N;
        public int MaxCount, RepMin, RepArea;
        public double SumRow, SumCol, SumWeight;
        public readonly List<(long Start, long End)> Runs = new();
        public int LongestRun, TotalFrames;

        public double CentroidRow => SumRow / SumWeight;
        public double CentroidCol => SumCol / SumWeight;
        public long FirstFrame => Runs[0].Start;
        public long LastFrame => Runs[^1].End;

        public void Reset(int id)
        {
            Id = id;
            N = MaxCount = RepMin = RepArea = LongestRun = TotalFrames = 0;
            SumRow = SumCol = SumWeight = 0;
            Runs.Clear();
        }

        public void AddFrame(long frame)
        {
            if (Runs.Count > 0 && Runs[^1].End >= frame) return;
            if (Runs.Count > 0 && Runs[^1].End == frame - 1) Runs[^1] = (Runs[^1].Start, frame);
            else Runs.Add((frame, frame));
            TotalFrames++;
            LongestRun = Math.Max(LongestRun, (int)Math.Min(int.MaxValue, Runs[^1].End - Runs[^1].Start + 1));
        }

        /// <summary>Pixels of the current mask that are in <paramref name="pixels"/>.</summary>
        public int IntersectRepresentative(ReadOnlySpan<int> pixels)
        {
            int i = 0, j = 0, inter = 0;
            while (i < pixels.Length && j < N)
            {
                int a = pixels[i], b = Px[j];
                if (a < b) i++;
                else if (a > b) j++;
                else { if (Cnt[j] >= RepMin) inter++; i++; j++; }
            }
            return inter;
        }

        public int IntersectRepresentatives(Group other)
        {
            int i = 0, j = 0, inter = 0;
            while (i < N && j < other.N)
            {
                int a = Px[i], b = other.Px[j];
                if (a < b) i++;
                else if (a > b) j++;
                else { if (Cnt[i] >= RepMin && other.Cnt[j] >= other.RepMin) inter++; i++; j++; }
            }
            return inter;
        }

        public int[] Representative()
        {
            var rep = new int[RepArea];
            int k = 0;
            for (int j = 0; j < N; j++) if (Cnt[j] >= RepMin) rep[k++] = Px[j];
            return rep;
        }

        public void AddMask(ReadOnlySpan<int> pixels, ref int[] sPx, ref int[] sCnt, double fraction, int width)
        {
            Ensure(ref sPx, ref sCnt, N + pixels.Length);
            int i = 0, j = 0, k = 0;
            while (i < pixels.Length || j < N)
            {
                if (j >= N || (i < pixels.Length && pixels[i] < Px[j])) { sPx[k] = pixels[i++]; sCnt[k++] = 1; }
                else if (i >= pixels.Length || Px[j] < pixels[i]) { sPx[k] = Px[j]; sCnt[k++] = Cnt[j++]; }
                else { sPx[k] = Px[j]; sCnt[k++] = Cnt[j++] + 1; i++; }
            }
            foreach (int p in pixels)
            {
                int r = p / width;
                SumRow += r;
                SumCol += p - r * width;
            }
            SumWeight += pixels.Length;
            Store(sPx, sCnt, k, fraction);
        }

        public void Absorb(Group other, ref int[] sPx, ref int[] sCnt, double fraction)
        {
            Ensure(ref sPx, ref sCnt, N + other.N);
            int i = 0, j = 0, k = 0;
            while (i < other.N || j < N)
            {
                if (j >= N || (i < other.N && other.Px[i] < Px[j])) { sPx[k] = other.Px[i]; sCnt[k++] = other.Cnt[i++]; }
                else if (i >= other.N || Px[j] < other.Px[i]) { sPx[k] = Px[j]; sCnt[k++] = Cnt[j++]; }
                else { sPx[k] = Px[j]; sCnt[k++] = Cnt[j++] + other.Cnt[i++]; }
            }
            SumRow += other.SumRow;
            SumCol += other.SumCol;
            SumWeight += other.SumWeight;
            Store(sPx, sCnt, k, fraction);

            // Runs: merge two sorted lists and join touching runs.
            var all = new List<(long Start, long End)>(Runs.Count + other.Runs.Count);
            all.AddRange(Runs);
            all.AddRange(other.Runs);
            all.Sort((a, b) => a.Start.CompareTo(b.Start));
            Runs.Clear();
            TotalFrames = 0;
            LongestRun = 0;
            foreach (var run in all)
            {
                if (Runs.Count > 0 && run.Start <= Runs[^1].End + 1)
                    Runs[^1] = (Runs[^1].Start, Math.Max(Runs[^1].End, run.End));
                else Runs.Add(run);
            }
            foreach (var run in Runs)
            {
                long len = run.End - run.Start + 1;
                TotalFrames += (int)Math.Min(int.MaxValue - TotalFrames, len);
                LongestRun = Math.Max(LongestRun, (int)Math.Min(int.MaxValue, len));
            }
        }

        private static void Ensure(ref int[] sPx, ref int[] sCnt, int size)
        {
            if (sPx.Length >= size) return;
            int len = Math.Max(size, sPx.Length * 2);
            sPx = new int[len];
            sCnt = new int[len];
        }

        private void Store(int[] sPx, int[] sCnt, int k, double fraction)
        {
            if (Px.Length < k)
            {
                int len = Math.Max(k, Px.Length * 2);
                Px = new int[len];
                Cnt = new int[len];
            }
            Array.Copy(sPx, Px, k);
            Array.Copy(sCnt, Cnt, k);
            N = k;
            int max = 0;
            for (int j = 0; j < k; j++) if (Cnt[j] > max) max = Cnt[j];
            MaxCount = max;
            RepMin = Math.Max(1, (int)Math.Ceiling(fraction * max - 1e-9));
            int area = 0;
            for (int j = 0; j < k; j++) if (Cnt[j] >= RepMin) area++;
            RepArea = area;
        }
    }
}
