using ClosedLoop.Control.Mea;
using ClosedLoop.Core;
using ClosedLoop.Hardware;

namespace ClosedLoop.Control.Tests.Mea;

public class PongTests
{
    private const int Up = 4, Down = 5;
    private static readonly int[] Sensory = [0, 1, 2, 3];

    /// <summary>Pong on four sensory electrodes and one electrode per motor region, played block by block (1 ms).</summary>
    private sealed class Game
    {
        public readonly FakeStimulator Device = new("electrodes");
        public readonly RunEventLog Events = new();
        public readonly PopulationActivity Activity = new(6, ["s0", "s1", "s2", "s3", "up", "down"]);
        public readonly CancellationTokenSource Stop = new();
        public readonly PongProtocol Pong;
        private readonly FramePool _pool = new(1, 1, 2);
        private long _block;

        public Game(PongSettings settings)
        {
            var interlock = new SafetyInterlock(Events);
            var channel = interlock.Register(Limits(), Device);
            Pong = new PongProtocol(settings, Sensory, [Up], [Down], Activity, interlock, channel);
            Pong.Start(new RunContext("t", 1000, Events, Stop));
        }

        /// <summary>Plays until the protocol asks to stop (its games are done) or <paramref name="maxS"/> has passed.</summary>
        public void Play(double maxS)
        {
            for (long end = _block + (long)(maxS * 1000); _block < end && !Stop.IsCancellationRequested; _block++)
            {
                Assert.True(_pool.TryRent(out var frame));
                frame.SampleTimeNs = _block * 1_000_000;
                frame.FramePeriodNs = 1_000_000;
                Pong.Process(frame);
                frame.Release();
            }
        }

        public List<RunEvent> Of(RunEventKind kind) => Events.Snapshot().Where(e => e.Kind == kind).ToList();
    }

    private static StimulatorProfile Limits() => new()
    {
        Name = "electrodes", Kind = StimulatorKind.Electrical, MaxPowerMw = 0, MaxPulseWidthMs = 1,
        MaxPulseRateHz = 200, MaxDutyCycle = 0.2, MaxAmplitudeUa = 40, MaxPhaseWidthUs = 400, MaxChargePerPhaseNc = 8,
    };

    /// <summary>A game whose paddle stays in the middle (no motor drive): a small paddle misses almost every ball,
    /// a paddle as high as the field returns every ball.</summary>
    private static PongSettings Settings(PongCondition condition, double paddleHalfHeight = 0.05, int games = 3) => new()
    {
        Stimulator = "electrodes", Sensory = "sensory", MotorUp = "up", MotorDown = "down", Condition = condition,
        Games = games, WarmUpS = 0.1, PaddleHalfHeight = paddleHalfHeight, PaddleGainPerHz = 0.02, MissFeedbackS = 2,
        MissFeedbackRateHz = 20, RestS = 0.5, Seed = 3,
    };

    [Fact]
    public void RestControl_SendsNoStimulationAtAll_ButPlaysItsGames()
    {
        var g = new Game(Settings(PongCondition.Rest));
        g.Play(maxS: 120);
        Assert.True(g.Stop.IsCancellationRequested, "the rest control ends after its games like the closed loop");
        Assert.Equal(3, g.Pong.Games.Count);
        Assert.Empty(g.Device.Delivered);
        Assert.Empty(g.Pong.FeedbackLatenciesUs);
    }

    [Fact]
    public void OpenLoopControl_CodesTheBallOnOneElectrode_AndStaysSilentAfterAMiss()
    {
        var g = new Game(Settings(PongCondition.OpenLoop));
        g.Play(maxS: 120);
        Assert.Equal(3, g.Pong.Games.Count);
        var pulses = g.Device.Delivered;
        Assert.NotEmpty(pulses);
        Assert.All(pulses, p => Assert.Single(p.Targets.Electrodes!)); // place code only: no all-electrode feedback
        foreach (var (from, to) in Pauses(g))
            Assert.DoesNotContain(pulses, p => p.SampleTimeNs > from && p.SampleTimeNs < to);
        Assert.Empty(g.Pong.FeedbackLatenciesUs);
    }

