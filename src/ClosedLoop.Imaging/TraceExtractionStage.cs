using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ClosedLoop.Core;

namespace ClosedLoop.Imaging;

/// <summary>
/// Settings of <see cref="TraceExtractionStage"/>. All are read once at <see cref="IFastStage.Start"/>; changing them
/// during a run has no effect until the next run.
/// </summary>
public sealed class TraceExtractionSettings : IStageSettings
{
    /// <summary>Fraction r of the neuropil signal subtracted from each ROI: F = F_roi − r · F_neuropil.
    /// 0 (default) switches neuropil subtraction off; 0.7 is a common choice for GCaMP in cortex. Range 0..1.</summary>
    public double NeuropilCoefficient { get; set; }

    /// <summary>Inner radius of each ROI's neuropil annulus, in pixels, measured from the ROI's nearest pixel: pixels closer
    /// than this (or as close) are left out, so the ROI's own blurred edge does not count as neuropil. Range 0..50, default 2.</summary>
    public double NeuropilInnerRadiusPx { get; set; } = 2;

    /// <summary>Outer radius of the neuropil annulus, in pixels from the ROI's nearest pixel. Must exceed the inner radius;
    /// at most 100, default 8.</summary>
    public double NeuropilOuterRadiusPx { get; set; } = 8;

    /// <summary>True when neuropil subtraction is on.</summary>
    public bool NeuropilEnabled => NeuropilCoefficient > 0;

    /// <inheritdoc />
    public void Validate()
    {
        Check.InRange("traces.neuropilCoefficient", NeuropilCoefficient, 0, 1);
        Check.InRange("traces.neuropilInnerRadiusPx", NeuropilInnerRadiusPx, 0, 50);
        if (double.IsNaN(NeuropilOuterRadiusPx) || NeuropilOuterRadiusPx <= NeuropilInnerRadiusPx || NeuropilOuterRadiusPx > 100)
            throw new SettingException("traces.neuropilOuterRadiusPx", NeuropilOuterRadiusPx,
                $"greater than traces.neuropilInnerRadiusPx ({NeuropilInnerRadiusPx.ToString(CultureInfo.InvariantCulture)}) and at most 100");
    }
}

/// <summary>
/// Fast-loop stage that turns a frame into one fluorescence value per ROI: the weighted mean of the ROI's pixels
/// (Σ wᵢ·pᵢ / Σ wᵢ, a plain mean for unweighted ROIs), minus <see cref="TraceExtractionSettings.NeuropilCoefficient"/> ×
/// the plain mean of the ROI's neuropil annulus when that is enabled. Values go to <see cref="PopulationActivity.Raw"/>
/// together with the frame's index and sample time. Allocation-free per frame.
/// </summary>
public sealed class TraceExtractionStage : IFastStage
{
    private readonly TraceExtractionSettings _settings;
    private readonly RoiSet? _rois;
    private readonly OnlineRoiBoard? _board;
    private readonly PopulationActivity _activity;
    private readonly int _widthPx;
    private readonly int _heightPx;
    // The extraction tables. Fixed for a run with a RoiSet; with an OnlineRoiBoard they are the board's latest
    // published tables, taken over (references only) at the start of a frame.
    private int[] _offsets;
    private int[] _pixels;
    private float[] _weights;
    private bool[] _weighted;
    private float[] _scale;
    private RoiTables? _tables;

    // Per-run neuropil state, built at Start.
    private int[] _npOffsets = [];
    private int[] _npPixels = [];
    private float[] _npFactor = [];
    private bool _neuropil;

    /// <summary>Creates the stage for frames of <paramref name="widthPx"/> × <paramref name="heightPx"/> pixels.
    /// Throws <see cref="SettingException"/> when the ROI set was drawn for another frame size or when
    /// <paramref name="activity"/> does not have one unit per ROI.</summary>
    public TraceExtractionStage(TraceExtractionSettings settings, RoiSet rois, int widthPx, int heightPx, PopulationActivity activity)
    {
        _settings = settings;
        _rois = rois;
        _activity = activity;
        rois.Check(widthPx, heightPx);
        if (activity.Units != rois.Count)
            throw new SettingException("activity.units", activity.Units, $"{rois.Count}, one unit per ROI");
        _widthPx = widthPx;
        _heightPx = heightPx;

        _offsets = rois.Offsets.ToArray();
        _pixels = rois.PixelIndices.ToArray();
        _weights = rois.Weights.ToArray();
        _weighted = new bool[rois.Count];
        _scale = new float[rois.Count];
        for (int i = 0; i < rois.Count; i++)
        {
            var roi = rois[i];
            _weighted[i] = roi.IsWeighted;
            double sum = 0;
            foreach (float w in roi.Weights) sum += w;
            _scale[i] = (float)(1.0 / sum);
        }
    }

