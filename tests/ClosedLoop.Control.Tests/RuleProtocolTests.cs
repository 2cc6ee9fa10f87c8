using ClosedLoop.Control.Protocols;
using ClosedLoop.Core;
using static ClosedLoop.Control.Tests.TestRig;

namespace ClosedLoop.Control.Tests;

public class RuleProtocolTests
{
    private const long T = 10_000_000; // 100 Hz frames: every time below is a whole number of frames
    private const long Second = 1_000_000_000;

    /// <summary>A detector the test fires by hand on chosen frames.</summary>
    private sealed class ScriptedDetector(string name) : IPatternDetector
    {
        public string Name => name;
        public bool FiredThisFrame { get; set; }
        public long LastDetectionNs { get; set; } = -1;
        public long Detections { get; private set; }
        public void Start(RunContext context) { }
        public bool Evaluate(PopulationActivity activity, long sampleTimeNs) => FiredThisFrame;
        public void Fire(long atNs) { FiredThisFrame = true; LastDetectionNs = atNs; Detections++; }
    }

    /// <summary>Frames on a simulated sample clock → the protocol stage under test (a rule protocol or a phase sequence).</summary>
    private sealed class Rig : IDisposable
    {
        private readonly FramePool _pool = new(4, 4, 1);
        private readonly Frame _frame;
        private long _next;

        public readonly RunEventLog Events = new();
        public readonly CancellationTokenSource RunStop = new();
        public readonly RunContext Context;
        public readonly SafetyInterlock Interlock;
        public readonly FakeStimulator Laser = new("laser");
        public readonly StimulationChannel Channel;
        public readonly ScriptedDetector Detector = new("motor");
        public readonly Dictionary<string, StimulusSettings> Stimuli = new()
        {
            ["flash"] = new StimulusSettings { Name = "flash", Kind = StimulusKind.Optogenetic, PowerMw = 5, WidthMs = 5, SettingPath = "stimuli.flash" },
        };

        public Rig(ClosedLoop.Hardware.StimulatorProfile? limits = null)
        {
            Context = new RunContext("t", 100, Events, RunStop);
            Interlock = new SafetyInterlock(Events);
            Channel = Interlock.Register(limits ?? Limits("laser"), Laser);
            Assert.True(_pool.TryRent(out _frame));
            _frame.FramePeriodNs = T;
        }

        public RuleProtocol Rules(RulesSettings settings, string name = "training") =>
            new(settings, name, new Dictionary<string, IPatternDetector> { ["motor"] = Detector }, Stimuli,
                (group, setting) => group == "sensory" ? Targets : throw new SettingException(setting, group, "one of the groups: sensory"),
                _ => Channel, Interlock);

        /// <summary>End of the next frame on the sample clock (when the protocol acts on it).</summary>
        public long NextFrameEndNs => (_next + 1) * T;

        public void Step(IFastStage stage, bool detect = false)
        {
            long i = _next++;
            _frame.FrameIndex = i;
            _frame.SampleTimeNs = i * T;
            Detector.FiredThisFrame = false;
            if (detect) Detector.Fire(i * T);
            stage.Process(_frame);
        }

        /// <summary>Runs frames until the next would end after <paramref name="endNs"/>; the detector fires on frames ending at the given times.</summary>
        public void RunUntil(IFastStage stage, long endNs, params long[] detectAtNs)
        {
            while (NextFrameEndNs <= endNs) Step(stage, detectAtNs.Contains(NextFrameEndNs));
        }

        public long[] StimulusTimes => Laser.Delivered.Select(c => c.SampleTimeNs).ToArray();

        public void Dispose()
        {
            _frame.Release();
            Interlock.Dispose();
        }
    }

    private static RuleAction Deliver(string stimulus = "flash", string? to = "sensory") => new() { Kind = RuleActionKind.Deliver, Stimulus = stimulus, To = to, SettingPath = "rules[0].do[0]" };

    private static RuleAction EndTrial(bool response = true) => new() { Kind = RuleActionKind.EndTrial, Response = response, SettingPath = "rules[0].do[0]" };

