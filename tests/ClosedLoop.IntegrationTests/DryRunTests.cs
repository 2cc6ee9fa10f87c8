using ClosedLoop.Cli;
using ClosedLoop.Cli.Experiments;
using ClosedLoop.Core;
using ClosedLoop.Hardware;

namespace ClosedLoop.IntegrationTests;

public class DryRunTests
{
    private const string DefaultProfile = "builtin:sim-two-photon";

    [Fact]
    public void Run_DefaultDryRun_StopsStimulatingWhenTheMotorGroupResponds()
    {
        using var h = new Harness();
        var (code, report) = h.Run(DefaultProfile, ExperimentLoader.DefaultExperiment);

        Assert.Equal(ExitCodes.Ok, code);
        Assert.NotNull(report);
        Assert.Equal("completed", report.Outcome);
        Assert.Equal(10, report.Trials.Count);
        Assert.True(report.Stimulation.Responded >= 5, $"only {report.Stimulation.Responded} of 10 trials responded");
        Assert.Equal(report.Frames.Acquired, report.Frames.Processed);
        Assert.Equal(0, report.Frames.Missing);

        // After each response the protocol stops: no stimulus until the next trial starts, and the pause lasts pauseS.
        var events = h.EventsJson();
        for (int i = 0; i < events.Count; i++)
        {
            if (events[i].GetProperty("kind").GetString() != "trialEnded" || events[i].GetProperty("value").ValueKind == System.Text.Json.JsonValueKind.Null) continue;
            double endS = events[i].GetProperty("sampleTimeS").GetDouble();
            var next = events.Skip(i + 1).FirstOrDefault(e => e.GetProperty("kind").GetString() is "stimulation" or "trialStarted");
            if (next.ValueKind == System.Text.Json.JsonValueKind.Undefined) continue;
            Assert.Equal("trialStarted", next.GetProperty("kind").GetString());
            Assert.InRange(next.GetProperty("sampleTimeS").GetDouble() - endS, 3.0 - 1e-6, 3.0 + 0.05);
        }
        // Each response falls in the response window after the trial's last stimulus.
        foreach (var t in report.Trials.Where(t => !t.TimedOut))
            Assert.InRange(t.ResponseTimeS!.Value, 0.1, 30);
    }

    [Fact]
    public void Run_DefaultDryRun_ReportsEveryStageLatencyAndWritesValidJson()
    {
        using var h = new Harness();
        h.Run(DefaultProfile, ExperimentLoader.DefaultExperiment);

        var json = h.ReportJson();
        var stages = json.GetProperty("latency").EnumerateArray().Select(s => s.GetProperty("name").GetString()).ToList();
        Assert.Equal(new[] { "queue", "traces", "dff", "spikes", "detectors", "protocol" }, stages.Take(6));
        Assert.Contains(stages, s => s!.StartsWith("end-to-end"));
        foreach (var s in json.GetProperty("latency").EnumerateArray())
        {
            Assert.True(s.GetProperty("count").GetInt64() > 1000);
            Assert.True(s.GetProperty("p99Us").GetDouble() >= s.GetProperty("p50Us").GetDouble());
            Assert.True(s.GetProperty("maxUs").GetDouble() >= s.GetProperty("p99Us").GetDouble());
        }
        Assert.Equal(0, json.GetProperty("frames").GetProperty("droppedInLink").GetInt64());
        Assert.True(json.GetProperty("stimulation").GetProperty("delivered").GetInt64() >= 10);
        Assert.True(json.GetProperty("noiseLevelMedian").GetDouble() > 0);
        Assert.Contains("trials", h.Output);
    }

    [Fact]
    public void Run_DefaultDryRun_WritesATrialPlotWithOneMarkerPerTrial()
    {
        using var h = new Harness();
        var (_, report) = h.Run(DefaultProfile, ExperimentLoader.DefaultExperiment);

        var svg = System.Xml.Linq.XDocument.Load(Path.Combine(h.RunFolder, "trials.svg"));
        var ns = svg.Root!.Name.Namespace;
        int responses = svg.Descendants(ns + "circle").Count();
        int timeouts = svg.Descendants(ns + "rect").Count(r => r.Element(ns + "title") is not null);
        Assert.Equal(report!.Stimulation.Responded, responses);
        Assert.Equal(report.Stimulation.TimedOut, timeouts);
        var latency = System.Xml.Linq.XDocument.Load(Path.Combine(h.RunFolder, "latency.svg"));
        Assert.Equal(3 * report.Latency.Count, latency.Descendants(ns + "circle").Count());
    }

