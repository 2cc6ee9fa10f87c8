using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ClosedLoop.Core;
using ClosedLoop.Hardware;
using ClosedLoop.Models.Inference;
using ClosedLoop.Models.Layers;
using ClosedLoop.Models.Training;
using ClosedLoop.Spikes;
using ClosedLoop.Spikes.Cnn;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary>
/// <c>closedloop spikes</c>: spike inference on Spikefinder CSV files (infer, score, evaluate) and the per-frame cost
/// of the online deconvolution stage (bench).
/// </summary>
public static class SpikesCommand
{
    /// <summary>Default folder of the Spikefinder data, relative to the working directory.</summary>
    public const string DefaultDataFolder = "../shared/data/spikefinder";

    /// <summary>Creates the command and its subcommands.</summary>
    public static Command Create()
    {
        var cmd = new Command("spikes", "Spike inference: deconvolve calcium traces (OASIS), score predictions with the Spikefinder metric, evaluate on the Spikefinder data.");
        cmd.Subcommands.Add(CreateInfer());
        cmd.Subcommands.Add(CreateScore());
        cmd.Subcommands.Add(CreateEvaluate());
        cmd.Subcommands.Add(CreateTrain());
        cmd.Subcommands.Add(CreateCv());
        cmd.Subcommands.Add(CreateBench());
        return cmd;
    }

    private static Option<double> RateOption() =>
        new("--rate-hz") { Description = "Sampling rate of the files, Hz (Spikefinder: 100).", DefaultValueFactory = _ => SpikefinderCsv.DefaultRateHz };

    private static Option<string?> ModelOption(string? fallback) =>
        new("--model") { Description = "cnn (the shipped CNN ensemble), oasis, derivative, or ONNX file(s) of a spike CNN separated by commas (an ensemble). Overrides --method.", DefaultValueFactory = _ => fallback };

    private static Option<string> MethodOption() =>
        new("--method") { Description = "oasis (deconvolution, parameters estimated per neuron) or derivative (ΔF/F derivative clipped at 0, a trivial baseline).", DefaultValueFactory = _ => "oasis" };

    private static Command CreateInfer()
    {
        var input = new Argument<string>("calcium") { Description = "Calcium CSV (Spikefinder layout: header row, one column per neuron)." };
        var output = new Option<string>("--out") { Description = "Where to write the inferred spikes (same layout).", Required = true };
        var rate = RateOption();
        var method = MethodOption();
        var model = ModelOption(null);
        var band = new Option<string?>("--band-out") { Description = "With a CNN: also write the ensemble band (columns NAME.lower, NAME.upper) to this CSV." };
        var cmd = new Command("infer", "Infer spikes from a calcium CSV and write them as a spikes CSV.") { input, output, rate, method, model, band };
        cmd.SetAction(p => Infer(p.GetValue(input)!, p.GetValue(output)!, p.GetValue(rate), p.GetValue(model) ?? p.GetValue(method)!, p.GetValue(band), AnsiConsole.Console));
        return cmd;
    }

    private static Command CreateScore()
    {
        var truth = new Argument<string>("truth") { Description = "Ground-truth spikes CSV." };
        var predicted = new Argument<string>("predicted") { Description = "Predicted spikes CSV." };
        var rate = RateOption();
        var perNeuron = new Option<bool>("--per-neuron") { Description = "List the correlation of every neuron." };
        var cmd = new Command("score", "Score predicted spikes against the truth: per neuron, Pearson correlation of spike counts in 40 ms bins; mean and median.")
            { truth, predicted, rate, perNeuron };
        cmd.SetAction(p => Score(p.GetValue(truth)!, p.GetValue(predicted)!, p.GetValue(rate), p.GetValue(perNeuron), AnsiConsole.Console));
        return cmd;
    }

    private static Command CreateEvaluate()
    {
        var data = new Option<string>("--data") { Description = "Folder of N.{train,test}.{calcium,spikes}.csv files.", DefaultValueFactory = _ => DefaultDataFolder };
        var rate = RateOption();
        var model = ModelOption("cnn");
        var cmd = new Command("evaluate", "Run OASIS (per-neuron estimated parameters, no ground truth used), the CNN ensemble and the derivative baseline on every Spikefinder dataset in a folder and print their mean and median correlations.")
            { data, rate, model };
        cmd.SetAction(p => Evaluate(p.GetValue(data)!, p.GetValue(rate), p.GetValue(model) ?? "cnn", AnsiConsole.Console));
        return cmd;
    }

