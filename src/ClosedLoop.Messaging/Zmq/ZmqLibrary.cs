using System.Reflection;
using System.Runtime.InteropServices;

namespace ClosedLoop.Messaging.Zmq;

/// <summary>
/// Finds and checks the native libzmq once per process: resolves the library by its usual names (libzmq.so.5 first),
/// checks its version (4.2 or later) and says clearly how to install it when it is missing.
/// </summary>
public static class ZmqLibrary
{
    /// <summary>Oldest libzmq version the binding accepts (CURVE key derivation and the option set used here).</summary>
    public static readonly Version MinimumVersion = new(4, 2, 0);

    private static readonly object Gate = new();
    private static nint _handle;
    private static Version? _version;
    private static Exception? _loadError;
    private static bool _resolverSet;

    /// <summary>Library names tried in order.</summary>
    internal static string[] CandidateNames =>
        OperatingSystem.IsWindows() ? ["libzmq.dll", "libzmq"]
        : OperatingSystem.IsMacOS() ? ["libzmq.5.dylib", "libzmq.dylib"]
        : ["libzmq.so.5", "libzmq.so"];

    /// <summary>The POSIX EAGAIN value of this platform (returned by a non-blocking send or receive that would wait).</summary>
    internal static readonly int EAGAIN = OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? 35 : ZmqConstants.EAGAIN;

    /// <summary>Version of the loaded library; loads it if needed.</summary>
    public static Version Version
    {
        get { EnsureLoaded(); return _version!; }
    }

    /// <summary>True when libzmq can be loaded (for tests that skip without it).</summary>
    public static bool IsAvailable(out string reason)
    {
        try { EnsureLoaded(); reason = ""; return true; }
        catch (ZmqNotInstalledException e) { reason = e.Message; return false; }
    }

    /// <summary>True when the loaded library supports CURVE security (built with libsodium or tweetnacl).</summary>
    public static bool HasCurve
    {
        get { EnsureLoaded(); return NativeMethods.zmq_has("curve") == 1; }
    }

    /// <summary>Loads libzmq and checks its version; throws <see cref="ZmqNotInstalledException"/> naming the library
    /// and how to install it. Cheap after the first call.</summary>
    public static void EnsureLoaded()
    {
        if (Volatile.Read(ref _handle) != 0) return;
        lock (Gate)
        {
            if (_handle != 0) return;
            if (_loadError is not null) throw _loadError;
            var (handle, error) = Probe(CandidateNames);
            if (handle == 0)
            {
                _loadError = error!;
                throw _loadError;
            }
            if (!_resolverSet)
            {
                NativeLibrary.SetDllImportResolver(typeof(ZmqLibrary).Assembly, Resolve);
                _resolverSet = true;
            }
            Volatile.Write(ref _handle, handle);
            NativeMethods.zmq_version(out int major, out int minor, out int patch);
            var version = new Version(major, minor, patch);
            if (version < MinimumVersion)
            {
                _handle = 0;
                _loadError = new ZmqNotInstalledException(
                    $"libzmq {version} is too old: ClosedLoop needs {MinimumVersion} or later. {InstallHint}");
                throw _loadError;
            }
            _version = version;
        }
    }

    /// <summary>How to install libzmq, in words.</summary>
    public const string InstallHint =
        "Install it with `apt-get install libzmq5` (Debian/Ubuntu) or run `build/setup-native.sh zmq` from the repository.";

    /// <summary>Tries each name; returns the handle of the first that loads, or the error to throw.</summary>
    internal static (nint Handle, ZmqNotInstalledException? Error) Probe(IReadOnlyList<string> names)
    {
        foreach (var name in names)
            if (NativeLibrary.TryLoad(name, out var handle)) return (handle, null);
        return (0, new ZmqNotInstalledException(
            $"The ZeroMQ library could not be loaded (tried {string.Join(", ", names)}): the event bus and remote control need it. {InstallHint}"));
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        libraryName == NativeMethods.Library ? _handle : 0;
}

/// <summary>libzmq is not installed (or too old): the message names the library and how to install it.</summary>
public sealed class ZmqNotInstalledException : Exception
{
    /// <summary>Creates the error.</summary>
    public ZmqNotInstalledException(string message) : base(message) { }
}

/// <summary>A libzmq call failed: <see cref="ErrorCode"/> is libzmq's errno, the message its zmq_strerror text and what was being done.</summary>
public sealed class ZmqException : Exception
{
    /// <summary>Creates the error.</summary>
    public ZmqException(int errorCode, string message) : base(message) => ErrorCode = errorCode;

    /// <summary>libzmq's errno value (POSIX values, or libzmq's own above 156384712).</summary>
    public int ErrorCode { get; }

    /// <summary>True when the context was terminated (ETERM): the socket's thread should close it and end.</summary>
    public bool IsTerminated => ErrorCode == ZmqConstants.ETERM;

    /// <summary>Builds the error from the current zmq_errno, naming what was being done.</summary>
    internal static ZmqException FromErrno(string doing) => From(NativeMethods.zmq_errno(), doing);

    /// <summary>Builds the error for <paramref name="errno"/>.</summary>
    internal static ZmqException From(int errno, string doing)
    {
        string text = Marshal.PtrToStringUTF8(NativeMethods.zmq_strerror(errno)) ?? $"error {errno}";
        return new ZmqException(errno, $"{doing} failed: {text} (zmq errno {errno}).");
    }
}
