using System.Text;
using ClosedLoop.Models.Layers;

namespace ClosedLoop.Models;

/// <summary>One node of a <see cref="Network"/>: the layer, the nodes it reads, and its per-sample output shape.</summary>
/// <param name="Index">Node number (0 is the network's input).</param>
/// <param name="Layer">The operation; null for the input node.</param>
/// <param name="Inputs">Node numbers read by the layer.</param>
/// <param name="Shape">Per-sample output shape.</param>
/// <param name="ParameterOffset">Where the layer's parameters start in <see cref="Network.Parameters"/>.</param>
public sealed record NetworkNode(int Index, Layer? Layer, int[] Inputs, int[] Shape, int ParameterOffset);

/// <summary>
/// Builds a <see cref="Network"/> as a graph: node 0 is the input, each <see cref="Add(Layer, int[])"/> appends a layer
/// reading earlier nodes (the previous node by default), so a plain stack and a U-Net with skip connections are
/// written the same way.
/// </summary>
public sealed class NetworkBuilder
{
    private readonly List<NetworkNode> _nodes = [];
    private int _parameters;

    /// <summary>Starts a network whose samples have <paramref name="inputShape"/> ([C, H, W] images, [C, L] traces).</summary>
    public NetworkBuilder(params int[] inputShape)
    {
        int[] s = ShapeMath.Validate(inputShape, nameof(inputShape));
        if (s.Length is < 1 or > 3) throw new ArgumentException($"input shape {ShapeMath.Format(s)} is not allowed; it must be [F], [C, L] or [C, H, W].", nameof(inputShape));
        _nodes.Add(new NetworkNode(0, null, [], s, 0));
    }

    /// <summary>The input node (0).</summary>
    public int Input => 0;

    /// <summary>The most recently added node.</summary>
    public int Last => _nodes.Count - 1;

    /// <summary>Per-sample output shape of a node.</summary>
    public int[] ShapeOf(int node) => (int[])_nodes[node].Shape.Clone();

    /// <summary>Appends <paramref name="layer"/> reading the previous node.</summary>
    public int Add(Layer layer) => Add(layer, Last);

    /// <summary>Appends <paramref name="layer"/> reading <paramref name="inputs"/> (earlier node numbers); returns its node number.</summary>
    public int Add(Layer layer, params int[] inputs)
    {
        ArgumentNullException.ThrowIfNull(layer);
        foreach (int i in inputs)
            if (i < 0 || i >= _nodes.Count) throw new ArgumentOutOfRangeException(nameof(inputs), i, $"a layer may only read earlier nodes (0–{_nodes.Count - 1})");
        layer.Bind(inputs.Select(i => _nodes[i].Shape).ToArray());
        _nodes.Add(new NetworkNode(_nodes.Count, layer, (int[])inputs.Clone(), layer.OutputShape, _parameters));
        _parameters += layer.ParameterCount;
        return _nodes.Count - 1;
    }

    /// <summary>Finishes the network with <paramref name="output"/> (default: the last node) as its output and
    /// He-initialised weights drawn from <paramref name="seed"/>; the same seed gives the same network.</summary>
    public Network Build(int? output = null, int seed = 0)
    {
        int outNode = output ?? Last;
        if (outNode < 1 || outNode >= _nodes.Count) throw new ArgumentOutOfRangeException(nameof(output), outNode, "the output must be a layer node");
        var net = new Network(_nodes.Take(outNode + 1).ToArray());
        net.Initialize(seed);
        return net;
    }
}

/// <summary>
/// A feed-forward network of <see cref="Layer"/>s with one input and one output. Parameters are one flat vector
/// (what the optimiser updates). A batch is split into fixed contiguous ranges, one per thread
/// (<see cref="Threads"/>), so results and gradients do not depend on scheduling. Activation buffers are kept for
/// the largest batch seen: with one thread, <see cref="Forward"/> allocates nothing after the first call of a size.
/// Not thread-safe: one call at a time per instance.
/// </summary>
public sealed class Network
{
    private readonly NetworkNode[] _nodes;
    private readonly int[] _sizes;
    private float[][] _acts;
    private int _capacity, _trainingCapacity;
    private bool _training;
    private Worker[] _workers = [];
    private float[] _dOut = [];
    private int _threads = 1;

    internal Network(NetworkNode[] nodes)
    {
        _nodes = nodes;
        _sizes = nodes.Select(n => ShapeMath.Product(n.Shape)).ToArray();
        Parameters = new float[nodes.Sum(n => n.Layer?.ParameterCount ?? 0)];
        Gradients = new float[Parameters.Length];
        _acts = new float[nodes.Length][];
        for (int i = 0; i < nodes.Length; i++) _acts[i] = [];
        WorkspaceSize = nodes.Max(n => n.Layer?.WorkspaceSize ?? 0);
    }

