using ClosedLoop.Core;
using static ClosedLoop.Control.Tests.TestRig;

namespace ClosedLoop.Control.Tests;

public class StimulusAvoidanceTests
{
    private const long T = 10_000_000; // 100 Hz frames on the sample clock: every time below is a whole number of frames
    private const long Second = 1_000_000_000;

    /// <summary>A run in miniature: activity → detector stage → protocol, frame by frame on a simulated sample clock.</summary>
    private sealed class Rig : IDisposable
    {
        private readonly FramePool _pool = new(4, 4, 1);
        private readonly Frame _frame;
        private readonly DetectorStage _detectors;
        private long _next;

        public readonly PopulationActivity Activity = new(4, ["m0", "m1", "s0", "s1"]);
        public readonly RunEventLog Events = new();
        public readonly RunContext Context;
        public readonly SafetyInterlock Interlock;
        public readonly FakeStimulator Laser = new("laser");
        public readonly StimulationChannel Channel;
        public readonly GroupActivityDetector Detector;
        public readonly StimulusAvoidanceProtocol Protocol;

        public Rig(StimulusAvoidanceSettings? settings = null, ClosedLoop.Hardware.StimulatorProfile? limits = null, bool start = true)
        {
            Context = new RunContext("t", 100, Events, new CancellationTokenSource());
            Interlock = new SafetyInterlock(Events);
            Channel = Interlock.Register(limits ?? Limits("laser"), Laser);
            Detector = new GroupActivityDetector(new GroupActivityDetectorSettings
            {
                Name = "motor-burst", Group = "motor", ThresholdDff = 0.2, MinActive = 2, MinFrames = 1, RefractoryS = 0,
            }, [0, 1]);
            _detectors = new DetectorStage([Detector], Activity);
            Protocol = new StimulusAvoidanceProtocol(settings ?? Settings(), Detector, Targets, Interlock, Channel);
            Assert.True(_pool.TryRent(out _frame));
            _frame.FramePeriodNs = T;
            if (start)
            {
                _detectors.Start(Context);
                Protocol.Start(Context);
            }
        }

        /// <summary>End of the next frame on the sample clock (when the protocol acts on it).</summary>
        public long NextFrameEndNs => (_next + 1) * T;

        /// <summary>Runs one frame; the motor group responds on it when <paramref name="respond"/>.</summary>
        public void Step(bool respond = false)
        {
            long i = _next++;
            _frame.FrameIndex = i;
            _frame.SampleTimeNs = i * T;
            Activity.FrameIndex = i;
            Activity.SampleTimeNs = i * T;
            Array.Clear(Activity.Dff);
            if (respond) { Activity.Dff[0] = 0.5f; Activity.Dff[1] = 0.5f; }
            // A sensory unit always lights up under stimulation: it is not in the detector's group and must not matter.
            Activity.Dff[2] = Laser.IsActive ? 1f : 0f;
            _detectors.Process(_frame);
            Protocol.Process(_frame);
        }

        /// <summary>Runs frames until the next frame would end after <paramref name="endNs"/>; responds on frames ending at the given times.</summary>
        public void RunUntil(long endNs, params long[] respondAtNs)
        {
            while (NextFrameEndNs <= endNs)
                Step(respondAtNs.Contains(NextFrameEndNs));
        }

        public long[] StimulusTimes => Laser.Delivered.Select(c => c.SampleTimeNs).ToArray();

        public List<RunEvent> EventsOf(RunEventKind kind) => Events.Snapshot().Where(e => e.Kind == kind).ToList();

        public void Dispose()
        {
            _frame.Release();
            Interlock.Dispose();
        }
    }

    private static StimulusAvoidanceSettings Settings(Action<StimulusAvoidanceSettings>? change = null)
    {
        var s = new StimulusAvoidanceSettings
        {
            Stimulator = "laser", Targets = "sensory", Detector = "motor-burst",
            StimulusRateHz = 2, ResponseWindowStartS = 0.1, ResponseWindowEndS = 0.3,
            PauseS = 1, MaxTrialS = 3, Trials = 3,
            PowerMw = 5, PulseWidthMs = 5, PulseCount = 3, PulseRateHz = 50,
        };
        change?.Invoke(s);
        return s;
    }

