using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.FirmwareSim.Daq;

/// <summary>
/// Where a block of simulated AI samples sits in time, and how volts become raw codes. Passed to
/// <see cref="IAnalogSignal.Fill"/>; <see cref="AnalogOutputAt"/> tells a signal model (e.g. a scanner + PMT model)
/// what the device's AO channels put out at each of these samples.
/// </summary>
public readonly struct AnalogSignalBlock
{
    private readonly double _startNs;
    private readonly double _periodNs;

    internal AnalogSignalBlock(SimulatedDaqDevice device, string physicalChannel, long firstSampleIndex, double sampleRateHz,
        double startNs, double periodNs, DaqRange range, double voltsPerCode)
    {
        Device = device;
        PhysicalChannel = physicalChannel;
        FirstSampleIndex = firstSampleIndex;
        SampleRateHz = sampleRateHz;
        _startNs = startNs;
        _periodNs = periodNs;
        Range = range;
        VoltsPerCode = voltsPerCode;
    }

    /// <summary>The device acquiring.</summary>
    public SimulatedDaqDevice Device { get; }

    /// <summary>The AI channel being filled, e.g. <c>Dev1/ai0</c>.</summary>
    public string PhysicalChannel { get; }

    /// <summary>Task sample index of the first sample of the block.</summary>
    public long FirstSampleIndex { get; }

    /// <summary>The task's sample rate.</summary>
    public double SampleRateHz { get; }

    /// <summary>The task's input range.</summary>
    public DaqRange Range { get; }

    /// <summary>Volts per raw code.</summary>
    public double VoltsPerCode { get; }

    /// <summary>Device time of task sample <paramref name="sampleIndex"/>, in nanoseconds.</summary>
    public double SampleTimeNs(long sampleIndex) => _startNs + sampleIndex * _periodNs;

    /// <summary>Volts that AO channel <paramref name="aoChannel"/> (<c>aoN</c>) puts out at task sample
    /// <paramref name="sampleIndex"/> (0 V when no AO task drives it).</summary>
    public double AnalogOutputAt(int aoChannel, long sampleIndex) => Device.AnalogOutputVoltageLocked(aoChannel, SampleTimeNs(sampleIndex));

    /// <summary>The raw code for <paramref name="volts"/>, clipped to the int16 range as an ADC clips.</summary>
    public short ToCode(double volts)
    {
        double code = Math.Round(volts / VoltsPerCode);
        return (short)Math.Clamp(code, short.MinValue, short.MaxValue);
    }
}

/// <summary>
/// A simulated analog signal on one AI channel. <see cref="Fill"/> is called with consecutive blocks of increasing
/// sample index (a restart begins again at 0), on whichever thread reads, under the device's lock: it must be quick
/// and must not call back into tasks. Deterministic signals depend only on the sample index (or time).
/// </summary>
public interface IAnalogSignal
{
    /// <summary>Writes raw codes for samples <c>block.FirstSampleIndex …</c> + <paramref name="destination"/>.Length − 1.</summary>
    void Fill(in AnalogSignalBlock block, Span<short> destination);
}

/// <summary>A signal computed per sample from its device time (ns) and the AO outputs, e.g. a sine or a loopback.</summary>
public sealed class FunctionSignal : IAnalogSignal
{
    private readonly Func<AnalogSignalBlock, long, double> _volts;

    /// <summary>Creates the signal; <paramref name="volts"/> receives the block and the sample index and returns volts.</summary>
    public FunctionSignal(Func<AnalogSignalBlock, long, double> volts) => _volts = volts;

    /// <summary>A constant voltage.</summary>
    public static FunctionSignal Constant(double volts) => new((_, _) => volts);

    /// <summary>What AO channel <paramref name="aoChannel"/> outputs, times <paramref name="gain"/> (a wire from AO to AI).</summary>
    public static FunctionSignal Loopback(int aoChannel, double gain = 1.0) => new((b, n) => gain * b.AnalogOutputAt(aoChannel, n));

    /// <inheritdoc />
    public void Fill(in AnalogSignalBlock block, Span<short> destination)
    {
        for (int i = 0; i < destination.Length; i++) destination[i] = block.ToCode(_volts(block, block.FirstSampleIndex + i));
    }
}

