namespace ClosedLoop.Messaging.Zmq;

/// <summary>zmq_poll over one or several sockets.</summary>
public static unsafe class ZmqPoller
{
    /// <summary>Waits until <paramref name="socket"/> is readable (or writable, per <paramref name="events"/>) or
    /// <paramref name="timeoutMs"/> passes (-1 = forever). A signal that interrupts the wait ends it early (false).</summary>
    internal static bool Poll(ZmqSocket socket, short events, int timeoutMs)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("zmq_poll is bound with the Unix zmq_pollitem_t layout.");
        var item = new ZmqPollItem { Socket = socket.Handle, Events = events };
        int n = NativeMethods.zmq_poll(&item, 1, new System.Runtime.InteropServices.CLong(timeoutMs));
        if (n < 0)
        {
            int errno = NativeMethods.zmq_errno();
            if (errno == ZmqConstants.EINTR) return false;
            throw ZmqException.From(errno, "zmq_poll");
        }
        return n > 0 && (item.ReturnedEvents & events) != 0;
    }

    /// <summary>Waits until any of <paramref name="sockets"/> is readable or <paramref name="timeoutMs"/> passes;
    /// returns the index of the first readable socket, or -1.</summary>
    public static int WaitForInput(IReadOnlyList<ZmqSocket> sockets, int timeoutMs)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("zmq_poll is bound with the Unix zmq_pollitem_t layout.");
        if (sockets.Count > 64) throw new ArgumentOutOfRangeException(nameof(sockets), "at most 64 sockets");
        ZmqPollItem* items = stackalloc ZmqPollItem[sockets.Count];
        for (int i = 0; i < sockets.Count; i++) items[i] = new ZmqPollItem { Socket = sockets[i].Handle, Events = ZmqConstants.PollIn };
        int n = NativeMethods.zmq_poll(items, sockets.Count, new System.Runtime.InteropServices.CLong(timeoutMs));
        if (n < 0)
        {
            int errno = NativeMethods.zmq_errno();
            if (errno == ZmqConstants.EINTR) return -1;
            throw ZmqException.From(errno, "zmq_poll");
        }
        for (int i = 0; i < sockets.Count; i++)
            if ((items[i].ReturnedEvents & ZmqConstants.PollIn) != 0) return i;
        return -1;
    }
}
