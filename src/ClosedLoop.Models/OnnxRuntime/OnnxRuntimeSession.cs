using System.Runtime.InteropServices;
using System.Text;

namespace ClosedLoop.Models.OnnxRuntime;

/// <summary>Options of an inference session (ONNX Runtime or the managed forward). Read once when the session is created.</summary>
public sealed record InferenceOptions
{
    /// <summary>Threads used inside one run (ORT intra-op threads; managed: threads the batch is split across). 1 keeps a
    /// latency-critical loop on its own core; 0 lets ORT choose.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Ask ONNX Runtime for its CUDA execution provider first; when it cannot be had the session runs on the
    /// CPU and <see cref="OnnxRuntimeSession.ProviderNote"/> says why.</summary>
    public bool UseCuda { get; init; }

    /// <summary>CUDA device index when <see cref="UseCuda"/> is set.</summary>
    public int CudaDeviceId { get; init; }

    /// <summary>Path of the ONNX Runtime library (file or folder); null = the usual search (see <see cref="OnnxRuntimeLibrary"/>).</summary>
    public string? LibraryPath { get; init; }
}

/// <summary>
/// An ONNX model loaded into ONNX Runtime through its C API. One float input and one float output (the first, if the
/// model has several); sizes after the batch dimension must be fixed. Runs use input and output buffers pinned
/// once per batch size and wrapped with CreateTensorWithDataAsOrtValue, so after the first run of a batch size this
/// side allocates nothing. Not thread-safe for concurrent runs (they are serialised by a lock).
/// </summary>
public sealed unsafe class OnnxRuntimeSession : IDisposable
{
    private readonly OnnxRuntimeLibrary _lib;
    private readonly Lock _gate = new();
    private nint _env, _session, _memory;
    private nint _inValue, _outValue;
    private byte* _inName, _outName;
    private float[] _inBuf = [], _outBuf = [];
    private int _batch;
    private bool _disposed;

    /// <summary>Loads the model file at <paramref name="modelPath"/>.</summary>
    /// <exception cref="OnnxRuntimeNotAvailableException">The library is missing.</exception>
    /// <exception cref="OnnxRuntimeException">The model cannot be loaded (the message names the file and gives ORT's reason).</exception>
    public OnnxRuntimeSession(string modelPath, InferenceOptions? options = null)
        : this(null, modelPath, options ?? new InferenceOptions()) { }

    /// <summary>Loads a model from its bytes; <paramref name="source"/> names it in messages.</summary>
    public OnnxRuntimeSession(byte[] model, InferenceOptions? options = null, string source = "(model bytes)")
        : this(model ?? throw new ArgumentNullException(nameof(model)), source, options ?? new InferenceOptions()) { }

    private OnnxRuntimeSession(byte[]? model, string source, InferenceOptions options)
    {
        if (options.Threads is < 0 or > 256) throw new ArgumentOutOfRangeException(nameof(options), options.Threads, "Threads must be between 0 and 256");
        _lib = OnnxRuntimeLibrary.Load(options.LibraryPath);
        Source = source;
        _env = _lib.AcquireEnv();
        nint opts = 0;
        try
        {
            _lib.Check(((delegate* unmanaged<nint*, nint>)_lib.Fn(OrtSlots.CreateSessionOptions))(&opts), "CreateSessionOptions");
            _lib.Check(((delegate* unmanaged<nint, int, nint>)_lib.Fn(OrtSlots.SetIntraOpNumThreads))(opts, options.Threads), "SetIntraOpNumThreads");
            _lib.Check(((delegate* unmanaged<nint, int, nint>)_lib.Fn(OrtSlots.SetInterOpNumThreads))(opts, 1), "SetInterOpNumThreads");
            _lib.Check(((delegate* unmanaged<nint, int, nint>)_lib.Fn(OrtSlots.SetSessionGraphOptimizationLevel))(opts, OrtSlots.OptimizeAll), "SetSessionGraphOptimizationLevel");
            ExecutionProvider = "CPU";
            if (options.UseCuda) TryAppendCuda(opts, options.CudaDeviceId);
            nint session;
            nint status;
            if (model is null)
            {
                if (!File.Exists(source)) throw new OnnxRuntimeException(3, $"could not load ONNX model '{source}': no such file");
                byte[] path = Encoding.UTF8.GetBytes(source + "\0");
                fixed (byte* p = path)
                    status = ((delegate* unmanaged<nint, byte*, nint, nint*, nint>)_lib.Fn(OrtSlots.CreateSession))(_env, p, opts, &session);
            }
            else
            {
                fixed (byte* p = model)
                    status = ((delegate* unmanaged<nint, byte*, nuint, nint, nint*, nint>)_lib.Fn(OrtSlots.CreateSessionFromArray))(_env, p, (nuint)model.Length, opts, &session);
            }
            if (status != 0)
            {
                var (code, message) = _lib.TakeStatus(status);
                throw new OnnxRuntimeException(code, $"could not load ONNX model '{source}': {message}");
            }
            _session = session;
            Describe();
            nint mem;
            _lib.Check(((delegate* unmanaged<int, int, nint*, nint>)_lib.Fn(OrtSlots.CreateCpuMemoryInfo))(OrtSlots.DeviceAllocator, OrtSlots.MemTypeDefault, &mem), "CreateCpuMemoryInfo");
            _memory = mem;
        }
        catch
        {
            Dispose();
            throw;
        }
        finally
        {
            _lib.Release(OrtSlots.ReleaseSessionOptions, opts);
        }
    }

