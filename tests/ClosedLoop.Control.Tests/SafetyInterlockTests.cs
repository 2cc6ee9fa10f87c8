using ClosedLoop.Core;
using static ClosedLoop.Control.Tests.TestRig;

namespace ClosedLoop.Control.Tests;

public class SafetyInterlockTests
{
    private readonly RunEventLog _events = new();
    private readonly SafetyInterlock _interlock;
    private readonly FakeStimulator _laser = new("laser");
    private readonly StimulationChannel _channel;

    public SafetyInterlockTests()
    {
        _interlock = new SafetyInterlock(_events);
        _channel = _interlock.Register(Limits("laser"), _laser);
    }

    private List<RunEvent> EventsOf(RunEventKind kind) => _events.Snapshot().Where(e => e.Kind == kind).ToList();

    [Fact]
    public void TryDeliver_WithinLimits_ReachesStimulatorAndIsLogged()
    {
        var command = Command(powerMw: 12, widthMs: 10, count: 3, rateHz: 20, atNs: Ms(100));

        Assert.True(_interlock.TryDeliver(_channel, command));

        Assert.Equal(command, Assert.Single(_laser.Delivered));
        var e = Assert.Single(EventsOf(RunEventKind.Stimulation));
        Assert.Equal("laser", e.Source);
        Assert.Equal(Ms(100), e.SampleTimeNs);
        Assert.Equal(12, e.Value);
        Assert.Equal(1, _interlock.Delivered);
        Assert.Equal(1, _channel.Delivered);
        Assert.Equal(0, _interlock.Refused);
        Assert.Empty(EventsOf(RunEventKind.StimulationRefused));
    }

    [Fact]
    public void TryDeliver_PowerAboveMax_RefusedNamingLimitAndStimulator()
    {
        Assert.False(_interlock.TryDeliver(_channel, Command(powerMw: 20.5)));

        Assert.Empty(_laser.Delivered);
        var e = Assert.Single(EventsOf(RunEventKind.StimulationRefused));
        Assert.Contains("maxPowerMw", e.Message);
        Assert.Contains("20", e.Message);
        Assert.Contains("'laser'", e.Message);
        Assert.Equal("laser", e.Source);
        Assert.Empty(EventsOf(RunEventKind.Stimulation));
        Assert.Equal(1, _interlock.Refused);
        Assert.Equal(0, _interlock.Delivered);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(-1)]
    public void TryDeliver_PowerNotANumberOrNegative_Refused(double power)
    {
        Assert.False(_interlock.TryDeliver(_channel, Command(powerMw: power)));
        Assert.Empty(_laser.Delivered);
    }

    [Fact]
    public void TryDeliver_PowerExactlyAtMax_Delivered()
    {
        Assert.True(_interlock.TryDeliver(_channel, Command(powerMw: 20)));
        Assert.Single(_laser.Delivered);
    }

    [Fact]
    public void TryDeliver_PulseTooLong_RefusedNamingWidthLimit()
    {
        Assert.False(_interlock.TryDeliver(_channel, Command(widthMs: 51)));

        Assert.Empty(_laser.Delivered);
        var e = Assert.Single(EventsOf(RunEventKind.StimulationRefused));
        Assert.Contains("pulse width 51 ms", e.Message);
        Assert.Contains("50", e.Message);
    }

    [Fact]
    public void TryDeliver_TooManyPulsesWithinOneSecondAcrossCommands_LaterCommandRefused()
    {
        var interlock = new SafetyInterlock(_events);
        var stim = new FakeStimulator("mea");
        var channel = interlock.Register(Limits("mea", maxPulseRateHz: 10, maxDutyCycle: 1), stim);

        // 4 pulses per command: 8 pulses in the first 0.3 s are fine, a third command would make 12 within one second.
        Assert.True(interlock.TryDeliver(channel, Command(widthMs: 1, count: 4, rateHz: 40, atNs: Ms(0))));
        Assert.True(interlock.TryDeliver(channel, Command(widthMs: 1, count: 4, rateHz: 40, atNs: Ms(300))));
        Assert.False(interlock.TryDeliver(channel, Command(widthMs: 1, count: 4, rateHz: 40, atNs: Ms(600))));

        Assert.Equal(2, stim.Delivered.Count);
        var refusal = Assert.Single(_events.Snapshot(), e => e.Kind == RunEventKind.StimulationRefused);
        Assert.Contains("maxPulseRateHz", refusal.Message);
        Assert.Contains("'mea'", refusal.Message);
    }

