using System.Runtime.InteropServices;

namespace ClosedLoop.Messaging.Zmq;

/// <summary>
/// A reusable native zmq_msg_t for receiving a message part of any size without a managed copy: receive into it,
/// read <see cref="Data"/> before the next receive, dispose when done. Not thread-safe.
/// </summary>
public sealed unsafe class ZmqMessage : IDisposable
{
    private const int NativeSize = 64; // sizeof(zmq_msg_t)
    private void* _msg;

    /// <summary>Creates an empty message.</summary>
    public ZmqMessage()
    {
        ZmqLibrary.EnsureLoaded();
        _msg = NativeMemory.AlignedAlloc(NativeSize, 16);
        if (NativeMethods.zmq_msg_init(_msg) != 0) throw ZmqException.FromErrno("zmq_msg_init");
    }

    internal void* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_msg == null, this);
            return _msg;
        }
    }

    /// <summary>Bytes of the last received part; valid until the next receive or dispose.</summary>
    public ReadOnlySpan<byte> Data => new(NativeMethods.zmq_msg_data(Pointer), checked((int)NativeMethods.zmq_msg_size(Pointer)));

    /// <summary>Size of the last received part in bytes.</summary>
    public long Size => (long)NativeMethods.zmq_msg_size(Pointer);

    /// <summary>True when more parts of the same message follow.</summary>
    public bool More => NativeMethods.zmq_msg_more(Pointer) == 1;

    /// <summary>The part as UTF-8 text.</summary>
    public string ToText() => System.Text.Encoding.UTF8.GetString(Data);

    /// <summary>Frees the native message.</summary>
    public void Dispose()
    {
        if (_msg == null) return;
        NativeMethods.zmq_msg_close(_msg);
        NativeMemory.AlignedFree(_msg);
        _msg = null;
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the native message if it was not disposed.</summary>
    ~ZmqMessage() => Dispose();
}
