using ClosedLoop.Models.Inference;
using ClosedLoop.Models.Layers;
using ClosedLoop.Models.Onnx;
using ClosedLoop.Models.OnnxRuntime;

namespace ClosedLoop.Models.Tests;

/// <summary>ONNX export and import, and inference through the real ONNX Runtime library.</summary>
public class OnnxTests
{
    private static float[] RandomInput(Network net, int batch, int seed) => GradientCheckTests.Random(new Random(seed), batch * net.InputSize);

    private static float[] Managed(Network net, float[] input, int batch)
    {
        var y = new float[batch * net.OutputSize];
        net.Forward(input, batch, y);
        return y;
    }

    private static Network UNet() => Architectures.ShallowUNet(24, 16, seed: 11);

    private static Network SpikeCnn() => Architectures.SpikeCnn(64, seed: 12);

    private static Network Randomise(Network net, int seed)
    {
        // Non-zero biases and spread weights, so that every parameter matters in the comparison.
        var rng = new Random(seed);
        for (int i = 0; i < net.Parameters.Length; i++) net.Parameters[i] += (float)(0.05 * (rng.NextDouble() - 0.5));
        return net;
    }

    [Fact]
    public void ExportImport_UNet_GivesIdenticalManagedOutput()
    {
        var net = Randomise(UNet(), 1);
        var model = OnnxImporter.Load(OnnxExporter.Export(net), "unet");
        var x = RandomInput(net, 3, 2);
        Assert.Equal(Managed(net, x, 3), Managed(model.Network, x, 3));
        Assert.Equal(net.Parameters, model.Network.Parameters);
        Assert.Equal(17, model.Opset);
    }

    [Fact]
    public void ExportImport_SpikeCnn_GivesIdenticalManagedOutputAndMetadata()
    {
        var net = Randomise(SpikeCnn(), 3);
        byte[] bytes = OnnxExporter.Export(net, new OnnxExportOptions { Metadata = new Dictionary<string, string> { ["frameRateHz"] = "30" } });
        var model = OnnxImporter.Load(bytes, "cnn");
        var x = RandomInput(net, 7, 4);
        Assert.Equal(Managed(net, x, 7), Managed(model.Network, x, 7));
        Assert.Equal("30", model.Metadata["frameRateHz"]);
    }

