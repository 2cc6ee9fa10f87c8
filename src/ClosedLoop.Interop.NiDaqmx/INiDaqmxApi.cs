namespace ClosedLoop.Interop.NiDaqmx;

/// <summary>Device properties read as a comma-separated string list.</summary>
internal enum DeviceStringProperty
{
    ProductType,
    AIPhysicalChans,
    AOPhysicalChans,
    DOLines,
    CIPhysicalChans,
    Terminals,
}

/// <summary>Device properties read as (min, max) voltage pairs.</summary>
internal enum DeviceRangeProperty
{
    AOVoltageRngs,
    AIVoltageRngs,
}

/// <summary>Device properties read as one number.</summary>
internal enum DeviceDoubleProperty
{
    AIMaxSingleChanRate,
    AOMaxRate,
}

/// <summary>
/// The seam between the backend and the driver: one member per NI-DAQmx call (or per family of string/array getters),
/// returning NI's status code unchanged. <see cref="NiDaqmxNativeApi"/> forwards to the C library; tests substitute a
/// fake that records calls and returns chosen statuses and data. Task handles are raw <c>TaskHandle</c> values; their
/// lifetime is owned by <see cref="TaskHandle"/>.
/// </summary>
internal interface INiDaqmxApi
{
    int CreateTask(string name, out nint task);
    int StartTask(nint task);
    int StopTask(nint task);
    int ClearTask(nint task);

    int CreateAOVoltageChan(nint task, string physicalChannel, double minV, double maxV, int units);
    int CreateAIVoltageChan(nint task, string physicalChannel, int terminalConfig, double minV, double maxV, int units);
    int CreateDOChan(nint task, string lines, int lineGrouping);
    int CreateCICountEdgesChan(nint task, string counter, int edge, uint initialCount, int countDirection);
    int SetCICountEdgesTerm(nint task, string channel, string terminal);

    int CfgSampClkTiming(nint task, string? source, double rateHz, int activeEdge, int sampleMode, ulong samplesPerChannel);
    int CfgDigEdgeStartTrig(nint task, string source, int edge);
    int SetWriteRegenMode(nint task, int mode);
    int CfgInputBuffer(nint task, uint samplesPerChannel);
    int CfgOutputBuffer(nint task, uint samplesPerChannel);

    int WriteAnalogF64(nint task, int samplesPerChannel, bool autoStart, double timeoutS, int dataLayout, ReadOnlySpan<double> data, out int written);
    int WriteDigitalU32(nint task, int samplesPerChannel, bool autoStart, double timeoutS, int dataLayout, ReadOnlySpan<uint> data, out int written);
    int ReadBinaryI16(nint task, int samplesPerChannel, double timeoutS, int fillMode, Span<short> destination, out int read);
    int ReadCounterU32(nint task, int samplesPerChannel, double timeoutS, Span<uint> destination, out int read);

    int GetReadAvailSampPerChan(nint task, out uint available);
    int GetReadCurrReadPos(nint task, out ulong position);
    int GetReadTotalSampPerChanAcquired(nint task, out ulong acquired);
    int GetWriteSpaceAvail(nint task, out uint space);
    int GetWriteTotalSampPerChanGenerated(nint task, out ulong generated);
    int GetSampClkRate(nint task, out double rateHz);
    int GetAIDevScalingCoeff(nint task, string channel, out double[] coefficients);

    /// <summary>DAQmxGetExtendedErrorInfo: the detailed message of the last error on this thread.</summary>
    string GetExtendedErrorInfo();

    /// <summary>DAQmxGetErrorString: the short description of a status code.</summary>
    string GetErrorString(int code);

    int GetSysNIDAQMajorVersion(out uint major);
    int GetSysNIDAQMinorVersion(out uint minor);
    int GetSysDevNames(out string names);
    int GetDeviceString(DeviceStringProperty property, string device, out string value);
    int GetDeviceRanges(DeviceRangeProperty property, string device, out double[] minMaxPairs);
    int GetDeviceDouble(DeviceDoubleProperty property, string device, out double value);
}
