namespace ClosedLoop.Imaging.Segmentation;

/// <summary>
/// Turns raw frames into per-frame probability maps: for each pixel, the probability that it belongs to a neuron that
/// is active in that frame (SUNS: temporal matched filter → SNR normalisation → shallow U-Net). It keeps per-pixel
/// state (filter history, running median and noise), so frames must be fed in acquisition order; a gap is fed as it
/// came. Post-processing (thresholds, connected components, merging across frames) is not its job.
/// </summary>
public interface IFrameSegmenter : IDisposable
{
    /// <summary>Frame height in pixels.</summary>
    int HeightPx { get; }

    /// <summary>Frame width in pixels.</summary>
    int WidthPx { get; }

    /// <summary>How many frames the state needs before its maps mean anything (running statistics warm-up).
    /// Maps written earlier are valid numbers but should not seed masks.</summary>
    int WarmupFrames { get; }

    /// <summary>Length of the segmenter's temporal filter in frames (1 = none): its noise stays correlated over about this
    /// many frames, which sets the automatic temporal-consistency rule (<see cref="SegmentationSettings.ForFilter"/>).</summary>
    int TemporalFilterFrames => 1;

    /// <summary>Null while the frames seen so far are inside what the model was trained on (frame rate, noise level);
    /// otherwise what lies outside, for reports: the masks of such a movie need checking, or the model fine-tuning.
    /// Not for the per-frame path (it may allocate).</summary>
    string? TrainingRangeWarning => null;

    /// <summary>Short description for reports: model name, backend, training range.</summary>
    string Description { get; }

    /// <summary>Feeds <paramref name="count"/> consecutive frames (count × HeightPx × WidthPx detector counts, row-major)
    /// and writes one probability map in [0, 1] per frame into <paramref name="probabilities"/> (same layout). Causal: map
    /// i depends only on frames up to i. Batching several frames per call is faster; results do not depend on it.</summary>
    void Process(ReadOnlySpan<ushort> frames, int count, Span<float> probabilities);

    /// <summary>Forgets all per-pixel state, as before the first frame.</summary>
    void Reset();
}