    [Fact]
    public void OnnxRuntime_ExportedUNet_MatchesManagedForward()
    {
        Ort.Require();
        var net = Randomise(UNet(), 5);
        using var session = new OnnxRuntimeSession(OnnxExporter.Export(net), new InferenceOptions { Threads = 1 }, "unet");
        Assert.Equal([-1, 1, 24, 16], session.InputShape);
        Assert.Equal([-1, 1, 24, 16], session.OutputShape);
        var x = RandomInput(net, 3, 6);
        var expected = Managed(net, x, 3);
        var actual = new float[expected.Length];
        session.Run(x, 3, actual);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4, $"element {i}: managed {expected[i]}, ORT {actual[i]}");
    }

    [Fact]
    public void OnnxRuntime_ExportedSpikeCnn_MatchesManagedForward()
    {
        Ort.Require();
        var net = Randomise(SpikeCnn(), 7);
        using var session = new OnnxRuntimeSession(OnnxExporter.Export(net));
        var x = RandomInput(net, 50, 8);
        var expected = Managed(net, x, 50);
        var actual = new float[expected.Length];
        session.Run(x, 50, actual);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4, $"element {i}: managed {expected[i]}, ORT {actual[i]}");
        // A different batch size rebinds the pinned buffers and still agrees.
        var one = new float[1];
        session.Run(x.AsSpan(0, 64), 1, one);
        Assert.Equal(expected[0], one[0], 1e-4f);
    }

    [Fact]
    public void OnnxRuntime_ValidPaddingSpikeCnn_MatchesManagedForwardAndReimportsAsValid()
    {
        Ort.Require();
        var net = Randomise(Architectures.SpikeCnn(128, [8, 8, 8, 8], [9, 5, 5, 3], 16, seed: 3, padding: ConvPadding.Valid), 11);
        byte[] onnx = OnnxExporter.Export(net);
        var back = OnnxImporter.Load(onnx, "valid cnn").Network;
        Assert.All(back.Nodes.Select(n => n.Layer).OfType<Conv1d>(), c => Assert.Equal(ConvPadding.Valid, c.Padding));
        using var session = new OnnxRuntimeSession(onnx);
        var x = RandomInput(net, 20, 12);
        var expected = Managed(net, x, 20);
        var reimported = Managed(back, x, 20);
        var actual = new float[expected.Length];
        session.Run(x, 20, actual);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4, $"element {i}: managed {expected[i]}, ORT {actual[i]}");
            Assert.Equal(expected[i], reimported[i]);
        }
    }

    [Fact]
    public void SpikeCnn_ValidPaddingWindowThatLeavesAnOddLengthBeforeAPooling_IsRefusedWithTheRule()
    {
        // 64 − 8 = 56 → 28, 28 − 4 = 24 → 12, 12 − 2 = 10: fine; 66 − 8 = 58 → 29, 29 − 4 = 25 is odd before the pooling.
        Assert.Equal([1], Architectures.SpikeCnn(64, [4, 4, 4], [9, 5, 3], 4, padding: ConvPadding.Valid).OutputShape);
        var e = Assert.Throws<ArgumentException>(() => Architectures.SpikeCnn(66, [4, 4, 4], [9, 5, 3], 4, padding: ConvPadding.Valid));
        Assert.Contains("window = 66", e.Message);
        Assert.Contains("even", e.Message);
    }

    [Fact]
    public void OnnxRuntime_DilatedConv1dAndLeakyRelu_MatchesManagedForward()
    {
        Ort.Require();
        var g = new NetworkBuilder(2, 32);
        g.Add(new Conv1d(2, 4, 5, dilation: 3));
        g.Add(new Activation(ActivationKind.LeakyRelu, 0.2f));
        g.Add(MaxPool.OneD());
        g.Add(Upsample.OneD());
        g.Add(new Conv1d(4, 1, 3));
        g.Add(new Activation(ActivationKind.Tanh));
        var net = Randomise(g.Build(seed: 9), 9);
        using var backend = InferenceBackends.Open(net, BackendKind.OnnxRuntime);
        var x = RandomInput(net, 4, 10);
        var expected = Managed(net, x, 4);
        var actual = new float[expected.Length];
        backend.Run(x, 4, actual);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-4f);
    }

    private const string ReferenceModelScript = """
import sys
import numpy as np
import onnx
from onnx import helper, TensorProto, numpy_helper
path, expected_path = sys.argv[1], sys.argv[2]
w = np.array([[[[0.1, -0.2, 0.3], [0.0, 0.5, -0.1], [0.2, 0.1, -0.3]]],
              [[[-0.4, 0.2, 0.0], [0.3, -0.1, 0.2], [0.1, 0.0, 0.4]]]], dtype=np.float32)
b = np.array([0.05, -0.1], dtype=np.float32)
x = (np.arange(25, dtype=np.float32).reshape(1, 1, 5, 5) - 12.0) / 6.0
nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["r"]),
         helper.make_node("Sigmoid", ["r"], ["y"])]
graph = helper.make_graph(nodes, "reference",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 5, 5])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 5, 5])],
    initializer=[numpy_helper.from_array(w, "w"), helper.make_tensor("b", TensorProto.FLOAT, [2], b.tolist())])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, path)
# Independent expectation: direct convolution in float64 with zero padding.
xp = np.pad(x[0, 0].astype(np.float64), 1)
out = np.zeros((2, 5, 5))
for m in range(2):
    for i in range(5):
        for j in range(5):
            out[m, i, j] = np.sum(xp[i:i + 3, j:j + 3] * w[m, 0]) + b[m]
y = 1.0 / (1.0 + np.exp(-np.maximum(out, 0.0)))
np.savetxt(expected_path, y.reshape(-1))
print(x.reshape(-1).tolist())
""";

    [Fact]
    public void OnnxRuntime_ModelBuiltByReferenceOnnxPackage_RunsWithExpectedNumbers()
    {
        Ort.Require();
        string path = Ort.TempFile("reference.onnx"), expectedPath = Ort.TempFile("expected.txt");
        Ort.Python(ReferenceModelScript, path, expectedPath);
        var x = new float[25];
        for (int i = 0; i < 25; i++) x[i] = (i - 12f) / 6f;
        var expected = File.ReadAllLines(expectedPath).Select(l => double.Parse(l, System.Globalization.CultureInfo.InvariantCulture)).ToArray();

        using var session = new OnnxRuntimeSession(path);
        Assert.Equal("x", session.InputName);
        Assert.Equal("y", session.OutputName);
        Assert.Equal([1, 1, 5, 5], session.InputShape);
        var y = new float[50];
        session.Run(x, 1, y);
        for (int i = 0; i < 50; i++) Assert.True(Math.Abs(expected[i] - y[i]) < 1e-6, $"element {i}: numpy {expected[i]}, ORT {y[i]}");

        // The managed importer reads the same outside-built file (float_data bias, raw_data weights).
        var managed = Managed(OnnxImporter.Load(path).Network, x, 1);
        for (int i = 0; i < 50; i++) Assert.True(Math.Abs(expected[i] - managed[i]) < 1e-6, $"element {i}: numpy {expected[i]}, managed {managed[i]}");
    }

    [Fact]
    public void OnnxRuntime_MalformedModelFile_ErrorNamesTheFile()
    {
        Ort.Require();
        string path = Ort.TempFile("broken.onnx");
        File.WriteAllBytes(path, [0x08, 0x08, 0x3a, 0xff, 0xff, 0x01, 0x02]);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => new OnnxRuntimeSession(path));
        Assert.Contains(path, e.Message);
        var m = Assert.Throws<OnnxFormatException>(() => OnnxImporter.Load(path));
        Assert.Contains(path, m.Message);
        string missing = Ort.TempFile("missing.onnx");
        Assert.Contains(missing, Assert.ThrowsAny<OnnxRuntimeException>(() => new OnnxRuntimeSession(missing)).Message);
        Assert.Contains(missing, Assert.Throws<OnnxFormatException>(() => OnnxImporter.Load(missing)).Message);
    }

    [Fact]
    public void Run_WrongInputShape_ErrorGivesExpectedShape()
    {
        Ort.Require();
        var net = SpikeCnn();
        using var session = new OnnxRuntimeSession(OnnxExporter.Export(net), source: "spike.onnx");
        var e = Assert.Throws<ArgumentException>(() => session.Run(new float[2 * 60], 2, new float[2]));
        Assert.Contains("[N, 1, 64]", e.Message);
        Assert.Contains("spike.onnx", e.Message);
        var m = Assert.Throws<ArgumentException>(() => net.Forward(new float[2 * 60], 2, new float[2]));
        Assert.Contains("[N, 1, 64]", m.Message);
    }

    [Fact]
    public void Session_CudaRequestedWithoutProvider_FallsBackToCpuWithNote()
    {
        Ort.Require();
        var net = Randomise(SpikeCnn(), 13);
        using var session = new OnnxRuntimeSession(OnnxExporter.Export(net), new InferenceOptions { UseCuda = true });
        if (session.ExecutionProvider == "CUDA") return; // a machine with the CUDA provider: nothing to fall back from
        Assert.Equal("CPU", session.ExecutionProvider);
        Assert.Contains("CUDA", session.ProviderNote);
        var x = RandomInput(net, 3, 14);
        var y = new float[3];
        session.Run(x, 3, y);
        Assert.Equal(Managed(net, x, 3), y, (a, b) => Math.Abs(a - b) < 1e-4);
    }

    [Fact]
    public void Open_AutoWithoutLibrary_FallsBackToManagedWithNote()
    {
        // Runs without ONNX Runtime: the library path points nowhere.
        var options = new InferenceOptions { LibraryPath = "/nonexistent/libonnxruntime.so.1" };
        var net = Randomise(SpikeCnn(), 15);
        byte[] model = OnnxExporter.Export(net);
        using var backend = InferenceBackends.Open(model, BackendKind.Auto, options, "spike.onnx");
        Assert.IsType<ManagedBackend>(backend);
        Assert.Contains("build/setup-native.sh onnxruntime", backend.Note);
        var x = RandomInput(net, 2, 16);
        var y = new float[2];
        backend.Run(x, 2, y);
        Assert.Equal(Managed(net, x, 2), y);
        var e = Assert.Throws<OnnxRuntimeNotAvailableException>(() => InferenceBackends.Open(model, BackendKind.OnnxRuntime, options));
        Assert.Contains("/nonexistent/libonnxruntime.so.1", e.Message);
    }

    [Fact]
    public void Open_Auto_PrefersOnnxRuntime()
    {
        Ort.Require();
        string path = Ort.TempFile("cnn.onnx");
        OnnxExporter.Save(SpikeCnn(), path);
        using var backend = InferenceBackends.Open(path);
        Assert.StartsWith("onnxruntime 1.30", backend.Name);
        Assert.Equal([1, 64], backend.InputShape);
        Assert.Equal([1], backend.OutputShape);
    }

    [Fact]
    public void Import_UnsupportedOperator_ErrorNamesOperatorAndNode()
    {
        string path = Ort.TempFile("unsupported.onnx");
        Ort.Python("""
import sys
from onnx import helper, TensorProto
import onnx
g = helper.make_graph([helper.make_node("Abs", ["x"], ["y"], name="abs1")], "g",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, 8])])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), sys.argv[1])
""", path);
        var e = Assert.Throws<OnnxFormatException>(() => OnnxImporter.Load(path));
        Assert.Contains("'Abs'", e.Message);
        Assert.Contains("abs1", e.Message);
    }

    [Fact]
    public void Run_AfterWarmUp_AllocatesNothing()
    {
        Ort.Require();
        var net = SpikeCnn();
        using var session = new OnnxRuntimeSession(OnnxExporter.Export(net));
        var x = RandomInput(net, 100, 17);
        var y = new float[100];
        for (int i = 0; i < 3; i++)
        {
            session.Run(x, 100, y);
            net.Forward(x, 100, y);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) session.Run(x, 100, y);
        long ort = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) net.Forward(x, 100, y);
        long managed = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal((0L, 0L), (ort, managed));
    }

    [Fact]
    public void Library_ReportsVersionAndCpuProvider()
    {
        var lib = Ort.Require();
        Assert.StartsWith("1.30", lib.Version);
        Assert.Contains("CPUExecutionProvider", lib.AvailableProviders());
    }
}
