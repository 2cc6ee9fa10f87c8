using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ClosedLoop.Core;
using ClosedLoop.Models;
using ClosedLoop.Models.Layers;

namespace ClosedLoop.Spikes.Cnn;

/// <summary>
/// Exact sample-by-sample evaluation of one spike CNN of the <see cref="Architectures.SpikeCnn"/> family
/// (n × [Conv1d(K) + ReLU, MaxPool 2 after all but the last], Flatten, Dense(H) + ReLU, Dense(1) + Softplus) for many
/// ROIs at once. After <see cref="WindowSamples"/> steps, the output of each <see cref="Step"/> equals the network's
/// forward pass on the window of the last W inputs (up to float rounding).
/// <para><b>How.</b> Layer ℓ of the window sits on a grid of stride 2^ℓ samples ending at the newest sample, so the
/// pooled layers become stride-1 streams whose convolutions are dilated by 2^ℓ: a position of the window whose whole
/// receptive field stays clear of the window's zero padding equals the stream value at its time, which was computed
/// once, in an earlier step, and kept in a ring per layer. Each step computes only (a) the one new stream column of
/// each layer and (b) with "same" padding, the few positions at either end of the window whose receptive field reaches
/// the zero padding (they differ from window to window), then the dense layers over the last layer's window. For the
/// default 64-sample, 9/5/3-kernel same-padding network that is about a third of the multiply-adds of a window
/// forward.</para>
/// <para><b>Valid padding.</b> A network whose convolutions all pad "valid" (none) has no edge positions: every
/// position of every layer is a stream value. A step then computes each layer's new column straight from the rings,
/// keeps the pooled value max(a(t − 2^ℓ), a(t)) the next layer reads in a ring of its own, and runs the dense layer on
/// the last layer's positions where they lie in its ring: for the 128-sample, 9/5/5/3-kernel, 8-filter, 16-hidden shape,
/// 904 multiply-adds for the columns and 1 296 for the dense layers, against 37 456 for a window forward. Mixing
/// same and valid convolutions in one network is refused.</para>
/// <para><b>Layout.</b> ROIs in blocks of 8 lanes (<see cref="Vector256{T}"/>); every buffer holds 8 ROIs per float
/// vector, so each weight is broadcast once per 8 ROIs. Same padding keeps each block's rings together; valid padding
/// keeps each ring entry for all blocks together ([entry][block][channel][8]) and each ring only as deep as it is read,
/// so a step sweeps the entries it reads once across the blocks. All state is allocated in the constructor;
/// <see cref="Step"/> allocates nothing. Not thread-safe.</para>
/// </summary>
public sealed unsafe class StreamingSpikeCnn
{
    private const int Lanes = 8;

    private sealed class ConvLayer
    {
        // Length: output positions; InLength: input positions (= Length for same padding, Length + K − 1 for valid);
        // Pad: zeros on each side of the input (K / 2 for same padding, 0 for valid). Output position p reads input
        // positions p − Pad … p − Pad + K − 1.
        public int Cin, Cout, K, Pad, InLength, Length, Stride, Left, Right;
        public bool HasInterior;
        public bool PoolInput; // the input is the max-pooled output of the previous layer
        public float[] Weights = [];  // [ceil(Cout/8)][K][Cin][8]
        public float[] Bias = [];     // [ceil(Cout/8) * 8]
        // Offsets (floats) of the ring [R][Cout][8] within a block's state, and of the edge buffers [Left|Right][Cout][8]
        // within the shared edge scratch.
        public int RingOffset, LeftOffset, RightOffset;
        // Ring entries (stream values kept: the oldest one read is RingLength − 1 samples old) and this step's entry.
        public int RingLength, NewSlot;
        // Valid padding only: the ring [PRingLength][Cout][8] of pooled values max(a(τ − Stride), a(τ)) the next layer
        // reads (none after the last layer), and this step's offsets (floats, within a block's state) of the new
        // column, of the value Stride samples older, of the new pooled value and of each kernel tap's input vectors.
        public int PRingLength, POffset, NewAt, OldAt, PNewAt;
        public int[] TapAt = [];
        // Pinned addresses of Weights, Bias and TapAt, for the valid-padding loop.
        public float* WeightsAt, BiasAt;
        public int* TapAtAt;
    }

    private readonly ConvLayer[] _layers;
    private readonly int _xRingLength, _blockFloats, _blocks, _hidden, _lastLength, _lastChannels;
    private readonly float[] _state;      // [blocks][blockFloats], pinned
    private readonly float[] _dense1;     // [ceil(H/8)][lastLength][lastChannels][8]
    private readonly float[] _dense1Bias; // [ceil(H/8) * 8]
    private readonly float[] _dense2;     // [H]
    private readonly float _dense2Bias;
    private readonly float[] _gather;     // scratch: gathered layer input or dense input, [positions][channels][8]
    private readonly float[] _hiddenBuf;  // scratch: [ceil(H/8) * 8][8]
    private readonly float[] _partialBuf; // scratch (valid padding): 8 outputs of a last, partial group of 8, [8][8], pinned
    private readonly float* _partial;
    private readonly int _xOffset;
    private readonly bool _valid;
    private int _xNewSlot;
    private readonly int[] _denseAt;      // valid padding: this step's offsets of the last layer's positions
    private readonly float[] _edges;      // scratch: this step's edge values of every layer, pinned
    private readonly float* _edgeBase;
    private long _steps;

