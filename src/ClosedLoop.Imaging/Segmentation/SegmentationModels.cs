using ClosedLoop.Models.Inference;

namespace ClosedLoop.Imaging.Segmentation;

/// <summary>Opens segmentation models: the shipped default or a file a lab trained on its own data.</summary>
public static class SegmentationModels
{
    /// <summary>Opens a segmenter for frames of <paramref name="heightPx"/> × <paramref name="widthPx"/> at
    /// <paramref name="frameRateHz"/>; <paramref name="modelPath"/> null means the shipped default model.</summary>
    public static IFrameSegmenter Open(string? modelPath, int heightPx, int widthPx, double frameRateHz, BackendKind backend = BackendKind.Auto) =>
        throw new NotSupportedException("No segmentation model is available yet.");
}
