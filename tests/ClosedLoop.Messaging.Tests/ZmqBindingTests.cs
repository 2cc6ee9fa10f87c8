using System.Text;
using ClosedLoop.Core;
using ClosedLoop.Messaging.Zmq;

namespace ClosedLoop.Messaging.Tests;

public class ZmqBindingTests
{
    [ZmqFact]
    public void Version_LoadedLibrary_IsAtLeastTheMinimum()
    {
        Assert.True(ZmqLibrary.Version >= ZmqLibrary.MinimumVersion, $"libzmq {ZmqLibrary.Version}");
    }

    [Fact]
    public void Probe_MissingLibrary_NamesItAndSaysHowToInstall()
    {
        var (handle, error) = ZmqLibrary.Probe(["libzmq-does-not-exist.so.99"]);
        Assert.Equal(0, handle);
        Assert.NotNull(error);
        Assert.Contains("libzmq-does-not-exist.so.99", error!.Message);
        Assert.Contains("apt-get install libzmq5", error.Message);
        Assert.Contains("build/setup-native.sh zmq", error.Message);
    }

    [ZmqTheory]
    [InlineData("inproc://binding-roundtrip")]
    [InlineData("tcp://127.0.0.1:*")]
    public void PubSub_MultipartMessage_ArrivesWholeAndInOrder(string endpoint)
    {
        using var ctx = new ZmqContext();
        using var pub = ctx.CreateSocket(ZmqSocketType.Pub);
        string bound = pub.Bind(endpoint);
        using var sub = ctx.CreateSocket(ZmqSocketType.Sub);
        sub.Subscribe("traces");
        sub.Connect(bound);

        var parts = new List<byte[]>();
        var payload = new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 };
        // A subscription takes a moment to reach the publisher: publish until the first message arrives.
        Assert.True(Wait.Until(() =>
        {
            pub.TrySend("other"u8, more: true);
            pub.TrySend("{}"u8);
            pub.TrySend("traces"u8, more: true);
            pub.TrySend("{\"seq\":1}"u8, more: true);
            pub.TrySend(payload);
            return sub.TryReceiveMultipart(parts, 10);
        }));
        Assert.Equal(3, parts.Count);
        Assert.Equal("traces", Encoding.UTF8.GetString(parts[0]));
        Assert.Equal("{\"seq\":1}", Encoding.UTF8.GetString(parts[1]));
        Assert.Equal(payload, parts[2]);
    }

    [ZmqFact]
    public void Bind_PortAlreadyInUse_ThrowsWithLibzmqsErrorText()
    {
        using var ctx = new ZmqContext();
        using var a = ctx.CreateSocket(ZmqSocketType.Pub);
        string bound = a.Bind("tcp://127.0.0.1:*");
        using var b = ctx.CreateSocket(ZmqSocketType.Pub);
        var e = Assert.Throws<ZmqException>(() => b.Bind(bound));
        Assert.Contains(bound, e.Message);
        Assert.Contains("in use", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.NotEqual(0, e.ErrorCode);
    }

    [ZmqFact]
    public void ReceiveWithTimeout_NothingSent_ReturnsFalseInsteadOfBlocking()
    {
        using var ctx = new ZmqContext();
        using var rep = ctx.CreateSocket(ZmqSocketType.Rep);
        rep.Bind("inproc://nothing");
        var parts = new List<byte[]>();
        Assert.False(rep.TryReceiveMultipart(parts, 20));
        using var msg = new ZmqMessage();
        Assert.False(rep.TryReceive(msg, wait: false));
    }

    [ZmqFact]
    public void Options_SetAndRead_RoundTrip()
    {
        using var ctx = new ZmqContext();
        using var s = ctx.CreateSocket(ZmqSocketType.Rep);
        s.SendHighWaterMark = 123;
        s.ReceiveHighWaterMark = 456;
        s.MaxMessageSizeBytes = 65536;
        s.ReceiveTimeoutMs = 250;
        s.Immediate = true;
        Assert.Equal(123, s.SendHighWaterMark);
        Assert.Equal(456, s.ReceiveHighWaterMark);
        Assert.Equal(65536, s.MaxMessageSizeBytes);
        Assert.Equal(250, s.ReceiveTimeoutMs);
        Assert.True(s.Immediate);
        Assert.Equal(0, s.LingerMs); // the binding's default: closing never hangs
        Assert.Equal("NULL", s.Mechanism);
    }

    [ZmqFact]
    public void Z85_KnownVector_EncodesAndDecodes()
    {
        // The example from the Z85 specification (ZeroMQ RFC 32).
        byte[] data = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        Assert.Equal("HelloWorld", Z85.Encode(data));
        Assert.Equal(data, Z85.Decode("HelloWorld"));
        Assert.Throws<SettingException>(() => Z85.Decode("Hello"+ "Wor"));
    }

    [ZmqFact]
    public void CurveKeyPair_SavedAndLoaded_DerivesTheSamePublicKey()
    {
        var keys = CurveKeyPair.Generate();
        Assert.Equal(40, keys.PublicKeyZ85.Length);
        Assert.Equal(keys.PublicKeyZ85, CurveKeyPair.FromSecret(keys.SecretKeyZ85).PublicKeyZ85);
        string path = Path.Combine(Path.GetTempPath(), $"cl-curve-{Guid.NewGuid():N}.key");
        try
        {
            keys.Save(path);
            var loaded = CurveKeyPair.Load(path);
            Assert.Equal(keys.PublicKeyZ85, loaded.PublicKeyZ85);
            if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.Contains(keys.PublicKeyZ85, File.ReadAllText(path + ".pub"));
            Assert.DoesNotContain(keys.SecretKeyZ85, File.ReadAllText(path + ".pub"));
        }
        finally
        {
            File.Delete(path);
            File.Delete(path + ".pub");
        }
        Assert.Throws<SettingException>(() => CurveKeyPair.FromSecret("too-short"));
    }

    [ZmqFact]
    public void Curve_RightServerKey_DeliversAndWrongKeyDeliversNothing()
    {
        var server = CurveKeyPair.Generate();
        using var ctx = new ZmqContext();
        using var pub = ctx.CreateSocket(ZmqSocketType.Pub);
        pub.MakeCurveServer(server);
        string bound = pub.Bind("tcp://127.0.0.1:*");
        Assert.Equal("CURVE", pub.Mechanism);

        using var good = ctx.CreateSocket(ZmqSocketType.Sub);
        good.MakeCurveClient(server.PublicKeyZ85, CurveKeyPair.Generate());
        good.Subscribe("");
        good.Connect(bound);
        using var bad = ctx.CreateSocket(ZmqSocketType.Sub);
        bad.MakeCurveClient(CurveKeyPair.Generate().PublicKeyZ85, CurveKeyPair.Generate());
        bad.Subscribe("");
        bad.Connect(bound);
        using var plain = ctx.CreateSocket(ZmqSocketType.Sub);
        plain.Subscribe("");
        plain.Connect(bound);

        var parts = new List<byte[]>();
        Assert.True(Wait.Until(() =>
        {
            pub.TrySend("secret"u8);
            return good.TryReceiveMultipart(parts, 10);
        }));
        Assert.Equal("secret", Encoding.UTF8.GetString(parts[0]));
        for (int i = 0; i < 20; i++) { pub.TrySend("secret"u8); Thread.Sleep(5); }
        Assert.False(bad.TryReceiveMultipart(parts, 50));
        Assert.False(plain.TryReceiveMultipart(parts, 50));
    }

    [ZmqFact]
    public void ContextDispose_SocketsLeftOpen_ClosesThemInsteadOfHanging()
    {
        var ctx = new ZmqContext();
        var s = ctx.CreateSocket(ZmqSocketType.Pub);
        s.Bind("tcp://127.0.0.1:*");
        ctx.Dispose();
        Assert.True(s.IsClosed);
    }
}
