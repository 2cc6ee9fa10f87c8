using System.Diagnostics;
using System.Text.Json;
using ClosedLoop.Cli;
using ClosedLoop.Core;
using ClosedLoop.Hardware;
using ClosedLoop.Storage;

namespace ClosedLoop.IntegrationTests;

public class RecordReplayTests
{
    private static (int Code, RunReport? Report) Run(Harness h, RunOptions options, LiveServices? services = null)
    {
        RunReport? report = null;
        int code = RunCommand.Execute(options, h.Console, CancellationToken.None, r => report = r, services);
        return (code, report);
    }

    [Fact]
    public void A_recorded_run_replayed_through_the_pipeline_makes_the_same_decisions()
    {
        using var h = new Harness();
        string recorded = Path.Combine(h.Folder, "recorded");
        // --fast renders ~1500 frames/s; a queue that holds the whole run keeps a recorder that a busy machine delays
        // from dropping frames (which it may, counted, when it falls behind: that is not what this test is about).
        var (code, live) = Run(h, new RunOptions("builtin:sim-two-photon", "builtin:stimulus-avoidance", null, SimulationPacing.Fast, recorded, Quiet: true),
            new LiveServices(Record: true, new RecordingSettings { QueueFrames = 1024 }));
        Assert.Equal(0, code);
        var rec = Assert.Single(live!.Live);
        Assert.Null(rec.Error);
        Assert.Equal(live.Frames.Processed, rec.Counters["framesWritten"]);
        Assert.Equal(0, rec.Counters["framesDroppedAtTap"]);

        string replayed = Path.Combine(h.Folder, "replayed");
        var (code2, replay) = Run(h, new RunOptions("builtin:sim-two-photon", "builtin:stimulus-avoidance", null, SimulationPacing.Fast, replayed, Quiet: true,
            Replay: Path.Combine(recorded, "movie.tif")));
        Assert.Equal(0, code2);
        Assert.EndsWith("movie.tif", replay!.Replay);
        Assert.Equal(live.Frames.Processed, replay.Frames.Processed);
        Assert.Equal(live.Trials.Select(t => t.ResponseTimeS), replay.Trials.Select(t => t.ResponseTimeS));
        Assert.Equal(live.Stimulation.Delivered, replay.Stimulation.Delivered);

        // The activity recorded live is what the replay computes again.
        var a = File.ReadAllLines(Path.Combine(recorded, "activity.csv"));
        Assert.Equal(live.Frames.Processed + 1, a.Length);
        Assert.Equal(3 + 75, a[0].Split(',').Length); // frame, time, host time, 75 ROIs
    }

    [Fact]
    public void Tifffile_reads_a_recording_frames_and_metadata()
    {
        using var h = new Harness();
        string dir = Path.Combine(h.Folder, "rec");
        var (code, report) = Run(h, new RunOptions("builtin:sim-two-photon", "builtin:stimulus-avoidance", 3, SimulationPacing.Fast, dir, Quiet: true),
            new LiveServices(Record: true, new RecordingSettings { QueueFrames = 1024 })); // no drop, whatever the load
        Assert.Equal(0, code);
        string script = """
            import json, sys, tifffile
            with tifffile.TiffFile(sys.argv[1]) as t:
                first = json.loads(t.pages[0].description)
                last = json.loads(t.pages[-1].description)
                data = t.asarray()
                print(json.dumps({"pages": len(t.pages), "shape": list(data.shape), "dtype": str(data.dtype),
                                  "rate": first["frameRateHz"], "lastIndex": last["frameIndex"], "lastTime": last["sampleTimeS"]}))
            """;
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(Path.Combine(dir, "movie.tif"));
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd(), stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"python3 + tifffile failed (install python3-tifffile: build/setup-native.sh tifffile): {stderr}");
        var o = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(90, o.GetProperty("pages").GetInt32());
        Assert.Equal(new[] { 90, 88, 120 }, o.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal("uint16", o.GetProperty("dtype").GetString());
        Assert.Equal(30, o.GetProperty("rate").GetDouble());
        Assert.Equal(89, o.GetProperty("lastIndex").GetInt32());
        Assert.Equal(89 / 30.0, o.GetProperty("lastTime").GetDouble(), 6);
        Assert.Equal(90, report!.Frames.Processed);
    }

