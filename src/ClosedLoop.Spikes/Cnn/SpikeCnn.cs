using System.Globalization;
using System.Reflection;
using ClosedLoop.Core;
using ClosedLoop.Models;
using ClosedLoop.Models.Inference;
using ClosedLoop.Models.Layers;
using ClosedLoop.Models.Onnx;
using ClosedLoop.Models.Training;

namespace ClosedLoop.Spikes.Cnn;

/// <summary>Settings of the CASCADE-like spike CNN: window, look-ahead, architecture, augmentation and training.</summary>
public sealed record SpikeCnnSettings
{
    /// <summary>Samples per input window: a multiple of 4; with same padding also of 2^(convolutions − 1), with valid
    /// padding such that the length before each pooling is even (see <see cref="Architectures.SpikeCnn"/>).</summary>
    public int WindowSamples { get; init; } = 128;

    /// <summary>Future samples the window holds after the inferred sample t (added latency = this / rate).</summary>
    public int LookAheadSamples { get; init; } = 32;

    /// <summary>Frame rate the model works at, Hz; traces at other rates are resampled to it.</summary>
    public double ModelRateHz { get; init; } = 100;

    /// <summary>Filters per convolution.</summary>
    public int[] Filters { get; init; } = [8, 8, 8, 8];

    /// <summary>Kernel length per convolution (odd).</summary>
    public int[] Kernels { get; init; } = [9, 5, 5, 3];

    /// <summary>Units of the dense hidden layer.</summary>
    public int Hidden { get; init; } = 16;

    /// <summary>Edge handling of the convolutions: same (zero padding at the window's edges) or valid (none, so every
    /// position of every layer can be computed once when the network is streamed).</summary>
    public ConvPadding Padding { get; init; } = ConvPadding.Valid;

    /// <summary>Gaussian smoothing of the ground-truth spikes, samples (σ).</summary>
    public double TargetSigmaSamples { get; init; } = 3;

    /// <summary>Noise factors: each trace is used once per factor with white noise added so its ν is multiplied by it.</summary>
    public double[] NoiseFactors { get; init; } = [1, 1.5, 2.5];

    /// <summary>Frame rates (Hz) a training trace is resampled to and back (linear interpolation); empty: none. Rates at
    /// or above the model rate give a copy at the model rate (with its own noise draw).</summary>
    public double[] ResampleRatesHz { get; init; } = [30, 60, 100];

    /// <summary>Training windows drawn per model (from all traces and augmentations).</summary>
    public int TrainingWindows { get; init; } = 150_000;

    /// <summary>Passes over the drawn windows.</summary>
    public int Epochs { get; init; } = 4;

    /// <summary>Adam learning rate.</summary>
    public double LearningRate { get; init; } = 2e-3;

    /// <summary>Training loss: Poisson NLL (default) or mean squared error.</summary>
    public LossKind Loss { get; init; } = LossKind.PoissonNll;

    /// <summary>Mini-batch size.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Threads for training.</summary>
    public int Threads { get; init; } = 2;

    /// <summary>Fraction of the training windows drawn from synthetic traces when some are given (the rest from the
    /// real, augmented traces).</summary>
    public double SyntheticFraction { get; init; } = 0.5;

    /// <summary>How each trace is scaled before the network.</summary>
    public SpikeCnnNormalisation Normalisation { get; init; } = SpikeCnnNormalisation.StandardDeviation;

    /// <summary>Largest streaming cost allowed, multiply-adds per model sample (see <see cref="StreamingMultiplyAdds"/>).</summary>
    public const int MaxStreamingMultiplyAdds = 4000;

    /// <summary>
    /// Multiply-adds per model sample when the network runs as a stream (each convolution output computed once):
    /// Σ_i F_(i−1)·F_i·K_i + L_n·F_n·H + H, with F_0 = 1 and L_n the last convolution's output length (W / 2^(n−1)
    /// with same padding; shorter with valid padding, each convolution taking K − 1 samples off).
    /// </summary>
    public int StreamingMultiplyAdds
    {
        get
        {
            long sum = 0, inCh = 1;
            int n = Math.Min(Filters.Length, Kernels.Length);
            for (int i = 0; i < n; i++) { sum += inCh * Filters[i] * Kernels[i]; inCh = Filters[i]; }
            long length = Architectures.SpikeCnnLastLength(WindowSamples, Kernels[..n], Padding).Length;
            sum += length * inCh * Hidden + Hidden;
            return (int)Math.Min(int.MaxValue, sum);
        }
    }