    [Fact]
    public void Process_NoResponse_StimulatesAtTheStimulusRateThenTimesOut()
    {
        using var rig = new Rig();
        long start = T; // the first frame ends at T: the trial and its first stimulus begin there

        rig.RunUntil(start + 3 * Second);

        // 2 Hz for 3 s: six stimuli, 500 ms apart on the sample clock, the last one before the time-out.
        long[] times = rig.StimulusTimes;
        Assert.Equal(6, times.Length);
        Assert.Equal(start, times[0]);
        Assert.All(times.Zip(times.Skip(1)), p => Assert.Equal(500_000_000, p.Second - p.First));
        Assert.All(rig.Laser.Delivered, c =>
        {
            Assert.Equal(5, c.PowerMw);
            Assert.Equal(3, c.PulseCount);
            Assert.Same(Targets, c.Targets);
        });

        var trial = Assert.Single(rig.Protocol.Trials);
        Assert.True(trial.TimedOut);
        Assert.Null(trial.ResponseTimeS);
        Assert.Equal(1, trial.Index);
        Assert.Equal(6, trial.Stimuli);
        Assert.Equal(0, trial.Refused);
        Assert.Equal(start / 1e9, trial.StartS, 9);
        Assert.Equal(3.0, trial.EndS - trial.StartS, 9);
        Assert.Equal("Pausing", rig.Protocol.StateName);
        Assert.Contains("no response within 3 s", Assert.Single(rig.EventsOf(RunEventKind.TrialEnded)).Message);
        Assert.Equal(6, rig.Protocol.StimuliDelivered);
    }

    [Fact]
    public void Process_ResponseInsideWindow_StopsStimulationAndRecordsResponseTime()
    {
        using var rig = new Rig();
        long start = T;
        long secondStimulus = start + 500_000_000;
        long response = secondStimulus + 200_000_000; // inside [0.1, 0.3] s after the second stimulus

        rig.RunUntil(response, response);

        var trial = Assert.Single(rig.Protocol.Trials);
        Assert.False(trial.TimedOut);
        Assert.Equal(0.7, trial.ResponseTimeS!.Value, 9); // detection − trial start, on the sample clock
        Assert.Equal(2, trial.Stimuli);
        Assert.Equal(response / 1e9, trial.EndS, 9);
        Assert.Equal(1, rig.Laser.AllOffCalls); // the ongoing train is switched off at once
        Assert.False(rig.Laser.IsActive);
        Assert.False(rig.Interlock.IsTripped); // stopping is not a safety trip
        var ended = Assert.Single(rig.EventsOf(RunEventKind.TrialEnded));
        Assert.Equal(0.7, ended.Value, 9);
        Assert.Contains("stimulation stopped", ended.Message);

        // The pause is free of stimulation, then the next trial starts and stimulates.
        rig.RunUntil(response + Second - T);
        Assert.Equal(2, rig.Laser.Delivered.Count);
        Assert.Single(rig.EventsOf(RunEventKind.TrialStarted));

        rig.RunUntil(response + Second);
        var started = rig.EventsOf(RunEventKind.TrialStarted);
        Assert.Equal(2, started.Count);
        Assert.Equal(response + Second, started[1].SampleTimeNs);
        Assert.Equal("Stimulating", rig.Protocol.StateName);
    }

    [Fact]
    public void Process_NextTrial_StimulatesAtItsStartAndKeepsTheStimulusRate()
    {
        using var rig = new Rig();
        long response = T + 200_000_000;
        long nextStart = response + Second;

        rig.RunUntil(nextStart + Second, response);

        // Trial 2 behaves like trial 1: first stimulus at the trial's start, then every 500 ms.
        long[] trial2 = rig.StimulusTimes.Where(t => t >= nextStart).ToArray();
        Assert.Equal([nextStart, nextStart + 500_000_000, nextStart + Second], trial2);
    }

    [Fact]
    public void Process_ResponseInLaterTrial_ResponseTimeMeasuredFromThatTrialsStart()
    {
        using var rig = new Rig();
        long response1 = T + 200_000_000;
        long start2 = response1 + Second;
        long response2 = start2 + 500_000_000 + 150_000_000; // 150 ms after trial 2's second stimulus

        rig.RunUntil(response2, response1, response2);

        Assert.Equal(2, rig.Protocol.Trials.Count);
        var trial2 = rig.Protocol.Trials[1];
        Assert.Equal(2, trial2.Index);
        Assert.Equal(start2 / 1e9, trial2.StartS, 9);
        Assert.Equal(0.65, trial2.ResponseTimeS!.Value, 9);
        Assert.Equal(2, trial2.Stimuli);
    }

    [Theory]
    [InlineData(50)]  // too early: before the window opens 100 ms after the stimulus
    [InlineData(90)]
    [InlineData(310)] // too late: after the window closes 300 ms after the stimulus
    [InlineData(450)]
    public void Process_ResponseOutsideWindow_DoesNotEndTheTrial(int msAfterStimulus)
    {
        using var rig = new Rig();
        long start = T;
        long response = start + 500_000_000 + msAfterStimulus * 1_000_000L;

        rig.RunUntil(start + 3 * Second, response);

        var trial = Assert.Single(rig.Protocol.Trials);
        Assert.True(trial.TimedOut);
        Assert.Equal(6, trial.Stimuli);
        Assert.Equal(1, rig.Detector.Detections); // it was seen, just not in the window
        Assert.Equal(1, rig.Laser.AllOffCalls);   // only the time-out stopped the stimulator
    }

