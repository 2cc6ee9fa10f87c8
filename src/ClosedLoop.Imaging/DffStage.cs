using ClosedLoop.Core;

namespace ClosedLoop.Imaging;

/// <summary>
/// Settings of <see cref="DffStage"/>. All are read once at <see cref="IFastStage.Start"/>; changing them during a run has
/// no effect until the next run.
/// </summary>
public sealed class DffSettings : IStageSettings
{
    /// <summary>Length of the sliding window the baseline F0 is taken over, in seconds. Range 1..600, default 30.</summary>
    public double BaselineWindowS { get; set; } = 30;

    /// <summary>Percentile of the window's block means taken as F0. Low values ignore transients better; range 1..50, default 10.</summary>
    public double BaselinePercentile { get; set; } = 10;

    /// <summary>Frames used to initialise each ROI's baseline (their median) and noise level; ΔF/F is 0 and ν is NaN
    /// until they have been seen. Range 3..100000, default 30.</summary>
    public int InitFrames { get; set; } = 30;

    /// <summary>Time constant of the online ν estimate, in seconds: longer is steadier (relative jitter ≈ 0.76 / √(window in
    /// frames)), shorter follows changes faster. Range 1..3600, default 60.</summary>
    public double NoiseWindowS { get; set; } = 60;

    /// <inheritdoc />
    public void Validate()
    {
        Check.InRange("dff.baselineWindowS", BaselineWindowS, 1, 600);
        Check.InRange("dff.baselinePercentile", BaselinePercentile, 1, 50);
        Check.InRange("dff.initFrames", InitFrames, 3, 100_000);
        Check.InRange("dff.noiseWindowS", NoiseWindowS, 1, 3600);
    }
}

/// <summary>
/// Fast-loop stage that turns <see cref="PopulationActivity.Raw"/> into ΔF/F = (F − F0) / F0 (a fraction) in
/// <see cref="PopulationActivity.Dff"/> and the live noise level ν in <see cref="PopulationActivity.NoiseLevel"/>.
/// It must run after the stage that fills Raw for the same frame (e.g. <see cref="TraceExtractionStage"/>).
/// <para><b>Baseline.</b> The window of <see cref="DffSettings.BaselineWindowS"/> is cut into at most 64 blocks of
/// <see cref="BaselineBlockFrames"/> frames. Each completed block's mean F enters a per-ROI ring (the oldest block leaves) and
/// a sorted copy of that ring is kept up to date by one shifting insert; F0 is the
/// <see cref="DffSettings.BaselinePercentile"/>-th percentile of the block means (interpolated). Transients shorter than
/// (1 − percentile) of the window do not move F0; a slow drift is followed with a lag of about (1 − percentile) × window when
/// rising and percentile × window when falling. Cost per ROI: O(1) per frame plus O(blocks) once per block, no allocation.
/// F0 is updated at block boundaries only.</para>
/// <para><b>Start-up.</b> During the first <see cref="DffSettings.InitFrames"/> frames ΔF/F is 0 and ν is NaN. At the end
/// of them F0 is set to the median of those frames (every ring slot is seeded with it, so F0 first follows the data after
/// 1 − percentile of a window when it rises, sooner when it falls) and ν is seeded with the exact median of their differences.</para>
/// <para><b>Noise level.</b> ν = median_t |ΔF/F%(t+1) − ΔF/F%(t)| / √frameRate (Rupprecht et al. 2021). The median of the
/// absolute differences is tracked online by a stochastic median estimator whose step is a fixed fraction
/// 1 / (NoiseWindowS · frameRate) of the current estimate, so its equilibrium is the exact median whatever the noise scale.</para>
/// <para>An ROI whose F0 is ≤ 0 (possible after neuropil subtraction) gets ΔF/F = 0; at Stop the run's event log says which.</para>
/// <para><b>Absent units.</b> A unit whose Raw is NaN (an ROI that online segmentation has not found yet, or that was
/// deleted) gets ΔF/F = NaN and ν = NaN, and its baseline starts again: from the frame it is back, ΔF/F is 0 for its own
/// InitFrames frames and F0 is then the median of those. Blocks it was absent or initialising in stay out of its
/// baseline. A unit whose mask is refined while it stays present keeps its baseline, which follows the new F within
/// the baseline window.</para>
/// </summary>
public sealed class DffStage : IFastStage
{
    /// <summary>Most blocks the baseline window is cut into.</summary>
    public const int MaxBaselineBlocks = 64;

    private const float MinNoiseStepBasePct = 1e-3f;

    private readonly DffSettings _settings;
    private readonly PopulationActivity _activity;

