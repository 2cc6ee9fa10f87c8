using System.Globalization;
using ClosedLoop.Core;
using ClosedLoop.Models.Inference;
using ClosedLoop.Models.OnnxRuntime;

namespace ClosedLoop.Imaging.Segmentation;

/// <summary>Whether a movie lies inside what a segmentation model was trained on.</summary>
/// <param name="Inside">True when both the frame rate and the measured noise are inside the training range (with the tolerance).</param>
/// <param name="FrameRateHz">The movie's frame rate.</param>
/// <param name="FrameRateInside">The frame rate lies within [min / 1.5, max × 1.5] of the training rates.</param>
/// <param name="PixelNoiseLevel">Per-pixel ν measured so far (<see cref="SnrPreprocessor.PixelNoiseLevel"/>); NaN during warm-up.</param>
/// <param name="NoiseInside">The measured per-pixel ν lies within [min / 1.5, max × 1.5] of the training movies' (true during
/// warm-up; false when no pixel is bright enough to measure it).</param>
/// <param name="Message">One line for a report: what is out of range and the training range.</param>
public sealed record TrainingRangeCheck(bool Inside, double FrameRateHz, bool FrameRateInside, double PixelNoiseLevel, bool NoiseInside, string Message);

/// <summary>
/// SUNS-style segmenter: <see cref="SnrPreprocessor"/> (matched filter + running SNR normalisation) then the shallow
/// U-Net through an <see cref="IInferenceBackend"/> (ONNX Runtime when its library loads, else the managed forward).
/// The U-Net is fully convolutional: a model trained on crops of one size runs on any frame whose sides are divisible
/// by 2^(depths − 1) (4 for three depths); the network is rebuilt at the frame size with the trained parameters and, for
/// ONNX Runtime, exported to bytes and opened. Frames are preprocessed one by one (causal) and run through the network in
/// batches of up to <see cref="MaxBatch"/>; the result does not depend on the batching.
/// </summary>
public sealed class UNetSegmenter : IFrameSegmenter
{
    /// <summary>Tolerance factor of <see cref="CheckTrainingRange"/>: inside means within [min / 1.5, max × 1.5].</summary>
    public const double RangeTolerance = 1.5;

    /// <summary>Pixels whose filtered baseline is below this many counts are left out of the measured noise level (as in
    /// training, where the range stored in the model was measured the same way).</summary>
    public const double MinBaselineCounts = 1;

    private readonly SnrPreprocessor _pre;
    private readonly IInferenceBackend _backend;
    private readonly float[] _input;
    private readonly int _pixels;

    /// <summary>Opens <paramref name="model"/> for <paramref name="heightPx"/> × <paramref name="widthPx"/> frames at
    /// <paramref name="frameRateHz"/>. A side not divisible by <see cref="SegmentationModel.SizeMultiple"/> gives a
    /// <see cref="SettingException"/> naming it and the rule.</summary>
    public UNetSegmenter(SegmentationModel model, int heightPx, int widthPx, double frameRateHz,
        BackendKind backend = BackendKind.Auto, InferenceOptions? options = null, int maxBatch = 32)
    {
        ArgumentNullException.ThrowIfNull(model);
        Model = model;
        int mult = model.SizeMultiple;
        Check.InRange("segmentation.heightPx", heightPx, mult, 16384);
        Check.InRange("segmentation.widthPx", widthPx, mult, 16384);
        if (heightPx % mult != 0)
            throw new SettingException("segmentation.heightPx", heightPx, $"a multiple of {mult} (2^(depths − 1) for this {model.Depths}-depth U-Net); crop or pad the frame, e.g. to {heightPx / mult * mult}");
        if (widthPx % mult != 0)
            throw new SettingException("segmentation.widthPx", widthPx, $"a multiple of {mult} (2^(depths − 1) for this {model.Depths}-depth U-Net); crop or pad the frame, e.g. to {widthPx / mult * mult}");
        MaxBatch = Check.InRange("segmentation.maxBatch", maxBatch, 1, 4096);
        HeightPx = heightPx;
        WidthPx = widthPx;
        _pixels = heightPx * widthPx;
        _pre = new SnrPreprocessor(model.Preprocessing with { FrameRateHz = frameRateHz }, heightPx, widthPx);
        _backend = InferenceBackends.Open(model.NetworkFor(heightPx, widthPx), backend, options);
        _input = new float[MaxBatch * _pixels];
    }

    /// <summary>The model in use.</summary>
    public SegmentationModel Model { get; }

    /// <summary>The preprocessing state (template, running median and noise).</summary>
    public SnrPreprocessor Preprocessor => _pre;

    /// <summary>Engine name (e.g. <c>onnxruntime 1.30.0 (CPU)</c> or <c>managed</c>).</summary>
    public string BackendName => _backend.Name;

    /// <summary>Why the engine is not ONNX Runtime, when it is not.</summary>
    public string? BackendNote => _backend.Note;

    /// <summary>Most frames sent to the network in one run.</summary>
    public int MaxBatch { get; }

    /// <inheritdoc/>
    public int HeightPx { get; }

    /// <inheritdoc/>
    public int WidthPx { get; }

    /// <inheritdoc/>
    public int WarmupFrames => _pre.WarmupFrames;

    /// <inheritdoc/>
    public int TemporalFilterFrames => _pre.Taps.Length;

