using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ClosedLoop.Core;

namespace ClosedLoop.Imaging.Segmentation;

/// <summary>
/// Settings of the SUNS-style preprocessing: the temporal matched filter (from the indicator's kinetics and the frame
/// rate) and the running SNR normalisation. <see cref="Validate"/> names a bad field as <c>segmentation.&lt;field&gt;</c>.
/// </summary>
public sealed record SnrSettings
{
    /// <summary>Frame rate of the movie, Hz (0.5–1000).</summary>
    public double FrameRateHz { get; init; } = 30;

    /// <summary>Calcium indicator the template is derived from (a name for reports; the kinetics are the two fields below).</summary>
    public string Indicator { get; init; } = "GCaMP6s";

    /// <summary>Rise time constant of one spike's transient, s (0.001–1; shorter than the decay).</summary>
    public double IndicatorRiseS { get; init; } = 0.07;

    /// <summary>Decay time constant of one spike's transient, s (0.01–10).</summary>
    public double IndicatorDecayS { get; init; } = 1.2;

    /// <summary>The template is the transient sampled at the frame rate and cut where, after its peak, it has fallen
    /// below this fraction of the peak (0.05–1; 0.5 = at the half-decay).</summary>
    public double TemplateCutoff { get; init; } = 0.5;

    /// <summary>Time constant of the running median and noise estimates, s (0.5–600): how fast they follow a change of
    /// baseline (drift, bleaching) or of noise.</summary>
    public double BaselineTimeConstantS { get; init; } = 10;

    /// <summary>Warm-up, s (0.1–120): over the first frames the baseline and noise are a running mean and standard
    /// deviation (exact, Welford), after that the robust trackers take over from them.</summary>
    public double WarmupS { get; init; } = 2;

    /// <summary>Spatial high-pass of the SNR frame, px (0 = off, else 2–256): the mean SNR over a square of side
    /// 2·r + 1 around each pixel is subtracted, which removes field-wide swings (shared neuropil, laser power) that
    /// per-pixel normalisation turns into a uniform SNR offset.</summary>
    public int BackgroundRadiusPx { get; init; }

    /// <summary>Kinetics of the indicator presets the simulator knows (GCaMP6s, GCaMP6f, OGB-1): rise and decay, s.</summary>
    public static IReadOnlyDictionary<string, (double RiseS, double DecayS)> Presets { get; } =
        new Dictionary<string, (double, double)>(StringComparer.OrdinalIgnoreCase)
        {
            ["GCaMP6s"] = (0.07, 1.2),
            ["GCaMP6f"] = (0.02, 0.4),
            ["OGB-1"] = (0.005, 0.7),
        };

    /// <summary>Settings for a preset indicator at <paramref name="frameRateHz"/>; an unknown name gives a
    /// <see cref="SettingException"/> naming <c>segmentation.indicator</c> and the presets.</summary>
    public static SnrSettings ForIndicator(string indicator, double frameRateHz)
    {
        if (!Presets.TryGetValue(indicator?.Trim() ?? "", out var k))
            throw new SettingException("segmentation.indicator", indicator, "one of " + string.Join(", ", Presets.Keys));
        string name = Presets.Keys.First(p => string.Equals(p, indicator!.Trim(), StringComparison.OrdinalIgnoreCase));
        return new SnrSettings { FrameRateHz = frameRateHz, Indicator = name, IndicatorRiseS = k.RiseS, IndicatorDecayS = k.DecayS };
    }

    /// <summary>Checks every field; throws <see cref="SettingException"/> naming the first bad one and its range.</summary>
    public void Validate()
    {
        Check.InRange("segmentation.frameRateHz", FrameRateHz, 0.5, 1000);
        Check.InRange("segmentation.indicatorDecayS", IndicatorDecayS, 0.01, 10);
        Check.InRange("segmentation.indicatorRiseS", IndicatorRiseS, 0.001, Math.Min(1, IndicatorDecayS * 0.999));
        Check.InRange("segmentation.templateCutoff", TemplateCutoff, 0.05, 1);
        Check.InRange("segmentation.baselineTimeConstantS", BaselineTimeConstantS, 0.5, 600);
        Check.InRange("segmentation.warmupS", WarmupS, 0.1, 120);
        if (BackgroundRadiusPx != 0) Check.InRange("segmentation.backgroundRadiusPx", BackgroundRadiusPx, 2, 256);
        if (BaselineTimeConstantS * FrameRateHz < 5)
            throw new SettingException("segmentation.baselineTimeConstantS", BaselineTimeConstantS,
                string.Create(CultureInfo.InvariantCulture, $"at least 5 frames ({5 / FrameRateHz:0.###} s at {FrameRateHz} Hz)"));
    }