    /// <summary>Shahaf &amp; Marom as rules: stimulate every 0.5 s, a detection 0.1–0.3 s after a stimulus ends the trial.</summary>
    private static RulesSettings Avoidance(Action<RulesSettings>? change = null)
    {
        var s = new RulesSettings
        {
            HasTrials = true, Trials = 3, MaxTrialS = 3, PauseS = 1,
            Rules =
            {
                new RuleSettings { Name = "answer", Trigger = RuleTrigger.Detector, Detector = "motor", WindowStartS = 0.1, WindowEndS = 0.3, Actions = { EndTrial() }, SettingPath = "rules[0]" },
                new RuleSettings { Name = "stimulate", Trigger = RuleTrigger.Every, EveryS = 0.5, Actions = { Deliver() }, SettingPath = "rules[1]" },
            },
        };
        change?.Invoke(s);
        return s;
    }

    [Fact]
    public void Rules_DetectionInsideTheWindow_EndsTheTrialWithItsResponseTime_ThenPausesWithoutStimulation()
    {
        using var rig = new Rig();
        var p = rig.Rules(Avoidance());
        p.Start(rig.Context);
        long start = T, second = start + Second / 2, response = second + 200_000_000;

        rig.RunUntil(p, response, response);

        Assert.Equal(new[] { start, second }, rig.StimulusTimes);
        var trial = Assert.Single(p.Trials);
        Assert.Equal(2, trial.Stimuli);
        // The detection happened on the frame starting one period before the frame end at which it was seen.
        Assert.Equal((response - T - start) / 1e9, trial.ResponseTimeS!.Value, 9);
        Assert.True(rig.Laser.AllOffCalls > 0, "ending the trial switches a running train off");
        Assert.Equal("Pausing", p.StateName);

        rig.RunUntil(p, response + Second - T);
        Assert.Equal(2, rig.StimulusTimes.Length); // the 1 s pause stimulates nothing
        rig.Step(p);
        Assert.Equal(response + Second, rig.StimulusTimes[^1]); // the next trial stimulates on its first frame
        Assert.Equal(2, rig.Events.Snapshot().Count(e => e.Kind == RunEventKind.TrialStarted));
    }

    [Fact]
    public void Rules_DetectionOutsideTheWindowOrBeforeAnyStimulus_DoesNotEndTheTrial()
    {
        using var rig = new Rig();
        var p = rig.Rules(Avoidance());
        p.Start(rig.Context);
        long start = T;
        // before the first stimulus of the trial, 0.05 s after a stimulus (too early) and 0.4 s after (too late)
        rig.RunUntil(p, start + Second / 2 + 50_000_000 + T, start, start + 50_000_000 + T, start + 400_000_000 + T);

        Assert.Empty(p.Trials);
        Assert.Equal("Stimulating", p.StateName);
        Assert.Equal(2, rig.StimulusTimes.Length);
    }

    [Fact]
    public void Rules_NoResponse_TrialTimesOut_FiresTrialTimeoutRules_AndTheLastTrialEndsThePhase()
    {
        using var rig = new Rig();
        var settings = Avoidance(s =>
        {
            s.Trials = 2;
            s.Rules.Add(new RuleSettings { Name = "late", Trigger = RuleTrigger.TrialTimeout, Actions = { new RuleAction { Kind = RuleActionKind.Mark, Text = "no answer" } }, SettingPath = "rules[2]" });
        });
        var p = rig.Rules(settings);
        p.Start(rig.Context);

        rig.RunUntil(p, 10 * Second);

        Assert.Equal(2, p.Trials.Count);
        Assert.All(p.Trials, t => { Assert.True(t.TimedOut); Assert.Equal(6, t.Stimuli); Assert.Equal(3.0, t.EndS - t.StartS, 9); });
        Assert.Equal(2, rig.Events.Snapshot().Count(e => e.Kind == RunEventKind.Info && e.Message.Contains("no answer")));
        Assert.True(rig.Context.StopRequested, "the protocol asks to stop after its last trial's pause");
        Assert.Contains("all 2 trials done", rig.Context.StopReason);
    }

    [Fact]
    public void Rules_OpenLoop_CarriesOutNoDetectorRule_ButRecordsTheFirstResponse()
    {
        using var rig = new Rig();
        var p = rig.Rules(Avoidance(s => { s.OpenLoop = true; s.Trials = 1; }));
        p.Start(rig.Context);
        long start = T, response = start + Second / 2 + 200_000_000;

        rig.RunUntil(p, start + 3 * Second, response, response + Second / 2);

        var trial = Assert.Single(p.Trials);
        Assert.Equal(6, trial.Stimuli); // stimulation ran the whole 3 s
        Assert.Equal((response - T - start) / 1e9, trial.ResponseTimeS!.Value, 9);
    }

