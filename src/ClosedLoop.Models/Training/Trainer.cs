namespace ClosedLoop.Models.Training;

/// <summary>Settings of a training run. Read once when the <see cref="Trainer"/> is created.</summary>
public sealed record TrainerSettings
{
    /// <summary>What is minimised.</summary>
    public LossKind Loss { get; init; } = LossKind.DiceBce;
    /// <summary>Adam step size.</summary>
    public double LearningRate { get; init; } = 3e-3;
    /// <summary>Adam β1.</summary>
    public double Beta1 { get; init; } = 0.9;
    /// <summary>Adam β2.</summary>
    public double Beta2 { get; init; } = 0.999;
    /// <summary>Adam ε.</summary>
    public double Epsilon { get; init; } = 1e-8;
    /// <summary>Decoupled weight decay (0 = none).</summary>
    public double WeightDecay { get; init; }
    /// <summary>Samples per mini-batch (1–4096).</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Threads a mini-batch is split across (results do not depend on it beyond float rounding of the gradient sum).</summary>
    public int Threads { get; init; } = 2;
    /// <summary>Seed of the shuffling; with the network's seed it makes a run repeatable.</summary>
    public int Seed { get; init; }
}

/// <summary>Mini-batch training of a <see cref="Network"/> with Adam.</summary>
public sealed class Trainer
{
    private readonly Network _net;
    private readonly AdamOptimizer _adam;
    private readonly Random _rng;
    private float[] _gradOut = [];
    private float[] _batchIn = [], _batchTarget = [];

    /// <summary>Prepares to train <paramref name="network"/> (its parameters are updated in place).</summary>
    public Trainer(Network network, TrainerSettings? settings = null)
    {
        _net = network ?? throw new ArgumentNullException(nameof(network));
        Settings = settings ?? new TrainerSettings();
        ClosedLoop.Core.Check.InRange("batchSize", Settings.BatchSize, 1, 4096);
        ClosedLoop.Core.Check.InRange("threads", Settings.Threads, 1, 64);
        _adam = new AdamOptimizer(network.Parameters.Length, Settings.LearningRate, Settings.Beta1, Settings.Beta2, Settings.Epsilon, Settings.WeightDecay);
        _rng = new Random(Settings.Seed);
        _net.Threads = Settings.Threads;
    }

    /// <summary>The settings in use.</summary>
    public TrainerSettings Settings { get; }

    /// <summary>The optimiser (its learning rate may be changed between steps).</summary>
    public AdamOptimizer Optimizer => _adam;

    /// <summary>One optimisation step on <paramref name="batch"/> samples; returns the loss before the step.</summary>
    public double Step(ReadOnlySpan<float> inputs, ReadOnlySpan<float> targets, int batch)
    {
        ReadOnlySpan<float> output = _net.ForwardForTraining(inputs, batch);
        if (targets.Length != output.Length)
            throw new ArgumentException($"targets hold {targets.Length} floats; a batch of {batch} outputs needs {output.Length} (shape [N, {string.Join(", ", _net.OutputShape)}]).", nameof(targets));
        if (_gradOut.Length < output.Length) _gradOut = new float[output.Length];
        Span<float> g = _gradOut.AsSpan(0, output.Length);
        double loss = Losses.Compute(Settings.Loss, output, targets, batch, g);
        _net.Backward(g, batch);
        _adam.Step(_net.Parameters, _net.Gradients);
        return loss;
    }

    /// <summary>
    /// Trains for <paramref name="epochs"/> passes over <paramref name="samples"/> samples (inputs and targets laid out
    /// sample after sample), in shuffled mini-batches; returns the mean loss of each epoch.
    /// </summary>
    public double[] Fit(float[] inputs, float[] targets, int samples, int epochs, Action<int, double>? onEpoch = null)
    {
        int inSize = _net.InputSize, outSize = _net.OutputSize;
        if (inputs.Length != samples * inSize) throw new ArgumentException($"inputs hold {inputs.Length} floats; {samples} samples of shape {ShapeMath.Format(_net.InputShape)} need {samples * inSize}.", nameof(inputs));
        if (targets.Length != samples * outSize) throw new ArgumentException($"targets hold {targets.Length} floats; {samples} samples of shape {ShapeMath.Format(_net.OutputShape)} need {samples * outSize}.", nameof(targets));
        int bs = Math.Min(Settings.BatchSize, samples);
        if (_batchIn.Length < bs * inSize) { _batchIn = new float[bs * inSize]; _batchTarget = new float[bs * outSize]; }
        var order = Enumerable.Range(0, samples).ToArray();
        var losses = new double[epochs];
        for (int e = 0; e < epochs; e++)
        {
            _rng.Shuffle(order);
            double sum = 0;
            int batches = 0;
            for (int start = 0; start < samples; start += bs)
            {
                int n = Math.Min(bs, samples - start);
                for (int j = 0; j < n; j++)
                {
                    int s = order[start + j];
                    inputs.AsSpan(s * inSize, inSize).CopyTo(_batchIn.AsSpan(j * inSize));
                    targets.AsSpan(s * outSize, outSize).CopyTo(_batchTarget.AsSpan(j * outSize));
                }
                sum += Step(_batchIn.AsSpan(0, n * inSize), _batchTarget.AsSpan(0, n * outSize), n);
                batches++;
            }
            losses[e] = sum / batches;
            onEpoch?.Invoke(e, losses[e]);
        }
        return losses;
    }
}