    /// <inheritdoc/>
    public string Description
    {
        get
        {
            var m = Model;
            var inv = CultureInfo.InvariantCulture;
            string rates = m.FrameRateMinHz == m.FrameRateMaxHz ? $"{m.FrameRateMinHz:0.##} Hz" : $"{m.FrameRateMinHz:0.##}–{m.FrameRateMaxHz:0.##} Hz";
            return string.Create(inv, $"{m.Name}: U-Net {string.Join("/", m.Channels)} ch × {m.ConvsPerLevel} conv, {_backend.Name}; trained on {m.Preprocessing.Indicator} at {rates}, ν {m.NuMin:0.##}–{m.NuMax:0.##} (pixel ν {m.PixelNuMin:0.#}–{m.PixelNuMax:0.#}), neurons ≈ {m.NeuronDiameterPx:0.#} px; template {_pre.TemplateLength} frames (delay {_pre.DelayFrames:0.#} frames)");
        }
    }

    /// <inheritdoc/>
    public void Process(ReadOnlySpan<ushort> frames, int count, Span<float> probabilities)
    {
        if (count < 0 || frames.Length < count * _pixels)
            throw new ArgumentException($"{count} frames of {HeightPx}×{WidthPx} need {count * _pixels} values; got {frames.Length}", nameof(frames));
        if (probabilities.Length < count * _pixels)
            throw new ArgumentException($"{count} maps of {HeightPx}×{WidthPx} need {count * _pixels} floats; got {probabilities.Length}", nameof(probabilities));
        for (int start = 0; start < count; start += MaxBatch)
        {
            int n = Math.Min(MaxBatch, count - start);
            for (int j = 0; j < n; j++)
                _pre.Process(frames.Slice((start + j) * _pixels, _pixels), _input.AsSpan(j * _pixels, _pixels));
            _backend.Run(_input.AsSpan(0, n * _pixels), n, probabilities.Slice(start * _pixels, n * _pixels));
        }
    }

    /// <summary>Runs the network alone on <paramref name="count"/> SNR frames already preprocessed (e.g. for training
    /// validation); the preprocessing state is untouched.</summary>
    public void ProcessSnr(ReadOnlySpan<float> snrFrames, int count, Span<float> probabilities)
    {
        for (int start = 0; start < count; start += MaxBatch)
        {
            int n = Math.Min(MaxBatch, count - start);
            _backend.Run(snrFrames.Slice(start * _pixels, n * _pixels), n, probabilities.Slice(start * _pixels, n * _pixels));
        }
    }

    /// <inheritdoc/>
    public void Reset() => _pre.Reset();

    /// <summary>
    /// Says whether the movie seen so far is inside the model's training range: the frame rate against the training
    /// rates and the per-pixel noise level ν measured by the preprocessing against the one measured on the training
    /// movies, each with a tolerance factor of <see cref="RangeTolerance"/>. Out of range does not stop the
    /// segmentation; it tells the user to check the masks or fine-tune on their data. Allocates (call it now and then,
    /// not per frame).
    /// </summary>
    public TrainingRangeCheck CheckTrainingRange() => CheckRange();

    /// <inheritdoc/>
    public string? TrainingRangeWarning => CheckRange() is { Inside: false } c ? c.Message : null;

    private TrainingRangeCheck CheckRange()
    {
        var m = Model;
        var inv = CultureInfo.InvariantCulture;
        double rate = _pre.Settings.FrameRateHz;
        bool rateOk = rate >= m.FrameRateMinHz / RangeTolerance && rate <= m.FrameRateMaxHz * RangeTolerance;
        bool measured = _pre.FramesSeen > _pre.WarmupFrames;
        double nu = _pre.PixelNoiseLevel(MinBaselineCounts);
        bool nuOk = !measured || double.IsNaN(m.PixelNuMin)
            || (!double.IsNaN(nu) && nu >= m.PixelNuMin / RangeTolerance && nu <= m.PixelNuMax * RangeTolerance);
        var parts = new List<string>();
        if (!rateOk) parts.Add(string.Create(inv, $"frame rate {rate:0.##} Hz is outside the training range {m.FrameRateMinHz:0.##}–{m.FrameRateMaxHz:0.##} Hz"));
        if (!nuOk && double.IsNaN(nu)) parts.Add(string.Create(inv, $"no pixel has a baseline of {MinBaselineCounts} counts or more: the movie is too dim to measure its pixel noise level (training range {m.PixelNuMin:0.#}–{m.PixelNuMax:0.#})"));
        else if (!nuOk) parts.Add(string.Create(inv, $"pixel noise level ν {nu:0.#} is outside the training range {m.PixelNuMin:0.#}–{m.PixelNuMax:0.#}"));
        string msg = parts.Count == 0
            ? string.Create(inv, $"inside the training range (frame rate {rate:0.##} Hz, pixel ν {(double.IsNaN(nu) ? "not measured yet" : nu.ToString("0.#", inv))})")
            : string.Join("; ", parts) + ": check the masks, or fine-tune on labelled frames of this rig ('closedloop segment train --movie … --masks …')";
        return new TrainingRangeCheck(rateOk && nuOk, rate, rateOk, nu, nuOk, msg);
    }

    /// <inheritdoc/>
    public void Dispose() => _backend.Dispose();
}
