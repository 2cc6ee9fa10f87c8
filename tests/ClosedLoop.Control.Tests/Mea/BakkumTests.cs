using ClosedLoop.Control.Mea;
using ClosedLoop.Core;

namespace ClosedLoop.Control.Tests.Mea;

public class BakkumTests
{
    private const long Ms = 1_000_000; // 1 ms blocks

    // Units: 0 = probe; 1 and 2 = output electrodes at x = 0 µm and x = 100 µm; 3, 4, 5 = training electrodes.
    private static readonly string[] Names = ["p", "left", "right", "t3", "t4", "t5"];
    private static readonly double[] X = [50, 0, 100, 0, 0, 0];
    private static readonly double[] Y = [0, 0, 0, 0, 0, 0];

    private static BakkumSettings Settings(bool openLoop = false) => new()
    {
        Stimulator = "electrodes", Probes = "probe", Output = "output", Training = "training",
        Cycles = 4, BaselineCycles = 1, WarmUpS = 0, ProbeIntervalMs = 20, ResponseWindowStartMs = 2, ResponseWindowEndMs = 10,
        GoalDeg = 0, ToleranceDeg = 45, PoolSize = 1, TrainingPulses = 3, TrainingRateHz = 50, PairDelayMs = 5, RestS = 0.01,
        OpenLoop = openLoop, Seed = 3,
    };

    /// <summary>Runs the protocol on 1 ms blocks; 5 ms after each probe the output electrodes named by
    /// <paramref name="respond"/> (per cycle, from 1) spike once.</summary>
    private static (BakkumProtocol Protocol, FakeStimulator Device, RunContext Context) Run(BakkumSettings settings, Func<int, int[]> respond)
    {
        var events = new RunEventLog();
        var context = new RunContext("t", 1000, events, new CancellationTokenSource());
        var interlock = new SafetyInterlock(events);
        var device = new FakeStimulator("electrodes");
        var channel = interlock.Register(new ClosedLoop.Hardware.StimulatorProfile
        {
            Name = "electrodes", Kind = ClosedLoop.Hardware.StimulatorKind.Electrical, MaxPowerMw = 0, MaxPulseWidthMs = 1,
            MaxPulseRateHz = 200, MaxDutyCycle = 0.2, MaxAmplitudeUa = 40, MaxPhaseWidthUs = 400, MaxChargePerPhaseNc = 8,
        }, device);
        var activity = new PopulationActivity(6, Names);
        var protocol = new BakkumProtocol(settings, [0], [1, 2], [3, 4, 5], X, Y, Names, activity, interlock, channel);
        protocol.Start(context);
        var pool = new FramePool(6, 1, 2);
        Assert.True(pool.TryRent(out var frame));
        frame.FramePeriodNs = Ms;
        for (long k = 0; k < 10_000 && !context.StopRequested; k++)
        {
            frame.FrameIndex = k;
            frame.SampleTimeNs = k * Ms;
            Array.Clear(activity.Raw);
            var probes = device.Delivered.Where(c => c.Targets.Electrodes![0] == 0).ToList();
            if (probes.Count > 0 && frame.SampleTimeNs - probes[^1].SampleTimeNs == 5 * Ms)
                foreach (int u in respond(probes.Count)) activity.Raw[u] = 1;
            activity.SampleTimeNs = frame.SampleTimeNs;
            protocol.Process(frame);
        }
        frame.Release();
        return (protocol, device, context);
    }

    [Fact]
    public void Cycle_OutputTowardsTheGoal_GetsSbs_AwayFromIt_GetsThePtsPairFiveMsApart()
    {
        // baseline: both sides (centre 50 µm); then right (output 0°: right), left (180°: wrong), right again
        var (protocol, device, context) = Run(Settings(), cycle => cycle switch { 1 => [1, 2], 3 => [1], _ => [2] });

        Assert.True(context.StopRequested);
        var cycles = protocol.Cycles;
        Assert.Equal(4, cycles.Count);
        Assert.Equal("baseline", cycles[0].Feedback);
        Assert.Null(cycles[0].ErrorDeg);
        Assert.Equal(50, cycles[0].CentreX);
        Assert.Equal(0, cycles[1].ErrorDeg);
        Assert.Equal("sbs", cycles[1].Feedback);
        Assert.Equal(180, cycles[2].ErrorDeg);
        Assert.Equal("pts", cycles[2].Feedback);
        Assert.Equal("sbs", cycles[3].Feedback);
        Assert.All(cycles, c => Assert.Equal(1 + 2 * 3, c.Stimuli)); // one probe + 6 training pulses, matched

        // The PTS of cycle 3: a pair of distinct training electrodes, 3 pulses each at 50 Hz, the second 5 ms after the first.
        long from = (long)Math.Round(cycles[2].StartS * 1e9), to = (long)Math.Round(cycles[2].EndS * 1e9);
        var pts = device.Delivered.Where(c => c.SampleTimeNs >= from && c.SampleTimeNs < to && c.Targets.Electrodes![0] != 0).ToList();
        Assert.Equal(6, pts.Count);
        int a = pts[0].Targets.Electrodes![0], b = pts[1].Targets.Electrodes![0];
        Assert.NotEqual(a, b);
        Assert.All(pts, c => Assert.Contains(c.Targets.Electrodes![0], new[] { 3, 4, 5 }));
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(a, pts[2 * i].Targets.Electrodes![0]);
            Assert.Equal(b, pts[2 * i + 1].Targets.Electrodes![0]);
            Assert.Equal(5 * Ms, pts[2 * i + 1].SampleTimeNs - pts[2 * i].SampleTimeNs);
            if (i > 0) Assert.Equal(20 * Ms, pts[2 * i].SampleTimeNs - pts[2 * i - 2].SampleTimeNs);
        }
        Assert.Equal($"{Names[a]}→{Names[b]}", cycles[2].Pattern);
    }

    [Fact]
    public void Control_IgnoresTheOutput_AndStillDeliversTheSameNumberOfPulses()
    {
        // Always wrong (left): the closed loop gives PTS every time; the control decides by chance.
        var (closed, _, _) = Run(Settings(), cycle => cycle == 1 ? [1, 2] : [1]);
        var settings = Settings(openLoop: true);
        settings.Cycles = 21;
        var (control, _, _) = Run(settings, cycle => cycle == 1 ? [1, 2] : [1]);

        Assert.All(closed.Cycles.Skip(1), c => Assert.Equal("pts", c.Feedback));
        var after = control.Cycles.Skip(1).ToList();
        Assert.Contains(after, c => c.Feedback == "sbs");
        Assert.Contains(after, c => c.Feedback == "pts");
        Assert.All(control.Cycles, c => Assert.Equal(7, c.Stimuli));
    }
}
