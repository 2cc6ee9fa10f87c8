using ClosedLoop.Cli;
using ClosedLoop.Cli.Experiments;
using ClosedLoop.Core;
using ClosedLoop.Hardware;

namespace ClosedLoop.IntegrationTests;

/// <summary>The protocol engine through the command's run path: declared stimuli, phases, rules and Bakkum.</summary>
public class ProtocolEngineTests
{
    private static string Shipped(Harness h, string builtin, Func<string, string> edit, string name = "experiment.yaml")
    {
        using var s = typeof(ExperimentLoader).Assembly.GetManifestResourceStream($"experiments/{builtin}.yaml")!;
        string text = new StreamReader(s).ReadToEnd();
        string edited = edit(text);
        string path = Path.Combine(h.Folder, name);
        File.WriteAllText(path, edited);
        return path;
    }

    /// <summary>sim-mea with a 5 s watchdog instead of 100 ms: these runs are not about the watchdog, and a test machine
    /// shared with other builds can stall a fast-paced loop past 100 ms (which rightly ends the run as a fault).</summary>
    private static string PatientMea(Harness h)
    {
        string path = Path.Combine(h.Folder, "sim-mea-patient.yaml");
        if (File.Exists(path)) return path;
        string text = HardwareProfileLoader.ReadBuiltin("sim-mea")!;
        Assert.Contains("watchdogTimeoutMs: 100 ", text);
        File.WriteAllText(path, text.Replace("watchdogTimeoutMs: 100 ", "watchdogTimeoutMs: 5000 "));
        return path;
    }

    private static RunReport Run(Harness h, string experiment, string output, bool control = false)
    {
        RunReport? report = null;
        int code = RunCommand.Execute(new RunOptions(PatientMea(h), experiment, null, SimulationPacing.Fast, Path.Combine(h.Folder, output), Quiet: true, ForceOpenLoop: control),
            h.Console, CancellationToken.None, r => report = r);
        Assert.True(code == ExitCodes.Ok, h.Output);
        return report!;
    }

    [Fact]
    public void RulesExperiment_GivesTheBuiltInProtocolsTrials_OnTheSameRigAndSeed_ClosedLoopAndControl()
    {
        using var h = new Harness();
        string builtin = Shipped(h, "mea-stimulus-avoidance", t => t.Replace("trials: 200", "trials: 8"), "builtin.yaml");
        string rules = Shipped(h, "mea-stimulus-avoidance-rules", t => t.Replace("trials: 200", "trials: 8"), "rules.yaml");

        foreach (bool control in new[] { false, true })
        {
            var a = Run(h, builtin, control ? "builtin-control" : "builtin", control);
            var b = Run(h, rules, control ? "rules-control" : "rules", control);

            Assert.Equal(8, b.Trials.Count);
            // Same trials, stimulus for stimulus: start, end, stimuli, response time (or time-out).
            Assert.Equal(a.Trials.Select(t => (t.Index, t.StartS, t.EndS, t.Stimuli, t.Refused, t.ResponseTimeS)),
                b.Trials.Select(t => (t.Index, t.StartS, t.EndS, t.Stimuli, t.Refused, t.ResponseTimeS)));
            Assert.All(b.Trials, t => Assert.Equal("training", t.Phase));
            Assert.Equal(a.Stimulation.Delivered, b.Stimulation.Delivered);
            Assert.Equal(a.Mea!.SpikesDetected, b.Mea!.SpikesDetected);
            Assert.Equal(a.Learning!.Condition, b.Learning!.Condition);
            Assert.Equal(control ? "open-loop" : "closed-loop", b.Learning.Condition);
            if (control) Assert.All(b.Trials, t => Assert.InRange(t.Stimuli, 99, 101));
            else Assert.True(b.Trials.Average(t => t.Stimuli) < 50, "the closed loop stops stimulating at the response");

            // The phases are in the report and their boundaries in the events.
            var phases = b.Phases!;
            Assert.Equal(new[] { "warm-up", "training" }, phases.Select(p => p.Name));
            Assert.Equal(5.0, phases[0].EndS!.Value, 9);
            Assert.Equal(0, phases[0].Stimuli);
            Assert.Equal(8, phases[1].Trials);
            Assert.Null(a.Phases);
            var events = File.ReadAllLines(Path.Combine(h.Folder, control ? "rules-control" : "rules", "events.jsonl"));
            Assert.Contains(events, e => e.Contains("\"source\":\"phases\"") && e.Contains("phase 1 'training' (rules) started"));
        }
    }

    [Fact]
    public void Validate_ShippedEngineExperiments_AreValidOnTheMeaRig()
    {
        using var h = new Harness();
        Assert.Equal(ExitCodes.Ok, ValidateCommand.Execute("builtin:sim-mea", "builtin:mea-stimulus-avoidance-rules", false, h.Console));
        Assert.Equal(ExitCodes.Ok, ValidateCommand.Execute("builtin:sim-mea", "builtin:mea-bakkum", false, h.Console));
        Assert.Equal(ExitCodes.Ok, ValidateCommand.Execute("builtin:sim-mea", "builtin:mea-bakkum-control", false, h.Console));
        Assert.Contains("Experiment valid on this rig", h.Output);
    }

