using System.Text;
using System.Text.Json;
using ClosedLoop.Messaging.Zmq;

namespace ClosedLoop.Messaging;

/// <summary>A reply of the control server.</summary>
public sealed class ControlReply
{
    internal ControlReply(JsonElement root) => Root = root;

    /// <summary>The whole reply.</summary>
    public JsonElement Root { get; }

    /// <summary>True when the request was honoured.</summary>
    public bool Ok => Root.TryGetProperty("ok", out var v) && v.ValueKind == JsonValueKind.True;

    /// <summary>Error code when not <see cref="Ok"/> (bad-request, unknown-command, unauthorised, too-large, busy, …).</summary>
    public string? ErrorCode => Root.TryGetProperty("error", out var e) && e.TryGetProperty("code", out var c) ? c.GetString() : null;

    /// <summary>Error message when not <see cref="Ok"/>.</summary>
    public string? ErrorMessage => Root.TryGetProperty("error", out var e) && e.TryGetProperty("message", out var m) ? m.GetString() : null;

    /// <inheritdoc />
    public override string ToString() => Root.GetRawText();
}

/// <summary>
/// A client of the <see cref="ControlServer"/> (REQ socket) for tests and other .NET programs. A request that gets no
/// reply in time throws <see cref="TimeoutException"/> and the socket is replaced, so the next request works.
/// Not thread-safe.
/// </summary>
public sealed class ControlClient : IDisposable
{
    private readonly ZmqContext _context;
    private readonly bool _ownsContext;
    private readonly string _endpoint;
    private readonly string? _token;
    private readonly string? _serverPublicKey;
    private readonly List<byte[]> _parts = new(1);
    private ZmqSocket _socket;

    /// <summary>Connects to <paramref name="endpoint"/>; <paramref name="token"/> is added to every request made
    /// with <see cref="Send(string, IReadOnlyDictionary{string, object?}?, int)"/>.</summary>
    public ControlClient(string endpoint, string? token = null, ZmqContext? context = null, string? serverPublicKey = null)
    {
        _endpoint = BusEndpoint.Validate("control.client.endpoint", endpoint);
        _token = token;
        _serverPublicKey = serverPublicKey;
        _ownsContext = context is null;
        _context = context ?? new ZmqContext();
        _socket = Open();
    }

    private ZmqSocket Open()
    {
        var s = _context.CreateSocket(ZmqSocketType.Req);
        if (_serverPublicKey is not null) s.MakeCurveClient(_serverPublicKey, CurveKeyPair.Generate());
        s.Connect(_endpoint);
        return s;
    }

    /// <summary>Sends <paramref name="command"/> with <paramref name="fields"/> (and the token) and returns the reply.</summary>
    public ControlReply Send(string command, IReadOnlyDictionary<string, object?>? fields = null, int timeoutMs = 5000)
    {
        var request = new Dictionary<string, object?> { ["command"] = command };
        if (_token is not null) request["token"] = _token;
        if (fields is not null) foreach (var (k, v) in fields) request[k] = v;
        return SendRaw(JsonSerializer.SerializeToUtf8Bytes(request, ControlClientJson.Default.DictionaryStringObject), timeoutMs);
    }

    /// <summary>Sends raw bytes as the request (for tests of malformed input) and returns the reply.</summary>
    public ControlReply SendRaw(ReadOnlySpan<byte> request, int timeoutMs = 5000) => SendParts([request.ToArray()], timeoutMs);

    /// <summary>Sends a multipart request (for tests) and returns the reply.</summary>
    public ControlReply SendParts(IReadOnlyList<byte[]> parts, int timeoutMs = 5000)
    {
        for (int i = 0; i < parts.Count; i++) _socket.Send(parts[i], more: i < parts.Count - 1);
        if (!_socket.TryReceiveMultipart(_parts, timeoutMs))
        {
            _socket.Dispose(); // a REQ socket waiting for a lost reply cannot send again: start afresh
            _socket = Open();
            throw new TimeoutException($"No reply from the control server at {_endpoint} within {timeoutMs} ms.");
        }
        using var doc = JsonDocument.Parse(_parts[0]);
        return new ControlReply(doc.RootElement.Clone());
    }

    /// <summary>Sends UTF-8 text as the request.</summary>
    public ControlReply SendText(string request, int timeoutMs = 5000) => SendRaw(Encoding.UTF8.GetBytes(request), timeoutMs);

    /// <summary>Closes the socket (and the context if the client made it).</summary>
    public void Dispose()
    {
        _socket.Dispose();
        if (_ownsContext) _context.Dispose();
    }
}
