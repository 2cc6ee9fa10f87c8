using System.Threading.Channels;

namespace ClosedLoop.Core;

/// <summary>What a <see cref="BoundedLink{T}"/> does when a writer finds it full. Every choice that discards counts the discarded item.</summary>
public enum LinkFullMode
{
    /// <summary>The writer waits for room (back-pressure). Only for offline work: a hardware source must never wait.</summary>
    Wait,
    /// <summary>The oldest queued item is discarded to make room (a live view wants the newest frame).</summary>
    DropOldest,
    /// <summary>The newest queued item is discarded to make room.</summary>
    DropNewest,
    /// <summary>The item being written is discarded.</summary>
    DropIncoming,
}

/// <summary>
/// A bounded, single-reader channel between two stages on different threads, with an explicit full mode and
/// counters for everything written, read and dropped. A dropped item is handed to the link's drop handler
/// (e.g. a frame is released to its pool), so nothing is lost silently and no buffer leaks.
/// The blocking reader <see cref="TryTake"/> waits on an event instead of a task, so a dedicated stage thread
/// reads without allocating.
/// </summary>
public sealed class BoundedLink<T> : IDisposable
{
    private readonly Channel<T> _channel;
    private readonly Action<T>? _onDropped;
    private readonly ManualResetEventSlim _itemAvailable = new(false, spinCount: 50);
    private long _written;
    private long _read;
    private long _dropped;

    /// <summary>Creates a link named <paramref name="name"/> holding at most <paramref name="capacity"/> items.</summary>
    public BoundedLink(string name, int capacity, LinkFullMode fullMode, Action<T>? onDropped = null)
    {
        Name = Check.NotEmpty("link.name", name);
        Capacity = Check.InRange($"links.{name}.capacity", capacity, 1, 1 << 20);
        FullMode = fullMode;
        _onDropped = onDropped;
        var options = new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            SingleWriter = false,
            AllowSynchronousContinuations = false,
            FullMode = fullMode switch
            {
                LinkFullMode.Wait => BoundedChannelFullMode.Wait,
                LinkFullMode.DropOldest => BoundedChannelFullMode.DropOldest,
                LinkFullMode.DropNewest => BoundedChannelFullMode.DropNewest,
                LinkFullMode.DropIncoming => BoundedChannelFullMode.DropWrite,
                _ => throw new ArgumentOutOfRangeException(nameof(fullMode)),
            },
        };
        _channel = Channel.CreateBounded<T>(options, OnDropped);
    }

    /// <summary>Name used in reports.</summary>
    public string Name { get; }

    /// <summary>Most items the link holds.</summary>
    public int Capacity { get; }

    /// <summary>What happens when the link is full.</summary>
    public LinkFullMode FullMode { get; }

    /// <summary>Items offered to the link, those it later dropped included: at the end of a run
    /// <c>Written = Read + Dropped + Count</c>.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Items taken by the reader.</summary>
    public long Read => Interlocked.Read(ref _read);

    /// <summary>Items discarded because the link was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Items queued now.</summary>
    public int Count => _channel.Reader.Count;

    /// <summary>True once the writer completed the link.</summary>
    public bool IsCompleted => _channel.Reader.Completion.IsCompleted;

    /// <summary>The channel's reader, for asynchronous taps that prefer <c>await foreach</c>.</summary>
    public ChannelReader<T> Reader => _channel.Reader;

    /// <summary>Writes without ever waiting. In a drop mode this always succeeds (something may be dropped and counted);
    /// in <see cref="LinkFullMode.Wait"/> it returns false when full. Returns false after completion (the item is then dropped and counted).</summary>
    public bool TryWrite(T item)
    {
        if (_channel.Writer.TryWrite(item))
        {
            Interlocked.Increment(ref _written);
            _itemAvailable.Set();
            return true;
        }
        if (FullMode != LinkFullMode.Wait || IsCompleted)
        {
            Interlocked.Increment(ref _written);
            OnDropped(item);
        }
        return false;
    }

    /// <summary>Writes, waiting for room in <see cref="LinkFullMode.Wait"/> mode. Throws when the link was completed.</summary>
    public void Write(T item, CancellationToken cancellationToken)
    {
        while (!TryWrite(item))
        {
            if (IsCompleted) throw new ChannelClosedException($"Link '{Name}' is closed.");
            var wait = _channel.Writer.WaitToWriteAsync(cancellationToken);
            if (!(wait.IsCompleted ? wait.Result : wait.AsTask().GetAwaiter().GetResult()))
                throw new ChannelClosedException($"Link '{Name}' is closed.");
        }
    }

    /// <summary>Blocks until an item is available (true) or the link is completed and empty (false).
    /// Cancellation throws <see cref="OperationCanceledException"/>. Allocation-free.</summary>
    public bool TryTake(out T item, CancellationToken cancellationToken)
    {
        var reader = _channel.Reader;
        while (true)
        {
            if (reader.TryRead(out item!)) { Interlocked.Increment(ref _read); return true; }
            _itemAvailable.Reset();
            if (reader.TryRead(out item!)) { Interlocked.Increment(ref _read); return true; }
            if (reader.Completion.IsCompleted) return false;
            _itemAvailable.Wait(cancellationToken);
        }
    }

    /// <summary>Takes an item if one is queued, without waiting.</summary>
    public bool TryTakeNow(out T item)
    {
        if (_channel.Reader.TryRead(out item!)) { Interlocked.Increment(ref _read); return true; }
        return false;
    }

    /// <summary>Marks the link complete: the reader drains what is queued and then sees the end.</summary>
    public void Complete(Exception? error = null)
    {
        _channel.Writer.TryComplete(error);
        _itemAvailable.Set();
    }

    /// <summary>Completes the link and hands every queued item to the drop handler (used on faults so buffers go home).</summary>
    public int Drain()
    {
        Complete();
        int n = 0;
        while (_channel.Reader.TryRead(out var item)) { n++; OnDropped(item); }
        return n;
    }

    /// <summary>Snapshot of the counters for the run report.</summary>
    public LinkStats Snapshot() => new(Name, Capacity, FullMode.ToString(), Written, Read, Dropped);

    private void OnDropped(T item)
    {
        Interlocked.Increment(ref _dropped);
        _onDropped?.Invoke(item);
    }

    /// <inheritdoc />
    public void Dispose() => _itemAvailable.Dispose();
}

/// <summary>Counters of one link at the end of a run.</summary>
public sealed record LinkStats(string Name, int Capacity, string FullMode, long Written, long Read, long Dropped);