    [Fact]
    public void Run_SimulatedResonantRig_AcquiresFromSamplesAndReportsTheScan()
    {
        using var h = new Harness();
        var (code, report) = h.Run("builtin:sim-resonant", "builtin:stimulus-avoidance-512", durationS: 2);

        Assert.True(code == ExitCodes.Ok, $"exit code {code}: {report?.Fault}");
        Assert.StartsWith("samples → frames (resonant", report!.Acquisition);
        Assert.Equal(report.Frames.Acquired, report.Frames.Processed);
        // 2 s of sample-clock time at the scan's own rate (30.24 Hz), not the profile's nominal 30 Hz.
        Assert.Equal((long)Math.Ceiling(2 * report.Scan!.ScanFrameRateHz), report.Frames.Processed);
        var scan = Assert.IsType<ScanSummary>(report.Scan);
        Assert.Equal(0, scan.MissedLineClockEdges);
        Assert.Equal(0, scan.FramesWithLineErrors);
        Assert.InRange(scan.LinePhaseSamples, 3.5, 4.5); // the simulated mirror lags its clock by 4 samples
    }

    [Fact]
    public void Run_SameSeedTwice_GivesTheSameTrials()
    {
        using var a = new Harness();
        using var b = new Harness();
        var (_, r1) = a.Run(DefaultProfile, ExperimentLoader.DefaultExperiment);
        var (_, r2) = b.Run(DefaultProfile, ExperimentLoader.DefaultExperiment);
        Assert.Equal(r1!.Trials, r2!.Trials);
    }

    [Fact]
    public void Run_StrongerPathway_RespondsSoonerThanWeakerPathway()
    {
        // The stimulation decision changes what the tissue does: a stronger sensory→motor pathway gives shorter
        // response times, a pathway of probability 0 gives no responses beyond chance coincidences.
        using var strong = new Harness();
        using var none = new Harness();
        var (_, rs) = strong.Run(strong.Profile(t => t.Replace("probability: 0.015", "probability: 0.05")), ExperimentLoader.DefaultExperiment);
        var (_, rn) = none.Run(none.Profile(t => t.Replace("probability: 0.015", "probability: 0")), ExperimentLoader.DefaultExperiment, durationS: 120);

        Assert.True(rs!.Stimulation.Responded >= 9, $"strong pathway: {rs.Stimulation.Responded} responses");
        int noneResponded = rn!.Stimulation.Responded;
        Assert.True(noneResponded < rs.Stimulation.Responded, $"no pathway: {noneResponded} responses vs {rs.Stimulation.Responded}");
        Assert.True(rs.Stimulation.MeanResponseTimeS < 3, $"strong pathway mean response {rs.Stimulation.MeanResponseTimeS} s");
    }

    [Fact]
    public void Run_UserCancels_EndsWithCode130StimulationOffAndReportWritten()
    {
        using var h = new Harness();
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        string rig = h.ProfileWithPatientWatchdog();
        var (code, report) = h.Run(rig, ExperimentLoader.DefaultExperiment, SimulationPacing.Realtime, cancel: cancel.Token);

        Assert.True(code == ExitCodes.Cancelled, $"exit code {code}: {report?.Fault}");
        Assert.Equal("cancelled", report!.Outcome);
        Assert.True(report.Frames.Processed > 0);
        var events = h.EventsJson();
        Assert.Equal("safetyOff", events.Last(e => e.GetProperty("kind").GetString() == "safetyOff").GetProperty("kind").GetString());
        Assert.Equal(130, h.ReportJson().GetProperty("exitCode").GetInt32());
    }

    [Fact]
    public void Run_DeviceFaultMidRun_EndsWithCode2StimulationOffAndReportReadable()
    {
        using var h = new Harness();
        string profile = h.Profile(t => t.Replace("simulation:\n", "simulation:\n  faultAfterS: 8\n"));
        var (code, report) = h.Run(profile, ExperimentLoader.DefaultExperiment);

        Assert.Equal(ExitCodes.Faulted, code);
        Assert.Equal("faulted", report!.Outcome);
        Assert.Contains("simulated DAQ fault", report.Fault);
        Assert.InRange(report.Frames.Processed, 200, 241); // 8 s at 30 Hz, all of it processed before the fault
        var events = h.EventsJson();
        int fault = events.FindIndex(e => e.GetProperty("kind").GetString() == "fault");
        Assert.True(fault >= 0);
        Assert.Contains(events.Skip(fault), e => e.GetProperty("kind").GetString() == "safetyOff");
        Assert.DoesNotContain(events.Skip(fault), e => e.GetProperty("kind").GetString() == "stimulation");
    }
}
