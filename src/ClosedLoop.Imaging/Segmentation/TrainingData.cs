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
    /// (<paramref name="taps"/>), exceeds its median over the movie by at least <paramref name="snrThreshold"/> times
    /// the filtered noise of its ROI-mean trace (σ_n·‖h‖₂). Returns active[frame × neurons + neuron].
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
        var y = new double[frames];
        var sorted = new double[frames];
        for (int j = 0; j < n; j++)
        {
            double limit = snrThreshold * movie.DffNoiseSigma[j] * gain;
            for (int t = 0; t < frames; t++)
            {
                double v = 0;
                for (int i = 0; i < taps.Length; i++) v += taps[i] * dff[Math.Max(0, t - i) * n + j];
                y[t] = v;
            }
            // Measured from the trace's own median, as the preprocessing measures every pixel: a neuron that is often
            // active has a raised baseline, and only rises above it count.
            y.CopyTo(sorted, 0);
            Array.Sort(sorted);
            double median = frames == 0 ? 0 : sorted[frames / 2];
            for (int t = 0; t < frames; t++) active[t * n + j] = y[t] - median >= limit;
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
        var owner = new int[p];
        int k = 0;
        for (int t = 0; t < frames; t++)
        {
            bool kept = k < keep.Count && keep[k] == t;
            pre.Process(movie.Frames.AsSpan(t * p, p), kept ? snrOut.AsSpan(k * p, p) : scratch);
            if (!kept) continue;
            var list = new List<int>();
            for (int j = 0; j < n; j++) if (active[t * n + j]) list.Add(j);
            activeLists[k] = list.ToArray();
            PaintTarget(movie.Masks, activeLists[k], h, w, owner, targets.AsSpan(k * p, p));
            k++;
        }
        return new TrainingSet
        {
            Name = movie.Name, HeightPx = h, WidthPx = w, Snr = snrOut, Targets = targets, FrameIndices = keep.ToArray(),
            ActiveNeurons = activeLists, Masks = movie.Masks, NoiseLevel = movie.NoiseLevel, PixelNoiseLevel = pre.PixelNoiseLevel(UNetSegmenter.MinBaselineCounts),
            FrameRateHz = movie.FrameRateHz,
        };
    }

    /// <summary>
    /// Writes the target of one frame: 1 on the masks of the <paramref name="active"/> neurons, except where two active
    /// masks overlap or touch (a pixel with one of its 8 neighbours in another active neuron's mask), which stays 0. The gap teaches the
    /// network to keep neighbouring active neurons apart, so 8-connected components separate them.
    /// </summary>
    public static void PaintTarget(int[][] masks, int[] active, int heightPx, int widthPx, int[] owner, Span<float> target)
    {
        const int none = -1, shared = -2;
        Array.Fill(owner, none);
        foreach (int j in active)
            foreach (int px in masks[j]) owner[px] = owner[px] == none ? j : shared;
        target.Clear();
        foreach (int j in active)
            foreach (int px in masks[j])
            {
                if (owner[px] != j) continue;
                int r = px / widthPx, c = px % widthPx;
                bool touches = false;
                for (int dr = -1; dr <= 1 && !touches; dr++)
                    for (int dc = -1; dc <= 1; dc++)
                    {
                        int rr = r + dr, cc = c + dc;
                        if (rr < 0 || rr >= heightPx || cc < 0 || cc >= widthPx) continue;
                        int o = owner[rr * widthPx + cc];
                        if (o != none && o != j) { touches = true; break; }
                    }
                if (!touches) target[px] = 1;
            }
    }

    /// <summary>Median over masks of the diameter of the disk of equal area, px.</summary>
    public static double MedianDiameterPx(IEnumerable<int[]> masks)
    {
        var d = masks.Select(m => 2 * Math.Sqrt(m.Length / Math.PI)).Order().ToArray();
        return d.Length == 0 ? double.NaN : d[d.Length / 2];
    }
}
