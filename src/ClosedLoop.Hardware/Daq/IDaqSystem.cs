namespace ClosedLoop.Hardware.Daq;

/// <summary>What a DAQ device offers (NI: an X-series board such as a PCIe-6363). Values are fixed for the device.</summary>
public interface IDaqDevice
{
    /// <summary>Device name as channels name it, e.g. <c>Dev1</c>.</summary>
    string Name { get; }

    /// <summary>Product, e.g. <c>PCIe-6363</c>.</summary>
    string ProductType { get; }

    /// <summary>Widest analog output range.</summary>
    DaqRange AoRangeV { get; }

    /// <summary>Widest analog input range.</summary>
    DaqRange AiRangeV { get; }

    /// <summary>Highest AO sample clock rate.</summary>
    double MaxAoRateHz { get; }

    /// <summary>Highest AI sample clock rate.</summary>
    double MaxAiRateHz { get; }

    /// <summary>Physical channels (<c>Dev1/ai0</c>, <c>Dev1/ao0</c>, <c>Dev1/port0/line0</c>, <c>Dev1/ctr0</c>, …).</summary>
    IReadOnlyList<string> PhysicalChannels { get; }

    /// <summary>Terminals usable as trigger, clock or counter inputs (<c>/Dev1/PFI0</c>, <c>/Dev1/ai/SampleClock</c>, …).</summary>
    IReadOnlyList<string> Terminals { get; }
}

/// <summary>
/// The DAQ driver: lists devices and creates tasks from plain configuration records. Implemented by the simulated
/// device (firmware-sim) and by an NI-DAQmx backend. Every method throws <see cref="DaqException"/> for a bad
/// configuration, naming the task, the setting and what would be accepted.
/// </summary>
public interface IDaqSystem : IDisposable
{
    /// <summary>The devices present.</summary>
    IReadOnlyList<IDaqDevice> Devices { get; }

    /// <summary>Creates (but does not start) an analog output task.</summary>
    IAnalogOutputTask CreateAnalogOutputTask(AnalogOutputConfig config);

    /// <summary>Creates (but does not start) an analog input task.</summary>
    IAnalogInputTask CreateAnalogInputTask(AnalogInputConfig config);

    /// <summary>Creates (but does not start) a digital output task. Static tasks need no start.</summary>
    IDigitalOutputTask CreateDigitalOutputTask(DigitalOutputConfig config);

    /// <summary>Creates (but does not start) a counter input task.</summary>
    ICounterInputTask CreateCounterInputTask(CounterInputConfig config);
}
