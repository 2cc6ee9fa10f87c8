using ClosedLoop.FirmwareSim.Daq;
using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.FirmwareSim.Tests;

public class DaqTimingTests
{
    private const long LatencyNs = 1_000_000;

    private static SimulatedDaqSystem NewSystem(params SimulatedDaqDeviceOptions[] devices) =>
        new(new SimulatedDaqOptions { StartLatencyNs = LatencyNs, Devices = devices });

    private static short[] ReadAll(IAnalogInputTask ai, int scans, out long first)
    {
        var buf = new short[scans * ai.Channels.Count];
        int n = ai.Read(buf, TimeSpan.Zero, out first);
        Assert.Equal(scans, n);
        return buf;
    }

    [Fact]
    public void Start_AiArmedOnAoStartTrigger_StartsOnSameSample()
    {
        using var sys = NewSystem();
        var dev = sys.Device("Dev1");
        dev.ConnectAnalogInput(0, FunctionSignal.Loopback(0));
        var ao = sys.CreateAnalogOutputTask(new AnalogOutputConfig("scan", "Dev1/ao0", new DaqRange(-10, 10), new DaqTiming(100_000, 8)));
        var ai = sys.CreateAnalogInputTask(new AnalogInputConfig("pmt", "Dev1/ai0", new DaqRange(-10, 10), new DaqTiming(100_000, 1000),
            new DaqStartTrigger(ao.StartTriggerTerminal)));
        ao.Write([1, 2, 3, 4, 5, 6, 7, 8]);
        ai.Start();
        sys.AdvanceTo(3 * LatencyNs); // armed AI waits for the trigger however long
        Assert.True(ai.IsRunning);
        Assert.Equal(0, ai.SamplesAcquired);
        ao.Start();
        sys.AdvanceTo(3 * LatencyNs + LatencyNs + 159_000);
        short[] codes = ReadAll(ai, 16, out long first);
        Assert.Equal(0, first);
        double vpc = ai.VoltsPerCode;
        for (int n = 0; n < 16; n++) Assert.Equal((n % 8) + 1, codes[n] * vpc, 3);
    }

    [Fact]
    public void Start_TriggerAlreadyPulsed_TaskStaysArmed()
    {
        using var sys = NewSystem();
        var ao = sys.CreateAnalogOutputTask(new AnalogOutputConfig("scan", "Dev1/ao0", new DaqRange(-10, 10), new DaqTiming(100_000, 2)));
        ao.Write([0, 0]);
        ao.Start();
        sys.AdvanceTo(2 * LatencyNs);
        var ai = sys.CreateAnalogInputTask(new AnalogInputConfig("late", "Dev1/ai0", new DaqRange(-1, 1), new DaqTiming(100_000, 100),
            new DaqStartTrigger("/Dev1/ao/StartTrigger")));
        ai.Start();
        sys.AdvanceTo(5 * LatencyNs);
        Assert.Equal(0, ai.SamplesAcquired);
    }

    [Fact]
    public void Start_OnAnotherTasksSampleClock_SamplesOnItsTicks()
    {
        using var sys = NewSystem();
        sys.Device("Dev1").ConnectAnalogInput(0, FunctionSignal.Loopback(0));
        var ao = sys.CreateAnalogOutputTask(new AnalogOutputConfig("scan", "Dev1/ao0", new DaqRange(-10, 10),
            new DaqTiming(250_000, 4, SampleClockSource: "/Dev1/ai/SampleClock")));
        var ai = sys.CreateAnalogInputTask(new AnalogInputConfig("pmt", "Dev1/ai0", new DaqRange(-10, 10), new DaqTiming(250_000, 100)));
        ao.Write([1, 2, 3, 4]);
        ao.Start(); // waits for the AI clock
        ai.Start();
        sys.AdvanceTo(LatencyNs + 39_000);
        short[] codes = ReadAll(ai, 10, out _);
        Assert.Equal(ai.SampleRateHz, ao.SampleRateHz);
        for (int n = 0; n < 10; n++) Assert.Equal((n % 4) + 1, codes[n] * ai.VoltsPerCode, 3);
    }

    [Fact]
    public void Start_SharedTimebase_DevicesNeverDrift_OwnOscillatorsDo()
    {
        var dev1 = new SimulatedDaqDeviceOptions { Name = "Dev1", TimebaseErrorPpm = 0 };
        var shared = new SimulatedDaqDeviceOptions { Name = "Dev2", TimebaseErrorPpm = 50, TimebaseSource = "Dev1" };
        var own = new SimulatedDaqDeviceOptions { Name = "Dev3", TimebaseErrorPpm = 50 };
        using var sys = NewSystem(dev1, shared, own);
        var tasks = new[] { "Dev1", "Dev2", "Dev3" }.Select(d =>
            sys.CreateAnalogInputTask(new AnalogInputConfig("ai" + d, d + "/ai0", new DaqRange(-10, 10), new DaqTiming(1_000_000, 2_000_000)))).ToArray();
        foreach (var t in tasks) t.Start(); // all at device time 0: sample 0 at the same tick
        sys.AdvanceTo(LatencyNs + 1_000_000_000L); // one second of samples
        long[] acquired = tasks.Select(t => t.SamplesAcquired).ToArray();
        Assert.Equal(acquired[0], acquired[1]);
        Assert.Equal(1_000_001, acquired[0]);
        Assert.InRange(acquired[0] - acquired[2], 49, 51); // 50 ppm slow: 50 samples behind after one second
    }