    [Theory]
    [InlineData(100)] // the window's edges are inside it
    [InlineData(300)]
    public void Process_ResponseOnWindowEdge_EndsTheTrial(int msAfterStimulus)
    {
        using var rig = new Rig();
        long response = T + msAfterStimulus * 1_000_000L;

        rig.RunUntil(response, response);

        Assert.False(Assert.Single(rig.Protocol.Trials).TimedOut);
    }

    [Fact]
    public void Process_ActivityBeforeAnyStimulus_DoesNotEndTheTrial()
    {
        // Responding on the very first frame (the trial starts there, no stimulus has preceded the detection).
        using var rig = new Rig();

        rig.RunUntil(2 * Second, T);

        Assert.Empty(rig.Protocol.Trials);
        Assert.Equal(4, rig.Laser.Delivered.Count);
    }

    [Fact]
    public void Process_AllTrialsDone_RequestsStopAfterTheLastPause()
    {
        using var rig = new Rig(Settings(s => s.Trials = 2));
        long start1 = T;
        long end1 = start1 + 3 * Second;
        long start2 = end1 + Second;
        long end2 = start2 + 3 * Second;

        rig.RunUntil(end2 + Second - T);
        Assert.Equal(2, rig.Protocol.Trials.Count);
        Assert.All(rig.Protocol.Trials, t => Assert.True(t.TimedOut));
        Assert.False(rig.Context.StopRequested); // still in the last pause

        rig.RunUntil(end2 + Second);
        Assert.True(rig.Context.StopRequested);
        Assert.Contains("2 trials", rig.Context.StopReason);
        Assert.Equal("Done", rig.Protocol.StateName);

        // Nothing more happens if frames keep coming while the run drains.
        int delivered = rig.Laser.Delivered.Count;
        rig.RunUntil(end2 + 5 * Second);
        Assert.Equal(delivered, rig.Laser.Delivered.Count);
        Assert.Equal(2, rig.EventsOf(RunEventKind.TrialStarted).Count);
        Assert.Equal(12, delivered);
    }

    [Fact]
    public void Process_TrialsZero_RunsUntilStoppedFromOutside()
    {
        using var rig = new Rig(Settings(s => s.Trials = 0));

        rig.RunUntil(30 * Second);

        Assert.False(rig.Context.StopRequested);
        Assert.Equal(7, rig.Protocol.Trials.Count); // 3 s trials + 1 s pauses in 30 s
    }

    [Fact]
    public void Process_InterlockTripped_StimuliCountedAsRefusedNotDelivered()
    {
        using var rig = new Rig();
        rig.Interlock.Trip("test");

        rig.RunUntil(T + 3 * Second);

        var trial = Assert.Single(rig.Protocol.Trials);
        Assert.Equal(0, trial.Stimuli);
        Assert.Equal(6, trial.Refused);
        Assert.Equal(0, rig.Protocol.StimuliDelivered);
        Assert.Empty(rig.Laser.Delivered);
        Assert.Equal(6, rig.EventsOf(RunEventKind.StimulationRefused).Count);
    }

    [Fact]
    public void Process_StimulusRefusedByRateLimit_CountedInTrialAndSpacingKept()
    {
        // 8 pulses per second allowed; the protocol alone (3 pulses at 2 Hz) stays within it, but a manual stimulus
        // on the same stimulator at T+0.25 s uses up the budget, so the protocol's stimulus at T+0.5 s is refused.
        using var rig = new Rig(limits: Limits("laser", maxPulseRateHz: 8));
        Assert.True(rig.Interlock.TryDeliver(rig.Channel, new StimulationCommand(Targets, 5, 5, 3, 50, T + Second / 4)));

        rig.RunUntil(T + 3 * Second);

        var trial = Assert.Single(rig.Protocol.Trials);
        Assert.Equal(5, trial.Stimuli);
        Assert.Equal(1, trial.Refused);
        Assert.Equal(5, rig.Protocol.StimuliDelivered);
        long[] protocolTimes = rig.StimulusTimes.Where(t => t != T + Second / 4).ToArray();
        Assert.Equal([T, T + Second, T + 3 * Second / 2, T + 2 * Second, T + 5 * Second / 2], protocolTimes); // no burst to catch up
    }

    [Fact]
    public void Process_ResponseAfterRefusedStimulus_JudgedAgainstLastDeliveredStimulus()
    {
        using var rig = new Rig(limits: Limits("laser", maxPulseRateHz: 8));
        Assert.True(rig.Interlock.TryDeliver(rig.Channel, new StimulationCommand(Targets, 5, 5, 3, 50, T + Second / 4)));
        // Delivered at T, refused at T+0.5 s. A response 0.2 s after the refused one is 0.7 s after the delivered one.
        long response = T + 700_000_000;

        rig.RunUntil(T + 3 * Second, response);

        Assert.True(Assert.Single(rig.Protocol.Trials).TimedOut);
    }