    [Fact]
    public void Bakkum_DryRun_ReportsTheOutputErrorPerCycle_AndTheControlIgnoresTheOutput()
    {
        using var h = new Harness();
        static string Short(string t) => t.Replace("cycles: 100 ", "cycles: 9 ").Replace("baselineCycles: 10 ", "baselineCycles: 3 ");
        var cl = Run(h, Shipped(h, "mea-bakkum", Short, "bakkum.yaml"), "cl");
        var control = Run(h, Shipped(h, "mea-bakkum-control", Short, "bakkum-control.yaml"), "control");

        foreach (var r in new[] { cl, control })
        {
            var b = r.Bakkum!;
            Assert.Equal(9, b.Cycles);
            Assert.Equal(6, b.ErrorsDeg.Count);
            Assert.All(b.ErrorsDeg, e => Assert.InRange(e, 0, 180));
            Assert.Equal(6, b.PtsCycles + b.SbsCycles);
            Assert.All(b.PerCycle.Take(3), c => { Assert.Equal("baseline", c.Feedback); Assert.Null(c.ErrorDeg); });
            // Probes evoke spikes on the output electrodes: the centre of activity is defined.
            Assert.All(b.PerCycle, c => Assert.True(c.EvokedSpikes > 0, $"cycle {c.Index}: no evoked spikes"));
            // 5 probes + 20 PTS or SBS pulses per cycle, all within the interlock.
            Assert.All(b.PerCycle, c => { Assert.Equal(25, c.Stimuli); Assert.Equal(0, c.Refused); });
            Assert.Equal(0, r.Stimulation.Refused);
            Assert.Null(r.Learning);
        }
        Assert.Equal("closed-loop", cl.Bakkum!.Condition);
        Assert.Equal("open-loop", control.Bakkum!.Condition);
        // Closed loop: PTS follows exactly the wrong outputs; the control decides by chance.
        Assert.All(cl.Bakkum.PerCycle.Skip(3), c => Assert.Equal(c.ErrorDeg > 45 ? "pts" : "sbs", c.Feedback));
        Assert.Contains("→", cl.Bakkum.PerCycle.First(c => c.Feedback == "pts").Pattern);
        Assert.True(File.Exists(Path.Combine(h.Folder, "cl", "output-error.svg")));
        string plot = ReportPlots.WriteOutputError(cl, control, h.Folder);
        Assert.Contains("closed loop", File.ReadAllText(plot));
    }

    [Theory]
    [InlineData("on: outputResponse", "on: outputRespons", @"phases\[1\]\.protocol\.rules\[0\]\.on = 'outputRespons'", "outputResponse")]
    [InlineData("deliver: pulse", "deliver: pulse2", @"phases\[1\]\.protocol\.rules\[1\]\.do\[0\]\.deliver = 'pulse2'", "a stimulus declared under 'stimuli': pulse")]
    [InlineData("to: input", "to: inptu", @"phases\[1\]\.protocol\.rules\[1\]\.do\[0\]\.to = 'inptu'", "one of the groups: input, output")]
    [InlineData("endTrial: response", "endTrial: answered", @"phases\[1\]\.protocol\.rules\[0\]\.do\[0\]\.endTrial = 'answered'", "'response'")]
    [InlineData("kind: rules", "kind: rulez", @"phases\[1\]\.protocol\.kind = 'rulez'", "'rest', 'rules', 'stimulusAvoidance', 'pong', 'bakkum'")]
    [InlineData("everyS: 0.01 ", "everyMs: 10 ", @"phases\[1\]\.protocol\.rules\[1\]", "everyS")]
    [InlineData("            - deliver: pulse\n", "            - deliver: pulse\n              mark: hello\n", @"phases\[1\]\.protocol\.rules\[1\]\.do\[0\] = 'deliver and mark'", "exactly one action")]
    [InlineData("    kind: biphasic", "    kind: biphasic\n    count: 2", @"stimuli\.pulse\.count", "one of the known keys")]
    [InlineData("    durationS: 5\n", "", @"phases\[0\]\.durationS = 0 ", "rest phase")]
    public void Load_RulesExperimentWithABadEntry_RefusedNamingTheEntryAndItsLine(string from, string to, string entry, string allowed)
    {
        using var h = new Harness();
        RunRefused(h, from, to);
        Assert.Matches(@"experiment\.yaml:\d+: " + entry, h.Output);
        Assert.Contains(allowed, h.Output);
    }

