using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ClosedLoop.Core;
using ClosedLoop.Spikes;
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
        cmd.Subcommands.Add(CreateBench());
        return cmd;
    }

    private static Option<double> RateOption() =>
        new("--rate-hz") { Description = "Sampling rate of the files, Hz (Spikefinder: 100).", DefaultValueFactory = _ => SpikefinderCsv.DefaultRateHz };

    private static Option<string> MethodOption() =>
        new("--method") { Description = "oasis (deconvolution, parameters estimated per neuron) or derivative (ΔF/F derivative clipped at 0, a trivial baseline).", DefaultValueFactory = _ => "oasis" };

    private static Command CreateInfer()
    {
        var input = new Argument<string>("calcium") { Description = "Calcium CSV (Spikefinder layout: header row, one column per neuron)." };
        var output = new Option<string>("--out") { Description = "Where to write the inferred spikes (same layout).", Required = true };
        var rate = RateOption();
        var method = MethodOption();
        var cmd = new Command("infer", "Infer spikes from a calcium CSV and write them as a spikes CSV.") { input, output, rate, method };
        cmd.SetAction(p => Infer(p.GetValue(input)!, p.GetValue(output)!, p.GetValue(rate), p.GetValue(method)!, AnsiConsole.Console));
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
        var cmd = new Command("evaluate", "Run OASIS (per-neuron estimated parameters, no ground truth used) and the derivative baseline on every Spikefinder dataset in a folder and print their mean and median correlations.")
            { data, rate };
        cmd.SetAction(p => Evaluate(p.GetValue(data)!, p.GetValue(rate), AnsiConsole.Console));
        return cmd;
    }

    private static Command CreateBench()
    {
        var rois = new Option<int>("--rois") { Description = "Units deconvolved per frame.", DefaultValueFactory = _ => 1000 };
        var frames = new Option<int>("--frames") { Description = "Frames measured after warm-up.", DefaultValueFactory = _ => 20_000 };
        var lookAhead = new Option<int>("--look-ahead") { Description = "Look-ahead, frames.", DefaultValueFactory = _ => 0 };
        var cmd = new Command("bench", "Measure the online deconvolution stage alone on synthetic ΔF/F at 30 Hz: µs per frame, allocation per frame.") { rois, frames, lookAhead };
        cmd.SetAction(p => Bench(p.GetValue(rois), p.GetValue(frames), p.GetValue(lookAhead), AnsiConsole.Console));
        return cmd;
    }

    /// <summary><c>spikes infer</c>; returns the exit code.</summary>
    public static int Infer(string calciumPath, string outPath, double rateHz, string method, IAnsiConsole console) => Guard(console, () =>
    {
        Check.Positive("--rate-hz", rateHz);
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
    public static int Score(string truthPath, string predictedPath, double rateHz, bool perNeuron, IAnsiConsole console) => Guard(console, () =>
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
    public static int Evaluate(string dataFolder, double rateHz, IAnsiConsole console) => Guard(console, () =>
    {
        Check.Positive("--rate-hz", rateHz);
        var sw = Stopwatch.StartNew();
        var oasis = SpikefinderEvaluation.Run(dataFolder, SpikeMethod.Oasis, samplingRateHz: rateHz);
        var baseline = SpikefinderEvaluation.Run(dataFolder, SpikeMethod.Derivative, samplingRateHz: rateHz);
        var t = new Table().Border(TableBorder.Rounded).Title("Spikefinder correlation (40 ms bins)")
            .AddColumns("dataset", "neurons", "OASIS mean", "OASIS median", "derivative mean", "derivative median");
        for (int i = 0; i < oasis.Count; i++)
        {
            var o = oasis[i].Scores;
            var d = baseline[i].Scores;
            t.AddRow(Markup.Escape(oasis[i].Dataset), o.PerNeuron.Count.ToString(CultureInfo.InvariantCulture), F(o.Mean), F(o.Median), F(d.Mean), F(d.Median));
        }
        console.Write(t);
        console.MarkupLine($"{sw.Elapsed.TotalSeconds:0.0} s. OASIS parameters (decay, noise, baseline) were estimated per neuron from its calcium trace alone.");
        return ExitCodes.Ok;
    });

    /// <summary><c>spikes bench</c>; returns the exit code.</summary>
    public static int Bench(int rois, int frames, int lookAhead, IAnsiConsole console) => Guard(console, () =>
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

    private static SpikeMethod ParseMethod(string method) => method.ToLowerInvariant() switch
    {
        "oasis" => SpikeMethod.Oasis,
        "derivative" => SpikeMethod.Derivative,
        _ => throw new SettingException("--method", method, "oasis or derivative"),
    };

    private static int Guard(IAnsiConsole console, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception ex) when (ex is SettingException or IOException or UnauthorizedAccessException)
        {
            console.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
            return ExitCodes.BadInput;
        }
    }

    private static string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
}