    // Per-run state, created at Start.
    private RunContext? _context;
    private int _units;
    private int _initFrames;
    private long _frames;
    private float[] _init = [];
    private float[] _scratch = [];
    private int _blockFrames;
    private int _blocks;
    private int _blockFill;
    private int _ringPos;
    private double[] _blockSum = [];
    private float[] _ring = [];
    private float[] _sorted = [];
    private int _pctLow;
    private float _pctFrac;
    private float[] _f0 = [];
    private float[] _prevPct = [];
    private float[] _medianAbsDiffPct = [];
    private float _eta;
    private float _invSqrtRate;
    private bool[] _badBaseline = [];
    private int[] _seen = [];

    /// <summary>Creates the stage reading and writing <paramref name="activity"/>.</summary>
    public DffStage(DffSettings settings, PopulationActivity activity)
    {
        _settings = settings;
        _activity = activity;
    }

    /// <inheritdoc />
    public string Name => "dff";

    /// <summary>Frames per baseline block in this run (set at Start).</summary>
    public int BaselineBlockFrames => _blockFrames;

    /// <summary>Blocks in the baseline window in this run (set at Start).</summary>
    public int BaselineBlocks => _blocks;

    /// <summary>Current baseline F0 per ROI, in the units of Raw (0 until the init frames have been seen).</summary>
    public ReadOnlySpan<float> BaselineF0 => _f0;

    /// <summary>True once the init frames have been seen and ΔF/F is live.</summary>
    public bool IsInitialised => _frames >= _initFrames && _initFrames > 0;

    /// <inheritdoc />
    public void Start(RunContext context)
    {
        _settings.Validate();
        _context = context;
        double rateHz = context.FrameRateHz;
        _units = _activity.Units;
        _initFrames = _settings.InitFrames;
        _frames = 0;
        _init = new float[_units * _initFrames];
        _scratch = new float[_initFrames];

        int windowFrames = Math.Max(1, (int)Math.Round(_settings.BaselineWindowS * rateHz));
        _blockFrames = Math.Max(1, (int)Math.Ceiling(windowFrames / (double)MaxBaselineBlocks));
        _blocks = Math.Max(1, (int)Math.Round(windowFrames / (double)_blockFrames));
        _blockFill = 0;
        _ringPos = 0;
        _blockSum = new double[_units];
        _ring = new float[_units * _blocks];
        _sorted = new float[_units * _blocks];
        double pos = _settings.BaselinePercentile / 100.0 * (_blocks - 1);
        _pctLow = Math.Min((int)Math.Floor(pos), _blocks - 1);
        _pctFrac = (float)(pos - _pctLow);

        _f0 = new float[_units];
        _prevPct = new float[_units];
        _medianAbsDiffPct = new float[_units];
        _badBaseline = new bool[_units];
        _seen = new int[_units];
        _eta = (float)(1.0 / Math.Max(1.0, _settings.NoiseWindowS * rateHz));
        _invSqrtRate = (float)(1.0 / Math.Sqrt(rateHz));
    }

    /// <inheritdoc />
    public void Process(Frame frame)
    {
        if (_activity.FrameIndex != frame.FrameIndex) ThrowStale(frame);
        float[] raw = _activity.Raw, dff = _activity.Dff, nu = _activity.NoiseLevel;
        long t = _frames++;
        // The block phase runs once the first InitFrames frames of the run are over (as before per-unit init existed).
        bool warm = t >= _initFrames;
        bool blockDone = warm && ++_blockFill == _blockFrames;
        float invBlock = 1f / _blockFrames;
        int n = _initFrames;
        for (int i = 0; i < _units; i++)
        {
            float f = raw[i];
            int seen = _seen[i];
            if (seen < n || float.IsNaN(f))
            {
                if (float.IsNaN(f))
                {
                    // Absent unit (an ROI that does not exist yet or was deleted): NaN out, and initialise again
                    // from its first InitFrames frames once it is back.
                    _seen[i] = 0;
                    dff[i] = float.NaN;
                    nu[i] = float.NaN;
                }
                else
                {
                    _init[i * n + seen] = f;
                    _seen[i] = ++seen;
                    dff[i] = 0;
                    nu[i] = float.NaN;
                    if (seen == n) FinishInit(i);
                }
                // A block this unit was absent or initialising in is incomplete: it stays out of the baseline.
                if (warm) _blockSum[i] = blockDone ? 0 : double.NaN;
                continue;
            }

            if (blockDone)
            {
                PushBlock(i, (float)((_blockSum[i] + f) * invBlock));
                _blockSum[i] = 0;
            }
            else
            {
                _blockSum[i] += f;
            }

            float f0 = _f0[i];
            float d;
            if (f0 > 0) d = (f - f0) / f0;
            else { d = 0; _badBaseline[i] = true; }
            dff[i] = d;

            float pct = d * 100f;
            float absDiff = MathF.Abs(pct - _prevPct[i]);
            _prevPct[i] = pct;
            float m = _medianAbsDiffPct[i];
            float step = _eta * MathF.Max(m, MinNoiseStepBasePct);
            if (absDiff > m) m += step;
            else if (absDiff < m) m = MathF.Max(0, m - step);
            _medianAbsDiffPct[i] = m;
            nu[i] = m * _invSqrtRate;
        }
        if (blockDone)
        {
            _blockFill = 0;
            _ringPos = _ringPos + 1 == _blocks ? 0 : _ringPos + 1;
        }
    }

