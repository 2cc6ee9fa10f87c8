using ClosedLoop.Core;

namespace ClosedLoop.Imaging.Segmentation;

/// <summary>
/// A movie to train or validate a segmentation model on: raw frames, the neurons' masks and either the ground truth
/// (true ΔF/F per frame and the ROI-mean noise, from a simulation) or nothing more (a lab's labelled recording, whose
/// per-frame activity then comes from the SNR of each mask's mean trace).
/// </summary>
public sealed class TrainingMovie
{
    /// <summary>Name for reports (e.g. <c>YST_part21 ν=1 GCaMP6s</c>).</summary>
    public required string Name { get; init; }

    /// <summary>Raw frames, frame after frame, row-major detector counts.</summary>
    public required ushort[] Frames { get; init; }

    /// <summary>Frame height, px.</summary>
    public required int HeightPx { get; init; }

    /// <summary>Frame width, px.</summary>
    public required int WidthPx { get; init; }

    /// <summary>Frame rate, Hz.</summary>
    public required double FrameRateHz { get; init; }

    /// <summary>Per neuron: mask pixel indices (row·width + col).</summary>
    public required int[][] Masks { get; init; }

    /// <summary>True ΔF/F, [frame × neurons + neuron]; null for a recorded movie.</summary>
    public float[]? TrueDff { get; init; }

    /// <summary>Per neuron: s.d. of its ROI-mean ΔF/F noise in one frame; required with <see cref="TrueDff"/>.</summary>
    public float[]? DffNoiseSigma { get; init; }

    /// <summary>Noise level ν of the ROI-mean traces (NaN when unknown).</summary>
    public double NoiseLevel { get; init; } = double.NaN;

    /// <summary>Frames in the movie.</summary>
    public int FrameCount => Frames.Length / (HeightPx * WidthPx);
}

/// <summary>One movie turned into training samples: SNR frames (the network's input) and per-frame target masks.</summary>
public sealed class TrainingSet
{
    /// <summary>Name of the movie.</summary>
    public required string Name { get; init; }

    /// <summary>Frame height, px.</summary>
    public required int HeightPx { get; init; }

    /// <summary>Frame width, px.</summary>
    public required int WidthPx { get; init; }

    /// <summary>SNR frames kept (after the warm-up, every stride-th), frame after frame.</summary>
    public required float[] Snr { get; init; }

    /// <summary>Targets, 1 for pixels of a neuron active in that frame, else 0; same layout as <see cref="Snr"/>.</summary>
    public required float[] Targets { get; init; }

    /// <summary>Index in the movie of each kept frame.</summary>
    public required int[] FrameIndices { get; init; }

    /// <summary>Per kept frame: the neurons active in it.</summary>
    public required int[][] ActiveNeurons { get; init; }

    /// <summary>The movie's masks.</summary>
    public required int[][] Masks { get; init; }

    /// <summary>ν of the ROI-mean traces (NaN when unknown).</summary>
    public double NoiseLevel { get; init; } = double.NaN;

    /// <summary>Per-pixel ν measured by the preprocessing at the end of the movie.</summary>
    public double PixelNoiseLevel { get; init; } = double.NaN;

    /// <summary>Frame rate, Hz.</summary>
    public double FrameRateHz { get; init; }

    /// <summary>Frames kept.</summary>
    public int Count => FrameIndices.Length;
}

/// <summary>Per-frame targets in the manner of SUNS' "temporal masks": the union of the masks of neurons whose
/// transient in that frame is clearly above noise.</summary>
public static class TrainingTargets
{
    /// <summary>
    /// From the ground truth: neuron n is active in frame t when its true ΔF/F, passed through the same matched filter
    /// (<paramref name="taps"/>), is at least <paramref name="snrThreshold"/> times the filtered noise of its ROI-mean
    /// trace (σ_n·‖h‖₂). Returns active[frame × neurons + neuron].
    /// </summary>
    public static bool[] FromTruth(TrainingMovie movie, ReadOnlySpan<float> taps, double snrThreshold)
    {
        if (movie.TrueDff is null || movie.DffNoiseSigma is null) throw new ArgumentException("the movie has no ground truth (TrueDff, DffNoiseSigma)", nameof(movie));
        int n = movie.Masks.Length, frames = movie.FrameCount;
        double gain = 0;
        foreach (var h in taps) gain += h * h;
        gain = Math.Sqrt(gain);
        var active = new bool[frames * n];
        var dff = movie.TrueDff;
        for (int j = 0; j < n; j++)
        {
            double limit = snrThreshold * movie.DffNoiseSigma[j] * gain;
            for (int t = 0; t < frames; t++)
            {
                double y = 0;
                for (int i = 0; i < taps.Length; i++) y += taps[i] * dff[Math.Max(0, t - i) * n + j];
                active[t * n + j] = y >= limit;
            }
        }
        return active;
    }

