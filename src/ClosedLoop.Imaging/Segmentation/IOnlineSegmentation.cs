namespace ClosedLoop.Imaging.Segmentation;

/// <summary>One ROI as the online segmentation tracks it. <see cref="Id"/> never changes while the ROI lives and is
/// never reused in a run, so traces keep their identity as masks are refined.</summary>
/// <param name="Id">Stable identity (0, 1, 2, ... in order of discovery or addition).</param>
/// <param name="PixelIndices">Mask pixels, row * width + col, ascending.</param>
/// <param name="Locked">A locked ROI keeps its mask: updates neither refine nor remove it.</param>
/// <param name="UserAdded">Drawn by a user rather than found by the segmentation (user ROIs are locked).</param>
/// <param name="SeenInFrames">Number of frames in which the segmentation found this ROI active.</param>
public sealed record TrackedRoi(int Id, int[] PixelIndices, bool Locked, bool UserAdded, int SeenInFrames)
{
    /// <summary>The ROI's name in traces and reports (roi000, roi001, ...).</summary>
    public string Name => RoiSet.DefaultName(Id);
}

/// <summary>
/// The ROI set found while streaming: initialises on the first frames, then updates every few frames. The slow loop
/// calls <see cref="Push"/> from one thread; <see cref="Snapshot"/>, <see cref="Lock"/>, <see cref="Add"/> and
/// <see cref="Delete"/> may be called from any thread at any time.
/// </summary>
public interface IOnlineSegmentation : IDisposable
{
    /// <summary>Frame height in pixels.</summary>
    int HeightPx { get; }

    /// <summary>Frame width in pixels.</summary>
    int WidthPx { get; }

    /// <summary>Frames pushed so far.</summary>
    long FramesSeen { get; }

    /// <summary>True once the initialisation on the first frames is done (the ROI set may still be empty).</summary>
    bool Initialised { get; }

    /// <summary>Increases on every change of the ROI set (an update that changed something, a lock, an add, a delete).</summary>
    long Version { get; }

    /// <summary>Feeds <paramref name="count"/> consecutive frames (count × HeightPx × WidthPx, row-major) and updates the
    /// ROI set when an update is due.</summary>
    void Push(ReadOnlySpan<ushort> frames, int count);

    /// <summary>The current ROIs ordered by id (a copy; safe to keep).</summary>
    IReadOnlyList<TrackedRoi> Snapshot();

    /// <summary>Locks or unlocks ROI <paramref name="id"/>; false when there is no such ROI.</summary>
    bool Lock(int id, bool locked);

    /// <summary>Adds a user ROI (locked) and returns its id; throws <see cref="ClosedLoop.Core.SettingException"/> naming
    /// the pixel that lies outside the frame.</summary>
    int Add(int[] pixelIndices);

    /// <summary>Deletes ROI <paramref name="id"/> (the segmentation will not bring it back); false when there is no such ROI.</summary>
    bool Delete(int id);
}