    /// <inheritdoc />
    public void Stop()
    {
        if (_context is null) return;
        var bad = new List<string>();
        for (int i = 0; i < _badBaseline.Length; i++)
            if (_badBaseline[i]) bad.Add(_activity.UnitNames[i]);
        if (bad.Count > 0)
        {
            _context.Events.Add(new RunEvent(RunEventKind.Info, 0, MonotonicClock.NowNs(), Name,
                $"{bad.Count} ROI(s) had a baseline F0 ≤ 0 at some point and got ΔF/F = 0 then: {string.Join(", ", bad.Take(20))}{(bad.Count > 20 ? ", ..." : "")}"));
        }
    }

    /// <summary>Unit <paramref name="i"/> has seen its InitFrames frames: F0 = their median, ν from their differences.</summary>
    private void FinishInit(int i)
    {
        int n = _initFrames;
        Span<float> s = _scratch;
        var values = _init.AsSpan(i * n, n);
        values.CopyTo(s);
        s.Sort();
        float f0 = Median(s);
        _f0[i] = f0;
        _ring.AsSpan(i * _blocks, _blocks).Fill(f0);
        _sorted.AsSpan(i * _blocks, _blocks).Fill(f0);
        _medianAbsDiffPct[i] = 0;
        _prevPct[i] = 0;

        if (f0 > 0)
        {
            float scale = 100f / f0;
            for (int k = 0; k < n - 1; k++) s[k] = MathF.Abs(values[k + 1] - values[k]) * scale;
            var diffs = s[..(n - 1)];
            diffs.Sort();
            _medianAbsDiffPct[i] = Median(diffs);
            _prevPct[i] = (values[n - 1] - f0) * scale;
        }
    }

    /// <summary>Replaces ROI <paramref name="i"/>'s oldest block mean by <paramref name="value"/> and recomputes its F0.</summary>
    private void PushBlock(int i, float value)
    {
        if (!float.IsFinite(value)) return;
        int b = _blocks;
        ref float slot = ref _ring[i * b + _ringPos];
        float old = slot;
        slot = value;
        var sorted = _sorted.AsSpan(i * b, b);
        int k = sorted.BinarySearch(old);
        if (k < 0) k = Math.Min(~k, b - 1); // cannot happen: old is always present
        if (value > old)
        {
            while (k + 1 < b && sorted[k + 1] < value) { sorted[k] = sorted[k + 1]; k++; }
        }
        else
        {
            while (k > 0 && sorted[k - 1] > value) { sorted[k] = sorted[k - 1]; k--; }
        }
        sorted[k] = value;
        float lo = sorted[_pctLow];
        _f0[i] = _pctLow + 1 < b ? lo + _pctFrac * (sorted[_pctLow + 1] - lo) : lo;
    }

    private static float Median(ReadOnlySpan<float> sorted)
    {
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : 0.5f * (sorted[n / 2 - 1] + sorted[n / 2]);
    }

    private void ThrowStale(Frame frame) =>
        throw new InvalidOperationException(
            $"ΔF/F got frame {frame.FrameIndex} but the activity holds frame {_activity.FrameIndex}: put the trace extraction stage before it.");
}

/// <summary>The noise level ν of a ΔF/F trace (Rupprecht et al. 2021), computed exactly over a whole trace.</summary>
public static class NoiseLevel
{
    /// <summary>ν = median_t |ΔF/F%(t+1) − ΔF/F%(t)| / √<paramref name="frameRateHz"/>, with ΔF/F given as a fraction
    /// (converted to % here). Pairs with a NaN are skipped; NaN when fewer than two valid samples. Allocates a scratch array.</summary>
    public static double Compute(ReadOnlySpan<float> dffFraction, double frameRateHz)
    {
        Check.Positive("frameRateHz", frameRateHz);
        if (dffFraction.Length < 2) return double.NaN;
        var diffs = new double[dffFraction.Length - 1];
        int n = 0;
        for (int t = 0; t + 1 < dffFraction.Length; t++)
        {
            double d = Math.Abs((double)dffFraction[t + 1] - dffFraction[t]) * 100.0;
            if (!double.IsNaN(d)) diffs[n++] = d;
        }
        if (n == 0) return double.NaN;
        var valid = diffs.AsSpan(0, n);
        valid.Sort();
        double median = n % 2 == 1 ? valid[n / 2] : 0.5 * (valid[n / 2 - 1] + valid[n / 2]);
        return median / Math.Sqrt(frameRateHz);
    }
}