    /// <summary>Checks every field; throws <see cref="SettingException"/> naming the first bad one.</summary>
    public void Validate()
    {
        Check.InRange("WindowSamples", WindowSamples, 8, 1024);
        if (WindowSamples % 4 != 0) throw new SettingException("WindowSamples", WindowSamples, "a multiple of 4");
        Check.InRange("LookAheadSamples", LookAheadSamples, 0, WindowSamples - 1);
        Check.InRange("ModelRateHz", ModelRateHz, 1, 10_000);
        Check.InRange("TargetSigmaSamples", TargetSigmaSamples, 0.1, 20);
        Check.InRange("TrainingWindows", TrainingWindows, 16, 10_000_000);
        Check.InRange("Epochs", Epochs, 1, 1000);
        Check.InRange("BatchSize", BatchSize, 1, 4096);
        foreach (var f in NoiseFactors) Check.InRange("NoiseFactors", f, 1, 20);
        foreach (var r in ResampleRatesHz) Check.InRange("ResampleRatesHz", r, 1, 10_000);
        Check.InRange("SyntheticFraction", SyntheticFraction, 0, 1);
        Check.InRange("Hidden", Hidden, 1, 1024);
        if (Filters.Length == 0 || Filters.Length != Kernels.Length)
            throw new SettingException("Kernels", string.Join(",", Kernels), $"one odd length per convolution ({Filters.Length} filters given)");
        foreach (var f in Filters) Check.InRange("Filters", f, 1, 256);
        foreach (var k in Kernels)
            if (k < 1 || k > 255 || k % 2 == 0) throw new SettingException("Kernels", k, "an odd length 1 … 255");
        if (!Enum.IsDefined(Padding)) throw new SettingException("Padding", Padding, "same or valid");
        if (Architectures.SpikeCnnLastLength(WindowSamples, Kernels, Padding).Problem is { } problem)
            throw new SettingException("WindowSamples", WindowSamples, problem);
        if (StreamingMultiplyAdds > MaxStreamingMultiplyAdds)
            throw new SettingException("Filters/Kernels/Hidden/WindowSamples", StreamingMultiplyAdds,
                $"at most {MaxStreamingMultiplyAdds} streaming multiply-adds per model sample (Σ F·F·K + L·F·H + H)");
    }
}

/// <summary>How a trace is scaled before the network (after the median is subtracted).</summary>
public enum SpikeCnnNormalisation
{
    /// <summary>Divided by the trace's standard deviation about its median.</summary>
    StandardDeviation,

    /// <summary>Divided by the noise estimate median |x(t+1) − x(t)| / 0.954 (the s.d. of white noise with that median
    /// first difference), so the input is in units of the noise: the same statistic as ν.</summary>
    Noise,
}

/// <summary>Preprocessing shared by training and inference, and the noise level ν.</summary>
public static class SpikeCnnPreprocessing
{
    /// <summary>
    /// Standardised noise level ν (Rupprecht et al. 2021): median |x(t+1) − x(t)| / √rate, with x in % ΔF/F
    /// (the fraction ×100). NaN samples are skipped; NaN when fewer than two samples.
    /// </summary>
    public static double NoiseLevel(ReadOnlySpan<double> dff, double rateHz)
    {
        var d = new List<double>(dff.Length);
        for (int t = 1; t < dff.Length; t++)
            if (!double.IsNaN(dff[t]) && !double.IsNaN(dff[t - 1])) d.Add(Math.Abs(dff[t] - dff[t - 1]));
        if (d.Count == 0) return double.NaN;
        d.Sort();
        double med = d.Count % 2 == 1 ? d[d.Count / 2] : 0.5 * (d[d.Count / 2 - 1] + d[d.Count / 2]);
        return 100 * med / Math.Sqrt(rateHz);
    }

    /// <summary>
    /// Normalises one trace for the network: NaN → the previous valid sample (0 at the start), subtract the median,
    /// divide by the standard deviation (1 when it is 0). The same steps run on training and inference traces.
    /// </summary>
    public static float[] Normalise(ReadOnlySpan<double> dff) => Normalise(dff, SpikeCnnNormalisation.StandardDeviation);

