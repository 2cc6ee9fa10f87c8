using ClosedLoop.Core;
using ClosedLoop.Imaging.Segmentation;
using ClosedLoop.Models.Inference;

namespace ClosedLoop.Imaging;

/// <summary>
/// Settings of online segmentation inside a run (experiment section <c>segmentation:</c>, used with <c>rois: online</c>).
/// Read once when the run is built.
/// </summary>
public sealed class OnlineSegmentationSettings : IStageSettings
{
    /// <summary>Segmentation model file a lab trained on its own data; null = the shipped default model.</summary>
    public string? ModelPath { get; set; }

    /// <summary>Where the model runs (auto: ONNX Runtime when its library loads, else the managed forward).</summary>
    public BackendKind Backend { get; set; } = BackendKind.Auto;

    /// <summary>How probability maps become tracked masks: threshold, area limits, merging, temporal consistency, the
    /// initialisation on the first frames and the update interval (<see cref="SegmentationSettings"/>; the same keys in the
    /// experiment's <c>segmentation:</c> section).</summary>
    public SegmentationSettings Masks { get; set; } = new();

    /// <summary>Units reserved for ROIs: ROI id i is unit i (named roi000, roi001, ...) for the whole run; ROIs with ids at
    /// or beyond this are not traced (counted and reported). Range 1..4096, default 256.</summary>
    public int MaxRois { get; set; } = 256;

    /// <summary>Frames handed to the segmentation per call (larger batches are faster per frame, later per update).
    /// Range 1..256, default 8.</summary>
    public int BatchFrames { get; set; } = 8;

    /// <summary>Frames the slow loop may have queued; when it is behind, newer frames are dropped for segmentation (never for
    /// the fast loop) and counted. Range batchFrames..1024, default 64.</summary>
    public int QueueFrames { get; set; } = 64;

    /// <inheritdoc />
    public void Validate()
    {
        Masks.Validate();
        Check.InRange("segmentation.maxRois", MaxRois, 1, 4096);
        Check.InRange("segmentation.batchFrames", BatchFrames, 1, 256);
        if (QueueFrames < BatchFrames || QueueFrames > 1024)
            throw new SettingException("segmentation.queueFrames", QueueFrames, $"between segmentation.batchFrames ({BatchFrames}) and 1024");
        if (ModelPath is { Length: 0 }) throw new SettingException("segmentation.model", "", "a model file path, or 'default' for the shipped model");
    }
}

/// <summary>
/// The extraction tables of one published ROI set, for a fixed capacity of units (ROI id i = unit i): compressed rows of
/// pixel indices, a scale per unit (1 / pixel count, NaN for a unit whose ROI does not exist, so its value comes out NaN)
/// and, when neuropil subtraction is on, the annuli. Immutable once published; the fast loop only reads it.
/// </summary>
public sealed class RoiTables
{
    internal RoiTables(long version, int[] offsets, int[] pixels, float[] scale, int[] npOffsets, int[] npPixels, float[] npFactor, int present)
    {
        Version = version;
        Offsets = offsets;
        Pixels = pixels;
        Scale = scale;
        NeuropilOffsets = npOffsets;
        NeuropilPixels = npPixels;
        NeuropilFactor = npFactor;
        Present = present;
    }

    /// <summary>Version of the segmentation's ROI set these tables were built from (0 = before any ROI).</summary>
    public long Version { get; }

    /// <summary>Units whose ROI exists in this set.</summary>
    public int Present { get; }

    internal int[] Offsets { get; }
    internal int[] Pixels { get; }
    internal float[] Scale { get; }
    internal int[] NeuropilOffsets { get; }
    internal int[] NeuropilPixels { get; }
    internal float[] NeuropilFactor { get; }
}

/// <summary>What changed between two published ROI sets.</summary>
/// <param name="Version">The new set's version.</param>
/// <param name="Present">ROIs traced now.</param>
/// <param name="Added">Ids that appeared.</param>
/// <param name="Refined">Ids whose mask changed.</param>
/// <param name="Removed">Ids that disappeared.</param>
/// <param name="OverCapacity">ROIs with an id at or beyond the capacity (not traced).</param>
public sealed record RoiSetChange(long Version, int Present, IReadOnlyList<int> Added, IReadOnlyList<int> Refined, IReadOnlyList<int> Removed, int OverCapacity)
{
    /// <summary>True when nothing the fast loop traces changed.</summary>
    public bool IsEmpty => Added.Count == 0 && Refined.Count == 0 && Removed.Count == 0;
}

