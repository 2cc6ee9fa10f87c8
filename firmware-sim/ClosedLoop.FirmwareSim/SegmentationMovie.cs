using ClosedLoop.Hardware;

namespace ClosedLoop.FirmwareSim;

/// <summary>What <see cref="SegmentationMovie.Render"/> simulates: a still movie (no motion, drift or bleaching) of the
/// given footprints with Poisson spiking, for training and validating segmentation.</summary>
/// <param name="Footprints"><c>builtin:YST_part11</c> (12, 21) or a masks JSON path.</param>
/// <param name="Frames">Frames to render.</param>
/// <param name="FrameRateHz">Frame rate, Hz.</param>
/// <param name="Indicator">Indicator preset (GCaMP6s, GCaMP6f, OGB-1).</param>
/// <param name="NoiseLevel">Noise level ν of ROI-mean ΔF/F traces (%/√Hz).</param>
/// <param name="Seed">Seed of every draw.</param>
/// <param name="RateHz">Mean spontaneous firing rate, Hz.</param>
public sealed record SegmentationMovieOptions(string Footprints, int Frames, double FrameRateHz = 30, string Indicator = "GCaMP6s",
    double NoiseLevel = 1, int Seed = 1, double RateHz = 0.2);

/// <summary>
/// A rendered movie with the ground truth segmentation training needs: raw frames, every neuron's mask, its true ΔF/F
/// in every frame, and the per-frame s.d. of its ROI-mean ΔF/F shot noise (from the simulator's calibrated ν:
/// σ = ν·√f / (100·0.6745·√2)).
/// </summary>
public sealed class SegmentationMovie
{
    private SegmentationMovie(SegmentationMovieOptions options, int h, int w, ushort[] frames, int[][] masks, float[] dff, float[] sigma, double nu)
    {
        Options = options; HeightPx = h; WidthPx = w; Frames = frames; Masks = masks; TrueDff = dff; DffNoiseSigma = sigma; NoiseLevel = nu;
    }

    /// <summary>What was rendered.</summary>
    public SegmentationMovieOptions Options { get; }

    /// <summary>Frame height, px.</summary>
    public int HeightPx { get; }

    /// <summary>Frame width, px.</summary>
    public int WidthPx { get; }

    /// <summary>Frame count.</summary>
    public int FrameCount => Options.Frames;

    /// <summary>Raw frames, frame after frame, row-major detector counts.</summary>
    public ushort[] Frames { get; }

    /// <summary>Per neuron: its mask's pixel indices (row·width + col).</summary>
    public int[][] Masks { get; }

    /// <summary>True ΔF/F, frame-major: [frame × neurons + neuron].</summary>
    public float[] TrueDff { get; }

    /// <summary>Per neuron: s.d. of the shot noise of its ROI-mean ΔF/F in one frame.</summary>
    public float[] DffNoiseSigma { get; }

    /// <summary>Median over neurons of the predicted ν (the requested noise level).</summary>
    public double NoiseLevel { get; }

    /// <summary>Renders the movie (single-threaded; a few thousand 120×88 frames per second).</summary>
    public static SegmentationMovie Render(SegmentationMovieOptions o, Action<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(o);
        var (w, h) = FieldSize(o.Footprints);
        var imaging = new ImagingProfile { WidthPx = w, HeightPx = h, FrameRateHz = o.FrameRateHz };
        var tissue = new TissueProfile { Footprints = o.Footprints, Indicator = o.Indicator, NoiseLevel = o.NoiseLevel, SpontaneousRateHz = o.RateHz };
        imaging.Validate();
        tissue.Validate(imaging);
        var footprints = Footprints.FromProfile(tissue, imaging, o.Seed);
        var vt = new VirtualTissue(tissue, imaging, o.Seed, footprints);
        int n = vt.NeuronCount, p = w * h;
        var frames = new ushort[(long)o.Frames * p];
        var dff = new float[(long)o.Frames * n];
        for (int t = 0; t < o.Frames; t++)
        {
            vt.Render(frames.AsSpan(t * p, p));
            vt.TrueDff.CopyTo(dff.AsSpan(t * n, n));
            if ((t & 255) == 255) progress?.Invoke(t + 1);
        }
        progress?.Invoke(o.Frames);
        var masks = new int[n][];
        var sigma = new float[n];
        double k = 100 * VirtualTissue.MedianAbsDifferenceOfNormals / Math.Sqrt(o.FrameRateHz);
        for (int i = 0; i < n; i++)
        {
            masks[i] = footprints.PixelsOf(i).ToArray();
            sigma[i] = (float)(vt.PredictedNoiseLevel[i] / k);
        }
        var nus = vt.PredictedNoiseLevel.ToArray();
        Array.Sort(nus);
        return new SegmentationMovie(o, h, w, frames, masks, dff, sigma, nus.Length == 0 ? double.NaN : nus[nus.Length / 2]);
    }

    private static (int Width, int Height) FieldSize(string spec)
    {
        using var stream = spec.StartsWith(Footprints.BuiltinPrefix, StringComparison.OrdinalIgnoreCase)
            ? Footprints.OpenBuiltin(spec, out _) ?? throw new ArgumentException($"unknown footprints '{spec}'; builtins: {string.Join(", ", Footprints.BuiltinNames)}", nameof(spec))
            : File.OpenRead(spec);
        using var doc = System.Text.Json.JsonDocument.Parse(stream);
        return (doc.RootElement.GetProperty("width").GetInt32(), doc.RootElement.GetProperty("height").GetInt32());
    }
}