    /// <summary>
    /// Normalises one trace: NaN → the previous valid sample (0 at the start), subtract the median, divide by the
    /// standard deviation about the median or by the noise estimate median |Δx| / 0.954 (1 when the divisor is 0).
    /// Both statistics can be estimated online from a running window.
    /// </summary>
    public static float[] Normalise(ReadOnlySpan<double> dff, SpikeCnnNormalisation kind)
    {
        var x = HoldNaN(dff);
        var (center, scale) = Statistics(x, kind);
        var y = new float[x.Length];
        for (int t = 0; t < y.Length; t++) y[t] = (float)((x[t] - center) / scale);
        return y;
    }

    /// <summary>A copy of <paramref name="dff"/> with each NaN replaced by the previous valid sample (leading NaN by the
    /// first valid one, 0 when there is none): how training and inference fill gaps.</summary>
    public static double[] HoldNaN(ReadOnlySpan<double> dff)
    {
        var x = new double[dff.Length];
        double last = double.NaN;
        for (int t = 0; t < x.Length; t++) { if (!double.IsNaN(dff[t])) last = dff[t]; x[t] = last; }
        double first = 0;
        foreach (var v in x) if (!double.IsNaN(v)) { first = v; break; }
        for (int t = 0; t < x.Length && double.IsNaN(x[t]); t++) x[t] = first;
        return x;
    }

    /// <summary>
    /// What <see cref="Normalise(ReadOnlySpan{double}, SpikeCnnNormalisation)"/> subtracts and divides by, for a trace
    /// without NaN (see <see cref="HoldNaN"/>): the median, and the standard deviation about it or the noise estimate
    /// median |x(t+1) − x(t)| / 0.954 (1 when the divisor is 0). The online stage estimates the same two numbers from a
    /// running window with this function.
    /// </summary>
    public static (double Center, double Scale) Statistics(ReadOnlySpan<double> x, SpikeCnnNormalisation kind)
    {
        var sorted = x.ToArray();
        Array.Sort(sorted);
        double med = sorted.Length == 0 ? 0 : sorted[sorted.Length / 2];
        double sd;
        if (kind == SpikeCnnNormalisation.Noise)
        {
            var d = new double[Math.Max(0, x.Length - 1)];
            for (int t = 1; t < x.Length; t++) d[t - 1] = Math.Abs(x[t] - x[t - 1]);
            Array.Sort(d);
            sd = d.Length == 0 ? 0 : d[d.Length / 2] / 0.954;
        }
        else
        {
            double ss = 0;
            foreach (var v in x) ss += (v - med) * (v - med);
            sd = x.Length > 1 ? Math.Sqrt(ss / x.Length) : 0;
        }
        if (!(sd > 0)) sd = 1;
        return (med, sd);
    }

    /// <summary>Linear-interpolation resampling of <paramref name="x"/> from <paramref name="fromHz"/> to <paramref name="toHz"/>.</summary>
    public static double[] Resample(ReadOnlySpan<double> x, double fromHz, double toHz)
    {
        if (x.Length == 0 || Math.Abs(fromHz - toHz) < 1e-9) return x.ToArray();
        int n = Math.Max(1, (int)Math.Floor((x.Length - 1) * toHz / fromHz) + 1);
        var y = new double[n];
        for (int i = 0; i < n; i++)
        {
            double pos = i * fromHz / toHz;
            int k = Math.Min((int)pos, x.Length - 1);
            double f = pos - k;
            y[i] = k + 1 < x.Length ? x[k] * (1 - f) + x[k + 1] * f : x[k];
        }
        return y;
    }

    /// <summary>Fills <paramref name="window"/> with the samples t − (W − 1 − L) … t + L of <paramref name="x"/>,
    /// repeating the edge samples outside the trace.</summary>
    public static void FillWindow(ReadOnlySpan<float> x, int t, int lookAhead, Span<float> window)
    {
        int start = t - (window.Length - 1 - lookAhead);
        for (int i = 0; i < window.Length; i++) window[i] = x[Math.Clamp(start + i, 0, x.Length - 1)];
    }
}

/// <summary>A trained spike CNN: network, look-ahead and the training ν range, stored in ONNX metadata.</summary>
/// <param name="Network">The managed network.</param>
/// <param name="LookAheadSamples">Future samples in each window.</param>
/// <param name="RateHz">Frame rate the model works at.</param>
/// <param name="NuMin">Lowest ν seen in training.</param>
/// <param name="NuMax">Highest ν seen in training.</param>
/// <param name="Seed">Seed it was trained with.</param>
public sealed record SpikeCnnModel(Network Network, int LookAheadSamples, double RateHz, double NuMin, double NuMax, int Seed)
{
    /// <summary>Samples per input window.</summary>
    public int WindowSamples => Network.InputShape[^1];

