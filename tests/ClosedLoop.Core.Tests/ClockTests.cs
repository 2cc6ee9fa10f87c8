using ClosedLoop.Core;

namespace ClosedLoop.Core.Tests;

public class ClockTests
{
    [Fact]
    public void SampleClock_MapsSamplesToHostTimeAndBack()
    {
        var clock = new SampleClock(30, startHostNs: 5_000_000_000);
        Assert.Equal(1_000_000_000, clock.SampleTimeNs(30));
        Assert.Equal(6_000_000_000, clock.ToHostNs(30));
        Assert.Equal(30, clock.ToSampleIndex(6_000_000_001));
    }

    [Fact]
    public void SampleClock_Realign_OnlyMovesEarlierAndByAtMostTheStep()
    {
        var clock = new SampleClock(1000, startHostNs: 0);
        clock.Realign(1000, observedHostNs: 2_000_000_000, maxStepNs: 100); // a late delivery must not drag the clock
        Assert.Equal(0, clock.StartHostNs);
        clock.Realign(1000, observedHostNs: 999_000_000, maxStepNs: 100_000); // arrived 1 ms early: the origin was late
        Assert.Equal(-100_000, clock.StartHostNs);
    }

    [Fact]
    public void SampleClock_ZeroRate_NamesTheSetting()
    {
        var ex = Assert.Throws<SettingException>(() => new SampleClock(0, 0));
        Assert.Contains("sampleRateHz", ex.Message);
    }

    [Fact]
    public void MonotonicClock_NeverGoesBackwards()
    {
        long last = MonotonicClock.NowNs();
        for (int i = 0; i < 10_000; i++)
        {
            long now = MonotonicClock.NowNs();
            Assert.True(now >= last);
            last = now;
        }
    }
}
