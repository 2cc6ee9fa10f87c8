using System.Diagnostics;
using System.Text.Json;
using ClosedLoop.Cli;
using ClosedLoop.Core;
using ClosedLoop.Hardware;
using ClosedLoop.Messaging;

namespace ClosedLoop.IntegrationTests;

/// <summary>The Python example client (pyzmq) against a real closed-loop run served on the event bus.</summary>
public class BusRunTests
{
    private const string Python = "/usr/bin/python3";

    private static string Script()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var path = Path.Combine(dir.FullName, "examples", "python", "closedloop_client.py");
            if (File.Exists(path)) return path;
        }
        throw new FileNotFoundException("examples/python/closedloop_client.py not found above " + AppContext.BaseDirectory);
    }

    private static Process StartPython(List<string> lines, params string[] args)
    {
        var psi = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-u");
        psi.ArgumentList.Add(Script());
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add("stderr: " + e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static JsonElement Control(string endpoint, params string[] args)
    {
        var lines = new List<string>();
        using var p = StartPython(lines, new[] { "control", "--control", endpoint }.Concat(args).ToArray());
        Assert.True(p.WaitForExit(20_000), "python control did not answer");
        p.WaitForExit();
        lock (lines) return JsonDocument.Parse(lines.First(l => l.StartsWith('{'))).RootElement.Clone();
    }

    [Fact]
    public async Task A_python_client_starts_watches_steers_and_stops_a_real_run()
    {
        Assert.True(File.Exists(Python), "python3 is missing");
        using var h = new Harness();
        string rig = h.ProfileWithPatientWatchdog();
        var host = new RunHost(new RunOptions(rig, "builtin:stimulus-avoidance", 120, SimulationPacing.Realtime, h.RunFolder, Quiet: true),
            h.Console, null, CancellationToken.None);
        RunReport? report = null;
        host.ReportWritten += r => report = r;
        using var bus = new EventBusPublisher(new EventBusSettings { Endpoint = "tcp://127.0.0.1:*", FrameEvery = 10 }, idleStatus: host.Status);
        host.AddConsumer(bus);
        using var control = new ControlServer(host, new ControlSettings { Endpoint = "tcp://127.0.0.1:*" });

        var watched = new List<string>();
        using var watcher = StartPython(watched, "watch", "--bus", bus.Endpoint, "--topics", "traces", "frame", "event.", "run.", "--until", "run.end", "--timeout", "30");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!watched.ToArray().Contains("# ready") && DateTime.UtcNow < deadline) Thread.Sleep(50); // the idle status reached it
        Assert.Contains("# ready", watched.ToArray());

        Assert.True(Control(control.Endpoint, "start").GetProperty("ok").GetBoolean());
        while (host.Status().FramesProcessed < 40 && DateTime.UtcNow < deadline) Thread.Sleep(20);
        var status = Control(control.Endpoint, "status");
        Assert.Equal("running", status.GetProperty("status").GetProperty("state").GetString());

        Assert.True(Control(control.Endpoint, "set", "detectors.motorResponse.thresholdDff", "0.4").GetProperty("ok").GetBoolean());
        var refused = Control(control.Endpoint, "set", "protocol.powerMw", "1000000");
        Assert.False(refused.GetProperty("ok").GetBoolean());
        Assert.Equal("out-of-range", refused.GetProperty("error").GetProperty("code").GetString());
        long atChange = host.Status().FramesProcessed;
        while (host.Status().FramesProcessed < atChange + 2 && DateTime.UtcNow < deadline) Thread.Sleep(10);

        Assert.True(Control(control.Endpoint, "stop", "enough").GetProperty("ok").GetBoolean());
        Assert.Equal(0, await host.Background!.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(watcher.WaitForExit(30_000), "the watcher never saw run.end:\n" + string.Join("\n", watched.ToArray()));
        watcher.WaitForExit();
        Assert.Equal(0, watcher.ExitCode);

        var lines = watched.ToArray();
        Assert.Contains(lines, l => l.StartsWith("run.start", StringComparison.Ordinal) && l.Contains("units=75"));
        Assert.Contains(lines, l => l.StartsWith("traces", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("frame", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("event.stimulation", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("event.info", StringComparison.Ordinal) && l.Contains("thresholdDff changed from 0.15 to 0.4"));
        Assert.Contains(lines, l => l.StartsWith("run.end", StringComparison.Ordinal) && l.Contains("outcome=completed"));
        Assert.Contains("stopped by remote control: enough", report!.StopReason);
        var live = Assert.Single(report.Live, l => l.Name == bus.Name);
        Assert.True(live.Counters["messagesSent"] > 100, live.Summary);
    }
}
