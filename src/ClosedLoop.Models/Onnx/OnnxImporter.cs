using System.Buffers.Binary;
using ClosedLoop.Models.Layers;
using static ClosedLoop.Models.Onnx.OnnxFields;

namespace ClosedLoop.Models.Onnx;

/// <summary>An ONNX file that cannot be read, or uses something outside the supported subset. The message names the file (or source) and the node.</summary>
public sealed class OnnxFormatException : Exception
{
    /// <summary>Creates the error.</summary>
    public OnnxFormatException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>A model read from ONNX: the network, its names and metadata.</summary>
/// <param name="Network">The managed network with the model's weights.</param>
/// <param name="InputName">Graph input name.</param>
/// <param name="OutputName">Graph output name.</param>
/// <param name="Opset">Default-domain opset the model declares.</param>
/// <param name="Metadata">The model's metadata_props.</param>
public sealed record OnnxModel(Network Network, string InputName, string OutputName, long Opset, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// Reads ONNX models of the subset <see cref="OnnxExporter"/> writes (and the same operators written by other tools)
/// into a managed <see cref="Network"/>: for fallback inference without ONNX Runtime and for fine-tuning. Supported:
/// one float input [N, C, L] or [N, C, H, W] (fixed sizes after the batch) and one output; Conv (group 1, stride 1,
/// odd kernels, "same" or "valid" padding, any dilation), Relu, LeakyRelu, Sigmoid, Elu, Softplus, Tanh, MaxPool (2 / 2×2,
/// stride = kernel), Resize/Upsample (nearest, scale 2 on the spatial axes), Concat (channel axis, two inputs),
/// Flatten (axis 1), Gemm (alpha = beta = 1, transA = 0), Identity and Dropout (as identity). Weights may be in
/// raw_data or float_data.
/// </summary>
public static class OnnxImporter
{
    /// <summary>Operators the importer understands.</summary>
    public static IReadOnlyList<string> SupportedOperators { get; } =
        ["Conv", "Relu", "LeakyRelu", "Sigmoid", "Elu", "Softplus", "Tanh", "MaxPool", "Resize", "Upsample", "Concat", "Flatten", "Gemm", "Identity", "Dropout"];

    /// <summary>Reads the model in <paramref name="path"/>.</summary>
    /// <exception cref="OnnxFormatException">The file is missing, unreadable, not ONNX, or outside the subset; the message names the file.</exception>
    public static OnnxModel Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OnnxFormatException($"cannot read ONNX model '{path}': {e.Message}", e);
        }
        return Load(bytes, path);
    }

    /// <summary>Reads a model from its bytes; <paramref name="source"/> names it in error messages.</summary>
    public static OnnxModel Load(byte[] model, string source = "(model bytes)")
    {
        ArgumentNullException.ThrowIfNull(model);
        try { return Read(model, source); }
        catch (InvalidDataException e) { throw new OnnxFormatException($"'{source}' is not a valid ONNX model: {e.Message}.", e); }
        catch (ArgumentException e) { throw new OnnxFormatException($"'{source}': {e.Message}", e); }
    }

    private sealed record Tensor(long[] Dims, float[] Data);