    /// <summary>The model file or source name.</summary>
    public string Source { get; }

    /// <summary>ONNX Runtime's version string.</summary>
    public string RuntimeVersion => _lib.Version;

    /// <summary>Where the library was loaded from.</summary>
    public string LibraryPath => _lib.Path;

    /// <summary>"CUDA" when the CUDA execution provider was appended, else "CPU".</summary>
    public string ExecutionProvider { get; private set; } = "CPU";

    /// <summary>Why a requested provider is not in use (e.g. CUDA unavailable), or null.</summary>
    public string? ProviderNote { get; private set; }

    /// <summary>Name of the model input.</summary>
    public string InputName { get; private set; } = "";

    /// <summary>Name of the model output used.</summary>
    public string OutputName { get; private set; } = "";

    /// <summary>Input shape as the model declares it; −1 marks a symbolic (free) dimension.</summary>
    public long[] InputShape { get; private set; } = [];

    /// <summary>Output shape as the model declares it; −1 marks a symbolic dimension.</summary>
    public long[] OutputShape { get; private set; } = [];

    /// <summary>Floats per input sample (product of the input dimensions after the batch).</summary>
    public int InputSampleSize { get; private set; }

    /// <summary>Floats per output sample.</summary>
    public int OutputSampleSize { get; private set; }

    /// <summary>Text of the input shape, e.g. <c>[N, 1, 64]</c>.</summary>
    public string InputShapeText => FormatShape(InputShape);

    private static string FormatShape(long[] s) => "[" + string.Join(", ", s.Select((d, i) => d < 0 ? (i == 0 ? "N" : "?") : d.ToString())) + "]";

    private void TryAppendCuda(nint opts, int deviceId)
    {
        // OrtCUDAProviderOptions: device_id, cudnn_conv_algo_search, gpu_mem_limit, arena_extend_strategy,
        // do_copy_in_default_stream, has_user_compute_stream, user_compute_stream, default_memory_arena_cfg, then
        // fields later versions appended; a zeroed, oversized block leaves those at their defaults.
        byte* block = stackalloc byte[256];
        new Span<byte>(block, 256).Clear();
        *(int*)block = deviceId;
        *(int*)(block + 4) = 2; // OrtCudnnConvAlgoSearchDefault
        *(nuint*)(block + 8) = nuint.MaxValue;
        *(int*)(block + 20) = 1;
        nint status = ((delegate* unmanaged<nint, byte*, nint>)_lib.Fn(OrtSlots.SessionOptionsAppendExecutionProvider_CUDA))(opts, block);
        if (status == 0)
        {
            ExecutionProvider = "CUDA";
            return;
        }
        var (_, message) = _lib.TakeStatus(status);
        ProviderNote = $"CUDA execution provider unavailable ({message.Trim()}; it needs libonnxruntime_providers_shared.so and " +
                       $"libonnxruntime_providers_cuda.so beside {_lib.Path}, plus CUDA and cuDNN); running on the CPU.";
    }

