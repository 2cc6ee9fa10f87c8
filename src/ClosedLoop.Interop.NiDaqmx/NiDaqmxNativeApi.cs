using System.Text;

namespace ClosedLoop.Interop.NiDaqmx;

/// <summary>
/// <see cref="INiDaqmxApi"/> over the real library. Create it with <see cref="Load"/>, which loads the library first so
/// a missing driver fails with <see cref="NiDaqmxNotInstalledException"/> before any call is made.
/// </summary>
internal sealed unsafe class NiDaqmxNativeApi : INiDaqmxApi
{
    /// <summary>Size tried when a string getter does not report the size it needs.</summary>
    private const int FallbackStringBytes = 4096;

    /// <summary>Most (min, max) range pairs a device reports.</summary>
    private const int MaxRangeValues = 64;

    /// <summary>Most polynomial coefficients NI reports for an AI channel's raw scaling.</summary>
    private const int MaxScalingCoefficients = 8;

    private NiDaqmxNativeApi() { }

    /// <summary>Loads the NI-DAQmx library (throwing the install message when it is missing) and returns the API.</summary>
    public static NiDaqmxNativeApi Load()
    {
        NiDaqmxLibrary.EnsureLoaded();
        return new NiDaqmxNativeApi();
    }

    public int CreateTask(string name, out nint task) => NativeMethods.DAQmxCreateTask(name, out task);
    public int StartTask(nint task) => NativeMethods.DAQmxStartTask(task);
    public int StopTask(nint task) => NativeMethods.DAQmxStopTask(task);
    public int ClearTask(nint task) => NativeMethods.DAQmxClearTask(task);

    public int CreateAOVoltageChan(nint task, string physicalChannel, double minV, double maxV, int units) =>
        NativeMethods.DAQmxCreateAOVoltageChan(task, physicalChannel, "", minV, maxV, units, null);

    public int CreateAIVoltageChan(nint task, string physicalChannel, int terminalConfig, double minV, double maxV, int units) =>
        NativeMethods.DAQmxCreateAIVoltageChan(task, physicalChannel, "", terminalConfig, minV, maxV, units, null);

    public int CreateDOChan(nint task, string lines, int lineGrouping) => NativeMethods.DAQmxCreateDOChan(task, lines, "", lineGrouping);

    public int CreateCICountEdgesChan(nint task, string counter, int edge, uint initialCount, int countDirection) =>
        NativeMethods.DAQmxCreateCICountEdgesChan(task, counter, "", edge, initialCount, countDirection);

    public int SetCICountEdgesTerm(nint task, string channel, string terminal) => NativeMethods.DAQmxSetCICountEdgesTerm(task, channel, terminal);

    public int CfgSampClkTiming(nint task, string? source, double rateHz, int activeEdge, int sampleMode, ulong samplesPerChannel) =>
        NativeMethods.DAQmxCfgSampClkTiming(task, source ?? "", rateHz, activeEdge, sampleMode, samplesPerChannel);

    public int CfgDigEdgeStartTrig(nint task, string source, int edge) => NativeMethods.DAQmxCfgDigEdgeStartTrig(task, source, edge);
    public int SetWriteRegenMode(nint task, int mode) => NativeMethods.DAQmxSetWriteRegenMode(task, mode);
    public int CfgInputBuffer(nint task, uint samplesPerChannel) => NativeMethods.DAQmxCfgInputBuffer(task, samplesPerChannel);
    public int CfgOutputBuffer(nint task, uint samplesPerChannel) => NativeMethods.DAQmxCfgOutputBuffer(task, samplesPerChannel);

    public int WriteAnalogF64(nint task, int samplesPerChannel, bool autoStart, double timeoutS, int dataLayout, ReadOnlySpan<double> data, out int written)
    {
        fixed (double* p = data)
            return NativeMethods.DAQmxWriteAnalogF64(task, samplesPerChannel, Bool(autoStart), timeoutS, (uint)dataLayout, p, out written, 0);
    }

    public int WriteDigitalU32(nint task, int samplesPerChannel, bool autoStart, double timeoutS, int dataLayout, ReadOnlySpan<uint> data, out int written)
    {
        fixed (uint* p = data)
            return NativeMethods.DAQmxWriteDigitalU32(task, samplesPerChannel, Bool(autoStart), timeoutS, (uint)dataLayout, p, out written, 0);
    }

    public int ReadBinaryI16(nint task, int samplesPerChannel, double timeoutS, int fillMode, Span<short> destination, out int read)
    {
        fixed (short* p = destination)
            return NativeMethods.DAQmxReadBinaryI16(task, samplesPerChannel, timeoutS, (uint)fillMode, p, (uint)destination.Length, out read, 0);
    }

    public int ReadCounterU32(nint task, int samplesPerChannel, double timeoutS, Span<uint> destination, out int read)
    {
        fixed (uint* p = destination)
            return NativeMethods.DAQmxReadCounterU32(task, samplesPerChannel, timeoutS, p, (uint)destination.Length, out read, 0);
    }

