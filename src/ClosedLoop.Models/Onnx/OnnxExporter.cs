using System.Buffers.Binary;
using ClosedLoop.Models.Layers;
using static ClosedLoop.Models.Onnx.OnnxFields;

namespace ClosedLoop.Models.Onnx;

/// <summary>Options of an ONNX export.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>Name of the graph input.</summary>
    public string InputName { get; init; } = "input";
    /// <summary>Name of the graph output.</summary>
    public string OutputName { get; init; } = "output";
    /// <summary>Graph name.</summary>
    public string GraphName { get; init; } = "closedloop";
    /// <summary>Free text stored as the model's doc_string.</summary>
    public string? Description { get; init; }
    /// <summary>Key/value pairs stored as metadata_props (e.g. training data, frame rate, noise level).</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}

/// <summary>
/// Writes a <see cref="Network"/> as an ONNX model (ir_version 8, default-domain opset 17) with a hand-written
/// protobuf encoder. The batch dimension is symbolic ("N"); weights are float initialisers in raw_data. Layers map
/// to Conv, Relu / LeakyRelu / Sigmoid / Elu / Softplus / Tanh, MaxPool, Resize (nearest, asymmetric, floor: an
/// exact 2× nearest upsampling), Concat (axis 1), Flatten (axis 1) and Gemm (transB = 1).
/// </summary>
public static class OnnxExporter
{
    /// <summary>ONNX IR version written.</summary>
    public const int IrVersion = 8;

    /// <summary>Default-domain opset written.</summary>
    public const int Opset = 17;

    /// <summary>Encodes <paramref name="network"/> as ONNX ModelProto bytes.</summary>
    public static byte[] Export(Network network, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        options ??= new OnnxExportOptions();
        var graph = new ProtoWriter();
        var nodes = network.Nodes;
        var names = new string[nodes.Count];
        names[0] = options.InputName;
        for (int i = 1; i < nodes.Count; i++)
            names[i] = i == nodes.Count - 1 ? options.OutputName : $"n{i}_{nodes[i].Layer!.GetType().Name.ToLowerInvariant()}";

        var initializers = new List<ProtoWriter>();
        for (int i = 1; i < nodes.Count; i++)
        {
            var n = nodes[i];
            var layer = n.Layer!;
            ReadOnlySpan<float> p = network.Parameters.AsSpan(n.ParameterOffset, layer.ParameterCount);
            string x = names[n.Inputs[0]], y = names[i], id = $"n{i}";
            switch (layer)
            {
                case Convolution c:
                {
                    long[] wdims = c.SpatialRank == 2 ? [c.OutChannels, c.InChannels, c.KernelH, c.KernelW] : [c.OutChannels, c.InChannels, c.KernelW];
                    initializers.Add(Tensor(id + ".weight", wdims, p[..c.WeightCount]));
                    initializers.Add(Tensor(id + ".bias", [c.OutChannels], p[c.WeightCount..]));
                    long padH = c.PadH, padW = c.PadW;
                    bool two = c.SpatialRank == 2;
                    graph.Message(GraphNode, Node("Conv", id, [x, id + ".weight", id + ".bias"], [y],
                        Ints("kernel_shape", two ? [c.KernelH, c.KernelW] : [c.KernelW]),
                        Ints("pads", two ? [padH, padW, padH, padW] : [padW, padW]),
                        Ints("strides", two ? [1, 1] : [1]),
                        Ints("dilations", two ? [c.DilationH, c.DilationW] : [c.DilationW]),
                        Int("group", 1)));
                    break;
                }
                case Activation a:
                {
                    string op = a.Kind switch
                    {
                        ActivationKind.Relu => "Relu", ActivationKind.LeakyRelu => "LeakyRelu", ActivationKind.Sigmoid => "Sigmoid",
                        ActivationKind.Elu => "Elu", ActivationKind.Softplus => "Softplus", _ => "Tanh",
                    };
                    graph.Message(GraphNode, a.Kind is ActivationKind.LeakyRelu or ActivationKind.Elu
                        ? Node(op, id, [x], [y], FloatAttr("alpha", a.Alpha))
                        : Node(op, id, [x], [y]));
                    break;
                }
                case MaxPool m:
                {
                    long[] k = m.SpatialRank == 2 ? [2, 2] : [2];
                    graph.Message(GraphNode, Node("MaxPool", id, [x], [y], Ints("kernel_shape", k), Ints("strides", k)));
                    break;
                }
                case Upsample u:
                {
                    initializers.Add(Tensor(id + ".scales", [u.SpatialRank + 2], u.SpatialRank == 2 ? [1f, 1f, 2f, 2f] : [1f, 1f, 2f]));
                    graph.Message(GraphNode, Node("Resize", id, [x, "", id + ".scales"], [y],
                        StringAttr("mode", "nearest"), StringAttr("coordinate_transformation_mode", "asymmetric"),
                        StringAttr("nearest_mode", "floor")));
                    break;
                }
                case Concat:
                    graph.Message(GraphNode, Node("Concat", id, [x, names[n.Inputs[1]]], [y], Int("axis", 1)));
                    break;
                case Flatten:
                    graph.Message(GraphNode, Node("Flatten", id, [x], [y], Int("axis", 1)));
                    break;
                case Dense d:
                {
                    if (nodes[n.Inputs[0]].Shape.Length > 1)
                    {
                        graph.Message(GraphNode, Node("Flatten", id + "_flatten", [x], [id + "_flat"], Int("axis", 1)));
                        x = id + "_flat";
                    }
                    initializers.Add(Tensor(id + ".weight", [d.OutFeatures, d.InFeatures], p[..d.WeightCount]));
                    initializers.Add(Tensor(id + ".bias", [d.OutFeatures], p[d.WeightCount..]));
                    graph.Message(GraphNode, Node("Gemm", id, [x, id + ".weight", id + ".bias"], [y],
                        FloatAttr("alpha", 1), FloatAttr("beta", 1), Int("transA", 0), Int("transB", 1)));
                    break;
                }
                default:
                    throw new NotSupportedException($"layer {layer} has no ONNX export");
            }
        }
        graph.String(GraphName, options.GraphName);
        foreach (var t in initializers) graph.Message(GraphInitializer, t);
        graph.Message(GraphInput, ValueInfo(options.InputName, network.InputShape));
        graph.Message(GraphOutput, ValueInfo(options.OutputName, network.OutputShape));

        var model = new ProtoWriter();
        model.Int64(ModelIrVersion, IrVersion);
        model.String(ModelProducerName, "ClosedLoop.Models");
        model.String(ModelProducerVersion, typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "0");
        model.String(ModelDomain, "org.closedloop");
        model.Int64(ModelVersion, 1);
        if (options.Description is not null) model.String(ModelDocString, options.Description);
        model.Message(ModelGraph, graph);
        var opset = new ProtoWriter();
        opset.String(OpsetDomain, "");
        opset.Int64(OpsetVersion, Opset);
        model.Message(ModelOpsetImport, opset);
        if (options.Metadata is not null)
            foreach (var (k, v) in options.Metadata)
            {
                var e = new ProtoWriter();
                e.String(EntryKey, k);
                e.String(EntryValue, v);
                model.Message(ModelMetadataProps, e);
            }
        return model.ToArray();
    }

