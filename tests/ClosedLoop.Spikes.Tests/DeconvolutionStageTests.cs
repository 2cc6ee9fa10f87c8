using ClosedLoop.Core;

namespace ClosedLoop.Spikes.Tests;

public class DeconvolutionStageTests
{
    private sealed class Rig(int units, OasisSettings settings, double rateHz = 30)
        : StageRig<DeconvolutionStage>(units, rateHz, a => new DeconvolutionStage(settings, a));

    [Fact]
    public void Process_FixedParameters_RateEqualsOfflineCausalOutput()
    {
        var settings = new OasisSettings { Estimate = false, DecayS = 0.5, NoiseSigmaDff = 0.05, LookAheadFrames = 2, MaxPools = 32 };
        var a = Synthetic.Make(3000, 30, 0.5, 1, 0.3, 0.05, seed: 11);
        var b = Synthetic.Make(3000, 30, 0.5, 2, 0.2, 0.05, seed: 12);
        using var rig = new Rig(2, settings);
        var online = new float[2][] { new float[3000], new float[3000] };

        for (int t = 0; t < 3000; t++)
        {
            rig.Step([a.Calcium[t], b.Calcium[t]]);
            online[0][t] = rig.Activity.Rate[0];
            online[1][t] = rig.Activity.Rate[1];
        }

        var p = OasisParameters.FromSettings(settings, 30);
        Assert.Equal(OasisDeconvolver.InferCausal(a.Calcium, settings, p), online[0]);
        Assert.Equal(OasisDeconvolver.InferCausal(b.Calcium, settings, p), online[1]);
        Assert.Equal(2 / 30.0, rig.Stage.LatencyS, 12);
    }

    [Fact]
    public void Process_ManyUnits_AllocatesNothingPerFrame()
    {
        var traces = Enumerable.Range(0, 200).Select(i => Synthetic.Make(600, 30, 0.5, 1, 0.3, 0.05, seed: i).Calcium).ToArray();
        using var rig = new Rig(200, new OasisSettings { LookAheadFrames = 1 });
        var row = new float[200];
        void Frame(int t)
        {
            for (int i = 0; i < 200; i++) row[i] = traces[i][t % 600];
            rig.Step(row);
        }
        for (int t = 0; t < 300; t++) Frame(t);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int t = 300; t < 2300; t++) Frame(t);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Refit_FromTheRecentWindow_NewDecayTakenOverAtTheNextFrame()
    {
        var s = Synthetic.Make(2400, 30, 1.2, 0.8, 0.3, 0.03, seed: 13);
        using var rig = new Rig(1, new OasisSettings { DecayS = 0.3, EstimateWindowS = 60, LookAheadFrames = 2 });
        for (int t = 0; t < 2000; t++) rig.Step([s.Calcium[t]]);
        double before = rig.Stage.CurrentParameters[0].DecayS(30);

        var proposal = rig.Stage.Refit();
        double stillBefore = rig.Stage.CurrentParameters[0].DecayS(30);
        rig.Step([s.Calcium[2000]]);

        Assert.NotNull(proposal);
        Assert.Equal(0.3, before, 6);
        Assert.Equal(0.3, stillBefore, 6);
        Assert.Equal(1, rig.Stage.ParameterChanges);
        // A 60 s window holds ~50 transients: the estimate is within ~25 % of the true 1.2 s, far from the 0.3 s it started with.
        Assert.InRange(rig.Stage.CurrentParameters[0].DecayS(30), 0.9, 1.5);
    }

    [Fact]
    public void Refit_WhileTheLoopRunsOnAnotherThread_NeverSeesATornWindow()
    {
        // Every frame's ΔF/F is the same for all units, so a window mixing two frames in one row would give units
        // different parameters; a consistent copy gives them identical ones.
        var s = Synthetic.Make(20_000, 30, 0.5, 1, 0.3, 0.05, seed: 14);
        using var rig = new Rig(64, new OasisSettings { EstimateWindowS = 10 });
        var row = new float[64];
        for (int t = 0; t < 400; t++) { Array.Fill(row, s.Calcium[t]); rig.Step(row); }
        using var done = new CancellationTokenSource();
        var loop = new Thread(() =>
        {
            for (int t = 400; t < 20_000; t++) { Array.Fill(row, s.Calcium[t]); rig.Step(row); }
            done.Cancel();
        });
        loop.Start();

        int refits = 0;
        while (!done.IsCancellationRequested || refits == 0)
        {
            var p = rig.Stage.Refit();
            Assert.NotNull(p);
            Assert.All(p, q => Assert.Equal(p[0], q));
            refits++;
        }
        loop.Join();
        Assert.True(refits > 0);
    }

    [Fact]
    public void Start_BadSetting_ErrorNamesTheSetting()
    {
        var activity = new PopulationActivity(1, ["u0"]);
        var stage = new DeconvolutionStage(new OasisSettings { EstimateWindowS = 1 }, activity);
        using var stop = new CancellationTokenSource();

        var ex = Assert.Throws<SettingException>(() => stage.Start(new RunContext("t", 30, new RunEventLog(), stop)));

        Assert.Equal("spikes.estimateWindowS", ex.Setting);
    }

    [Fact]
    public void Propose_WrongNumberOfUnits_Refused()
    {
        using var rig = new Rig(3, new OasisSettings());

        var ex = Assert.Throws<SettingException>(() => rig.Stage.Propose([OasisParameters.FromSettings(new OasisSettings(), 30)]));

        Assert.Contains("one set per unit (3)", ex.Message);
    }
}
