using System.Runtime.InteropServices;

namespace ClosedLoop.Models.OnnxRuntime;

/// <summary>An ONNX Runtime call failed. <see cref="ErrorCode"/> is ORT's OrtErrorCode; the message is ORT's, copied before its status was released.</summary>
public class OnnxRuntimeException : Exception
{
    /// <summary>Creates the error.</summary>
    public OnnxRuntimeException(int errorCode, string message) : base(message) => ErrorCode = errorCode;

    /// <summary>OrtErrorCode: 1 FAIL, 2 INVALID_ARGUMENT, 3 NO_SUCHFILE, 4 NO_MODEL, 5 ENGINE_ERROR, 6 RUNTIME_EXCEPTION, 7 INVALID_PROTOBUF, 8 MODEL_LOADED, 9 NOT_IMPLEMENTED, 10 INVALID_GRAPH, 11 EP_FAIL; 0 for errors of this binding.</summary>
    public int ErrorCode { get; }
}

/// <summary>The ONNX Runtime library could not be loaded (or is too old). The message lists where it was looked for and how to get it.</summary>
public sealed class OnnxRuntimeNotAvailableException : OnnxRuntimeException
{
    /// <summary>Creates the error.</summary>
    public OnnxRuntimeNotAvailableException(string message, IReadOnlyList<string> tried) : base(0, message) => Tried = tried;

    /// <summary>Library paths and names tried, in order.</summary>
    public IReadOnlyList<string> Tried { get; }
}

/// <summary>
/// The loaded ONNX Runtime library and its C API function table (<c>OrtGetApiBase()->GetApi(30)</c>). The library
/// is looked for, in order: the explicit path given, the CLOSEDLOOP_ONNXRUNTIME environment variable (a file, or a
/// folder holding it), <c>.native/onnxruntime/</c> in the application folder or any folder above it (where
/// <c>build/setup-native.sh onnxruntime</c> puts it), then the system loader. Each library is loaded once per process.
/// </summary>
public sealed unsafe class OnnxRuntimeLibrary
{
    /// <summary>The C API version requested (ONNX Runtime 1.30).</summary>
    public const uint ApiVersion = 30;

    /// <summary>Environment variable that points at the library (file or folder).</summary>
    public const string PathVariable = "CLOSEDLOOP_ONNXRUNTIME";

    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, OnnxRuntimeLibrary> Loaded = [];

    private readonly nint* _api;
    private nint _env;
    private int _envUsers;

    private OnnxRuntimeLibrary(string path, nint handle, nint* api, string version)
    {
        Path = path;
        Handle = handle;
        _api = api;
        Version = version;
    }

    /// <summary>The file (or loader name) that was loaded.</summary>
    public string Path { get; }

    /// <summary>ONNX Runtime's version string, e.g. 1.30.0.</summary>
    public string Version { get; }

    internal nint Handle { get; }

    /// <summary>File names of the library on this platform.</summary>
    public static IReadOnlyList<string> PlatformNames { get; } =
        OperatingSystem.IsWindows() ? ["onnxruntime.dll"]
        : OperatingSystem.IsMacOS() ? ["libonnxruntime.dylib"]
        : ["libonnxruntime.so.1", "libonnxruntime.so"];

