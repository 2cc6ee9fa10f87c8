namespace ClosedLoop.Models.Training;

/// <summary>Training objectives.</summary>
public enum LossKind
{
    /// <summary>Binary cross-entropy of probabilities (sigmoid outputs) against 0/1 targets, mean over pixels.</summary>
    BinaryCrossEntropy,
    /// <summary>Soft Dice loss 1 − (2Σpy + 1)/(Σp + Σy + 1) per sample, mean over samples; insensitive to how rare the foreground is.</summary>
    Dice,
    /// <summary>Dice + binary cross-entropy, the usual choice for sparse masks such as neurons.</summary>
    DiceBce,
    /// <summary>Mean squared error.</summary>
    MeanSquaredError,
    /// <summary>Poisson negative log-likelihood of a rate λ given counts k: mean(λ − k·ln λ); outputs must be positive (softplus).</summary>
    PoissonNll,
}

/// <summary>Loss values and their gradients with respect to the network outputs.</summary>
public static class Losses
{
    private const float ProbabilityFloor = 1e-7f;
    private const float RateFloor = 1e-6f;
    private const float DiceSmooth = 1f;

    /// <summary>
    /// Computes the loss of <paramref name="output"/> against <paramref name="target"/> (both batch × sample floats) and
    /// writes d loss / d output to <paramref name="gradient"/>. Returns the loss (a mean, so it does not grow with the batch).
    /// </summary>
    public static double Compute(LossKind kind, ReadOnlySpan<float> output, ReadOnlySpan<float> target, int batch, Span<float> gradient)
    {
        if (target.Length != output.Length) throw new ArgumentException($"targets hold {target.Length} floats, outputs {output.Length}; they must match.", nameof(target));
        if (gradient.Length < output.Length) throw new ArgumentException("gradient buffer too small", nameof(gradient));
        if (batch < 1 || output.Length % batch != 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch must divide the output length");
        gradient = gradient[..output.Length];
        switch (kind)
        {
            case LossKind.BinaryCrossEntropy: return Bce(output, target, gradient, false);
            case LossKind.Dice: return Dice(output, target, batch, gradient, false);
            case LossKind.DiceBce: return Bce(output, target, gradient, false) + Dice(output, target, batch, gradient, true);
            case LossKind.MeanSquaredError:
            {
                double sum = 0, scale = 2.0 / output.Length;
                for (int i = 0; i < output.Length; i++)
                {
                    double e = output[i] - target[i];
                    sum += e * e;
                    gradient[i] = (float)(scale * e);
                }
                return sum / output.Length;
            }
            case LossKind.PoissonNll:
            {
                double sum = 0, scale = 1.0 / output.Length;
                for (int i = 0; i < output.Length; i++)
                {
                    double rate = Math.Max(output[i], RateFloor);
                    sum += rate - target[i] * Math.Log(rate);
                    gradient[i] = (float)(scale * (1 - target[i] / rate));
                }
                return sum / output.Length;
            }
            default: throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown loss");
        }
    }

    private static double Bce(ReadOnlySpan<float> p, ReadOnlySpan<float> y, Span<float> g, bool add)
    {
        double sum = 0, scale = 1.0 / p.Length;
        for (int i = 0; i < p.Length; i++)
        {
            double q = Math.Clamp(p[i], ProbabilityFloor, 1 - ProbabilityFloor);
            sum -= y[i] * Math.Log(q) + (1 - y[i]) * Math.Log(1 - q);
            float d = (float)(scale * (q - y[i]) / (q * (1 - q)));
            g[i] = add ? g[i] + d : d;
        }
        return sum / p.Length;
    }

    private static double Dice(ReadOnlySpan<float> p, ReadOnlySpan<float> y, int batch, Span<float> g, bool add)
    {
        int n = p.Length / batch;
        double total = 0;
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<float> ps = p.Slice(b * n, n), ys = y.Slice(b * n, n);
            Span<float> gs = g.Slice(b * n, n);
            double inter = 0, sp = 0, sy = 0;
            for (int i = 0; i < n; i++) { inter += ps[i] * ys[i]; sp += ps[i]; sy += ys[i]; }
            double num = 2 * inter + DiceSmooth, den = sp + sy + DiceSmooth;
            total += 1 - num / den;
            for (int i = 0; i < n; i++)
            {
                float d = (float)(-(2 * ys[i] * den - num) / (den * den) / batch);
                gs[i] = add ? gs[i] + d : d;
            }
        }
        return total / batch;
    }

    /// <summary>Hard Dice coefficient of probabilities thresholded at <paramref name="threshold"/> against 0/1 targets, over all samples.</summary>
    public static double DiceScore(ReadOnlySpan<float> probabilities, ReadOnlySpan<float> target, float threshold = 0.5f)
    {
        long inter = 0, a = 0, b = 0;
        for (int i = 0; i < probabilities.Length; i++)
        {
            bool p = probabilities[i] > threshold, t = target[i] > 0.5f;
            if (p && t) inter++;
            if (p) a++;
            if (t) b++;
        }
        return a + b == 0 ? 1 : 2.0 * inter / (a + b);
    }
}
