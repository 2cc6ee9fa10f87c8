using ClosedLoop.Core;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary><c>closedloop run</c>: wire a rig and an experiment, run the closed loop, report.</summary>
public static class RunCommand
{
    /// <summary>Runs one experiment; returns the exit code (see <see cref="ExitCodes"/>). The report is written on every
    /// path once the run has started, including Ctrl+C and faults. <paramref name="services"/> adds a recording and
    /// live consumers (event bus, dashboard); <paramref name="onHost"/> sees the host before the run starts (remote
    /// control is served from it).</summary>
    public static int Execute(RunOptions options, IAnsiConsole console, CancellationToken userCancel, Action<RunReport>? onReport = null,
        LiveServices? services = null, Action<RunHost>? onHost = null)
    {
        var host = new RunHost(options, console, services, userCancel);
        if (onReport is not null) host.ReportWritten += onReport;
        onHost?.Invoke(host);
        return host.RunNow();
    }

    /// <summary>Runs a built session to its end, detaches its live consumers, writes and prints the report.</summary>
    internal static int RunSession(Session session, RunOptions options, IAnsiConsole console, CancellationToken userCancel, bool quiet, Action<RunReport> onReport)
    {
        foreach (var w in session.Warnings)
            console.MarkupLine($"[yellow]warning:[/] {Markup.Escape($"{w.Setting}: {w.Advice}")}");
        PrintPlan(session, console);

        var started = DateTime.UtcNow;
        var gcAtStart = GcSummary.Now();
        var runTask = Task.Factory.StartNew(() => session.Run(userCancel), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        ShowProgress(session, runTask, console, quiet);
        var result = runTask.GetAwaiter().GetResult();

        var live = new List<LiveConsumerReport>();
        foreach (var c in session.Consumers)
        {
            try { live.Add(c.Detach(result)); }
            catch (Exception ex) { live.Add(new LiveConsumerReport(c.Name, "failed while finishing", ex.Message, new Dictionary<string, long>())); }
        }
        var report = RunReport.From(session, result, started, GcSummary.Since(gcAtStart), live);
        string dir = options.OutputDirectory ?? Path.Combine("runs", session.Context.RunId);
        string path = RunReport.Write(report, session.Events.Snapshot(), dir);
        session.Motion?.Trace.WriteCsv(Path.Combine(dir, "motion.csv"));
        var plots = ReportPlots.Write(report, session.Experiment.TrialLimitS, dir);
        ReportPrinter.Print(report, console);
        console.MarkupLine($"Report: [blue]{Markup.Escape(Path.GetFullPath(path))}[/] (events in events.jsonl" +
                           (plots.Count > 0 ? $", plots in {string.Join(" and ", plots.Select(Path.GetFileName))}" : "") + " beside it)");
        onReport(report);
        return report.ExitCode;
    }

    private static void PrintPlan(Session s, IAnsiConsole console)
    {
        var p = s.Experiment.Protocol;
        string length = s.FrameLimit is long n ? $"{n} frames ({n / s.Source.FrameRateHz:0.#} s)"
            : s.Phases is { } phases ? $"{phases.Phases.Count} phase(s): {string.Join(" → ", phases.Phases.Select(ph => $"{ph.Name} ({ph.Kind})"))}"
            : s.Pong is { } pong ? $"until {pong.Settings.Games} games are done" : $"until {p.Trials} trials are done";
        console.MarkupLine($"[bold]closedloop run[/] {Markup.Escape(s.Experiment.Name)} on {Markup.Escape(s.Profile.Name)} " +
                           $"({s.WidthPx}×{s.HeightPx} px at {s.Source.FrameRateHz:0.##} Hz, {s.Pacing.ToString().ToLowerInvariant()} pacing, acquisition: {Markup.Escape(s.AcquisitionPath)}, {(s.OnlineBoard is null ? $"{s.UnitCount} ROIs" : $"ROIs found while imaging, up to {s.UnitCount}")}), {Markup.Escape(length)}. Ctrl+C stops safely.");
    }

    private static void ShowProgress(Session s, Task<RunResult> run, IAnsiConsole console, bool quiet)
    {
        if (quiet) { run.Wait(); return; }
        double total = s.FrameLimit ?? (double)Math.Max(1, s.Experiment.PlannedTrials);
        bool byFrames = s.FrameLimit is not null;
        if (!console.Profile.Capabilities.Interactive)
        {
            // Logs and CI: a status line every 10 s instead of a live bar.
            while (!run.Wait(TimeSpan.FromSeconds(10)))
                console.WriteLine(Status(s));
            return;
        }
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(byFrames ? "frames" : "trials", maxValue: total);
                while (!run.IsCompleted)
                {
                    task.Value = byFrames ? s.Pipeline.Loop.FramesProcessed : s.Protocol.Trials.Count;
                    task.Description = Markup.Escape(Status(s));
                    run.Wait(TimeSpan.FromMilliseconds(100));
                }
                task.Value = task.MaxValue;
            });
    }

    private static string Status(Session s)
    {
        if (s.Pong is { } pong)
        {
            var games = pong.Games;
            return $"frame {s.Pipeline.Loop.FramesProcessed}, game {games.Count + (pong.StateName == "Playing" ? 1 : 0)} of {pong.Settings.Games} ({pong.StateName.ToLowerInvariant()}, " +
                   $"{ClosedLoop.Control.Mea.PongConditions.Name(pong.Settings.Condition)}), {games.Sum(g => g.Hits)} hits, {games.Count(g => g.Hits == 0)} aces, " +
                   $"{s.Interlock.Delivered} stimuli, drops {s.Pipeline.Input.Dropped + s.Source.FramesDroppedAtSource}";
        }
        var trials = s.Protocol.Trials;
        return $"frame {s.Pipeline.Loop.FramesProcessed}, trial {trials.Count + (s.Protocol.StateName == "Stimulating" ? 1 : 0)} ({s.Protocol.StateName.ToLowerInvariant()}), " +
               $"{s.Interlock.Delivered} stimuli, {trials.Count(t => !t.TimedOut)} responses, drops {s.Pipeline.Input.Dropped + s.Source.FramesDroppedAtSource}";
    }
}
