using ClosedLoop.Core;

namespace ClosedLoop.Imaging.Segmentation;

/// <summary>
/// Online segmentation (docs/segmentation.md, "Online mode"): every pushed frame goes through the segmenter, its
/// probability map through <see cref="MaskExtractor"/>, and the candidates into a <see cref="MaskMerger"/>. After the
/// segmenter's warm-up plus <see cref="SegmentationSettings.InitialFrames"/> frames the ROI set is initialised from the
/// merged, temporally consistent masks; then every <see cref="SegmentationSettings.UpdateEveryFrames"/> frames the merged
/// masks are matched to the ROIs (same merge test as across frames): a matched ROI keeps its id and takes the refined mask
/// (unless locked), an unmatched mask becomes a new ROI with the next id. Updates never remove or renumber ROIs, never
/// change locked or user-added ones, never reuse a deleted id, and drop masks that overlap a deleted ROI by
/// <see cref="SegmentationSettings.DeletedOverlap"/> of the smaller area. <see cref="Version"/> increases when a mask, an
/// id or a lock changes (the per-ROI <see cref="TrackedRoi.SeenInFrames"/> is refreshed without a new version).
/// </summary>
public sealed class OnlineSegmentation : IOnlineSegmentation
{
    private const int ChunkFrames = 8;

    private readonly IFrameSegmenter _segmenter;
    private readonly bool _ownsSegmenter;
    private readonly SegmentationSettings _settings;
    private readonly MaskExtractor _extractor;
    private readonly MaskMerger _merger;
    private readonly float[] _maps;
    private readonly int _pixelCount;
    private readonly object _gate = new();
    private readonly List<RoiState> _rois = new();       // ascending id
    private readonly List<int[]> _deleted = new();
    private int _nextId;
    private long _framesSeen, _version;
    private long _nextUpdateFrame;
    private volatile bool _initialised;
    private int _pushing;
    private bool _disposed;

    /// <summary>Creates the tracker around <paramref name="segmenter"/>; with <paramref name="ownsSegmenter"/> it disposes
    /// the segmenter when disposed. Throws <see cref="SettingException"/> for invalid settings.</summary>
    public OnlineSegmentation(IFrameSegmenter segmenter, SegmentationSettings settings, bool ownsSegmenter = true)
    {
        _segmenter = segmenter ?? throw new ArgumentNullException(nameof(segmenter));
        _settings = settings = settings.Validate().ForFilter(segmenter.TemporalFilterFrames);
        _ownsSegmenter = ownsSegmenter;
        HeightPx = segmenter.HeightPx;
        WidthPx = segmenter.WidthPx;
        _pixelCount = HeightPx * WidthPx;
        _extractor = new MaskExtractor(HeightPx, WidthPx, settings);
        _merger = new MaskMerger(HeightPx, WidthPx, settings);
        _maps = new float[ChunkFrames * _pixelCount];
        _nextUpdateFrame = (long)Math.Max(0, segmenter.WarmupFrames) + settings.InitialFrames;
    }

    /// <inheritdoc />
    public int HeightPx { get; }

    /// <inheritdoc />
    public int WidthPx { get; }

    /// <summary>The post-processing settings in use.</summary>
    public SegmentationSettings Settings => _settings;

    /// <inheritdoc />
    public long FramesSeen => Interlocked.Read(ref _framesSeen);

    /// <inheritdoc />
    public bool Initialised => _initialised;

    /// <inheritdoc />
    public long Version => Interlocked.Read(ref _version);

    /// <summary>Updates of the ROI set done so far (the initialisation included).</summary>
    public int UpdatesDone { get; private set; }

    /// <inheritdoc />
    public void Push(ReadOnlySpan<ushort> frames, int count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (count < 0 || frames.Length < (long)count * _pixelCount)
            throw new ArgumentException($"{count} frames of {WidthPx}×{HeightPx} need {(long)count * _pixelCount} values; got {frames.Length}.", nameof(frames));
        if (Interlocked.Exchange(ref _pushing, 1) != 0)
            throw new InvalidOperationException("Push was called from two threads at once; the slow loop must push from one thread.");
        try
        {
            int warmup = Math.Max(0, _segmenter.WarmupFrames);
            for (int done = 0; done < count;)
            {
                int chunk = Math.Min(ChunkFrames, count - done);
                _segmenter.Process(frames.Slice(done * _pixelCount, chunk * _pixelCount), chunk, _maps.AsSpan(0, chunk * _pixelCount));
                for (int k = 0; k < chunk; k++)
                {
                    long frame = _framesSeen;
                    if (frame >= warmup)
                    {
                        _extractor.Extract(_maps.AsSpan(k * _pixelCount, _pixelCount));
                        _merger.AddFrame(frame, _extractor);
                    }
                    Interlocked.Increment(ref _framesSeen);
                    if (frame + 1 >= _nextUpdateFrame)
                    {
                        Update(frame);
                        _nextUpdateFrame = frame + 1 + _settings.UpdateEveryFrames;
                    }
                }
                done += chunk;
            }
        }
        finally
        {
            Volatile.Write(ref _pushing, 0);
        }
    }

