using System.Collections.Concurrent;

namespace ClosedLoop.Core;

/// <summary>
/// A fixed set of preallocated frame buffers of one size. Renting never allocates: when every buffer is in use,
/// <see cref="TryRent"/> fails and the miss is counted (the source then drops that frame and says so).
/// </summary>
public sealed class FramePool
{
    private readonly ConcurrentQueue<Frame> _free = new();
    private readonly ManualResetEventSlim _allReturned = new(true);
    private readonly ManualResetEventSlim _processed = new(false);
    private long _lastProcessedIndex = -1;
    private long _rented;
    private long _returned;
    private long _exhausted;

    /// <summary>Creates <paramref name="capacity"/> buffers of <paramref name="width"/> × <paramref name="height"/> pixels.</summary>
    public FramePool(int width, int height, int capacity)
    {
        Check.InRange("frame.widthPx", width, 1, 8192);
        Check.InRange("frame.heightPx", height, 1, 8192);
        Check.InRange("framePool.capacity", capacity, 1, 4096);
        Width = width;
        Height = height;
        Capacity = capacity;
        for (int i = 0; i < capacity; i++) _free.Enqueue(new Frame(this, width, height));
    }

    /// <summary>Frame width in pixels.</summary>
    public int Width { get; }

    /// <summary>Frame height in pixels.</summary>
    public int Height { get; }

    /// <summary>Number of buffers.</summary>
    public int Capacity { get; }

    /// <summary>Buffers currently rented and not yet returned.</summary>
    public int Outstanding => (int)(Interlocked.Read(ref _rented) - Interlocked.Read(ref _returned));

    /// <summary>Times a rent failed because every buffer was in use.</summary>
    public long Exhausted => Interlocked.Read(ref _exhausted);

    /// <summary>Rents a buffer with one reference, or returns false (and counts the miss) when none is free.</summary>
    public bool TryRent(out Frame frame)
    {
        if (_free.TryDequeue(out frame!))
        {
            frame.ResetForRent();
            Interlocked.Increment(ref _rented);
            _allReturned.Reset();
            return true;
        }
        Interlocked.Increment(ref _exhausted);
        return false;
    }

    /// <summary>Blocks until every rented buffer has come back (used by lock-step sources and at shutdown).</summary>
    /// <returns>False when the timeout passed with buffers still out.</returns>
    public bool WaitUntilAllReturned(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = MonotonicClock.NowNs() + (long)(timeout.TotalMilliseconds * 1e6);
        while (true)
        {
            if (Outstanding == 0) return true;
            // A return and a rent racing can leave the event set while a buffer is out: reset it, then look again
            // before waiting, so the wait blocks instead of spinning and never misses the last return.
            _allReturned.Reset();
            if (Outstanding == 0) return true;
            long left = deadline - MonotonicClock.NowNs();
            if (left <= 0) return false;
            _allReturned.Wait(TimeSpan.FromTicks(Math.Max(left / 100, 1)), cancellationToken);
        }
    }

    /// <summary>Called by the fast loop when it has finished with frame <paramref name="frameIndex"/>.</summary>
    public void MarkProcessed(long frameIndex)
    {
        Volatile.Write(ref _lastProcessedIndex, frameIndex);
        _processed.Set();
    }

    /// <summary>Index of the last frame the fast loop finished (-1 before the first).</summary>
    public long LastProcessedIndex => Volatile.Read(ref _lastProcessedIndex);

    /// <summary>Lock-step sources: blocks until the fast loop has finished frame <paramref name="frameIndex"/> (or a later
    /// one), so the next frame sees every stimulus decided on this one, whatever slow consumers still hold.</summary>
    /// <returns>False when the timeout passed first.</returns>
    public bool WaitUntilProcessed(long frameIndex, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = MonotonicClock.NowNs() + (long)(timeout.TotalMilliseconds * 1e6);
        while (true)
        {
            if (LastProcessedIndex >= frameIndex) return true;
            _processed.Reset();
            if (LastProcessedIndex >= frameIndex) return true;
            long left = deadline - MonotonicClock.NowNs();
            if (left <= 0) return false;
            _processed.Wait(TimeSpan.FromTicks(Math.Max(left / 100, 1)), cancellationToken);
        }
    }

    internal void Return(Frame frame)
    {
        if (frame.Pool != this) throw new InvalidOperationException("Frame returned to a pool it does not belong to.");
        _free.Enqueue(frame);
        if (Interlocked.Increment(ref _returned) == Interlocked.Read(ref _rented)) _allReturned.Set();
    }
}