    private static OnnxModel Read(byte[] bytes, string source)
    {
        if (bytes.Length == 0) throw new InvalidDataException("the file is empty");
        var model = ProtoReader.Parse(bytes);
        var graphField = model.FirstOrDefault(f => f.Number == ModelGraph && f.WireType == 2);
        if (graphField.Payload.IsEmpty) throw new InvalidDataException("no graph (ModelProto.graph) found");
        long opset = 0;
        foreach (var f in model.Where(f => f.Number == ModelOpsetImport && f.WireType == 2))
        {
            var o = ProtoReader.Parse(f.Payload);
            string domain = o.Where(x => x.Number == OpsetDomain).Select(x => x.String).FirstOrDefault() ?? "";
            if (domain is "" or "ai.onnx") opset = o.Where(x => x.Number == OpsetVersion).Select(x => x.Int64).FirstOrDefault();
        }
        var metadata = new Dictionary<string, string>();
        foreach (var f in model.Where(f => f.Number == ModelMetadataProps && f.WireType == 2))
        {
            var e = ProtoReader.Parse(f.Payload);
            metadata[e.Where(x => x.Number == EntryKey).Select(x => x.String).FirstOrDefault() ?? ""] =
                e.Where(x => x.Number == EntryValue).Select(x => x.String).FirstOrDefault() ?? "";
        }

        var graph = ProtoReader.Parse(graphField.Payload);
        var inits = new Dictionary<string, Tensor>();
        foreach (var f in graph.Where(f => f.Number == GraphInitializer)) { var (name, t) = ReadTensor(f.Payload, source); inits[name] = t; }
        var inputs = graph.Where(f => f.Number == GraphInput).Select(f => ReadValueInfo(f.Payload)).Where(v => !inits.ContainsKey(v.Name)).ToList();
        var outputs = graph.Where(f => f.Number == GraphOutput).Select(f => ReadValueInfo(f.Payload)).ToList();
        if (inputs.Count != 1) throw new OnnxFormatException($"'{source}' has {inputs.Count} graph inputs; the managed network supports exactly one.");
        if (outputs.Count != 1) throw new OnnxFormatException($"'{source}' has {outputs.Count} graph outputs; the managed network supports exactly one.");
        var (inputName, inputDims) = inputs[0];
        if (inputDims.Length is < 2 or > 4 || inputDims.Skip(1).Any(d => d <= 0))
            throw new OnnxFormatException($"'{source}': input '{inputName}' has shape [{string.Join(", ", inputDims.Select(d => d <= 0 ? "?" : d.ToString()))}]; the managed network needs [N, F], [N, C, L] or [N, C, H, W] with fixed sizes after the batch.");

        var builder = new NetworkBuilder(inputDims.Skip(1).Select(d => (int)d).ToArray());
        var values = new Dictionary<string, int> { [inputName] = 0 };
        var parameters = new List<float>();
        int index = 0;
        foreach (var f in graph.Where(f => f.Number == GraphNode))
        {
            var node = ReadNode(f.Payload);
            string label = $"node {index++} '{node.Name}' ({node.Op})";
            string Where(string message) => $"'{source}': {label}: {message}";
            int Value(int i)
            {
                if (i >= node.Inputs.Count || !values.TryGetValue(node.Inputs[i], out int v))
                    throw new OnnxFormatException(Where($"input {(i < node.Inputs.Count ? $"'{node.Inputs[i]}'" : i)} is not produced by an earlier node or the graph input"));
                return v;
            }
            Tensor Init(int i, bool required = true)
            {
                if (i < node.Inputs.Count && node.Inputs[i] != "" && inits.TryGetValue(node.Inputs[i], out var t)) return t;
                if (required) throw new OnnxFormatException(Where($"input {i} must be a constant initializer"));
                return null!;
            }
            if (node.Outputs.Count < 1) throw new OnnxFormatException(Where("has no output"));
            int produced;
            try
            {
                produced = node.Op switch
                {
                    "Identity" or "Dropout" => Value(0),
                    "Conv" => AddConv(builder, node, Value(0), Init(1), Init(2, required: false), parameters, Where),
                    "Relu" => builder.Add(new Activation(ActivationKind.Relu), Value(0)),
                    "LeakyRelu" => builder.Add(new Activation(ActivationKind.LeakyRelu, node.Float("alpha", 0.01f)), Value(0)),
                    "Sigmoid" => builder.Add(new Activation(ActivationKind.Sigmoid), Value(0)),
                    "Elu" => builder.Add(new Activation(ActivationKind.Elu, node.Float("alpha", 1f)), Value(0)),
                    "Softplus" => builder.Add(new Activation(ActivationKind.Softplus), Value(0)),
                    "Tanh" => builder.Add(new Activation(ActivationKind.Tanh), Value(0)),
                    "MaxPool" => AddMaxPool(builder, node, Value(0), Where),
                    "Resize" or "Upsample" => AddResize(builder, node, Value(0), inits, Where),
                    "Concat" => AddConcat(builder, node, Value(0), Value(1), Where),
                    "Flatten" => node.Int("axis", 1) == 1 ? builder.Add(new Flatten(), Value(0)) : throw new OnnxFormatException(Where("only axis = 1 is supported")),
                    "Gemm" => AddGemm(builder, node, Value(0), Init(1), Init(2, required: false), parameters, Where),
                    _ => throw new OnnxFormatException(Where($"operator '{node.Op}' is not supported by the managed network (supported: {string.Join(", ", SupportedOperators)}); run this model through ONNX Runtime instead")),
                };
            }
            catch (ArgumentException e) { throw new OnnxFormatException(Where(e.Message), e); }
            if (node.Domain is not ("" or "ai.onnx")) throw new OnnxFormatException(Where($"operator domain '{node.Domain}' is not supported"));
            values[node.Outputs[0]] = produced;
        }
        string outputName = outputs[0].Name;
        if (!values.TryGetValue(outputName, out int outNode) || outNode == 0)
            throw new OnnxFormatException($"'{source}': graph output '{outputName}' is not produced by a supported node.");
        var net = builder.Build(outNode);
        if (parameters.Count < net.Parameters.Length) throw new OnnxFormatException($"'{source}': parameter count mismatch");
        parameters.CopyTo(0, net.Parameters, 0, net.Parameters.Length);
        return new OnnxModel(net, inputName, outputName, opset, metadata);
    }