    public int GetReadAvailSampPerChan(nint task, out uint available) => NativeMethods.DAQmxGetReadAvailSampPerChan(task, out available);
    public int GetReadCurrReadPos(nint task, out ulong position) => NativeMethods.DAQmxGetReadCurrReadPos(task, out position);
    public int GetReadTotalSampPerChanAcquired(nint task, out ulong acquired) => NativeMethods.DAQmxGetReadTotalSampPerChanAcquired(task, out acquired);
    public int GetWriteSpaceAvail(nint task, out uint space) => NativeMethods.DAQmxGetWriteSpaceAvail(task, out space);
    public int GetWriteTotalSampPerChanGenerated(nint task, out ulong generated) => NativeMethods.DAQmxGetWriteTotalSampPerChanGenerated(task, out generated);
    public int GetSampClkRate(nint task, out double rateHz) => NativeMethods.DAQmxGetSampClkRate(task, out rateHz);

    public int GetAIDevScalingCoeff(nint task, string channel, out double[] coefficients)
    {
        var buffer = new double[MaxScalingCoefficients];
        int status;
        fixed (double* p = buffer) status = NativeMethods.DAQmxGetAIDevScalingCoeff(task, channel, p, (uint)buffer.Length);
        coefficients = status < 0 ? [] : buffer;
        return status;
    }

    public string GetExtendedErrorInfo() => ReadString((p, n) => NativeMethods.DAQmxGetExtendedErrorInfo(p, n), out _);

    public string GetErrorString(int code) => ReadString((p, n) => NativeMethods.DAQmxGetErrorString(code, p, n), out _);

    public int GetSysNIDAQMajorVersion(out uint major) => NativeMethods.DAQmxGetSysNIDAQMajorVersion(out major);
    public int GetSysNIDAQMinorVersion(out uint minor) => NativeMethods.DAQmxGetSysNIDAQMinorVersion(out minor);

    public int GetSysDevNames(out string names)
    {
        names = ReadString((p, n) => NativeMethods.DAQmxGetSysDevNames(p, n), out int status);
        return status;
    }

    public int GetDeviceString(DeviceStringProperty property, string device, out string value)
    {
        value = ReadString(property switch
        {
            DeviceStringProperty.ProductType => (p, n) => NativeMethods.DAQmxGetDevProductType(device, p, n),
            DeviceStringProperty.AIPhysicalChans => (p, n) => NativeMethods.DAQmxGetDevAIPhysicalChans(device, p, n),
            DeviceStringProperty.AOPhysicalChans => (p, n) => NativeMethods.DAQmxGetDevAOPhysicalChans(device, p, n),
            DeviceStringProperty.DOLines => (p, n) => NativeMethods.DAQmxGetDevDOLines(device, p, n),
            DeviceStringProperty.CIPhysicalChans => (p, n) => NativeMethods.DAQmxGetDevCIPhysicalChans(device, p, n),
            DeviceStringProperty.Terminals => (p, n) => NativeMethods.DAQmxGetDevTerminals(device, p, n),
            _ => throw new ArgumentOutOfRangeException(nameof(property)),
        }, out int status);
        return status;
    }

    public int GetDeviceRanges(DeviceRangeProperty property, string device, out double[] minMaxPairs)
    {
        var buffer = new double[MaxRangeValues];
        int status;
        fixed (double* p = buffer)
        {
            status = property == DeviceRangeProperty.AOVoltageRngs
                ? NativeMethods.DAQmxGetDevAOVoltageRngs(device, p, (uint)buffer.Length)
                : NativeMethods.DAQmxGetDevAIVoltageRngs(device, p, (uint)buffer.Length);
        }
        minMaxPairs = status < 0 ? [] : buffer;
        return status;
    }

    public int GetDeviceDouble(DeviceDoubleProperty property, string device, out double value) => property switch
    {
        DeviceDoubleProperty.AIMaxSingleChanRate => NativeMethods.DAQmxGetDevAIMaxSingleChanRate(device, out value),
        DeviceDoubleProperty.AOMaxRate => NativeMethods.DAQmxGetDevAOMaxRate(device, out value),
        _ => throw new ArgumentOutOfRangeException(nameof(property)),
    };

    private static uint Bool(bool value) => value ? DaqmxConstants.True : DaqmxConstants.False;

    private delegate int StringGetter(byte* buffer, uint size);

    /// <summary>NI's string getters report the size they need (a positive return) when passed a zero-size buffer; the
    /// string is then read into a buffer of that size. If no size comes back a fixed buffer is used.</summary>
    private static string ReadString(StringGetter getter, out int status)
    {
        int needed = getter(null, 0);
        int size = needed > 0 ? needed : FallbackStringBytes;
        var buffer = new byte[size];
        fixed (byte* p = buffer) status = getter(p, (uint)buffer.Length);
        if (status < 0) return "";
        int end = Array.IndexOf(buffer, (byte)0);
        return Encoding.UTF8.GetString(buffer, 0, end < 0 ? buffer.Length : end).Trim();
    }
}
