using System.Reflection;
using System.Runtime.InteropServices;
using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.Interop.NiDaqmx;

/// <summary>Error codes of this backend that have no NI-DAQmx counterpart (positive, so they never collide with NI's
/// negative codes, and distinct from <see cref="DaqErrorCodes.DeviceFault"/>).</summary>
public static class NiDaqmxErrorCodes
{
    /// <summary>The NI-DAQmx library could not be loaded: the driver is not installed.</summary>
    public const int DriverNotInstalled = 100;

    /// <summary>The installed NI-DAQmx is older than <see cref="NiDaqmxSystem.MinimumMajorVersion"/>.</summary>
    public const int DriverTooOld = 101;
}

/// <summary>
/// The NI-DAQmx library (<c>nicaiu.dll</c> on Windows, <c>libnidaqmx.so</c> on Linux) is not installed. The message
/// names the libraries tried and how to install the driver.
/// </summary>
public sealed class NiDaqmxNotInstalledException : DaqException
{
    internal NiDaqmxNotInstalledException(IReadOnlyList<string> triedLibraries)
        : base(NiDaqmxErrorCodes.DriverNotInstalled, NiDaqmxSystem.DriverName,
            $"NI-DAQmx is not installed: could not load the library {string.Join(" or ", triedLibraries.Select(l => $"'{l}'"))}. " +
            "Install NI-DAQmx for Linux from ni.com (the ni-daqmx package from NI's Linux driver repository) or NI-DAQmx for " +
            "Windows, then restart; the simulated rig (daq.backend: simulated) needs nothing.")
    {
        TriedLibraries = triedLibraries;
    }

    /// <summary>Library names that were tried, in order.</summary>
    public IReadOnlyList<string> TriedLibraries { get; }
}

/// <summary>
/// Finds the NI-DAQmx library for <see cref="NativeMethods"/>: registers a <see cref="NativeLibrary.SetDllImportResolver"/>
/// resolver for this assembly that maps <see cref="ImportName"/> to the first of the platform's candidate names that
/// loads, and turns "not found" into <see cref="NiDaqmxNotInstalledException"/>.
/// </summary>
internal static class NiDaqmxLibrary
{
    /// <summary>The name the <c>LibraryImport</c> declarations use; the resolver maps it to the real file.</summary>
    internal const string ImportName = "nidaqmx";

    private static readonly Lock Gate = new();
    private static bool _resolverSet;
    private static nint _handle;

    /// <summary>Candidate names on this platform, in the order tried.</summary>
    internal static IReadOnlyList<string> PlatformCandidates { get; } = OperatingSystem.IsWindows()
        ? ["nicaiu.dll", "nicaiu"]
        : ["libnidaqmx.so", "libnidaqmx.so.1"];

    /// <summary>Loads the platform library once (later calls return at once); throws the install message when missing.</summary>
    internal static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_handle != 0) return;
            _handle = Load(PlatformCandidates);
            if (!_resolverSet)
            {
                NativeLibrary.SetDllImportResolver(typeof(NiDaqmxLibrary).Assembly, Resolve);
                _resolverSet = true;
            }
        }
    }

    /// <summary>Loads the first of <paramref name="candidates"/> that the OS loader finds.</summary>
    /// <exception cref="NiDaqmxNotInstalledException">None of them could be loaded.</exception>
    internal static nint Load(IReadOnlyList<string> candidates)
    {
        foreach (string name in candidates)
        {
            if (NativeLibrary.TryLoad(name, out nint handle)) return handle;
        }
        throw new NiDaqmxNotInstalledException(candidates);
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName != ImportName) return 0;
        lock (Gate) return _handle;
    }
}
