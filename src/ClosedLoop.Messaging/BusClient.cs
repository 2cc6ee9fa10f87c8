using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using ClosedLoop.Messaging.Zmq;

namespace ClosedLoop.Messaging;

/// <summary>One message from the event bus: topic, parsed header and raw payload.</summary>
public sealed class BusMessage
{
    internal BusMessage(string topic, JsonElement header, byte[] payload)
    {
        Topic = topic;
        Header = header;
        Payload = payload;
    }

    /// <summary>Topic (first part).</summary>
    public string Topic { get; }

    /// <summary>Header (second part), a JSON object.</summary>
    public JsonElement Header { get; }

    /// <summary>Payload (third part): little-endian numbers as the header's <c>dtype</c> and <c>shape</c> say, JSON
    /// for <c>run.start</c>/<c>run.info</c>, empty for events and status.</summary>
    public byte[] Payload { get; }

    /// <summary>Header field <c>seq</c>: this topic's message number (1, 2, …) since the publisher started.</summary>
    public long Seq => Header.TryGetProperty("seq", out var v) ? v.GetInt64() : 0;

    /// <summary>Header field <c>frameIndex</c>, -1 when absent.</summary>
    public long FrameIndex => Header.TryGetProperty("frameIndex", out var v) ? v.GetInt64() : -1;

    /// <summary>A string header field, null when absent.</summary>
    public string? GetString(string field) => Header.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>The payload as float32 values (traces, rates, noise, raw).</summary>
    public float[] AsFloat32() => MemoryMarshal.Cast<byte, float>(Payload).ToArray();

    /// <summary>The payload as uint16 values (frames).</summary>
    public ushort[] AsUInt16() => MemoryMarshal.Cast<byte, ushort>(Payload).ToArray();

    /// <summary>The payload parsed as JSON (run.start, run.info).</summary>
    public JsonDocument PayloadJson() => JsonDocument.Parse(Payload);
}

/// <summary>
/// A subscriber to the event bus for tests and other .NET programs: connects a SUB socket, filters by topic prefix,
/// receives whole messages and counts, per topic, the messages it missed (gaps in <c>seq</c>, e.g. dropped by
/// libzmq because this subscriber read too slowly). Not thread-safe.
/// </summary>
public sealed class BusClient : IDisposable
{
    private readonly ZmqContext _context;
    private readonly bool _ownsContext;
    private readonly ZmqSocket _socket;
    private readonly List<byte[]> _parts = new(3);
    private readonly Dictionary<string, long> _lastSeq = new(StringComparer.Ordinal);
    private long _missed, _received, _malformed;

    /// <summary>Connects to <paramref name="endpoint"/> and subscribes to <paramref name="topics"/> (prefixes; none =
    /// everything). <paramref name="serverPublicKey"/>: the publisher's CURVE public key when it uses CURVE.</summary>
    public BusClient(string endpoint, IEnumerable<string>? topics = null, ZmqContext? context = null, string? serverPublicKey = null, int receiveHighWaterMark = 10_000)
    {
        BusEndpoint.Validate("bus.client.endpoint", endpoint);
        _ownsContext = context is null;
        _context = context ?? new ZmqContext();
        _socket = _context.CreateSocket(ZmqSocketType.Sub);
        _socket.ReceiveHighWaterMark = receiveHighWaterMark;
        if (serverPublicKey is not null) _socket.MakeCurveClient(serverPublicKey, CurveKeyPair.Generate());
        var list = topics?.ToList() ?? [];
        if (list.Count == 0) list.Add("");
        foreach (var t in list) _socket.Subscribe(t);
        _socket.Connect(endpoint);
    }

    /// <summary>Messages received.</summary>
    public long Received => _received;

    /// <summary>Messages missed, from gaps in each topic's <c>seq</c>.</summary>
    public long Missed => _missed;

    /// <summary>Messages that were not [topic, JSON header, payload] (skipped).</summary>
    public long Malformed => _malformed;

    /// <summary>Receives the next message, waiting up to <paramref name="timeoutMs"/> (-1 = forever); null when none came.</summary>
    public BusMessage? Receive(int timeoutMs)
    {
        long deadline = Environment.TickCount64 + Math.Max(timeoutMs, 0);
        while (true)
        {
            int wait = timeoutMs < 0 ? -1 : (int)Math.Max(deadline - Environment.TickCount64, 0);
            if (!_socket.TryReceiveMultipart(_parts, wait)) return null;
            var m = Parse();
            if (m is not null) return m;
            if (timeoutMs >= 0 && Environment.TickCount64 >= deadline) return null;
        }
    }

    /// <summary>Receives until a message on <paramref name="topic"/> (exact) arrives or <paramref name="timeoutMs"/> passes.</summary>
    public BusMessage? ReceiveTopic(string topic, int timeoutMs)
    {
        long deadline = Environment.TickCount64 + timeoutMs;
        while (true)
        {
            var m = Receive((int)Math.Max(deadline - Environment.TickCount64, 0));
            if (m is null) return null;
            if (m.Topic == topic) return m;
        }
    }

    private BusMessage? Parse()
    {
        if (_parts.Count != 3) { _malformed++; return null; }
        JsonElement header;
        try
        {
            using var doc = JsonDocument.Parse(_parts[1]);
            header = doc.RootElement.Clone();
        }
        catch (JsonException) { _malformed++; return null; }
        if (header.ValueKind != JsonValueKind.Object) { _malformed++; return null; }
        var m = new BusMessage(Encoding.UTF8.GetString(_parts[0]), header, _parts[2]);
        _received++;
        long seq = m.Seq;
        if (seq > 0)
        {
            if (_lastSeq.TryGetValue(m.Topic, out long last) && seq > last + 1) _missed += seq - last - 1;
            _lastSeq[m.Topic] = seq;
        }
        return m;
    }

    /// <summary>Closes the socket (and the context if the client made it).</summary>
    public void Dispose()
    {
        _socket.Dispose();
        if (_ownsContext) _context.Dispose();
    }
}