    private static int AddConv(NetworkBuilder b, NodeInfo node, int x, Tensor w, Tensor? bias, List<float> parameters, Func<string, string> where)
    {
        if (node.Int("group", 1) != 1) throw new OnnxFormatException(where("grouped convolution (group ≠ 1) is not supported"));
        int rank = w.Dims.Length - 2;
        if (rank is < 1 or > 2) throw new OnnxFormatException(where($"weights of rank {w.Dims.Length}; only 1-D and 2-D convolutions are supported"));
        long[] k = w.Dims[2..];
        long[] dil = node.Ints("dilations") ?? Enumerable.Repeat(1L, rank).ToArray();
        long[] strides = node.Ints("strides") ?? Enumerable.Repeat(1L, rank).ToArray();
        if (strides.Any(s => s != 1)) throw new OnnxFormatException(where($"strides [{string.Join(", ", strides)}]; only stride 1 is supported"));
        string autoPad = node.String("auto_pad", "NOTSET");
        long[] pads = node.Ints("pads") ?? new long[2 * rank];
        bool allSame = true, allValid = true;
        for (int i = 0; i < rank; i++)
        {
            if (k[i] % 2 == 0) throw new OnnxFormatException(where($"even kernel size {k[i]}; only odd kernels are supported"));
            long same = dil[i] * (k[i] - 1) / 2;
            allSame &= autoPad is "SAME_UPPER" or "SAME_LOWER" || (autoPad == "NOTSET" && pads[i] == same && pads[i + rank] == same);
            allValid &= autoPad == "VALID" || (autoPad == "NOTSET" && pads[i] == 0 && pads[i + rank] == 0);
        }
        if (!allSame && !allValid)
            throw new OnnxFormatException(where($"padding [{string.Join(", ", pads)}] (auto_pad {autoPad}) is neither 'same' ({string.Join(", ", Enumerable.Range(0, rank).Select(i => dil[i] * (k[i] - 1) / 2))} per side) nor 'valid' (0) in every dimension; only those two are supported"));
        var padding = allSame ? ConvPadding.Same : ConvPadding.Valid;
        int m = (int)w.Dims[0], c = (int)w.Dims[1];
        Convolution layer = rank == 1
            ? new Conv1d(c, m, (int)k[0], (int)dil[0], padding)
            : new Conv2d(c, m, (int)k[0], (int)k[1], (int)dil[0], (int)dil[1], padding);
        int id = b.Add(layer, x);
        parameters.AddRange(w.Data);
        if (bias is null) parameters.AddRange(new float[m]);
        else if (bias.Data.Length != m) throw new OnnxFormatException(where($"bias has {bias.Data.Length} values for {m} filters"));
        else parameters.AddRange(bias.Data);
        return id;
    }