    /// <summary>
    /// The matched-filter taps: weight <c>h[i]</c> multiplies the frame i frames ago (h[0] = the current frame). They
    /// are the indicator transient k(t) = e^(−t/τd) − e^(−t/τr) sampled at the end of each frame (t = Δ, 2Δ, …, as the
    /// simulator renders it), cut after its peak where it falls below <see cref="TemplateCutoff"/> of the peak, reversed
    /// in time and normalised to sum 1 (so the filtered baseline equals the raw baseline).
    /// </summary>
    public float[] Template()
    {
        const int maxTaps = 512;
        double dt = 1.0 / FrameRateHz;
        var k = new List<double>();
        double peak = 0;
        for (int j = 1; j <= maxTaps; j++)
        {
            double t = j * dt;
            double v = Math.Exp(-t / IndicatorDecayS) - Math.Exp(-t / IndicatorRiseS);
            if (v > peak) peak = v;
            else if (v < TemplateCutoff * peak) break;
            k.Add(v);
        }
        var h = new float[k.Count];
        double sum = k.Sum();
        for (int i = 0; i < h.Length; i++) h[i] = (float)(k[h.Length - 1 - i] / sum);
        return h;
    }
}

/// <summary>
/// Online SUNS preprocessing of raw frames into SNR frames, per pixel and causal:
/// <list type="number">
/// <item>Temporal matched filter: a causal FIR with the reversed, truncated, normalised indicator transient
/// (<see cref="SnrSettings.Template"/>), <see cref="TemplateLength"/> taps; its centre of mass lies
/// <see cref="DelayFrames"/> frames in the past, the delay it adds to a transient. Before the first frame the history is
/// filled with that frame, so there is no start-up ramp.</item>
/// <item>SNR normalisation: snr = (y − m) / σ with m a running median of the filtered value y and σ = 1.4826 × a running
/// median of |y − m|. Both are tracked by stochastic approximation with steps scaled by the current σ:
/// m ← m + c_m·σ·sign(y − m), s ← s + c_s·σ·sign(|y − m| − s), σ = 1.4826·s. For Gaussian noise, a small offset of m
/// from the true median decays by a factor (1 − 0.80·c_m) per frame, so c_m = 1 / (0.80·τ·f) gives the time constant
/// τ = <see cref="SnrSettings.BaselineTimeConstantS"/>; likewise c_s = 1 / (0.64·τ·f). During the warm-up
/// (<see cref="WarmupFrames"/>) m and σ are the exact running mean and standard deviation of y instead; at its end they
/// seed the trackers (m = mean, s = 0.6745·sd). A deviation beyond 4σ (a transient) moves both trackers at a tenth of
/// the step (<see cref="OutlierStepFactor"/>): without that, σ would grow by c_s·σ per frame during a long transient
/// (GCaMP6s: ~+35 % over 40 frames at τ = 10 s) and the transient's own SNR would sink.</item>
/// </list>
/// O(pixels × taps) per frame with SIMD (TensorPrimitives in cache-sized bands, Vector256 for the trackers); no
/// allocation after construction.
/// </summary>
public sealed class SnrPreprocessor
{
    private const int Band = 2048;
    private const float NoiseFloor = 1e-3f;

    /// <summary>Deviations beyond this many σ (transients) move the trackers at <see cref="OutlierStepFactor"/> of the step.</summary>
    public const float OutlierSigma = 4f;