    /// <summary>Multiply-adds per model sample when the network runs as a stream (each convolution output computed once,
    /// the dense layers per sample): the convolutions' and dense layers' weight counts, Σ F·F·K + L·F·H + H (L: the last convolution's output length).</summary>
    public int StreamingMultiplyAdds => Network.Nodes.Sum(n => n.Layer switch
    {
        Conv1d c => c.WeightCount,
        Dense d => d.WeightCount,
        _ => 0,
    });

    /// <summary>How traces are scaled for this model (metadata <c>normalisation_kind</c>: <c>sd</c> or <c>noise</c>;
    /// files without the key are <c>sd</c>).</summary>
    public SpikeCnnNormalisation Normalisation { get; init; } = SpikeCnnNormalisation.StandardDeviation;

    /// <summary>The ONNX metadata written for this model.</summary>
    public IReadOnlyDictionary<string, string> Metadata => new Dictionary<string, string>
    {
        ["closedloop.kind"] = "spike-cnn",
        ["look_ahead_samples"] = LookAheadSamples.ToString(CultureInfo.InvariantCulture),
        ["rate_hz"] = RateHz.ToString("R", CultureInfo.InvariantCulture),
        ["nu_min"] = NuMin.ToString("R", CultureInfo.InvariantCulture),
        ["nu_max"] = NuMax.ToString("R", CultureInfo.InvariantCulture),
        ["seed"] = Seed.ToString(CultureInfo.InvariantCulture),
        ["normalisation"] = Normalisation == SpikeCnnNormalisation.Noise
            ? "median subtracted, divided by median |x(t+1) - x(t)| / 0.954, per trace"
            : "median subtracted, divided by standard deviation, per trace",
        ["normalisation_kind"] = Normalisation == SpikeCnnNormalisation.Noise ? "noise" : "sd",
    };

    /// <summary>The model as ONNX bytes (what <see cref="Save"/> writes).</summary>
    public byte[] ToOnnx() => OnnxExporter.Export(Network, ExportOptions);

    private OnnxExportOptions ExportOptions => new()
    {
        GraphName = "spike_cnn", Description = "CASCADE-like spike-rate CNN (ClosedLoop)", Metadata = Metadata,
    };

    /// <summary>Writes the model as ONNX.</summary>
    public void Save(string path) => OnnxExporter.Save(Network, path, ExportOptions);

