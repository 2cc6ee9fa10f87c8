using System.Text.Json;
using ClosedLoop.Cli.Experiments;
using ClosedLoop.Control.Mea;
using ClosedLoop.Core;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary>
/// The control runs of <c>closedloop run --with-control</c>: after the closed-loop run, the same experiment on the same
/// rig and seeds as each chosen control — <c>open-loop</c> (stimulation not contingent on behaviour; pong: sensory
/// coding without feedback) into <c>&lt;out&gt;/control</c>, and for pong <c>rest</c> (no stimulation at all) into
/// <c>&lt;out&gt;/rest</c> — then the comparison: printed, plotted beside the first report (learning.svg,
/// rallies.svg or output-error-vs-control.svg) and, for pong, added to the first report.json as <c>pongComparisons</c>.
/// </summary>
public static class ControlRuns
{
    /// <summary>The control of every experiment: stimulation not contingent on behaviour.</summary>
    public const string OpenLoop = "open-loop";

    /// <summary>Pong's second control: no stimulation at all.</summary>
    public const string Rest = "rest";

    /// <summary>The controls to run for <paramref name="experiment"/>: those named in <paramref name="list"/>
    /// (comma-separated), or by default open-loop and, for pong, rest. Throws <see cref="SettingException"/> naming
    /// <c>--controls</c> for an unknown name or a rest control of an experiment that is not pong.</summary>
    public static IReadOnlyList<string> Choose(string experiment, string? list)
    {
        bool pong = ExperimentLoader.Load(experiment).Pong is not null;
        if (list is null) return pong ? [OpenLoop, Rest] : [OpenLoop];
        var names = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Distinct().ToList();
        if (names.Count == 0) throw new SettingException("--controls", list, "open-loop, rest (pong only) or open-loop,rest");
        foreach (string n in names)
        {
            if (n != OpenLoop && n != Rest) throw new SettingException("--controls", n, "open-loop, rest (pong only) or open-loop,rest");
            if (n == Rest && !pong) throw new SettingException("--controls", n, $"'{OpenLoop}' for {experiment}: only pong has a rest control (no stimulation at all)");
        }
        return names;
    }

    /// <summary>Runs <paramref name="controls"/> after the closed-loop run that gave <paramref name="closedLoop"/>
    /// (with <paramref name="options"/>), compares and reports; returns the exit code of the last control run.</summary>
    public static int Run(RunOptions options, RunReport closedLoop, IReadOnlyList<string> controls, IAnsiConsole console, CancellationToken cancel)
    {
        string firstDir = options.OutputDirectory ?? Path.Combine("runs", closedLoop.RunId);
        var reports = new List<RunReport>();
        int code = ExitCodes.Ok;
        foreach (string c in controls)
        {
            bool rest = c == Rest;
            console.MarkupLine($"[bold]Control run[/] (protocol.control: {c}):");
            RunReport? report = null;
            code = RunCommand.Execute(options with
            {
                OutputDirectory = Path.Combine(firstDir, rest ? "rest" : "control"),
                ForceOpenLoop = !rest,
                ForceRest = rest,
                RunId = closedLoop.RunId + (rest ? "-rest" : "-control"),
            }, console, cancel, r => report = r);
            if (report is null || code != ExitCodes.Ok) return code;
            reports.Add(report);
        }
        string plot;
        if (closedLoop.Pong is { } pong)
        {
            closedLoop = closedLoop with { PongComparisons = reports.Where(r => r.Pong is not null).Select(r => PongComparison.Of(pong, r.Pong!)).ToList() };
            File.WriteAllText(Path.Combine(firstDir, "report.json"), JsonSerializer.Serialize(closedLoop, RunReport.Json));
            plot = ReportPlots.WriteRallies(closedLoop, reports, firstDir);
        }
        else if (closedLoop.Bakkum is not null && reports[0].Bakkum is not null) plot = ReportPlots.WriteOutputError(closedLoop, reports[0], firstDir);
        else plot = ReportPlots.WriteLearning(closedLoop, reports[0], closedLoop.Learning?.TimeoutCountsAsS ?? 1, firstDir);
        ReportPrinter.PrintLearning(closedLoop, reports, console);
        console.MarkupLine($"Learning curves: [blue]{Markup.Escape(Path.GetFullPath(plot))}[/]" +
                           (closedLoop.Pong is not null ? $" (comparisons in {Markup.Escape(Path.GetFullPath(Path.Combine(firstDir, "report.json")))})" : ""));
        return code;
    }
}