    /// <summary>The options shared by <c>spikes train</c> and <c>spikes cv</c>: data, architecture, augmentation, training.</summary>
    private sealed class TrainOptions
    {
        private static readonly SpikeCnnSettings D = new();
        public readonly Option<string> Data = new("--data") { Description = "Folder of the Spikefinder files.", DefaultValueFactory = _ => DefaultDataFolder };
        public readonly Option<string> Datasets = new("--datasets") { Description = "Training datasets, comma-separated (never the held-out 4.test).", DefaultValueFactory = _ => "4.train,6.train" };
        public readonly Option<int> Models = new("--models") { Description = "Ensemble size (seeds seed … seed + models − 1).", DefaultValueFactory = _ => 5 };
        public readonly Option<int> Seed = new("--seed") { Description = "First seed.", DefaultValueFactory = _ => 0 };
        public readonly Option<double> ModelRate = new("--model-rate-hz") { Description = "Frame rate the models work at, Hz (traces are resampled to it).", DefaultValueFactory = _ => D.ModelRateHz };
        public readonly Option<int> Look = new("--look-ahead") { Description = "Future samples per window (added latency = look-ahead / model rate).", DefaultValueFactory = _ => D.LookAheadSamples };
        public readonly Option<int> Window = new("--window") { Description = "Samples per window (multiple of 2^(convolutions − 1)).", DefaultValueFactory = _ => D.WindowSamples };
        public readonly Option<string> Filters = new("--filters") { Description = "Filters per convolution, comma-separated.", DefaultValueFactory = _ => string.Join(",", D.Filters) };
        public readonly Option<string> Kernels = new("--kernels") { Description = "Kernel length per convolution (odd), comma-separated.", DefaultValueFactory = _ => string.Join(",", D.Kernels) };
        public readonly Option<int> Hidden = new("--hidden") { Description = "Units of the dense hidden layer.", DefaultValueFactory = _ => D.Hidden };
        public readonly Option<string> Padding = new("--padding") { Description = "same (zero padding at the window's edges) or valid (none; streams without recomputing edges).", DefaultValueFactory = _ => D.Padding == ConvPadding.Valid ? "valid" : "same" };
        public readonly Option<string> Normalisation = new("--normalisation") { Description = "sd (divide by the trace's s.d.) or noise (divide by median |Δx| / 0.954).", DefaultValueFactory = _ => D.Normalisation == SpikeCnnNormalisation.Noise ? "noise" : "sd" };
        public readonly Option<string> Loss = new("--loss") { Description = "Training loss: poisson (Poisson NLL of the rate) or mse (mean squared error).", DefaultValueFactory = _ => D.Loss == LossKind.MeanSquaredError ? "mse" : "poisson" };
        public readonly Option<int> Windows = new("--windows") { Description = "Training windows drawn per model.", DefaultValueFactory = _ => D.TrainingWindows };
        public readonly Option<int> Epochs = new("--epochs") { Description = "Epochs over the drawn windows.", DefaultValueFactory = _ => D.Epochs };
        public readonly Option<string> Resample = new("--resample-hz") { Description = "Frame rates (Hz, comma-separated) each real training trace is resampled to and back; empty: none.", DefaultValueFactory = _ => string.Join(",", D.ResampleRatesHz) };
        public readonly Option<string> Noise = new("--noise-factors") { Description = "Factors (comma-separated, ≥ 1) by which added white noise multiplies each real trace's ν.", DefaultValueFactory = _ => string.Join(",", D.NoiseFactors) };
        public readonly Option<double> Sigma = new("--target-sigma") { Description = "Gaussian smoothing of the true spikes, model samples.", DefaultValueFactory = _ => D.TargetSigmaSamples };
        public readonly Option<double> SynFraction = new("--synthetic-fraction") { Description = "Fraction of the training windows drawn from synthetic traces (0: none are made).", DefaultValueFactory = _ => D.SyntheticFraction };
        public readonly Option<string> SynIndicators = new("--synthetic-indicators") { Description = "Virtual-tissue indicator presets for the synthetic traces, comma-separated.", DefaultValueFactory = _ => "GCaMP6s,GCaMP6f,OGB-1" };
        public readonly Option<int> SynTraces = new("--synthetic-traces") { Description = "Synthetic neurons per model.", DefaultValueFactory = _ => new SyntheticTraceSettings().Traces };
        public readonly Option<string> SynNu = new("--synthetic-nu") { Description = "ν range of the synthetic traces, MIN,MAX (% ΔF/F per √Hz; log-uniform).", DefaultValueFactory = _ => $"{new SyntheticTraceSettings().NuMin.ToString(CultureInfo.InvariantCulture)},{new SyntheticTraceSettings().NuMax.ToString(CultureInfo.InvariantCulture)}" };
        public readonly Option<string> SynRates = new("--synthetic-rates-hz") { Description = "Frame rates of the synthetic traces, Hz, comma-separated (one drawn per trace).", DefaultValueFactory = _ => string.Join(",", new SyntheticTraceSettings().FrameRatesHz.Select(r => r.ToString(CultureInfo.InvariantCulture))) };