    /// <summary>Builds the evaluator for <paramref name="network"/> and <paramref name="rois"/> ROIs; a network outside the
    /// family gives a <see cref="SettingException"/> naming <paramref name="source"/>.</summary>
    public StreamingSpikeCnn(Network network, int rois, string source = "model")
    {
        ArgumentNullException.ThrowIfNull(network);
        Check.InRange("rois", rois, 1, 1_000_000);
        Rois = rois;
        _blocks = (rois + Lanes - 1) / Lanes;
        var inShape = network.InputShape;
        if (inShape.Length != 2 || inShape[0] != 1) throw Unsupported(source, $"input [N, {string.Join(", ", inShape)}] (needs [N, 1, W])");
        WindowSamples = inShape[1];

        // Parse: n × [Conv1d, Relu, MaxPool?], Flatten*, Dense(H), Relu, Dense(1), Softplus.
        var nodes = network.Nodes;
        var parameters = network.Parameters;
        var convs = new List<(Conv1d Conv, int Offset)>();
        int i = 1;
        bool pooled = false;
        while (i < nodes.Count && nodes[i].Layer is Conv1d conv)
        {
            if (conv.DilationW != 1) throw Unsupported(source, $"{conv} (dilated convolutions are not in the family)");
            if (convs.Count > 0 && conv.Padding != convs[0].Conv.Padding)
                throw Unsupported(source, $"{convs[0].Conv} and {conv}: convolutions with both same and valid padding (streaming needs one padding for all)");
            if (conv.Padding == ConvPadding.Same && conv.KernelW % 2 == 0)
                throw Unsupported(source, $"{conv} (an even kernel with same padding)");
            if (pooled == false && convs.Count > 0) throw Unsupported(source, "two convolutions without a pooling between them");
            convs.Add((conv, nodes[i].ParameterOffset));
            i++;
            if (i >= nodes.Count || nodes[i].Layer is not Activation { Kind: ActivationKind.Relu }) throw Unsupported(source, "a ReLU after each convolution");
            i++;
            pooled = i < nodes.Count && nodes[i].Layer is MaxPool { SpatialRank: 1 };
            if (pooled) i++;
        }
        if (convs.Count == 0) throw Unsupported(source, "no Conv1d layer");
        if (pooled) throw Unsupported(source, "a pooling after the last convolution");
        while (i < nodes.Count && nodes[i].Layer is Flatten) i++;
        if (i + 3 >= nodes.Count || nodes[i].Layer is not Dense d1 || nodes[i + 1].Layer is not Activation { Kind: ActivationKind.Relu }
            || nodes[i + 2].Layer is not Dense { OutFeatures: 1 } d2 || nodes[i + 3].Layer is not Activation { Kind: ActivationKind.Softplus } || i + 4 != nodes.Count)
            throw Unsupported(source, "Flatten, Dense(H), ReLU, Dense(1), Softplus after the convolutions");

        // Geometry and which window positions reach the zero padding ("edge" positions).
        _layers = new ConvLayer[convs.Count];
        bool[] inInterior = Enumerable.Repeat(true, WindowSamples).ToArray();
        int length = WindowSamples;
        for (int l = 0; l < convs.Count; l++)
        {
            var (conv, offset) = convs[l];
            int pad = conv.PadW;
            int outLength = length + 2 * pad - (conv.KernelW - 1);
            if (outLength < 1) throw Unsupported(source, $"{conv} on {length} positions (no output left)");
            var layer = new ConvLayer
            {
                Cin = conv.InChannels, Cout = conv.OutChannels, K = conv.KernelW, Pad = pad,
                InLength = length, Length = outLength, Stride = 1 << l, PoolInput = l > 0,
            };
            length = outLength;
            var interior = new bool[length];
            for (int p = 0; p < length; p++)
            {
                bool ok = true;
                for (int q = p - pad; q < p - pad + layer.K && ok; q++) ok = q >= 0 && q < layer.InLength && inInterior[q];
                interior[p] = ok;
            }
            int left = 0; while (left < length && !interior[left]) left++;
            int right = 0; while (right < length - left && !interior[length - 1 - right]) right++;
            for (int p = left; p < length - right; p++)
                if (!interior[p]) { left = length; right = 0; break; } // not contiguous (cannot happen for this family): treat all as edge
            layer.HasInterior = left + right < length;
            if (!layer.HasInterior) { left = length; right = 0; }
            layer.Left = left; layer.Right = right;
            layer.Weights = RearrangeConv(parameters.AsSpan(offset, conv.WeightCount), layer.Cout, layer.Cin, layer.K);
            layer.Bias = PadBias(parameters.AsSpan(offset + conv.WeightCount, layer.Cout));
            _layers[l] = layer;
            if (l < convs.Count - 1)
            {
                if (length % 2 != 0) throw Unsupported(source, $"an odd length {length} before a pooling");
                var next = new bool[length / 2];
                for (int q = 0; q < next.Length; q++) next[q] = interior[2 * q] && interior[2 * q + 1];
                inInterior = next;
                length /= 2;
            }
        }
        for (int l = 1; l < _layers.Length; l++)
            if (_layers[l].Cin != _layers[l - 1].Cout) throw Unsupported(source, "channels that do not chain");
        var last = _layers[^1];
        _lastLength = last.Length; _lastChannels = last.Cout;
        if (d1.InFeatures != _lastLength * _lastChannels) throw Unsupported(source, $"{d1} after a [{_lastChannels}, {_lastLength}] convolution");
        _hidden = d1.OutFeatures;

        // Rings. With same padding the edge positions read anywhere in the window: a stream value is read at most
        // W − 1 samples after its time. With valid padding only the newest columns are read: layer ℓ + 1's new column
        // reads layer ℓ back to 2^ℓ · (2 K(ℓ+1) − 1) samples, the dense layer reads the last layer back to its first
        // position, and layer 1 reads the input back K(1) − 1 samples. Short rings keep the state in cache.
        _valid = convs[0].Conv.Padding == ConvPadding.Valid;
        _xRingLength = _valid ? _layers[0].K : WindowSamples;
        for (int l = 0; l < _layers.Length; l++)
        {
            var layer = _layers[l];
            bool isLast = l == _layers.Length - 1;
            layer.RingLength = !_valid ? WindowSamples : isLast ? layer.Stride * (layer.Length - 1) + 1 : layer.Stride + 1;
            layer.PRingLength = _valid && !isLast ? _layers[l + 1].Stride * (_layers[l + 1].K - 1) + 1 : 0;
            layer.TapAt = GC.AllocateArray<int>(layer.K, pinned: true);
            layer.WeightsAt = (float*)Unsafe.AsPointer(ref layer.Weights[0]);
            layer.BiasAt = (float*)Unsafe.AsPointer(ref layer.Bias[0]);
            layer.TapAtAt = (int*)Unsafe.AsPointer(ref layer.TapAt[0]);
        }
        // Same padding: each block's state is contiguous, [x ring][ring of layer 1]…; valid padding: each ring entry
        // holds all blocks, [entry][block][C][8], so a step reads every ring entry it needs as one sweep over the
        // blocks (offsets below are then those of block 0).
        long blocksPerEntry = _valid ? _blocks : 1;
        long at = 0;
        _xOffset = (int)at; at += _xRingLength * Lanes * blocksPerEntry;
        int edgeFloats = 0;
        foreach (var layer in _layers)
        {
            layer.RingOffset = (int)at; if (layer.HasInterior) at += layer.RingLength * layer.Cout * Lanes * blocksPerEntry;
            layer.POffset = (int)at; at += layer.PRingLength * layer.Cout * Lanes * blocksPerEntry;
            // Edge values are recomputed every step: they live in one scratch area shared by all blocks (kept in cache).
            layer.LeftOffset = edgeFloats; edgeFloats += layer.Left * layer.Cout * Lanes;
            layer.RightOffset = edgeFloats; edgeFloats += layer.Right * layer.Cout * Lanes;
        }
        long stateFloats = _valid ? at : _blocks * at;
        if (stateFloats > Array.MaxLength)
            throw new SettingException("rois", rois, $"at most {(long)Array.MaxLength * rois / stateFloats} ROIs for the state of {source} ({stateFloats * sizeof(float) / _blocks} bytes per 8 ROIs)");
        _blockFloats = _valid ? 0 : (int)at;
        _state = GC.AllocateArray<float>((int)stateFloats, pinned: true);
        _edges = GC.AllocateArray<float>(Math.Max(1, edgeFloats), pinned: true);
        _edgeBase = (float*)Unsafe.AsPointer(ref _edges[0]);

        // Dense 1 in the gathered order [position][channel]; the network's Flatten order is [channel][position].
        int hb = (_hidden + Lanes - 1) / Lanes;
        int dOffset = nodes[i].ParameterOffset;
        _dense1 = GC.AllocateArray<float>(hb * _lastLength * _lastChannels * Lanes, pinned: true);
        for (int h = 0; h < _hidden; h++)
            for (int p = 0; p < _lastLength; p++)
                for (int c = 0; c < _lastChannels; c++)
                    _dense1[(((h / Lanes) * _lastLength + p) * _lastChannels + c) * Lanes + h % Lanes] = parameters[dOffset + h * d1.InFeatures + c * _lastLength + p];
        _dense1Bias = PadBias(parameters.AsSpan(dOffset + d1.WeightCount, _hidden));
        int d2Offset = nodes[i + 2].ParameterOffset;
        _dense2 = parameters.AsSpan(d2Offset, _hidden).ToArray();
        _dense2Bias = parameters[d2Offset + _hidden];

        int gather = _lastLength * _lastChannels;
        foreach (var layer in _layers) gather = Math.Max(gather, (Math.Max(layer.Left, layer.Right + 1) + layer.K - 1) * layer.Cin);
        _gather = GC.AllocateArray<float>(gather * Lanes, pinned: true);
        _hiddenBuf = GC.AllocateArray<float>(hb * Lanes * Lanes, pinned: true);
        _denseAt = new int[_lastLength];
        _partialBuf = GC.AllocateArray<float>(Lanes * Lanes, pinned: true);
        _partial = (float*)Unsafe.AsPointer(ref _partialBuf[0]);
        MultiplyAddsPerStep = _layers.Sum(l => (long)ComputedTaps(l) * l.Cin * l.Cout) + (long)_hidden * _lastLength * _lastChannels + _hidden;
        WindowMultiplyAdds = _layers.Sum(l => (long)l.Length * l.K * l.Cin * l.Cout) + (long)_hidden * _lastLength * _lastChannels + _hidden;
    }