/// <summary>
/// A simulated digital signal on a terminal (counter input). Edges are reported for time windows
/// (from, to] that follow each other; the answer for an
/// edge must not depend on how time was cut into windows.
/// </summary>
public interface IDigitalSignal
{
    /// <summary>Adds the times (device ns) of <paramref name="edge"/> edges in the window to <paramref name="edgeTimesNs"/>.</summary>
    void CollectEdges(long fromNsExclusive, long toNsInclusive, DaqEdge edge, List<long> edgeTimesNs);
}

/// <summary>
/// A resonant scanner's line clock: a square wave at <see cref="FrequencyHz"/> (rising edge k at
/// <c>PhaseNs + k / FrequencyHz</c>, falling half a period later), with optional Gaussian timing jitter, randomly or
/// explicitly missed edges, and spurious extra edges. Every random choice is a hash of (seed, edge number), so the
/// same settings give the same edges however the time line is sampled.
/// </summary>
public sealed class ResonantLineClock : IDigitalSignal
{
    /// <summary>Creates a line clock at <paramref name="frequencyHz"/> (e.g. 7910 for an 8 kHz resonant scanner).</summary>
    public ResonantLineClock(double frequencyHz, long seed = 1)
    {
        if (!(frequencyHz > 0) || double.IsInfinity(frequencyHz))
            throw new ArgumentOutOfRangeException(nameof(frequencyHz), frequencyHz, "The line clock frequency must be a finite number > 0 Hz.");
        FrequencyHz = frequencyHz;
        Seed = seed;
    }

    /// <summary>Line frequency (one rising edge per period).</summary>
    public double FrequencyHz { get; }

    /// <summary>Seed of the jitter and of random missed and spurious edges.</summary>
    public long Seed { get; }

    /// <summary>Time of rising edge 0, in device ns.</summary>
    public double PhaseNs { get; init; }

    /// <summary>Standard deviation of each edge's timing error, in ns.</summary>
    public double JitterRmsNs { get; init; }

    /// <summary>Probability that an edge is missing.</summary>
    public double MissedEdgeProbability { get; init; }

    /// <summary>Edge numbers (k) that are missing, for exact tests.</summary>
    public IReadOnlySet<long> MissedEdges { get; init; } = new HashSet<long>();

    /// <summary>Probability per period of one extra edge at a uniformly random time within the period.</summary>
    public double SpuriousEdgeProbability { get; init; }

    /// <summary>Extra edges at these device times (ns), for exact tests.</summary>
    public IReadOnlyList<long> SpuriousEdgeTimesNs { get; init; } = [];

    private double PeriodNs => 1e9 / FrequencyHz;

    /// <inheritdoc />
    public void CollectEdges(long fromNsExclusive, long toNsInclusive, DaqEdge edge, List<long> edgeTimesNs)
    {
        if (toNsInclusive <= fromNsExclusive) return;
        double period = PeriodNs;
        double offset = PhaseNs + (edge == DaqEdge.Falling ? period / 2 : 0);
        double margin = 8 * JitterRmsNs + period;
        long kFirst = (long)Math.Floor((fromNsExclusive - offset - margin) / period);
        long kLast = (long)Math.Ceiling((toNsInclusive - offset + margin) / period);
        ulong stream = edge == DaqEdge.Falling ? 2UL : 0UL;
        for (long k = Math.Max(kFirst, 0); k <= kLast; k++)
        {
            if (!MissedEdges.Contains(k) && !(MissedEdgeProbability > 0 && Uniform(k, stream + 10) < MissedEdgeProbability))
            {
                double jitter = JitterRmsNs > 0 ? JitterRmsNs * Normal(k, stream) : 0;
                AddIfInside(offset + k * period + jitter);
            }
            if (SpuriousEdgeProbability > 0 && Uniform(k, stream + 20) < SpuriousEdgeProbability)
                AddIfInside(offset + (k + Uniform(k, stream + 21)) * period);
        }
        foreach (long t in SpuriousEdgeTimesNs)
            if (t > fromNsExclusive && t <= toNsInclusive) edgeTimesNs.Add(t);

        void AddIfInside(double timeNs)
        {
            long t = (long)Math.Round(timeNs);
            if (t > fromNsExclusive && t <= toNsInclusive) edgeTimesNs.Add(t);
        }
    }

    private double Uniform(long k, ulong stream)
    {
        var r = new SimRandom(Seed ^ k * 0x5851F42D4C957F2DL, stream);
        return r.NextDouble();
    }

    private double Normal(long k, ulong stream)
    {
        double u1 = 1.0 - Uniform(k, stream + 1);
        double u2 = Uniform(k, stream + 2);
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
