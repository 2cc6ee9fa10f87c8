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
    private readonly RoiSet _rois;
    private readonly PopulationActivity _activity;
    private readonly int _widthPx;
    private readonly int _heightPx;
    private readonly int[] _offsets;
    private readonly int[] _pixels;
    private readonly float[] _weights;
    private readonly bool[] _weighted;
    private readonly float[] _scale;

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

    /// <inheritdoc />
    public string Name => "traces";

    /// <summary>The ROI set traces are extracted for.</summary>
    public RoiSet Rois => _rois;

    /// <summary>The activity written each frame.</summary>
    public PopulationActivity Activity => _activity;

    /// <summary>Pixels of ROI <paramref name="roiIndex"/>'s neuropil annulus (empty before Start or when neuropil subtraction is off).</summary>
    public ReadOnlySpan<int> NeuropilPixels(int roiIndex) =>
        _npOffsets.Length == 0 ? default : _npPixels.AsSpan(_npOffsets[roiIndex], _npOffsets[roiIndex + 1] - _npOffsets[roiIndex]);

    /// <inheritdoc />
    public void Start(RunContext context)
    {
        _settings.Validate();
        _rois.Check(_widthPx, _heightPx);
        _neuropil = _settings.NeuropilEnabled;
        if (!_neuropil)
        {
            _npOffsets = [];
            _npPixels = [];
            _npFactor = [];
            return;
        }
        BuildAnnuli(out _npOffsets, out _npPixels);
        _npFactor = new float[_rois.Count];
        var empty = new List<string>();
        for (int i = 0; i < _rois.Count; i++)
        {
            int n = _npOffsets[i + 1] - _npOffsets[i];
            if (n == 0) empty.Add(_rois[i].Name);
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

    /// <summary>For each ROI, the pixels whose distance to the ROI's nearest pixel is above the inner radius and at most the
    /// outer radius, leaving out every pixel that belongs to any ROI. Brute force over a box around each ROI (run once).</summary>
    private void BuildAnnuli(out int[] offsets, out int[] pixels)
    {
        int w = _widthPx, h = _heightPx;
        var inAnyRoi = new bool[w * h];
        foreach (int p in _pixels) inAnyRoi[p] = true;
        double inner = _settings.NeuropilInnerRadiusPx, outer = _settings.NeuropilOuterRadiusPx;
        double inner2 = inner * inner, outer2 = outer * outer;
        int reach = (int)Math.Ceiling(outer);

        offsets = new int[_rois.Count + 1];
        var all = new List<int>();
        for (int i = 0; i < _rois.Count; i++)
        {
            offsets[i] = all.Count;
            var roiPx = _rois[i].PixelIndices;
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
        offsets[_rois.Count] = all.Count;
        pixels = all.ToArray();
    }
}