    /// <summary>Kernel taps computed per step for a layer: the new column's K, plus each edge position's taps that
    /// fall inside the window.</summary>
    private static int ComputedTaps(ConvLayer l)
    {
        int taps = l.HasInterior ? l.K : 0;
        for (int p = 0; p < l.Length; p++)
            if (p < l.Left || p >= l.Length - l.Right)
                taps += Math.Min(l.K - 1, l.InLength - 1 - p + l.Pad) - Math.Max(0, l.Pad - p) + 1;
        return taps;
    }

    private static SettingException Unsupported(string source, string what) =>
        new("model", source, $"a spike CNN of the Architectures.SpikeCnn family for streaming; found {what}");

    private static float[] RearrangeConv(ReadOnlySpan<float> w, int cout, int cin, int k)
    {
        int ob = (cout + Lanes - 1) / Lanes;
        var r = GC.AllocateArray<float>(ob * k * cin * Lanes, pinned: true);
        for (int o = 0; o < cout; o++)
            for (int c = 0; c < cin; c++)
                for (int j = 0; j < k; j++)
                    r[(((o / Lanes) * k + j) * cin + c) * Lanes + o % Lanes] = w[(o * cin + c) * k + j];
        return r;
    }

    private static float[] PadBias(ReadOnlySpan<float> b)
    {
        var r = GC.AllocateArray<float>((b.Length + Lanes - 1) / Lanes * Lanes, pinned: true);
        b.CopyTo(r);
        return r;
    }

