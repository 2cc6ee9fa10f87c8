using ClosedLoop.FirmwareSim.Culture;

namespace ClosedLoop.FirmwareSim.Tests.Culture;

public class LearningTests
{
    [Fact]
    public void Run_ClosedLoopLearnsAndControlDoesNot()
    {
        var settings = new LearningSettings { Culture = new CultureSettings { Seed = 3 }, Trials = 150 };
        LearningRun closed = CultureLearningExperiment.Run(settings, LearningCondition.ClosedLoop);
        LearningRun control = CultureLearningExperiment.Run(settings, LearningCondition.Control);

        Assert.Equal(150, closed.Trials.Count);
        Assert.True(closed.RelativeChange <= -0.3,
            $"closed loop: response time went from {closed.FirstFifthMeanMs:F0} to {closed.LastFifthMeanMs:F0} ms ({closed.RelativeChange:P0})");
        Assert.True(closed.PValueFaster < 0.05, $"closed loop p = {closed.PValueFaster:F4}");
        Assert.True(control.RelativeChange > -0.1,
            $"control: response time went from {control.FirstFifthMeanMs:F0} to {control.LastFifthMeanMs:F0} ms ({control.RelativeChange:P0})");
        // The mechanism: the input→output synapses strengthen when stimulation stops at the response, and weaken when
        // it goes on regardless (post-before-pre pairings).
        Assert.True(closed.PathwayWeightEnd > closed.PathwayWeightStart);
        Assert.True(control.PathwayWeightEnd < control.PathwayWeightStart);
        // Closed loop stops early, so it stimulates less than the control.
        Assert.True(closed.Trials.Sum(t => t.Pulses) < control.Trials.Sum(t => t.Pulses));
    }

    [Fact]
    public void Run_SameSettings_GiveTheSameTrials()
    {
        var settings = new LearningSettings { Culture = new CultureSettings { NeuronCount = 500, Seed = 7 }, Trials = 10, WarmUpS = 0.5 };
        var a = CultureLearningExperiment.Run(settings, LearningCondition.ClosedLoop);
        var b = CultureLearningExperiment.Run(settings, LearningCondition.ClosedLoop);
        Assert.Equal(a.Trials, b.Trials);
    }

    [Fact]
    public void MannWhitney_ClearlySmallerSample_GivesSmallP()
    {
        double p = LearningStatistics.MannWhitneyLessP([1, 2, 3, 4, 5, 6, 7, 8], [10, 11, 12, 13, 14, 15, 16, 17]);
        Assert.True(p < 0.001, $"p = {p}");
        double same = LearningStatistics.MannWhitneyLessP([1, 2, 3, 4], [1, 2, 3, 4]);
        Assert.InRange(same, 0.4, 0.7);
    }

    [Fact]
    public void MannWhitneyGreater_ClearlyLargerSample_GivesSmallP_AndTheOtherWayRoundLarge()
    {
        double[] small = [0, 0, 1, 0, 1, 0, 0, 1], large = [2, 3, 1, 4, 2, 3, 5, 2];
        Assert.True(LearningStatistics.MannWhitneyGreaterP(large, small) < 0.01);
        Assert.True(LearningStatistics.MannWhitneyGreaterP(small, large) > 0.99);
    }

    [Fact]
    public void ProbabilityOfSuperiority_OnKnownSamples_CountsWinsAndHalfTies()
    {
        Assert.Equal(1.0, LearningStatistics.ProbabilityOfSuperiority([3, 4], [1, 2]));
        Assert.Equal(0.0, LearningStatistics.ProbabilityOfSuperiority([1, 2], [3, 4]));
        Assert.Equal(0.5, LearningStatistics.ProbabilityOfSuperiority([1, 2], [1, 2]));
        // 2 beats 1 (1), ties 2 (½), loses to 3 (0): 1.5 of 3 pairs
        Assert.Equal(0.5, LearningStatistics.ProbabilityOfSuperiority([2], [1, 2, 3]));
        // rallies 0,0,1 vs 0: pairs (0,0) ½, (0,0) ½, (1,0) 1 → 2 of 3
        Assert.Equal(2 / 3.0, LearningStatistics.ProbabilityOfSuperiority([0, 0, 1], [0]), 12);
        Assert.True(double.IsNaN(LearningStatistics.ProbabilityOfSuperiority([], [1])));
    }
}