    private static int AddMaxPool(NetworkBuilder b, NodeInfo node, int x, Func<string, string> where)
    {
        int rank = b.ShapeOf(x).Length - 1;
        long[] k = node.Ints("kernel_shape") ?? [];
        long[] strides = node.Ints("strides") ?? Enumerable.Repeat(1L, k.Length).ToArray();
        long[] pads = node.Ints("pads") ?? [];
        bool ok = k.Length == rank && k.All(v => v == 2) && strides.SequenceEqual(k) && pads.All(p => p == 0)
                  && (node.Ints("dilations") ?? []).All(d => d == 1) && node.Outputs.Count == 1;
        if (!ok) throw new OnnxFormatException(where($"MaxPool with kernel [{string.Join(", ", k)}], strides [{string.Join(", ", strides)}]; only a {(rank == 2 ? "2×2" : "2")} window with equal stride, no padding and one output is supported"));
        return b.Add(rank == 2 ? MaxPool.TwoD() : MaxPool.OneD(), x);
    }

    private static int AddResize(NetworkBuilder b, NodeInfo node, int x, Dictionary<string, Tensor> inits, Func<string, string> where)
    {
        int[] shape = b.ShapeOf(x);
        int rank = shape.Length - 1;
        if (node.String("mode", "nearest") != "nearest") throw new OnnxFormatException(where($"mode '{node.String("mode", "")}'; only 'nearest' is supported"));
        // Opset 10 Resize and Upsample take (X, scales); opset 11+ Resize takes (X, roi, scales[, sizes]).
        int scalesAt = node.Op == "Upsample" || node.Inputs.Count == 2 ? 1 : 2;
        float[]? scales = null;
        if (scalesAt < node.Inputs.Count && inits.TryGetValue(node.Inputs[scalesAt], out var s) && s.Data.Length > 0) scales = s.Data;
        else if (node.Inputs.Count > 3 && inits.TryGetValue(node.Inputs[3], out var sizes) && sizes.Data.Length == rank + 2)
            scales = [1, 1, .. Enumerable.Range(0, rank).Select(i => sizes.Data[i + 2] / shape[i + 1])];
        else if (node.Floats("scales") is { } attr) scales = attr;
        if (scales is null || scales.Length != rank + 2 || scales[0] != 1 || scales[1] != 1 || scales.Skip(2).Any(v => v != 2))
            throw new OnnxFormatException(where($"scales [{string.Join(", ", scales ?? [])}]; only a constant scale of 2 on the spatial axes ([1, 1, 2{(rank == 2 ? ", 2" : "")}]) is supported"));
        string coord = node.String("coordinate_transformation_mode", "half_pixel");
        string nearest = node.String("nearest_mode", "round_prefer_floor");
        // For a scale of 2 these all map output index i to input index ⌊i/2⌋.
        bool exact = coord switch
        {
            "asymmetric" => nearest is "floor" or "round_prefer_floor",
            "half_pixel" or "pytorch_half_pixel" => nearest is "round_prefer_floor" or "round_prefer_ceil",
            _ => false,
        };
        if (node.Op == "Upsample") exact = true;
        if (!exact) throw new OnnxFormatException(where($"coordinate_transformation_mode '{coord}' with nearest_mode '{nearest}' is not a plain 2× nearest upsampling"));
        return b.Add(rank == 2 ? Upsample.TwoD() : Upsample.OneD(), x);
    }