        public void AddTo(Command cmd)
        {
            foreach (var o in new Option[] { Data, Datasets, Models, Seed, ModelRate, Look, Window, Filters, Kernels, Hidden, Padding, Normalisation, Loss, Windows, Epochs, Resample, Noise, Sigma,
                SynFraction, SynIndicators, SynTraces, SynNu, SynRates })
                cmd.Options.Add(o);
        }

        public SpikeCnnSettings Settings(ParseResult p) => new()
        {
            ModelRateHz = p.GetValue(ModelRate), LookAheadSamples = p.GetValue(Look), WindowSamples = p.GetValue(Window),
            Filters = Ints(p.GetValue(Filters), "--filters"), Kernels = Ints(p.GetValue(Kernels), "--kernels"), Hidden = p.GetValue(Hidden),
            Padding = ParsePadding(p.GetValue(Padding)), Loss = ParseLoss(p.GetValue(Loss)), Normalisation = ParseNormalisation(p.GetValue(Normalisation)), TrainingWindows = p.GetValue(Windows), Epochs = p.GetValue(Epochs),
            ResampleRatesHz = Doubles(p.GetValue(Resample)), NoiseFactors = Doubles(p.GetValue(Noise)), TargetSigmaSamples = p.GetValue(Sigma),
            SyntheticFraction = p.GetValue(SynFraction),
        };

        public SyntheticTraceSettings? Synthetic(ParseResult p)
        {
            if (p.GetValue(SynFraction) <= 0) return null;
            var nu = Doubles(p.GetValue(SynNu));
            if (nu.Length != 2) throw new SettingException("--synthetic-nu", p.GetValue(SynNu) ?? "", "two numbers MIN,MAX");
            return new SyntheticTraceSettings
            {
                Indicators = SyntheticIndicators(p.GetValue(SynIndicators) ?? ""), Traces = p.GetValue(SynTraces), NuMin = nu[0], NuMax = nu[1],
                FrameRatesHz = Doubles(p.GetValue(SynRates)),
            };
        }
    }

    /// <summary>Synthetic-trace indicators from the virtual tissue's presets (<see cref="IndicatorModel"/>: its rise,
    /// decay, ΔF/F per spike and saturation), by name, comma-separated.</summary>
    public static IReadOnlyList<SyntheticIndicator> SyntheticIndicators(string names) =>
        names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(n =>
        {
            var m = IndicatorModel.FindPreset(n) ?? throw new SettingException("--synthetic-indicators", n,
                string.Join(", ", IndicatorModel.Presets.Select(p => p.Name)));
            return new SyntheticIndicator(m.Name, m.RiseS, m.DecayS, m.Dff);
        }).ToList();

    private static LossKind ParseLoss(string? v) => (v ?? "").ToLowerInvariant() switch
    {
        "poisson" => LossKind.PoissonNll,
        "mse" => LossKind.MeanSquaredError,
        _ => throw new SettingException("--loss", v ?? "", "poisson or mse"),
    };

    private static ConvPadding ParsePadding(string? v) => (v ?? "").ToLowerInvariant() switch
    {
        "same" => ConvPadding.Same,
        "valid" => ConvPadding.Valid,
        _ => throw new SettingException("--padding", v ?? "", "same or valid"),
    };

    private static SpikeCnnNormalisation ParseNormalisation(string? v) => (v ?? "").ToLowerInvariant() switch
    {
        "sd" => SpikeCnnNormalisation.StandardDeviation,
        "noise" => SpikeCnnNormalisation.Noise,
        _ => throw new SettingException("--normalisation", v ?? "", "sd or noise"),
    };

    private static int[] Ints(string? list, string name) =>
        (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(v => int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var d) ? d : throw new SettingException(name, v, "an integer")).ToArray();

