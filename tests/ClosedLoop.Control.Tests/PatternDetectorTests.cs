using ClosedLoop.Core;

namespace ClosedLoop.Control.Tests;

public class PatternDetectorTests
{
    private static readonly RunContext Context = new("t", 1000, new RunEventLog(), new CancellationTokenSource());

    private static PopulationActivity Activity(int units) => new(units, Enumerable.Range(0, units).Select(i => $"u{i}").ToArray());

    [Fact]
    public void Template_FiresOnTheMatchingPopulationVector_NotOnAnotherOrOnSilence()
    {
        var d = new TemplateMatchDetector(new TemplateMatchDetectorSettings
        {
            Name = "left", Group = "g", Template = [1, 1, 0, 0], Signal = ActivitySignal.Rate, MinSimilarity = 0.9, MinNorm = 1, RefractoryS = 0,
        }, [0, 1, 2, 3]);
        d.Start(Context);
        var a = Activity(4);
        bool At(long ms, params float[] rates) { rates.CopyTo(a.Rate, 0); return d.Evaluate(a, ms * 1_000_000); }

        Assert.False(At(1, 0, 0, 0, 0));          // silence
        Assert.False(At(2, 0.1f, 0.1f, 0, 0));    // right direction, too weak
        Assert.False(At(3, 0, 0, 5, 5));          // the other pattern
        Assert.True(At(4, 4, 5, 0.5f, 0));        // close to the template
        Assert.InRange(d.Similarity, 0.9, 1);
        Assert.False(At(5, 4, 5, 0, 0));          // still matching: fires once per occurrence
        Assert.False(At(6, 0, 0, 0, 0));
        Assert.True(At(7, 3, 3, 0, 0));
        Assert.Equal(2, d.Detections);
    }

    [Fact]
    public void Template_WithTheWrongLength_IsRefusedNamingTheSetting()
    {
        var ex = Assert.Throws<SettingException>(() => new TemplateMatchDetector(
            new TemplateMatchDetectorSettings { Group = "g", Template = [1, 2], SettingPath = "detectors.t" }, [0, 1, 2]));
        Assert.Contains("detectors.t.template", ex.Message);
    }

    [Fact]
    public void Sequence_FiresOnlyWhenTheGroupsActivateInOrder_WithinTheInterval()
    {
        var d = new SequenceDetector(new SequenceDetectorSettings
        {
            Name = "abc", Steps = ["a", "b", "c"], Threshold = 1, MaxIntervalS = 0.005, RefractoryS = 0,
        }, [[0], [1], [2]]);
        d.Start(Context);
        var a = Activity(3);
        bool At(long ms, int unit) { Array.Clear(a.Dff); if (unit >= 0) a.Dff[unit] = 1; return d.Evaluate(a, ms * 1_000_000); }

        // Wrong order: c, b, a — nothing.
        Assert.False(At(1, 2)); Assert.False(At(2, 1)); Assert.False(At(3, 0));
        Assert.Equal(1, d.StepsDone);
        // In order: a (at 3), b, c — fires at c.
        Assert.False(At(4, 1));
        Assert.True(At(5, 2));
        // In order but too slow: a, (6 ms later) b, c — nothing.
        Assert.False(At(10, 0)); Assert.False(At(16, 1)); Assert.False(At(17, 2));
        Assert.Equal(1, d.Detections);
        Assert.Equal(5_000_000, d.LastDetectionNs);
    }

    [Fact]
    public void Sequence_WithOneStep_IsRefused()
    {
        var ex = Assert.Throws<SettingException>(() => new SequenceDetectorSettings { Steps = ["a"], SettingPath = "detectors.s" }.Validate());
        Assert.Contains("detectors.s.steps", ex.Message);
    }
}