    /// <summary>The nodes in evaluation order; node 0 is the input, the last node the output.</summary>
    public IReadOnlyList<NetworkNode> Nodes => _nodes;

    /// <summary>All trainable parameters, layer after layer (weights then biases, ONNX layout).</summary>
    public float[] Parameters { get; }

    /// <summary>Gradient of the last <see cref="Backward"/> (summed over its batch).</summary>
    public float[] Gradients { get; }

    /// <summary>Per-sample input shape.</summary>
    public int[] InputShape => (int[])_nodes[0].Shape.Clone();

    /// <summary>Per-sample output shape.</summary>
    public int[] OutputShape => (int[])_nodes[^1].Shape.Clone();

    /// <summary>Floats per input sample.</summary>
    public int InputSize => _sizes[0];

    /// <summary>Floats per output sample.</summary>
    public int OutputSize => _sizes[^1];

    /// <summary>Threads a batch is split across (1–64; default 1, the allocation-free path).</summary>
    public int Threads
    {
        get => _threads;
        set
        {
            if (value < 1 || value > 64) throw new ArgumentOutOfRangeException(nameof(Threads), value, "Threads must be between 1 and 64");
            _threads = value;
        }
    }

    internal int WorkspaceSize { get; }

    internal void Initialize(int seed)
    {
        var rng = new Random(seed);
        foreach (var n in _nodes)
            n.Layer?.Initialize(Parameters.AsSpan(n.ParameterOffset, n.Layer.ParameterCount), rng);
    }

    /// <summary>Runs <paramref name="batch"/> samples (<paramref name="input"/>: batch × <see cref="InputSize"/> floats)
    /// and writes batch × <see cref="OutputSize"/> floats to <paramref name="output"/>.</summary>
    public void Forward(ReadOnlySpan<float> input, int batch, Span<float> output)
    {
        CheckIo(input.Length, output.Length, batch);
        Reserve(batch, training: false);
        input[..(batch * InputSize)].CopyTo(_acts[0]);
        _training = false;
        RunForward(batch);
        _acts[^1].AsSpan(0, batch * OutputSize).CopyTo(output);
    }

