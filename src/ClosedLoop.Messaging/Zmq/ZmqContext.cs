using System.Runtime.InteropServices;

namespace ClosedLoop.Messaging.Zmq;

/// <summary>
/// A libzmq context (its I/O thread and the in-process transport's namespace). Sockets are created from it and must
/// be closed before it ends; <see cref="Dispose"/> closes any still open (each with linger 0) so ending never hangs.
/// </summary>
public sealed class ZmqContext : IDisposable
{
    private readonly ContextHandle _handle;
    private readonly List<WeakReference<ZmqSocket>> _sockets = new();
    private readonly object _gate = new();
    private bool _disposed;

    /// <summary>Creates a context with <paramref name="ioThreads"/> I/O threads (1 is plenty below ~1 GB/s).</summary>
    public ZmqContext(int ioThreads = 1)
    {
        ZmqLibrary.EnsureLoaded();
        ClosedLoop.Core.Check.InRange("zmq.ioThreads", ioThreads, 1, 16);
        nint ctx = NativeMethods.zmq_ctx_new();
        if (ctx == 0) throw ZmqException.FromErrno("zmq_ctx_new");
        _handle = new ContextHandle(ctx);
        if (NativeMethods.zmq_ctx_set(ctx, ZmqConstants.IoThreads, ioThreads) != 0)
            throw ZmqException.FromErrno("zmq_ctx_set(ZMQ_IO_THREADS)");
    }

    /// <summary>Creates a socket of <paramref name="type"/> (linger 0: unsent messages are discarded when it closes).</summary>
    public ZmqSocket CreateSocket(ZmqSocketType type)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            nint s = NativeMethods.zmq_socket(_handle.DangerousGetHandle(), (int)type);
            if (s == 0) throw ZmqException.FromErrno($"zmq_socket({type})");
            var socket = new ZmqSocket(new SocketHandle(s), type);
            socket.LingerMs = 0;
            _sockets.RemoveAll(w => !w.TryGetTarget(out var t) || t.IsClosed);
            _sockets.Add(new WeakReference<ZmqSocket>(socket));
            return socket;
        }
    }

    /// <summary>Closes every socket still open, then ends the context.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var w in _sockets)
                if (w.TryGetTarget(out var s)) s.Dispose();
            _sockets.Clear();
        }
        _handle.Dispose();
    }

    private sealed class ContextHandle : SafeHandle
    {
        public ContextHandle(nint handle) : base(0, true) => SetHandle(handle);
        public override bool IsInvalid => handle == 0;
        protected override bool ReleaseHandle()
        {
            while (NativeMethods.zmq_ctx_term(handle) != 0)
                if (NativeMethods.zmq_errno() != ZmqConstants.EINTR) return false;
            return true;
        }
    }
}

/// <summary>Socket types (values from zmq.h).</summary>
public enum ZmqSocketType
{
    /// <summary>Exclusive pair.</summary>
    Pair = 0,
    /// <summary>Publisher: sends to every matching subscriber, drops for a subscriber at its high-water mark.</summary>
    Pub = 1,
    /// <summary>Subscriber: receives messages whose first part starts with a subscribed prefix.</summary>
    Sub = 2,
    /// <summary>Request (client): send one request, then receive one reply.</summary>
    Req = 3,
    /// <summary>Reply (server): receive one request, then send one reply.</summary>
    Rep = 4,
    /// <summary>Publisher that also sees subscriptions.</summary>
    XPub = 9,
    /// <summary>Subscriber that sends subscriptions as messages.</summary>
    XSub = 10,
}

internal sealed class SocketHandle : SafeHandle
{
    public SocketHandle(nint handle) : base(0, true) => SetHandle(handle);
    public override bool IsInvalid => handle == 0;
    protected override bool ReleaseHandle() => NativeMethods.zmq_close(handle) == 0;
}
