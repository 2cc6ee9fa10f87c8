using ClosedLoop.Core;
using System.Text;
using ClosedLoop.Messaging.Zmq;

namespace ClosedLoop.Messaging.Tests;

public sealed class ControlServerTests : IDisposable
{
    private readonly FakeRunControl _host = new();
    private readonly ZmqContext _ctx;
    private readonly ControlServer _server;
    private readonly ControlClient _client;

    public ControlServerTests()
    {
        if (!ZmqLibrary.IsAvailable(out _)) { _ctx = null!; _server = null!; _client = null!; return; }
        _ctx = new ZmqContext();
        _server = new ControlServer(_host, new ControlSettings { Endpoint = "tcp://127.0.0.1:*", MaxRequestBytes = 4096, HardLimitBytes = 64 * 1024 }, _ctx);
        _client = new ControlClient(_server.Endpoint, context: _ctx);
    }

    public void Dispose()
    {
        _client?.Dispose();
        _server?.Dispose();
        _ctx?.Dispose();
    }

    [ZmqFact]
    public void Ping_Answers_WithTheLibraryVersionAndEchoedId()
    {
        var reply = _client.SendText("{\"command\":\"ping\",\"id\":42}");
        Assert.True(reply.Ok, reply.ToString());
        Assert.True(reply.Root.GetProperty("pong").GetBoolean());
        Assert.Equal(42, reply.Root.GetProperty("id").GetInt32());
        Assert.Equal(ZmqLibrary.Version.ToString(), reply.Root.GetProperty("libzmq").GetString());
    }

    [ZmqFact]
    public void StartSetStop_Idle_DriveTheHostAndReportItsStatus()
    {
        var status = _client.Send("status");
        Assert.Equal("idle", status.Root.GetProperty("status").GetProperty("state").GetString());
        Assert.Equal(40.0, status.Root.GetProperty("status").GetProperty("latencyP50Us").GetDouble());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, status.Root.GetProperty("status").GetProperty("latencyP99Us").ValueKind);

        var start = _client.Send("start");
        Assert.True(start.Ok, start.ToString());
        Assert.Equal("running", start.Root.GetProperty("status").GetProperty("state").GetString());

        var parameters = _client.Send("parameters");
        var p = Assert.Single(parameters.Root.GetProperty("parameters").EnumerateArray());
        Assert.Equal("detectors.motor.thresholdDff", p.GetProperty("name").GetString());
        Assert.Equal(5.0, p.GetProperty("max").GetDouble());

        var set = _client.Send("set", new Dictionary<string, object?> { ["name"] = "detectors.motor.thresholdDff", ["value"] = 1.25 });
        Assert.True(set.Ok, set.ToString());
        Assert.Equal(1.25, _host.Threshold);

