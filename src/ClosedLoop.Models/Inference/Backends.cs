using ClosedLoop.Models.Onnx;
using ClosedLoop.Models.OnnxRuntime;

namespace ClosedLoop.Models.Inference;

/// <summary>Which engine runs a model.</summary>
public enum BackendKind
{
    /// <summary>ONNX Runtime when its library loads, else the managed forward (with a note saying why).</summary>
    Auto,
    /// <summary>ONNX Runtime only; fails when the library is missing.</summary>
    OnnxRuntime,
    /// <summary>The managed forward of <see cref="Network"/> (needs a model inside the importer's subset).</summary>
    Managed,
}

/// <summary>
/// Runs a model on batches of samples. Implementations share one contract: input is batch × <see cref="InputSize"/>
/// floats in the model's layout, output batch × <see cref="OutputSize"/>. Not thread-safe: one run at a time.
/// </summary>
public interface IInferenceBackend : IDisposable
{
    /// <summary>Engine name and version, e.g. <c>onnxruntime 1.30.0 (CPU)</c> or <c>managed</c>.</summary>
    string Name { get; }

    /// <summary>Why this engine was chosen or how it differs from what was asked (fallback, provider), or null.</summary>
    string? Note { get; }

    /// <summary>Per-sample input shape (without the batch).</summary>
    IReadOnlyList<int> InputShape { get; }

    /// <summary>Per-sample output shape.</summary>
    IReadOnlyList<int> OutputShape { get; }

    /// <summary>Floats per input sample.</summary>
    int InputSize { get; }

    /// <summary>Floats per output sample.</summary>
    int OutputSize { get; }

    /// <summary>Runs <paramref name="batch"/> samples.</summary>
    void Run(ReadOnlySpan<float> input, int batch, Span<float> output);
}

/// <summary>The managed forward pass of a <see cref="Network"/> as a backend.</summary>
public sealed class ManagedBackend : IInferenceBackend
{
    private readonly Network _net;

    /// <summary>Wraps <paramref name="network"/>, splitting batches across <paramref name="threads"/> threads.</summary>
    public ManagedBackend(Network network, int threads = 1, string? note = null)
    {
        _net = network ?? throw new ArgumentNullException(nameof(network));
        _net.Threads = threads;
        Note = note;
    }

    /// <summary>The network run.</summary>
    public Network Network => _net;

    /// <inheritdoc />
    public string Name => "managed";

    /// <inheritdoc />
    public string? Note { get; }

    /// <inheritdoc />
    public IReadOnlyList<int> InputShape => _net.InputShape;

    /// <inheritdoc />
    public IReadOnlyList<int> OutputShape => _net.OutputShape;

    /// <inheritdoc />
    public int InputSize => _net.InputSize;

    /// <inheritdoc />
    public int OutputSize => _net.OutputSize;

    /// <inheritdoc />
    public void Run(ReadOnlySpan<float> input, int batch, Span<float> output) => _net.Forward(input, batch, output);

    /// <inheritdoc />
    public void Dispose() { }
}

/// <summary>An <see cref="OnnxRuntimeSession"/> as a backend.</summary>
public sealed class OnnxRuntimeBackend : IInferenceBackend
{
    /// <summary>Wraps an open session (the backend disposes it).</summary>
    public OnnxRuntimeBackend(OnnxRuntimeSession session)
    {
        Session = session ?? throw new ArgumentNullException(nameof(session));
        InputShape = session.InputShape.Skip(1).Select(d => (int)d).ToArray();
        OutputShape = session.OutputShape.Skip(1).Select(d => (int)d).ToArray();
    }

    /// <summary>The ONNX Runtime session.</summary>
    public OnnxRuntimeSession Session { get; }

    /// <inheritdoc />
    public string Name => $"onnxruntime {Session.RuntimeVersion} ({Session.ExecutionProvider})";

    /// <inheritdoc />
    public string? Note => Session.ProviderNote;

    /// <inheritdoc />
    public IReadOnlyList<int> InputShape { get; }

    /// <inheritdoc />
    public IReadOnlyList<int> OutputShape { get; }

    /// <inheritdoc />
    public int InputSize => Session.InputSampleSize;

    /// <inheritdoc />
    public int OutputSize => Session.OutputSampleSize;

    /// <inheritdoc />
    public void Run(ReadOnlySpan<float> input, int batch, Span<float> output) => Session.Run(input, batch, output);

    /// <inheritdoc />
    public void Dispose() => Session.Dispose();
}

/// <summary>Opens a model on the engine asked for, falling back from ONNX Runtime to the managed forward under <see cref="BackendKind.Auto"/>.</summary>
public static class InferenceBackends
{
    /// <summary>Opens the .onnx file at <paramref name="modelPath"/>.</summary>
    public static IInferenceBackend Open(string modelPath, BackendKind kind = BackendKind.Auto, InferenceOptions? options = null) =>
        Open(() => File.ReadAllBytes(modelPath), modelPath, kind, options ?? new InferenceOptions(), ortFromFile: true);

    /// <summary>Opens a model from its ONNX bytes; <paramref name="source"/> names it in messages.</summary>
    public static IInferenceBackend Open(byte[] model, BackendKind kind = BackendKind.Auto, InferenceOptions? options = null, string source = "(model bytes)") =>
        Open(() => model, source, kind, options ?? new InferenceOptions(), ortFromFile: false);

    /// <summary>Opens a trained <paramref name="network"/>: ONNX Runtime runs its ONNX export, the managed backend runs it directly.</summary>
    public static IInferenceBackend Open(Network network, BackendKind kind = BackendKind.Auto, InferenceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        options ??= new InferenceOptions();
        if (kind == BackendKind.Managed) return new ManagedBackend(network, Math.Max(1, options.Threads));
        var lib = OnnxRuntimeLibrary.TryLoad(options.LibraryPath, out string? reason);
        if (lib is null)
        {
            if (kind == BackendKind.OnnxRuntime) OnnxRuntimeLibrary.Load(options.LibraryPath);
            return new ManagedBackend(network, Math.Max(1, options.Threads), FallbackNote(reason));
        }
        return new OnnxRuntimeBackend(new OnnxRuntimeSession(OnnxExporter.Export(network), options, "(exported network)"));
    }

    private static IInferenceBackend Open(Func<byte[]> bytes, string source, BackendKind kind, InferenceOptions options, bool ortFromFile)
    {
        if (kind != BackendKind.Managed)
        {
            var lib = OnnxRuntimeLibrary.TryLoad(options.LibraryPath, out string? reason);
            if (lib is not null)
                return new OnnxRuntimeBackend(ortFromFile ? new OnnxRuntimeSession(source, options) : new OnnxRuntimeSession(bytes(), options, source));
            if (kind == BackendKind.OnnxRuntime) OnnxRuntimeLibrary.Load(options.LibraryPath);
            var model = LoadManaged(bytes, source);
            return new ManagedBackend(model.Network, Math.Max(1, options.Threads), FallbackNote(reason));
        }
        return new ManagedBackend(LoadManaged(bytes, source).Network, Math.Max(1, options.Threads));
    }

    private static OnnxModel LoadManaged(Func<byte[]> bytes, string source)
    {
        byte[] data;
        try { data = bytes(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OnnxFormatException($"cannot read ONNX model '{source}': {e.Message}", e);
        }
        return OnnxImporter.Load(data, source);
    }

    private static string FallbackNote(string? reason) =>
        $"using the managed forward instead of ONNX Runtime (slower, same results within float rounding). {reason}";
}
