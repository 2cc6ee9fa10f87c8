using ClosedLoop.Core;

namespace ClosedLoop.Spikes;

/// <summary>
/// Estimates the deconvolution's parameters from a trace alone (no ground truth): the noise σ from the spread of
/// sample-to-sample differences, the baseline as a low percentile, and the decay γ by fitting A·γ^k to the trace's
/// autocovariance at lags k ≥ 1 (lag 0 is left out because white noise adds to it alone).
/// </summary>
public static class OasisEstimator
{
    /// <summary>Shortest decay time constant the fit considers, s.</summary>
    public const double MinDecayS = 0.02;

    /// <summary>Longest decay time constant the fit considers, s.</summary>
    public const double MaxDecayS = 20;

    /// <summary>Longest lag of the autocovariance fit, s.</summary>
    public const double FitLagsS = 2;

    /// <summary>Estimates γ, σ and the baseline from <paramref name="trace"/> (NaN samples skipped); λ and s_min follow
    /// from σ and the settings. With fewer than 16 valid samples the settings' own values are returned.</summary>
    public static OasisParameters Estimate(ReadOnlySpan<float> trace, double frameRateHz, OasisSettings settings)
    {
        Check.Positive("frameRateHz", frameRateHz);
        var x = Valid(trace);
        if (x.Length < 16) return OasisParameters.FromSettings(settings, frameRateHz);
        double sigma = NoiseSigma(x);
        if (!(sigma > 0)) sigma = settings.NoiseSigmaDff;
        double baseline = Percentile(x, settings.BaselinePercentile);
        double gamma = DecayGamma(x, frameRateHz);
        return OasisParameters.Make(settings, frameRateHz, gamma, sigma, baseline);
    }

    /// <summary>Noise σ: median |x(t+1) − x(t)| / (0.6745 · √2), the σ of white noise with that median absolute difference.</summary>
    public static double NoiseSigma(ReadOnlySpan<double> x)
    {
        if (x.Length < 2) return double.NaN;
        var d = new double[x.Length - 1];
        for (int t = 0; t + 1 < x.Length; t++) d[t] = Math.Abs(x[t + 1] - x[t]);
        Array.Sort(d);
        int n = d.Length;
        double median = n % 2 == 1 ? d[n / 2] : 0.5 * (d[n / 2 - 1] + d[n / 2]);
        return median / (0.67448975 * Math.Sqrt(2));
    }

    /// <summary>The <paramref name="percentile"/>-th percentile of <paramref name="x"/> (linear interpolation).</summary>
    public static double Percentile(ReadOnlySpan<double> x, double percentile)
    {
        if (x.Length == 0) return double.NaN;
        var s = x.ToArray();
        Array.Sort(s);
        double pos = percentile / 100.0 * (s.Length - 1);
        int lo = (int)Math.Floor(pos);
        if (lo >= s.Length - 1) return s[^1];
        return s[lo] + (pos - lo) * (s[lo + 1] - s[lo]);
    }

    /// <summary>Decay factor per frame γ fitted to the autocovariance r(k), k = 1..K (K = 2 s of lags, at most a quarter
    /// of the trace): minimises Σ (r(k) − A·γ^k)² with A in closed form, searching τ = −1/(rate·ln γ) between
    /// <see cref="MinDecayS"/> and <see cref="MaxDecayS"/> (golden section on ln τ).</summary>
    public static double DecayGamma(ReadOnlySpan<double> x, double frameRateHz)
    {
        int n = x.Length;
        int lags = Math.Clamp((int)Math.Round(FitLagsS * frameRateHz), 3, Math.Max(3, n / 4));
        double mean = 0;
        for (int t = 0; t < n; t++) mean += x[t];
        mean /= n;
        var c = new double[n];
        for (int t = 0; t < n; t++) c[t] = x[t] - mean;
        var r = new double[lags + 1];
        for (int k = 1; k <= lags && k < n; k++)
        {
            double s = 0;
            for (int t = 0; t + k < n; t++) s += c[t] * c[t + k];
            r[k] = s / n;
        }

        double Cost(double logTau)
        {
            double g = Math.Exp(-1.0 / (Math.Exp(logTau) * frameRateHz));
            double num = 0, den = 0, gk = 1;
            for (int k = 1; k <= lags; k++) { gk *= g; num += r[k] * gk; den += gk * gk; }
            double a = Math.Max(0, num / den);
            double cost = 0;
            gk = 1;
            for (int k = 1; k <= lags; k++) { gk *= g; double e = r[k] - a * gk; cost += e * e; }
            return cost;
        }

        double lo = Math.Log(Math.Max(MinDecayS, 1.0 / frameRateHz)), hi = Math.Log(MaxDecayS);
        // A coarse grid first (the cost can have more than one dip), then golden section around the best point.
        const int grid = 48;
        int best = 0;
        double bestCost = double.PositiveInfinity;
        for (int i = 0; i <= grid; i++)
        {
            double cst = Cost(lo + (hi - lo) * i / grid);
            if (cst < bestCost) { bestCost = cst; best = i; }
        }
        double a0 = lo + (hi - lo) * Math.Max(0, best - 1) / grid, b0 = lo + (hi - lo) * Math.Min(grid, best + 1) / grid;
        double phi = (Math.Sqrt(5) - 1) / 2;
        double x1 = b0 - phi * (b0 - a0), x2 = a0 + phi * (b0 - a0), f1 = Cost(x1), f2 = Cost(x2);
        for (int it = 0; it < 40; it++)
        {
            if (f1 < f2) { b0 = x2; x2 = x1; f2 = f1; x1 = b0 - phi * (b0 - a0); f1 = Cost(x1); }
            else { a0 = x1; x1 = x2; f1 = f2; x2 = a0 + phi * (b0 - a0); f2 = Cost(x2); }
        }
        double tau = Math.Exp(0.5 * (a0 + b0));
        return Math.Exp(-1.0 / (tau * frameRateHz));
    }

    internal static double[] Valid(ReadOnlySpan<float> trace)
    {
        var x = new double[trace.Length];
        int n = 0;
        foreach (float v in trace) if (float.IsFinite(v)) x[n++] = v;
        return n == x.Length ? x : x[..n];
    }
}