    [Fact]
    public void SensoryCode_PulsesTheElectrodeUnderTheBall_FasterAsItApproaches()
    {
        var g = new Game(Settings(PongCondition.OpenLoop, games: 1));
        g.Play(maxS: 30);
        var serve = g.Of(RunEventKind.TrialStarted)[0].SampleTimeNs;
        var miss = g.Of(RunEventKind.TrialEnded)[0].SampleTimeNs;
        var codes = g.Device.Delivered.Where(p => p.SampleTimeNs >= serve && p.SampleTimeNs <= miss).Select(p => p.SampleTimeNs).ToArray();
        // The ball crosses the field once, from 4 Hz at the far wall to 40 Hz at the paddle: gaps shrink.
        double firstGapMs = (codes[1] - codes[0]) / 1e6, lastGapMs = (codes[^1] - codes[^2]) / 1e6;
        Assert.InRange(firstGapMs, 200, 260);
        Assert.InRange(lastGapMs, 24, 40);
        Assert.True(g.Device.Delivered.Select(p => p.Targets.Electrodes![0]).Distinct().Count() >= 2, "the place code follows the ball along y");
    }

    [Fact]
    public void ClosedLoopHit_IsFollowedByPredictable100HzOnEverySensoryElectrodeFor100Ms()
    {
        var g = new Game(Settings(PongCondition.ClosedLoop, paddleHalfHeight: 0.5, games: 1)); // every ball returned
        g.Play(maxS: 5);
        long hit = g.Of(RunEventKind.Detection)[0].SampleTimeNs;
        var feedback = g.Device.Delivered.Where(p => p.Targets.Electrodes!.Length == Sensory.Length && p.SampleTimeNs < hit + 200_000_000).ToList();
        Assert.Equal(10, feedback.Count);
        Assert.Equal(hit, feedback[0].SampleTimeNs); // the first pulse on the block that saw the hit
        for (int i = 0; i < feedback.Count; i++)
            Assert.Equal(hit + i * 10_000_000, feedback[i].SampleTimeNs);
        Assert.DoesNotContain(g.Device.Delivered, p => p.SampleTimeNs > hit && p.SampleTimeNs < hit + 100_000_000 && p.Targets.Electrodes!.Length == 1);
        Assert.Equal(g.Of(RunEventKind.Detection).Count, g.Pong.FeedbackLatenciesUs.Count);
        Assert.Empty(g.Pong.Games); // never missed
    }

    [Fact]
    public void ClosedLoopMiss_IsFollowedByRandomStrongerPulsesForItsDuration_ThenRestThenServe()
    {
        var s = Settings(PongCondition.ClosedLoop);
        s.MissFeedbackAmplitudeUa = 30;
        var g = new Game(s);
        g.Play(maxS: 120);
        var pauses = Pauses(g);
        Assert.Equal(2, pauses.Count);
        foreach (var (miss, serve) in pauses)
        {
            Assert.Equal(miss + 2_500_000_000, serve); // 2 s feedback + 0.5 s rest
            var after = g.Device.Delivered.Where(p => p.SampleTimeNs >= miss && p.SampleTimeNs < serve).ToList();
            Assert.Equal(miss, after[0].SampleTimeNs); // the unpredictable feedback starts on the block that saw the miss
            Assert.All(after, p => Assert.True(p.SampleTimeNs < miss + 2_000_000_000, "nothing during the rest"));
            Assert.All(after, p => Assert.Equal(30, p.AmplitudeUa));
            Assert.All(after, p => Assert.Single(p.Targets.Electrodes!));
            Assert.InRange(after.Count, 20, 65); // Poisson, 20 Hz for 2 s
            Assert.True(after.Select(p => p.Targets.Electrodes![0]).Distinct().Count() >= 3, "random electrodes");
        }
        Assert.All(g.Device.Delivered.Where(p => p.SampleTimeNs < pauses[0].From), p => Assert.Equal(15, p.AmplitudeUa)); // the sensory code
    }