    /// <summary>Reads a spike-CNN ONNX file written by <see cref="Save"/>; a model of another shape or without the
    /// metadata gives a <see cref="SettingException"/> naming the source.</summary>
    public static SpikeCnnModel Load(byte[] bytes, string source)
    {
        OnnxModel m;
        try { m = OnnxImporter.Load(bytes, source); }
        catch (OnnxFormatException ex) { throw new SettingException("--model", source, "a spike-CNN ONNX file written by 'closedloop spikes train' (" + ex.Message + ")"); }
        var inShape = m.Network.InputShape;
        var outShape = m.Network.OutputShape;
        if (inShape.Length != 2 || inShape[0] != 1 || outShape.Length != 1 || outShape[0] != 1)
            throw new SettingException("--model", source,
                $"a spike CNN with input [N, 1, W] and output [N, 1]; this model has input [N, {string.Join(", ", inShape)}] and output [N, {string.Join(", ", outShape)}]");
        double Get(string key)
        {
            if (!m.Metadata.TryGetValue(key, out var s) || !double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                throw new SettingException("--model", source, $"a spike-CNN ONNX file with metadata '{key}' (written by 'closedloop spikes train')");
            return v;
        }
        int look = (int)Get("look_ahead_samples");
        if (look < 0 || look >= inShape[1]) throw new SettingException("look_ahead_samples", look, $"0 … {inShape[1] - 1}", source);
        var norm = SpikeCnnNormalisation.StandardDeviation;
        if (m.Metadata.TryGetValue("normalisation_kind", out var kind))
            norm = kind switch
            {
                "sd" => SpikeCnnNormalisation.StandardDeviation,
                "noise" => SpikeCnnNormalisation.Noise,
                _ => throw new SettingException("normalisation_kind", kind, "sd or noise", source),
            };
        return new SpikeCnnModel(m.Network, look, Get("rate_hz"), Get("nu_min"), Get("nu_max"), (int)Get("seed")) { Normalisation = norm };
    }

    /// <summary>Reads a model file.</summary>
    public static SpikeCnnModel Load(string path)
    {
        if (!File.Exists(path)) throw new SettingException("--model", path, "an existing .onnx file");
        return Load(File.ReadAllBytes(path), path);
    }
}

/// <summary>One training trace: ΔF/F and ground-truth spikes at the same rate.</summary>
/// <param name="Calcium">ΔF/F samples (NaN allowed at the end).</param>
/// <param name="Spikes">Spike counts per sample.</param>
/// <param name="RateHz">Sampling rate.</param>
public sealed record SpikeTrainingTrace(double[] Calcium, double[] Spikes, double RateHz);

/// <summary>Trains spike CNNs on Spikefinder-style traces with noise and frame-rate augmentation.</summary>
public static class SpikeCnnTrainer
{
    /// <summary>Reads every column of the named Spikefinder datasets (e.g. <c>4.train</c>) in <paramref name="dataFolder"/>.</summary>
    public static List<SpikeTrainingTrace> ReadSpikefinder(string dataFolder, IEnumerable<string> datasets, double rateHz = SpikefinderCsv.DefaultRateHz)
    {
        var traces = new List<SpikeTrainingTrace>();
        foreach (var name in datasets)
        {
            var ca = SpikefinderCsv.Read(Path.Combine(dataFolder, name + ".calcium.csv"), rateHz);
            var sp = SpikefinderCsv.Read(Path.Combine(dataFolder, name + ".spikes.csv"), rateHz);
            for (int j = 0; j < Math.Min(ca.Count, sp.Count); j++)
            {
                int n = 0;
                var c = ca.Columns[j]; var s = sp.Columns[j];
                while (n < Math.Min(c.Length, s.Length) && !double.IsNaN(c[n]) && !double.IsNaN(s[n])) n++;
                if (n > 0) traces.Add(new SpikeTrainingTrace(c[..n], s[..n], rateHz));
            }
        }
        return traces;
    }

    /// <summary>Trains one model with <paramref name="seed"/> (weights and window draw). <paramref name="progress"/>
    /// receives (epoch, loss) after each epoch.</summary>
    public static SpikeCnnModel Train(IReadOnlyList<SpikeTrainingTrace> traces, SpikeCnnSettings settings, int seed, Action<int, double>? progress = null) =>
        Train(traces, [], settings, seed, progress);

