using System.Globalization;
using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.Interop.NiDaqmx;

/// <summary>Settings of the NI-DAQmx backend, read once when the system is created.</summary>
public sealed class NiDaqmxOptions
{
    /// <summary>Called for every warning (positive status) the driver returns; warnings are never thrown.
    /// Called on the thread that made the call.</summary>
    public Action<NiDaqmxWarning>? OnWarning { get; init; }

    /// <summary>How often a waiting read polls the driver for new samples (and checks its cancellation token).</summary>
    public TimeSpan ReadPollInterval { get; init; } = TimeSpan.FromMilliseconds(1);
}

/// <summary>
/// <see cref="IDaqSystem"/> over the NI-DAQmx C API. Creating it loads the driver library, checks its version and lists
/// the devices; without NI-DAQmx it throws <see cref="NiDaqmxNotInstalledException"/> naming the library and how to
/// install the driver.
/// </summary>
public sealed class NiDaqmxSystem : IDaqSystem
{
    /// <summary>Oldest NI-DAQmx major version accepted (NI-DAQmx 18.0, the first release whose Linux driver targets the
    /// current 64-bit distributions; every function used here is older than that).</summary>
    public const int MinimumMajorVersion = 18;

    /// <summary>Name used as the "device" of errors that concern the driver rather than a board.</summary>
    public const string DriverName = "NI-DAQmx";

    private readonly INiDaqmxApi _api;
    private readonly NiDaqmxStatus _status;
    private readonly TimeSpan _pollInterval;

    /// <summary>Loads NI-DAQmx, checks its version and lists its devices.</summary>
    /// <exception cref="NiDaqmxNotInstalledException">The library is missing.</exception>
    /// <exception cref="DaqException"><see cref="NiDaqmxErrorCodes.DriverTooOld"/>, or a driver error while listing devices.</exception>
    public NiDaqmxSystem(NiDaqmxOptions? options = null) : this(NiDaqmxNativeApi.Load(), options) { }

    internal NiDaqmxSystem(INiDaqmxApi api, NiDaqmxOptions? options = null)
    {
        options ??= new NiDaqmxOptions();
        _api = api;
        _status = new NiDaqmxStatus(api, options.OnWarning);
        _pollInterval = options.ReadPollInterval > TimeSpan.Zero ? options.ReadPollInterval : TimeSpan.FromMilliseconds(1);
        (DriverMajorVersion, DriverMinorVersion) = CheckVersion();
        Devices = ListDevices();
    }

    /// <summary>Installed NI-DAQmx major version.</summary>
    public int DriverMajorVersion { get; }

    /// <summary>Installed NI-DAQmx minor version.</summary>
    public int DriverMinorVersion { get; }

    /// <summary>Warnings the driver has returned so far (each also went to <see cref="NiDaqmxOptions.OnWarning"/>).</summary>
    public long WarningCount => _status.WarningCount;

    /// <inheritdoc />
    public IReadOnlyList<IDaqDevice> Devices { get; }

    internal INiDaqmxApi Api => _api;
    internal NiDaqmxStatus Status => _status;
    internal TimeSpan PollInterval => _pollInterval;

    /// <inheritdoc />
    public IAnalogOutputTask CreateAnalogOutputTask(AnalogOutputConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new NiAnalogOutputTask(this, config);
    }

    /// <inheritdoc />
    public IAnalogInputTask CreateAnalogInputTask(AnalogInputConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new NiAnalogInputTask(this, config);
    }

    /// <inheritdoc />
    public IDigitalOutputTask CreateDigitalOutputTask(DigitalOutputConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new NiDigitalOutputTask(this, config);
    }

    /// <inheritdoc />
    public ICounterInputTask CreateCounterInputTask(CounterInputConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new NiCounterInputTask(this, config);
    }

    /// <summary>Nothing to release: each task clears its own handle.</summary>
    public void Dispose() { }

    private (int Major, int Minor) CheckVersion()
    {
        _status.Check(_api.GetSysNIDAQMajorVersion(out uint major), "DAQmxGetSysNIDAQMajorVersion", DriverName);
        _status.Check(_api.GetSysNIDAQMinorVersion(out uint minor), "DAQmxGetSysNIDAQMinorVersion", DriverName);
        if (major < MinimumMajorVersion)
        {
            throw new DaqException(NiDaqmxErrorCodes.DriverTooOld, DriverName,
                string.Create(CultureInfo.InvariantCulture,
                    $"NI-DAQmx {major}.{minor} is installed, but this backend needs NI-DAQmx {MinimumMajorVersion}.0 or newer. Install a current NI-DAQmx from ni.com."));
        }
        return ((int)major, (int)minor);
    }

    private IReadOnlyList<IDaqDevice> ListDevices()
    {
        _status.Check(_api.GetSysDevNames(out string names), "DAQmxGetSysDevNames", DriverName);
        return SplitList(names).Select(n => (IDaqDevice)NiDaqmxDevice.Read(_api, _status, n)).ToArray();
    }

    /// <summary>Splits NI's comma-separated lists ("Dev1, Dev2").</summary>
    internal static string[] SplitList(string list) =>
        list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
