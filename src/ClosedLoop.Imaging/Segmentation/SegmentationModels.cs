using System.Globalization;
using ClosedLoop.Core;
using ClosedLoop.Models;
using ClosedLoop.Models.Layers;
using ClosedLoop.Models.Inference;
using ClosedLoop.Models.Onnx;
using ClosedLoop.Models.OnnxRuntime;

namespace ClosedLoop.Imaging.Segmentation;

/// <summary>
/// A trained segmentation U-Net with what it was trained on, as stored in the ONNX file's metadata_props: the
/// preprocessing (indicator kinetics, template cut-off, baseline time constant, warm-up), the architecture (to rebuild
/// it at another frame size), and the training range (frame rates, noise levels, neuron size) for out-of-range flags.
/// </summary>
public sealed record SegmentationModel
{
    /// <summary>Metadata value of <c>closedloop.kind</c> for these models.</summary>
    public const string Kind = "segmentation-unet";

    /// <summary>The trained network (at the training crop size; fully convolutional).</summary>
    public required Network Network { get; init; }

    /// <summary>Short name for reports (file name or "shipped default").</summary>
    public string Name { get; init; } = "segmentation";

    /// <summary>Channels per U-Net depth, shallowest first.</summary>
    public int[] Channels { get; init; } = [4, 8, 16];

    /// <summary>Convolutions per depth on each side (1 or 2).</summary>
    public int ConvsPerLevel { get; init; } = 1;

    /// <summary>Preprocessing used in training (its frame rate is the training rate; at run time the template is
    /// resampled to the movie's rate).</summary>
    public required SnrSettings Preprocessing { get; init; }

    /// <summary>Lowest and highest training frame rate, Hz.</summary>
    public double FrameRateMinHz { get; init; }

    /// <summary>Highest training frame rate, Hz.</summary>
    public double FrameRateMaxHz { get; init; }

    /// <summary>Lowest noise level ν of ROI-mean traces in the training movies (the simulator's calibration).</summary>
    public double NuMin { get; init; } = double.NaN;

    /// <summary>Highest ROI-mean ν in training.</summary>
    public double NuMax { get; init; } = double.NaN;

    /// <summary>Lowest per-pixel noise level measured by <see cref="SnrPreprocessor.PixelNoiseLevel"/> on the training movies.</summary>
    public double PixelNuMin { get; init; } = double.NaN;

    /// <summary>Highest per-pixel noise level measured on the training movies.</summary>
    public double PixelNuMax { get; init; } = double.NaN;

    /// <summary>Median neuron diameter in the training masks, px (diameter of the disk of equal area).</summary>
    public double NeuronDiameterPx { get; init; } = double.NaN;

    /// <summary>Pixel size of the training data, µm (NaN: not calibrated, e.g. synthetic movies on pixel masks).</summary>
    public double PixelSizeUm { get; init; } = double.NaN;

    /// <summary>Number of U-Net depths: frame sides must be divisible by 2^(depths − 1).</summary>
    public int Depths => Channels.Length;

    /// <summary>What frame sides must be divisible by.</summary>
    public int SizeMultiple => 1 << (Channels.Length - 1);

    /// <summary>Anything else kept in the metadata (training command, validation figures, target threshold).</summary>
    public IReadOnlyDictionary<string, string> Extra { get; init; } = new Dictionary<string, string>();

    private static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The ONNX metadata_props written for this model.</summary>
    public IReadOnlyDictionary<string, string> Metadata()
    {
        var p = Preprocessing;
        var d = new Dictionary<string, string>(Extra)
        {
            ["closedloop.kind"] = Kind,
            ["channels"] = string.Join(",", Channels),
            ["convs_per_level"] = ConvsPerLevel.ToString(CultureInfo.InvariantCulture),
            ["frame_rate_hz"] = F(p.FrameRateHz),
            ["frame_rate_min_hz"] = F(FrameRateMinHz),
            ["frame_rate_max_hz"] = F(FrameRateMaxHz),
            ["indicator"] = p.Indicator,
            ["indicator_rise_s"] = F(p.IndicatorRiseS),
            ["indicator_decay_s"] = F(p.IndicatorDecayS),
            ["template_cutoff"] = F(p.TemplateCutoff),
            ["baseline_time_constant_s"] = F(p.BaselineTimeConstantS),
            ["warmup_s"] = F(p.WarmupS),
            ["background_radius_px"] = p.BackgroundRadiusPx.ToString(CultureInfo.InvariantCulture),
            ["nu_min"] = F(NuMin),
            ["nu_max"] = F(NuMax),
            ["pixel_nu_min"] = F(PixelNuMin),
            ["pixel_nu_max"] = F(PixelNuMax),
            ["neuron_diameter_px"] = F(NeuronDiameterPx),
            ["pixel_size_um"] = F(PixelSizeUm),
        };
        return d;
    }