/// <summary>
/// The hand-over point between the slow loop that finds ROIs and the fast loop that extracts their traces. The slow
/// loop (or a user's edit, on the control thread) calls <see cref="Publish"/>, which builds new extraction tables off the
/// loop and swaps one reference; <see cref="TraceExtractionStage"/> reads that reference at the start of each frame and
/// takes the new tables over between two frames, without allocating or waiting. The tables it dropped become garbage
/// once no frame uses them. Unit i is ROI id i for the whole run; there are <see cref="Capacity"/> units.
/// </summary>
public sealed class OnlineRoiBoard
{
    private readonly object _gate = new();
    private readonly int[]?[] _masks;
    private readonly double _npInner, _npOuter, _npCoefficient;
    private RoiTables _current;
    private LiveUnitSet _units;
    private long _appliedVersion = -1;
    private long _appliedAtFrame = -1;
    private long _swaps;

    /// <summary>Creates a board for <paramref name="capacity"/> units on frames of <paramref name="widthPx"/> ×
    /// <paramref name="heightPx"/>; <paramref name="traces"/> says whether to build neuropil annuli. No ROI exists yet.</summary>
    public OnlineRoiBoard(int capacity, int widthPx, int heightPx, TraceExtractionSettings traces)
    {
        Capacity = Check.InRange("segmentation.maxRois", capacity, 1, 4096);
        WidthPx = Check.InRange("widthPx", widthPx, 1, RoiSet.MaxSidePx);
        HeightPx = Check.InRange("heightPx", heightPx, 1, RoiSet.MaxSidePx);
        traces.Validate();
        NeuropilEnabled = traces.NeuropilEnabled;
        _npInner = traces.NeuropilInnerRadiusPx;
        _npOuter = traces.NeuropilOuterRadiusPx;
        _npCoefficient = traces.NeuropilCoefficient;
        _masks = new int[]?[capacity];
        Names = Enumerable.Range(0, capacity).Select(RoiSet.DefaultName).ToArray();
        _current = Build(0);
        _units = new LiveUnitSet(0, Names.Select(n => new LiveUnit(n, [], double.NaN, double.NaN)).ToArray());
    }

    /// <summary>Units (fixed for the run).</summary>
    public int Capacity { get; }

    /// <summary>Frame width, px.</summary>
    public int WidthPx { get; }

    /// <summary>Frame height, px.</summary>
    public int HeightPx { get; }

    /// <summary>Unit names roi000, roi001, ... (ROI id i is called <c>RoiSet.DefaultName(i)</c>).</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>Whether the published tables carry neuropil annuli.</summary>
    public bool NeuropilEnabled { get; }

    /// <summary>The latest published tables (what the fast loop takes over at its next frame).</summary>
    public RoiTables Current => Volatile.Read(ref _current);

    /// <summary>Version of the latest published tables.</summary>
    public long PublishedVersion => Current.Version;

    /// <summary>Version the fast loop extracts with now (-1 before its first frame).</summary>
    public long AppliedVersion => Volatile.Read(ref _appliedVersion);

    /// <summary>Frame at which the fast loop took over <see cref="AppliedVersion"/>.</summary>
    public long AppliedAtFrame => Volatile.Read(ref _appliedAtFrame);

    /// <summary>Times the fast loop took over new tables.</summary>
    public long Swaps => Interlocked.Read(ref _swaps);

    /// <summary>ROIs traced now.</summary>
    public int Present => Current.Present;

    /// <summary>Creates the activity buffers: one unit per ROI id, named roi000, roi001, ...</summary>
    public PopulationActivity CreateActivity() => new(Capacity, Names);

    /// <summary>The units as they are now: index-aligned with the activity, masks of absent units empty. Any thread.</summary>
    public LiveUnitSet Units() => Volatile.Read(ref _units);

    /// <summary>The mask of ROI <paramref name="id"/> as published last, or null when it does not exist.</summary>
    public int[]? MaskOf(int id)
    {
        lock (_gate) return (uint)id < (uint)Capacity ? _masks[id] : null;
    }