    /// <summary>ROIs evaluated per step.</summary>
    public int Rois { get; }

    /// <summary>Samples per window W: outputs are exact once this many steps have run.</summary>
    public int WindowSamples { get; }

    /// <summary>Steps run since construction or <see cref="Reset"/>.</summary>
    public long Steps => _steps;

    /// <summary>True once <see cref="WindowSamples"/> steps have run, so each output is the window forward's.</summary>
    public bool Ready => _steps >= WindowSamples;

    /// <summary>Multiply-adds per ROI per step (new columns, edge positions — none with valid padding —, dense layers).</summary>
    public long MultiplyAddsPerStep { get; }

    /// <summary>Multiply-adds per ROI of one window forward of the same network, for comparison.</summary>
    public long WindowMultiplyAdds { get; }

    /// <summary>Forgets every sample (the rings are cleared).</summary>
    public void Reset()
    {
        Array.Clear(_state);
        _steps = 0;
    }

    /// <summary>
    /// Takes one new (normalised) sample per ROI, <paramref name="x"/>[roi], and writes the network's output for the
    /// window that ends at it — the rate of the sample <c>look-ahead</c> steps ago — to <paramref name="output"/>[roi].
    /// Inputs must be finite (the caller holds the last valid value over NaN). Allocates nothing.
    /// </summary>
    public void Step(ReadOnlySpan<float> x, Span<float> output)
    {
        if (output.Length < Rois) throw new ArgumentException($"output holds {output.Length} floats; {Rois} ROIs need one each.", nameof(output));
        Run(x, output, true);
    }

    /// <summary>
    /// Takes one new sample per ROI without computing an output: only the new stream column of each layer runs (no
    /// edge positions, no dense layers): for the shipped 128-sample shape a third of a <see cref="Step"/> with same padding
    /// (2 968 of 8 760 multiply-adds), two fifths with valid padding (904 of 2 200). For samples
    /// whose rate nobody reads, e.g. all but the last model sample of a frame when the model rate exceeds the frame rate.
    /// </summary>
    public void Advance(ReadOnlySpan<float> x) => Run(x, default, false);