    [Fact]
    public void TryDeliver_SameCommandsSpacedOutBeyondOneSecond_AllDelivered()
    {
        var interlock = new SafetyInterlock(_events);
        var stim = new FakeStimulator("mea");
        var channel = interlock.Register(Limits("mea", maxPulseRateHz: 10, maxDutyCycle: 1), stim);

        for (int i = 0; i < 5; i++)
            Assert.True(interlock.TryDeliver(channel, Command(widthMs: 1, count: 4, rateHz: 40, atNs: Ms(1100 * i))));

        Assert.Equal(5, stim.Delivered.Count);
        Assert.Equal(0, interlock.Refused);
    }

    [Fact]
    public void TryDeliver_RefusedCommand_DoesNotCountTowardsTheRateLimit()
    {
        var interlock = new SafetyInterlock(_events);
        var stim = new FakeStimulator("mea");
        var channel = interlock.Register(Limits("mea", maxPulseRateHz: 10, maxDutyCycle: 1), stim);

        Assert.True(interlock.TryDeliver(channel, Command(widthMs: 1, count: 6, rateHz: 40, atNs: Ms(0))));
        Assert.False(interlock.TryDeliver(channel, Command(widthMs: 1, count: 6, rateHz: 40, atNs: Ms(200))));
        // Only the delivered 6 pulses are remembered: 4 more still fit.
        Assert.True(interlock.TryDeliver(channel, Command(widthMs: 1, count: 4, rateHz: 40, atNs: Ms(400))));
    }

    [Fact]
    public void TryDeliver_SingleTrainAboveRateLimit_Refused()
    {
        Assert.False(_interlock.TryDeliver(_channel, Command(widthMs: 0.5, count: 60, rateHz: 100)));
        Assert.Empty(_laser.Delivered);
        Assert.Contains("maxPulseRateHz", Assert.Single(EventsOf(RunEventKind.StimulationRefused)).Message);
    }

    [Fact]
    public void TryDeliver_DutyCycleExceededWithinOneSecond_Refused()
    {
        // 50 ms pulses against a 0.2 duty cycle: four fill the 200 ms a second allows, a fifth does not fit.
        for (int i = 0; i < 4; i++)
            Assert.True(_interlock.TryDeliver(_channel, Command(widthMs: 50, atNs: Ms(200 * i))));
        Assert.False(_interlock.TryDeliver(_channel, Command(widthMs: 50, atNs: Ms(800))));

        Assert.Equal(4, _laser.Delivered.Count);
        var e = Assert.Single(EventsOf(RunEventKind.StimulationRefused));
        Assert.Contains("maxDutyCycle", e.Message);

        // A second later the window has room again.
        Assert.True(_interlock.TryDeliver(_channel, Command(widthMs: 50, atNs: Ms(1900))));
    }

    [Fact]
    public void TryDeliver_LongHighRateRunBeyondHistorySize_StillRefusedAtTheRateLimit()
    {
        // A fast MEA stimulator: 5000 pulses/s allowed. Trains of 500 pulses at 10 kHz, one every 50 ms: ten fill the
        // one-second budget, the eleventh (still within the same second) must be refused.
        var interlock = new SafetyInterlock(_events);
        var stim = new FakeStimulator("mea");
        var channel = interlock.Register(Limits("mea", maxPulseRateHz: 5000, maxDutyCycle: 1, maxPulseWidthMs: 1), stim);

        for (int i = 0; i < 10; i++)
            Assert.True(interlock.TryDeliver(channel, Command(widthMs: 0.01, count: 500, rateHz: 10_000, atNs: Ms(50 * i))));
        Assert.False(interlock.TryDeliver(channel, Command(widthMs: 0.01, count: 500, rateHz: 10_000, atNs: Ms(500))));
        Assert.Equal(10, stim.Delivered.Count);
    }

    [Fact]
    public void Trip_SwitchesEveryStimulatorOffLatchesAndLogsOnce()
    {
        var led = new FakeStimulator("led");
        var ledChannel = _interlock.Register(Limits("led"), led);
        Assert.True(_interlock.TryDeliver(_channel, Command(atNs: Ms(0))));

        _interlock.Trip("operator pressed stop");

        Assert.True(_interlock.IsTripped);
        Assert.Equal("operator pressed stop", _interlock.TripReason);
        Assert.True(_laser.AllOffCalls >= 1);
        Assert.True(led.AllOffCalls >= 1);
        Assert.False(_laser.IsActive);

        // Latched: later, perfectly valid commands are refused naming the reason.
        Assert.False(_interlock.TryDeliver(_channel, Command(atNs: Ms(5000))));
        Assert.False(_interlock.TryDeliver(ledChannel, Command(atNs: Ms(5000))));
        Assert.Single(_laser.Delivered);
        Assert.Empty(led.Delivered);
        var refusals = EventsOf(RunEventKind.StimulationRefused);
        Assert.Equal(2, refusals.Count);
        Assert.All(refusals, e => Assert.Contains("operator pressed stop", e.Message));

        // A second trip keeps the first reason and does not log again.
        _interlock.Trip("something else");
        Assert.Equal("operator pressed stop", _interlock.TripReason);
        var off = Assert.Single(EventsOf(RunEventKind.SafetyOff));
        Assert.Contains("operator pressed stop", off.Message);
    }

