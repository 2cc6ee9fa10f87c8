using ClosedLoop.Cli;
using ClosedLoop.Control.Mea;

namespace ClosedLoop.IntegrationTests;

/// <summary>Pong statistics on known games: what report.json and the console say about rallies and aces.</summary>
public class PongReportTests
{
    private static List<PongGame> Games(params int[] rallies) =>
        rallies.Select((h, i) => new PongGame(i + 1, i * 10, i * 10 + 5, h)).ToList();

    [Fact]
    public void Summary_OfGamesThatImprove_GivesThirdsAcesAndASmallP()
    {
        // 9 games: first third all aces, last third rallies of 3.
        var s = PongSummary.From(Games(0, 0, 0, 1, 2, 1, 3, 3, 3), PongCondition.ClosedLoop)!;
        Assert.Equal("closed-loop", s.Condition);
        Assert.Equal(9, s.Games);
        Assert.Equal(13, s.Hits);
        Assert.Equal(3, s.Aces);
        Assert.Equal(0.3333, s.AceFraction);
        Assert.Equal(3, s.ThirdLength);
        Assert.Equal(0, s.FirstThirdMeanRally);
        Assert.Equal(3, s.LastThirdMeanRally);
        Assert.Equal(1, s.FirstThirdAceFraction);
        Assert.Equal(0, s.LastThirdAceFraction);
        Assert.True(s.PValueLonger < 0.05, $"p = {s.PValueLonger}");
        Assert.Contains("aces 100 % → 0 %", ReportPrinter.PongLine(s));
    }

    [Fact]
    public void Summary_OfGamesThatGetWorse_GivesALargeP()
    {
        var s = PongSummary.From(Games(3, 2, 3, 1, 1, 1, 0, 0, 0), PongCondition.Rest)!;
        Assert.Equal("rest", s.Condition);
        Assert.True(s.PValueLonger > 0.95, $"p = {s.PValueLonger}");
        Assert.Null(PongSummary.From([], PongCondition.OpenLoop));
    }

    [Fact]
    public void Comparison_WithAControl_GivesPValuesEffectSizesAndAceFractions()
    {
        var closedLoop = PongSummary.From(Games(2, 2, 2, 2, 3, 2, 3, 4, 3), PongCondition.ClosedLoop)!;
        var control = PongSummary.From(Games(0, 1, 0, 0, 1, 0, 1, 0, 0), PongCondition.OpenLoop)!;
        var c = PongComparison.Of(closedLoop, control);
        Assert.Equal("open-loop", c.Control);
        Assert.True(c.PValueLonger < 0.01, $"p = {c.PValueLonger}");
        Assert.Equal(1.0, c.ProbabilityLonger); // every closed-loop rally beats every control rally
        Assert.Equal(10 / 3.0, c.ClosedLoopLastThirdMeanRally, 3);
        Assert.Equal(1 / 3.0, c.ControlLastThirdMeanRally, 3);
        Assert.Equal(1.0, c.LastThirdProbabilityLonger);
        Assert.Equal(0, c.ClosedLoopAceFraction);
        Assert.Equal(0.6667, c.ControlAceFraction);

        var same = PongComparison.Of(control, control);
        Assert.Equal(0.5, same.ProbabilityLonger);
        Assert.True(same.PValueLonger > 0.4);
    }
}