    /// <summary>Creates the stage for a run whose ROIs are found while imaging: unit i of <paramref name="activity"/> is ROI
    /// id i of <paramref name="board"/> for the whole run. At the start of each frame the stage takes over the board's
    /// latest published tables (a reference swap, built off the loop by the publisher); a unit whose ROI does not exist
    /// (yet, or any more) gets Raw = NaN. Neuropil annuli, when enabled, are built by the board with each published set.</summary>
    public TraceExtractionStage(TraceExtractionSettings settings, OnlineRoiBoard board, PopulationActivity activity)
    {
        _settings = settings;
        _board = board;
        _activity = activity;
        if (activity.Units != board.Capacity)
            throw new SettingException("activity.units", activity.Units, $"{board.Capacity}, one unit per ROI id (segmentation.maxRois)");
        _widthPx = board.WidthPx;
        _heightPx = board.HeightPx;
        _weighted = new bool[board.Capacity];
        _weights = [];
        _offsets = new int[board.Capacity + 1];
        _pixels = [];
        _scale = new float[board.Capacity];
    }

    /// <inheritdoc />
    public string Name => "traces";

    /// <summary>The ROI set traces are extracted for; null when the ROIs are found while imaging (see <see cref="Board"/>).</summary>
    public RoiSet? Rois => _rois;

    /// <summary>The online ROI board the stage follows, or null for a fixed ROI set.</summary>
    public OnlineRoiBoard? Board => _board;

    /// <summary>The activity written each frame.</summary>
    public PopulationActivity Activity => _activity;

    /// <summary>Pixels of ROI <paramref name="roiIndex"/>'s neuropil annulus (empty before Start or when neuropil subtraction is off).</summary>
    public ReadOnlySpan<int> NeuropilPixels(int roiIndex) =>
        _npOffsets.Length == 0 ? default : _npPixels.AsSpan(_npOffsets[roiIndex], _npOffsets[roiIndex + 1] - _npOffsets[roiIndex]);

    /// <inheritdoc />
    public void Start(RunContext context)
    {
        _settings.Validate();
        _neuropil = _settings.NeuropilEnabled;
        if (_board is not null)
        {
            if (_neuropil != _board.NeuropilEnabled)
                throw new SettingException("traces.neuropilCoefficient", _settings.NeuropilCoefficient, "the same setting the online ROI board builds its tables with");
            _tables = null; // the first frame takes over whatever the board holds then
            return;
        }
        var rois = _rois!;
        rois.Check(_widthPx, _heightPx);
        if (!_neuropil)
        {
            _npOffsets = [];
            _npPixels = [];
            _npFactor = [];
            return;
        }
        (_npOffsets, _npPixels) = BuildAnnuli(_widthPx, _heightPx, _offsets, _pixels, _settings.NeuropilInnerRadiusPx, _settings.NeuropilOuterRadiusPx);
        _npFactor = new float[rois.Count];
        var empty = new List<string>();
        for (int i = 0; i < rois.Count; i++)
        {
            int n = _npOffsets[i + 1] - _npOffsets[i];
            if (n == 0) empty.Add(rois[i].Name);
            else _npFactor[i] = (float)(_settings.NeuropilCoefficient / n);
        }
        if (empty.Count > 0)
        {
            context.Events.Add(new RunEvent(RunEventKind.Info, 0, MonotonicClock.NowNs(), Name,
                $"{empty.Count} ROI(s) have no neuropil pixels in their annulus and are not neuropil-corrected: {string.Join(", ", empty.Take(20))}{(empty.Count > 20 ? ", ..." : "")}"));
        }
    }

    /// <inheritdoc />
    public void Process(Frame frame)
    {
        if (frame.Width != _widthPx || frame.Height != _heightPx) ThrowWrongSize(frame);
        if (_board is not null)
        {
            var tables = _board.Current;
            if (!ReferenceEquals(tables, _tables)) Adopt(tables, frame.FrameIndex);
        }
        ref ushort px = ref MemoryMarshal.GetArrayDataReference(frame.Pixels);
        ref int idx = ref MemoryMarshal.GetArrayDataReference(_pixels);
        ref float wts = ref MemoryMarshal.GetArrayDataReference(_weights);
        float[] raw = _activity.Raw;
        int n = _scale.Length;
        for (int i = 0; i < n; i++)
        {
            int start = _offsets[i], end = _offsets[i + 1];
            float value = _weighted[i]
                ? WeightedSum(ref px, ref idx, ref wts, start, end) * _scale[i]
                : Sum(ref px, ref idx, start, end) * _scale[i];
            if (_neuropil)
            {
                value -= Sum(ref px, ref MemoryMarshal.GetArrayDataReference(_npPixels), _npOffsets[i], _npOffsets[i + 1]) * _npFactor[i];
            }
            raw[i] = value;
        }
        _activity.FrameIndex = frame.FrameIndex;
        _activity.SampleTimeNs = frame.SampleTimeNs;
    }

    /// <inheritdoc />
    public void Stop()
    {
    }

