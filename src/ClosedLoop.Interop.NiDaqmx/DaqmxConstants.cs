namespace ClosedLoop.Interop.NiDaqmx;

/// <summary>
/// NI-DAQmx constants used by this backend, with the values NIDAQmx.h gives them (checked against published copies of
/// the header: the value sets for ActiveEdge, AcquisitionType, RegenerationMode1, CountDirection1, the DO line grouping,
/// the fill mode / data layout and the terminal configuration).
/// </summary>
internal static class DaqmxConstants
{
    /// <summary>DAQmx_Val_Volts: units of a voltage channel.</summary>
    public const int ValVolts = 10348;

    /// <summary>DAQmx_Val_Rising: rising edge (sample clock, trigger, counted edge).</summary>
    public const int ValRising = 10280;

    /// <summary>DAQmx_Val_Falling: falling edge.</summary>
    public const int ValFalling = 10171;

    /// <summary>DAQmx_Val_ContSamps: continuous acquisition or generation.</summary>
    public const int ValContSamps = 10123;

    /// <summary>DAQmx_Val_FiniteSamps: finite acquisition or generation.</summary>
    public const int ValFiniteSamps = 10178;

    /// <summary>DAQmx_Val_GroupByScanNumber: interleaved samples (ch0[0], ch1[0], ch0[1], …).</summary>
    public const int ValGroupByScanNumber = 1;

    /// <summary>DAQmx_Val_Cfg_Default: the device's default AI terminal configuration.</summary>
    public const int ValCfgDefault = -1;

    /// <summary>DAQmx_Val_AllowRegen: the output buffer repeats.</summary>
    public const int ValAllowRegen = 10097;

    /// <summary>DAQmx_Val_DoNotAllowRegen: the output buffer is streamed once.</summary>
    public const int ValDoNotAllowRegen = 10158;

    /// <summary>DAQmx_Val_ChanForAllLines: one DO channel for all lines (line k = bit k of a U32 sample).</summary>
    public const int ValChanForAllLines = 1;

    /// <summary>DAQmx_Val_CountUp: a count-edges channel counts up.</summary>
    public const int ValCountUp = 10128;

    /// <summary>bool32 TRUE.</summary>
    public const uint True = 1;

    /// <summary>bool32 FALSE.</summary>
    public const uint False = 0;

    /// <summary>Maps the project's edge onto NI's value.</summary>
    public static int Edge(ClosedLoop.Hardware.Daq.DaqEdge edge) =>
        edge == ClosedLoop.Hardware.Daq.DaqEdge.Rising ? ValRising : ValFalling;

    /// <summary>Maps the project's sample mode onto NI's value.</summary>
    public static int Mode(ClosedLoop.Hardware.Daq.DaqSampleMode mode) =>
        mode == ClosedLoop.Hardware.Daq.DaqSampleMode.Continuous ? ValContSamps : ValFiniteSamps;
}
