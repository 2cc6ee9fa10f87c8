using System.Runtime.InteropServices;

namespace ClosedLoop.Interop.NiDaqmx;

/// <summary>
/// The NI-DAQmx C functions this backend calls. Signatures follow NIDAQmx.h: <c>int32</c> is a 32-bit int on every
/// platform NI supports (the header uses <c>signed int</c> on 64-bit GCC, <c>long</c> on MSVC), <c>uInt32</c>/<c>bool32</c>
/// are 32-bit unsigned, <c>uInt64</c> 64-bit, <c>float64</c> double, and <c>TaskHandle</c> is <c>void*</c>. Strings are
/// 8-bit <c>const char[]</c>. The library name is resolved by <see cref="NiDaqmxLibrary"/>; nothing here runs unless the
/// library loaded. Calls go through <see cref="NiDaqmxNativeApi"/>, never directly from the tasks.
/// </summary>
internal static unsafe partial class NativeMethods
{
    private const string Lib = NiDaqmxLibrary.ImportName;

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxCreateTask(string taskName, out nint taskHandle);

    [LibraryImport(Lib)]
    internal static partial int DAQmxStartTask(nint taskHandle);

    [LibraryImport(Lib)]
    internal static partial int DAQmxStopTask(nint taskHandle);

    [LibraryImport(Lib)]
    internal static partial int DAQmxClearTask(nint taskHandle);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxCreateAOVoltageChan(nint taskHandle, string physicalChannel, string nameToAssignToChannel,
        double minVal, double maxVal, int units, string? customScaleName);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxCreateAIVoltageChan(nint taskHandle, string physicalChannel, string nameToAssignToChannel,
        int terminalConfig, double minVal, double maxVal, int units, string? customScaleName);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxCreateDOChan(nint taskHandle, string lines, string nameToAssignToLines, int lineGrouping);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxCreateCICountEdgesChan(nint taskHandle, string counter, string nameToAssignToChannel,
        int edge, uint initialCount, int countDirection);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxSetCICountEdgesTerm(nint taskHandle, string channel, string data);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxCfgSampClkTiming(nint taskHandle, string? source, double rate, int activeEdge,
        int sampleMode, ulong sampsPerChan);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxCfgDigEdgeStartTrig(nint taskHandle, string triggerSource, int triggerEdge);

    [LibraryImport(Lib)]
    internal static partial int DAQmxSetWriteRegenMode(nint taskHandle, int data);

    [LibraryImport(Lib)]
    internal static partial int DAQmxCfgInputBuffer(nint taskHandle, uint numSampsPerChan);

    [LibraryImport(Lib)]
    internal static partial int DAQmxCfgOutputBuffer(nint taskHandle, uint numSampsPerChan);

    [LibraryImport(Lib)]
    internal static partial int DAQmxWriteAnalogF64(nint taskHandle, int numSampsPerChan, uint autoStart, double timeout,
        uint dataLayout, double* writeArray, out int sampsPerChanWritten, nint reserved);

    [LibraryImport(Lib)]
    internal static partial int DAQmxWriteDigitalU32(nint taskHandle, int numSampsPerChan, uint autoStart, double timeout,
        uint dataLayout, uint* writeArray, out int sampsPerChanWritten, nint reserved);

    [LibraryImport(Lib)]
    internal static partial int DAQmxReadBinaryI16(nint taskHandle, int numSampsPerChan, double timeout, uint fillMode,
        short* readArray, uint arraySizeInSamps, out int sampsPerChanRead, nint reserved);

    [LibraryImport(Lib)]
    internal static partial int DAQmxReadCounterU32(nint taskHandle, int numSampsPerChan, double timeout, uint* readArray,
        uint arraySizeInSamps, out int sampsPerChanRead, nint reserved);

    [LibraryImport(Lib)]
    internal static partial int DAQmxGetReadAvailSampPerChan(nint taskHandle, out uint data);

    [LibraryImport(Lib)]
    internal static partial int DAQmxGetReadCurrReadPos(nint taskHandle, out ulong data);

    [LibraryImport(Lib)]
    internal static partial int DAQmxGetReadTotalSampPerChanAcquired(nint taskHandle, out ulong data);

    [LibraryImport(Lib)]
    internal static partial int DAQmxGetWriteSpaceAvail(nint taskHandle, out uint data);

    [LibraryImport(Lib)]
    internal static partial int DAQmxGetWriteTotalSampPerChanGenerated(nint taskHandle, out ulong data);

    [LibraryImport(Lib)]
    internal static partial int DAQmxGetSampClkRate(nint taskHandle, out double data);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxGetAIDevScalingCoeff(nint taskHandle, string channel, double* data, uint arraySizeInElements);

    [LibraryImport(Lib)]
    internal static partial int DAQmxGetExtendedErrorInfo(byte* errorString, uint bufferSize);

    [LibraryImport(Lib)]
    internal static partial int DAQmxGetErrorString(int errorCode, byte* errorString, uint bufferSize);

    [LibraryImport(Lib)]
    internal static partial int DAQmxGetSysNIDAQMajorVersion(out uint data);

    [LibraryImport(Lib)]
    internal static partial int DAQmxGetSysNIDAQMinorVersion(out uint data);

    [LibraryImport(Lib)]
    internal static partial int DAQmxGetSysDevNames(byte* data, uint bufferSize);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxGetDevProductType(string device, byte* data, uint bufferSize);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxGetDevAIPhysicalChans(string device, byte* data, uint bufferSize);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxGetDevAOPhysicalChans(string device, byte* data, uint bufferSize);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxGetDevDOLines(string device, byte* data, uint bufferSize);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxGetDevCIPhysicalChans(string device, byte* data, uint bufferSize);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxGetDevTerminals(string device, byte* data, uint bufferSize);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxGetDevAOVoltageRngs(string device, double* data, uint arraySizeInElements);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxGetDevAIVoltageRngs(string device, double* data, uint arraySizeInElements);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxGetDevAIMaxSingleChanRate(string device, out double data);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int DAQmxGetDevAOMaxRate(string device, out double data);
}
