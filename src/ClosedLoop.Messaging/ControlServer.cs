using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ClosedLoop.Core;
using ClosedLoop.Messaging.Zmq;

namespace ClosedLoop.Messaging;

/// <summary>
/// Remote control on a ZeroMQ REP socket: each request is one JSON object (<c>{"command": "status"}</c>), each reply one
/// JSON object, <c>{"ok": true, …}</c> or <c>{"ok": false, "error": {"code", "message"}}</c> (docs/messaging.md lists
/// the commands and codes). Malformed, unknown, oversized, multipart or unauthorised requests are answered with an
/// error and counted per code; nothing a client sends stops the server. Requests are served one at a time on the
/// server's own thread and passed to an <see cref="IRunControl"/>.
/// </summary>
public sealed class ControlServer : IDisposable
{
    /// <summary>The commands understood.</summary>
    public static readonly IReadOnlyList<string> Commands = ["ping", "status", "parameters", "start", "stop", "set", "load", "roi"];

    private readonly IRunControl _control;
    private readonly ControlSettings _settings;
    private readonly ZmqContext _context;
    private readonly bool _ownsContext;
    private readonly CurveKeyPair? _keys;
    private readonly byte[]? _tokenHash;
    private readonly Thread _thread;
    private readonly Dictionary<string, long> _counters = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private ZmqSocket _socket;
    private volatile bool _stopping;

    /// <summary>Creates the server, binds it and starts serving <paramref name="control"/>.</summary>
    /// <exception cref="SettingException">A setting is out of range, or the endpoint is not loopback and no token is set.</exception>
    /// <exception cref="ZmqNotInstalledException">libzmq is missing.</exception>
    /// <exception cref="ZmqException">The endpoint cannot be bound.</exception>
    public ControlServer(IRunControl control, ControlSettings settings, ZmqContext? context = null)
    {
        settings.Validate();
        _control = control;
        _settings = settings;
        _keys = BusEndpoint.ResolveKeys(settings.CurveKeys, settings.CurveSecretKeyFile);
        _tokenHash = string.IsNullOrEmpty(settings.Token) ? null : SHA256.HashData(Encoding.UTF8.GetBytes(settings.Token));
        _ownsContext = context is null;
        _context = context ?? new ZmqContext();
        try
        {
            _socket = OpenSocket(settings.Endpoint);
            Endpoint = _socket.LastEndpoint;
        }
        catch
        {
            if (_ownsContext) _context.Dispose();
            throw;
        }
        _thread = new Thread(Loop) { IsBackground = true, Name = "control-server" };
        _thread.Start();
    }

    /// <summary>The endpoint bound (with the real port when the setting said <c>*</c>).</summary>
    public string Endpoint { get; }

    /// <summary>CURVE public key clients need, null without CURVE.</summary>
    public string? ServerPublicKey => _keys?.PublicKeyZ85;

    /// <summary>True when requests must carry the token.</summary>
    public bool RequiresToken => _tokenHash is not null;

    /// <summary>Counters: <c>requests</c>, <c>ok</c>, <c>command.NAME</c> and <c>error.CODE</c> for every error code seen.</summary>
    public IReadOnlyDictionary<string, long> Counters
    {
        get { lock (_gate) return new Dictionary<string, long>(_counters); }
    }

    /// <summary>Number of requests answered with error <paramref name="code"/>.</summary>
    public long ErrorCount(string code)
    {
        lock (_gate) return _counters.GetValueOrDefault("error." + code);
    }

