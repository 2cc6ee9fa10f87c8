using ClosedLoop.Core;

namespace ClosedLoop.Spikes;

/// <summary>Scores of one prediction against the truth: one correlation per neuron, their mean and median.</summary>
public sealed record SpikefinderScores(IReadOnlyList<string> Names, IReadOnlyList<double> PerNeuron)
{
    /// <summary>Mean of the per-neuron correlations (the Spikefinder headline figure); 0 when there are none.</summary>
    public double Mean => PerNeuron.Count == 0 ? 0 : PerNeuron.Sum() / PerNeuron.Count;

    /// <summary>Median of the per-neuron correlations; 0 when there are none.</summary>
    public double Median
    {
        get
        {
            if (PerNeuron.Count == 0) return 0;
            var s = PerNeuron.Order().ToArray();
            int k = s.Length;
            return k % 2 == 1 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2;
        }
    }
}

/// <summary>
/// The Spikefinder metric, computed exactly as the challenge's reference scorer does: per neuron, the samples where
/// neither the truth nor the prediction is missing are kept (in order), summed into 40 ms bins (4 samples at 100 Hz;
/// an incomplete last bin is dropped), and the Pearson correlation of the binned truth and prediction is the score.
/// A neuron with fewer than two bins, or whose binned truth or prediction is constant, scores 0; so does a truth column
/// with no prediction column.
/// </summary>
public static class SpikefinderScore
{
    /// <summary>Width of a scoring bin, in seconds.</summary>
    public const double BinS = 0.040;

    /// <summary>Scores <paramref name="predicted"/> against <paramref name="truth"/>, column by column (truth's columns
    /// decide the neurons; the truth's sampling rate decides the bins).</summary>
    public static SpikefinderScores Score(SpikefinderTable truth, SpikefinderTable predicted)
    {
        var scores = new double[truth.Count];
        for (int j = 0; j < truth.Count; j++)
            scores[j] = j < predicted.Count ? Correlate(truth.Columns[j], predicted.Columns[j], truth.SamplingRateHz) : 0;
        return new SpikefinderScores(truth.Names, scores);
    }

    /// <summary>The score of one neuron: Pearson correlation of truth and prediction summed into 40 ms bins, after
    /// dropping the samples where either is NaN. At rates where 40 ms is a whole number of samples the bins hold that
    /// many kept samples; otherwise kept sample j goes to the bin of its time, ⌊j / (0.04 · rate)⌋, and the incomplete last bin is dropped.</summary>
    public static double Correlate(ReadOnlySpan<double> truth, ReadOnlySpan<double> predicted, double samplingRateHz)
    {
        Check.Positive("rateHz", samplingRateHz);
        int m = Math.Min(truth.Length, predicted.Length);
        var t = new double[m];
        var p = new double[m];
        int n = 0;
        for (int i = 0; i < m; i++)
        {
            if (double.IsNaN(truth[i]) || double.IsNaN(predicted[i])) continue;
            t[n] = truth[i];
            p[n] = predicted[i];
            n++;
        }

        double perBin = samplingRateHz * BinS;
        int whole = (int)Math.Round(perBin);
        double[] tb, pb;
        if (whole >= 1 && Math.Abs(perBin - whole) < 1e-9)
        {
            int bins = n / whole;
            tb = new double[bins];
            pb = new double[bins];
            for (int b = 0; b < bins; b++)
            {
                // Summed left to right from 0, as Python's sum() does, so the figures agree to the last bit.
                double st = 0, sp = 0;
                for (int k = 0; k < whole; k++) { st += t[b * whole + k]; sp += p[b * whole + k]; }
                tb[b] = st;
                pb[b] = sp;
            }
        }
        else
        {
            int bins = (int)Math.Floor(n / perBin + 1e-9);
            tb = new double[bins];
            pb = new double[bins];
            for (int j = 0; j < n; j++)
            {
                int b = (int)Math.Floor((j + 1e-9) / perBin);
                if (b >= bins) break;
                tb[b] += t[j];
                pb[b] += p[j];
            }
        }
        return Pearson(tb, pb);
    }

    /// <summary>Pearson correlation with the reference scorer's conventions (0 for fewer than 2 values or no variance).</summary>
    internal static double Pearson(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        int n = a.Length;
        if (n < 2) return 0;
        double sa = 0, sb = 0;
        for (int i = 0; i < n; i++) { sa += a[i]; sb += b[i]; }
        double ma = sa / n, mb = sb / n;
        double va = 0, vb = 0, cov = 0;
        for (int i = 0; i < n; i++) va += (a[i] - ma) * (a[i] - ma);
        for (int i = 0; i < n; i++) vb += (b[i] - mb) * (b[i] - mb);
        if (va == 0 || vb == 0) return 0;
        for (int i = 0; i < n; i++) cov += (a[i] - ma) * (b[i] - mb);
        return cov / Math.Sqrt(va * vb);
    }
}