    private void Describe()
    {
        nuint inputs, outputs;
        _lib.Check(((delegate* unmanaged<nint, nuint*, nint>)_lib.Fn(OrtSlots.SessionGetInputCount))(_session, &inputs), "SessionGetInputCount");
        _lib.Check(((delegate* unmanaged<nint, nuint*, nint>)_lib.Fn(OrtSlots.SessionGetOutputCount))(_session, &outputs), "SessionGetOutputCount");
        if (inputs != 1) throw new OnnxRuntimeException(0, $"ONNX model '{Source}' has {inputs} inputs; this session supports models with exactly one input.");
        if (outputs < 1) throw new OnnxRuntimeException(0, $"ONNX model '{Source}' has no outputs.");
        InputName = Name(OrtSlots.SessionGetInputName, out _inName);
        OutputName = Name(OrtSlots.SessionGetOutputName, out _outName);
        InputShape = TensorShape(OrtSlots.SessionGetInputTypeInfo, InputName);
        OutputShape = TensorShape(OrtSlots.SessionGetOutputTypeInfo, OutputName);
        InputSampleSize = SampleSize(InputShape, "input", InputName);
        OutputSampleSize = SampleSize(OutputShape, "output", OutputName);
    }

    private int SampleSize(long[] shape, string what, string name)
    {
        if (shape.Length < 1 || shape.Skip(1).Any(d => d <= 0))
            throw new OnnxRuntimeException(0, $"ONNX model '{Source}': {what} '{name}' has shape {FormatShape(shape)}; this session needs fixed sizes after the batch dimension.");
        return checked((int)shape.Skip(1).Aggregate(1L, (a, d) => a * d));
    }

    private string Name(int slot, out byte* native)
    {
        nint allocator;
        _lib.Check(((delegate* unmanaged<nint*, nint>)_lib.Fn(OrtSlots.GetAllocatorWithDefaultOptions))(&allocator), "GetAllocatorWithDefaultOptions");
        byte* name;
        _lib.Check(((delegate* unmanaged<nint, nuint, nint, byte**, nint>)_lib.Fn(slot))(_session, 0, allocator, &name), "SessionGetName");
        string managed = Marshal.PtrToStringUTF8((nint)name) ?? "";
        _lib.Check(((delegate* unmanaged<nint, void*, nint>)_lib.Fn(OrtSlots.AllocatorFree))(allocator, name), "AllocatorFree");
        byte[] utf8 = Encoding.UTF8.GetBytes(managed + "\0");
        native = (byte*)NativeMemory.Alloc((nuint)utf8.Length);
        utf8.CopyTo(new Span<byte>(native, utf8.Length));
        return managed;
    }

    private long[] TensorShape(int slot, string name)
    {
        nint typeInfo;
        _lib.Check(((delegate* unmanaged<nint, nuint, nint*, nint>)_lib.Fn(slot))(_session, 0, &typeInfo), "SessionGetTypeInfo");
        try
        {
            int onnxType;
            _lib.Check(((delegate* unmanaged<nint, int*, nint>)_lib.Fn(OrtSlots.GetOnnxTypeFromTypeInfo))(typeInfo, &onnxType), "GetOnnxTypeFromTypeInfo");
            if (onnxType != OrtSlots.OnnxTypeTensor) throw new OnnxRuntimeException(0, $"ONNX model '{Source}': '{name}' is not a tensor (ONNX type {onnxType}).");
            nint info;
            _lib.Check(((delegate* unmanaged<nint, nint*, nint>)_lib.Fn(OrtSlots.CastTypeInfoToTensorInfo))(typeInfo, &info), "CastTypeInfoToTensorInfo");
            int element;
            _lib.Check(((delegate* unmanaged<nint, int*, nint>)_lib.Fn(OrtSlots.GetTensorElementType))(info, &element), "GetTensorElementType");
            if (element != OrtSlots.ElementFloat) throw new OnnxRuntimeException(0, $"ONNX model '{Source}': '{name}' has element type {element}; only float32 (1) is supported.");
            nuint count;
            _lib.Check(((delegate* unmanaged<nint, nuint*, nint>)_lib.Fn(OrtSlots.GetDimensionsCount))(info, &count), "GetDimensionsCount");
            var dims = new long[(int)count];
            fixed (long* d = dims)
                _lib.Check(((delegate* unmanaged<nint, long*, nuint, nint>)_lib.Fn(OrtSlots.GetDimensions))(info, d, count), "GetDimensions");
            return dims;
        }
        finally
        {
            _lib.Release(OrtSlots.ReleaseTypeInfo, typeInfo);
        }
    }

