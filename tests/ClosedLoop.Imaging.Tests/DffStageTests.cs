using ClosedLoop.Core;
using ClosedLoop.Imaging;

namespace ClosedLoop.Imaging.Tests;

public sealed class DffStageTests
{
    private const double RateHz = 30;

    private sealed record Run(float[] Dff, float[] Nu, float[] F0);

    /// <summary>Feeds a raw trace (one ROI) through a started stage; returns ΔF/F, ν and F0 per frame.</summary>
    private static Run Feed(float[] raw, DffSettings? settings = null, double rateHz = RateHz)
    {
        var activity = new PopulationActivity(1, ["roi000"]);
        var stage = new DffStage(settings ?? new DffSettings(), activity);
        stage.Start(TestRig.Context(rateHz));
        var frame = TestRig.Rent(new FramePool(2, 2, 1), 0);
        var run = new Run(new float[raw.Length], new float[raw.Length], new float[raw.Length]);
        for (int t = 0; t < raw.Length; t++)
        {
            frame.FrameIndex = t;
            activity.FrameIndex = t;
            activity.Raw[0] = raw[t];
            stage.Process(frame);
            run.Dff[t] = activity.Dff[0];
            run.Nu[t] = activity.NoiseLevel[0];
            run.F0[t] = stage.BaselineF0[0];
        }
        stage.Stop();
        return run;
    }