    private static int AddConcat(NetworkBuilder b, NodeInfo node, int x0, int x1, Func<string, string> where)
    {
        int rank = b.ShapeOf(x0).Length + 1;
        long axis = node.Int("axis", 1);
        if (axis < 0) axis += rank;
        if (axis != 1 || node.Inputs.Count != 2) throw new OnnxFormatException(where($"Concat of {node.Inputs.Count} inputs on axis {node.Int("axis", 1)}; only two inputs joined on the channel axis (1) are supported"));
        return b.Add(new Concat(), x0, x1);
    }

    private static int AddGemm(NetworkBuilder b, NodeInfo node, int x, Tensor w, Tensor? bias, List<float> parameters, Func<string, string> where)
    {
        if (node.Float("alpha", 1) != 1 || node.Float("beta", 1) != 1 || node.Int("transA", 0) != 0)
            throw new OnnxFormatException(where("only alpha = 1, beta = 1 and transA = 0 are supported"));
        if (w.Dims.Length != 2) throw new OnnxFormatException(where("weights must be a matrix"));
        bool transB = node.Int("transB", 0) == 1;
        int outF = (int)(transB ? w.Dims[0] : w.Dims[1]), inF = (int)(transB ? w.Dims[1] : w.Dims[0]);
        int id = b.Add(new Dense(outF), x);
        if (ShapeMath.Product(b.ShapeOf(x)) != inF) throw new OnnxFormatException(where($"weights expect {inF} inputs, the input has {ShapeMath.Product(b.ShapeOf(x))}"));
        if (transB) parameters.AddRange(w.Data);
        else
            for (int o = 0; o < outF; o++)
                for (int i = 0; i < inF; i++) parameters.Add(w.Data[i * outF + o]);
        if (bias is null) parameters.AddRange(new float[outF]);
        else if (bias.Data.Length == outF) parameters.AddRange(bias.Data);
        else if (bias.Data.Length == 1) parameters.AddRange(Enumerable.Repeat(bias.Data[0], outF));
        else throw new OnnxFormatException(where($"bias has {bias.Data.Length} values for {outF} outputs"));
        return id;
    }

    private static (string Name, Tensor Tensor) ReadTensor(ReadOnlyMemory<byte> payload, string source)
    {
        var f = ProtoReader.Parse(payload);
        string name = f.Where(x => x.Number == TensorName).Select(x => x.String).FirstOrDefault() ?? "";
        long[] dims = ProtoReader.Int64s(f.Where(x => x.Number == TensorDims)).ToArray();
        long type = f.Where(x => x.Number == TensorDataType).Select(x => x.Int64).FirstOrDefault();
        if (f.Any(x => x.Number == TensorDataLocation && x.Int64 == 1))
            throw new OnnxFormatException($"'{source}': initializer '{name}' keeps its data in an external file, which is not supported.");
        long count = dims.Aggregate(1L, (a, d) => a * d);
        float[] data;
        var raw = f.FirstOrDefault(x => x.Number == TensorRawData && x.WireType == 2);
        if (type == DataTypeFloat)
        {
            if (raw.Number != 0)
            {
                var s = raw.Payload.Span;
                data = new float[s.Length / 4];
                for (int i = 0; i < data.Length; i++) data[i] = BinaryPrimitives.ReadSingleLittleEndian(s[(i * 4)..]);
            }
            else data = ProtoReader.Floats(f.Where(x => x.Number == TensorFloatData)).ToArray();
        }
        else if (type == DataTypeInt64)
        {
            long[] ints;
            if (raw.Number != 0)
            {
                var s = raw.Payload.Span;
                ints = new long[s.Length / 8];
                for (int i = 0; i < ints.Length; i++) ints[i] = BinaryPrimitives.ReadInt64LittleEndian(s[(i * 8)..]);
            }
            else ints = ProtoReader.Int64s(f.Where(x => x.Number == TensorInt64Data)).ToArray();
            data = ints.Select(v => (float)v).ToArray();
        }
        else throw new OnnxFormatException($"'{source}': initializer '{name}' has data type {type}; only float (1) and int64 (7) are supported.");
        if (data.Length != count) throw new OnnxFormatException($"'{source}': initializer '{name}' has {data.Length} values for shape [{string.Join(", ", dims)}].");
        return (name, new Tensor(dims, data));
    }

