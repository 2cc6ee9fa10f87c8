using ClosedLoop.Cli;
using ClosedLoop.Cli.Experiments;
using ClosedLoop.Core;
using ClosedLoop.Hardware;

namespace ClosedLoop.IntegrationTests;

public class MeaRunTests
{
    private static string MeaExperiment(Harness h, Func<string, string> edit, string name = "experiment.yaml")
    {
        using var s = typeof(ExperimentLoader).Assembly.GetManifestResourceStream("experiments/mea-stimulus-avoidance.yaml")!;
        string path = Path.Combine(h.Folder, name);
        File.WriteAllText(path, edit(new StreamReader(s).ReadToEnd()));
        return path;
    }

    [Fact]
    public void Run_MeaExperimentNamingAnUnknownElectrode_RefusedNamingTheEntryAndLine()
    {
        using var h = new Harness();
        string experiment = MeaExperiment(h, t => t.Replace("output: [\"34\", \"43\", \"44\"]", "output: [\"34\", \"43\", \"88\"]"));
        var (code, report) = h.Run("builtin:sim-mea", experiment);

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Null(report);
        Assert.Matches(@"experiment\.yaml:\d+: groups\.output\[2\] = '88'", h.Output);
        Assert.Contains("12 … 87", h.Output);
        Assert.False(Directory.Exists(h.RunFolder));
    }

    [Fact]
    public void Run_MeaPulseBeyondTheChargeLimit_RefusedBeforeAnythingIsStimulated()
    {
        using var h = new Harness();
        string experiment = MeaExperiment(h, t => t.Replace("amplitudeUa: 15 ", "amplitudeUa: 30 ").Replace("phaseUs: 200 ", "phaseUs: 300 "));
        var (code, report) = h.Run("builtin:sim-mea", experiment);

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Null(report);
        Assert.Contains("protocol.pulse.amplitudeUa", h.Output);
        Assert.Contains("maxChargePerPhaseNc", h.Output);
        Assert.False(Directory.Exists(h.RunFolder));
    }

    [Fact]
    public void Run_ImagingExperimentOnTheMeaRig_RefusedNamingWhatIsMissing()
    {
        using var h = new Harness();
        var (code, _) = h.Run("builtin:sim-mea", ExperimentLoader.DefaultExperiment);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("frontEnd", h.Output);
        Assert.Contains("MEA rig", h.Output);
    }

    [Fact]
    public void Run_SequenceDetectorNamingAnUnknownGroup_RefusedNamingTheStep()
    {
        using var h = new Harness();
        string experiment = MeaExperiment(h, t => t.Replace("detectors:\n", "detectors:\n  chain:\n    kind: sequence\n    steps: [input, outptu]\n    threshold: 1\n"));
        var (code, _) = h.Run("builtin:sim-mea", experiment);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Matches(@"experiment\.yaml:\d+: detectors\.chain\.steps\[1\] = 'outptu'", h.Output);
        Assert.Contains("one of the groups: input, output", h.Output);
    }

    [Fact]
    public void Validate_MeaExperimentWithTemplateAndSequenceDetectors_IsValid()
    {
        using var h = new Harness();
        string experiment = MeaExperiment(h, t => t.Replace("detectors:\n",
            "detectors:\n  chain:\n    kind: sequence\n    steps: [input, output]\n    threshold: 1\n    maxIntervalS: 0.02\n" +
            "  outputPattern:\n    kind: template\n    group: output\n    template: [1, 0, 1]\n    signal: rate\n    minSimilarity: 0.8\n"));
        Assert.Equal(ExitCodes.Ok, ValidateCommand.Execute("builtin:sim-mea", experiment, false, h.Console));
        Assert.Contains("3 detector(s)", h.Output);
    }

    [Fact]
    public void Validate_ShippedMeaProfileAndExperiments_AreValid()
    {
        using var h = new Harness();
        Assert.Equal(ExitCodes.Ok, ValidateCommand.Execute("builtin:sim-mea", "builtin:mea-stimulus-avoidance", false, h.Console));
        Assert.Equal(ExitCodes.Ok, ValidateCommand.Execute("builtin:sim-mea", "builtin:mea-stimulus-avoidance-control", false, h.Console));
    }

    [Fact]
    public void Profile_UnknownMeaKey_RefusedNamingKeyAndLine()
    {
        string text = HardwareProfileLoader.ReadBuiltin("sim-mea")!.Replace("blockMs: 1 ", "blokMs: 1 ");
        var ex = Assert.Throws<SettingException>(() => HardwareProfileLoader.Parse(text, "mea.yaml"));
        Assert.Contains("blokMs", ex.Message);
        Assert.Contains("mea.yaml:", ex.Message);
    }

