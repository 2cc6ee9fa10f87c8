using ClosedLoop.Imaging;
using ClosedLoop.Imaging.Segmentation;

namespace ClosedLoop.Cli;

/// <summary>An online segmentation made for one run, and the line that describes its model in the report.</summary>
/// <param name="Segmentation">The segmentation the slow loop pushes frames into (owned by the run from now on).</param>
/// <param name="Description">Model, backend and training range, for the report.</param>
/// <param name="TrainingRangeWarning">Asked at the end of the run: null when the movie stayed inside the model's
/// training range, else what lay outside (<see cref="IFrameSegmenter.TrainingRangeWarning"/>).</param>
public sealed record OnlineSegmentationInstance(IOnlineSegmentation Segmentation, string Description, Func<string?>? TrainingRangeWarning = null);

/// <summary>Builds the online segmentation of a <c>rois: online</c> run for frames of <paramref name="heightPx"/> ×
/// <paramref name="widthPx"/> at <paramref name="frameRateHz"/>. Throws <see cref="NotSupportedException"/>,
/// <see cref="IOException"/> or <see cref="InvalidDataException"/> when the model cannot be used (the run refuses to
/// start, naming <c>segmentation.model</c>).</summary>
public delegate OnlineSegmentationInstance OnlineSegmentationFactory(OnlineSegmentationSettings settings, int heightPx, int widthPx, double frameRateHz);

/// <summary>The product's way to build a run's online segmentation: the frame segmenter from
/// <see cref="SegmentationModels.Open"/> (the shipped default or a lab's model file) wrapped in the online segmentation
/// that turns its probability maps into tracked ROIs.</summary>
public static class OnlineRois
{
    /// <summary>Opens the model named by <paramref name="settings"/> and wraps it; see <see cref="OnlineSegmentationFactory"/>.</summary>
    public static OnlineSegmentationInstance Create(OnlineSegmentationSettings settings, int heightPx, int widthPx, double frameRateHz)
    {
        var segmenter = SegmentationModels.Open(settings.ModelPath, heightPx, widthPx, frameRateHz, settings.Backend);
        try
        {
            return new OnlineSegmentationInstance(Wrap(segmenter, settings), segmenter.Description, () => segmenter.TrainingRangeWarning);
        }
        catch
        {
            segmenter.Dispose();
            throw;
        }
    }

    /// <summary>Post-processing of the segmenter's maps into tracked ROIs (initialisation, updates, stable ids).</summary>
    private static IOnlineSegmentation Wrap(IFrameSegmenter segmenter, OnlineSegmentationSettings settings) =>
        new OnlineSegmentation(segmenter, settings.Masks);
}