    private static (string Name, long[] Dims) ReadValueInfo(ReadOnlyMemory<byte> payload)
    {
        var f = ProtoReader.Parse(payload);
        string name = f.Where(x => x.Number == ValueName).Select(x => x.String).FirstOrDefault() ?? "";
        var type = f.FirstOrDefault(x => x.Number == ValueTypeField && x.WireType == 2);
        if (type.Number == 0) return (name, []);
        var tensor = ProtoReader.Parse(type.Payload).FirstOrDefault(x => x.Number == TypeTensor && x.WireType == 2);
        if (tensor.Number == 0) return (name, []);
        var tf = ProtoReader.Parse(tensor.Payload);
        long elem = tf.Where(x => x.Number == TensorElemType).Select(x => x.Int64).FirstOrDefault();
        if (elem != DataTypeFloat) throw new InvalidDataException($"value '{name}' has element type {elem}; only float (1) is supported");
        var shape = tf.FirstOrDefault(x => x.Number == TensorShape && x.WireType == 2);
        if (shape.Number == 0) return (name, []);
        var dims = new List<long>();
        foreach (var d in ProtoReader.Parse(shape.Payload).Where(x => x.Number == ShapeDim))
        {
            var df = ProtoReader.Parse(d.Payload);
            var v = df.FirstOrDefault(x => x.Number == DimValue && x.WireType == 0);
            dims.Add(v.Number != 0 ? v.Int64 : -1);
        }
        return (name, dims.ToArray());
    }

    private sealed record NodeInfo(string Name, string Op, string Domain, List<string> Inputs, List<string> Outputs, Dictionary<string, List<ProtoField>> Attributes)
    {
        private ProtoField? Field(string attr, int number) =>
            Attributes.TryGetValue(attr, out var f) ? f.Where(x => x.Number == number).Cast<ProtoField?>().FirstOrDefault() : null;

        public long Int(string attr, long fallback) => Field(attr, AttrI)?.Int64 ?? fallback;
        public float Float(string attr, float fallback) => Field(attr, AttrF)?.Float ?? fallback;
        public string String(string attr, string fallback) => Field(attr, AttrS)?.String ?? fallback;
        public long[]? Ints(string attr) => Attributes.TryGetValue(attr, out var f) ? ProtoReader.Int64s(f.Where(x => x.Number == AttrInts)).ToArray() : null;
        public float[]? Floats(string attr) => Attributes.TryGetValue(attr, out var f) ? ProtoReader.Floats(f.Where(x => x.Number == AttrFloats)).ToArray() : null;
    }

    private static NodeInfo ReadNode(ReadOnlyMemory<byte> payload)
    {
        var f = ProtoReader.Parse(payload);
        var attrs = new Dictionary<string, List<ProtoField>>();
        foreach (var a in f.Where(x => x.Number == NodeAttribute))
        {
            var af = ProtoReader.Parse(a.Payload);
            attrs[af.Where(x => x.Number == AttrName).Select(x => x.String).FirstOrDefault() ?? ""] = af;
        }
        return new NodeInfo(
            f.Where(x => x.Number == NodeName).Select(x => x.String).FirstOrDefault() ?? "",
            f.Where(x => x.Number == NodeOpType).Select(x => x.String).FirstOrDefault() ?? "",
            f.Where(x => x.Number == NodeDomain).Select(x => x.String).FirstOrDefault() ?? "",
            f.Where(x => x.Number == NodeInput).Select(x => x.String).ToList(),
            f.Where(x => x.Number == NodeOutput).Select(x => x.String).ToList(),
            attrs);
    }
}