    /// <summary>Stops serving and closes the socket (and the context if the server made it).</summary>
    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _thread.Join(TimeSpan.FromSeconds(5));
        _socket.Dispose();
        if (_ownsContext) _context.Dispose();
    }

    private ZmqSocket OpenSocket(string endpoint)
    {
        var s = _context.CreateSocket(ZmqSocketType.Rep);
        try
        {
            s.MaxMessageSizeBytes = _settings.HardLimitBytes;
            s.SendTimeoutMs = 1000;
            s.ReceiveTimeoutMs = 1000;
            if (_keys is not null) s.MakeCurveServer(_keys);
            s.Bind(endpoint);
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    private void Count(string key)
    {
        lock (_gate) _counters[key] = _counters.GetValueOrDefault(key) + 1;
    }

    // --- server thread --------------------------------------------------------------------------------------------

    private void Loop()
    {
        using var msg = new ZmqMessage();
        var buffer = new byte[_settings.MaxRequestBytes];
        while (!_stopping)
        {
            try
            {
                if (!_socket.WaitForInput(100)) continue;
                if (!_socket.TryReceive(msg, wait: false)) continue;
                int parts = 1, length = 0;
                long total = msg.Size;
                if (total <= buffer.Length)
                {
                    msg.Data.CopyTo(buffer);
                    length = (int)total;
                }
                while (msg.More)
                {
                    if (!_socket.TryReceive(msg, wait: true)) break;
                    parts++;
                    total += msg.Size;
                }
                var reply = Handle(buffer.AsSpan(0, length), parts, total);
                if (!_socket.Send(reply)) Rebuild("the reply could not be sent within 1 s");
            }
            catch (ZmqException e) when (e.IsTerminated) { return; }
            catch (Exception e)
            {
                Count("error.internal");
                if (!_stopping) Rebuild(e.Message);
            }
        }
    }

    /// <summary>Replaces a socket left in a bad state (a reply that could not be sent) with a fresh one on the same endpoint.</summary>
    private void Rebuild(string why)
    {
        Count("socketRebuilt");
        _socket.Dispose();
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                _socket = OpenSocket(Endpoint);
                return;
            }
            catch (ZmqException) when (attempt < 50 && !_stopping) { Thread.Sleep(20); }
            catch (ZmqException e)
            {
                throw new InvalidOperationException($"Control server could not reopen {Endpoint} after: {why}: {e.Message}", e);
            }
        }
    }

    /// <summary>Answers one request (the bytes of its first part; <paramref name="parts"/> and <paramref name="totalBytes"/>
    /// describe the whole message). Never throws.</summary>
    internal byte[] Handle(ReadOnlySpan<byte> request, int parts, long totalBytes)
    {
        Count("requests");
        if (totalBytes > _settings.MaxRequestBytes)
            return Error(null, null, "too-large", $"The request is {totalBytes} bytes; the limit is {_settings.MaxRequestBytes} bytes (control.maxRequestBytes).");
        if (parts > 1)
            return Error(null, null, "bad-request", $"A request is one message part holding a JSON object; this one had {parts} parts.");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(request.ToArray(), new JsonDocumentOptions { MaxDepth = 16 }); }
        catch (JsonException e) { return Error(null, null, "bad-request", $"The request is not valid JSON: {e.Message}"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                return Error(null, null, "bad-request", $"The request must be a JSON object like {{\"command\": \"status\"}}, not a {root.ValueKind.ToString().ToLowerInvariant()}.");
            JsonElement? id = root.TryGetProperty("id", out var idValue) && idValue.ValueKind is JsonValueKind.String or JsonValueKind.Number ? idValue : null;
            if (_tokenHash is not null)
            {
                if (!root.TryGetProperty("token", out var token) || token.ValueKind != JsonValueKind.String)
                    return Error(id, null, "unauthorised", "This server needs a token: add \"token\": \"…\" to the request.");
                if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(token.GetString()!)), _tokenHash))
                    return Error(id, null, "unauthorised", "The token is wrong.");
            }
            if (!root.TryGetProperty("command", out var commandValue) || commandValue.ValueKind != JsonValueKind.String)
                return Error(id, null, "bad-request", $"The request needs a field 'command' holding a string: one of {string.Join(", ", Commands)}.");
            string command = commandValue.GetString()!;
            if (!Commands.Contains(command))
                return Error(id, null, "unknown-command", $"Unknown command '{Truncate(command)}'; known: {string.Join(", ", Commands)}.");
            Count("command." + command);
            try
            {
                return Execute(command, root, id);
            }
            catch (RequestException e) { return Error(id, command, "bad-request", e.Message); }
            catch (ControlException e) { return Error(id, command, e.Code, e.Message); }
            catch (SettingException e) { return Error(id, command, e.Setting == "parameter" ? "unknown-parameter" : "out-of-range", e.Message); }
            catch (Exception e) { return Error(id, command, "internal", $"{command} failed: {e.Message}"); }
        }
    }

    private byte[] Execute(string command, JsonElement root, JsonElement? id)
    {
        switch (command)
        {
            case "ping":
                return Ok(id, command, w =>
                {
                    w.WriteBoolean("pong", true);
                    w.WriteNumber("hostNs", MonotonicClock.NowNs());
                    w.WriteString("libzmq", ZmqLibrary.Version.ToString());
                });
            case "status":
                return WithStatus(id, command);
            case "parameters":
                var list = _control.Parameters();
                return Ok(id, command, w =>
                {
                    w.WritePropertyName("parameters");
                    ControlJson.WriteParameters(w, list);
                });
            case "start":
                _control.Start();
                return WithStatus(id, command);
            case "stop":
                string reason = OptionalString(root, "reason") ?? "stopped by remote control";
                _control.Stop(reason);
                return WithStatus(id, command);
            case "set":
                string name = RequiredString(root, "name");
                double value = RequiredNumber(root, "value");
                _control.SetParameter(name, value);
                return Ok(id, command, w =>
                {
                    w.WriteString("name", name);
                    w.WriteNumber("value", value);
                    w.WriteString("applies", "before the next frame");
                });
            case "load":
                string profile = RequiredString(root, "profile");
                string experiment = RequiredString(root, "experiment");
                _control.Load(profile, experiment);
                return WithStatus(id, command);
            case "roi":
                var edit = _control.EditRoi(ReadRoiEdit(root));
                return Ok(id, command, w =>
                {
                    w.WriteNumber("id", edit.Id);
                    w.WriteString("name", edit.Name);
                    w.WriteNumber("areaPx", edit.AreaPx);
                    w.WriteNumber("version", edit.Version);
                    w.WriteString("message", edit.Message);
                    w.WriteString("applies", "before the next frame");
                });
            default:
                throw new RequestException($"Unknown command '{command}'.");
        }
    }

    /// <summary>An ROI edit: <c>{"command": "roi", "action": "lock" | "unlock" | "delete", "id": 3}</c> or
    /// <c>{"command": "roi", "action": "add", "pixels": [...]}</c> / <c>{..., "x": 40, "y": 22, "radius": 5}</c>.</summary>
    private static RoiEditRequest ReadRoiEdit(JsonElement root)
    {
        string action = RequiredString(root, "action");
        var kind = action switch
        {
            "lock" => RoiEditAction.Lock,
            "unlock" => RoiEditAction.Unlock,
            "add" => RoiEditAction.Add,
            "delete" => RoiEditAction.Delete,
            _ => throw new RequestException($"Field 'action' must be one of lock, unlock, add, delete, not \"{Truncate(action)}\"."),
        };
        int? roiId = null;
        if (root.TryGetProperty("id", out var idValue) && kind != RoiEditAction.Add)
        {
            if (idValue.ValueKind != JsonValueKind.Number || !idValue.TryGetInt32(out int v))
                throw new RequestException($"Field 'id' must be a whole number (an ROI id), not {Describe(idValue)}.");
            roiId = v;
        }
        int[]? pixels = null;
        if (root.TryGetProperty("pixels", out var px) && px.ValueKind != JsonValueKind.Null)
        {
            if (px.ValueKind != JsonValueKind.Array) throw new RequestException($"Field 'pixels' must be an array of pixel indices (row * width + col), not {Describe(px)}.");
            if (px.GetArrayLength() > 1 << 20) throw new RequestException("Field 'pixels' holds more than 1,048,576 indices.");
            pixels = new int[px.GetArrayLength()];
            int j = 0;
            foreach (var e in px.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int p))
                    throw new RequestException($"Field 'pixels[{j}]' must be a whole number (row * width + col), not {Describe(e)}.");
                pixels[j++] = p;
            }
        }
        return new RoiEditRequest(kind, roiId, pixels, OptionalNumber(root, "x"), OptionalNumber(root, "y"), OptionalNumber(root, "radius"));
    }

    private static double? OptionalNumber(JsonElement root, string field)
    {
        if (!root.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d))
            throw new RequestException($"Field '{field}' must be a finite number, not {Describe(v)}.");
        return d;
    }

    private byte[] WithStatus(JsonElement? id, string command)
    {
        var status = _control.Status();
        return Ok(id, command, w =>
        {
            w.WritePropertyName("status");
            ControlJson.WriteStatus(w, status);
        });
    }

    private static string RequiredString(JsonElement root, string field)
    {
        if (!root.TryGetProperty(field, out var v)) throw new RequestException($"The request needs a field '{field}' holding a string.");
        if (v.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(v.GetString()))
            throw new RequestException($"Field '{field}' must be a non-empty string, not {Describe(v)}.");
        return v.GetString()!;
    }

    private static string? OptionalString(JsonElement root, string field)
    {
        if (!root.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String) throw new RequestException($"Field '{field}' must be a string, not {Describe(v)}.");
        return v.GetString();
    }

    private static double RequiredNumber(JsonElement root, string field)
    {
        if (!root.TryGetProperty(field, out var v)) throw new RequestException($"The request needs a field '{field}' holding a number.");
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d))
            throw new RequestException($"Field '{field}' must be a finite number, not {Describe(v)}.");
        return d;
    }

    private static string Describe(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => $"the string \"{Truncate(v.GetString()!)}\"",
        JsonValueKind.Number => $"the number {Truncate(v.GetRawText())}",
        JsonValueKind.True or JsonValueKind.False => $"the boolean {v.GetRawText()}",
        JsonValueKind.Null => "null",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => v.ValueKind.ToString(),
    };

    private static string Truncate(string s) => s.Length <= 64 ? s : s[..64] + "…";

    private byte[] Ok(JsonElement? id, string command, Action<Utf8JsonWriter> body)
    {
        Count("ok");
        return Write(w =>
        {
            w.WriteBoolean("ok", true);
            w.WriteString("command", command);
            if (id is { } i) { w.WritePropertyName("id"); i.WriteTo(w); }
            body(w);
        });
    }

    private byte[] Error(JsonElement? id, string? command, string code, string message)
    {
        Count("error." + code);
        return Write(w =>
        {
            w.WriteBoolean("ok", false);
            if (command is not null) w.WriteString("command", command);
            if (id is { } i) { w.WritePropertyName("id"); i.WriteTo(w); }
            w.WriteStartObject("error");
            w.WriteString("code", code);
            w.WriteString("message", message);
            w.WriteEndObject();
        });
    }

    private static byte[] Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A request that is well-formed JSON but lacks a field or has one of the wrong type.</summary>
    private sealed class RequestException(string message) : Exception(message);
}