    [Fact]
    public void EveryCondition_OfOneSeed_GetsTheSameServes()
    {
        List<string> Serves(PongCondition c)
        {
            var g = new Game(Settings(c, games: 4));
            g.Play(maxS: 200);
            return g.Of(RunEventKind.TrialStarted).Select(e => e.Message).ToList();
        }
        var closedLoop = Serves(PongCondition.ClosedLoop);
        Assert.Equal(4, closedLoop.Count);
        Assert.Equal(closedLoop, Serves(PongCondition.OpenLoop));
        Assert.Equal(closedLoop, Serves(PongCondition.Rest));
    }

    [Fact]
    public void RalliesAndAces_AreCountedPerGame()
    {
        var g = new Game(Settings(PongCondition.OpenLoop, paddleHalfHeight: 0.3, games: 12));
        g.Play(maxS: 600);
        var games = g.Pong.Games;
        Assert.Equal(12, games.Count);
        var events = g.Events.Snapshot().Where(e => e.Kind is RunEventKind.TrialStarted or RunEventKind.Detection or RunEventKind.TrialEnded).ToList();
        int game = -1, hits = 0;
        foreach (var e in events)
        {
            if (e.Kind == RunEventKind.TrialStarted) { game++; hits = 0; }
            else if (e.Kind == RunEventKind.Detection) hits++;
            else
            {
                Assert.Equal(hits, games[game].Hits);
                Assert.Equal(hits == 0, e.Message.Contains("ace", StringComparison.Ordinal));
            }
        }
        Assert.Contains(games, x => x.Hits == 0);
        Assert.Contains(games, x => x.Hits > 0);
        Assert.Equal(games.Select(x => x.Index), Enumerable.Range(1, 12));
        Assert.All(games, x => Assert.True(x.EndS > x.StartS));
    }

    [Theory]
    [InlineData(Up, 0.8)]
    [InlineData(Down, 0.2)]
    public void MotorRegionActivity_MovesThePaddleItsWay(int region, double endY)
    {
        var g = new Game(Settings(PongCondition.Rest, paddleHalfHeight: 0.2, games: 1));
        g.Activity.Rate[region] = 20; // 20 Hz × 0.02 per Hz = 0.4 field heights per s
        g.Play(maxS: 1.5);
        Assert.Equal(endY, g.Pong.PaddleY, 6); // clamped at the wall: 1 − half-height or half-height
    }

    [Fact]
    public void MotorBaseline_StopsASteadyImbalanceFromPinningThePaddle_ButAChangeStillMovesIt()
    {
        var s = Settings(PongCondition.Rest, paddleHalfHeight: 0.2, games: 1);
        s.MotorBaselineS = 5;
        s.BallSpeedPerS = 0.1; // the first ball takes 10 s to arrive: the paddle keeps playing throughout
        var g = new Game(s);
        g.Activity.Rate[Up] = 20; // a region that simply fires more, from the start
        g.Play(maxS: 1.5);
        Assert.Equal(0.5, g.Pong.PaddleY, 6);
        g.Activity.Rate[Down] = 20; // the down region becomes more active than it was
        g.Play(maxS: 0.5);
        Assert.True(g.Pong.PaddleY < 0.35, $"paddle at {g.Pong.PaddleY}");
    }

    [Fact]
    public void BadCondition_OrFeedbackBeyondTheStimulatorLimit_IsRefusedNamingTheSetting()
    {
        var ex = Assert.Throws<SettingException>(() => PongConditions.Parse("no-feedback", "protocol.control"));
        Assert.Contains("protocol.control", ex.Message);
        Assert.Contains("rest", ex.Message);

        var s = Settings(PongCondition.ClosedLoop);
        s.MissFeedbackAmplitudeUa = 50; // the stimulator allows 40 µA
        ex = Assert.Throws<SettingException>(() => new Game(s));
        Assert.Contains("protocol.missFeedback.amplitudeUa", ex.Message);
    }

    /// <summary>(miss, next serve) sample times of every game but the last.</summary>
    private static List<(long From, long To)> Pauses(Game g)
    {
        var ends = g.Of(RunEventKind.TrialEnded).Select(e => e.SampleTimeNs).ToList();
        var serves = g.Of(RunEventKind.TrialStarted).Select(e => e.SampleTimeNs).ToList();
        return ends.Where(e => serves.Any(s => s > e)).Select(e => (e, serves.First(s => s > e))).ToList();
    }
}