    [Fact]
    public void Start_SameTimebaseDifferentStartTimes_StartsOnTimebaseTicks()
    {
        using var sys = new SimulatedDaqSystem(new SimulatedDaqOptions { StartLatencyNs = 1_234_567 });
        var ai = sys.CreateAnalogInputTask(new AnalogInputConfig("pmt", "Dev1/ai0", new DaqRange(-10, 10), new DaqTiming(1_000_000, 100)));
        ai.Start();
        sys.AdvanceTo(1_234_569); // latency rounds up to the next 10 ns tick of the 100 MHz timebase: 1 234 570 ns
        Assert.Equal(0, ai.SamplesAcquired);
        sys.AdvanceTo(1_234_570);
        Assert.Equal(1, ai.SamplesAcquired);
    }

    [Fact]
    public void Create_RateNotADivisorOfTimebase_CoercedLikeHardware()
    {
        using var sys = NewSystem();
        var ai = sys.CreateAnalogInputTask(new AnalogInputConfig("pmt", "Dev1/ai0", new DaqRange(-10, 10), new DaqTiming(300_000, 100)));
        Assert.Equal(100e6 / 333, ai.SampleRateHz, 6);
    }

    [Fact]
    public void ReadEdges_LineClock_ArriveAtSampleIndicesOfAiClock()
    {
        using var sys = NewSystem();
        var dev = sys.Device("Dev1");
        // 8 kHz line clock, first rising edge 5 µs after the AI's first sample at 1 ms.
        dev.ConnectDigitalInput("PFI0", new ResonantLineClock(8_000) { PhaseNs = LatencyNs + 5_000 });
        var ai = sys.CreateAnalogInputTask(new AnalogInputConfig("pmt", "Dev1/ai0", new DaqRange(-10, 10), new DaqTiming(1_000_000, 100_000)));
        var ctr = sys.CreateCounterInputTask(new CounterInputConfig("lines", "Dev1/ctr0", "/Dev1/PFI0", DaqEdge.Rising,
            new DaqTiming(1_000_000, 1000, SampleClockSource: ai.SampleClockTerminal)));
        ctr.Start();
        ai.Start();
        sys.AdvanceTo(LatencyNs + 1_000_000); // 1 ms: edges at 5, 130, 255, … µs
        var edges = new long[100];
        int n = ctr.ReadEdges(edges, TimeSpan.Zero);
        Assert.Equal(8, n);
        for (int k = 0; k < n; k++) Assert.Equal(5 + 125 * k, edges[k]);
        Assert.Equal(8, ctr.EdgeCount);
    }

    [Fact]
    public void ReadEdges_MissedAndSpuriousEdges_ReproducedAsConfigured()
    {
        using var sys = NewSystem();
        var dev = sys.Device("Dev1");
        dev.ConnectDigitalInput("/Dev1/PFI3", new ResonantLineClock(10_000)
        {
            PhaseNs = LatencyNs,
            MissedEdges = new HashSet<long> { 2 },
            SpuriousEdgeTimesNs = [LatencyNs + 333_000],
        });
        var ctr = sys.CreateCounterInputTask(new CounterInputConfig("lines", "Dev1/ctr1", "/Dev1/PFI3", DaqEdge.Rising, new DaqTiming(1_000_000, 100)));
        ctr.Start();
        sys.AdvanceTo(LatencyNs + 450_000);
        var edges = new long[10];
        int n = ctr.ReadEdges(edges, TimeSpan.Zero);
        Assert.Equal([0L, 100, 300, 333, 400], edges[..n]);
    }

    [Fact]
    public void ReadEdges_RandomJitterAndMisses_SameForSameSeedWhateverTheReadPattern()
    {
        long[] Run(long stepNs)
        {
            using var sys = NewSystem();
            sys.Device("Dev1").ConnectDigitalInput("PFI0", new ResonantLineClock(7_910, seed: 42)
            { JitterRmsNs = 300, MissedEdgeProbability = 0.05, SpuriousEdgeProbability = 0.05 });
            var ctr = sys.CreateCounterInputTask(new CounterInputConfig("lines", "Dev1/ctr0", "/Dev1/PFI0", DaqEdge.Rising, new DaqTiming(1_000_000, 10_000)));
            ctr.Start();
            var all = new List<long>();
            var buf = new long[64];
            for (long t = 0; t <= 200_000_000; t += stepNs)
            {
                sys.AdvanceTo(t);
                int n;
                while ((n = ctr.ReadEdges(buf, TimeSpan.Zero)) > 0) all.AddRange(buf[..n]);
            }
            return all.ToArray();
        }
        long[] coarse = Run(10_000_000), fine = Run(333_333);
        Assert.Equal(coarse, fine);
        Assert.InRange(coarse.Length, 1500, 1660); // ≈ 1582 lines in 0.2 s, ±5 % missed / spurious
    }
}