    [Theory]
    [InlineData("amplitudeUa: 15 ", "amplitudeUa: 45 ", "stimuli.pulse.amplitudeUa", "maxAmplitudeUa")]
    [InlineData("everyS: 0.01 ", "everyS: 0.002 ", "phases[1].protocol.rules[1].everyS = 0.002 ", "maxPulseRateHz 200")]
    public void Run_DeclaredStimulusBeyondTheInterlock_RefusedBeforeAnythingIsStimulated(string from, string to, string entry, string limit)
    {
        using var h = new Harness();
        RunRefused(h, from, to);
        Assert.Contains(entry, h.Output);
        Assert.Contains(limit, h.Output);
        Assert.Matches(@"experiment\.yaml:\d+", h.Output);
    }

    /// <summary>Runs the shipped rules experiment with <paramref name="from"/> replaced by <paramref name="to"/> and
    /// checks it was refused as bad input before a run folder (and so any stimulation) existed.</summary>
    private static void RunRefused(Harness h, string from, string to)
    {
        string experiment = Shipped(h, "mea-stimulus-avoidance-rules", t =>
        {
            Assert.Contains(from, t);
            return t.Replace(from, to);
        });

        var (code, report) = h.Run("builtin:sim-mea", experiment);

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Null(report);
        Assert.False(Directory.Exists(h.RunFolder));
    }

    [Fact]
    public void Load_StimuliSection_TrainsResolveAgainstTheirPulse_AndAStimulusOnTheWrongRigIsRefused()
    {
        var x = ExperimentLoader.Parse("""
            name: t
            rois: builtin:YST_part11
            groups:
              sensory: [2, 9]
            stimuli:
              flash:
                kind: optogenetic
                powerMw: 5
                widthMs: 10
              burst:
                kind: train
                pulse: flash
                rateHz: 20
                durationS: 0.25
              spots:
                kind: photostim
                group: sensory
                powerMw: 8
                dwellMs: 5
            protocol:
              kind: rules
              rules:
                - on: every
                  everyS: 1
                  do:
                    - deliver: burst
                      to: sensory
                    - deliver: spots
            durationS: 10
            """, "t.yaml");
        var burst = x.Stimuli.Single(s => s.Name == "burst");
        Assert.Equal(5, burst.Count); // 0.25 s at 20 Hz
        Assert.Equal(5, burst.PowerMw);
        Assert.Equal(10, burst.WidthMs);
        Assert.False(burst.IsElectrical);
        Assert.Equal("sensory", x.Stimuli.Single(s => s.Name == "spots").Group);
        Assert.Equal("rules", Assert.Single(x.Phases).Kind);

        // The same file on the imaging rig passes the interlock; a current pulse on it does not.
        using var h = new Harness();
        string path = Path.Combine(h.Folder, "optical.yaml");
        File.WriteAllText(path, OpticalRules);
        Assert.Equal(ExitCodes.Ok, ValidateCommand.Execute("builtin:sim-two-photon", path, false, h.Console));
        File.WriteAllText(path, OpticalRules.Replace("kind: optogenetic\n    powerMw: 5\n    widthMs: 10", "kind: biphasic\n    amplitudeUa: 10"));
        Assert.Equal(ExitCodes.BadInput, ValidateCommand.Execute("builtin:sim-two-photon", path, false, h.Console));
        Assert.Contains("stimuli.flash.kind = 'biphasic'", h.Output);
        Assert.Contains("no electrical stimulator", h.Output);
    }

    private const string OpticalRules = """
        name: optical
        rois: builtin:YST_part11
        durationS: 10
        groups:
          sensory: [2, 9]
        stimuli:
          flash:
            kind: optogenetic
            powerMw: 5
            widthMs: 10
        protocol:
          kind: rules
          rules:
            - on: every
              everyS: 1
              do:
                - deliver: flash
                  to: sensory
        """;

    [Fact]
    public void Load_PhasesBesideAProtocol_OrStimuliWithoutRules_AreRefused()
    {
        var both = Assert.Throws<SettingException>(() => ExperimentLoader.Parse("""
            name: t
            rois: builtin:YST_part11
            groups:
              sensory: [2]
            phases:
              - durationS: 1
                protocol:
                  kind: rest
            protocol:
              kind: rest
            """, "t.yaml"));
        Assert.Contains("protocol", both.Setting);
        Assert.Contains("absent when the experiment has 'phases'", both.Message);

        using var stream = typeof(ExperimentLoader).Assembly.GetManifestResourceStream("experiments/stimulus-avoidance.yaml")!;
        string text = new StreamReader(stream).ReadToEnd();
        var unused = Assert.Throws<SettingException>(() => ExperimentLoader.Parse(
            text.Replace("detectors:", "stimuli:\n  flash:\n    kind: optogenetic\n    powerMw: 5\ndetectors:"), "t.yaml"));
        Assert.Equal("stimuli", unused.Setting);
        Assert.Contains("t.yaml:", unused.Message);
    }
}