    /// <summary>Step factor for deviations beyond <see cref="OutlierSigma"/>: a long transient neither lifts the baseline nor
    /// inflates the noise much, while a real change of level or noise is still followed, ten times more slowly.</summary>
    public const float OutlierStepFactor = 0.1f;
    private readonly float[] _taps;
    private readonly float[][] _history;
    private readonly float[] _filtered;
    private readonly float[] _median, _mad, _m2;
    private readonly float[] _boxRows, _boxCol;
    private readonly float _cm, _cs;
    private int _pos;
    private long _frames;

    /// <summary>Prepares the preprocessing of <paramref name="heightPx"/> × <paramref name="widthPx"/> frames.</summary>
    public SnrPreprocessor(SnrSettings settings, int heightPx, int widthPx)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        Check.InRange("segmentation.heightPx", heightPx, 1, 16384);
        Check.InRange("segmentation.widthPx", widthPx, 1, 16384);
        Settings = settings;
        HeightPx = heightPx;
        WidthPx = widthPx;
        int p = heightPx * widthPx;
        _taps = settings.Template();
        _history = new float[_taps.Length][];
        for (int i = 0; i < _history.Length; i++) _history[i] = new float[p];
        _filtered = new float[p];
        _median = new float[p];
        _mad = new float[p];
        _m2 = new float[p];
        _boxRows = settings.BackgroundRadiusPx > 0 ? new float[p] : [];
        _boxCol = settings.BackgroundRadiusPx > 0 ? new float[heightPx] : [];
        double tauFrames = settings.BaselineTimeConstantS * settings.FrameRateHz;
        _cm = (float)(1 / (0.7979 * tauFrames));
        _cs = (float)(1 / (0.6356 * tauFrames));
        double delay = 0;
        for (int i = 0; i < _taps.Length; i++) delay += i * _taps[i];
        DelayFrames = delay;
        double sq = 0;
        foreach (var t in _taps) sq += t * t;
        NoiseGain = Math.Sqrt(sq);
        WarmupFrames = Math.Max(_taps.Length, (int)Math.Ceiling(settings.WarmupS * settings.FrameRateHz));
    }

    /// <summary>The settings in use.</summary>
    public SnrSettings Settings { get; }

    /// <summary>Frame height, px.</summary>
    public int HeightPx { get; }

    /// <summary>Frame width, px.</summary>
    public int WidthPx { get; }

    /// <summary>Matched-filter taps (h[0] weights the current frame).</summary>
    public ReadOnlySpan<float> Taps => _taps;

    /// <summary>Number of taps: frames of history the filter holds.</summary>
    public int TemplateLength => _taps.Length;

    /// <summary>Centre of mass of the taps, frames: the delay the filter adds (Σ i·h[i]).</summary>
    public double DelayFrames { get; }

    /// <summary>‖h‖₂: the factor by which the filter scales white noise (so σ of y = σ of a raw pixel × this).</summary>
    public double NoiseGain { get; }

    /// <summary>Frames of warm-up (running mean and s.d.) before the robust trackers take over; at least the template length.</summary>
    public int WarmupFrames { get; }

    /// <summary>Frames processed since construction or <see cref="Reset"/>.</summary>
    public long FramesSeen => _frames;

    /// <summary>The last frame after the matched filter (before normalisation), detector counts.</summary>
    public ReadOnlySpan<float> Filtered => _filtered;

    /// <summary>Per-pixel running median of the filtered value (detector counts; ≈ the raw baseline).</summary>
    public ReadOnlySpan<float> Median => _median;

    /// <summary>Per-pixel noise σ of the filtered value, detector counts (during warm-up: the running s.d.).</summary>
    public float NoiseAt(int pixel) => _frames <= WarmupFrames && _frames > 1
        ? MathF.Sqrt(_m2[pixel] / (_frames - 1))
        : 1.4826f * _mad[pixel];

    /// <summary>Forgets all state, as before the first frame.</summary>
    public void Reset()
    {
        _frames = 0;
        _pos = 0;
        Array.Clear(_median);
        Array.Clear(_mad);
        Array.Clear(_m2);
    }

    /// <summary>Feeds one raw frame (HeightPx × WidthPx counts, row-major) and writes its SNR frame.</summary>
    public void Process(ReadOnlySpan<ushort> frame, Span<float> snr)
    {
        int p = _filtered.Length;
        if (frame.Length != p) throw new ArgumentException($"the frame holds {frame.Length} pixels; {HeightPx}×{WidthPx} = {p} expected", nameof(frame));
        _pos = _frames == 0 ? 0 : (_pos + 1) % _taps.Length;
        TensorPrimitives.ConvertTruncating<ushort, float>(frame, _history[_pos]);
        Finish(snr);
    }

    /// <summary>Feeds one frame given as floats (e.g. after motion correction) and writes its SNR frame.</summary>
    public void Process(ReadOnlySpan<float> frame, Span<float> snr)
    {
        int p = _filtered.Length;
        if (frame.Length != p) throw new ArgumentException($"the frame holds {frame.Length} pixels; {HeightPx}×{WidthPx} = {p} expected", nameof(frame));
        _pos = _frames == 0 ? 0 : (_pos + 1) % _taps.Length;
        frame.CopyTo(_history[_pos]);
        Finish(snr);
    }

    private void Finish(Span<float> snr)
    {
        int p = _filtered.Length;
        if (snr.Length < p) throw new ArgumentException($"the SNR frame holds {snr.Length} floats; {p} needed", nameof(snr));
        if (_frames == 0)
            for (int i = 1; i < _history.Length; i++) _history[0].CopyTo(_history[i]);
        _frames++;
        int taps = _taps.Length;
        for (int start = 0; start < p; start += Band)
        {
            int n = Math.Min(Band, p - start);
            Span<float> y = _filtered.AsSpan(start, n);
            TensorPrimitives.Multiply(_history[_pos].AsSpan(start, n), _taps[0], y);
            for (int i = 1; i < taps; i++)
            {
                int slot = _pos - i;
                if (slot < 0) slot += taps;
                TensorPrimitives.MultiplyAdd(_history[slot].AsSpan(start, n), _taps[i], y, y);
            }
        }
        if (_frames <= WarmupFrames) Warmup(snr);
        else Track(snr[..p]);
        if (Settings.BackgroundRadiusPx > 0) SubtractLocalMean(snr[..p], Settings.BackgroundRadiusPx);
    }

    /// <summary>snr −= box mean of radius r (edges: the mean over the part of the box inside the frame), in O(pixels)
    /// with running sums along rows, then along columns.</summary>
    private void SubtractLocalMean(Span<float> snr, int r)
    {
        int h = HeightPx, w = WidthPx;
        var rows = _boxRows;
        for (int y = 0; y < h; y++)
        {
            var src = snr.Slice(y * w, w);
            var dst = rows.AsSpan(y * w, w);
            float sum = 0;
            for (int x = 0; x <= Math.Min(r, w - 1); x++) sum += src[x];
            for (int x = 0; x < w; x++)
            {
                dst[x] = sum;
                int add = x + r + 1, sub = x - r;
                if (add < w) sum += src[add];
                if (sub >= 0) sum -= src[sub];
            }
        }
        var col = _boxCol;
        for (int x = 0; x < w; x++)
        {
            float sum = 0;
            for (int y = 0; y <= Math.Min(r, h - 1); y++) sum += rows[y * w + x];
            for (int y = 0; y < h; y++)
            {
                col[y] = sum;
                int add = y + r + 1, sub = y - r;
                if (add < h) sum += rows[add * w + x];
                if (sub >= 0) sum -= rows[sub * w + x];
            }
            int nx = Math.Min(w - 1, x + r) - Math.Max(0, x - r) + 1;
            for (int y = 0; y < h; y++)
            {
                int ny = Math.Min(h - 1, y + r) - Math.Max(0, y - r) + 1;
                snr[y * w + x] -= col[y] / (nx * ny);
            }
        }
    }

    private void Warmup(Span<float> snr)
    {
        // Welford's running mean and sum of squared deviations; at the last warm-up frame seed the trackers.
        long n = _frames;
        float inv = 1f / n;
        bool last = n == WarmupFrames;
        for (int i = 0; i < _filtered.Length; i++)
        {
            float y = _filtered[i];
            float mean = _median[i];
            float d = y - mean;
            mean += d * inv;
            _m2[i] += d * (y - mean);
            _median[i] = mean;
            float sd = n > 1 ? MathF.Sqrt(_m2[i] / (n - 1)) : 0;
            snr[i] = n > 1 ? (y - mean) / MathF.Max(sd, NoiseFloor) : 0;
            if (last) _mad[i] = 0.67449f * sd;
        }
    }

    private void Track(Span<float> snr)
    {
        int p = _filtered.Length;
        ref float y0 = ref MemoryMarshal.GetArrayDataReference(_filtered);
        ref float m0 = ref MemoryMarshal.GetArrayDataReference(_median);
        ref float s0 = ref MemoryMarshal.GetArrayDataReference(_mad);
        ref float o0 = ref MemoryMarshal.GetReference(snr);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var k = Vector256.Create(1.4826f);
            var floor = Vector256.Create(NoiseFloor);
            var cm = Vector256.Create(_cm);
            var cs = Vector256.Create(_cs);
            var one = Vector256.Create(1f);
            var slow = Vector256.Create(OutlierStepFactor);
            var outlier = Vector256.Create(OutlierSigma);
            for (; i <= p - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var y = Vector256.LoadUnsafe(ref y0, (nuint)i);
                var m = Vector256.LoadUnsafe(ref m0, (nuint)i);
                var s = Vector256.LoadUnsafe(ref s0, (nuint)i);
                var sigma = Vector256.Max(k * s, floor);
                var d = y - m;
                (d / sigma).StoreUnsafe(ref o0, (nuint)i);
                var step = sigma * Vector256.ConditionalSelect(Vector256.GreaterThan(Vector256.Abs(d), outlier * sigma), slow, one);
                var sign = (Vector256.GreaterThan(d, Vector256<float>.Zero) & one) - (Vector256.LessThan(d, Vector256<float>.Zero) & one);
                (m + cm * step * sign).StoreUnsafe(ref m0, (nuint)i);
                var a = Vector256.Abs(d) - s;
                var signA = (Vector256.GreaterThan(a, Vector256<float>.Zero) & one) - (Vector256.LessThan(a, Vector256<float>.Zero) & one);
                (s + cs * step * signA).StoreUnsafe(ref s0, (nuint)i);
            }
        }
        for (; i < p; i++) TrackOne(ref Unsafe.Add(ref y0, i), ref Unsafe.Add(ref m0, i), ref Unsafe.Add(ref s0, i), ref Unsafe.Add(ref o0, i));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void TrackOne(ref float y, ref float m, ref float s, ref float snr)
    {
        float sigma = MathF.Max(1.4826f * s, NoiseFloor);
        float d = y - m;
        snr = d / sigma;
        float step = MathF.Abs(d) > OutlierSigma * sigma ? sigma * OutlierStepFactor : sigma;
        m += _cm * step * MathF.Sign(d);
        s += _cs * step * MathF.Sign(MathF.Abs(d) - s);
    }

    /// <summary>
    /// Per-pixel noise level of the raw movie in the units of ν (Rupprecht et al. 2021): 100 · 0.954 · σ_raw / (baseline · √f),
    /// σ_raw = σ of the filtered value / <see cref="NoiseGain"/>; the median over pixels whose baseline is at least
    /// <paramref name="minBaselineCounts"/>. NaN before the warm-up ends or when no pixel qualifies. Allocates (a report
    /// value, not for the per-frame path). An ROI-mean trace of N independent pixels has ν about √N times lower.
    /// </summary>
    public double PixelNoiseLevel(double minBaselineCounts = 1)
    {
        if (_frames <= WarmupFrames) return double.NaN;
        var values = new List<float>(_median.Length);
        double scale = 100 * 0.6745 * Math.Sqrt(2) / (NoiseGain * Math.Sqrt(Settings.FrameRateHz));
        for (int i = 0; i < _median.Length; i++)
            if (_median[i] >= minBaselineCounts) values.Add((float)(scale * 1.4826 * _mad[i] / _median[i]));
        if (values.Count == 0) return double.NaN;
        values.Sort();
        return values[values.Count / 2];
    }
}