    /// <summary>
    /// From the recording itself: each mask's mean trace goes through the same preprocessing as the pixels
    /// (<paramref name="settings"/>: matched filter, running median and noise), and neuron n is active in frame t when
    /// that SNR is at least <paramref name="snrThreshold"/>. Returns active[frame × neurons + neuron].
    /// </summary>
    public static bool[] FromTraces(TrainingMovie movie, SnrSettings settings, double snrThreshold)
    {
        int n = movie.Masks.Length, frames = movie.FrameCount, p = movie.HeightPx * movie.WidthPx;
        if (n == 0) return new bool[0];
        var pre = new SnrPreprocessor(settings, 1, n);
        var trace = new float[n];
        var snr = new float[n];
        var active = new bool[frames * n];
        for (int t = 0; t < frames; t++)
        {
            var frame = movie.Frames.AsSpan(t * p, p);
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                foreach (int px in movie.Masks[j]) s += frame[px];
                trace[j] = (float)(s / Math.Max(1, movie.Masks[j].Length));
            }
            pre.Process(trace, snr);
            for (int j = 0; j < n; j++) active[t * n + j] = snr[j] >= snrThreshold;
        }
        return active;
    }

    /// <summary>
    /// Runs the preprocessing over <paramref name="movie"/> and keeps every <paramref name="frameStride"/>-th frame after
    /// the warm-up, with its target (the union of the masks of the neurons active in it: from the ground truth when the
    /// movie has it, else from the mask traces).
    /// </summary>
    public static TrainingSet Prepare(TrainingMovie movie, SnrSettings settings, double snrThreshold, int frameStride)
    {
        ArgumentNullException.ThrowIfNull(movie);
        Check.InRange("segmentation.frameStride", frameStride, 1, 1000);
        var s = settings with { FrameRateHz = movie.FrameRateHz };
        int h = movie.HeightPx, w = movie.WidthPx, p = h * w, n = movie.Masks.Length, frames = movie.FrameCount;
        var pre = new SnrPreprocessor(s, h, w);
        bool[] active = movie.TrueDff is not null ? FromTruth(movie, pre.Taps, snrThreshold) : FromTraces(movie, s, snrThreshold);
        int warm = pre.WarmupFrames;
        if (frames <= warm) throw new SettingException("segmentation.frames", frames, $"more than the warm-up ({warm} frames) of the preprocessing");
        var keep = new List<int>();
        for (int t = warm; t < frames; t += frameStride) keep.Add(t);
        var snrOut = new float[(long)keep.Count * p];
        var targets = new float[(long)keep.Count * p];
        var activeLists = new int[keep.Count][];
        var scratch = new float[p];
        int k = 0;
        for (int t = 0; t < frames; t++)
        {
            bool kept = k < keep.Count && keep[k] == t;
            pre.Process(movie.Frames.AsSpan(t * p, p), kept ? snrOut.AsSpan(k * p, p) : scratch);
            if (!kept) continue;
            var list = new List<int>();
            var target = targets.AsSpan(k * p, p);
            for (int j = 0; j < n; j++)
            {
                if (!active[t * n + j]) continue;
                list.Add(j);
                foreach (int px in movie.Masks[j]) target[px] = 1;
            }
            activeLists[k] = list.ToArray();
            k++;
        }
        return new TrainingSet
        {
            Name = movie.Name, HeightPx = h, WidthPx = w, Snr = snrOut, Targets = targets, FrameIndices = keep.ToArray(),
            ActiveNeurons = activeLists, Masks = movie.Masks, NoiseLevel = movie.NoiseLevel, PixelNoiseLevel = pre.PixelNoiseLevel(),
            FrameRateHz = movie.FrameRateHz,
        };
    }

    /// <summary>Median over masks of the diameter of the disk of equal area, px.</summary>
    public static double MedianDiameterPx(IEnumerable<int[]> masks)
    {
        var d = masks.Select(m => 2 * Math.Sqrt(m.Length / Math.PI)).Order().ToArray();
        return d.Length == 0 ? double.NaN : d[d.Length / 2];
    }
}
