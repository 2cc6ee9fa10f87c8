using System.Text;

namespace ClosedLoop.Messaging.Zmq;

/// <summary>
/// A libzmq socket. Like libzmq's own, it is not thread-safe: one thread uses it at a time (handing it to another
/// thread after a join is fine). Sends and receives retry when a signal interrupts them; a would-block result is a
/// <c>false</c> return, any other failure a <see cref="ZmqException"/> naming the call and libzmq's error text.
/// </summary>
public sealed unsafe class ZmqSocket : IDisposable
{
    private readonly SocketHandle _handle;

    internal ZmqSocket(SocketHandle handle, ZmqSocketType type)
    {
        _handle = handle;
        Type = type;
    }

    /// <summary>Socket type.</summary>
    public ZmqSocketType Type { get; }

    /// <summary>True once closed.</summary>
    public bool IsClosed => _handle.IsClosed;

    private nint H
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle.DangerousGetHandle();
        }
    }

    // --- options --------------------------------------------------------------------------------------------------

    /// <summary>Sets an int option (option numbers as in zmq.h).</summary>
    public void SetOption(int option, int value)
    {
        if (NativeMethods.zmq_setsockopt(H, option, &value, sizeof(int)) != 0) throw ZmqException.FromErrno($"zmq_setsockopt({option})");
    }

    /// <summary>Sets an int64 option.</summary>
    public void SetOption(int option, long value)
    {
        if (NativeMethods.zmq_setsockopt(H, option, &value, sizeof(long)) != 0) throw ZmqException.FromErrno($"zmq_setsockopt({option})");
    }

    /// <summary>Sets a binary option.</summary>
    public void SetOption(int option, ReadOnlySpan<byte> value)
    {
        fixed (byte* p = value)
            if (NativeMethods.zmq_setsockopt(H, option, p, (nuint)value.Length) != 0) throw ZmqException.FromErrno($"zmq_setsockopt({option})");
    }

    /// <summary>Reads an int option.</summary>
    public int GetInt(int option)
    {
        int value = 0;
        nuint size = sizeof(int);
        if (NativeMethods.zmq_getsockopt(H, option, &value, &size) != 0) throw ZmqException.FromErrno($"zmq_getsockopt({option})");
        return value;
    }

    /// <summary>Reads an int64 option.</summary>
    public long GetLong(int option)
    {
        long value = 0;
        nuint size = sizeof(long);
        if (NativeMethods.zmq_getsockopt(H, option, &value, &size) != 0) throw ZmqException.FromErrno($"zmq_getsockopt({option})");
        return value;
    }

    /// <summary>Reads a string option.</summary>
    public string GetString(int option)
    {
        byte* buffer = stackalloc byte[1024];
        nuint size = 1024;
        if (NativeMethods.zmq_getsockopt(H, option, buffer, &size) != 0) throw ZmqException.FromErrno($"zmq_getsockopt({option})");
        int n = (int)size;
        while (n > 0 && buffer[n - 1] == 0) n--;
        return Encoding.UTF8.GetString(buffer, n);
    }

    /// <summary>Messages queued per peer before the socket drops (PUB) or blocks (others) on sending (ZMQ_SNDHWM; 0 = no limit).</summary>
    public int SendHighWaterMark
    {
        get => GetInt(ZmqConstants.SendHighWaterMark);
        set => SetOption(ZmqConstants.SendHighWaterMark, ClosedLoop.Core.Check.InRange("zmq.sendHighWaterMark", value, 0, 10_000_000));
    }

    /// <summary>Messages queued on receiving before the peer's messages are held back or dropped (ZMQ_RCVHWM).</summary>
    public int ReceiveHighWaterMark
    {
        get => GetInt(ZmqConstants.ReceiveHighWaterMark);
        set => SetOption(ZmqConstants.ReceiveHighWaterMark, ClosedLoop.Core.Check.InRange("zmq.receiveHighWaterMark", value, 0, 10_000_000));
    }

    /// <summary>How long unsent messages are kept after close, ms (ZMQ_LINGER; -1 = forever).</summary>
    public int LingerMs
    {
        get => GetInt(ZmqConstants.Linger);
        set => SetOption(ZmqConstants.Linger, value);
    }

    /// <summary>Longest wait of a blocking receive, ms (ZMQ_RCVTIMEO; -1 = forever).</summary>
    public int ReceiveTimeoutMs
    {
        get => GetInt(ZmqConstants.ReceiveTimeout);
        set => SetOption(ZmqConstants.ReceiveTimeout, value);
    }

    /// <summary>Longest wait of a blocking send, ms (ZMQ_SNDTIMEO; -1 = forever).</summary>
    public int SendTimeoutMs
    {
        get => GetInt(ZmqConstants.SendTimeout);
        set => SetOption(ZmqConstants.SendTimeout, value);
    }

    /// <summary>Largest message a peer may send, bytes; a peer that sends more is disconnected (ZMQ_MAXMSGSIZE; -1 = no limit).</summary>
    public long MaxMessageSizeBytes
    {
        get => GetLong(ZmqConstants.MaxMessageSize);
        set => SetOption(ZmqConstants.MaxMessageSize, value);
    }

    /// <summary>Queue messages only to completed connections (ZMQ_IMMEDIATE).</summary>
    public bool Immediate
    {
        get => GetInt(ZmqConstants.Immediate) != 0;
        set => SetOption(ZmqConstants.Immediate, value ? 1 : 0);
    }

    /// <summary>The endpoint last bound or connected, with the real port when bound to port <c>*</c> (ZMQ_LAST_ENDPOINT).</summary>
    public string LastEndpoint => GetString(ZmqConstants.LastEndpoint);

    /// <summary>Security mechanism in use: "NULL", "PLAIN", "CURVE" or "GSSAPI".</summary>
    public string Mechanism => GetInt(ZmqConstants.Mechanism) switch { 0 => "NULL", 1 => "PLAIN", 2 => "CURVE", 3 => "GSSAPI", var m => m.ToString(System.Globalization.CultureInfo.InvariantCulture) };

    /// <summary>SUB: receive messages whose topic starts with <paramref name="prefix"/> ("" = everything).</summary>
    public void Subscribe(string prefix) => SetOption(ZmqConstants.Subscribe, Encoding.UTF8.GetBytes(prefix));

    /// <summary>SUB: stop receiving <paramref name="prefix"/>.</summary>
    public void Unsubscribe(string prefix) => SetOption(ZmqConstants.Unsubscribe, Encoding.UTF8.GetBytes(prefix));

    /// <summary>Makes this socket a CURVE server with <paramref name="keys"/> (set before binding).</summary>
    public void MakeCurveServer(CurveKeyPair keys)
    {
        SetOption(ZmqConstants.CurveServer, 1);
        SetOption(ZmqConstants.CurveSecretKey, keys.SecretKeyBytes);
    }

    /// <summary>Makes this socket a CURVE client of a server whose public key is <paramref name="serverPublicKeyZ85"/>,
    /// with its own <paramref name="clientKeys"/> (set before connecting).</summary>
    public void MakeCurveClient(string serverPublicKeyZ85, CurveKeyPair clientKeys)
    {
        SetOption(ZmqConstants.CurveServerKey, Z85.DecodeKey(serverPublicKeyZ85, "curve.serverPublicKey"));
        SetOption(ZmqConstants.CurvePublicKey, clientKeys.PublicKeyBytes);
        SetOption(ZmqConstants.CurveSecretKey, clientKeys.SecretKeyBytes);
    }

    // --- endpoints ------------------------------------------------------------------------------------------------

    /// <summary>Binds to <paramref name="endpoint"/> (e.g. <c>tcp://127.0.0.1:5556</c>, <c>tcp://127.0.0.1:*</c>,
    /// <c>inproc://name</c>); returns the endpoint actually bound (with the port chosen for <c>*</c>).</summary>
    public string Bind(string endpoint)
    {
        if (NativeMethods.zmq_bind(H, endpoint) != 0) throw ZmqException.FromErrno($"zmq_bind('{endpoint}')");
        return LastEndpoint;
    }

    /// <summary>Stops listening on <paramref name="endpoint"/>.</summary>
    public void Unbind(string endpoint)
    {
        if (NativeMethods.zmq_unbind(H, endpoint) != 0) throw ZmqException.FromErrno($"zmq_unbind('{endpoint}')");
    }

    /// <summary>Connects to <paramref name="endpoint"/> (libzmq connects in the background and reconnects on its own).</summary>
    public void Connect(string endpoint)
    {
        if (NativeMethods.zmq_connect(H, endpoint) != 0) throw ZmqException.FromErrno($"zmq_connect('{endpoint}')");
    }

    /// <summary>Disconnects from <paramref name="endpoint"/>.</summary>
    public void Disconnect(string endpoint)
    {
        if (NativeMethods.zmq_disconnect(H, endpoint) != 0) throw ZmqException.FromErrno($"zmq_disconnect('{endpoint}')");
    }

    // --- sending --------------------------------------------------------------------------------------------------

    /// <summary>Sends one part without waiting (libzmq copies it). False when the socket would have to wait
    /// (EAGAIN: a peer at its high-water mark on a blocking socket type, or no peer). PUB never waits: it drops.</summary>
    public bool TrySend(ReadOnlySpan<byte> part, bool more = false) => SendCore(part, ZmqConstants.DontWait | (more ? ZmqConstants.SendMore : 0));

    /// <summary>Sends one part, waiting up to the send timeout; false when it passed.</summary>
    public bool Send(ReadOnlySpan<byte> part, bool more = false) => SendCore(part, more ? ZmqConstants.SendMore : 0);

    /// <summary>Sends UTF-8 text as one part, waiting up to the send timeout; false when it passed.</summary>
    public bool Send(string text, bool more = false) => Send(Encoding.UTF8.GetBytes(text), more);

    private bool SendCore(ReadOnlySpan<byte> part, int flags)
    {
        nint h = H;
        fixed (byte* p = part)
        {
            while (true)
            {
                if (NativeMethods.zmq_send(h, p, (nuint)part.Length, flags) >= 0) return true;
                int errno = NativeMethods.zmq_errno();
                if (errno == ZmqConstants.EINTR) continue;
                if (errno == ZmqLibrary.EAGAIN) return false;
                throw ZmqException.From(errno, "zmq_send");
            }
        }
    }

    // --- receiving ------------------------------------------------------------------------------------------------

    /// <summary>Receives the next part into <paramref name="message"/>; waits up to the receive timeout when
    /// <paramref name="wait"/>, else not at all. False when nothing arrived in time.</summary>
    public bool TryReceive(ZmqMessage message, bool wait = true)
    {
        nint h = H;
        int flags = wait ? 0 : ZmqConstants.DontWait;
        while (true)
        {
            if (NativeMethods.zmq_msg_recv(message.Pointer, h, flags) >= 0) return true;
            int errno = NativeMethods.zmq_errno();
            if (errno == ZmqConstants.EINTR) continue;
            if (errno == ZmqLibrary.EAGAIN) return false;
            throw ZmqException.From(errno, "zmq_msg_recv");
        }
    }

    /// <summary>Receives a whole multipart message as byte arrays (for clients and tests; allocates). Waits up to
    /// <paramref name="timeoutMs"/> for the first part (-1 = forever); false when none came.</summary>
    public bool TryReceiveMultipart(List<byte[]> parts, int timeoutMs = -1)
    {
        parts.Clear();
        if (timeoutMs >= 0 && !WaitForInput(timeoutMs)) return false;
        using var msg = new ZmqMessage();
        if (!TryReceive(msg, wait: timeoutMs < 0)) return false;
        parts.Add(msg.Data.ToArray());
        while (msg.More)
        {
            TryReceive(msg, wait: true); // the remaining parts of a message arrive together
            parts.Add(msg.Data.ToArray());
        }
        return true;
    }

    /// <summary>Waits until a message can be received or <paramref name="timeoutMs"/> passes (-1 = forever).</summary>
    public bool WaitForInput(int timeoutMs) => ZmqPoller.Poll(this, ZmqConstants.PollIn, timeoutMs);

    /// <summary>Closes the socket (pending messages are discarded after the linger time).</summary>
    public void Dispose() => _handle.Dispose();

    internal nint Handle => H;
}