    private void CheckIo(int inputLength, int outputLength, int batch)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch must be ≥ 1");
        if (inputLength != batch * InputSize)
            throw new ArgumentException($"the network expects input of shape [N, {string.Join(", ", _nodes[0].Shape)}] = {batch} × {InputSize} floats for a batch of {batch}, got {inputLength} floats.", "input");
        if (outputLength < batch * OutputSize)
            throw new ArgumentException($"the output buffer holds {outputLength} floats; a batch of {batch} needs {batch} × {OutputSize} (shape [N, {string.Join(", ", _nodes[^1].Shape)}]).", "output");
    }

    /// <summary>Forward pass for training: keeps every activation for <see cref="Backward"/>; returns the outputs.</summary>
    internal ReadOnlySpan<float> ForwardForTraining(ReadOnlySpan<float> input, int batch)
    {
        CheckIo(input.Length, int.MaxValue, batch);
        Reserve(batch, training: true);
        input.CopyTo(_acts[0]);
        _training = true;
        RunForward(batch);
        return _acts[^1].AsSpan(0, batch * OutputSize);
    }

    /// <summary>Back-propagates <paramref name="outputGradient"/> (batch × <see cref="OutputSize"/>, for the batch of the
    /// last <see cref="ForwardForTraining"/>) and stores the parameter gradient, summed over the batch, in <see cref="Gradients"/>.</summary>
    internal void Backward(ReadOnlySpan<float> outputGradient, int batch)
    {
        if (!_training || batch > _trainingCapacity) throw new InvalidOperationException("Backward needs the activations of a ForwardForTraining of the same batch");
        if (outputGradient.Length != batch * OutputSize) throw new ArgumentException("output gradient size does not match the batch");
        if (_dOut.Length < outputGradient.Length) _dOut = new float[_capacity * OutputSize];
        outputGradient.CopyTo(_dOut);
        int t = Math.Min(_threads, batch);
        if (t == 1) BackwardRange(_workers[0], 0, batch);
        else BackwardParallel(batch, t);
        Array.Copy(_workers[0].DParams, Gradients, Gradients.Length);
        for (int w = 1; w < t; w++) System.Numerics.Tensors.TensorPrimitives.Add(Gradients, _workers[w].DParams, Gradients);
    }

    /// <summary>
    /// Sizes the buffers. Input and output always hold the whole batch. Training keeps every intermediate activation
    /// of the batch for the backward pass; inference only needs one sample's intermediates per worker, which keeps
    /// the working set in cache however large the batch.
    /// </summary>
    private void Reserve(int batch, bool training)
    {
        int workers = Math.Max(1, _threads);
        if (_workers.Length < workers)
        {
            var grown = new Worker[workers];
            for (int w = 0; w < workers; w++) grown[w] = w < _workers.Length ? _workers[w] : new Worker(this);
            _workers = grown;
        }
        if (batch > _capacity)
        {
            _capacity = batch;
            _acts[0] = new float[checked(batch * _sizes[0])];
            _acts[^1] = new float[checked(batch * _sizes[^1])];
        }
        if (training && batch > _trainingCapacity)
        {
            _trainingCapacity = batch;
            for (int i = 1; i < _nodes.Length - 1; i++)
                _acts[i] = new float[(long)batch * _sizes[i] > int.MaxValue ? throw new OutOfMemoryException($"a batch of {batch} is too large to train this network at once") : batch * _sizes[i]];
        }
    }

    private void RunForward(int batch)
    {
        int t = Math.Min(_threads, batch);
        if (t == 1) ForwardRange(_workers[0], 0, batch);
        else ForwardParallel(batch, t);
    }

    // Kept apart so that the closure is only allocated on the multi-threaded path.
    private void ForwardParallel(int batch, int t) =>
        Parallel.For(0, t, new ParallelOptions { MaxDegreeOfParallelism = t }, w => ForwardRange(_workers[w], w * batch / t, (w + 1) * batch / t));

    private void BackwardParallel(int batch, int t) =>
        Parallel.For(0, t, new ParallelOptions { MaxDegreeOfParallelism = t }, w => BackwardRange(_workers[w], w * batch / t, (w + 1) * batch / t));

    private void ForwardRange(Worker worker, int from, int to)
    {
        for (int s = from; s < to; s++)
            for (int i = 1; i < _nodes.Length; i++)
            {
                var n = _nodes[i];
                var io = new LayerIO
                {
                    X0 = Activation(worker, n.Inputs[0], s),
                    X1 = n.Inputs.Length > 1 ? Activation(worker, n.Inputs[1], s) : default,
                    Y = Activation(worker, i, s),
                    P = Parameters.AsSpan(n.ParameterOffset, n.Layer!.ParameterCount),
                    Work = worker.Workspace,
                };
                n.Layer.Forward(ref io);
            }
    }

    private void BackwardRange(Worker worker, int from, int to)
    {
        Array.Clear(worker.DParams);
        for (int s = from; s < to; s++)
        {
            for (int i = 1; i < _nodes.Length - 1; i++) Array.Clear(worker.DActs[i]);
            _dOut.AsSpan(s * OutputSize, OutputSize).CopyTo(worker.DActs[^1]);
            for (int i = _nodes.Length - 1; i >= 1; i--)
            {
                var n = _nodes[i];
                int in0 = n.Inputs[0], in1 = n.Inputs.Length > 1 ? n.Inputs[1] : -1;
                var io = new LayerIO
                {
                    X0 = Activation(worker, in0, s),
                    X1 = in1 >= 0 ? Activation(worker, in1, s) : default,
                    Y = Activation(worker, i, s),
                    DY = worker.DActs[i],
                    DX0 = in0 == 0 ? default : worker.DActs[in0].AsSpan(),
                    DX1 = in1 > 0 ? worker.DActs[in1].AsSpan() : default,
                    P = Parameters.AsSpan(n.ParameterOffset, n.Layer!.ParameterCount),
                    DP = worker.DParams.AsSpan(n.ParameterOffset, n.Layer.ParameterCount),
                    Work = worker.Workspace,
                };
                n.Layer.Backward(ref io);
            }
        }
    }

    private Span<float> Activation(Worker worker, int node, int sample) =>
        _training || node == 0 || node == _nodes.Length - 1
            ? _acts[node].AsSpan(sample * _sizes[node], _sizes[node])
            : worker.SampleActs[node];

    /// <summary>One line per layer with its output shape and parameter count, then the total.</summary>
    public string Summary()
    {
        var sb = new StringBuilder();
        foreach (var n in _nodes)
        {
            string what = n.Layer?.ToString() ?? "Input";
            string from = n.Inputs.Length == 0 ? "" : " ← " + string.Join(", ", n.Inputs.Select(i => "#" + i));
            sb.AppendLine($"#{n.Index,-3} {what,-34} {ShapeMath.Format(n.Shape),-16} {n.Layer?.ParameterCount ?? 0,7} params{from}");
        }
        sb.Append($"total {Parameters.Length} parameters");
        return sb.ToString();
    }

    private sealed class Worker
    {
        public Worker(Network net)
        {
            Workspace = new float[Math.Max(1, net.WorkspaceSize)];
            DParams = new float[net.Parameters.Length];
            DActs = net._sizes.Select(s => new float[s]).ToArray();
            SampleActs = net._sizes.Select(s => new float[s]).ToArray();
        }

        /// <summary>One sample's intermediate activations (inference).</summary>
        public float[][] SampleActs { get; }

        public float[] Workspace { get; }
        public float[] DParams { get; }
        public float[][] DActs { get; }
    }
}