    private void Run(ReadOnlySpan<float> x, Span<float> output, bool withOutput)
    {
        if (x.Length < Rois) throw new ArgumentException($"x holds {x.Length} samples; {Rois} ROIs need one each.", nameof(x));
        if (_valid) { RunValid(x, output, withOutput); return; }
        long t = _steps;
        Span<float> lane = stackalloc float[Lanes];
        _xNewSlot = (int)(t % _xRingLength);
        foreach (var layer in _layers) layer.NewSlot = (int)(t % layer.RingLength);
        fixed (float* state = _state, gather = _gather, hidden = _hiddenBuf, d1 = _dense1, d1b = _dense1Bias)
        {
            for (int b = 0; b < _blocks; b++)
            {
                float* s = state + (long)b * _blockFloats;
                int n = Math.Min(Lanes, Rois - b * Lanes);
                // Input ring.
                float* xSlot = s + _xOffset + _xNewSlot * Lanes;
                if (n == Lanes) Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(x), (nuint)(b * Lanes)).Store(xSlot);
                else { for (int k = 0; k < Lanes; k++) xSlot[k] = k < n ? x[b * Lanes + k] : 0f; }

                for (int l = 0; l < _layers.Length; l++) StepLayer(_layers[l], l, s, t, gather, withOutput);
                if (!withOutput) continue;

                // Dense 1 over the last layer's whole window, then Dense 2 and Softplus.
                var last = _layers[^1];
                int cl = _lastChannels;
                for (int p = 0; p < _lastLength; p++)
                    for (int c = 0; c < cl; c++)
                        Vector256.Load(ConvValue(last, _layers.Length - 1, s, t, p) + c * Lanes).Store(gather + (p * cl + c) * Lanes);
                int nIn = _lastLength * cl;
                for (int ob = 0; ob * Lanes < _hidden; ob++)
                    Column(gather, nIn, d1 + (long)ob * nIn * Lanes, d1b + ob * Lanes, hidden + ob * Lanes * Lanes);
                var y = Vector256.Create(_dense2Bias);
                for (int h = 0; h < _hidden; h++) y = Vector256.MultiplyAddEstimate(Vector256.Create(_dense2[h]), Vector256.Load(hidden + h * Lanes), y);
                var soft = Vector256.Log(Vector256<float>.One + Vector256.Exp(Vector256.Min(y, Vector256.Create(20f))));
                y = Vector256.ConditionalSelect(Vector256.GreaterThan(y, Vector256.Create(20f)), y, soft);
                if (n == Lanes) y.StoreUnsafe(ref MemoryMarshal.GetReference(output), (nuint)(b * Lanes));
                else { y.CopyTo(lane); for (int k = 0; k < n; k++) output[b * Lanes + k] = lane[k]; }
            }
        }
        _steps = t + 1;
    }

    /// <summary>
    /// One step of a valid-padding network: every position of every layer is a stream value, so each layer computes
    /// its new column straight from the rings (the previous layer's pooled ring, or the input ring) and, before a
    /// pooling, the new pooled value max(a(t − 2^ℓ), a(t)); the dense layer reads the last layer's positions from its
    /// ring. Where each of those vectors sits depends only on the step, so the offsets are worked out once per step
    /// for all blocks.
    /// </summary>
    private void RunValid(ReadOnlySpan<float> x, Span<float> output, bool withOutput)
    {
        long t = _steps;
        int nl = _layers.Length, blocks = _blocks;
        int xNew = (int)(t % _xRingLength);
        for (int l = 0; l < nl; l++)
        {
            var layer = _layers[l];
            int aNew = (int)(t % layer.RingLength), stride = layer.Stride;
            int slotFloats = layer.Cout * Lanes * blocks;
            layer.NewAt = layer.RingOffset + aNew * slotFloats;
            if (l < nl - 1)
            {
                layer.OldAt = layer.RingOffset + Slot(aNew, stride, layer.RingLength) * slotFloats;
                layer.PNewAt = layer.POffset + (int)(t % layer.PRingLength) * slotFloats;
            }
            // Tap j of the new column reads the input K − 1 − j positions (of stride 2^ℓ) before the newest.
            for (int j = 0; j < layer.K; j++)
            {
                int age = (layer.K - 1 - j) * stride;
                if (l == 0) layer.TapAt[j] = _xOffset + Slot(xNew, age, _xRingLength) * Lanes * blocks;
                else
                {
                    var prev = _layers[l - 1];
                    layer.TapAt[j] = prev.POffset + Slot((int)(t % prev.PRingLength), age, prev.PRingLength) * layer.Cin * Lanes * blocks;
                }
            }
        }
        var last = _layers[^1];
        int lastNew = (int)(t % last.RingLength);
        for (int p = 0; p < _lastLength; p++)
            _denseAt[p] = last.RingOffset + Slot(lastNew, (_lastLength - 1 - p) * last.Stride, last.RingLength) * _lastChannels * Lanes * blocks;

        Span<float> lane = stackalloc float[Lanes];
        fixed (float* state = _state, hidden = _hiddenBuf, d1 = _dense1, d1b = _dense1Bias)
        fixed (int* denseAt = _denseAt)
        {
            for (int b = 0; b < blocks; b++)
            {
                int n = Math.Min(Lanes, Rois - b * Lanes);
                float* xSlot = state + _xOffset + (xNew * blocks + b) * Lanes;
                if (n == Lanes) Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(x), (nuint)(b * Lanes)).Store(xSlot);
                else { for (int k = 0; k < Lanes; k++) xSlot[k] = k < n ? x[b * Lanes + k] : 0f; }

                for (int l = 0; l < nl; l++)
                {
                    var layer = _layers[l];
                    // Block b's entries sit b · C · 8 floats after block 0's.
                    float* input = state + (long)b * layer.Cin * Lanes, own = state + (long)b * layer.Cout * Lanes;
                    Taps(input, layer.TapAtAt, layer.K, layer.Cin, layer.WeightsAt, layer.BiasAt, layer.Cout, own + layer.NewAt);
                    if (l == nl - 1) break;
                    float* a = own + layer.NewAt, old = own + layer.OldAt, pooled = own + layer.PNewAt;
                    for (int c = 0; c < layer.Cout; c++)
                        Vector256.MaxNative(Vector256.Load(old + c * Lanes), Vector256.Load(a + c * Lanes)).Store(pooled + c * Lanes);
                }
                if (!withOutput) continue;

                float* lastOwn = state + (long)b * _lastChannels * Lanes;
                for (int ob = 0; ob * Lanes < _hidden; ob++)
                    Taps(lastOwn, denseAt, _lastLength, _lastChannels, d1 + (long)ob * _lastLength * _lastChannels * Lanes, d1b + ob * Lanes, Lanes, hidden + ob * Lanes * Lanes);
                var y = Vector256.Create(_dense2Bias);
                for (int h = 0; h < _hidden; h++) y = Vector256.MultiplyAddEstimate(Vector256.Create(_dense2[h]), Vector256.Load(hidden + h * Lanes), y);
                var soft = Vector256.Log(Vector256<float>.One + Vector256.Exp(Vector256.Min(y, Vector256.Create(20f))));
                y = Vector256.ConditionalSelect(Vector256.GreaterThan(y, Vector256.Create(20f)), y, soft);
                if (n == Lanes) y.StoreUnsafe(ref MemoryMarshal.GetReference(output), (nuint)(b * Lanes));
                else { y.CopyTo(lane); for (int k = 0; k < n; k++) output[b * Lanes + k] = lane[k]; }
            }
        }
        _steps = t + 1;
    }

    /// <summary>All <paramref name="cout"/> outputs (ReLU applied) of one position whose input is <paramref name="k"/>
    /// groups of <paramref name="cin"/> vectors, group j at <paramref name="s"/> + taps[j]; weights [ceil(cout/8)][k][cin][8].</summary>
    private void Taps(float* s, int* taps, int k, int cin, float* w, float* bias, int cout, float* dst)
    {
        float* tmp = _partial;
        for (int ob = 0; ob * Lanes < cout; ob++)
        {
            float* wb = w + (long)ob * k * cin * Lanes;
            if (cout - ob * Lanes >= Lanes) TapColumn(s, taps, k, cin, wb, bias + ob * Lanes, dst + ob * Lanes * Lanes);
            else
            {
                TapColumn(s, taps, k, cin, wb, bias + ob * Lanes, tmp);
                int m = cout - ob * Lanes;
                Buffer.MemoryCopy(tmp, dst + ob * Lanes * Lanes, m * Lanes * sizeof(float), m * Lanes * sizeof(float));
            }
        }
    }

    /// <summary>Eight outputs o over 8 ROI lanes: dst[o] = ReLU(bias[o] + Σ_j Σ_c w[j][c][o] · (s + taps[j])[c]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TapColumn(float* s, int* taps, int k, int cin, float* w, float* bias, float* dst)
    {
        var a0 = Vector256.Create(bias[0]); var a1 = Vector256.Create(bias[1]);
        var a2 = Vector256.Create(bias[2]); var a3 = Vector256.Create(bias[3]);
        var a4 = Vector256.Create(bias[4]); var a5 = Vector256.Create(bias[5]);
        var a6 = Vector256.Create(bias[6]); var a7 = Vector256.Create(bias[7]);
        for (int j = 0; j < k; j++)
        {
            float* input = s + taps[j];
            for (int c = 0; c < cin; c++, w += Lanes)
            {
                var v = Vector256.Load(input + c * Lanes);
                a0 = Vector256.MultiplyAddEstimate(Vector256.Create(w[0]), v, a0);
                a1 = Vector256.MultiplyAddEstimate(Vector256.Create(w[1]), v, a1);
                a2 = Vector256.MultiplyAddEstimate(Vector256.Create(w[2]), v, a2);
                a3 = Vector256.MultiplyAddEstimate(Vector256.Create(w[3]), v, a3);
                a4 = Vector256.MultiplyAddEstimate(Vector256.Create(w[4]), v, a4);
                a5 = Vector256.MultiplyAddEstimate(Vector256.Create(w[5]), v, a5);
                a6 = Vector256.MultiplyAddEstimate(Vector256.Create(w[6]), v, a6);
                a7 = Vector256.MultiplyAddEstimate(Vector256.Create(w[7]), v, a7);
            }
        }
        var z = Vector256<float>.Zero;
        Vector256.MaxNative(a0, z).Store(dst); Vector256.MaxNative(a1, z).Store(dst + Lanes);
        Vector256.MaxNative(a2, z).Store(dst + 2 * Lanes); Vector256.MaxNative(a3, z).Store(dst + 3 * Lanes);
        Vector256.MaxNative(a4, z).Store(dst + 4 * Lanes); Vector256.MaxNative(a5, z).Store(dst + 5 * Lanes);
        Vector256.MaxNative(a6, z).Store(dst + 6 * Lanes); Vector256.MaxNative(a7, z).Store(dst + 7 * Lanes);
    }

    /// <summary>Ring entry of the value <paramref name="age"/> samples older than the newest (entry
    /// <paramref name="newest"/>); age &lt; ring length.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Slot(int newest, int age, int ringLength)
    {
        int slot = newest - age;
        return slot < 0 ? slot + ringLength : slot;
    }

    /// <summary>Pointer to the Cout vectors of layer <paramref name="l"/>'s (post-ReLU) output at window position p.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float* ConvValue(ConvLayer layer, int l, float* s, long t, int p)
    {
        if (p < layer.Left) return _edgeBase + layer.LeftOffset + p * layer.Cout * Lanes;
        int fromRight = layer.Length - 1 - p;
        if (fromRight < layer.Right) return _edgeBase + layer.RightOffset + (layer.Right - 1 - fromRight) * layer.Cout * Lanes;
        return s + layer.RingOffset + Slot(layer.NewSlot, layer.Stride * fromRight, layer.RingLength) * layer.Cout * Lanes;
    }

    /// <summary>Copies the window's input of layer <paramref name="l"/> at positions [from, to) (zero outside the
    /// window; max-pooled when the layer follows a pooling) to <paramref name="dst"/>, [position][Cin][8].</summary>
    private void GatherInput(int l, float* s, long t, int from, int to, float* dst)
    {
        var layer = _layers[l];
        int cin = layer.Cin;
        for (int q = from; q < to; q++, dst += cin * Lanes)
        {
            if (q < 0 || q >= layer.InLength)
            {
                new Span<float>(dst, cin * Lanes).Clear();
                continue;
            }
            if (!layer.PoolInput)
            {
                Vector256.Load(s + _xOffset + Slot(_xNewSlot, layer.InLength - 1 - q, _xRingLength) * Lanes).Store(dst);
                continue;
            }
            var prev = _layers[l - 1];
            float* a = ConvValue(prev, l - 1, s, t, 2 * q), b = ConvValue(prev, l - 1, s, t, 2 * q + 1);
            for (int c = 0; c < cin; c++)
                Vector256.Max(Vector256.Load(a + c * Lanes), Vector256.Load(b + c * Lanes)).Store(dst + c * Lanes);
        }
    }

    private void StepLayer(ConvLayer layer, int l, float* s, long t, float* gather, bool edges)
    {
        int cin = layer.Cin, cout = layer.Cout, k = layer.K, pad = layer.Pad, len = layer.Length, inLen = layer.InLength;
        fixed (float* w = layer.Weights, bias = layer.Bias)
        {
            // Left edge positions [0, Left); taps that fall on the zero padding are skipped.
            if (edges && layer.Left > 0)
            {
                GatherInput(l, s, t, -pad, layer.Left - pad + k - 1, gather);
                for (int p = 0; p < layer.Left; p++)
                {
                    int lo = Math.Max(0, pad - p), hi = Math.Min(k - 1, inLen - 1 - p + pad);
                    Columns(gather + p * cin * Lanes, lo, hi, k, cin, w, bias, cout, _edgeBase + layer.LeftOffset + p * cout * Lanes);
                }
            }
            if (!layer.HasInterior) return;
            // The new stream column (newest interior position) and the right edge positions after it.
            int first = len - layer.Right - 1;
            GatherInput(l, s, t, first - pad, (edges ? len : first + 1) - pad + k - 1, gather);
            Columns(gather, 0, k - 1, k, cin, w, bias, cout, s + layer.RingOffset + Slot(layer.NewSlot, layer.Stride * layer.Right, layer.RingLength) * cout * Lanes);
            for (int j = 0; edges && j < layer.Right; j++)
            {
                int p = first + 1 + j, hi = Math.Min(k - 1, inLen - 1 - p + pad);
                Columns(gather + (j + 1) * cin * Lanes, 0, hi, k, cin, w, bias, cout, _edgeBase + layer.RightOffset + j * cout * Lanes);
            }
        }
    }

    /// <summary>All Cout outputs (ReLU applied) of one position from the taps [kLo, kHi] of its K·Cin gathered input
    /// vectors (the other taps fall on the window's zero padding).</summary>
    private static void Columns(float* input, int kLo, int kHi, int k, int cin, float* w, float* bias, int cout, float* dst)
    {
        int nFull = k * cin, skip = kLo * cin * Lanes, nIn = (kHi - kLo + 1) * cin;
        float* tmp = stackalloc float[Lanes * Lanes];
        for (int ob = 0; ob * Lanes < cout; ob++)
        {
            float* wb = w + (long)ob * nFull * Lanes + skip;
            if (cout - ob * Lanes >= Lanes) Column(input + skip, nIn, wb, bias + ob * Lanes, dst + ob * Lanes * Lanes);
            else
            {
                // Fewer than 8 outputs left: the padded weights are zero; keep only the real ones.
                Column(input + skip, nIn, wb, bias + ob * Lanes, tmp);
                int m = cout - ob * Lanes;
                Buffer.MemoryCopy(tmp, dst + ob * Lanes * Lanes, m * Lanes * sizeof(float), m * Lanes * sizeof(float));
            }
        }
    }

    /// <summary>Eight outputs o (weights [nIn][8]) over 8 ROI lanes: dst[o] = ReLU(bias[o] + Σ_j w[j][o] · input[j]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Column(float* input, int nIn, float* w, float* bias, float* dst)
    {
        var a0 = Vector256.Create(bias[0]); var a1 = Vector256.Create(bias[1]);
        var a2 = Vector256.Create(bias[2]); var a3 = Vector256.Create(bias[3]);
        var a4 = Vector256.Create(bias[4]); var a5 = Vector256.Create(bias[5]);
        var a6 = Vector256.Create(bias[6]); var a7 = Vector256.Create(bias[7]);
        for (int j = 0; j < nIn; j++, w += Lanes)
        {
            var v = Vector256.Load(input + j * Lanes);
            a0 = Vector256.MultiplyAddEstimate(Vector256.Create(w[0]), v, a0);
            a1 = Vector256.MultiplyAddEstimate(Vector256.Create(w[1]), v, a1);
            a2 = Vector256.MultiplyAddEstimate(Vector256.Create(w[2]), v, a2);
            a3 = Vector256.MultiplyAddEstimate(Vector256.Create(w[3]), v, a3);
            a4 = Vector256.MultiplyAddEstimate(Vector256.Create(w[4]), v, a4);
            a5 = Vector256.MultiplyAddEstimate(Vector256.Create(w[5]), v, a5);
            a6 = Vector256.MultiplyAddEstimate(Vector256.Create(w[6]), v, a6);
            a7 = Vector256.MultiplyAddEstimate(Vector256.Create(w[7]), v, a7);
        }
        var z = Vector256<float>.Zero;
        Vector256.Max(a0, z).Store(dst); Vector256.Max(a1, z).Store(dst + Lanes);
        Vector256.Max(a2, z).Store(dst + 2 * Lanes); Vector256.Max(a3, z).Store(dst + 3 * Lanes);
        Vector256.Max(a4, z).Store(dst + 4 * Lanes); Vector256.Max(a5, z).Store(dst + 5 * Lanes);
        Vector256.Max(a6, z).Store(dst + 6 * Lanes); Vector256.Max(a7, z).Store(dst + 7 * Lanes);
    }
}