    /// <summary>Where the library is looked for, in order, given an optional explicit path.</summary>
    public static IReadOnlyList<string> Candidates(string? explicitPath = null)
    {
        if (!string.IsNullOrEmpty(explicitPath)) return Expand(explicitPath);
        string? env = Environment.GetEnvironmentVariable(PathVariable);
        if (!string.IsNullOrEmpty(env)) return Expand(env);
        var list = new List<string>();
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string folder = System.IO.Path.Combine(dir.FullName, ".native", "onnxruntime");
            if (Directory.Exists(folder))
            {
                list.AddRange(PlatformNames.Select(n => System.IO.Path.Combine(folder, n)));
                break;
            }
        }
        list.AddRange(PlatformNames);
        return list;
    }

    private static string[] Expand(string path) =>
        Directory.Exists(path) ? PlatformNames.Select(n => System.IO.Path.Combine(path, n)).ToArray() : [path];

    /// <summary>Loads (once) the library found by <see cref="Candidates"/>.</summary>
    /// <exception cref="OnnxRuntimeNotAvailableException">No candidate loads, or it lacks API version 30.</exception>
    public static OnnxRuntimeLibrary Load(string? explicitPath = null)
    {
        var candidates = Candidates(explicitPath);
        lock (Gate)
        {
            foreach (string c in candidates)
                if (Loaded.TryGetValue(c, out var lib)) return lib;
            var problems = new List<string>();
            foreach (string c in candidates)
            {
                bool isPath = c.Contains('/') || c.Contains('\\');
                if (isPath && !File.Exists(c)) { problems.Add($"{c} (no such file)"); continue; }
                if (!NativeLibrary.TryLoad(c, out nint handle)) { problems.Add($"{c} (not loadable)"); continue; }
                if (!NativeLibrary.TryGetExport(handle, "OrtGetApiBase", out nint getBase))
                {
                    problems.Add($"{c} (no OrtGetApiBase export: not ONNX Runtime)");
                    continue;
                }
                nint* apiBase = ((delegate* unmanaged<nint*>)getBase)();
                string version = Marshal.PtrToStringUTF8(((delegate* unmanaged<nint>)apiBase[1])()) ?? "?";
                nint* api = (nint*)((delegate* unmanaged<uint, nint>)apiBase[0])(ApiVersion);
                if (api == null)
                {
                    problems.Add($"{c} (ONNX Runtime {version} lacks C API version {ApiVersion}; 1.30 or newer is needed)");
                    continue;
                }
                var loaded = new OnnxRuntimeLibrary(c, handle, api, version);
                Loaded[c] = loaded;
                return loaded;
            }
            throw new OnnxRuntimeNotAvailableException(
                "ONNX Runtime is not available: tried " + string.Join("; ", problems) + ". Get it with `build/setup-native.sh onnxruntime` " +
                $"(fetches libonnxruntime.so.1 1.30.0 into .native/onnxruntime/ at the repository root), or set {PathVariable} to the library's path.",
                candidates);
        }
    }

    /// <summary>Tries <see cref="Load"/>; returns null and the reason instead of throwing.</summary>
    public static OnnxRuntimeLibrary? TryLoad(string? explicitPath, out string? reason)
    {
        try
        {
            reason = null;
            return Load(explicitPath);
        }
        catch (OnnxRuntimeNotAvailableException e)
        {
            reason = e.Message;
            return null;
        }
    }

    /// <summary>Names of the execution providers compiled into this library (e.g. CPUExecutionProvider).</summary>
    public IReadOnlyList<string> AvailableProviders()
    {
        byte** names;
        int count;
        Check(((delegate* unmanaged<byte***, int*, nint>)Fn(OrtSlots.GetAvailableProviders))(&names, &count), "GetAvailableProviders");
        var list = new List<string>();
        for (int i = 0; i < count; i++) list.Add(Marshal.PtrToStringUTF8((nint)names[i]) ?? "");
        Check(((delegate* unmanaged<byte**, int, nint>)Fn(OrtSlots.ReleaseAvailableProviders))(names, count), "ReleaseAvailableProviders");
        return list;
    }

    /// <summary>Function pointer at <paramref name="slot"/> of the OrtApi table.</summary>
    internal nint Fn(int slot) => _api[slot];

    /// <summary>Throws <see cref="OnnxRuntimeException"/> for a non-null OrtStatus, copying its message and code before releasing it.</summary>
    internal void Check(nint status, string what)
    {
        if (status == 0) return;
        var (code, message) = TakeStatus(status);
        throw new OnnxRuntimeException(code, $"{what}: {message}");
    }

    /// <summary>Reads and releases a non-null OrtStatus.</summary>
    internal (int Code, string Message) TakeStatus(nint status)
    {
        int code = ((delegate* unmanaged<nint, int>)Fn(OrtSlots.GetErrorCode))(status);
        string message = Marshal.PtrToStringUTF8(((delegate* unmanaged<nint, nint>)Fn(OrtSlots.GetErrorMessage))(status)) ?? "(no message)";
        ((delegate* unmanaged<nint, void>)Fn(OrtSlots.ReleaseStatus))(status);
        return (code, message);
    }

    /// <summary>Calls a ReleaseX function (no-op for null).</summary>
    internal void Release(int slot, nint handle)
    {
        if (handle != 0) ((delegate* unmanaged<nint, void>)Fn(slot))(handle);
    }

    /// <summary>The shared OrtEnv (created on first use, released when its last session is disposed).</summary>
    internal nint AcquireEnv()
    {
        lock (Gate)
        {
            if (_env == 0)
            {
                nint env;
                fixed (byte* id = "closedloop"u8)
                    Check(((delegate* unmanaged<int, byte*, nint*, nint>)Fn(OrtSlots.CreateEnv))(OrtSlots.LoggingLevelFatal, id, &env), "CreateEnv");
                _env = env;
            }
            _envUsers++;
            return _env;
        }
    }

    internal void ReleaseEnv()
    {
        lock (Gate)
        {
            if (--_envUsers > 0 || _env == 0) return;
            Release(OrtSlots.ReleaseEnv, _env);
            _env = 0;
        }
    }
}