    [Fact]
    public void Constructor_SteadyRateBeyondPulseRateLimit_RefusedNamingStimulusRate()
    {
        // One stimulus (3 pulses) fits a 5 pulses/s limit, but two per second (6 pulses/s) never would.
        var ex = Assert.Throws<SettingException>(() => new Rig(limits: Limits("laser", maxPulseRateHz: 5)));
        Assert.Contains("protocol.stimulusRateHz", ex.Message);
        Assert.Contains("maxPulseRateHz", ex.Message);
    }

    [Fact]
    public void Constructor_PowerBeyondStimulatorLimit_RefusedNamingSetting()
    {
        var ex = Assert.Throws<SettingException>(() => new Rig(Settings(s => s.PowerMw = 25)));

        Assert.Equal("protocol.pulse.powerMw", ex.Setting);
        Assert.Contains("maxPowerMw", ex.Message);
        Assert.Contains("'laser'", ex.Message);
    }

    [Fact]
    public void Constructor_PulseWidthBeyondStimulatorLimit_RefusedNamingSetting()
    {
        var ex = Assert.Throws<SettingException>(() => new Rig(Settings(s => { s.PulseWidthMs = 60; s.PulseCount = 1; })));

        Assert.Equal("protocol.pulse.widthMs", ex.Setting);
        Assert.Contains("maxPulseWidthMs", ex.Message);
    }

    [Fact]
    public void Constructor_TrainAboveStimulatorRateLimit_RefusedNamingPulseSettings()
    {
        var ex = Assert.Throws<SettingException>(() => new Rig(Settings(s => { s.PulseCount = 8; s.PulseRateHz = 100; s.PulseWidthMs = 1; }),
            Limits("laser", maxPulseRateHz: 5)));

        Assert.Equal("protocol.pulse", ex.Setting);
        Assert.Contains("maxPulseRateHz", ex.Message);
    }

    [Fact]
    public void Constructor_TrainLongerThanStimulusInterval_RefusedNamingStimulusRate()
    {
        // 5 pulses at 20 Hz last 210 ms: longer than the 200 ms between stimuli at 5 Hz.
        var ex = Assert.Throws<SettingException>(() => new Rig(Settings(s =>
        {
            s.StimulusRateHz = 5; s.PulseCount = 5; s.PulseRateHz = 20; s.PulseWidthMs = 10;
        })));

        Assert.Equal("protocol.stimulusRateHz", ex.Setting);
        Assert.Contains("210 ms", ex.Message);
    }

    [Fact]
    public void Constructor_ResponseWindowEndBeforeStart_RefusedNamingSetting()
    {
        var ex = Assert.Throws<SettingException>(() => new Rig(Settings(s => { s.ResponseWindowStartS = 0.5; s.ResponseWindowEndS = 0.2; })));
        Assert.Equal("protocol.responseWindowS[1]", ex.Setting);
    }

    [Fact]
    public void Constructor_MaxTrialShorterThanOneStimulusInterval_RefusedNamingSetting()
    {
        var ex = Assert.Throws<SettingException>(() => new Rig(Settings(s => s.MaxTrialS = 0.4)));
        Assert.Equal("protocol.maxTrialS", ex.Setting);
    }

    [Theory]
    [InlineData("stimulator")]
    [InlineData("detector")]
    [InlineData("targets")]
    public void Constructor_MissingName_RefusedNamingSetting(string which)
    {
        var ex = Assert.Throws<SettingException>(() => new Rig(Settings(s =>
        {
            if (which == "stimulator") s.Stimulator = "";
            if (which == "detector") s.Detector = "";
            if (which == "targets") s.Targets = " ";
        })));
        Assert.Equal($"protocol.{which}", ex.Setting);
    }

    [Fact]
    public void Constructor_ValidSettings_DeliversNothingBeforeTheRunStarts()
    {
        using var rig = new Rig(start: false);
        Assert.Empty(rig.Laser.Delivered);
        Assert.Equal("Idle", rig.Protocol.StateName);
    }

    [Fact]
    public void Start_SecondRun_BeginsFromTrialOne()
    {
        using var rig = new Rig(Settings(s => s.Trials = 1));
        rig.RunUntil(T + 3 * Second);
        Assert.Single(rig.Protocol.Trials);

        rig.Protocol.Start(rig.Context);

        Assert.Empty(rig.Protocol.Trials);
        Assert.Equal(0, rig.Protocol.StimuliDelivered);
        Assert.Equal("Idle", rig.Protocol.StateName);
    }
}