    [Fact]
    public void Register_ProfileEditedAfterwards_LimitsInForceDoNotChange()
    {
        var profile = Limits("led", maxPowerMw: 10);
        var led = new FakeStimulator("led");
        var channel = _interlock.Register(profile, led);

        profile.MaxPowerMw = 1000; // whoever holds the profile object cannot raise the limit of a running channel

        Assert.Equal(10, channel.Limits.MaxPowerMw);
        Assert.False(_interlock.TryDeliver(channel, Command(powerMw: 50, widthMs: 5, count: 1, rateHz: 1, atNs: Ms(10))));
        Assert.Empty(led.Delivered);
    }

    [Fact]
    public void Trip_RaisesTrippedOnceWithTheReason()
    {
        var reasons = new List<string>();
        _interlock.Tripped += reasons.Add;

        _interlock.Trip("watchdog");
        _interlock.Trip("again");

        Assert.Equal(new[] { "watchdog" }, reasons);
    }

    [Fact]
    public void Trip_StimulatorThatFailsToSwitchOff_OthersStillSwitchedOffAndFaultLogged()
    {
        var broken = new ThrowingStimulator();
        _interlock.Register(Limits("broken"), broken);
        var led = new FakeStimulator("led");
        _interlock.Register(Limits("led"), led);

        _interlock.Trip("fault");

        Assert.True(_laser.AllOffCalls >= 1);
        Assert.True(led.AllOffCalls >= 1);
        var fault = Assert.Single(EventsOf(RunEventKind.Fault));
        Assert.Equal("broken", fault.Source);
        Assert.True(_interlock.IsTripped);
    }

    [Fact]
    public void AllOff_EndOfRun_SwitchesOffWithoutLatching()
    {
        _interlock.AllOff("run finished");

        Assert.True(_laser.AllOffCalls >= 1);
        Assert.False(_interlock.IsTripped);
        Assert.True(_interlock.TryDeliver(_channel, Command()));
        Assert.Contains("run finished", Assert.Single(EventsOf(RunEventKind.SafetyOff)).Message);
    }

    [Fact]
    public void Stop_OneChannel_SwitchesThatStimulatorOffOnly()
    {
        var led = new FakeStimulator("led");
        _interlock.Register(Limits("led"), led);

        _interlock.Stop(_channel);

        Assert.Equal(1, _laser.AllOffCalls);
        Assert.Equal(0, led.AllOffCalls);
        Assert.False(_interlock.IsTripped);
    }

    [Fact]
    public void Watchdog_ProgressStops_TripsAndSwitchesOff()
    {
        using var interlock = new SafetyInterlock(_events);
        var stim = new FakeStimulator("fast");
        interlock.Register(Limits("fast", watchdogTimeoutMs: 20), stim);
        long lastProgress = MonotonicClock.NowNs();

        interlock.StartWatchdog(() => lastProgress);

        Assert.True(WaitUntil(() => interlock.IsTripped, TimeSpan.FromSeconds(5)), "watchdog did not trip on a stalled loop");
        Assert.Contains("watchdog", interlock.TripReason);
        Assert.True(stim.AllOffCalls >= 1);
        Assert.Single(_events.Snapshot(), e => e.Kind == RunEventKind.SafetyOff);
    }

    [Fact]
    public void Watchdog_ProgressAdvances_DoesNotTrip()
    {
        using var interlock = new SafetyInterlock(_events);
        var stim = new FakeStimulator("fast");
        interlock.Register(Limits("fast", watchdogTimeoutMs: 20), stim);
        int polls = 0;

        // The loop reports progress every time the watchdog looks: it is never stalled.
        interlock.StartWatchdog(() => { Interlocked.Increment(ref polls); return MonotonicClock.NowNs(); });

        Assert.True(WaitUntil(() => Volatile.Read(ref polls) >= 30, TimeSpan.FromSeconds(5)), "watchdog never polled");
        interlock.StopWatchdog();
        Assert.False(interlock.IsTripped, interlock.TripReason);
        Assert.Equal(0, stim.AllOffCalls);
    }