/// <summary>
/// Indices into the OrtApi function table, counted from the declaration order of <c>struct OrtApi</c> in
/// include/onnxruntime/core/session/onnxruntime_c_api.h. The table only grows at its end, so an index stays valid
/// for every later API version; they were checked against the header and against the library (see docs/models.md).
/// </summary>
internal static class OrtSlots
{
    public const int GetErrorCode = 1, GetErrorMessage = 2, CreateEnv = 3, CreateSession = 7, CreateSessionFromArray = 8,
        Run = 9, CreateSessionOptions = 10, SetSessionGraphOptimizationLevel = 23, SetIntraOpNumThreads = 24,
        SetInterOpNumThreads = 25, SessionGetInputCount = 30, SessionGetOutputCount = 31, SessionGetInputTypeInfo = 33,
        SessionGetOutputTypeInfo = 34, SessionGetInputName = 36, SessionGetOutputName = 37,
        CreateTensorWithDataAsOrtValue = 49, CastTypeInfoToTensorInfo = 55, GetOnnxTypeFromTypeInfo = 56,
        GetTensorElementType = 60, GetDimensionsCount = 61, GetDimensions = 62, CreateCpuMemoryInfo = 69,
        AllocatorFree = 76, GetAllocatorWithDefaultOptions = 78, ReleaseEnv = 92, ReleaseStatus = 93,
        ReleaseMemoryInfo = 94, ReleaseSession = 95, ReleaseValue = 96, ReleaseTypeInfo = 98,
        ReleaseSessionOptions = 100, GetAvailableProviders = 125, ReleaseAvailableProviders = 126,
        SessionOptionsAppendExecutionProvider_CUDA = 152;

    /// <summary>ORT_LOGGING_LEVEL_FATAL: ORT's own log stays quiet; every failure reaches the caller as a status instead.</summary>
    public const int LoggingLevelFatal = 4;
    /// <summary>ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT.</summary>
    public const int ElementFloat = 1;
    /// <summary>ONNX_TYPE_TENSOR.</summary>
    public const int OnnxTypeTensor = 1;
    /// <summary>OrtDeviceAllocator.</summary>
    public const int DeviceAllocator = 0;
    /// <summary>OrtMemTypeDefault.</summary>
    public const int MemTypeDefault = 0;
    /// <summary>ORT_ENABLE_ALL.</summary>
    public const int OptimizeAll = 99;
}