    /// <summary>
    /// Trains one model on real <paramref name="traces"/> (noise and frame-rate augmented) mixed with
    /// <paramref name="synthetic"/> traces (used as they are, resampled to the model rate): a fraction
    /// <see cref="SpikeCnnSettings.SyntheticFraction"/> of the windows comes from the synthetic ones when there are any.
    /// </summary>
    public static SpikeCnnModel Train(IReadOnlyList<SpikeTrainingTrace> traces, IReadOnlyList<SpikeTrainingTrace> synthetic, SpikeCnnSettings settings, int seed, Action<int, double>? progress = null)
    {
        settings.Validate();
        if (traces.Count == 0 && synthetic.Count == 0) throw new SettingException("training traces", 0, "at least one trace");
        var rng = new Random(seed);
        int w = settings.WindowSamples, look = settings.LookAheadSamples;
        // Augmented copies: every trace × noise factor (× resampling rate), at the model rate.
        var xs = new List<float[]>();
        var ys = new List<float[]>();
        double nuMin = double.MaxValue, nuMax = 0;
        var rates = settings.ResampleRatesHz.Length == 0 ? [settings.ModelRateHz] : settings.ResampleRatesHz;
        foreach (var tr in traces)
        {
            var ca = SpikeCnnPreprocessing.Resample(tr.Calcium, tr.RateHz, settings.ModelRateHz);
            var target = SmoothedTarget(tr.Spikes, tr.RateHz, settings.ModelRateHz, ca.Length, settings.TargetSigmaSamples);
            double nu0 = SpikeCnnPreprocessing.NoiseLevel(ca, settings.ModelRateHz);
            double nuScale = SpikeCnnPreprocessing.NoiseLevel(tr.Calcium, tr.RateHz) / nu0; // ν is measured at the trace's own rate
            foreach (var rate in rates)
            foreach (var factor in settings.NoiseFactors)
            {
                var noisy = (double[])ca.Clone();
                if (factor > 1)
                {
                    // White noise of s.d. σ raises median|Δx| from m0 to about sqrt(m0² + (0.954σ)²).
                    double m0 = nu0 * Math.Sqrt(settings.ModelRateHz) / 100;
                    double sigma = m0 * Math.Sqrt(factor * factor - 1) / 0.954;
                    for (int t = 0; t < noisy.Length; t++) noisy[t] += sigma * Gaussian(rng);
                }
                double nu = SpikeCnnPreprocessing.NoiseLevel(noisy, settings.ModelRateHz) * nuScale;
                if (rate < settings.ModelRateHz - 1e-9)
                {
                    // Down to the other rate and back: the detail a slower camera loses is lost here too; ν is that of
                    // the trace at the slower rate, as inference would measure it.
                    var slow = SpikeCnnPreprocessing.Resample(noisy, settings.ModelRateHz, rate);
                    nu = SpikeCnnPreprocessing.NoiseLevel(slow, rate);
                    var back = SpikeCnnPreprocessing.Resample(slow, rate, settings.ModelRateHz);
                    for (int t = 0; t < noisy.Length; t++) noisy[t] = back[Math.Min(t, back.Length - 1)];
                }
                nuMin = Math.Min(nuMin, nu); nuMax = Math.Max(nuMax, nu);
                xs.Add(SpikeCnnPreprocessing.Normalise(noisy, settings.Normalisation));
                ys.Add(target[..noisy.Length]);
            }
        }
        var sxs = new List<float[]>();
        var sys = new List<float[]>();
        foreach (var tr in synthetic)
        {
            var ca = SpikeCnnPreprocessing.Resample(tr.Calcium, tr.RateHz, settings.ModelRateHz);
            if (ca.Length == 0) continue;
            double nu = SpikeCnnPreprocessing.NoiseLevel(tr.Calcium, tr.RateHz);
            nuMin = Math.Min(nuMin, nu); nuMax = Math.Max(nuMax, nu);
            sxs.Add(SpikeCnnPreprocessing.Normalise(ca, settings.Normalisation));
            sys.Add(SmoothedTarget(tr.Spikes, tr.RateHz, settings.ModelRateHz, ca.Length, settings.TargetSigmaSamples));
        }
        double fraction = sxs.Count == 0 ? 0 : xs.Count == 0 ? 1 : settings.SyntheticFraction;
        long total = xs.Sum(x => (long)x.Length), sTotal = sxs.Sum(x => (long)x.Length);
        int samples = settings.TrainingWindows;
        var inputs = new float[(long)samples * w];
        var targets = new float[samples];
        for (int i = 0; i < samples; i++)
        {
            bool syn = rng.NextDouble() < fraction;
            var px = syn ? sxs : xs;
            var py = syn ? sys : ys;
            long pick = (long)(rng.NextDouble() * (syn ? sTotal : total));
            int k = 0;
            while (pick >= px[k].Length) { pick -= px[k].Length; k++; }
            int t = (int)pick;
            SpikeCnnPreprocessing.FillWindow(px[k], t, look, inputs.AsSpan(i * w, w));
            targets[i] = py[k][t];
        }
        var net = Architectures.SpikeCnn(w, settings.Filters, settings.Kernels, settings.Hidden, seed, settings.Padding);
        var trainer = new Trainer(net, new TrainerSettings
        {
            Loss = settings.Loss, LearningRate = settings.LearningRate, BatchSize = settings.BatchSize,
            Threads = settings.Threads, Seed = seed,
        });
        trainer.Fit(inputs, targets, samples, settings.Epochs, progress);
        return new SpikeCnnModel(net, look, settings.ModelRateHz, nuMin, nuMax, seed) { Normalisation = settings.Normalisation };
    }

