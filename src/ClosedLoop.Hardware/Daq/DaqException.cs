namespace ClosedLoop.Hardware.Daq;

/// <summary>
/// Error codes carried by <see cref="DaqException"/>. Where NI-DAQmx has an error for the same situation its number is
/// used (names from NIDAQmx.h, checked against a published copy of the header's error list), so a real backend can pass
/// the driver's code through unchanged and callers handle both backends alike.
/// </summary>
public static class DaqErrorCodes
{
    /// <summary>Input buffer overflow: the reader fell behind the acquisition by more than the buffer
    /// (DAQmxErrorSamplesNoLongerAvailable).</summary>
    public const int InputBufferOverflow = -200279;

    /// <summary>Output underflow of a non-regenerating generation: the writer fell behind the sample clock
    /// (DAQmxErrorGenStoppedToPreventRegenOfOldSamples).</summary>
    public const int OutputUnderflow = -200290;

    /// <summary>Onboard output FIFO underflow (DAQmxErrorOutputFIFOUnderflow2): the bus could not feed the device fast
    /// enough. A real backend may report it instead of <see cref="OutputUnderflow"/>; treat both alike.</summary>
    public const int OutputFifoUnderflow = -200621;

    /// <summary>Samples to write do not fit in the free part of the output buffer yet
    /// (DAQmxErrorSamplesCanNotYetBeWritten).</summary>
    public const int OutputBufferFull = -200292;

    /// <summary>A generation was started with nothing written (DAQmxErrorOutputBufferEmpty).</summary>
    public const int OutputBufferEmpty = -200462;

    /// <summary>The requested samples were not acquired within the timeout (DAQmxErrorSamplesNotYetAvailable).</summary>
    public const int ReadTimeout = -200284;

    /// <summary>A physical channel that the device does not have (DAQmxErrorPhysicalChanDoesNotExist).</summary>
    public const int PhysicalChannelDoesNotExist = -200170;

    /// <summary>A channel string that cannot be parsed. NI reports malformed ranges with its own syntax error; the number
    /// here is DAQmxErrorInvalidChannel (-200087), the closest general one (not checked against every driver version).</summary>
    public const int InvalidChannel = -200087;

    /// <summary>A property value outside what the device supports, e.g. a sample rate above the maximum
    /// (DAQmxErrorInvalidAttributeValue).</summary>
    public const int InvalidAttributeValue = -200077;

    /// <summary>An analog output value outside the task's range (DAQmxErrorInvalidAODataWrite).</summary>
    public const int OutputValueOutOfRange = -200561;

    /// <summary>No device of that name (DAQmxErrorInvalidDeviceID).</summary>
    public const int InvalidDevice = -200220;

    /// <summary>A terminal the device does not offer or no task exports (DAQmxErrorInvalidTerm).</summary>
    public const int InvalidTerminal = -200254;

    /// <summary>The task has been disposed (DAQmxErrorInvalidTask).</summary>
    public const int InvalidTask = -200088;

    /// <summary>The operation is not allowed while the task runs (DAQmxErrorCanNotPerformOpWhileTaskRunning).</summary>
    public const int TaskRunning = -200479;

    /// <summary>The subsystem (e.g. the device's AI timing engine) is already reserved by another task
    /// (NI-DAQmx -50103, "The specified resource is reserved").</summary>
    public const int ResourceReserved = -50103;

    /// <summary>A device fault with no NI counterpart (the simulated device's injected faults use it unless they carry
    /// their own code). Positive numbers never collide with NI's negative error codes.</summary>
    public const int DeviceFault = 1;
}

/// <summary>
/// An error from a DAQ device or task. <see cref="Exception.Message"/> says what happened, on which task and device,
/// and what to do about it; <see cref="Code"/> is one of <see cref="DaqErrorCodes"/> (or the driver's own number).
/// </summary>
public class DaqException : Exception
{
    /// <summary>Creates the error with its code, the device (and optionally the task) it concerns, and the message.</summary>
    public DaqException(int code, string device, string message, string? task = null, Exception? inner = null)
        : base(Compose(code, device, task, message), inner)
    {
        Code = code;
        Device = device;
        Task = task;
    }

    /// <summary>Error code: one of <see cref="DaqErrorCodes"/>, or a driver's code passed through.</summary>
    public int Code { get; }

    /// <summary>Name of the device, e.g. <c>Dev1</c>.</summary>
    public string Device { get; }

    /// <summary>Name of the task, when the error belongs to one.</summary>
    public string? Task { get; }

    private static string Compose(int code, string device, string? task, string message)
    {
        string who = task is null ? device : $"{device}, task '{task}'";
        return $"{who}: {message} (DAQ error {code})";
    }
}