    /// <summary>The model as ONNX bytes (with <see cref="Metadata"/>).</summary>
    public byte[] ToOnnx() => OnnxExporter.Export(Network, new OnnxExportOptions
    {
        GraphName = "segmentation_unet", Description = "SUNS-like shallow U-Net on SNR frames (ClosedLoop)", Metadata = Metadata(),
    });

    /// <summary>Writes the model as an ONNX file.</summary>
    public void Save(string path) => File.WriteAllBytes(path, ToOnnx());

    /// <summary>Reads a model written by <see cref="Save"/>; a garbled file or one without the metadata gives a
    /// <see cref="SettingException"/> naming <paramref name="source"/> and what is wrong.</summary>
    public static SegmentationModel Load(byte[] bytes, string source)
    {
        const string what = "a segmentation ONNX model written by 'closedloop segment train'";
        OnnxModel m;
        try { m = OnnxImporter.Load(bytes, source); }
        catch (OnnxFormatException ex) { throw new SettingException("segmentation.model", source, $"{what} ({ex.Message})"); }
        var md = m.Metadata;
        if (!md.TryGetValue("closedloop.kind", out var kind) || kind != Kind)
            throw new SettingException("segmentation.model", source, $"{what}: its metadata 'closedloop.kind' must be '{Kind}'");
        var inShape = m.Network.InputShape;
        var outShape = m.Network.OutputShape;
        if (inShape.Length != 3 || inShape[0] != 1 || outShape.Length != 3 || outShape[0] != 1)
            throw new SettingException("segmentation.model", source,
                $"{what}: input [N, 1, H, W] and output [N, 1, H, W]; this one has input [N, {string.Join(", ", inShape)}] and output [N, {string.Join(", ", outShape)}]");
        double Num(string key, bool required = true)
        {
            if (md.TryGetValue(key, out var s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) return v;
            if (!required) return double.NaN;
            throw new SettingException("segmentation.model", source, $"{what}: metadata '{key}' is missing or not a number");
        }
        int[] channels;
        try { channels = md["channels"].Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray(); }
        catch (Exception e) when (e is KeyNotFoundException or FormatException or OverflowException)
        {
            throw new SettingException("segmentation.model", source, $"{what}: metadata 'channels' (e.g. 4,8,16) is missing or malformed");
        }
        var pre = new SnrSettings
        {
            FrameRateHz = Num("frame_rate_hz"),
            Indicator = md.TryGetValue("indicator", out var ind) ? ind : "custom",
            IndicatorRiseS = Num("indicator_rise_s"),
            IndicatorDecayS = Num("indicator_decay_s"),
            TemplateCutoff = Num("template_cutoff"),
            BaselineTimeConstantS = Num("baseline_time_constant_s"),
            WarmupS = Num("warmup_s"),
            BackgroundRadiusPx = Num("background_radius_px", false) is double r && !double.IsNaN(r) ? (int)r : 0,
        };
        try { pre.Validate(); }
        catch (SettingException ex) { throw new SettingException("segmentation.model", source, $"{what}: its preprocessing metadata is out of range ({ex.Message})"); }
        string[] known = ["closedloop.kind", "channels", "convs_per_level", "frame_rate_hz", "frame_rate_min_hz", "frame_rate_max_hz", "indicator",
            "indicator_rise_s", "indicator_decay_s", "template_cutoff", "baseline_time_constant_s", "warmup_s", "background_radius_px", "nu_min", "nu_max",
            "pixel_nu_min", "pixel_nu_max", "neuron_diameter_px", "pixel_size_um"];
        return new SegmentationModel
        {
            Network = m.Network,
            Name = Path.GetFileName(source),
            Channels = channels,
            ConvsPerLevel = (int)Num("convs_per_level"),
            Preprocessing = pre,
            FrameRateMinHz = Num("frame_rate_min_hz", false) is double lo && !double.IsNaN(lo) ? lo : pre.FrameRateHz,
            FrameRateMaxHz = Num("frame_rate_max_hz", false) is double hi && !double.IsNaN(hi) ? hi : pre.FrameRateHz,
            NuMin = Num("nu_min", false),
            NuMax = Num("nu_max", false),
            PixelNuMin = Num("pixel_nu_min", false),
            PixelNuMax = Num("pixel_nu_max", false),
            NeuronDiameterPx = Num("neuron_diameter_px", false),
            PixelSizeUm = Num("pixel_size_um", false),
            Extra = md.Where(kv => !known.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value),
        };
    }

    /// <summary>The network rebuilt for <paramref name="heightPx"/> × <paramref name="widthPx"/> frames with the same
    /// parameters (the U-Net is fully convolutional: only the activation sizes change).</summary>
    public Network NetworkFor(int heightPx, int widthPx)
    {
        var shape = Network.InputShape;
        if (shape[1] == heightPx && shape[2] == widthPx) return Network;
        var net = Architectures.ShallowUNet(heightPx, widthPx, Channels, 1, ActivationKind.Elu, ConvsPerLevel);
        if (net.Parameters.Length != Network.Parameters.Length)
            throw new SettingException("segmentation.model", Name, $"a shallow U-Net with channels {string.Join(",", Channels)} and {ConvsPerLevel} convolution(s) per depth ({net.Parameters.Length} parameters); the file holds {Network.Parameters.Length}");
        Network.Parameters.CopyTo(net.Parameters, 0);
        return net;
    }
}

/// <summary>Opens segmentation models: the shipped default or a file a lab trained on its own data.</summary>
public static class SegmentationModels
{
    /// <summary>Manifest name of the shipped default model (embedded in ClosedLoop.Imaging.dll; the file is
    /// src/ClosedLoop.Imaging/Models/segmentation-default.onnx).</summary>
    public const string ShippedResource = "ClosedLoop.Imaging.Models.segmentation-default.onnx";

