using System.Globalization;
using ClosedLoop.Core;

namespace ClosedLoop.Imaging.Segmentation;

/// <summary>
/// Post-processing of per-frame probability maps into neuron masks (docs/segmentation.md): threshold, connected
/// components with area limits, merging of candidate masks across frames, temporal consistency, and the online
/// schedule. Call <see cref="Validate"/> before use; every check names <c>segmentation.&lt;field&gt;</c> and its range.
/// </summary>
public sealed record SegmentationSettings
{
    /// <summary>A pixel belongs to a candidate mask when its probability is at least this (SUNS: about 0.5). Range (0, 1].</summary>
    public double ProbabilityThreshold { get; init; } = 0.5;

    /// <summary>Candidate and final masks smaller than this are dropped (noise specks), in pixels. Range 1..1,000,000.</summary>
    public int MinAreaPx { get; init; } = 20;

    /// <summary>Candidate and final masks larger than this are dropped (blood vessels, neuropil flashes), in pixels.
    /// Range <see cref="MinAreaPx"/>..16,777,216.</summary>
    public int MaxAreaPx { get; init; } = 2000;

    /// <summary>Two masks are the same neuron when their intersection over union reaches this. Range (0, 1].</summary>
    public double MergeIou { get; init; } = 0.5;

    /// <summary>... or when their intersection covers this fraction of the smaller mask (one contains most of the other;
    /// SUNS calls it "consume"). Range (0, 1].</summary>
    public double MergeConsume { get; init; } = 0.75;

    /// <summary>... or when they overlap at all and their centroids lie within this distance, in pixels (0 = off). Range 0..100.</summary>
    public double MergeCentroidDistancePx { get; init; } = 2;

    /// <summary>A merged mask keeps the pixels present in at least this fraction of the member masks, relative to its most
    /// frequent pixel (1 = only the pixels found every time; a small value approaches the union). Range (0, 1].</summary>
    public double MaskFraction { get; init; } = 0.5;

    /// <summary>Temporal consistency: a merged mask is kept only when it was found in at least this many consecutive
    /// frames (SUNS "cons"); 1 keeps everything. 0 (default) = automatic: 0.6 × the segmenter's temporal filter length,
    /// at least 3 (<see cref="ForFilter"/>) — the matched filter keeps noise correlated over about its length, so noise
    /// blobs also recur in consecutive frames (docs/segmentation.md, "Shipped models"). Range 0..1000.</summary>
    public int MinConsecutiveFrames { get; init; }

    /// <summary>These settings with an automatic <see cref="MinConsecutiveFrames"/> resolved for a temporal filter of
    /// <paramref name="temporalFilterFrames"/> frames (see <see cref="IFrameSegmenter.TemporalFilterFrames"/>); explicit
    /// values are kept.</summary>
    public SegmentationSettings ForFilter(int temporalFilterFrames) => MinConsecutiveFrames > 0 ? this
        : this with { MinConsecutiveFrames = Math.Max(3, (int)Math.Round(0.6 * Math.Max(1, temporalFilterFrames))) };

    /// <summary>Online mode: frames after the segmenter's warm-up used for the initial ROI set (SUNS: about 30 s of frames).
    /// Range 1..10,000,000.</summary>
    public int InitialFrames { get; init; } = 300;

    /// <summary>Online mode: after the initialisation, the ROI set is updated every this many frames (SUNS: about 1 s).
    /// Range 1..10,000,000.</summary>
    public int UpdateEveryFrames { get; init; } = 30;

    /// <summary>Online mode: a new candidate is suppressed when it overlaps a deleted ROI by this fraction of the smaller of
    /// the two (the deleted ROI is not brought back). Range (0, 1].</summary>
    public double DeletedOverlap { get; init; } = 0.3;

    /// <summary>Throws <see cref="SettingException"/> naming <c>segmentation.&lt;field&gt;</c> and its allowed range; returns this.</summary>
    public SegmentationSettings Validate()
    {
        Fraction("probabilityThreshold", ProbabilityThreshold);
        Check.InRange("segmentation.minAreaPx", MinAreaPx, 1, 1_000_000);
        Check.InRange("segmentation.maxAreaPx", MaxAreaPx, MinAreaPx, 1 << 24);
        Fraction("mergeIou", MergeIou);
        Fraction("mergeConsume", MergeConsume);
        Check.InRange("segmentation.mergeCentroidDistancePx", MergeCentroidDistancePx, 0, 100);
        Fraction("maskFraction", MaskFraction);
        Check.InRange("segmentation.minConsecutiveFrames", MinConsecutiveFrames, 0, 1000);
        Check.InRange("segmentation.initialFrames", InitialFrames, 1, 10_000_000);
        Check.InRange("segmentation.updateEveryFrames", UpdateEveryFrames, 1, 10_000_000);
        Fraction("deletedOverlap", DeletedOverlap);
        return this;
    }

    private static void Fraction(string field, double value)
    {
        if (!(value > 0 && value <= 1))
            throw new SettingException("segmentation." + field, value, "greater than 0 and at most 1");
    }

    /// <summary>The settings on one line, for reports.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"p ≥ {ProbabilityThreshold:0.###}, area {MinAreaPx}–{MaxAreaPx} px, merge IoU ≥ {MergeIou:0.##} or consume ≥ {MergeConsume:0.##} or centroids ≤ {MergeCentroidDistancePx:0.#} px, mask fraction {MaskFraction:0.##}, ≥ {(MinConsecutiveFrames == 0 ? "auto" : MinConsecutiveFrames.ToString(CultureInfo.InvariantCulture))} consecutive frames");
}
