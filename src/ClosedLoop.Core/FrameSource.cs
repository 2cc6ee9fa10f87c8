namespace ClosedLoop.Core;

/// <summary>
/// Anything that produces frames on its own clock: the simulated rig, a real rig's frame assembly, a replayed
/// recording. <see cref="Run"/> is called on a dedicated acquisition thread and must: rent every frame from the
/// pool (counting a frame it could not rent as dropped), stamp its sample-clock and host times, write it to the
/// output link without ever blocking on a slow consumer, and return when cancelled or when it runs out.
/// A device fault is thrown out of <see cref="Run"/>; the pipeline then ends the run safely.
/// </summary>
public interface IFrameSource
{
    /// <summary>Frame width in pixels.</summary>
    int WidthPx { get; }

    /// <summary>Frame height in pixels.</summary>
    int HeightPx { get; }

    /// <summary>Frame rate on the source's clock, in Hz.</summary>
    double FrameRateHz { get; }

    /// <summary>Frames the source produced (acquired), including those it then had to drop.</summary>
    long FramesAcquired { get; }

    /// <summary>Frames the source could not hand on because no pooled buffer was free.</summary>
    long FramesDroppedAtSource { get; }

    /// <summary>Acquires until <paramref name="cancellationToken"/> is cancelled or the source ends.</summary>
    void Run(FramePool pool, BoundedLink<Frame> output, CancellationToken cancellationToken);
}