    /// <summary>Writes <paramref name="network"/> to an .onnx file.</summary>
    public static void Save(Network network, string path, OnnxExportOptions? options = null) =>
        File.WriteAllBytes(path, Export(network, options));

    private static ProtoWriter Node(string op, string name, string[] inputs, string[] outputs, params ProtoWriter[] attributes)
    {
        var w = new ProtoWriter();
        foreach (string i in inputs) w.String(NodeInput, i);
        foreach (string o in outputs) w.String(NodeOutput, o);
        w.String(NodeName, name);
        w.String(NodeOpType, op);
        foreach (var a in attributes) w.Message(NodeAttribute, a);
        return w;
    }

    private static ProtoWriter Ints(string name, long[] values)
    {
        var w = new ProtoWriter();
        w.String(AttrName, name);
        foreach (long v in values) w.Int64(AttrInts, v);
        w.Int64(AttrType, AttrTypeInts);
        return w;
    }

    private static ProtoWriter Int(string name, long value)
    {
        var w = new ProtoWriter();
        w.String(AttrName, name);
        w.Int64(AttrI, value);
        w.Int64(AttrType, AttrTypeInt);
        return w;
    }

    private static ProtoWriter FloatAttr(string name, float value)
    {
        var w = new ProtoWriter();
        w.String(AttrName, name);
        w.Float(AttrF, value);
        w.Int64(AttrType, AttrTypeFloat);
        return w;
    }

    private static ProtoWriter StringAttr(string name, string value)
    {
        var w = new ProtoWriter();
        w.String(AttrName, name);
        w.String(AttrS, value);
        w.Int64(AttrType, AttrTypeString);
        return w;
    }

    private static ProtoWriter Tensor(string name, long[] dims, ReadOnlySpan<float> data)
    {
        var w = new ProtoWriter();
        w.PackedInt64(TensorDims, dims);
        w.Int64(TensorDataType, DataTypeFloat);
        w.String(TensorName, name);
        var raw = new byte[data.Length * 4];
        for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(i * 4), data[i]);
        w.Bytes(TensorRawData, raw);
        return w;
    }

    private static ProtoWriter ValueInfo(string name, int[] sampleShape)
    {
        var shape = new ProtoWriter();
        var batch = new ProtoWriter();
        batch.String(DimParam, "N");
        shape.Message(ShapeDim, batch);
        foreach (int d in sampleShape)
        {
            var dim = new ProtoWriter();
            dim.Int64(DimValue, d);
            shape.Message(ShapeDim, dim);
        }
        var tensor = new ProtoWriter();
        tensor.Int64(TensorElemType, DataTypeFloat);
        tensor.Message(TensorShape, shape);
        var type = new ProtoWriter();
        type.Message(TypeTensor, tensor);
        var w = new ProtoWriter();
        w.String(ValueName, name);
        w.Message(ValueTypeField, type);
        return w;
    }
}
