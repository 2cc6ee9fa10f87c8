using System.Text.Json;
using ClosedLoop.Cli;

namespace ClosedLoop.IntegrationTests;

public sealed class SimulateCultureTests
{
    [Fact]
    public void Execute_BothConditions_WritesCurvesJsonAndPlot()
    {
        using var h = new Harness();
        string folder = Path.Combine(h.Folder, "culture");
        Assert.Equal(ExitCodes.Ok, SimulateCultureCommand.Execute(new CultureOptions(folder, Neurons: 1000, Trials: 10, Seed: 3), h.Console));

        Assert.Contains("closed loop", h.Output);
        Assert.Contains("control", h.Output);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "culture.json")));
        var conditions = doc.RootElement.GetProperty("conditions");
        foreach (string name in new[] { "closedLoop", "control" })
        {
            var c = conditions.GetProperty(name);
            Assert.Equal(10, c.GetProperty("trials").GetArrayLength());
            var summary = c.GetProperty("summary");
            Assert.True(summary.GetProperty("firstFifthMeanMs").GetDouble() > 0);
            Assert.InRange(summary.GetProperty("mannWhitneyPLastFaster").GetDouble(), 0, 1);
        }
        string svg = File.ReadAllText(Path.Combine(folder, "learning.svg"));
        Assert.StartsWith("<svg", svg);
        Assert.Contains("closed loop", svg);
        Assert.Contains("control", svg);
    }

    [Theory]
    [InlineData("--condition")]
    [InlineData("--neurons")]
    [InlineData("--electrodes")]
    [InlineData("--trials")]
    public void Execute_BadOption_ExitsOneNamingIt(string option)
    {
        using var h = new Harness();
        var good = new CultureOptions(Path.Combine(h.Folder, "bad"), Trials: 5);
        var bad = option switch
        {
            "--condition" => good with { Condition = "sometimes" },
            "--neurons" => good with { Neurons = -10 },
            "--electrodes" => good with { Electrodes = "hd:0x8@60" },
            _ => good with { Trials = 0 },
        };
        Assert.Equal(ExitCodes.BadInput, SimulateCultureCommand.Execute(bad, h.Console));
        Assert.Contains(option, h.Output);
    }
}