    /// <summary>Takes over a newly published table set: reference assignments only, no allocation. An absent unit has an
    /// empty pixel range and a NaN scale, so its value comes out NaN.</summary>
    private void Adopt(RoiTables t, long frameIndex)
    {
        _tables = t;
        _offsets = t.Offsets;
        _pixels = t.Pixels;
        _scale = t.Scale;
        if (_neuropil)
        {
            _npOffsets = t.NeuropilOffsets;
            _npPixels = t.NeuropilPixels;
            _npFactor = t.NeuropilFactor;
        }
        _board!.MarkApplied(t, frameIndex);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sum(ref ushort px, ref int idx, int start, int end)
    {
        // Indices were checked against the frame size when the ROI set was built, so no bounds checks here.
        long a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        int j = start;
        for (; j + 3 < end; j += 4)
        {
            a0 += Unsafe.Add(ref px, Unsafe.Add(ref idx, j));
            a1 += Unsafe.Add(ref px, Unsafe.Add(ref idx, j + 1));
            a2 += Unsafe.Add(ref px, Unsafe.Add(ref idx, j + 2));
            a3 += Unsafe.Add(ref px, Unsafe.Add(ref idx, j + 3));
        }
        for (; j < end; j++) a0 += Unsafe.Add(ref px, Unsafe.Add(ref idx, j));
        return (a0 + a1) + (a2 + a3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float WeightedSum(ref ushort px, ref int idx, ref float w, int start, int end)
    {
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        int j = start;
        for (; j + 3 < end; j += 4)
        {
            a0 += Unsafe.Add(ref px, Unsafe.Add(ref idx, j)) * Unsafe.Add(ref w, j);
            a1 += Unsafe.Add(ref px, Unsafe.Add(ref idx, j + 1)) * Unsafe.Add(ref w, j + 1);
            a2 += Unsafe.Add(ref px, Unsafe.Add(ref idx, j + 2)) * Unsafe.Add(ref w, j + 2);
            a3 += Unsafe.Add(ref px, Unsafe.Add(ref idx, j + 3)) * Unsafe.Add(ref w, j + 3);
        }
        for (; j < end; j++) a0 += Unsafe.Add(ref px, Unsafe.Add(ref idx, j)) * Unsafe.Add(ref w, j);
        return (a0 + a1) + (a2 + a3);
    }

    private void ThrowWrongSize(Frame frame) =>
        throw new InvalidOperationException(
            $"Frame {frame.FrameIndex} is {frame.Width}×{frame.Height} px but the ROI set was drawn on {_widthPx}×{_heightPx} px.");

    /// <summary>For each ROI (ROI i spans [offsets[i], offsets[i + 1]) of <paramref name="pixels"/>), the pixels whose
    /// distance to the ROI's nearest pixel is above the inner radius and at most the outer radius, leaving out every pixel
    /// that belongs to any ROI. An empty ROI gets an empty annulus. Brute force over a box around each ROI (run once per
    /// ROI set, never per frame).</summary>
    internal static (int[] Offsets, int[] Pixels) BuildAnnuli(int w, int h, int[] offsets, int[] pixels, double inner, double outer)
    {
        int count = offsets.Length - 1;
        var inAnyRoi = new bool[w * h];
        foreach (int p in pixels) inAnyRoi[p] = true;
        double inner2 = inner * inner, outer2 = outer * outer;
        int reach = (int)Math.Ceiling(outer);

        var npOffsets = new int[count + 1];
        var all = new List<int>();
        for (int i = 0; i < count; i++)
        {
            npOffsets[i] = all.Count;
            var roiPx = pixels.AsSpan(offsets[i], offsets[i + 1] - offsets[i]);
            if (roiPx.Length == 0) continue;
            var rows = new int[roiPx.Length];
            var cols = new int[roiPx.Length];
            int r0 = int.MaxValue, r1 = int.MinValue, c0 = int.MaxValue, c1 = int.MinValue;
            for (int k = 0; k < roiPx.Length; k++)
            {
                rows[k] = roiPx[k] / w;
                cols[k] = roiPx[k] % w;
                r0 = Math.Min(r0, rows[k]); r1 = Math.Max(r1, rows[k]);
                c0 = Math.Min(c0, cols[k]); c1 = Math.Max(c1, cols[k]);
            }
            for (int r = Math.Max(0, r0 - reach); r <= Math.Min(h - 1, r1 + reach); r++)
            {
                for (int c = Math.Max(0, c0 - reach); c <= Math.Min(w - 1, c1 + reach); c++)
                {
                    int p = r * w + c;
                    if (inAnyRoi[p]) continue;
                    double best = double.MaxValue;
                    for (int k = 0; k < rows.Length; k++)
                    {
                        double dr = r - rows[k], dc = c - cols[k];
                        double d2 = dr * dr + dc * dc;
                        if (d2 < best) { best = d2; if (best <= inner2) break; }
                    }
                    if (best > inner2 && best <= outer2) all.Add(p);
                }
            }
        }
        npOffsets[count] = all.Count;
        return (npOffsets, all.ToArray());
    }
}