    private static Command CreateTrain()
    {
        var o = new TrainOptions();
        var outDir = new Option<string>("--out") { Description = "Folder for spike-cnn-K.onnx.", DefaultValueFactory = _ => "src/ClosedLoop.Spikes/Models" };
        var cmd = new Command("train", "Train the CNN ensemble on Spikefinder datasets (default 4.train and 6.train) with noise and frame-rate augmentation, mixed with synthetic traces of the virtual tissue's indicators, and write ONNX files; the defaults reproduce the shipped models.")
            { outDir };
        o.AddTo(cmd);
        cmd.SetAction(p => Train(p.GetValue(o.Data)!, p.GetValue(o.Datasets)!, p.GetValue(outDir)!, p.GetValue(o.Models), p.GetValue(o.Seed),
            o.Settings(p), o.Synthetic(p), AnsiConsole.Console));
        return cmd;
    }

    private static Command CreateCv()
    {
        var o = new TrainOptions();
        var folds = new Option<int>("--folds") { Description = "Folds over the neurons of the first dataset (each held out in turn).", DefaultValueFactory = _ => 3 };
        var cmd = new Command("cv", "Cross-validate a training configuration on the training datasets only: neurons of the first dataset held out in folds, and each dataset held out whole (trained on the others). Prints the held-out correlations; the held-out test sets are not read.")
            { folds };
        o.AddTo(cmd);
        cmd.SetAction(p => CrossValidate(p.GetValue(o.Data)!, p.GetValue(o.Datasets)!, p.GetValue(o.Models), p.GetValue(o.Seed), p.GetValue(folds),
            o.Settings(p), o.Synthetic(p), AnsiConsole.Console));
        return cmd;
    }

    private static List<SpikeTrainingTrace> SyntheticFor(SyntheticTraceSettings? synthetic, int seed) =>
        synthetic is null ? [] : SpikeCnnSynthetic.Generate(synthetic, 100_000 + seed);

    /// <summary><c>spikes train</c>; returns the exit code.</summary>
    public static int Train(string dataFolder, string datasets, string outDir, int models, int seed, SpikeCnnSettings settings, IAnsiConsole console) =>
        Train(dataFolder, datasets, outDir, models, seed, settings, null, console);