    private static float Gaussian(Random rng) =>
        (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));

    [Fact]
    public void Process_FirstInitFrames_OutputZeroDffAndNoNoiseLevel()
    {
        var raw = Enumerable.Range(0, 40).Select(t => 1000f + 50 * (t % 3)).ToArray();
        var run = Feed(raw, new DffSettings { InitFrames = 30 });
        Assert.All(run.Dff.Take(30), d => Assert.Equal(0f, d));
        Assert.All(run.Nu.Take(30), n => Assert.True(float.IsNaN(n)));
        Assert.False(float.IsNaN(run.Nu[30]));
        Assert.Equal(1050f, run.F0[30]); // median of the init frames 1000, 1050, 1100, ...
    }

    [Fact]
    public void Process_StepTransientOnConstantTrace_BaselineStaysAtRestAndDffIsStepSize()
    {
        // 60 s at rest (1000 counts), a 2 s transient to 1400 (+40 %), 20 s at rest again; small noise.
        var rng = new Random(1);
        int rest = (int)(60 * RateHz), step = (int)(2 * RateHz), after = (int)(20 * RateHz);
        var raw = new float[rest + step + after];
        for (int t = 0; t < raw.Length; t++)
            raw[t] = (t >= rest && t < rest + step ? 1400f : 1000f) + 2f * Gaussian(rng);

        var run = Feed(raw);

        for (int t = rest; t < rest + step; t++)
        {
            Assert.InRange(run.F0[t], 990f, 1010f);
            Assert.InRange(run.Dff[t], 0.38f, 0.42f);
        }
        for (int t = rest + step; t < raw.Length; t++)
        {
            Assert.InRange(run.F0[t], 990f, 1010f);
            Assert.InRange(run.Dff[t], -0.02f, 0.02f);
        }
    }

    [Theory]
    [InlineData(+0.2)]
    [InlineData(-0.2)]
    public void Process_SlowLinearDrift_BaselineFollowsAndDffStaysNearZero(double relativeDriftOverRun)
    {
        // 10 minutes with the resting level drifting by ±20 %, plus noise and occasional 1 s transients of +30 %.
        var rng = new Random(2);
        int n = (int)(600 * RateHz);
        var raw = new float[n];
        for (int t = 0; t < n; t++)
        {
            double level = 1000 * (1 + relativeDriftOverRun * t / n);
            bool transient = t % 600 < 30;
            raw[t] = (float)(level * (transient ? 1.3 : 1.0)) + 5f * Gaussian(rng);
        }

        var run = Feed(raw);

        int window = (int)(30 * RateHz);
        for (int t = window; t < n; t++)
        {
            if (t % 600 < 60) continue; // transient and its block
            double level = 1000 * (1 + relativeDriftOverRun * t / n);
            Assert.InRange(run.F0[t], level * 0.98, level * 1.02);
            Assert.InRange(run.Dff[t], -0.03f, 0.03f);
        }
    }

    [Fact]
    public void Process_GaussianNoiseOfKnownSigma_OnlineNuMatchesAnalyticValueAndBatchCompute()
    {
        const double sigmaPct = 2.0; // ΔF/F noise, in %
        var rng = new Random(3);
        int n = (int)(15 * 60 * RateHz);
        var raw = new float[n];
        for (int t = 0; t < n; t++) raw[t] = 1000f * (1f + (float)(sigmaPct / 100) * Gaussian(rng));

        var run = Feed(raw);

        double analytic = 0.6745 * Math.Sqrt(2) * sigmaPct / Math.Sqrt(RateHz);
        double online = run.Nu[^1];
        double batch = NoiseLevel.Compute(run.Dff.AsSpan((int)(60 * RateHz)), RateHz);
        Assert.InRange(online, analytic * 0.95, analytic * 1.05);
        Assert.InRange(batch, analytic * 0.97, analytic * 1.03);
        Assert.InRange(online, batch * 0.95, batch * 1.05);
    }

    [Fact]
    public void Compute_KnownDifferences_GivesExactMedianOverSqrtRate()
    {
        // |diffs| in % = 1, 3, 2, 10 → median 2.5 ; rate 25 Hz → ν = 0.5
        float[] dff = [0f, 0.01f, 0.04f, 0.02f, 0.12f];
        Assert.Equal(0.5, NoiseLevel.Compute(dff, 25), 5);
        Assert.True(double.IsNaN(NoiseLevel.Compute([0.1f], 25)));
    }

    [Fact]
    public void Process_ManyFramesManyRois_AllocatesNothing()
    {
        const int units = 200;
        var activity = new PopulationActivity(units, Enumerable.Range(0, units).Select(RoiSet.DefaultName).ToArray());
        var stage = new DffStage(new DffSettings { BaselineWindowS = 2, InitFrames = 10 }, activity);
        stage.Start(TestRig.Context());
        var frame = TestRig.Rent(new FramePool(2, 2, 1), 0);
        var rng = new Random(4);
        void Step(int t)
        {
            frame.FrameIndex = t;
            activity.FrameIndex = t;
            for (int i = 0; i < units; i++) activity.Raw[i] = 500f + rng.Next(100);
            stage.Process(frame);
        }
        int t = 0;
        for (; t < 100; t++) Step(t); // init, JIT, several block boundaries

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (; t < 5100; t++) Step(t);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Process_ActivityFromAnotherFrame_ThrowsAskingForTraceExtractionFirst()
    {
        var activity = new PopulationActivity(1, ["a"]);
        var stage = new DffStage(new DffSettings(), activity);
        stage.Start(TestRig.Context());
        var frame = TestRig.Rent(new FramePool(2, 2, 1), 5);
        var ex = Assert.Throws<InvalidOperationException>(() => stage.Process(frame));
        Assert.Contains("trace extraction", ex.Message);
    }

    [Fact]
    public void Stop_NonPositiveBaseline_ReportsTheRoiInTheEventLog()
    {
        var activity = new PopulationActivity(1, ["dim"]);
        var stage = new DffStage(new DffSettings { InitFrames = 3 }, activity);
        var context = TestRig.Context();
        stage.Start(context);
        var frame = TestRig.Rent(new FramePool(2, 2, 1), 0);
        for (int t = 0; t < 10; t++)
        {
            frame.FrameIndex = activity.FrameIndex = t;
            activity.Raw[0] = -5f;
            stage.Process(frame);
            Assert.Equal(0f, activity.Dff[0]);
        }
        stage.Stop();
        Assert.Contains(context.Events.Snapshot(), e => e.Source == "dff" && e.Message.Contains("dim"));
    }

    [Theory]
    [InlineData(nameof(DffSettings.BaselinePercentile), 60, "dff.baselinePercentile")]
    [InlineData(nameof(DffSettings.BaselinePercentile), 0.5, "dff.baselinePercentile")]
    [InlineData(nameof(DffSettings.BaselineWindowS), 0, "dff.baselineWindowS")]
    [InlineData(nameof(DffSettings.InitFrames), 1, "dff.initFrames")]
    [InlineData(nameof(DffSettings.NoiseWindowS), 0.1, "dff.noiseWindowS")]
    public void Start_OutOfRangeSetting_ThrowsNamingTheSetting(string property, double value, string setting)
    {
        var settings = new DffSettings();
        switch (property)
        {
            case nameof(DffSettings.BaselinePercentile): settings.BaselinePercentile = value; break;
            case nameof(DffSettings.BaselineWindowS): settings.BaselineWindowS = value; break;
            case nameof(DffSettings.InitFrames): settings.InitFrames = (int)value; break;
            case nameof(DffSettings.NoiseWindowS): settings.NoiseWindowS = value; break;
        }
        var stage = new DffStage(settings, new PopulationActivity(1, ["a"]));
        var ex = Assert.Throws<SettingException>(() => stage.Start(TestRig.Context()));
        Assert.Equal(setting, ex.Setting);
    }
}
