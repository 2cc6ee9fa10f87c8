using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.Interop.NiDaqmx;

/// <summary>An NI-DAQmx device as the driver describes it; values are read once when the system is created.</summary>
public sealed class NiDaqmxDevice : IDaqDevice
{
    private NiDaqmxDevice(string name, string productType, DaqRange aoRange, DaqRange aiRange, double maxAoRateHz,
        double maxAiRateHz, IReadOnlyList<string> physicalChannels, IReadOnlyList<string> terminals)
    {
        Name = name;
        ProductType = productType;
        AoRangeV = aoRange;
        AiRangeV = aiRange;
        MaxAoRateHz = maxAoRateHz;
        MaxAiRateHz = maxAiRateHz;
        PhysicalChannels = physicalChannels;
        Terminals = terminals;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public string ProductType { get; }

    /// <inheritdoc />
    public DaqRange AoRangeV { get; }

    /// <inheritdoc />
    public DaqRange AiRangeV { get; }

    /// <inheritdoc />
    public double MaxAoRateHz { get; }

    /// <inheritdoc />
    public double MaxAiRateHz { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> PhysicalChannels { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> Terminals { get; }

    internal static NiDaqmxDevice Read(INiDaqmxApi api, NiDaqmxStatus status, string name)
    {
        string Text(DeviceStringProperty p)
        {
            status.Check(api.GetDeviceString(p, name, out string value), "DAQmxGetDev" + p, name);
            return value;
        }

        // Devices without AO (or AI) answer with an error for those properties; treat that as "none".
        DaqRange Widest(DeviceRangeProperty p)
        {
            int s = api.GetDeviceRanges(p, name, out double[] pairs);
            if (s < 0) return default;
            status.Check(s, "DAQmxGetDev" + p, name);
            return WidestRange(pairs);
        }

        double Rate(DeviceDoubleProperty p)
        {
            int s = api.GetDeviceDouble(p, name, out double value);
            if (s < 0) return 0;
            status.Check(s, "DAQmxGetDev" + p, name);
            return value;
        }

        var channels = new List<string>();
        foreach (var p in new[] { DeviceStringProperty.AIPhysicalChans, DeviceStringProperty.AOPhysicalChans,
                     DeviceStringProperty.DOLines, DeviceStringProperty.CIPhysicalChans })
        {
            if (api.GetDeviceString(p, name, out string list) >= 0) channels.AddRange(NiDaqmxSystem.SplitList(list));
        }
        return new NiDaqmxDevice(name, Text(DeviceStringProperty.ProductType), Widest(DeviceRangeProperty.AOVoltageRngs),
            Widest(DeviceRangeProperty.AIVoltageRngs), Rate(DeviceDoubleProperty.AOMaxRate),
            Rate(DeviceDoubleProperty.AIMaxSingleChanRate), channels,
            NiDaqmxSystem.SplitList(Text(DeviceStringProperty.Terminals)));
    }

    /// <summary>The widest of NI's (min, max) pairs; unused trailing pairs are (0, 0).</summary>
    internal static DaqRange WidestRange(ReadOnlySpan<double> pairs)
    {
        DaqRange best = default;
        for (int i = 0; i + 1 < pairs.Length; i += 2)
        {
            double min = pairs[i], max = pairs[i + 1];
            if (max > min && max - min > best.MaxV - best.MinV) best = new DaqRange(min, max);
        }
        return best;
    }
}