    /// <summary><c>spikes train</c> with synthetic traces (<paramref name="synthetic"/> null: none; each model gets its
    /// own synthetic neurons, generated from its seed); returns the exit code.</summary>
    public static int Train(string dataFolder, string datasets, string outDir, int models, int seed, SpikeCnnSettings settings, SyntheticTraceSettings? synthetic, IAnsiConsole console) => ExitCodes.Guard(console, () =>
    {
        Check.InRange("--models", models, 1, 100);
        settings.Validate();
        synthetic?.Validate();
        var names = datasets.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Any(n => n.EndsWith(".test", StringComparison.Ordinal)))
            console.MarkupLine("[yellow]Training on a .test dataset: its score is then no longer a held-out figure.[/]");
        var traces = SpikeCnnTrainer.ReadSpikefinder(dataFolder, names);
        Directory.CreateDirectory(outDir);
        var sw = Stopwatch.StartNew();
        console.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn()).Start(ctx =>
        {
            for (int k = 0; k < models; k++)
            {
                var task = ctx.AddTask($"model {k} (seed {seed + k})", maxValue: settings.Epochs);
                double last = 0;
                var model = SpikeCnnTrainer.Train(traces, SyntheticFor(synthetic, seed + k), settings, seed + k, (e, loss) => { task.Increment(1); last = loss; });
                string path = Path.Combine(outDir, $"spike-cnn-{k}.onnx");
                model.Save(path);
                task.Description = $"model {k} (seed {seed + k}) loss {last:0.0000}, ν {model.NuMin:0.00}–{model.NuMax:0.00}";
            }
        });
        string syn = synthetic is null ? "no synthetic traces" : $"{synthetic.Traces} synthetic traces per model ({string.Join(", ", synthetic.Indicators.Select(i => i.Name))}), {settings.SyntheticFraction:0.##} of the windows";
        console.MarkupLine($"{models} model(s) from {traces.Count} traces ({string.Join(", ", names)}) and {Markup.Escape(syn)} written to [blue]{Markup.Escape(Path.GetFullPath(outDir))}[/] in {sw.Elapsed.TotalSeconds:0} s; "
            + $"look-ahead {settings.LookAheadSamples} samples = {1000.0 * settings.LookAheadSamples / settings.ModelRateHz:0} ms added latency; "
            + $"{settings.StreamingMultiplyAdds} streaming multiply-adds per model sample.");
        return ExitCodes.Ok;
    });

    /// <summary><c>spikes cv</c>: held-out correlations on the training datasets; returns the exit code.</summary>
    public static int CrossValidate(string dataFolder, string datasets, int models, int seed, int folds, SpikeCnnSettings settings, SyntheticTraceSettings? synthetic, IAnsiConsole console) => ExitCodes.Guard(console, () =>
    {
        Check.InRange("--models", models, 1, 100);
        settings.Validate();
        synthetic?.Validate();
        var names = datasets.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Any(n => n.EndsWith(".test", StringComparison.Ordinal)))
            throw new SettingException("--datasets", datasets, "training datasets only (cross-validation must not read a held-out .test set)");
        var data = names.Select(n => SpikeCnnTrainer.ReadSpikefinder(dataFolder, [n])).ToList();
        Check.InRange("--folds", folds, 2, data[0].Count);
        var sw = Stopwatch.StartNew();
        var syn = Enumerable.Range(0, models).Select(k => SyntheticFor(synthetic, seed + k)).ToList();
        var t = new Table().Border(TableBorder.Rounded).AddColumns("held out", "trained on", "neurons", "mean", "median");
        var rows = new List<(string Name, SpikefinderScores Scores)>();
        double[] Run(List<SpikeTrainingTrace> train, List<SpikeTrainingTrace> test)
        {
            var bytes = Enumerable.Range(0, models).Select(k => (SpikeCnnTrainer.Train(train, syn[k], settings, seed + k).ToOnnx(), $"cv-{k}")).ToList();
            using var cnn = new SpikeCnnInference(bytes);
            return test.Select(tr => SpikefinderScore.Correlate(tr.Spikes, cnn.Infer(tr.Calcium, tr.RateHz).Mean, tr.RateHz)).ToArray();
        }
        // Neurons of the first dataset in folds: neuron j is held out in fold j mod folds.
        var neuronScores = new double[data[0].Count];
        for (int f = 0; f < folds; f++)
        {
            var held = Enumerable.Range(0, data[0].Count).Where(j => j % folds == f).ToList();
            var train = data[0].Where((_, j) => j % folds != f).Concat(data.Skip(1).SelectMany(d => d)).ToList();
            var s = Run(train, held.Select(j => data[0][j]).ToList());
            for (int i = 0; i < held.Count; i++) neuronScores[held[i]] = s[i];
            console.MarkupLine($"fold {f}: {names[0]} neurons {string.Join(",", held)} → {string.Join(" ", s.Select(F))} ({sw.Elapsed.TotalSeconds:0} s)");
        }
        var ns = new SpikefinderScores(neuronScores.Select((_, j) => j.ToString(CultureInfo.InvariantCulture)).ToList(), neuronScores);
        t.AddRow($"{Markup.Escape(names[0])}, {folds} folds of neurons", Markup.Escape(string.Join(", ", names)) + " (rest)", neuronScores.Length.ToString(CultureInfo.InvariantCulture), F(ns.Mean), F(ns.Median));
        var summary = new List<double> { ns.Mean };
        // Each dataset held out whole.
        for (int d = 0; d < data.Count && data.Count > 1; d++)
        {
            var train = data.Where((_, i) => i != d).SelectMany(x => x).ToList();
            var s = new SpikefinderScores(data[d].Select((_, j) => j.ToString(CultureInfo.InvariantCulture)).ToList(), Run(train, data[d]));
            t.AddRow(Markup.Escape(names[d]), Markup.Escape(string.Join(", ", names.Where((_, i) => i != d))), s.PerNeuron.Count.ToString(CultureInfo.InvariantCulture), F(s.Mean), F(s.Median));
            summary.Add(s.Mean);
            console.MarkupLine($"{Markup.Escape(names[d])} held out: {F(s.Mean)} ({sw.Elapsed.TotalSeconds:0} s)");
        }
        console.Write(t);
        console.MarkupLine($"CV score (mean of the row means): [bold]{F(summary.Average())}[/]; {models} model(s) per fold, {(synthetic is null ? "no synthetic traces" : $"synthetic fraction {settings.SyntheticFraction:0.##}")}, "
            + $"{settings.StreamingMultiplyAdds} streaming multiply-adds per model sample; {sw.Elapsed.TotalSeconds:0} s.");
        return ExitCodes.Ok;
    });

    private static double[] Doubles(string? list) =>
        (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : throw new SettingException("list value", v, "a number")).ToArray();

    private static SpikeCnnInference OpenCnn(string model) =>
        model.Equals("cnn", StringComparison.OrdinalIgnoreCase)
            ? SpikeCnnInference.OpenShipped()
            : new SpikeCnnInference(model.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(f => File.Exists(f) ? (File.ReadAllBytes(f), f) : throw new SettingException("--model", f, "cnn, oasis, derivative or an existing .onnx file")).ToList());

    private static bool IsCnn(string model) => !(model.Equals("oasis", StringComparison.OrdinalIgnoreCase) || model.Equals("derivative", StringComparison.OrdinalIgnoreCase));

    private static SpikefinderTable PredictCnn(SpikeCnnInference cnn, SpikefinderTable calcium, out IReadOnlyList<SpikeCnnTraceResult> results)
    {
        results = cnn.Infer(calcium);
        return new SpikefinderTable(calcium.Names, results.Select(r => r.Mean).ToList(), calcium.SamplingRateHz);
    }

    private static Command CreateBench()
    {
        var rois = new Option<int>("--rois") { Description = "Units deconvolved per frame.", DefaultValueFactory = _ => 1000 };
        var frames = new Option<int>("--frames") { Description = "Frames measured after warm-up.", DefaultValueFactory = _ => 20_000 };
        var lookAhead = new Option<int>("--look-ahead") { Description = "Look-ahead, frames.", DefaultValueFactory = _ => 0 };
        var cnn = new Option<bool>("--cnn") { Description = "Measure the shipped CNN ensemble instead: the streaming stage (spikes-cnn) at the model rate and at 30 Hz, against one window per ROI per frame through every model (ONNX Runtime, 1 thread, and managed) in the same run." };
        var cmd = new Command("bench", "Measure the online deconvolution stage alone on synthetic ΔF/F at 30 Hz: µs per frame, allocation per frame.") { rois, frames, lookAhead, cnn };
        cmd.SetAction(p => p.GetValue(cnn)
            ? BenchCnn(p.GetValue(rois), Math.Min(p.GetValue(frames), 2000), AnsiConsole.Console)
            : Bench(p.GetValue(rois), p.GetValue(frames), p.GetValue(lookAhead), AnsiConsole.Console));
        return cmd;
    }

    /// <summary><c>spikes infer</c>; returns the exit code.</summary>
    public static int Infer(string calciumPath, string outPath, double rateHz, string method, string? bandOut, IAnsiConsole console) => ExitCodes.Guard(console, () =>
    {
        Check.Positive("--rate-hz", rateHz);
        if (IsCnn(method))
        {
            using var cnn = OpenCnn(method);
            var ca = SpikefinderCsv.Read(calciumPath, rateHz);
            var watch = Stopwatch.StartNew();
            var table = PredictCnn(cnn, ca, out var results);
            SpikefinderCsv.Write(outPath, table);
            if (bandOut is not null)
            {
                var names = new List<string>(); var cols = new List<double[]>();
                for (int j = 0; j < ca.Count; j++) { names.Add(ca.Names[j] + ".lower"); cols.Add(results[j].Lower); names.Add(ca.Names[j] + ".upper"); cols.Add(results[j].Upper); }
                SpikefinderCsv.Write(bandOut, new SpikefinderTable(names, cols, rateHz));
            }
            console.MarkupLine($"{ca.Count} neuron(s), {ca.Rows:N0} samples at {rateHz.ToString(CultureInfo.InvariantCulture)} Hz, CNN ensemble of {cnn.Models.Count} on {Markup.Escape(cnn.BackendName)}, "
                + $"look-ahead {cnn.Models[0].LookAheadSamples} samples = {cnn.LatencyS * 1000:0} ms added latency: spikes written to [blue]{Markup.Escape(Path.GetFullPath(outPath))}[/] in {watch.Elapsed.TotalSeconds:0.00} s");
            if (cnn.BackendNote is not null) console.MarkupLine($"[yellow]{Markup.Escape(cnn.BackendNote)}[/]");
            for (int j = 0; j < ca.Count; j++)
                if (results[j].NuOutsideTraining)
                    console.MarkupLine($"[yellow]{Markup.Escape(ca.Names[j])}: noise level ν = {results[j].Nu:0.00} lies outside the training range {cnn.NuMin:0.00}–{cnn.NuMax:0.00}; treat its rate with care.[/]");
            return ExitCodes.Ok;
        }
        var m = ParseMethod(method);
        var calcium = SpikefinderCsv.Read(calciumPath, rateHz);
        var sw = Stopwatch.StartNew();
        var predicted = SpikefinderEvaluation.Predict(calcium, m);
        SpikefinderCsv.Write(outPath, predicted);
        console.MarkupLine($"{calcium.Count} neuron(s), {calcium.Rows:N0} samples at {rateHz.ToString(CultureInfo.InvariantCulture)} Hz, {m.ToString().ToLowerInvariant()}: "
            + $"spikes written to [blue]{Markup.Escape(Path.GetFullPath(outPath))}[/] in {sw.Elapsed.TotalSeconds:0.00} s");
        return ExitCodes.Ok;
    });

    /// <summary><c>spikes score</c>; returns the exit code.</summary>
    public static int Score(string truthPath, string predictedPath, double rateHz, bool perNeuron, IAnsiConsole console) => ExitCodes.Guard(console, () =>
    {
        Check.Positive("--rate-hz", rateHz);
        var truth = SpikefinderCsv.Read(truthPath, rateHz);
        var predicted = SpikefinderCsv.Read(predictedPath, rateHz);
        if (predicted.Count != truth.Count)
            throw new SettingException("predicted columns", predicted.Count, $"one per truth column ({truth.Count})", Path.GetFileName(predictedPath));
        var scores = SpikefinderScore.Score(truth, predicted);
        if (perNeuron)
        {
            var t = new Table().Border(TableBorder.Rounded).AddColumns("neuron", "correlation");
            for (int j = 0; j < scores.PerNeuron.Count; j++) t.AddRow(Markup.Escape(scores.Names[j]), F(scores.PerNeuron[j]));
            console.Write(t);
        }
        var s = new Table().Border(TableBorder.Rounded).AddColumns("neurons", "mean", "median");
        s.AddRow(scores.PerNeuron.Count.ToString(CultureInfo.InvariantCulture), F(scores.Mean), F(scores.Median));
        console.Write(s);
        return ExitCodes.Ok;
    });

    /// <summary><c>spikes evaluate</c>; returns the exit code.</summary>
    public static int Evaluate(string dataFolder, double rateHz, string model, IAnsiConsole console) => ExitCodes.Guard(console, () =>
    {
        Check.Positive("--rate-hz", rateHz);
        var sw = Stopwatch.StartNew();
        var oasis = SpikefinderEvaluation.Run(dataFolder, SpikeMethod.Oasis, samplingRateHz: rateHz);
        var baseline = SpikefinderEvaluation.Run(dataFolder, SpikeMethod.Derivative, samplingRateHz: rateHz);
        using var cnn = OpenCnn(model);
        var flagged = new int[oasis.Count];
        var cnnScores = oasis.Select((o, i) =>
        {
            var ca = SpikefinderCsv.Read(Path.Combine(dataFolder, o.Dataset + ".calcium.csv"), rateHz);
            var truth = SpikefinderCsv.Read(Path.Combine(dataFolder, o.Dataset + ".spikes.csv"), rateHz);
            var score = SpikefinderScore.Score(truth, PredictCnn(cnn, ca, out var results));
            flagged[i] = results.Count(r => r.NuOutsideTraining);
            return score;
        }).ToList();
        var t = new Table().Border(TableBorder.Rounded).Title("Spikefinder correlation (40 ms bins)")
            .AddColumns("dataset", "neurons", "OASIS mean", "OASIS median", "CNN mean", "CNN median", "ν flagged", "derivative mean", "derivative median");
        for (int i = 0; i < oasis.Count; i++)
        {
            var o = oasis[i].Scores;
            var d = baseline[i].Scores;
            var c = cnnScores[i];
            t.AddRow(Markup.Escape(oasis[i].Dataset), o.PerNeuron.Count.ToString(CultureInfo.InvariantCulture), F(o.Mean), F(o.Median), F(c.Mean), F(c.Median),
                flagged[i].ToString(CultureInfo.InvariantCulture), F(d.Mean), F(d.Median));
        }
        console.Write(t);
        console.MarkupLine($"CNN: ensemble of {cnn.Models.Count} on {Markup.Escape(cnn.BackendName)}, look-ahead {cnn.Models[0].LookAheadSamples} samples = {cnn.LatencyS * 1000:0} ms, training ν {cnn.NuMin:0.00}–{cnn.NuMax:0.00}. "
            + "The shipped models were trained on 4.train, 6.train and synthetic traces only: 4.test is held out.");
        console.MarkupLine($"{sw.Elapsed.TotalSeconds:0.0} s. OASIS parameters (decay, noise, baseline) were estimated per neuron from its calcium trace alone.");
        return ExitCodes.Ok;
    });

    /// <summary><c>spikes bench</c>; returns the exit code.</summary>
    public static int Bench(int rois, int frames, int lookAhead, IAnsiConsole console) => ExitCodes.Guard(console, () =>
    {
        Check.InRange("--rois", rois, 1, 100_000);
        Check.InRange("--frames", frames, 100, 10_000_000);
        var result = SpikesBench.Run(rois, frames, new OasisSettings { LookAheadFrames = lookAhead });
        var t = new Table().Border(TableBorder.Rounded).AddColumns("figure", "value");
        t.AddRow("units", rois.ToString(CultureInfo.InvariantCulture));
        t.AddRow("mean per frame", $"{result.MeanUs:0.0} µs");
        t.AddRow("p50 / p99 / max per frame", $"{result.P50Us:0.0} / {result.P99Us:0.0} / {result.MaxUs:0.0} µs");
        t.AddRow("allocated per frame", $"{result.AllocatedBytesPerFrame:0.##} B");
        t.AddRow("added latency (look-ahead)", $"{lookAhead} frame(s)");
        console.Write(t);
        return ExitCodes.Ok;
    });

    /// <summary><c>spikes bench --cnn</c>: per-frame cost of the CNN ensemble for <paramref name="rois"/> ROIs — the streaming
    /// stage at the model rate and at 30 Hz imaging, each against the window baseline (RunWindows) measured in the same
    /// run; returns the exit code.</summary>
    public static int BenchCnn(int rois, int frames, IAnsiConsole console) => ExitCodes.Guard(console, () =>
    {
        Check.InRange("--rois", rois, 1, 100_000);
        Check.InRange("--frames", frames, 100, 10_000_000);
        var models = SpikeCnnInference.ShippedModels();
        double modelHz = SpikeCnnModel.Load(models[0].Bytes, models[0].Source).RateHz;
        var t = new Table().Border(TableBorder.Rounded).AddColumns("per frame", "Hz", "steps", "p50 µs", "p99 µs", "max µs", "B/frame", "ratio");
        var notes = new List<string>();
        foreach (var frameHz in new[] { modelHz, 30.0 }.Distinct())
        foreach (var kind in new[] { BackendKind.OnnxRuntime, BackendKind.Managed })
        {
            var r = SpikesBench.RunCnn(models, rois, frames, frameHz, kind);
            string hz = frameHz.ToString("0.#", CultureInfo.InvariantCulture);
            t.AddRow("stream", hz, r.StepsPerFrame.ToString(CultureInfo.InvariantCulture), U(r.Stream.P50Us), U(r.Stream.P99Us), U(r.Stream.MaxUs),
                r.Stream.AllocatedBytesPerFrame.ToString("0.#", CultureInfo.InvariantCulture), "1");
            t.AddRow(kind == BackendKind.OnnxRuntime ? "window, ORT" : "window, managed", hz, "1", U(r.Window.P50Us), U(r.Window.P99Us), U(r.Window.MaxUs),
                r.Window.AllocatedBytesPerFrame.ToString("0.#", CultureInfo.InvariantCulture), r.SpeedUp.ToString("0.00", CultureInfo.InvariantCulture) + "×");
            if (frameHz == modelHz)
                notes.Add(string.Create(CultureInfo.InvariantCulture, $"window, {(kind == BackendKind.OnnxRuntime ? "ORT" : "managed")} = RunWindows on {r.WindowBackend}; {r.Models} models, multiply-adds per ROI: {r.StreamMultiplyAdds} per streaming step, {r.WindowMultiplyAdds} per window."));
        }
        console.Write(t);
        foreach (var n in notes) console.MarkupLine(Markup.Escape(n));
        console.MarkupLine(string.Create(CultureInfo.InvariantCulture,
            $"{rois} ROIs. Stream = the spikes-cnn stage: each model sample runs only the new column of each layer (with same-padding models also the padded edges) and the dense layers (exact against the window); frames slower than the {modelHz:0.#} Hz model are interpolated to it, ceil({modelHz:0.#} / frame rate) steps per frame. Window: one {SpikeCnnModel.Load(models[0].Bytes, models[0].Source).WindowSamples}-sample window per ROI per frame through every model. Ratio = window p50 / stream p50 of the same row pair. The look-ahead is added latency on top of either."));
        return ExitCodes.Ok;
    });

    private static string U(double us) => us.ToString("0", CultureInfo.InvariantCulture);

    private static SpikeMethod ParseMethod(string method) => method.ToLowerInvariant() switch
    {
        "oasis" => SpikeMethod.Oasis,
        "derivative" => SpikeMethod.Derivative,
        _ => throw new SettingException("--method", method, "oasis or derivative"),
    };


    private static string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
}
