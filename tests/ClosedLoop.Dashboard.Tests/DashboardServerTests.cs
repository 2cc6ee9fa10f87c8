using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using ClosedLoop.Core;

namespace ClosedLoop.Dashboard.Tests;

/// <summary>The server and its WebSocket protocol, without a browser.</summary>
public sealed class DashboardServerTests
{
    private static async Task<DashboardServer> StartAsync(IRunControl? control, DashboardSettings? settings = null)
    {
        var server = new DashboardServer(settings ?? new DashboardSettings(), control);
        await server.StartAsync();
        return server;
    }

    private static RunResult Completed => new(RunOutcome.Completed, null, null, null, 1);

    [Fact]
    public async Task MalformedAndUnknownMessages_EachGetAnErrorReply_AreCounted_ServerSurvives()
    {
        await using var server = await StartAsync(new FakeRunControl(null, HostState.Idle), new DashboardSettings { MaxMessageBytes = 1024 });
        await using var socket = await TestSocket.ConnectAsync(server);
        await socket.ReadUntilAsync("status");

        var bad = new (string Message, string Code)[]
        {
            ("this is not json", "bad-request"),
            ("[1, 2, 3]", "bad-request"),
            ("{\"type\": 42}", "bad-request"),
            ("{\"id\": 5, \"type\": \"launch-rocket\"}", "unknown-command"),
            ("{\"type\": \"set\", \"name\": \"detector.thresholdDff\"}", "bad-request"),
            ("{\"type\": \"set\", \"name\": \"detector.thresholdDff\", \"value\": \"high\"}", "bad-request"),
            ("{\"type\": \"select\", \"units\": \"all\"}", "bad-request"),
            (new string('[', 20) + new string(']', 20), "bad-request"),
            ("{\"type\": \"ping\", \"pad\": \"" + new string('x', 2000) + "\"}", "too-large"),
        };
        foreach (var (message, code) in bad)
        {
            await socket.SendTextAsync(message);
            var reply = await socket.ReadUntilAsync("reply");
            Assert.False(reply.GetProperty("ok").GetBoolean(), message);
            Assert.Equal(code, reply.GetProperty("error").GetProperty("code").GetString());
            Assert.False(string.IsNullOrWhiteSpace(reply.GetProperty("error").GetProperty("message").GetString()));
        }
        await socket.Socket.SendAsync(new byte[] { 1, 2, 3 }, WebSocketMessageType.Binary, true, CancellationToken.None);
        var binary = await socket.ReadUntilAsync("reply");
        Assert.Equal("bad-request", binary.GetProperty("error").GetProperty("code").GetString());

        Assert.Equal(bad.Length + 1, server.Stats().BadMessages);

        // A well-formed command that is refused is not a bad message: the host said no.
        await socket.SendTextAsync("{\"type\": \"stop\", \"id\": \"s1\"}");
        var refused = await socket.ReadUntilAsync("reply");
        Assert.Equal("s1", refused.GetProperty("id").GetString());
        Assert.Equal("not-running", refused.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(bad.Length + 1, server.Stats().BadMessages);
        Assert.Equal(1, server.Stats().CommandsRefused);

        // Still serving: the same socket answers, and the page still loads.
        await socket.SendTextAsync("{\"type\": \"ping\", \"id\": 7}");
        var pong = await socket.ReadUntilAsync("reply");
        Assert.True(pong.GetProperty("ok").GetBoolean());
        Assert.Equal(7, pong.GetProperty("id").GetInt32());
        using var http = new HttpClient();
        Assert.Contains("id=\"frame-canvas\"", await http.GetStringAsync(server.Url));
    }

    [Fact]
    public async Task MessageThatNeverEnds_ClosesOnlyThatConnection()
    {
        await using var server = await StartAsync(null, new DashboardSettings { MaxMessageBytes = 1024 });
        await using var flood = await TestSocket.ConnectAsync(server);
        await flood.ReadUntilAsync("status");
        var chunk = new byte[64 * 1024];
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            for (int i = 0; i < 100; i++) await flood.Socket.SendAsync(chunk, WebSocketMessageType.Text, false, CancellationToken.None);
            await flood.ReadUntilAsync("never-sent");
        });
        await using var other = await TestSocket.ConnectAsync(server);
        await other.SendTextAsync("{\"type\": \"ping\"}");
        Assert.True((await other.ReadUntilAsync("reply")).GetProperty("ok").GetBoolean());
        Assert.True(server.Stats().BadMessages >= 1);
    }

    [Fact]
    public async Task ViewOnlyDashboard_StartCommand_RefusedAsUnauthorised()
    {
        await using var server = await StartAsync(null);
        await using var socket = await TestSocket.ConnectAsync(server);
        var hello = await socket.ReadUntilAsync("hello");
        Assert.False(hello.GetProperty("control").GetBoolean());
        await socket.SendTextAsync("{\"type\": \"start\"}");
        var reply = await socket.ReadUntilAsync("reply");
        Assert.Equal("unauthorised", reply.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task SlowBrowserThatNeverReads_DoesNotHoldUpTheTap_FramesDroppedAndCounted()
    {
        var run = new SyntheticRun(512, 512, poolCapacity: 8);
        await using var server = await StartAsync(new FakeRunControl(run), new DashboardSettings { MaxFrameRateHz = 1000 });
        server.Attach(run.Info, run.Tap);
        run.Start();
        var stuck = new ClientWebSocket();
        await stuck.ConnectAsync(new Uri(server.WebSocketUrl), CancellationToken.None); // and never reads
        await using var reader = await TestSocket.ConnectAsync(server);
        await reader.ReadUntilAsync("run");
        await Wait.UntilAsync(() => server.Stats().ClientsConnected == 2, "both browsers to connect");

        const int frames = 600;
        int pushed = run.Push(frames, TimeSpan.FromMilliseconds(1));

        // Every frame went through the tap: the pool never ran dry, so the dashboard never held frames hostage.
        Assert.Equal(frames, pushed);
        Assert.Equal(0, run.Pool.Exhausted);
        await Wait.UntilAsync(() => server.Stats().FramesDroppedForClients > 0, "frames replaced before the stuck browser took them");
        var stats = server.Stats();
        var link = run.Tap.Subscriptions.Single().Frames!;
        Assert.Equal(frames, link.Written);
        Assert.Equal(link.Written, link.Read + link.Dropped + link.Count);
        Assert.Equal(link.Dropped, stats.FramesDroppedAtTap);

        // The browser that reads still gets frames while the other is stuck.
        int before = reader.FramesReceived;
        run.Push(30, TimeSpan.FromMilliseconds(5));
        await reader.ReadUntilAsync("status");
        while (reader.FramesReceived == before) await reader.ReadUntilAsync("status");
        Assert.True(reader.FramesReceived > before);

        run.Tap.Stop();
        var report = server.Detach(Completed);
        Assert.Null(report.Error);
        Assert.Equal(0, run.Pool.Outstanding);
        Assert.True(report.Counters["framesDroppedForClients"] > 0);
        stuck.Abort();
        stuck.Dispose();
    }

    [Fact]
    public async Task Detach_WithFramesQueuedAndHeld_ReleasesEveryFrameToThePool()
    {
        var run = new SyntheticRun(poolCapacity: 6);
        await using var server = await StartAsync(new FakeRunControl(run));
        server.Attach(run.Info, run.Tap);
        run.Start();
        var stuck = new ClientWebSocket();
        await stuck.ConnectAsync(new Uri(server.WebSocketUrl), CancellationToken.None);
        await Wait.UntilAsync(() => server.Stats().ClientsConnected == 1, "the browser to connect");
        run.Push(200);
        Assert.True(run.Pool.Outstanding <= run.Tap.FramesHeldMax, $"the dashboard holds at most {run.Tap.FramesHeldMax} frames");
        run.Tap.Stop();
        var report = server.Detach(Completed);
        Assert.Equal(0, run.Pool.Outstanding);
        Assert.Equal(200, report.Counters["framesOffered"]);
        Assert.Contains("dashboard", report.Name);
        stuck.Abort();
        stuck.Dispose();
    }

    [Fact]
    public async Task Detach_WhileTheTapStillOffersFrames_LaterFramesAreReleasedToo()
    {
        var run = new SyntheticRun(poolCapacity: 6);
        await using var server = await StartAsync(null);
        server.Attach(run.Info, run.Tap);
        run.Start();
        run.Push(20);
        server.Detach(Completed); // a host that detaches before the tap's Stop
        run.Push(20);
        Assert.Equal(0, run.Pool.Outstanding);
    }

    [Fact]
    public async Task OnlineRois_RoiCommandReachesTheHost_AndTheChangedSetArrivesAsAUnitsMessage()
    {
        var run = new SyntheticRun();
        var none = run.Units.Select(u => new LiveUnit(u.Name, [], double.NaN, double.NaN)).ToArray();
        var current = new LiveUnitSet(0, none);
        var info = new LiveRunInfo(run.Context, "p", "e", run.WidthPx, run.HeightPx, none, [], run.Board, run.Status, new Dictionary<string, string>())
            { CurrentUnits = () => Volatile.Read(ref current) };
        var control = new FakeRunControl(run)
        {
            // As the host does: the edit publishes a new set (here: unit 2 gets the synthetic ROI 2's mask).
            OnEditRoi = r =>
            {
                var units = none.ToArray();
                units[2] = run.Units[2];
                Volatile.Write(ref current, new LiveUnitSet(1, units));
                return new RoiEditReply(2, "roi2", run.Units[2].Pixels.Length, 1, "user added roi2");
            },
        };
        await using var server = await StartAsync(control);
        server.Attach(info, run.Tap);
        run.Start();
        await using var socket = await TestSocket.ConnectAsync(server);
        var first = await socket.ReadUntilAsync("run");
        Assert.Equal(0, first.GetProperty("units")[2].GetProperty("outline").GetArrayLength());

        await socket.SendTextAsync("{\"type\": \"roi\", \"action\": \"add\", \"pixels\": [1, \"x\"]}");
        var bad = await socket.ReadUntilAsync("reply");
        Assert.Equal("bad-request", bad.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("pixels[1]", bad.GetProperty("error").GetProperty("message").GetString());
        Assert.Empty(control.RoiEdits);

        await socket.SendTextAsync("{\"type\": \"roi\", \"action\": \"add\", \"x\": 28, \"y\": 84, \"radius\": 4}");
        var ok = await socket.ReadUntilAsync("reply");
        Assert.True(ok.GetProperty("ok").GetBoolean(), ok.ToString());
        Assert.Equal(new RoiEditRequest(RoiEditAction.Add, null, null, 28, 84, 4), Assert.Single(control.RoiEdits));

        var units = await socket.ReadUntilAsync("units");
        Assert.Equal(1, units.GetProperty("version").GetInt64());
        Assert.Equal(4 * (SyntheticRun.RoiSizePx - 1) * 2, units.GetProperty("units")[2].GetProperty("outline").GetArrayLength());
        Assert.Equal(0, units.GetProperty("units")[0].GetProperty("outline").GetArrayLength());
        run.Tap.Stop();
        server.Detach(Completed);
    }

    [Fact]
    public async Task FrameMessage_LargeFrame_IsBinnedToTheDisplaySizeWithBrightRois()
    {
        var run = new SyntheticRun(512, 512);
        await using var server = await StartAsync(null, new DashboardSettings { MaxDisplayPx = 256 });
        server.Attach(run.Info, run.Tap);
        run.Start();
        await using var socket = await TestSocket.ConnectAsync(server);
        var info = await socket.ReadUntilAsync("run");
        Assert.Equal(2, info.GetProperty("binning").GetInt32());
        Assert.Equal(512, info.GetProperty("widthPx").GetInt32());
        var outline = info.GetProperty("units")[0].GetProperty("outline").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(4 * (SyntheticRun.RoiSizePx - 1) * 2, outline.Length); // a 10×10 square has 36 edge pixels, as (x, y) pairs
        while (socket.FramesReceived == 0)
        {
            run.Push(1);
            await socket.ReadUntilAsync("status");
        }
        var frame = socket.LastFrame!;
        Assert.Equal(1, frame[0]);
        Assert.Equal(256, BinaryPrimitives.ReadUInt16LittleEndian(frame.AsSpan(2)));
        Assert.Equal(256, BinaryPrimitives.ReadUInt16LittleEndian(frame.AsSpan(4)));
        Assert.Equal(2, BinaryPrimitives.ReadUInt16LittleEndian(frame.AsSpan(6)));
        Assert.Equal(32 + 256 * 256, frame.Length);
        var (x, y) = SyntheticRun.RoiCorners[0];
        byte inside = frame[32 + (y + 4) / 2 * 256 + (x + 4) / 2], outside = frame[32 + 2 * 256 + 2];
        Assert.True(inside > 200 && outside < 50, $"ROI {inside}, background {outside}");
        run.Tap.Stop();
        server.Detach(Completed);
    }

    [Fact]
    public async Task Attach_RunFasterThanTheCap_TakesOnlyEveryNthFrame()
    {
        var run = new SyntheticRun(frameRateHz: 120);
        await using var server = await StartAsync(null, new DashboardSettings { MaxFrameRateHz = 30 });
        server.Attach(run.Info, run.Tap);
        Assert.Equal(4, run.Tap.Subscriptions.Single().FrameEvery);
        Assert.Throws<InvalidOperationException>(() => server.Attach(run.Info, new LiveTap(run.Activity)));
        run.Start();
        run.Tap.Stop();
        server.Detach(Completed);
    }

    [Fact]
    public async Task Http_PageScriptAndStyle_ServedFromTheAssembly_OtherPathsRefused()
    {
        await using var server = await StartAsync(null);
        using var http = new HttpClient();
        var page = await http.GetAsync(server.Url);
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        string html = await page.Content.ReadAsStringAsync();
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org", "")); // nothing fetched from elsewhere
        Assert.Contains("new WebSocket", await http.GetStringAsync(server.Url + "dashboard.js"));
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(server.Url + "dashboard.css")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(server.Url + "secret.txt")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync(server.Url + "ws")).StatusCode);
    }

    [Fact]
    public async Task WebSocket_FromAnotherSitesPage_RefusedWithForbidden()
    {
        await using var server = await StartAsync(new FakeRunControl(null, HostState.Idle));
        using var foreign = new ClientWebSocket();
        foreign.Options.SetRequestHeader("Origin", "http://evil.example");
        var ex = await Assert.ThrowsAnyAsync<WebSocketException>(() => foreign.ConnectAsync(new Uri(server.WebSocketUrl), CancellationToken.None));
        Assert.Contains("403", ex.Message);
        using var own = new ClientWebSocket();
        own.Options.SetRequestHeader("Origin", server.Url.TrimEnd('/'));
        await own.ConnectAsync(new Uri(server.WebSocketUrl), CancellationToken.None);
        Assert.Equal(WebSocketState.Open, own.State);
        Assert.Equal(1, server.Stats().ClientsRefused);
    }

    [Fact]
    public void Settings_NonLoopbackHostWithoutAllowRemote_RefusedNamingTheSetting()
    {
        var ex = Assert.Throws<SettingException>(() => new DashboardServer(new DashboardSettings { Host = "0.0.0.0" }, null));
        Assert.Equal("dashboard.host", ex.Setting);
        Assert.Contains("loopback", ex.Message);
        Assert.Throws<SettingException>(() => new DashboardServer(new DashboardSettings { Port = 70000 }, null));
        _ = new DashboardServer(new DashboardSettings { Host = "0.0.0.0", AllowRemote = true }, null);
    }

    [Fact]
    public async Task StartAsync_PortTaken_ClearErrorNamingThePort()
    {
        using var blocker = new TcpListener(IPAddress.Loopback, 0);
        blocker.Start();
        int port = ((IPEndPoint)blocker.LocalEndpoint).Port;
        await using var server = new DashboardServer(new DashboardSettings { Port = port }, null);
        var ex = await Assert.ThrowsAsync<IOException>(() => server.StartAsync());
        Assert.Contains($"127.0.0.1:{port}", ex.Message);
    }

    [Fact]
    public async Task TooManyBrowsers_ExtraConnectionRefused()
    {
        await using var server = await StartAsync(null, new DashboardSettings { MaxClients = 1 });
        await using var first = await TestSocket.ConnectAsync(server);
        await Wait.UntilAsync(() => server.Stats().ClientsConnected == 1, "the first browser");
        using var second = new ClientWebSocket();
        await Assert.ThrowsAnyAsync<WebSocketException>(() => second.ConnectAsync(new Uri(server.WebSocketUrl), CancellationToken.None));
    }
}
