using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ClosedLoop.Core;
using ClosedLoop.Models.Inference;
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

    private static Command CreateTrain()
    {
        var data = new Option<string>("--data") { Description = "Folder of the Spikefinder files.", DefaultValueFactory = _ => DefaultDataFolder };
        var datasets = new Option<string>("--datasets") { Description = "Training datasets, comma-separated (never the held-out 4.test).", DefaultValueFactory = _ => "4.train,6.train" };
        var outDir = new Option<string>("--out") { Description = "Folder for spike-cnn-K.onnx.", DefaultValueFactory = _ => "src/ClosedLoop.Spikes/Models" };
        var models = new Option<int>("--models") { Description = "Ensemble size (seeds seed … seed + models − 1).", DefaultValueFactory = _ => 5 };
        var seed = new Option<int>("--seed") { Description = "First seed.", DefaultValueFactory = _ => 0 };
        var look = new Option<int>("--look-ahead") { Description = "Future samples per window (added latency = look-ahead / 100 Hz).", DefaultValueFactory = _ => 32 };
        var window = new Option<int>("--window") { Description = "Samples per window (multiple of 4).", DefaultValueFactory = _ => 64 };
        var windows = new Option<int>("--windows") { Description = "Training windows drawn per model.", DefaultValueFactory = _ => new SpikeCnnSettings().TrainingWindows };
        var epochs = new Option<int>("--epochs") { Description = "Epochs over the drawn windows.", DefaultValueFactory = _ => new SpikeCnnSettings().Epochs };
        var resample = new Option<string>("--resample-hz") { Description = "Frame rates (Hz, comma-separated) each training trace is resampled to and back; empty: none.", DefaultValueFactory = _ => string.Join(",", new SpikeCnnSettings().ResampleRatesHz) };
        var noise = new Option<string>("--noise-factors") { Description = "Factors (comma-separated, ≥ 1) by which added white noise multiplies each trace's ν.", DefaultValueFactory = _ => string.Join(",", new SpikeCnnSettings().NoiseFactors) };
        var sigma = new Option<double>("--target-sigma") { Description = "Gaussian smoothing of the true spikes, samples.", DefaultValueFactory = _ => new SpikeCnnSettings().TargetSigmaSamples };
        var cmd = new Command("train", "Train the CNN ensemble on Spikefinder datasets (default 4.train and 6.train) with noise and frame-rate augmentation and write ONNX files; the defaults reproduce the shipped models.")
            { data, datasets, outDir, models, seed, look, window, windows, epochs, resample, noise, sigma };
        cmd.SetAction(p => Train(p.GetValue(data)!, p.GetValue(datasets)!, p.GetValue(outDir)!, p.GetValue(models), p.GetValue(seed),
            new SpikeCnnSettings { LookAheadSamples = p.GetValue(look), WindowSamples = p.GetValue(window), TrainingWindows = p.GetValue(windows), Epochs = p.GetValue(epochs),
                ResampleRatesHz = Doubles(p.GetValue(resample)), NoiseFactors = Doubles(p.GetValue(noise)), TargetSigmaSamples = p.GetValue(sigma) },
            AnsiConsole.Console));
        return cmd;
    }

    /// <summary><c>spikes train</c>; returns the exit code.</summary>
    public static int Train(string dataFolder, string datasets, string outDir, int models, int seed, SpikeCnnSettings settings, IAnsiConsole console) => ExitCodes.Guard(console, () =>
    {
        Check.InRange("--models", models, 1, 100);
        settings.Validate();
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
                var model = SpikeCnnTrainer.Train(traces, settings, seed + k, (e, loss) => { task.Increment(1); last = loss; });
                string path = Path.Combine(outDir, $"spike-cnn-{k}.onnx");
                model.Save(path);
                task.Description = $"model {k} (seed {seed + k}) loss {last:0.0000}, ν {model.NuMin:0.00}–{model.NuMax:0.00}";
            }
        });
        console.MarkupLine($"{models} model(s) from {traces.Count} traces ({string.Join(", ", names)}) written to [blue]{Markup.Escape(Path.GetFullPath(outDir))}[/] in {sw.Elapsed.TotalSeconds:0} s; "
            + $"look-ahead {settings.LookAheadSamples} samples = {1000.0 * settings.LookAheadSamples / settings.ModelRateHz:0} ms added latency.");
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
            + "The shipped models were trained on 4.train and 6.train only: 4.test is held out.");
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
            $"{rois} ROIs. Stream = the spikes-cnn stage: each model sample runs only the new column and the padded edges of each layer (exact against the window); frames slower than the {modelHz:0.#} Hz model are interpolated to it, ceil({modelHz:0.#} / frame rate) steps per frame. Window: one {SpikeCnnModel.Load(models[0].Bytes, models[0].Source).WindowSamples}-sample window per ROI per frame through every model. Ratio = window p50 / stream p50 of the same row pair. The look-ahead is added latency on top of either."));
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
