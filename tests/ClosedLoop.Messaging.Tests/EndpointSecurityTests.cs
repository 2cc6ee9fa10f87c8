using ClosedLoop.Core;
using ClosedLoop.Messaging.Zmq;

namespace ClosedLoop.Messaging.Tests;

public class EndpointSecurityTests
{
    [Theory]
    [InlineData("tcp://127.0.0.1:5556", true)]
    [InlineData("tcp://127.3.2.1:*", true)]
    [InlineData("tcp://localhost:5556", true)]
    [InlineData("tcp://[::1]:5556", true)]
    [InlineData("tcp://lo:5556", true)]
    [InlineData("ipc:///tmp/closedloop.bus", true)]
    [InlineData("inproc://bus", true)]
    [InlineData("tcp://*:5556", false)]
    [InlineData("tcp://0.0.0.0:5556", false)]
    [InlineData("tcp://192.168.1.20:5556", false)]
    [InlineData("tcp://eth0:5556", false)]
    public void IsLocal_Endpoint_KnowsWhetherOtherMachinesCanReachIt(string endpoint, bool local)
    {
        Assert.Equal(local, BusEndpoint.IsLocal(endpoint));
    }

    [Theory]
    [InlineData("")]
    [InlineData("127.0.0.1:5556")]
    [InlineData("tcp://127.0.0.1")]
    [InlineData("tcp://127.0.0.1:99999")]
    [InlineData("udp://127.0.0.1:5556")]
    public void Validate_MalformedEndpoint_NamesTheSetting(string endpoint)
    {
        var e = Assert.Throws<SettingException>(() => BusEndpoint.Validate("bus.publish.endpoint", endpoint));
        Assert.Equal("bus.publish.endpoint", e.Setting);
    }

    [ZmqFact]
    public void Publisher_NonLoopbackWithoutCurveKeys_IsRefusedBeforeBinding()
    {
        var e = Assert.Throws<SettingException>(() => new EventBusPublisher(new EventBusSettings { Endpoint = "tcp://*:5599" }));
        Assert.Equal("bus.publish.endpoint", e.Setting);
        Assert.Contains("CURVE", e.Message);
    }

    [ZmqFact]
    public void Publisher_NonLoopbackWithCurveKeys_BindsAndReportsItsPublicKey()
    {
        var keys = CurveKeyPair.Generate();
        using var pub = new EventBusPublisher(new EventBusSettings { Endpoint = "tcp://0.0.0.0:*", CurveKeys = keys });
        Assert.Equal(keys.PublicKeyZ85, pub.ServerPublicKey);
        Assert.StartsWith("tcp://0.0.0.0:", pub.Endpoint);
    }

    [ZmqFact]
    public void ControlServer_NonLoopbackWithoutToken_IsRefused()
    {
        var e = Assert.Throws<SettingException>(() => new ControlServer(new FakeRunControl(), new ControlSettings { Endpoint = "tcp://*:5598" }));
        Assert.Equal("control.endpoint", e.Setting);
        Assert.Contains("token", e.Message);
    }

    [ZmqFact]
    public void ControlServer_ShortToken_IsRefused()
    {
        var e = Assert.Throws<SettingException>(() => new ControlServer(new FakeRunControl(), new ControlSettings { Endpoint = "tcp://127.0.0.1:*", Token = "abc" }));
        Assert.Equal("control.token", e.Setting);
    }

    [ZmqFact]
    public void ControlServer_CurveAndToken_ServesAnEncryptedClientWithTheToken()
    {
        var keys = CurveKeyPair.Generate();
        const string token = "0123456789abcdef0123";
        using var server = new ControlServer(new FakeRunControl(), new ControlSettings { Endpoint = "tcp://0.0.0.0:*", Token = token, CurveKeys = keys });
        string port = server.Endpoint[(server.Endpoint.LastIndexOf(':') + 1)..];
        using var client = new ControlClient($"tcp://127.0.0.1:{port}", token, serverPublicKey: keys.PublicKeyZ85);
        var reply = client.Send("ping");
        Assert.True(reply.Ok, reply.ToString());
        using var noToken = new ControlClient($"tcp://127.0.0.1:{port}", serverPublicKey: keys.PublicKeyZ85);
        Assert.Equal("unauthorised", noToken.Send("ping").ErrorCode);
    }

    [ZmqFact]
    public void CurveSecretKeyFile_Missing_NamesTheSetting()
    {
        var e = Assert.Throws<SettingException>(() => new EventBusPublisher(new EventBusSettings { Endpoint = "tcp://*:5597", CurveSecretKeyFile = "/nonexistent/bus.key" }));
        Assert.Equal("curve.secretKeyFile", e.Setting);
    }
}