    [Fact]
    public void Rules_HoldOff_LimitsHowOftenADetectorRuleFires()
    {
        using var rig = new Rig();
        var settings = new RulesSettings
        {
            Rules = { new RuleSettings { Name = "echo", Trigger = RuleTrigger.Detector, Detector = "motor", HoldOffS = 0.1, Actions = { Deliver() }, SettingPath = "rules[0]" } },
        };
        var p = rig.Rules(settings);
        p.Start(rig.Context);

        // The detector fires on every frame for 0.3 s: with a 0.1 s hold-off the rule fires every 10th frame.
        for (int i = 0; i < 30; i++) rig.Step(p, detect: true);

        Assert.Equal(new[] { T, 11 * T, 21 * T }, rig.StimulusTimes);
        Assert.Empty(p.Trials); // no trial structure: the rules just run
    }

    [Fact]
    public void Rules_AfterStimulus_FiresOnceForEachStimulusAfterItsDelay()
    {
        using var rig = new Rig();
        var settings = new RulesSettings
        {
            Rules =
            {
                new RuleSettings { Name = "probe", Trigger = RuleTrigger.Every, EveryS = 1, Actions = { Deliver() }, SettingPath = "rules[0]" },
                new RuleSettings { Name = "read", Trigger = RuleTrigger.AfterStimulus, DelayS = 0.2, Actions = { new RuleAction { Kind = RuleActionKind.Mark, Text = "read out" } }, SettingPath = "rules[1]" },
            },
        };
        var p = rig.Rules(settings);
        p.Start(rig.Context);

        rig.RunUntil(p, 3 * Second);

        var marks = rig.Events.Snapshot().Where(e => e.Kind == RunEventKind.Info).Select(e => e.SampleTimeNs).ToArray();
        Assert.Equal(rig.StimulusTimes.Take(marks.Length).Select(t => t + 200_000_000), marks);
        Assert.Equal(3, marks.Length);
    }

    [Fact]
    public void Rules_RefusedByTheInterlock_AreCountedAndNeverReachTheStimulator()
    {
        // 4 pulses per second allowed: a stimulus every 0.4 s passes alone, but a second rule delivering on the same
        // clock pushes the count past the limit and is refused.
        using var rig = new Rig(Limits("laser", maxPulseRateHz: 4));
        var settings = new RulesSettings
        {
            Rules =
            {
                new RuleSettings { Name = "a", Trigger = RuleTrigger.Every, EveryS = 0.4, Actions = { Deliver() }, SettingPath = "rules[0]" },
                new RuleSettings { Name = "b", Trigger = RuleTrigger.Every, EveryS = 0.4, Actions = { Deliver() }, SettingPath = "rules[1]" },
            },
        };
        var p = rig.Rules(settings);
        p.Start(rig.Context);

        rig.RunUntil(p, 2 * Second);

        Assert.True(p.StimuliRefused > 0);
        Assert.Equal(p.StimuliDelivered, rig.Laser.Delivered.Count);
        Assert.Equal(p.StimuliRefused, rig.Interlock.Refused);
        Assert.Contains(rig.Events.Snapshot(), e => e.Kind == RunEventKind.StimulationRefused && e.Message.Contains("maxPulseRateHz"));
    }

    [Fact]
    public void Rules_PeriodicStimulusBeyondTheInterlock_IsRefusedBeforeTheRunNamingTheRate()
    {
        using var rig = new Rig(Limits("laser", maxPulseRateHz: 4));
        var settings = Avoidance(s => s.Rules[1].EveryS = 0.1); // 10 Hz against a 4-pulses-per-second limit

        var ex = Assert.Throws<SettingException>(() => rig.Rules(settings));

        Assert.Equal("rules[1].everyS", ex.Setting);
        Assert.Equal(0.1, ex.Value);
        Assert.Contains("every 0.1 s = 10 Hz", ex.Message);
        Assert.Contains("maxPulseRateHz", ex.Message);
        Assert.Empty(rig.Laser.Delivered);
    }

