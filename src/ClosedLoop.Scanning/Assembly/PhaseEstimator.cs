using System.Numerics.Tensors;
using ClosedLoop.Core;

namespace ClosedLoop.Scanning.Assembly;

/// <summary>Result of a line-phase estimate.</summary>
/// <param name="PhaseSamples">Estimated phase (fractional samples) to give <see cref="PixelMap.SetPhase"/>.</param>
/// <param name="Correlation">Normalised correlation at the peak (−1..1): how much forward and backward lines agree.</param>
/// <param name="LinePairs">Forward/backward line pairs that contributed.</param>
public readonly record struct PhaseEstimate(double PhaseSamples, double Correlation, int LinePairs);

/// <summary>
/// Estimates the bidirectional line phase from the data. Sample i of a forward line (centre at i + ½) and sample
/// <c>j = M + 2δ − 1 − i</c> of the next, backward line see the same place (M = <see cref="PixelMap.MirrorSumSamples"/>,
/// δ the phase), so the cross-correlation of each forward line with the time-reversed backward line peaks at lag
/// M + 2δ − 1. The
/// correlation is summed over line pairs and over integer lags covering ±<c>searchRangeSamples</c> of phase,
/// and the peak is refined to a fraction of a sample by a parabola through it and its neighbours. Buffers are
/// allocated once; an estimate allocates nothing.
/// </summary>
public sealed class PhaseEstimator
{
    private readonly PixelMap _map;
    private readonly int _range, _maxPairs, _windowStart, _windowLength, _lagMin, _lagMax;
    private readonly float[] _fwd, _rev;
    private readonly double[] _score;

    /// <summary>Creates an estimator for bidirectional lines of <paramref name="map"/>.</summary>
    /// <param name="map">The (bidirectional) pixel map whose geometry the lines follow.</param>
    /// <param name="searchRangeSamples">Largest |phase| searched, in samples.</param>
    /// <param name="maxLinePairs">Most line pairs used per estimate (spread over the frame).</param>
    public PhaseEstimator(PixelMap map, int searchRangeSamples = 16, int maxLinePairs = 64)
    {
        ArgumentNullException.ThrowIfNull(map);
        if (!map.Bidirectional) throw new SettingException("phaseEstimator.map", "unidirectional", "a bidirectional pixel map");
        Check.InRange("phaseEstimator.searchRangeSamples", searchRangeSamples, 1, (int)(map.LinePeriodSamples / 8));
        Check.InRange("phaseEstimator.maxLinePairs", maxLinePairs, 1, 4096);
        _map = map;
        _range = searchRangeSamples;
        _maxPairs = maxLinePairs;
        double first = map.FirstActiveSample - map.PhaseSamples, end = map.EndActiveSample - map.PhaseSamples;
        _windowStart = (int)Math.Ceiling(first) + searchRangeSamples;
        _windowLength = Math.Max(8, (int)Math.Floor(end) - searchRangeSamples - _windowStart);
        int mid = (int)Math.Round(map.MirrorSumSamples - 1);
        _lagMin = mid - 2 * searchRangeSamples - 1;
        _lagMax = mid + 2 * searchRangeSamples + 1;
        _fwd = new float[_windowLength];
        _rev = new float[_windowLength + _lagMax - _lagMin];
        _score = new double[_lagMax - _lagMin + 1];
    }

    /// <summary>Estimates the phase from one channel of a frame.</summary>
    /// <param name="channelSamples">The channel's samples.</param>
    /// <param name="lineStarts">Start sample of each line (e.g. <see cref="LineSync.LineStarts"/>); even lines forward.</param>
    /// <returns>The estimate, or one with <c>LinePairs = 0</c> when no pair had all its samples.</returns>
    public PhaseEstimate Estimate(ReadOnlySpan<short> channelSamples, ReadOnlySpan<long> lineStarts)
    {
        Array.Clear(_score);
        int pairs = lineStarts.Length / 2, stride = Math.Max(1, pairs / _maxPairs), used = 0;
        double energy = 0;
        for (int pair = 0; pair < pairs && used < _maxPairs; pair += stride)
        {
            long a = lineStarts[2 * pair] + _windowStart, b0 = lineStarts[2 * pair + 1] + _lagMin - _windowStart - _windowLength + 1;
            long b1 = lineStarts[2 * pair + 1] + _lagMax - _windowStart;
            if (a < 0 || a + _windowLength > channelSamples.Length || b0 < 0 || b1 >= channelSamples.Length) continue;
            var f = _fwd.AsSpan();
            for (int i = 0; i < f.Length; i++) f[i] = channelSamples[(int)a + i];
            // rev[j] = x[b + lagMax − windowStart − j]: then lag L pairs f[i] with rev[(lagMax − L) + i].
            var r = _rev.AsSpan();
            for (int j = 0; j < r.Length; j++) r[j] = channelSamples[(int)(b1 - j)];
            float mf = TensorPrimitives.Sum<float>(f) / f.Length, mr = TensorPrimitives.Sum<float>(r) / r.Length;
            TensorPrimitives.Subtract(f, mf, f);
            TensorPrimitives.Subtract(r, mr, r);
            energy += Math.Sqrt((double)TensorPrimitives.Dot<float>(f, f) * TensorPrimitives.Dot<float>(r[.._windowLength], r[.._windowLength]));
            for (int k = 0; k < _score.Length; k++)
                _score[k] += TensorPrimitives.Dot<float>(f, r.Slice(_lagMax - (_lagMin + k), _windowLength));
            used++;
        }
        if (used == 0) return new PhaseEstimate(_map.PhaseSamples, 0, 0);
        int best = 1;
        for (int k = 2; k < _score.Length - 1; k++) if (_score[k] > _score[best]) best = k;
        double ym = _score[best - 1], y0 = _score[best], yp = _score[best + 1];
        double denom = ym - 2 * y0 + yp;
        double frac = denom < 0 ? 0.5 * (ym - yp) / denom : 0;
        double lag = _lagMin + best + Math.Clamp(frac, -0.5, 0.5);
        double phase = Math.Clamp((lag + 1 - _map.MirrorSumSamples) / 2, -_range, _range);
        return new PhaseEstimate(phase, energy > 0 ? y0 / energy : 0, used);
    }

    /// <summary>Estimates the phase and moves the map's phase toward it by <paramref name="gain"/> (1 = jump, e.g. 0.1 to
    /// track slow drift), when the correlation is at least <paramref name="minCorrelation"/>. Call between frames.</summary>
    /// <returns>The estimate (applied or not).</returns>
    public PhaseEstimate Track(ReadOnlySpan<short> channelSamples, ReadOnlySpan<long> lineStarts, double gain = 1, double minCorrelation = 0.2)
    {
        Check.InRange("phaseEstimator.gain", gain, 0, 1);
        var e = Estimate(channelSamples, lineStarts);
        if (e.LinePairs > 0 && e.Correlation >= minCorrelation)
            _map.SetPhase(_map.PhaseSamples + gain * (e.PhaseSamples - _map.PhaseSamples));
        return e;
    }
}
