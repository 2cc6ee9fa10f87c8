namespace ClosedLoop.Models.Training;

/// <summary>The Adam optimiser (Kingma and Ba 2015) with bias-corrected moments and optional decoupled weight decay.</summary>
public sealed class AdamOptimizer
{
    private readonly float[] _m, _v;
    private long _step;

    /// <summary>Creates the optimiser for <paramref name="parameterCount"/> parameters.</summary>
    /// <param name="parameterCount">Length of the parameter vector.</param>
    /// <param name="learningRate">Step size α (0 &lt; α ≤ 1).</param>
    /// <param name="beta1">Decay of the first moment (0 ≤ β1 &lt; 1).</param>
    /// <param name="beta2">Decay of the second moment (0 ≤ β2 &lt; 1).</param>
    /// <param name="epsilon">Added to √v̂ (&gt; 0).</param>
    /// <param name="weightDecay">Decoupled weight decay per step, as a fraction of α (AdamW; 0 = none).</param>
    public AdamOptimizer(int parameterCount, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 0)
    {
        ClosedLoop.Core.Check.InRange("learningRate", learningRate, 1e-9, 1);
        ClosedLoop.Core.Check.InRange("beta1", beta1, 0, 0.999999);
        ClosedLoop.Core.Check.InRange("beta2", beta2, 0, 0.999999999);
        ClosedLoop.Core.Check.InRange("epsilon", epsilon, 1e-12, 1);
        ClosedLoop.Core.Check.InRange("weightDecay", weightDecay, 0, 1);
        _m = new float[parameterCount];
        _v = new float[parameterCount];
        LearningRate = learningRate;
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
    }

    /// <summary>Step size α; may be changed between steps (a schedule).</summary>
    public double LearningRate { get; set; }
    /// <summary>First-moment decay.</summary>
    public double Beta1 { get; }
    /// <summary>Second-moment decay.</summary>
    public double Beta2 { get; }
    /// <summary>Denominator offset.</summary>
    public double Epsilon { get; }
    /// <summary>Decoupled weight decay.</summary>
    public double WeightDecay { get; }
    /// <summary>Steps taken.</summary>
    public long Steps => _step;

    /// <summary>Updates <paramref name="parameters"/> with <paramref name="gradients"/> (the gradient of a mean loss).</summary>
    public void Step(Span<float> parameters, ReadOnlySpan<float> gradients)
    {
        if (parameters.Length != _m.Length || gradients.Length != _m.Length)
            throw new ArgumentException($"the optimiser was made for {_m.Length} parameters, got {parameters.Length} parameters and {gradients.Length} gradients.");
        _step++;
        float b1 = (float)Beta1, b2 = (float)Beta2;
        double c1 = 1 - Math.Pow(Beta1, _step), c2 = 1 - Math.Pow(Beta2, _step);
        float stepSize = (float)(LearningRate * Math.Sqrt(c2) / c1);
        float eps = (float)(Epsilon * Math.Sqrt(c2));
        float decay = (float)(LearningRate * WeightDecay);
        for (int i = 0; i < parameters.Length; i++)
        {
            float g = gradients[i];
            float m = _m[i] = b1 * _m[i] + (1 - b1) * g;
            float v = _v[i] = b2 * _v[i] + (1 - b2) * g * g;
            parameters[i] -= stepSize * m / (MathF.Sqrt(v) + eps) + decay * parameters[i];
        }
    }
}