    [Theory]
    [InlineData("detector")]
    [InlineData("stimulus")]
    [InlineData("group")]
    public void Rules_NamingSomethingUnknown_AreRefusedNamingTheEntry(string what)
    {
        using var rig = new Rig();
        var settings = Avoidance(s =>
        {
            if (what == "detector") s.Rules[0].Detector = "motr";
            if (what == "stimulus") s.Rules[1].Actions[0] = Deliver("flsh");
            if (what == "group") s.Rules[1].Actions[0] = Deliver(to: "sensroy");
        });

        var ex = Assert.Throws<SettingException>(() => rig.Rules(settings));

        Assert.Equal(what switch { "detector" => "rules[0].on", "stimulus" => "rules[0].do[0].deliver", _ => "rules[0].do[0].to" }, ex.Setting);
        Assert.Contains(what switch { "detector" => "motor", "stimulus" => "flash", _ => "sensory" }, ex.Message);
    }

    [Fact]
    public void Phases_RunInOrder_EachBoundarySwitchesStimulationOff_AndTheRunEndsAfterTheLast()
    {
        using var rig = new Rig();
        var probe = rig.Rules(new RulesSettings
        {
            Rules =
            {
                new RuleSettings { Name = "probe", Trigger = RuleTrigger.Every, EveryS = 0.25, Actions = { Deliver() }, SettingPath = "rules[0]" },
                new RuleSettings { Name = "done", Trigger = RuleTrigger.Detector, Detector = "motor", Actions = { new RuleAction { Kind = RuleActionKind.NextPhase } }, SettingPath = "rules[1]" },
            },
        }, "probing");
        var training = rig.Rules(Avoidance(s => s.Trials = 1));
        var seq = new PhaseSequence([new Phase("baseline", "rest", 2, null), new Phase("probing", "rules", 0, probe), new Phase("training", "rules", 0, training)], rig.Interlock);
        seq.Start(rig.Context);

        // rest for 2 s (from the run's first sample), probing until the detector fires at 3 s, then one training trial
        rig.RunUntil(seq, 3 * Second, 3 * Second);
        // Probing stimulates every 0.25 s from 2 s; the detection at 3 s ends it before its clock rule runs, and the
        // training phase starts on that same frame with its first stimulus.
        Assert.Equal(new[] { 2 * Second, 2 * Second + Second / 4, 2 * Second + Second / 2, 2 * Second + 3 * Second / 4, 3 * Second }, rig.StimulusTimes);
        Assert.Equal("Stimulating", seq.StateName);

        rig.RunUntil(seq, 10 * Second);

        var records = seq.Records;
        Assert.Equal(new[] { "baseline", "probing", "training" }, records.Select(r => r.Name));
        Assert.Equal(0, records[0].StartS);
        Assert.Equal(2.0, records[0].EndS!.Value, 9);
        Assert.Equal(3.0, records[1].EndS!.Value, 9);
        Assert.Equal(4, records[1].Stimuli);
        Assert.Contains("'done' ended the phase", records[1].EndReason);
        Assert.Equal(1, records[2].Trials);
        var trial = Assert.Single(seq.Trials);
        Assert.Equal("training", trial.Phase);
        Assert.Equal(3.0, trial.StartS, 9);
        Assert.True(rig.Context.StopRequested);
        Assert.Contains("all 3 phases done", rig.Context.StopReason);
        var boundaries = rig.Events.Snapshot().Where(e => e.Source == "phases").Select(e => e.Message).ToList();
        Assert.Contains(boundaries, m => m.Contains("phase 1 'probing' (rules) started"));
        Assert.True(rig.Laser.AllOffCalls >= 3, "every phase boundary switches the stimulators off");
    }

    [Fact]
    public void Phases_RunEndingInsideAPhase_RecordsItsEndAndTrials()
    {
        using var rig = new Rig();
        var training = rig.Rules(Avoidance(s => s.Trials = 0));
        var seq = new PhaseSequence([new Phase("training", "rules", 0, training)], rig.Interlock);
        seq.Start(rig.Context);

        rig.RunUntil(seq, 9 * Second); // two 3 s trials with their 1 s pauses, then a third trial under way
        seq.Stop();

        var record = Assert.Single(seq.Records);
        Assert.Equal(9.0, record.EndS!.Value, 9);
        Assert.Equal("the run ended", record.EndReason);
        Assert.Equal(2, record.Trials);
        Assert.Equal(2, seq.Trials.Count);
        Assert.False(rig.Context.StopRequested);
    }
}