    /// <summary>Merges the masks found so far into the ROI set (called on the pushing thread).</summary>
    private void Update(long frame)
    {
        var masks = _merger.Consolidate();
        lock (_gate)
        {
            bool changed = false;
            var claimed = new HashSet<int>();
            foreach (var m in masks)
            {
                var px = m.PixelIndices;
                if (_deleted.Any(d => OverlapOfSmaller(px, d) >= _settings.DeletedOverlap)) continue;
                var (cr, cc) = Centroid(px);
                var box = Box.Of(px, WidthPx);
                RoiState? best = null;
                double bestIou = -1;
                foreach (var roi in _rois)
                {
                    if (!box.Overlaps(roi.Bounds)) continue; // cheap reject: most ROIs are far away
                    int inter = Intersect(px, roi.Pixels);
                    if (!_merger.Same(inter, px.Length, roi.Pixels.Length, cr, cc, roi.CentroidRow, roi.CentroidCol)) continue;
                    double iou = (double)inter / (px.Length + roi.Pixels.Length - inter);
                    if (iou > bestIou) { bestIou = iou; best = roi; }
                }
                if (best is null)
                {
                    _rois.Add(new RoiState(_nextId++, px, m.SeenInFrames, WidthPx));
                    claimed.Add(_rois[^1].Id);
                    changed = true;
                    continue;
                }
                if (!claimed.Add(best.Id)) continue; // a second mask on the same ROI (a split): the better match already spoke
                if (best.Locked) continue;
                best.SeenInFrames = m.SeenInFrames;
                if (!px.AsSpan().SequenceEqual(best.Pixels))
                {
                    best.SetPixels(px, WidthPx);
                    changed = true;
                }
            }
            if (changed) Interlocked.Increment(ref _version);
            _initialised = true;
            UpdatesDone++;
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<TrackedRoi> Snapshot()
    {
        lock (_gate)
            return _rois.Select(r => new TrackedRoi(r.Id, (int[])r.Pixels.Clone(), r.Locked, r.UserAdded, r.SeenInFrames)).ToArray();
    }

    /// <inheritdoc />
    public bool Lock(int id, bool locked)
    {
        lock (_gate)
        {
            var roi = Find(id);
            if (roi is null) return false;
            if (roi.UserAdded && !locked) return true; // user ROIs stay locked (the contract): nothing changes
            if (roi.Locked != locked)
            {
                roi.Locked = locked;
                Interlocked.Increment(ref _version);
            }
            return true;
        }
    }

    /// <inheritdoc />
    public int Add(int[] pixelIndices)
    {
        ArgumentNullException.ThrowIfNull(pixelIndices);
        if (pixelIndices.Length == 0) throw new SettingException("pixelIndices", 0, "a non-empty list of pixel indices");
        for (int j = 0; j < pixelIndices.Length; j++)
            if ((uint)pixelIndices[j] >= (uint)_pixelCount)
                throw new SettingException($"pixelIndices[{j}]", pixelIndices[j],
                    $"a pixel index between 0 and {_pixelCount - 1} (inside the {WidthPx}×{HeightPx} frame, index = row * width + col)");
        var px = pixelIndices.Distinct().Order().ToArray();
        lock (_gate)
        {
            var roi = new RoiState(_nextId++, px, 0, WidthPx) { Locked = true, UserAdded = true };
            _rois.Add(roi);
            Interlocked.Increment(ref _version);
            return roi.Id;
        }
    }

    /// <inheritdoc />
    public bool Delete(int id)
    {
        lock (_gate)
        {
            var roi = Find(id);
            if (roi is null) return false;
            _rois.Remove(roi);
            _deleted.Add(roi.Pixels);
            Interlocked.Increment(ref _version);
            return true;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_ownsSegmenter) _segmenter.Dispose();
    }

    private RoiState? Find(int id)
    {
        int lo = 0, hi = _rois.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            int v = _rois[mid].Id;
            if (v == id) return _rois[mid];
            if (v < id) lo = mid + 1; else hi = mid - 1;
        }
        return null;
    }

    private (double Row, double Col) Centroid(int[] px)
    {
        double r = 0, c = 0;
        foreach (int p in px) { int row = p / WidthPx; r += row; c += p - row * WidthPx; }
        return (r / px.Length, c / px.Length);
    }

    private static int Intersect(int[] a, int[] b)
    {
        int i = 0, j = 0, inter = 0;
        while (i < a.Length && j < b.Length)
        {
            if (a[i] < b[j]) i++;
            else if (a[i] > b[j]) j++;
            else { inter++; i++; j++; }
        }
        return inter;
    }

    private static double OverlapOfSmaller(int[] a, int[] b) => (double)Intersect(a, b) / Math.Min(a.Length, b.Length);

    private sealed class RoiState
    {
        public RoiState(int id, int[] pixels, int seen, int width)
        {
            Id = id;
            Pixels = pixels;
            SeenInFrames = seen;
            SetPixels(pixels, width);
        }

        public int Id { get; }
        public int[] Pixels { get; private set; }
        public double CentroidRow { get; private set; }
        public double CentroidCol { get; private set; }
        public bool Locked { get; set; }
        public bool UserAdded { get; init; }
        public int SeenInFrames { get; set; }

        public Box Bounds { get; private set; }

        public void SetPixels(int[] pixels, int width)
        {
            Pixels = pixels;
            Bounds = Box.Of(pixels, width);
            double r = 0, c = 0;
            foreach (int p in pixels) { int row = p / width; r += row; c += p - row * width; }
            CentroidRow = r / pixels.Length;
            CentroidCol = c / pixels.Length;
        }
    }

    /// <summary>Bounding box of a mask, in pixels (inclusive).</summary>
    private readonly record struct Box(int Row0, int Row1, int Col0, int Col1)
    {
        public static Box Of(int[] ascending, int width)
        {
            int c0 = int.MaxValue, c1 = -1;
            foreach (int p in ascending)
            {
                int c = p % width;
                if (c < c0) c0 = c;
                if (c > c1) c1 = c;
            }
            return new Box(ascending[0] / width, ascending[^1] / width, c0, c1);
        }

        public bool Overlaps(Box o) => Row0 <= o.Row1 && o.Row0 <= Row1 && Col0 <= o.Col1 && o.Col0 <= Col1;
    }
}
