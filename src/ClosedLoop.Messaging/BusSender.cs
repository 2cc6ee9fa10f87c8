using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using ClosedLoop.Messaging.Zmq;

namespace ClosedLoop.Messaging;

/// <summary>
/// Writes bus messages — [topic, header JSON, payload] — on a PUB socket without waiting, numbering each topic's
/// messages (<c>seq</c>) so subscribers can count what they missed. One thread only. After warm-up a message costs
/// no managed allocation: the header is written into a reused buffer.
/// </summary>
internal sealed class BusSender
{
    private readonly ZmqSocket _socket;
    private readonly byte[][] _topicBytes;
    private readonly long[] _seq = new long[Topics.All.Count];
    private readonly ArrayBufferWriter<byte> _header = new(4096);
    private readonly Utf8JsonWriter _json;
    private TopicId _topic;
    private long _sent, _bytes, _failed;

    internal static readonly JsonEncodedText TypeName = JsonEncodedText.Encode("type");
    internal static readonly JsonEncodedText SeqName = JsonEncodedText.Encode("seq");
    private static readonly JsonEncodedText[] TopicValues = Topics.All.Select(t => JsonEncodedText.Encode(t)).ToArray();

    public BusSender(ZmqSocket socket)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("The event bus sends little-endian payloads and runs on little-endian machines only.");
        _socket = socket;
        _topicBytes = Topics.All.Select(t => Encoding.UTF8.GetBytes(t)).ToArray();
        _json = new Utf8JsonWriter(_header, new JsonWriterOptions { SkipValidation = true, Indented = false });
    }

    /// <summary>Messages handed to libzmq (a PUB socket may still drop them for a subscriber at its high-water mark).</summary>
    public long Sent => Volatile.Read(ref _sent);

    /// <summary>Bytes handed to libzmq (all parts).</summary>
    public long Bytes => Volatile.Read(ref _bytes);

    /// <summary>Messages libzmq refused without waiting (would block).</summary>
    public long Failed => Volatile.Read(ref _failed);

    /// <summary>Starts the header of a message on <paramref name="topic"/>: writes <c>type</c> and the next <c>seq</c>;
    /// the caller adds fields and calls <c>Send</c>.</summary>
    public Utf8JsonWriter Begin(TopicId topic)
    {
        _topic = topic;
        _header.ResetWrittenCount();
        _json.Reset(_header);
        _json.WriteStartObject();
        _json.WriteString(TypeName, TopicValues[(int)topic]);
        _json.WriteNumber(SeqName, ++_seq[(int)topic]);
        return _json;
    }

    /// <summary>Ends the header begun by <see cref="Begin"/> and sends the three parts; false when libzmq would have
    /// had to wait (counted in <see cref="Failed"/>).</summary>
    public bool Send(ReadOnlySpan<byte> payload)
    {
        _json.WriteEndObject();
        _json.Flush();
        var topic = _topicBytes[(int)_topic];
        if (!_socket.TrySend(topic, more: true))
        {
            Interlocked.Increment(ref _failed);
            return false;
        }
        // After the first part of a PUB message the remaining parts are always accepted (delivery is all or nothing).
        _socket.TrySend(_header.WrittenSpan, more: true);
        _socket.TrySend(payload);
        Interlocked.Increment(ref _sent);
        Interlocked.Add(ref _bytes, topic.Length + _header.WrittenCount + payload.Length);
        return true;
    }

    /// <summary>Sends a float32 array as the payload.</summary>
    public bool Send(ReadOnlySpan<float> payload) => Send(MemoryMarshal.AsBytes(payload));

    /// <summary>Sends a uint16 array as the payload.</summary>
    public bool Send(ReadOnlySpan<ushort> payload) => Send(MemoryMarshal.AsBytes(payload));
}