        var stop = _client.Send("stop", new Dictionary<string, object?> { ["reason"] = "enough" });
        Assert.True(stop.Ok, stop.ToString());
        Assert.Contains("stop enough", _host.Calls);
        Assert.Equal("idle", stop.Root.GetProperty("status").GetProperty("state").GetString());
    }

    [ZmqFact]
    public void Roi_EditsReachTheHost_BadFieldsAreNamedAndHostRefusalsPassThrough()
    {
        _client.Send("start");
        var add = _client.SendText("{\"command\":\"roi\",\"action\":\"add\",\"x\":10.5,\"y\":5,\"radius\":2}");
        Assert.True(add.Ok, add.ToString());
        Assert.Equal(7, add.Root.GetProperty("id").GetInt32());
        Assert.Equal("roi007", add.Root.GetProperty("name").GetString());
        Assert.Equal(42, add.Root.GetProperty("version").GetInt64());
        var sent = Assert.Single(_host.RoiEdits);
        Assert.Equal(new RoiEditRequest(RoiEditAction.Add, null, null, 10.5, 5, 2), sent);

        var pixels = _client.SendText("{\"command\":\"roi\",\"action\":\"add\",\"pixels\":[3,4,5]}");
        Assert.True(pixels.Ok, pixels.ToString());
        Assert.Equal([3, 4, 5], _host.RoiEdits[^1].Pixels!);

        var badAction = _client.SendText("{\"command\":\"roi\",\"action\":\"explode\"}");
        Assert.Equal("bad-request", badAction.ErrorCode);
        Assert.Contains("'action'", badAction.ErrorMessage);
        var badPixel = _client.SendText("{\"command\":\"roi\",\"action\":\"add\",\"pixels\":[1,\"a\"]}");
        Assert.Equal("bad-request", badPixel.ErrorCode);
        Assert.Contains("'pixels[1]'", badPixel.ErrorMessage);
        var badId = _client.SendText("{\"command\":\"roi\",\"action\":\"lock\",\"id\":1.5}");
        Assert.Contains("'id'", badId.ErrorMessage);
        Assert.Equal(2, _host.RoiEdits.Count); // malformed requests never reach the host

        var unknown = _client.SendText("{\"command\":\"roi\",\"action\":\"delete\",\"id\":3}");
        Assert.Equal("unknown-roi", unknown.ErrorCode);
        Assert.Contains("field 'id'", unknown.ErrorMessage);
    }

    [ZmqFact]
    public void Set_ValueOutOfRange_AnswersOutOfRangeNamingTheRangeAndChangesNothing()
    {
        _client.Send("start");
        var reply = _client.Send("set", new Dictionary<string, object?> { ["name"] = "detectors.motor.thresholdDff", ["value"] = 9.0 });
        Assert.False(reply.Ok);
        Assert.Equal("out-of-range", reply.ErrorCode);
        Assert.Contains("between 0 and 5", reply.ErrorMessage);
        Assert.Equal(0.5, _host.Threshold);
    }

    [ZmqFact]
    public void Set_UnknownParameter_AnswersUnknownParameterListingTheKnownOnes()
    {
        _client.Send("start");
        var reply = _client.Send("set", new Dictionary<string, object?> { ["name"] = "nope", ["value"] = 1.0 });
        Assert.Equal("unknown-parameter", reply.ErrorCode);
        Assert.Contains("detectors.motor.thresholdDff", reply.ErrorMessage);
    }

    [ZmqFact]
    public void HostRefusals_LoadFailedBusyNotRunning_PassTheirCodesThrough()
    {
        Assert.Equal("load-failed", _client.Send("load", new Dictionary<string, object?> { ["profile"] = "/no/such/profile.yaml", ["experiment"] = "x" }).ErrorCode);
        Assert.Equal("not-running", _client.Send("stop").ErrorCode);
        _client.Send("start");
        Assert.Equal("busy", _client.Send("start").ErrorCode);
        Assert.Equal(1, _server.ErrorCount("busy"));
    }

    [ZmqTheory]
    [InlineData("{\"command\":", "bad-request", "not valid JSON")]
    [InlineData("[1,2,3]", "bad-request", "JSON object")]
    [InlineData("{\"cmd\":\"status\"}", "bad-request", "'command'")]
    [InlineData("{\"command\":7}", "bad-request", "'command'")]
    [InlineData("{\"command\":\"explode\"}", "unknown-command", "known: ping")]
    [InlineData("{\"command\":\"set\",\"name\":\"x\"}", "bad-request", "'value'")]
    [InlineData("{\"command\":\"set\",\"name\":\"x\",\"value\":\"high\"}", "bad-request", "finite number")]
    [InlineData("{\"command\":\"set\",\"name\":3,\"value\":1}", "bad-request", "'name' must be a non-empty string")]
    [InlineData("{\"command\":\"load\",\"profile\":\"p.yaml\"}", "bad-request", "'experiment'")]
    [InlineData("{\"command\":\"stop\",\"reason\":[1]}", "bad-request", "'reason' must be a string")]
    [InlineData("\u00ff\u00fe binary", "bad-request", "not valid JSON")]
    public void BadRequest_AnsweredWithItsCode_AndTheServerKeepsServing(string request, string code, string messagePart)
    {
        var reply = _client.SendText(request);
        Assert.False(reply.Ok);
        Assert.Equal(code, reply.ErrorCode);
        Assert.Contains(messagePart, reply.ErrorMessage);
        Assert.Equal(1, _server.ErrorCount(code));
        Assert.True(_client.Send("ping").Ok);
    }

    [ZmqFact]
    public void Multipart_Request_IsRefusedAndTheReplySocketStaysUsable()
    {
        var reply = _client.SendParts([Encoding.UTF8.GetBytes("{\"command\":\"ping\"}"), Encoding.UTF8.GetBytes("extra")]);
        Assert.Equal("bad-request", reply.ErrorCode);
        Assert.Contains("2 parts", reply.ErrorMessage);
        Assert.True(_client.Send("ping").Ok);
    }

    [ZmqFact]
    public void Oversized_RequestAboveTheLimit_AnswersTooLarge()
    {
        string big = "{\"command\":\"ping\",\"pad\":\"" + new string('x', 10_000) + "\"}";
        var reply = _client.SendText(big);
        Assert.Equal("too-large", reply.ErrorCode);
        Assert.Contains("4096", reply.ErrorMessage);
        Assert.True(_client.Send("ping").Ok);
    }

    [ZmqFact]
    public void Oversized_RequestAboveTheHardLimit_DisconnectsThatClientOnlyAndOthersAreServed()
    {
        using var flooder = new ControlClient(_server.Endpoint, context: _ctx);
        Assert.Throws<TimeoutException>(() => flooder.SendRaw(new byte[200 * 1024], timeoutMs: 300));
        Assert.True(_client.Send("ping").Ok);
    }

    [ZmqFact]
    public void HostThrows_UnexpectedException_AnswersInternalAndKeepsServing()
    {
        _host.ThrowInternal = true;
        var reply = _client.Send("status");
        Assert.Equal("internal", reply.ErrorCode);
        Assert.Contains("simulated host failure", reply.ErrorMessage);
        _host.ThrowInternal = false;
        Assert.True(_client.Send("status").Ok);
    }

    [ZmqFact]
    public void ManyClients_Concurrently_AllGetTheirOwnReplies()
    {
        var tasks = Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            using var c = new ControlClient(_server.Endpoint, context: _ctx);
            for (int i = 0; i < 25; i++)
            {
                var r = c.SendText($"{{\"command\":\"ping\",\"id\":\"{t}-{i}\"}}");
                if (r.Root.GetProperty("id").GetString() != $"{t}-{i}") return false;
            }
            return true;
        })).ToArray();
        Assert.All(tasks, t => Assert.True(t.Result));
        Assert.Equal(100 + 0, _server.Counters["command.ping"]);
    }
}