    /// <summary>The shipped default model's ONNX bytes.</summary>
    public static byte[] ShippedBytes()
    {
        using var s = typeof(SegmentationModels).Assembly.GetManifestResourceStream(ShippedResource)
            ?? throw new SettingException("segmentation.model", "(shipped default)", "a model embedded in this build (none is; pass a model file or run 'closedloop segment train')");
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    /// <summary>Reads a model: <paramref name="modelPath"/> null means the shipped default.</summary>
    public static SegmentationModel Load(string? modelPath)
    {
        if (modelPath is null) return SegmentationModel.Load(ShippedBytes(), "segmentation-default.onnx (shipped)");
        if (!File.Exists(modelPath)) throw new SettingException("segmentation.model", modelPath, "an existing .onnx file (or none for the shipped default model)");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(modelPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SettingException("segmentation.model", modelPath, $"a readable .onnx file ({e.Message})");
        }
        return SegmentationModel.Load(bytes, modelPath);
    }

    /// <summary>Opens a segmenter for frames of <paramref name="heightPx"/> × <paramref name="widthPx"/> at
    /// <paramref name="frameRateHz"/>; <paramref name="modelPath"/> null means the shipped default model.</summary>
    public static IFrameSegmenter Open(string? modelPath, int heightPx, int widthPx, double frameRateHz, BackendKind backend = BackendKind.Auto) =>
        new UNetSegmenter(Load(modelPath), heightPx, widthPx, frameRateHz, backend);

    /// <summary>As <see cref="Open"/>, with inference options (threads, library path) and the batch size, returning the
    /// concrete segmenter (for its training-range check and preprocessing state).</summary>
    public static UNetSegmenter OpenUNet(string? modelPath, int heightPx, int widthPx, double frameRateHz, BackendKind backend, InferenceOptions options, int maxBatch = 32) =>
        new(Load(modelPath), heightPx, widthPx, frameRateHz, backend, options, maxBatch);
}
