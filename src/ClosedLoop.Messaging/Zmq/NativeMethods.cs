using System.Runtime.InteropServices;

namespace ClosedLoop.Messaging.Zmq;

/// <summary>
/// The libzmq C API as declared in zmq.h (libzmq 4.3). The library is resolved by <see cref="ZmqLibrary"/> (libzmq.so.5
/// on Linux); call <see cref="ZmqLibrary.EnsureLoaded"/> before the first call so a missing library gives a clear message.
/// </summary>
internal static unsafe partial class NativeMethods
{
    internal const string Library = "libzmq";

    // --- errors and version -------------------------------------------------------------------------------------
    [LibraryImport(Library)] internal static partial int zmq_errno();
    [LibraryImport(Library)] internal static partial nint zmq_strerror(int errnum);
    [LibraryImport(Library)] internal static partial void zmq_version(out int major, out int minor, out int patch);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial int zmq_has(string capability);

    // --- context --------------------------------------------------------------------------------------------------
    [LibraryImport(Library)] internal static partial nint zmq_ctx_new();
    [LibraryImport(Library)] internal static partial int zmq_ctx_term(nint context);
    [LibraryImport(Library)] internal static partial int zmq_ctx_shutdown(nint context);
    [LibraryImport(Library)] internal static partial int zmq_ctx_set(nint context, int option, int value);

    // --- sockets --------------------------------------------------------------------------------------------------
    [LibraryImport(Library)] internal static partial nint zmq_socket(nint context, int type);
    [LibraryImport(Library)] internal static partial int zmq_close(nint socket);
    [LibraryImport(Library)] internal static partial int zmq_setsockopt(nint socket, int option, void* value, nuint length);
    [LibraryImport(Library)] internal static partial int zmq_getsockopt(nint socket, int option, void* value, nuint* length);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial int zmq_bind(nint socket, string endpoint);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial int zmq_unbind(nint socket, string endpoint);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial int zmq_connect(nint socket, string endpoint);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial int zmq_disconnect(nint socket, string endpoint);
    [LibraryImport(Library)] internal static partial int zmq_send(nint socket, void* buffer, nuint length, int flags);
    [LibraryImport(Library)] internal static partial int zmq_recv(nint socket, void* buffer, nuint length, int flags);

    // --- messages (zmq_msg_t is 64 bytes, pointer-aligned) --------------------------------------------------------
    [LibraryImport(Library)] internal static partial int zmq_msg_init(void* msg);
    [LibraryImport(Library)] internal static partial int zmq_msg_recv(void* msg, nint socket, int flags);
    [LibraryImport(Library)] internal static partial int zmq_msg_close(void* msg);
    [LibraryImport(Library)] internal static partial void* zmq_msg_data(void* msg);
    [LibraryImport(Library)] internal static partial nuint zmq_msg_size(void* msg);
    [LibraryImport(Library)] internal static partial int zmq_msg_more(void* msg);

    // --- polling (C long timeout) --------------------------------------------------------------------------------
    [LibraryImport(Library)] internal static partial int zmq_poll(ZmqPollItem* items, int count, CLong timeoutMs);

    // --- CURVE and Z85 --------------------------------------------------------------------------------------------
    [LibraryImport(Library)] internal static partial byte* zmq_z85_encode(byte* dest, byte* data, nuint size);
    [LibraryImport(Library)] internal static partial byte* zmq_z85_decode(byte* dest, byte* text);
    [LibraryImport(Library)] internal static partial int zmq_curve_keypair(byte* publicKeyZ85, byte* secretKeyZ85);
    [LibraryImport(Library)] internal static partial int zmq_curve_public(byte* publicKeyZ85, byte* secretKeyZ85);
}

/// <summary>zmq_pollitem_t on Unix: a socket pointer, an int file descriptor, requested and returned events.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct ZmqPollItem
{
    public nint Socket;
    public int Fd;
    public short Events;
    public short ReturnedEvents;
}

/// <summary>Numbers from zmq.h (libzmq 4.3) that the binding uses.</summary>
internal static class ZmqConstants
{
    // Socket options.
    public const int Subscribe = 6;
    public const int Unsubscribe = 7;
    public const int ReceiveMore = 13;
    public const int Linger = 17;
    public const int MaxMessageSize = 22; // int64
    public const int SendHighWaterMark = 23;
    public const int ReceiveHighWaterMark = 24;
    public const int ReceiveTimeout = 27;
    public const int SendTimeout = 28;
    public const int LastEndpoint = 32;
    public const int Immediate = 39;
    public const int Mechanism = 43;
    public const int CurveServer = 47;
    public const int CurvePublicKey = 48;
    public const int CurveSecretKey = 49;
    public const int CurveServerKey = 50;
    public const int XPubNoDrop = 69;

    // Send/receive flags.
    public const int DontWait = 1;
    public const int SendMore = 2;

    // Poll events.
    public const short PollIn = 1;
    public const short PollOut = 2;

    // Context options.
    public const int IoThreads = 1;

    // Security mechanisms (ZMQ_MECHANISM values).
    public const int MechanismNull = 0;
    public const int MechanismCurve = 2;

    // Errors: POSIX values on Linux, libzmq's own above ZMQ_HAUSNUMERO.
    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int HausNumero = 156384712;
    public const int EFSM = HausNumero + 51;
    public const int ETERM = HausNumero + 53;
}
