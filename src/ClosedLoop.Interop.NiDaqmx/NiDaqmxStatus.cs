using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.Interop.NiDaqmx;

/// <summary>A warning (positive status) the driver returned: the call went through, but NI has something to say.</summary>
/// <param name="Code">NI's positive warning code.</param>
/// <param name="Device">Device concerned.</param>
/// <param name="Task">Task concerned, if any.</param>
/// <param name="Operation">NI function that returned it.</param>
/// <param name="Message">NI's description of the warning.</param>
public sealed record NiDaqmxWarning(int Code, string Device, string? Task, string Operation, string Message);

/// <summary>
/// Turns NI status codes into the project's errors: a negative status becomes a <see cref="DaqException"/> carrying NI's
/// code and its extended error message (copied first, before any other driver call can replace it) plus a remedy; a
/// positive status is a warning, counted and passed to the warning callback, never thrown.
/// </summary>
internal sealed class NiDaqmxStatus
{
    private readonly INiDaqmxApi _api;
    private readonly Action<NiDaqmxWarning>? _onWarning;
    private long _warningCount;

    public NiDaqmxStatus(INiDaqmxApi api, Action<NiDaqmxWarning>? onWarning)
    {
        _api = api;
        _onWarning = onWarning;
    }

    /// <summary>Warnings seen so far.</summary>
    public long WarningCount => Interlocked.Read(ref _warningCount);

    /// <summary>Throws for a negative <paramref name="status"/>, reports a positive one, ignores zero.</summary>
    public void Check(int status, string operation, string device, string? task = null)
    {
        if (status == 0) return;
        if (status < 0) throw Error(status, operation, device, task);
        Interlocked.Increment(ref _warningCount);
        string text = _api.GetErrorString(status);
        _onWarning?.Invoke(new NiDaqmxWarning(status, device, task, operation, text));
    }

    /// <summary>Builds the exception for a negative status.</summary>
    public DaqException Error(int status, string operation, string device, string? task)
    {
        // The extended info describes the last error on this thread: read it before anything else can overwrite it.
        string extended = _api.GetExtendedErrorInfo();
        if (string.IsNullOrWhiteSpace(extended)) extended = _api.GetErrorString(status);
        if (string.IsNullOrWhiteSpace(extended)) extended = "NI-DAQmx gave no description.";
        string message = $"{operation} failed: {extended.Trim()} {Remedy(status)}".TrimEnd();
        return new DaqException(status, device, message, task);
    }

    /// <summary>What to do about the errors the rig meets most (NI's codes, which <see cref="DaqErrorCodes"/> shares).</summary>
    internal static string Remedy(int code) => code switch
    {
        DaqErrorCodes.InputBufferOverflow =>
            "Read faster (larger reads, less work between reads) or enlarge Timing.SamplesPerChannel; stop and start the task to go on.",
        DaqErrorCodes.OutputUnderflow or DaqErrorCodes.OutputFifoUnderflow =>
            "Write further ahead of the sample clock (larger writes or a larger buffer), or use regeneration.",
        DaqErrorCodes.OutputBufferFull => "Write at most WriteSpaceAvailable samples per channel at a time.",
        DaqErrorCodes.OutputBufferEmpty => "Write samples before starting an output task.",
        DaqErrorCodes.ReadTimeout => "The samples did not arrive in time: check the sample clock and start trigger.",
        DaqErrorCodes.PhysicalChannelDoesNotExist or DaqErrorCodes.InvalidChannel =>
            "Check the channel names against the device's list in NI MAX (e.g. Dev1/ai0:3).",
        DaqErrorCodes.InvalidDevice => "Check the device name in NI MAX (nilsdev on Linux).",
        DaqErrorCodes.InvalidTerminal => "Check the terminal name, e.g. /Dev1/PFI0 or /Dev1/ai/SampleClock.",
        DaqErrorCodes.ResourceReserved => "Another task (or program) uses this channel or timing engine; stop it first.",
        DaqErrorCodes.OutputValueOutOfRange => "Keep written values inside the task's range.",
        DaqErrorCodes.InvalidAttributeValue => "Use a value the device supports (see the device's limits in NI MAX).",
        _ => "",
    };
}