    [Fact]
    public void DryRun_ClosedLoopAgainstControl_StopsStimulationAtTheResponse_AndMeasuresLatency()
    {
        using var h = new Harness();
        string closedLoop = MeaExperiment(h, t => t.Replace("trials: 200", "trials: 40"), "closed.yaml");
        RunReport? cl = null, control = null;
        Assert.Equal(ExitCodes.Ok, RunCommand.Execute(new RunOptions("builtin:sim-mea", closedLoop, null, SimulationPacing.Fast, Path.Combine(h.Folder, "cl"), Quiet: true),
            h.Console, CancellationToken.None, r => cl = r));
        Assert.Equal(ExitCodes.Ok, RunCommand.Execute(new RunOptions("builtin:sim-mea", closedLoop, null, SimulationPacing.Fast, Path.Combine(h.Folder, "control"), Quiet: true, ForceOpenLoop: true),
            h.Console, CancellationToken.None, r => control = r));

        Assert.NotNull(cl);
        Assert.NotNull(control);
        Assert.Equal(40, cl!.Trials.Count);
        Assert.Equal(40, control!.Trials.Count);
        Assert.Equal("closed-loop", cl.Learning!.Condition);
        Assert.Equal("open-loop", control.Learning!.Condition);
        // Closed loop: stimulation stops at the response; control: 1 s at 100 Hz whatever happens.
        Assert.True(cl.Trials.Average(t => t.Stimuli) < 20, $"closed loop: {cl.Trials.Average(t => t.Stimuli)} stimuli per trial");
        Assert.All(control.Trials, t => Assert.InRange(t.Stimuli, 99, 101));
        Assert.True(cl.Trials.Count(t => !t.TimedOut) >= 30, "the output electrodes respond in most trials");
        // The front end saw spikes and blanked every pulse; every electrode pulse reached the AO stream on time.
        Assert.True(cl.Mea!.SpikesDetected > 100);
        Assert.True(cl.Mea.BlankedSamples >= cl.Stimulation.Delivered * 75);
        Assert.Equal(cl.Stimulation.Delivered * 4, cl.Mea.PulsesRendered);
        Assert.Equal(0, cl.Mea.LatePulses);
        Assert.Equal(0, cl.Stimulation.Refused);
        // Latency from block complete to decision is measured (no timing assertion).
        Assert.Contains(cl.Latency, l => l.Name.StartsWith("end-to-end", StringComparison.Ordinal) && l.Count > 1000);
        Assert.True(File.Exists(Path.Combine(h.Folder, "cl", "latency.svg")));
        string learning = ReportPlots.WriteLearning(cl, control, 1, h.Folder);
        Assert.Contains("closed loop", File.ReadAllText(learning));
    }

    [Fact]
    public void Pong_WithBothControls_CountsRalliesAndAces_FeedbackOnlyInTheClosedLoop_NothingAtRest_ComparedInTheReport()
    {
        using var h = new Harness();
        string pong;
        using (var stream = typeof(ExperimentLoader).Assembly.GetManifestResourceStream("experiments/pong.yaml")!)
        {
            pong = Path.Combine(h.Folder, "pong.yaml");
            // A wide paddle so some serves are returned, few games to keep the test short.
            File.WriteAllText(pong, new StreamReader(stream).ReadToEnd().Replace("games: 40", "games: 4").Replace("paddleHalfHeight: 0.2 ", "paddleHalfHeight: 0.35 "));
        }
        Assert.Equal(new[] { ControlRuns.OpenLoop, ControlRuns.Rest }, ControlRuns.Choose(pong, null));
        RunReport? cl = null;
        // A 5 s watchdog instead of 100 ms: this test is about the game, and a busy test machine can stall the loop past
        // 100 ms, which (rightly) ends the run as a fault.
        string rig = Path.Combine(h.Folder, "sim-mea-patient.yaml");
        File.WriteAllText(rig, HardwareProfileLoader.ReadBuiltin("sim-mea")!.Replace("watchdogTimeoutMs: 100 ", "watchdogTimeoutMs: 5000"));
        var options = new RunOptions(rig, pong, null, SimulationPacing.Fast, Path.Combine(h.Folder, "cl"), Quiet: true);
        Assert.Equal(ExitCodes.Ok, RunCommand.Execute(options, h.Console, CancellationToken.None, r => cl = r));
        Assert.Equal(ExitCodes.Ok, ControlRuns.Run(options, cl!, ControlRuns.Choose(pong, null), h.Console, CancellationToken.None));
        var control = Read(Path.Combine(h.Folder, "cl", "control"));
        var rest = Read(Path.Combine(h.Folder, "cl", "rest"));

        foreach (var (r, dir) in new[] { (cl!, "cl"), (control, "cl/control"), (rest, "cl/rest") })
        {
            var p = r.Pong!;
            Assert.Equal(4, p.Games);
            Assert.Equal(4, p.Rallies.Count);
            Assert.Equal(p.Rallies.Sum(), p.Hits);
            Assert.Equal(p.Rallies.Count(v => v == 0), p.Aces);
            Assert.Equal(0, r.Stimulation.Refused);
            Assert.True(File.Exists(Path.Combine(h.Folder, dir, "rallies.svg")));
        }
        Assert.Equal(["closed-loop", "open-loop", "rest"], new[] { cl!.Pong!.Condition, control.Pong!.Condition, rest.Pong!.Condition });
        Assert.True(cl.Pong.Hits + control.Pong.Hits + rest.Pong.Hits > 0, "a wide paddle returns some serves");
        // Feedback: every miss is followed by 4 s of random pulses (≈ 20) in the closed loop; the controls rest unstimulated.
        Assert.All(StimuliAfterEachMiss(Path.Combine(h.Folder, "cl")), n => Assert.InRange(n, 5, 60));
        Assert.All(StimuliAfterEachMiss(Path.Combine(h.Folder, "cl", "control")), n => Assert.Equal(0, n));
        Assert.True(control.Stimulation.Delivered > 0, "the open-loop control still codes the ball");
        Assert.Equal(0, rest.Stimulation.Delivered);
        Assert.Equal(0, rest.Mea!.PulsesRendered);
        // One feedback latency per hit or miss, and its histogram, in the closed loop only.
        Assert.Equal(cl.Pong.Games + cl.Pong.Hits, cl.Pong.FeedbackLatencyUs.Count);
        Assert.True(File.Exists(Path.Combine(h.Folder, "cl", "feedback-latency.svg")));
        Assert.Empty(control.Pong.FeedbackLatencyUs);
        Assert.False(File.Exists(Path.Combine(h.Folder, "cl", "control", "feedback-latency.svg")));
        // The comparison is in the closed loop's report.json and on screen; rallies.svg beside it shows every condition.
        var first = Read(Path.Combine(h.Folder, "cl"));
        Assert.Equal(["open-loop", "rest"], first.PongComparisons!.Select(c => c.Control));
        Assert.All(first.PongComparisons!, c => Assert.InRange(c.ProbabilityLonger, 0, 1));
        Assert.Contains("Closed loop vs rest", h.Output);
        string svg = File.ReadAllText(Path.Combine(h.Folder, "cl", "rallies.svg"));
        Assert.Contains("rest: mean", svg);
        Assert.Contains("open-loop: mean", svg);
    }