    private static float[] SmoothedTarget(double[] spikes, double fromHz, double toHz, int length, double sigma)
    {
        var binned = new double[length];
        for (int t = 0; t < spikes.Length; t++)
        {
            if (double.IsNaN(spikes[t]) || spikes[t] == 0) continue;
            int k = (int)Math.Round(t * toHz / fromHz);
            if (k < length) binned[k] += spikes[t];
        }
        int r = (int)Math.Ceiling(4 * sigma);
        var kernel = new double[2 * r + 1];
        for (int i = -r; i <= r; i++) kernel[i + r] = Math.Exp(-0.5 * i * i / (sigma * sigma));
        double sum = kernel.Sum();
        var y = new float[length];
        for (int t = 0; t < length; t++)
        {
            if (binned[t] == 0) continue;
            for (int i = -r; i <= r; i++)
                if (t + i >= 0 && t + i < length) y[t + i] += (float)(binned[t] * kernel[i + r] / sum);
        }
        return y;
    }

    private static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}

/// <summary>Ensemble result for one trace: mean rate, band and noise level.</summary>
/// <param name="Mean">Ensemble mean spike rate per sample (spikes per sample, at the input rate).</param>
/// <param name="Lower">Mean − 1 s.d. across models, floored at 0.</param>
/// <param name="Upper">Mean + 1 s.d. across models.</param>
/// <param name="Nu">Noise level ν of the trace.</param>
/// <param name="NuOutsideTraining">True when ν lies outside the range the models were trained on.</param>
public sealed record SpikeCnnTraceResult(double[] Mean, double[] Lower, double[] Upper, double Nu, bool NuOutsideTraining);

/// <summary>Offline inference with an ensemble of spike CNNs through <see cref="InferenceBackends"/> (ONNX Runtime when
/// its library loads, else the managed forward).</summary>
public sealed class SpikeCnnInference : IDisposable
{
    private readonly IInferenceBackend[] _backends;
    private const int Chunk = 4096;

    /// <summary>Opens an ensemble from ONNX bytes (sources name them in errors).</summary>
    public SpikeCnnInference(IReadOnlyList<(byte[] Bytes, string Source)> models, BackendKind kind = BackendKind.Auto)
    {
        if (models.Count == 0) throw new SettingException("--model", "(none)", "at least one spike-CNN ONNX model");
        Models = models.Select(m => SpikeCnnModel.Load(m.Bytes, m.Source)).ToArray();
        var first = Models[0];
        foreach (var m in Models)
            if (m.WindowSamples != first.WindowSamples || m.LookAheadSamples != first.LookAheadSamples || m.RateHz != first.RateHz)
                throw new SettingException("--model", "ensemble", "models with the same window, look-ahead and rate");
        foreach (var m in Models)
            if (m.Normalisation != first.Normalisation)
                throw new SettingException("--model", "ensemble", "models with the same normalisation");
        _backends = models.Select(m => InferenceBackends.Open(m.Bytes, kind, null, m.Source)).ToArray();
    }

    /// <summary>Opens the five shipped models (embedded in this assembly).</summary>
    public static SpikeCnnInference OpenShipped(BackendKind kind = BackendKind.Auto) => new(ShippedModels(), kind);

