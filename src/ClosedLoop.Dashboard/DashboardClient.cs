using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Threading.Channels;

namespace ClosedLoop.Dashboard;

/// <summary>
/// One connected browser: its own send queue (text messages, bounded, oldest dropped and counted; and a single slot
/// for the newest frame, so a slow browser sees fewer frames but never holds up the others or the run), a send loop
/// and a receive loop that hands each command to the server and queues the reply.
/// </summary>
internal sealed class DashboardClient
{
    /// <summary>After this many bytes of one oversized message the connection is closed (a client that streams forever).</summary>
    private const int DiscardLimitBytes = 1 << 20;

    private readonly WebSocket _socket;
    private readonly Func<DashboardClient, ReadOnlyMemory<byte>, byte[]> _handle;
    private readonly DashboardCounters _counters;
    private readonly int _maxQueued;
    private readonly int _maxMessageBytes;
    private readonly ConcurrentQueue<byte[]> _text = new();
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private int _queued;
    private EncodedFrame? _pendingFrame;
    private int[] _selection = Array.Empty<int>();
    private int _selectionVersion;
    private long _framesSent, _framesDropped, _messagesDropped, _badMessages;
    private volatile bool _closed;

    public DashboardClient(int id, WebSocket socket, DashboardSettings settings, DashboardCounters counters,
        Func<DashboardClient, ReadOnlyMemory<byte>, byte[]> handle)
    {
        Id = id;
        _socket = socket;
        _counters = counters;
        _handle = handle;
        _maxQueued = settings.ClientQueueMessages;
        _maxMessageBytes = settings.MaxMessageBytes;
    }

    public int Id { get; }

    /// <summary>Set by the dashboard thread once the client got the hello, run description and history.</summary>
    public bool Initialized { get; set; }

    /// <summary>Run (by feed number) whose description this client got last; dashboard thread only.</summary>
    public long SeenFeed { get; set; } = -1;

    /// <summary>Selection version the dashboard thread last sent traces for.</summary>
    public int SentSelectionVersion { get; set; } = -1;

    /// <summary>Trace samples (in <see cref="TraceHistory.Total"/> numbering) already sent.</summary>
    public long TraceCursor { get; set; }

    public int[] Selection => Volatile.Read(ref _selection);

    public int SelectionVersion => Volatile.Read(ref _selectionVersion);

    public long FramesSent => Interlocked.Read(ref _framesSent);

    public long FramesDropped => Interlocked.Read(ref _framesDropped);

    public long MessagesDropped => Interlocked.Read(ref _messagesDropped);

    public long BadMessages => Interlocked.Read(ref _badMessages);

    public bool Closed => _closed;

    public void SetSelection(int[] units)
    {
        Volatile.Write(ref _selection, units);
        Interlocked.Increment(ref _selectionVersion);
    }

    public void CountBadMessage()
    {
        Interlocked.Increment(ref _badMessages);
        DashboardCounters.Add(ref _counters.BadMessages);
    }

    /// <summary>Queues a text message; when the queue is full the oldest one is dropped and counted.</summary>
    public void Send(byte[] message)
    {
        if (_closed) return;
        _text.Enqueue(message);
        if (Interlocked.Increment(ref _queued) > _maxQueued && _text.TryDequeue(out _))
        {
            Interlocked.Decrement(ref _queued);
            Interlocked.Increment(ref _messagesDropped);
            DashboardCounters.Add(ref _counters.MessagesDropped);
        }
        _wake.Writer.TryWrite(true);
    }

    /// <summary>Offers the newest frame; a frame still waiting for this browser is replaced (and counted as dropped).</summary>
    public void OfferFrame(EncodedFrame frame)
    {
        if (_closed) return;
        frame.AddRef();
        var older = Interlocked.Exchange(ref _pendingFrame, frame);
        if (older is not null)
        {
            older.Release();
            Interlocked.Increment(ref _framesDropped);
            DashboardCounters.Add(ref _counters.FramesDroppedForClients);
        }
        _wake.Writer.TryWrite(true);
        if (_closed) ReleasePending(); // closed meanwhile: the send loop is gone, give the buffer back here
    }

    /// <summary>Serves the browser until it closes, fails, or <paramref name="stop"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var sending = SendLoopAsync(cts.Token);
        try
        {
            await ReceiveLoopAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException
            or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
            // The browser went away or the server is stopping.
        }
        finally
        {
            _closed = true;
            cts.Cancel();
            try { await sending.ConfigureAwait(false); } catch (Exception) { /* a cancelled send aborts the socket */ }
            ReleasePending();
            await CloseQuietlyAsync().ConfigureAwait(false);
        }
    }

    private void ReleasePending() => Interlocked.Exchange(ref _pendingFrame, null)?.Release();

    private async Task CloseQuietlyAsync()
    {
        try
        {
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "dashboard closing", timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception)
        {
            _socket.Abort();
        }
    }

    private async Task SendLoopAsync(CancellationToken ct)
    {
        var reader = _wake.Reader;
        while (await reader.WaitToReadAsync(ct).ConfigureAwait(false))
        {
            reader.TryRead(out _);
            while (_text.TryDequeue(out var message))
            {
                Interlocked.Decrement(ref _queued);
                await _socket.SendAsync(message, WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
                DashboardCounters.Add(ref _counters.MessagesSent);
            }
            var frame = Interlocked.Exchange(ref _pendingFrame, null);
            if (frame is null) continue;
            try
            {
                await _socket.SendAsync(frame.Message, WebSocketMessageType.Binary, true, ct).ConfigureAwait(false);
                Interlocked.Increment(ref _framesSent);
                DashboardCounters.Add(ref _counters.FramesSent);
            }
            finally
            {
                frame.Release();
            }
        }
    }

    private async Task ReceiveLoopAsync(CancellationToken ct)
    {
        var buffer = new byte[_maxMessageBytes];
        var discard = new byte[4096];
        while (!ct.IsCancellationRequested)
        {
            int length = 0;
            long discarded = 0;
            ValueWebSocketReceiveResult r;
            do
            {
                bool full = length == buffer.Length;
                r = await _socket.ReceiveAsync(full ? discard.AsMemory() : buffer.AsMemory(length), ct).ConfigureAwait(false);
                if (r.MessageType == WebSocketMessageType.Close) return;
                if (full) discarded += r.Count;
                else length += r.Count;
                if (discarded > DiscardLimitBytes)
                {
                    CountBadMessage();
                    await _socket.CloseOutputAsync(WebSocketCloseStatus.MessageTooBig, $"messages are limited to {_maxMessageBytes} bytes", ct).ConfigureAwait(false);
                    return;
                }
            }
            while (!r.EndOfMessage);
            bool oversized = discarded > 0;
            var reply = r.MessageType == WebSocketMessageType.Binary
                ? DashboardCommands.Refuse(this, "bad-request", "binary messages are not accepted; send commands as JSON text")
                : oversized
                    ? DashboardCommands.Refuse(this, "too-large", $"message of more than {_maxMessageBytes} bytes refused; commands are limited to {_maxMessageBytes} bytes")
                    : _handle(this, buffer.AsMemory(0, length));
            Send(reply);
        }
    }
}
