using System.Diagnostics;
using System.Globalization;
using ClosedLoop.Core;
using ClosedLoop.Messaging.Zmq;

namespace ClosedLoop.Messaging.Tests;

/// <summary>The Python example client (pyzmq, Debian python3-zmq) against a live publisher and control server.</summary>
public class PythonClientTests
{
    private static string Script()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var path = Path.Combine(dir.FullName, "examples", "python", "closedloop_client.py");
            if (File.Exists(path)) return path;
        }
        throw new FileNotFoundException("examples/python/closedloop_client.py not found above " + AppContext.BaseDirectory);
    }

    /// <summary>A python process whose output lines are collected as they come.</summary>
    private sealed class PythonProcess : IDisposable
    {
        private readonly Process _process;
        private readonly List<string> _lines = new();

        public PythonProcess(params string[] args)
        {
            var psi = new ProcessStartInfo(PythonZmqFactAttribute.Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add("-u");
            psi.ArgumentList.Add(Script());
            foreach (var a in args) psi.ArgumentList.Add(a);
            _process = Process.Start(psi)!;
            _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_lines) _lines.Add(e.Data); };
            _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_lines) _lines.Add("stderr: " + e.Data); };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public List<string> Lines
        {
            get { lock (_lines) return _lines.ToList(); }
        }

        public int Finish(int timeoutMs = 30_000)
        {
            if (!_process.WaitForExit(timeoutMs)) throw new Xunit.Sdk.XunitException("python did not finish:\n" + string.Join("\n", Lines));
            _process.WaitForExit(); // drain the output
            return _process.ExitCode;
        }

        public void Dispose()
        {
            if (!_process.HasExited) _process.Kill();
            _process.Dispose();
        }
    }

    [PythonZmqFact]
    public void PythonWatch_LivePublisher_PrintsFramesTracesEventsAndTheRunDescription()
    {
        using var pub = new EventBusPublisher(new EventBusSettings { Endpoint = "tcp://127.0.0.1:*", StatusPeriodS = 0.05, RunInfoPeriodS = 0 });
        using var watch = new PythonProcess("watch", "--bus", pub.Endpoint, "--topics", "frame", "traces", "event.", "run.", "--until", "run.end", "--timeout", "20");
        Assert.True(Wait.Until(() => watch.Lines.Contains("# ready"), 20_000), string.Join("\n", watch.Lines));

        var run = new SyntheticRun(runId: "py-run");
        pub.Attach(run.Info, run.Tap);
        run.Start();
        var sub = run.Tap.Subscriptions[0];
        for (int i = 0; i < 5; i++)
        {
            run.Feed(i);
            Assert.True(Wait.Until(() => sub.Frames!.Count == 0 && sub.Activity!.Count == 0));
        }
        run.Events.Add(new RunEvent(RunEventKind.Detection, 123_000, MonotonicClock.NowNs(), "detector", "motor response", 0.75));
        run.Stop();
        pub.Detach(run.Result());

        Assert.Equal(0, watch.Finish());
        var lines = watch.Lines;
        string all = string.Join("\n", lines);
        Assert.Contains(lines, l => l.StartsWith("run.start run=py-run profile=test-profile experiment=test-experiment size=16x12 units=5 groups=1", StringComparison.Ordinal));
        Assert.Equal(5, lines.Count(l => l.StartsWith("frame run=py-run", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.StartsWith("frame run=py-run frame=2 ", StringComparison.Ordinal) && l.Contains("shape=12x16"));
        var traces = lines.Where(l => l.StartsWith("traces run=py-run", StringComparison.Ordinal)).ToList();
        Assert.Equal(5, traces.Count);
        string expected = string.Join(",", Enumerable.Range(0, 5).Select(u => SyntheticRun.Dff(3, u).ToString("G4", CultureInfo.InvariantCulture)));
        Assert.Contains(traces, l => l.Contains("frame=3 ") && l.EndsWith("n=5 values=" + expected, StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("event.detection run=py-run kind=Detection sampleTimeNs=123000 source=detector message=\"motor response\" value=0.75", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("run.end run=py-run outcome=completed frames=5", StringComparison.Ordinal));
        Assert.Contains("# received", all);
        Assert.Contains("missed 0", all);
    }

    [PythonZmqFact]
    public void PythonControl_SetRoundTrip_ChangesTheParameterAndReportsRefusals()
    {
        var host = new FakeRunControl();
        using var server = new ControlServer(host, new ControlSettings { Endpoint = "tcp://127.0.0.1:*" });

        using (var start = new PythonProcess("control", "--control", server.Endpoint, "start"))
            Assert.Equal(0, start.Finish());

        using (var set = new PythonProcess("control", "--control", server.Endpoint, "set", "detectors.motor.thresholdDff", "1.5"))
        {
            Assert.Equal(0, set.Finish());
            Assert.Contains(set.Lines, l => l.Contains("\"ok\": true") && l.Contains("\"value\": 1.5"));
        }
        Assert.Equal(1.5, host.Threshold);

        using (var bad = new PythonProcess("control", "--control", server.Endpoint, "set", "detectors.motor.thresholdDff", "99"))
        {
            Assert.Equal(1, bad.Finish());
            Assert.Contains(bad.Lines, l => l.Contains("\"ok\": false") && l.Contains("\"code\": \"out-of-range\""));
        }
        Assert.Equal(1.5, host.Threshold);

        using (var status = new PythonProcess("control", "--control", server.Endpoint, "status"))
        {
            Assert.Equal(0, status.Finish());
            Assert.Contains(status.Lines, l => l.Contains("\"state\": \"running\""));
        }
    }

    [PythonZmqFact]
    public void PythonControl_TokenServer_WithoutTokenIsRefusedWithToken_IsServed()
    {
        const string token = "python-token-0123456789";
        using var server = new ControlServer(new FakeRunControl(), new ControlSettings { Endpoint = "tcp://127.0.0.1:*", Token = token });
        using (var anonymous = new PythonProcess("control", "--control", server.Endpoint, "ping"))
        {
            Assert.Equal(1, anonymous.Finish());
            Assert.Contains(anonymous.Lines, l => l.Contains("\"code\": \"unauthorised\""));
        }
        using (var withToken = new PythonProcess("control", "--control", server.Endpoint, "--token", token, "ping"))
            Assert.Equal(0, withToken.Finish());
    }
}
