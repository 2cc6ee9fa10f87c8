namespace ClosedLoop.Hardware.Daq;

/// <summary>Whether a task runs until stopped or for a fixed number of samples.</summary>
public enum DaqSampleMode
{
    /// <summary>Runs until <see cref="IDaqTask.Stop"/>; the buffer is a ring.</summary>
    Continuous,

    /// <summary>Acquires or generates <see cref="DaqTiming.SamplesPerChannel"/> samples, then finishes by itself.</summary>
    Finite,
}

/// <summary>Which edge of a digital signal counts.</summary>
public enum DaqEdge
{
    /// <summary>Low-to-high transition.</summary>
    Rising,

    /// <summary>High-to-low transition.</summary>
    Falling,
}

/// <summary>A voltage range, in volts.</summary>
/// <param name="MinV">Lowest voltage.</param>
/// <param name="MaxV">Highest voltage.</param>
public readonly record struct DaqRange(double MinV, double MaxV)
{
    /// <summary>True when <paramref name="volts"/> lies in the range (ends included).</summary>
    public bool Contains(double volts) => volts >= MinV && volts <= MaxV;

    /// <summary>True when the whole of <paramref name="other"/> lies inside this range.</summary>
    public bool Contains(DaqRange other) => other.MinV >= MinV && other.MaxV <= MaxV && other.MinV < other.MaxV;

    /// <inheritdoc />
    public override string ToString() => FormattableString.Invariant($"[{MinV} V, {MaxV} V]");
}

/// <summary>
/// Sample-clock timing of a buffered task (NI: DAQmxCfgSampClkTiming). Read once when the task is created.
/// </summary>
/// <param name="SampleRateHz">Sample clock rate. A device derives it from its timebase by an integer divisor, so the
/// rate actually used (<see cref="IDaqTask.SampleRateHz"/>) may differ slightly, as on NI hardware.</param>
/// <param name="SamplesPerChannel">Buffer size in samples per channel for continuous tasks; the number of samples for
/// finite ones. For a counter task, the number of edge timestamps the buffer holds.</param>
/// <param name="Mode">Continuous (ring buffer) or finite.</param>
/// <param name="SampleClockSource">Terminal the sample clock comes from. <c>null</c>: the device's onboard clock,
/// derived from its timebase. Another task's exported clock (e.g. <c>/Dev1/ai/SampleClock</c>, see
/// <see cref="IDaqTask.SampleClockTerminal"/>) makes this task sample on exactly that task's ticks.</param>
public sealed record DaqTiming(double SampleRateHz, int SamplesPerChannel, DaqSampleMode Mode = DaqSampleMode.Continuous,
    string? SampleClockSource = null);

/// <summary>A digital-edge start trigger (NI: DAQmxCfgDigEdgeStartTrig).</summary>
/// <param name="Source">Terminal, e.g. another task's <see cref="IDaqTask.StartTriggerTerminal"/>
/// (<c>/Dev1/ao/StartTrigger</c>) or an external line (<c>/Dev1/PFI0</c>).</param>
/// <param name="Edge">Edge that starts the task.</param>
public sealed record DaqStartTrigger(string Source, DaqEdge Edge = DaqEdge.Rising);

/// <summary>An analog output task: voltage channels with a buffered sample clock.</summary>
/// <param name="Name">Task name, used in every error message.</param>
/// <param name="PhysicalChannels">Channels, e.g. <c>Dev1/ao0:1</c> (see <see cref="DaqChannels.Parse"/>).</param>
/// <param name="Range">Output range; every written value must lie in it, and it must lie in the device's AO range.</param>
/// <param name="Timing">Sample clock and buffer.</param>
/// <param name="AllowRegeneration">True: the written buffer repeats until the task stops (scan waveforms).
/// False: samples are streamed once; the writer must stay ahead of the sample clock or the task faults with
/// <see cref="DaqErrorCodes.OutputUnderflow"/>.</param>
/// <param name="StartTrigger">Trigger to arm on, or <c>null</c> to start on <see cref="IDaqTask.Start"/>.</param>
public sealed record AnalogOutputConfig(string Name, string PhysicalChannels, DaqRange Range, DaqTiming Timing,
    bool AllowRegeneration = true, DaqStartTrigger? StartTrigger = null);

/// <summary>An analog input task: voltage channels acquired continuously (or finitely) into a device-side ring buffer.</summary>
/// <param name="Name">Task name, used in every error message.</param>
/// <param name="PhysicalChannels">Channels, e.g. <c>Dev1/ai0:3</c>.</param>
/// <param name="Range">Expected input range; it must lie in the device's AI range and sets the raw-code scale.</param>
/// <param name="Timing">Sample clock and ring-buffer size.</param>
/// <param name="StartTrigger">Trigger to arm on, or <c>null</c> to start on <see cref="IDaqTask.Start"/>.</param>
public sealed record AnalogInputConfig(string Name, string PhysicalChannels, DaqRange Range, DaqTiming Timing,
    DaqStartTrigger? StartTrigger = null);

/// <summary>A digital output task on port lines (shutter, stimulation triggers).</summary>
/// <param name="Name">Task name, used in every error message.</param>
/// <param name="Lines">Lines, e.g. <c>Dev1/port0/line0:3</c>. Line k of the task is bit k of every written state.</param>
/// <param name="Timing"><c>null</c>: static (on-demand) lines set by <see cref="IDigitalOutputTask.WriteState"/>.
/// Otherwise buffered: states written with <see cref="IDigitalOutputTask.Write"/> are clocked out.</param>
/// <param name="AllowRegeneration">Buffered only: true repeats the buffer, false streams it (underflow as for AO).</param>
/// <param name="StartTrigger">Buffered only: trigger to arm on.</param>
public sealed record DigitalOutputConfig(string Name, string Lines, DaqTiming? Timing = null,
    bool AllowRegeneration = true, DaqStartTrigger? StartTrigger = null);

/// <summary>
/// A counter input task that timestamps edges of a digital signal (e.g. a resonant scanner's line clock) in a sample
/// clock: each edge is reported as the index of the first tick of that clock at or after the edge.
/// </summary>
/// <param name="Name">Task name, used in every error message.</param>
/// <param name="Counter">Counter, e.g. <c>Dev1/ctr0</c>.</param>
/// <param name="InputTerminal">Terminal the signal arrives on, e.g. <c>/Dev1/PFI0</c>.</param>
/// <param name="Edge">Edge that counts.</param>
/// <param name="Timing">The timestamping clock: usually <c>SampleClockSource = "/Dev1/ai/SampleClock"</c> with the AI
/// rate, so edges come in AI sample indices. <see cref="DaqTiming.SamplesPerChannel"/> is the edge buffer size.</param>
/// <param name="StartTrigger">Trigger to arm on (NI: arm start trigger), or <c>null</c>.</param>
public sealed record CounterInputConfig(string Name, string Counter, string InputTerminal, DaqEdge Edge, DaqTiming Timing,
    DaqStartTrigger? StartTrigger = null);
