namespace ClosedLoop.Models.Layers;

/// <summary>
/// One operation of a <see cref="Network"/>. A layer works on one sample at a time (the network splits a batch
/// across threads); its parameters live in the network's flat parameter vector, and its backward pass adds to the
/// gradients of its inputs and parameters (a value read by two layers collects both contributions). A layer
/// instance belongs to one network: the shapes it is bound to are fixed when the network is built.
/// </summary>
public abstract class Layer
{
    /// <summary>Number of inputs (1, or 2 for <see cref="Concat"/>).</summary>
    public virtual int InputCount => 1;

    /// <summary>Number of trainable floats (weights then biases); 0 for layers without parameters.</summary>
    public int ParameterCount { get; private protected set; }

    /// <summary>Per-sample input shapes, set when the network is built.</summary>
    public int[][] InputShapes { get; private set; } = [];

    /// <summary>Per-sample output shape, set when the network is built.</summary>
    public int[] OutputShape { get; private set; } = [];

    /// <summary>Short description for summaries, e.g. <c>Conv2d(4→8, 3×3)</c>.</summary>
    public abstract override string ToString();

    /// <summary>Checks the input shapes and returns the output shape; throws naming the layer when they do not fit.</summary>
    private protected abstract int[] Infer(int[][] inputShapes);

    /// <summary>Floats of scratch space a worker needs for this layer's forward and backward pass.</summary>
    internal virtual int WorkspaceSize => 0;

    /// <summary>Fixes the layer to its input shapes; called once by the network builder.</summary>
    internal void Bind(int[][] inputShapes)
    {
        if (inputShapes.Length != InputCount) throw new ArgumentException($"{this} takes {InputCount} input(s), got {inputShapes.Length}.");
        if (OutputShape.Length != 0) throw new InvalidOperationException($"{this} is already part of a network; create a new layer for each place it is used.");
        OutputShape = Infer(inputShapes);
        InputShapes = inputShapes;
    }

    /// <summary>Fills the layer's parameters for a fresh network (He initialisation for weights, zero biases).</summary>
    internal virtual void Initialize(Span<float> parameters, Random rng) { }

    /// <summary>Computes <see cref="LayerIO.Y"/> from the inputs.</summary>
    internal abstract void Forward(ref LayerIO io);

    /// <summary>Adds input gradients (where the spans are non-empty) and parameter gradients from <see cref="LayerIO.DY"/>.</summary>
    internal abstract void Backward(ref LayerIO io);

    /// <summary>Normal deviate from a seeded generator (Box–Muller).</summary>
    internal static double Gauss(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>He (Kaiming) normal initialisation: N(0, 2 / fanIn).</summary>
    internal static void HeNormal(Span<float> weights, int fanIn, Random rng)
    {
        double sd = Math.Sqrt(2.0 / fanIn);
        for (int i = 0; i < weights.Length; i++) weights[i] = (float)(sd * Gauss(rng));
    }
}

/// <summary>Spans a layer reads and writes for one sample: inputs, output, gradients, parameters and scratch.</summary>
internal ref struct LayerIO
{
    /// <summary>First input.</summary>
    public ReadOnlySpan<float> X0;
    /// <summary>Second input (Concat), else empty.</summary>
    public ReadOnlySpan<float> X1;
    /// <summary>Output (written by forward, read by backward).</summary>
    public Span<float> Y;
    /// <summary>Gradient of the loss with respect to the output.</summary>
    public ReadOnlySpan<float> DY;
    /// <summary>Gradient of the first input (accumulated); empty when not needed.</summary>
    public Span<float> DX0;
    /// <summary>Gradient of the second input (accumulated); empty when not needed.</summary>
    public Span<float> DX1;
    /// <summary>The layer's parameters.</summary>
    public ReadOnlySpan<float> P;
    /// <summary>Gradient of the layer's parameters (accumulated).</summary>
    public Span<float> DP;
    /// <summary>Scratch space of at least <see cref="Layer.WorkspaceSize"/> floats.</summary>
    public Span<float> Work;
}