    /// <summary>Publishes <paramref name="rois"/> (the segmentation's snapshot at <paramref name="version"/>) to the fast loop:
    /// builds the tables here, on the caller's thread, then swaps one reference. Any thread but the fast loop's; calls are
    /// serialised, and a snapshot older than the one published is ignored (returns an empty change).</summary>
    public RoiSetChange Publish(IReadOnlyList<TrackedRoi> rois, long version)
    {
        lock (_gate)
        {
            if (version <= _current.Version && version != 0)
                return new RoiSetChange(_current.Version, _current.Present, [], [], [], 0);
            var next = new int[]?[Capacity];
            int over = 0;
            int pixelCount = WidthPx * HeightPx;
            foreach (var roi in rois)
            {
                if ((uint)roi.Id >= (uint)Capacity) { over++; continue; }
                if (roi.PixelIndices.Length == 0) continue;
                foreach (int p in roi.PixelIndices)
                    if ((uint)p >= (uint)pixelCount)
                        throw new SettingException($"rois[{roi.Id}].pixels", p, $"a pixel index between 0 and {pixelCount - 1}");
                next[roi.Id] = roi.PixelIndices;
            }
            var added = new List<int>();
            var refined = new List<int>();
            var removed = new List<int>();
            for (int i = 0; i < Capacity; i++)
            {
                var a = _masks[i];
                var b = next[i];
                if (a is null && b is not null) added.Add(i);
                else if (a is not null && b is null) removed.Add(i);
                else if (a is not null && b is not null && !ReferenceEquals(a, b) && !a.AsSpan().SequenceEqual(b)) refined.Add(i);
                if (b is not null && a is not null && a.AsSpan().SequenceEqual(b)) next[i] = a; // keep the old array: unchanged
            }
            Array.Copy(next, _masks, Capacity);
            var tables = Build(version);
            Volatile.Write(ref _current, tables);
            var units = new LiveUnit[Capacity];
            for (int i = 0; i < Capacity; i++)
            {
                var m = _masks[i];
                if (m is null) { units[i] = new LiveUnit(Names[i], [], double.NaN, double.NaN); continue; }
                double sx = 0, sy = 0;
                foreach (int p in m) { sx += p % WidthPx; sy += p / WidthPx; }
                units[i] = new LiveUnit(Names[i], m, sx / m.Length, sy / m.Length);
            }
            Volatile.Write(ref _units, new LiveUnitSet(version, units));
            return new RoiSetChange(version, tables.Present, added, refined, removed, over);
        }
    }

    /// <summary>Called by the fast loop when it takes over <paramref name="tables"/> (no allocation).</summary>
    internal void MarkApplied(RoiTables tables, long frameIndex)
    {
        Volatile.Write(ref _appliedAtFrame, frameIndex);
        Volatile.Write(ref _appliedVersion, tables.Version);
        Interlocked.Increment(ref _swaps);
    }

    private RoiTables Build(long version)
    {
        int total = 0, present = 0;
        foreach (var m in _masks) if (m is not null) { total += m.Length; present++; }
        var offsets = new int[Capacity + 1];
        var pixels = new int[total];
        var scale = new float[Capacity];
        int at = 0;
        for (int i = 0; i < Capacity; i++)
        {
            offsets[i] = at;
            var m = _masks[i];
            if (m is null || m.Length == 0) { scale[i] = float.NaN; continue; }
            m.CopyTo(pixels, at);
            at += m.Length;
            scale[i] = 1f / m.Length;
        }
        offsets[Capacity] = at;
        int[] npOffsets = [], npPixels = [];
        float[] npFactor = [];
        if (NeuropilEnabled)
        {
            (npOffsets, npPixels) = TraceExtractionStage.BuildAnnuli(WidthPx, HeightPx, offsets, pixels, _npInner, _npOuter);
            npFactor = new float[Capacity];
            for (int i = 0; i < Capacity; i++)
            {
                int n = npOffsets[i + 1] - npOffsets[i];
                npFactor[i] = n == 0 ? 0 : (float)(_npCoefficient / n);
            }
        }
        return new RoiTables(version, offsets, pixels, scale, npOffsets, npPixels, npFactor, present);
    }
}