public sealed class ControlServerTokenTests : IDisposable
{
    private const string Token = "s3cret-token-0123456789";
    private readonly ZmqContext _ctx;
    private readonly ControlServer _server;

    public ControlServerTokenTests()
    {
        if (!ZmqLibrary.IsAvailable(out _)) { _ctx = null!; _server = null!; return; }
        _ctx = new ZmqContext();
        _server = new ControlServer(new FakeRunControl(), new ControlSettings { Endpoint = "tcp://127.0.0.1:*", Token = Token }, _ctx);
    }

    public void Dispose()
    {
        _server?.Dispose();
        _ctx?.Dispose();
    }

    [ZmqFact]
    public void Token_MissingOrWrong_IsUnauthorisedAndCounted_RightTokenIsServed()
    {
        using var anonymous = new ControlClient(_server.Endpoint, context: _ctx);
        var missing = anonymous.Send("start");
        Assert.Equal("unauthorised", missing.ErrorCode);
        Assert.Contains("needs a token", missing.ErrorMessage);

        using var wrong = new ControlClient(_server.Endpoint, "s3cret-token-0123456780", _ctx);
        Assert.Equal("unauthorised", wrong.Send("start").ErrorCode);
        Assert.Equal("unauthorised", wrong.SendText("{\"command\":\"start\",\"token\":42}").ErrorCode);

        using var right = new ControlClient(_server.Endpoint, Token, _ctx);
        Assert.True(right.Send("start").Ok);
        Assert.Equal(3, _server.ErrorCount("unauthorised"));
        Assert.True(_server.RequiresToken);
    }
}