/// <summary>
/// An ensemble of <see cref="StreamingSpikeCnn"/>s sharing one input stream: per step, the mean over the models and
/// a band of ±1 s.d. across them (sample s.d., lower edge floored at 0), per ROI — what <see cref="SpikeCnnInference"/>
/// gives offline. Allocates nothing per step.
/// </summary>
public sealed class StreamingSpikeCnnEnsemble
{
    private readonly StreamingSpikeCnn[] _nets;
    private readonly float[][] _outputs;

    /// <summary>Builds one evaluator per model for <paramref name="rois"/> ROIs; the models must share window,
    /// look-ahead and rate.</summary>
    public StreamingSpikeCnnEnsemble(IReadOnlyList<SpikeCnnModel> models, int rois)
    {
        if (models.Count == 0) throw new SettingException("spikes.models", "(none)", "at least one spike-CNN model");
        var m0 = models[0];
        foreach (var m in models)
            if (m.WindowSamples != m0.WindowSamples || m.LookAheadSamples != m0.LookAheadSamples || m.RateHz != m0.RateHz)
                throw new SettingException("spikes.models", "ensemble", "models with the same window, look-ahead and rate");
        Models = models;
        _nets = models.Select((m, k) => new StreamingSpikeCnn(m.Network, rois, $"model {k + 1}")).ToArray();
        _outputs = models.Select(_ => new float[rois]).ToArray();
    }