    [Fact]
    public void Watchdog_BeforeTheFirstFrame_DoesNotTrip()
    {
        using var interlock = new SafetyInterlock(_events);
        var stim = new FakeStimulator("fast");
        interlock.Register(Limits("fast", watchdogTimeoutMs: 20), stim);
        int polls = 0;

        // 0 = no frame finished yet (the loop is still starting): not a stall.
        interlock.StartWatchdog(() => { Interlocked.Increment(ref polls); return 0; });

        Assert.True(WaitUntil(() => Volatile.Read(ref polls) >= 30, TimeSpan.FromSeconds(5)), "watchdog never polled");
        interlock.StopWatchdog();
        Assert.False(interlock.IsTripped, interlock.TripReason);
    }

    [Fact]
    public void CheckTemplate_PowerBeyondLimit_NamesProtocolSettingAndLimit()
    {
        var ex = Assert.Throws<SettingException>(() =>
            SafetyInterlock.CheckTemplate(_channel, Command(powerMw: 30), "protocol.pulse"));

        Assert.Equal("protocol.pulse.powerMw", ex.Setting);
        Assert.Contains("maxPowerMw", ex.Message);
        Assert.Contains("20", ex.Message);
        Assert.Contains("'laser'", ex.Message);
        Assert.Empty(_laser.Delivered);
    }

    [Fact]
    public void CheckTemplate_WidthBeyondLimit_NamesWidthSetting()
    {
        var ex = Assert.Throws<SettingException>(() =>
            SafetyInterlock.CheckTemplate(_channel, Command(widthMs: 80), "protocol.pulse"));

        Assert.Equal("protocol.pulse.widthMs", ex.Setting);
        Assert.Contains("maxPulseWidthMs", ex.Message);
    }

    [Fact]
    public void CheckTemplate_TrainAloneAboveRateLimit_NamesPulseSettingsAndRateLimit()
    {
        var ex = Assert.Throws<SettingException>(() =>
            SafetyInterlock.CheckTemplate(_channel, Command(widthMs: 0.5, count: 60, rateHz: 100), "protocol.pulse"));

        Assert.Equal("protocol.pulse", ex.Setting);
        Assert.Contains("maxPulseRateHz", ex.Message);
    }

    [Fact]
    public void CheckTemplate_PulsesOverlapWithinTrain_NamesWidthSetting()
    {
        var ex = Assert.Throws<SettingException>(() =>
            SafetyInterlock.CheckTemplate(_channel, Command(widthMs: 30, count: 3, rateHz: 50), "protocol.pulse"));

        Assert.Equal("protocol.pulse.widthMs", ex.Setting);
        Assert.Contains("pulse period", ex.Message);
    }

    [Fact]
    public void CheckTemplate_WithinLimits_DoesNotThrowNorDeliver()
    {
        SafetyInterlock.CheckTemplate(_channel, Command(powerMw: 10, widthMs: 10, count: 5, rateHz: 20), "protocol.pulse");
        Assert.Empty(_laser.Delivered);
        Assert.Empty(_events.Snapshot());
    }

    [Fact]
    public void Find_UnknownStimulator_ListsKnownNames()
    {
        _interlock.Register(Limits("led"), new FakeStimulator("led"));

        var ex = Assert.Throws<SettingException>(() => _interlock.Find("lazer", "protocol.stimulator"));

        Assert.Equal("protocol.stimulator", ex.Setting);
        Assert.Contains("'lazer'", ex.Message);
        Assert.Contains("laser, led", ex.Message);
    }

    [Fact]
    public void Find_KnownStimulator_ReturnsItsChannel()
    {
        Assert.Same(_channel, _interlock.Find("laser", "protocol.stimulator"));
    }

    [Fact]
    public void Register_SameNameTwice_Refused()
    {
        var ex = Assert.Throws<SettingException>(() => _interlock.Register(Limits("laser"), new FakeStimulator("laser")));
        Assert.Equal("stimulators", ex.Setting);
    }

    [Fact]
    public void Register_InvalidLimits_RefusedNamingTheProfileSetting()
    {
        var ex = Assert.Throws<SettingException>(() => _interlock.Register(Limits("led", maxDutyCycle: 2), new FakeStimulator("led")));
        Assert.Equal("stimulators.led.maxDutyCycle", ex.Setting);
    }

    private static bool WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (condition()) return true;
            Thread.Sleep(5);
        }
        return condition();
    }

    private sealed class ThrowingStimulator : ClosedLoop.Hardware.IStimulator
    {
        public string Name => "broken";
        public bool IsActive => true;
        public void Deliver(in StimulationCommand command) { }
        public void AllOff() => throw new IOException("device unplugged");
    }
}
