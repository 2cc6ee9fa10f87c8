namespace ClosedLoop.Spikes.Tests;

public class SpikefinderEvaluationTests
{
    [SharedDataFact]
    public void Run_Dataset4Test_OasisBeatsTheDerivativeBaseline()
    {
        static bool Only4Test(string name) => name == "4.test";

        var oasis = SpikefinderEvaluation.Run(SharedData.Spikefinder, SpikeMethod.Oasis, include: Only4Test);
        var baseline = SpikefinderEvaluation.Run(SharedData.Spikefinder, SpikeMethod.Derivative, include: Only4Test);

        var o = Assert.Single(oasis);
        Assert.Equal("4.test", o.Dataset);
        Assert.Equal(3, o.Scores.PerNeuron.Count);
        Assert.True(o.Scores.Mean > baseline[0].Scores.Mean, $"OASIS {o.Scores.Mean:0.000} vs derivative {baseline[0].Scores.Mean:0.000}");
    }

    [Fact]
    public void Run_MissingFolder_ErrorNamesTheFolder()
    {
        var ex = Assert.Throws<ClosedLoop.Core.SettingException>(() => SpikefinderEvaluation.Run("/no/such/folder", SpikeMethod.Oasis));

        Assert.Contains("/no/such/folder", ex.Message);
    }
}