    /// <summary>The shipped ONNX files, in seed order.</summary>
    public static IReadOnlyList<(byte[] Bytes, string Source)> ShippedModels()
    {
        var asm = typeof(SpikeCnnInference).Assembly;
        var list = new List<(byte[], string)>();
        foreach (var name in asm.GetManifestResourceNames().Where(n => n.StartsWith("ClosedLoop.Spikes.Models.spike-cnn-", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            using var s = asm.GetManifestResourceStream(name)!;
            using var ms = new MemoryStream();
            s.CopyTo(ms);
            list.Add((ms.ToArray(), name["ClosedLoop.Spikes.Models.".Length..]));
        }
        if (list.Count == 0) throw new SettingException("--model", "cnn", "shipped models (none are embedded in this build; run 'closedloop spikes train')");
        return list;
    }

    /// <summary>The models' descriptions.</summary>
    public IReadOnlyList<SpikeCnnModel> Models { get; }

    /// <summary>Backend name of the first model (e.g. <c>onnxruntime 1.30.0 (CPU)</c> or <c>managed</c>).</summary>
    public string BackendName => _backends[0].Name;

    /// <summary>Why the backend is not ONNX Runtime, when it is not.</summary>
    public string? BackendNote => _backends[0].Note;

    /// <summary>Added latency of the look-ahead, seconds.</summary>
    public double LatencyS => Models[0].LookAheadSamples / Models[0].RateHz;

    /// <summary>Lowest ν of the training range (over the ensemble).</summary>
    public double NuMin => Models.Min(m => m.NuMin);

    /// <summary>Highest ν of the training range (over the ensemble).</summary>
    public double NuMax => Models.Max(m => m.NuMax);

    /// <summary>Infers the rate of one trace sampled at <paramref name="rateHz"/> (NaN samples give NaN).</summary>
    public SpikeCnnTraceResult Infer(ReadOnlySpan<double> dff, double rateHz)
    {
        Check.Positive("rateHz", rateHz);
        var m0 = Models[0];
        var src = dff.ToArray();
        int valid = src.Length;
        while (valid > 0 && double.IsNaN(src[valid - 1])) valid--;
        var atModel = SpikeCnnPreprocessing.Resample(src.AsSpan(0, valid), rateHz, m0.RateHz);
        double nu = SpikeCnnPreprocessing.NoiseLevel(src.AsSpan(0, valid), rateHz);
        var x = SpikeCnnPreprocessing.Normalise(atModel, m0.Normalisation);
        int n = x.Length, w = m0.WindowSamples, look = m0.LookAheadSamples, k = _backends.Length;
        var sum = new double[n]; var sumSq = new double[n];
        var input = new float[Math.Min(Chunk, Math.Max(n, 1)) * w];
        var output = new float[Math.Min(Chunk, Math.Max(n, 1))];
        for (int start = 0; start < n; start += Chunk)
        {
            int b = Math.Min(Chunk, n - start);
            for (int i = 0; i < b; i++) SpikeCnnPreprocessing.FillWindow(x, start + i, look, input.AsSpan(i * w, w));
            foreach (var be in _backends)
            {
                be.Run(input.AsSpan(0, b * w), b, output.AsSpan(0, b));
                for (int i = 0; i < b; i++) { sum[start + i] += output[i]; sumSq[start + i] += (double)output[i] * output[i]; }
            }
        }
        var mean = new double[n]; var lo = new double[n]; var hi = new double[n];
        for (int t = 0; t < n; t++)
        {
            mean[t] = sum[t] / k;
            double sd = k > 1 ? Math.Sqrt(Math.Max(0, (sumSq[t] - k * mean[t] * mean[t]) / (k - 1))) : 0;
            lo[t] = Math.Max(0, mean[t] - sd); hi[t] = mean[t] + sd;
        }
        // Back to the input rate; a rate in spikes per model sample becomes spikes per input sample.
        double scale = m0.RateHz / rateHz;
        double[] Back(double[] v)
        {
            var r = SpikeCnnPreprocessing.Resample(v, m0.RateHz, rateHz);
            var o = new double[src.Length];
            for (int t = 0; t < o.Length; t++) o[t] = t < valid ? (t < r.Length ? r[t] : r[^1]) * scale : double.NaN;
            for (int t = 0; t < valid; t++) if (double.IsNaN(src[t])) o[t] = double.NaN;
            return o;
        }
        bool outside = !(nu >= NuMin && nu <= NuMax);
        return new SpikeCnnTraceResult(Back(mean), Back(lo), Back(hi), nu, outside);
    }

    /// <summary>
    /// One frame of the online use: <paramref name="batch"/> normalised windows (one per ROI, batch × window floats)
    /// through every model; <paramref name="mean"/> receives the ensemble mean per ROI. <paramref name="scratch"/> holds
    /// at least <paramref name="batch"/> floats. Allocates nothing after the first call of a batch size.
    /// </summary>
    public void RunWindows(ReadOnlySpan<float> windows, int batch, Span<float> mean, Span<float> scratch)
    {
        mean[..batch].Clear();
        foreach (var be in _backends)
        {
            be.Run(windows, batch, scratch[..batch]);
            for (int i = 0; i < batch; i++) mean[i] += scratch[i];
        }
        float inv = 1f / _backends.Length;
        for (int i = 0; i < batch; i++) mean[i] *= inv;
    }

    /// <summary>Infers every column of a Spikefinder table (columns one after another).</summary>
    public IReadOnlyList<SpikeCnnTraceResult> Infer(SpikefinderTable calcium)
    {
        var r = new SpikeCnnTraceResult[calcium.Count];
        for (int j = 0; j < calcium.Count; j++) r[j] = Infer(calcium.Columns[j], calcium.SamplingRateHz);
        return r;
    }

    /// <summary>Releases the backends.</summary>
    public void Dispose()
    {
        foreach (var b in _backends) b.Dispose();
    }
}