    /// <summary>The models, in order.</summary>
    public IReadOnlyList<SpikeCnnModel> Models { get; }

    /// <summary>ROIs per step.</summary>
    public int Rois => _nets[0].Rois;

    /// <summary>Samples per window.</summary>
    public int WindowSamples => _nets[0].WindowSamples;

    /// <summary>Look-ahead L, samples: a step's output is the rate of the sample L steps before the newest.</summary>
    public int LookAheadSamples => Models[0].LookAheadSamples;

    /// <summary>Rate the models work at, Hz.</summary>
    public double RateHz => Models[0].RateHz;

    /// <summary>True once a whole window has streamed in.</summary>
    public bool Ready => _nets[0].Ready;

    /// <summary>Multiply-adds per ROI per step, all models.</summary>
    public long MultiplyAddsPerStep => _nets.Sum(n => n.MultiplyAddsPerStep);

    /// <summary>Multiply-adds per ROI of one window forward through all models.</summary>
    public long WindowMultiplyAdds => _nets.Sum(n => n.WindowMultiplyAdds);

    /// <summary>Forgets every sample.</summary>
    public void Reset()
    {
        foreach (var n in _nets) n.Reset();
    }

    /// <summary>One normalised sample per ROI in, no output (see <see cref="StreamingSpikeCnn.Advance"/>).</summary>
    public void Advance(ReadOnlySpan<float> x)
    {
        foreach (var n in _nets) n.Advance(x);
    }

    /// <summary>One normalised sample per ROI in; ensemble mean and band per ROI out (spikes per model sample).</summary>
    public void Step(ReadOnlySpan<float> x, Span<float> mean, Span<float> lower, Span<float> upper)
    {
        int rois = Rois, k = _nets.Length;
        for (int i = 0; i < k; i++) _nets[i].Step(x, _outputs[i]);
        for (int r = 0; r < rois; r++)
        {
            float s = 0, ss = 0;
            for (int i = 0; i < k; i++) { float v = _outputs[i][r]; s += v; ss += v * v; }
            float m = s / k;
            float sd = k > 1 ? MathF.Sqrt(MathF.Max(0, (ss - k * m * m) / (k - 1))) : 0;
            mean[r] = m; lower[r] = MathF.Max(0, m - sd); upper[r] = m + sd;
        }
    }
}
