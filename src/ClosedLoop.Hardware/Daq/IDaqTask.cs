namespace ClosedLoop.Hardware.Daq;

/// <summary>
/// A configured task on one device. Lifecycle: created → <see cref="Start"/> (armed if it has a start trigger, then
/// running from its first sample) → <see cref="Stop"/> (may start again) → <see cref="IDisposable.Dispose"/>. A task belongs to one
/// thread at a time, except that <see cref="Stop"/> and <see cref="IDisposable.Dispose"/> may be called from any thread to end it.
/// A device fault, underflow or overflow stops the task and surfaces as a <see cref="DaqException"/> on its next
/// read or write.
/// </summary>
public interface IDaqTask : IDisposable
{
    /// <summary>Name from the configuration.</summary>
    string Name { get; }

    /// <summary>Device the task runs on.</summary>
    string Device { get; }

    /// <summary>Physical channels in task order (the interleaving order of samples).</summary>
    IReadOnlyList<string> Channels { get; }

    /// <summary>Sample clock rate actually used (coerced to the device timebase); 0 for static tasks.</summary>
    double SampleRateHz { get; }

    /// <summary>True from <see cref="Start"/> (including while armed and waiting for the trigger) until
    /// <see cref="Stop"/>, a fault, or the end of a finite task.</summary>
    bool IsRunning { get; }

    /// <summary>Terminal that pulses when this task's first sample happens, e.g. <c>/Dev1/ao/StartTrigger</c>;
    /// another task arms on it with <see cref="DaqStartTrigger"/> to start on the same sample.</summary>
    string StartTriggerTerminal { get; }

    /// <summary>Terminal carrying this task's sample clock, e.g. <c>/Dev1/ai/SampleClock</c>; another task uses it as
    /// <see cref="DaqTiming.SampleClockSource"/> to sample on the same ticks.</summary>
    string SampleClockTerminal { get; }

    /// <summary>Starts the task (or arms it on its start trigger). The first sample follows after the device's start
    /// latency. Throws <see cref="DaqException"/> if the task cannot start (e.g. an output with nothing written).</summary>
    void Start();

    /// <summary>Stops the task. Outputs are left at 0 V and lines low. Safe to call when stopped.</summary>
    void Stop();
}

/// <summary>
/// Buffered analog output. Samples are <b>interleaved</b> by scan (NI: DAQmx_Val_GroupByScanNumber): for channels
/// ao0, ao1 the layout is ao0[0], ao1[0], ao0[1], ao1[1], …; a write's length must be a multiple of the channel count.
/// </summary>
public interface IAnalogOutputTask : IDaqTask
{
    /// <summary>The task's output range; written values must lie in it.</summary>
    DaqRange Range { get; }

    /// <summary>Whether the buffer repeats (<c>true</c>) or is streamed once (<c>false</c>).</summary>
    bool AllowRegeneration { get; }

    /// <summary>Samples per channel generated since the task's first sample (0 before it starts).</summary>
    long SamplesGenerated { get; }

    /// <summary>Samples per channel written since the task was created or last stopped.</summary>
    long SamplesWritten { get; }

    /// <summary>Free space of a non-regenerating buffer, in samples per channel (how much may be written now).</summary>
    int WriteSpaceAvailable { get; }

    /// <summary>
    /// Writes volts. <b>Regeneration:</b> before start the samples become the buffer that repeats (its length is the
    /// period, at most <see cref="DaqTiming.SamplesPerChannel"/>); while running, a write of the same length replaces
    /// the waveform from the next repetition on, so the output never mixes two waveforms within a period.
    /// <b>Streaming:</b> samples are appended after those already written; they must fit in
    /// <see cref="WriteSpaceAvailable"/>, and the writer must stay ahead of the clock.
    /// </summary>
    /// <exception cref="DaqException"><see cref="DaqErrorCodes.OutputValueOutOfRange"/>,
    /// <see cref="DaqErrorCodes.OutputBufferFull"/>, <see cref="DaqErrorCodes.OutputUnderflow"/> (the generation had
    /// already run out), or a device fault.</exception>
    void Write(ReadOnlySpan<double> samples);
}

/// <summary>
/// Continuous analog input into a device-side ring buffer of <see cref="DaqTiming.SamplesPerChannel"/> samples per
/// channel. Samples are raw int16 codes, interleaved by scan (ai0[0], ai1[0], ai0[1], …); volts = code ×
/// <see cref="VoltsPerCode"/>.
/// </summary>
public interface IAnalogInputTask : IDaqTask
{
    /// <summary>The task's input range.</summary>
    DaqRange Range { get; }

    /// <summary>Volts per raw code (linear; a real backend reports the device's scaling here).</summary>
    double VoltsPerCode { get; }

    /// <summary>Samples per channel acquired since the first sample (read or not).</summary>
    long SamplesAcquired { get; }

    /// <summary>Sample index of the next sample <see cref="Read"/> returns.</summary>
    long NextSampleIndex { get; }

    /// <summary>
    /// Reads as many whole scans as are available and fit in <paramref name="destination"/>, waiting up to
    /// <paramref name="timeout"/> for at least one. Returns samples per channel read (0 when none arrived in time or the
    /// task is not running) and, in <paramref name="firstSampleIndex"/>, the sample index of the first one; successive
    /// reads are contiguous. Cancellation unblocks a waiting read.
    /// </summary>
    /// <exception cref="DaqException"><see cref="DaqErrorCodes.InputBufferOverflow"/> when unread samples were
    /// overwritten (samples already returned stay valid; stop and start the task to go on), or a device fault.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled while waiting.</exception>
    int Read(Span<short> destination, TimeSpan timeout, out long firstSampleIndex, CancellationToken cancellationToken = default);
}

/// <summary>Digital output lines. Line k of the task is bit k of every state.</summary>
public interface IDigitalOutputTask : IDaqTask
{
    /// <summary>True for a static (on-demand) task, false for a buffered one.</summary>
    bool IsStatic { get; }

    /// <summary>Static task: sets all lines now (no start needed).</summary>
    void WriteState(uint state);

    /// <summary>Buffered task: writes states to clock out, with the same buffer rules as
    /// <see cref="IAnalogOutputTask.Write"/>.</summary>
    void Write(ReadOnlySpan<uint> states);
}

/// <summary>Counter input that timestamps edges in a sample clock (see <see cref="CounterInputConfig"/>).</summary>
public interface ICounterInputTask : IDaqTask
{
    /// <summary>Edges counted since the first sample (read or not).</summary>
    long EdgeCount { get; }

    /// <summary>
    /// Reads edge timestamps (sample indices of the timestamping clock, ascending), waiting up to
    /// <paramref name="timeout"/> for at least one; returns how many were read (0 on timeout).
    /// </summary>
    /// <exception cref="DaqException"><see cref="DaqErrorCodes.InputBufferOverflow"/> when unread edges were lost,
    /// or a device fault.</exception>
    int ReadEdges(Span<long> destination, TimeSpan timeout, CancellationToken cancellationToken = default);
}