    /// <summary>Runs <paramref name="batch"/> samples: <paramref name="input"/> holds batch × <see cref="InputSampleSize"/>
    /// floats, <paramref name="output"/> receives batch × <see cref="OutputSampleSize"/>.</summary>
    /// <exception cref="ArgumentException">The input length or batch does not match the model's shape (the message gives the expected shape).</exception>
    public void Run(ReadOnlySpan<float> input, int batch, Span<float> output)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            CheckBatch(batch);
            if (input.Length != batch * InputSampleSize)
                throw new ArgumentException($"input '{InputName}' of ONNX model '{Source}' expects shape {InputShapeText} = {batch} × {InputSampleSize} floats for a batch of {batch}; got {input.Length} floats.", nameof(input));
            if (output.Length < batch * OutputSampleSize)
                throw new ArgumentException($"output '{OutputName}' of ONNX model '{Source}' has shape {FormatShape(OutputShape)}: a batch of {batch} needs {batch * OutputSampleSize} floats, the buffer holds {output.Length}.", nameof(output));
            Bind(batch);
            input.CopyTo(_inBuf);
            RunBound();
            _outBuf.AsSpan(0, batch * OutputSampleSize).CopyTo(output);
        }
    }

    private void CheckBatch(int batch)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch must be ≥ 1");
        if (InputShape[0] > 0 && batch != InputShape[0])
            throw new ArgumentException($"input '{InputName}' of ONNX model '{Source}' has the fixed shape {InputShapeText}: the batch must be {InputShape[0]}, got {batch}.", nameof(batch));
    }

    private void Bind(int batch)
    {
        if (batch == _batch) return;
        ReleaseValues();
        if (_inBuf.Length < batch * InputSampleSize) _inBuf = GC.AllocateUninitializedArray<float>(batch * InputSampleSize, pinned: true);
        if (_outBuf.Length < batch * OutputSampleSize) _outBuf = GC.AllocateUninitializedArray<float>(batch * OutputSampleSize, pinned: true);
        _inValue = CreateValue(_inBuf, InputShape, batch, InputSampleSize);
        _outValue = CreateValue(_outBuf, OutputShape, batch, OutputSampleSize);
        _batch = batch;
    }

    private nint CreateValue(float[] pinnedBuffer, long[] declared, int batch, int sampleSize)
    {
        long* shape = stackalloc long[declared.Length];
        shape[0] = batch;
        for (int i = 1; i < declared.Length; i++) shape[i] = declared[i];
        nint value;
        // The array lives on the pinned object heap, so its address is stable for the value's lifetime.
        fixed (float* data = pinnedBuffer)
            _lib.Check(((delegate* unmanaged<nint, void*, nuint, long*, nuint, int, nint*, nint>)_lib.Fn(OrtSlots.CreateTensorWithDataAsOrtValue))(
                _memory, data, (nuint)(batch * sampleSize * sizeof(float)), shape, (nuint)declared.Length, OrtSlots.ElementFloat, &value), "CreateTensorWithDataAsOrtValue");
        return value;
    }

    private void RunBound()
    {
        byte* inName = _inName, outName = _outName;
        nint inValue = _inValue, outValue = _outValue;
        nint status = ((delegate* unmanaged<nint, nint, byte**, nint*, nuint, byte**, nuint, nint*, nint>)_lib.Fn(OrtSlots.Run))(
            _session, 0, &inName, &inValue, 1, &outName, 1, &outValue);
        if (status != 0)
        {
            var (code, message) = _lib.TakeStatus(status);
            throw new OnnxRuntimeException(code, $"running ONNX model '{Source}' failed: {message}");
        }
        if (outValue != _outValue)
        {
            // ORT replaced the output (it should not for a matching shape): keep ours, drop theirs.
            _lib.Release(OrtSlots.ReleaseValue, outValue);
            throw new OnnxRuntimeException(0, $"ONNX model '{Source}' produced an output of an unexpected shape (declared {FormatShape(OutputShape)}).");
        }
    }

    private void ReleaseValues()
    {
        _lib.Release(OrtSlots.ReleaseValue, _inValue);
        _lib.Release(OrtSlots.ReleaseValue, _outValue);
        _inValue = _outValue = 0;
        _batch = 0;
    }

    /// <summary>Releases every ONNX Runtime object of the session.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            ReleaseValues();
            _lib.Release(OrtSlots.ReleaseMemoryInfo, _memory);
            _lib.Release(OrtSlots.ReleaseSession, _session);
            _memory = _session = 0;
            if (_inName != null) NativeMemory.Free(_inName);
            if (_outName != null) NativeMemory.Free(_outName);
            _inName = _outName = null;
            if (_env != 0) _lib.ReleaseEnv();
            _env = 0;
        }
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases native objects if the session was not disposed.</summary>
    ~OnnxRuntimeSession() => Dispose();
}