    [Fact]
    public void Replaying_a_missing_or_corrupt_file_is_refused_before_anything_runs()
    {
        using var h = new Harness();
        var (code, _) = Run(h, new RunOptions("builtin:sim-two-photon", "builtin:stimulus-avoidance", null, SimulationPacing.Fast, h.RunFolder, Quiet: true,
            Replay: Path.Combine(h.Folder, "nope.tif")));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("replay", h.Output);

        string junk = Path.Combine(h.Folder, "junk.tif");
        File.WriteAllText(junk, "this is not a TIFF file at all");
        (code, _) = Run(h, new RunOptions("builtin:sim-two-photon", "builtin:stimulus-avoidance", null, SimulationPacing.Fast, h.RunFolder, Quiet: true, Replay: junk));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("junk.tif", h.Output);
    }

    [Fact]
    public async Task Remote_control_changes_a_parameter_between_frames_refuses_bad_ones_and_stops_the_run_safely()
    {
        using var h = new Harness();
        string rig = h.ProfileWithPatientWatchdog();
        var host = new RunHost(new RunOptions(rig, "builtin:stimulus-avoidance", 120, SimulationPacing.Realtime, h.RunFolder, Quiet: true),
            h.Console, null, CancellationToken.None);
        RunReport? report = null;
        host.ReportWritten += r => report = r;
        Assert.Equal(HostState.Idle, host.Status().State);
        Assert.Equal("not-running", Assert.Throws<ControlException>(() => host.Stop("x")).Code);

        host.Start();
        Assert.Equal(HostState.Running, host.Status().State); // at once, before the session has been built
        Assert.Equal("busy", Assert.Throws<ControlException>(() => host.Start()).Code);
        Assert.Equal("busy", Assert.Throws<ControlException>(() => host.Load("builtin:sim-two-photon", "builtin:stimulus-avoidance")).Code);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (host.Status().FramesProcessed < 20 && DateTime.UtcNow < deadline) Thread.Sleep(20);
        var status = host.Status();
        Assert.Equal(HostState.Running, status.State);
        Assert.True(status.FramesProcessed >= 20);

        var names = host.Parameters().Select(p => p.Name).ToList();
        Assert.Contains("protocol.powerMw", names);
        Assert.Contains("detectors.motorResponse.thresholdDff", names);
        host.SetParameter("detectors.motorResponse.thresholdDff", 0.5);
        var tooMuch = Assert.Throws<ControlException>(() => host.SetParameter("protocol.powerMw", 1e6));
        Assert.Equal("out-of-range", tooMuch.Code);
        Assert.Contains("protocol.powerMw", tooMuch.Message);
        Assert.Equal("unknown-parameter", Assert.Throws<ControlException>(() => host.SetParameter("protocol.laser", 1)).Code);

        long framesAtChange = host.Status().FramesProcessed; // the change applies before the next frame
        while (host.Status().FramesProcessed < framesAtChange + 2 && DateTime.UtcNow < deadline) Thread.Sleep(10);
        host.Stop("test over");
        Assert.Equal(0, await host.Background!);
        Assert.Equal(HostState.Idle, host.Status().State);
        Assert.Contains("stopped by remote control: test over", report!.StopReason);
        Assert.False(report.Stimulation.InterlockTripped);
        var changed = h.EventsJson().Single(e => e.GetProperty("source").GetString() == "parameters");
        Assert.Contains("thresholdDff changed from 0.15 to 0.5", changed.GetProperty("message").GetString());
        Assert.Equal("completed", host.Status().LastOutcome);
    }
}