    [Fact]
    public void ShippedPongControls_AreThePongExperimentWithOnlyTheConditionChanged()
    {
        using var h = new Harness();
        var game = ExperimentLoader.Load("builtin:pong");
        foreach (var (name, condition) in new[] { ("builtin:pong-open-loop", ClosedLoop.Control.Mea.PongCondition.OpenLoop), ("builtin:pong-rest", ClosedLoop.Control.Mea.PongCondition.Rest) })
        {
            var control = ExperimentLoader.Load(name);
            Assert.Equal(condition, control.Pong!.Condition);
            control.Pong.Condition = ClosedLoop.Control.Mea.PongCondition.ClosedLoop;
            Assert.Equal(System.Text.Json.JsonSerializer.Serialize(game.Pong), System.Text.Json.JsonSerializer.Serialize(control.Pong));
            Assert.Equal(System.Text.Json.JsonSerializer.Serialize(game.Groups), System.Text.Json.JsonSerializer.Serialize(control.Groups));
            Assert.Equal(System.Text.Json.JsonSerializer.Serialize(game.FrontEnd), System.Text.Json.JsonSerializer.Serialize(control.FrontEnd));
            Assert.Equal(ExitCodes.Ok, ValidateCommand.Execute("builtin:sim-mea", name, false, h.Console));
        }
    }

    [Fact]
    public void RestControl_OfAStimulusAvoidanceExperiment_IsRefusedBeforeAnythingRuns()
    {
        var ex = Assert.Throws<SettingException>(() => ControlRuns.Choose("builtin:mea-stimulus-avoidance", "rest"));
        Assert.Contains("--controls", ex.Message);
        Assert.Contains("only pong", ex.Message);
        Assert.Equal(new[] { ControlRuns.OpenLoop }, ControlRuns.Choose("builtin:mea-stimulus-avoidance", null));
        Assert.Throws<SettingException>(() => ControlRuns.Choose("builtin:pong", "no-feedback"));
    }

    private static RunReport Read(string folder) =>
        System.Text.Json.JsonSerializer.Deserialize<RunReport>(File.ReadAllText(Path.Combine(folder, "report.json")), RunReport.Json)!;

    /// <summary>Stimulation events between each game's end (the miss) and the next serve.</summary>
    private static List<int> StimuliAfterEachMiss(string runFolder)
    {
        var counts = new List<int>();
        int? current = null;
        foreach (string line in File.ReadLines(Path.Combine(runFolder, "events.jsonl")))
        {
            string kind = System.Text.Json.JsonDocument.Parse(line).RootElement.GetProperty("kind").GetString()!;
            if (kind == "trialEnded") current = 0;
            else if (kind == "trialStarted" && current is int n) { counts.Add(n); current = null; }
            else if (kind == "stimulation" && current is not null) current++;
        }
        if (current is int last) counts.Add(last);
        return counts;
    }
}
