namespace ClosedLoop.Core;

/// <summary>
/// One image from the rig, in a buffer owned by a <see cref="FramePool"/>. Pixel values are detector counts
/// (uint16, row-major, index = row * width + col). A frame is reference counted: the source rents it with one
/// reference, a tap that keeps it past the fast loop calls <see cref="AddRef"/>, and every holder calls
/// <see cref="Release"/> exactly once; the last release returns the buffer to its pool.
/// </summary>
public sealed class Frame
{
    /// <summary>Most stages whose exit time one frame can carry.</summary>
    public const int MaxStages = 16;

    private readonly FramePool _pool;
    private int _references;

    internal Frame(FramePool pool, int width, int height)
    {
        _pool = pool;
        Width = width;
        Height = height;
        Pixels = new ushort[width * height];
        StageExitHostNs = new long[MaxStages];
    }

    /// <summary>Width in pixels (fast axis).</summary>
    public int Width { get; }

    /// <summary>Height in pixels (slow axis).</summary>
    public int Height { get; }

    /// <summary>Pixel data, row-major.</summary>
    public ushort[] Pixels { get; }

    /// <summary>Index of this frame since the start of acquisition (0-based, counts frames the source produced,
    /// so a gap between consecutive frames seen downstream is a drop).</summary>
    public long FrameIndex { get; set; }

    /// <summary>Time of the frame's first sample on the rig's sample clock (0 = first sample of the run), in ns.
    /// Protocols schedule on this time line so a run paced faster than real time behaves like a real-time one.</summary>
    public long SampleTimeNs { get; set; }

    /// <summary>Duration covered by the frame on the sample clock, in ns.</summary>
    public long FramePeriodNs { get; set; }

    /// <summary>Host monotonic time of the frame's first sample, in ns (aligned through the device's <see cref="SampleClock"/>).</summary>
    public long AcquiredHostNs { get; set; }

    /// <summary>Host monotonic time at which the frame's last sample arrived and the frame was handed on, in ns.</summary>
    public long CompletedHostNs { get; set; }

    /// <summary>Host monotonic time at which each fast-loop stage finished with this frame, indexed by stage.</summary>
    public long[] StageExitHostNs { get; }

    /// <summary>Number of outstanding references (for diagnostics and tests).</summary>
    public int References => Volatile.Read(ref _references);

    /// <summary>The pool this frame belongs to.</summary>
    public FramePool Pool => _pool;

    /// <summary>Pixels as a span.</summary>
    public Span<ushort> Span => Pixels;

    /// <summary>Takes one more reference; pair with one <see cref="Release"/>.</summary>
    public void AddRef()
    {
        if (Interlocked.Increment(ref _references) <= 1)
            throw new InvalidOperationException("AddRef on a frame that was already returned to its pool.");
    }

    /// <summary>Drops one reference; the last one returns the buffer to the pool.</summary>
    public void Release()
    {
        int left = Interlocked.Decrement(ref _references);
        if (left == 0) _pool.Return(this);
        else if (left < 0) throw new InvalidOperationException($"Frame {FrameIndex} released more often than it was referenced.");
    }

    internal void ResetForRent()
    {
        _references = 1;
        FrameIndex = -1;
        SampleTimeNs = 0;
        FramePeriodNs = 0;
        AcquiredHostNs = 0;
        CompletedHostNs = 0;
        Array.Clear(StageExitHostNs);
    }
}
