using System.CommandLine;
using System.Runtime.InteropServices;
using ClosedLoop.Cli;
using ClosedLoop.Cli.Experiments;
using ClosedLoop.Core;
using ClosedLoop.Hardware;
using ClosedLoop.Storage;
using Spectre.Console;

if (Console.IsOutputRedirected)
{
    // Logs and pipes get plain text: no colour codes, no cursor movement.
    AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
    {
        Ansi = AnsiSupport.No,
        ColorSystem = ColorSystemSupport.NoColors,
        Interactive = InteractionSupport.No,
        Out = new AnsiConsoleOutput(Console.Out),
    });
}

var profileArg = new Argument<string>("profile")
{
    Description = "Hardware profile: a YAML file or builtin:NAME (see 'closedloop validate --list'). Default: builtin:sim-two-photon, the simulated two-photon rig.",
    Arity = ArgumentArity.ZeroOrOne,
    DefaultValueFactory = _ => "builtin:sim-two-photon",
};
var experimentArg = new Argument<string>("experiment")
{
    Description = $"Experiment: a YAML file or builtin:NAME. Default: {ExperimentLoader.DefaultExperiment}, stimulus avoidance (Shahaf & Marom) on photostimulated ROIs.",
    Arity = ArgumentArity.ZeroOrOne,
    DefaultValueFactory = _ => ExperimentLoader.DefaultExperiment,
};
var durationOpt = new Option<double?>("--duration") { Description = "Stop after this many seconds of sample-clock time (overrides the experiment's durationS)." };
var fastOpt = new Option<bool>("--fast") { Description = "Simulated rigs: produce each frame as soon as the loop is ready (same results as real time, much sooner)." };
var realtimeOpt = new Option<bool>("--realtime") { Description = "Simulated rigs: pace frames on the host clock at the profile's frame rate (the profile's default pacing otherwise)." };
var outOpt = new Option<string?>("--out") { Description = "Folder for report.json and events.jsonl (default: runs/<run id>)." };
var quietOpt = new Option<bool>("--quiet") { Description = "No progress display; only the final report." };
var recordOpt = new Option<bool>("--record") { Description = "Record the run beside its report: movie.tif (ScanImage-style TIFF), activity.csv, events.jsonl, manifest.json, rois.json (docs/data-formats.md)." };
var recordEveryOpt = new Option<int>("--record-every") { Description = "With --record: keep every N-th frame in movie.tif.", DefaultValueFactory = _ => 1 };
var replayOpt = new Option<string?>("--replay") { Description = "Replay a recorded TIFF movie (ours or ScanImage) through the online pipeline instead of acquiring; at its own frame rate, or lock-step with --fast. Stimulation is decided and counted but goes nowhere." };
var withControlOpt = new Option<bool>("--with-control") { Description = "After the run, run the same experiment again as its control(s), same rig and seed: protocol.control: open-loop into <out>/control and, for pong, also rest (no stimulation) into <out>/rest; then write learning.svg (response times) or rallies.svg (pong) comparing them beside the first report, and print the statistics (pong: also into the first report.json)." };
var controlsOpt = new Option<string?>("--controls") { Description = "Which control runs --with-control makes (implies it): open-loop, rest (pong only) or open-loop,rest (the default for pong)." };
var replayRateOpt = new Option<double?>("--frame-rate-hz") { Description = "With --replay: the movie's frame rate, when its metadata does not say." };

var run = new Command("run", """
    Run an experiment as a closed loop: acquire frames, extract ROI traces, compute ΔF/F, detect the pattern, and
    let the protocol decide each frame whether to stimulate, through the safety interlock. With no arguments this is
    a dry run of stimulus avoidance on the simulated two-photon rig. On an MEA profile (e.g. builtin:sim-mea) the
    frames are 1 ms electrode blocks: band-pass, threshold spikes, detectors, then stimulus avoidance or pong. Every run ends with a report on screen and in
    report.json: frames acquired/processed/dropped, latency per stage, stimulation, and response time per trial.
    Exit codes: 0 completed, 1 bad input (nothing stimulated), 2 fault (stimulation switched off), 130 Ctrl+C.
    """)
{ profileArg, experimentArg, durationOpt, fastOpt, realtimeOpt, outOpt, quietOpt, recordOpt, recordEveryOpt, replayOpt, replayRateOpt, withControlOpt, controlsOpt };
var liveOptions = new LiveEndpoints.Options();
foreach (var o in liveOptions.All) run.Options.Add(o);
run.SetAction(parse =>
{
    bool fast = parse.GetValue(fastOpt), realtime = parse.GetValue(realtimeOpt);
    if (fast && realtime)
    {
        AnsiConsole.MarkupLine("[red]Choose one of --fast and --realtime.[/]");
        return ExitCodes.BadInput;
    }
    var options = new RunOptions(
        parse.GetValue(profileArg)!, parse.GetValue(experimentArg)!, parse.GetValue(durationOpt),
        fast ? SimulationPacing.Fast : realtime ? SimulationPacing.Realtime : null,
        parse.GetValue(outOpt), parse.GetValue(quietOpt), parse.GetValue(replayOpt), parse.GetValue(replayRateOpt));
    LiveServices services;
    try
    {
        var recording = new RecordingSettings { FrameEvery = parse.GetValue(recordEveryOpt) };
        recording.Validate();
        services = new LiveServices(parse.GetValue(recordOpt), recording);
    }
    catch (SettingException ex)
    {
        AnsiConsole.MarkupLine($"[red]Cannot start:[/] {Markup.Escape(ex.Message)}");
        return ExitCodes.BadInput;
    }
    IReadOnlyList<string>? controls = null;
    if (parse.GetValue(withControlOpt) || parse.GetValue(controlsOpt) is not null)
    {
        try { controls = ControlRuns.Choose(options.Experiment, parse.GetValue(controlsOpt)); }
        catch (Exception ex) when (ex is SettingException or IOException)
        {
            AnsiConsole.MarkupLine($"[red]Cannot start:[/] {Markup.Escape(ex.Message)}");
            return ExitCodes.BadInput;
        }
    }
    using var cancel = new CancellationTokenSource();
    using var signals = StopOnSignals(cancel);
    var host = new RunHost(options, AnsiConsole.Console, services, cancel.Token);
    LiveEndpoints live;
    try { live = LiveEndpoints.StartAsync(liveOptions, parse, host, AnsiConsole.Console).GetAwaiter().GetResult(); }
    catch (Exception ex) when (ex is SettingException or IOException or ClosedLoop.Messaging.Zmq.ZmqException or ClosedLoop.Messaging.Zmq.ZmqNotInstalledException)
    {
        AnsiConsole.MarkupLine($"[red]Cannot start:[/] {Markup.Escape(ex.Message)}");
        return ExitCodes.BadInput;
    }
    RunReport? first = null;
    host.ReportWritten += r => first = r;
    int code;
    try { code = host.RunNow(); }
    finally { live.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
    if (controls is null || code != ExitCodes.Ok || first is null) return code;
    return ControlRuns.Run(options, first, controls, AnsiConsole.Console, cancel.Token);
});

var serveRecordOpt = new Option<bool>("--record") { Description = "Record every run (see 'run --record')." };
var serveStartOpt = new Option<bool>("--start") { Description = "Start the loaded experiment at once instead of waiting for a start request." };
var serve = new Command("serve", """
    Stay up and run experiments on request: load the given profile and experiment, serve the dashboard (and the
    event bus), and start, stop, load or change parameters when a browser or a remote program asks. Each run writes
    its report as 'run' does. Ctrl+C or SIGTERM stops a run safely and ends the server.
    """)
{ profileArg, experimentArg, durationOpt, fastOpt, realtimeOpt, serveRecordOpt, serveStartOpt };
foreach (var o in liveOptions.All) serve.Options.Add(o);
serve.SetAction(parse =>
{
    if (!liveOptions.Any(parse))
    {
        AnsiConsole.MarkupLine("[red]Nothing to serve:[/] give --dashboard [PORT] and/or --control [ENDPOINT] (and --publish) so runs can be started and watched.");
        return ExitCodes.BadInput;
    }
    bool fast = parse.GetValue(fastOpt), realtime = parse.GetValue(realtimeOpt);
    var options = new RunOptions(parse.GetValue(profileArg)!, parse.GetValue(experimentArg)!, parse.GetValue(durationOpt),
        fast ? SimulationPacing.Fast : realtime ? SimulationPacing.Realtime : null, Quiet: true);
    using var cancel = new CancellationTokenSource();
    using var signals = StopOnSignals(cancel);
    var host = new RunHost(options, AnsiConsole.Console, new LiveServices(parse.GetValue(serveRecordOpt)), cancel.Token);
    LiveEndpoints live;
    try
    {
        host.Load(options.Profile, options.Experiment);
        live = LiveEndpoints.StartAsync(liveOptions, parse, host, AnsiConsole.Console).GetAwaiter().GetResult();
    }
    catch (Exception ex) when (ex is SettingException or IOException or ControlException or ClosedLoop.Messaging.Zmq.ZmqException or ClosedLoop.Messaging.Zmq.ZmqNotInstalledException)
    {
        AnsiConsole.MarkupLine($"[red]Cannot start:[/] {Markup.Escape(ex.Message)}");
        return ExitCodes.BadInput;
    }
    try
    {
        if (parse.GetValue(serveStartOpt)) host.Start();
        AnsiConsole.MarkupLine("Serving; Ctrl+C ends (a run going is stopped safely first).");
        cancel.Token.WaitHandle.WaitOne();
        // Ctrl+C has already asked the run's loop to stop; wait for its report.
        try { host.Background?.GetAwaiter().GetResult(); } catch (Exception ex) { AnsiConsole.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]"); }
        return ExitCodes.Ok;
    }
    finally { live.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
});

var validateProfileArg = new Argument<string?>("profile") { Description = "Hardware profile file or builtin:NAME.", Arity = ArgumentArity.ZeroOrOne };
var validateExperimentArg = new Argument<string?>("experiment") { Description = "Optional experiment to check against the profile (groups, ROIs, stimulators, safety limits).", Arity = ArgumentArity.ZeroOrOne };
var listOpt = new Option<bool>("--list") { Description = "List the built-in profiles and experiments." };
var validate = new Command("validate", """
    Check a hardware profile (and optionally an experiment against it) without acquiring or stimulating: every
    key known, every value in range, the wiring consistent, every protocol stimulus within the stimulator's safety
    limits. Errors name the file, line, setting and allowed range. Exit code 0 when valid, 1 otherwise.
    """)
{ validateProfileArg, validateExperimentArg, listOpt };
validate.SetAction(parse => ValidateCommand.Execute(parse.GetValue(validateProfileArg), parse.GetValue(validateExperimentArg), parse.GetValue(listOpt), AnsiConsole.Console));

var root = new RootCommand("""
    closedloop: real-time closed-loop acquisition and stimulation for neuroscience rigs.

    Start with a dry run on the simulated rig:   closedloop run
    Check your own rig's profile:                closedloop validate my-rig.yaml my-experiment.yaml
    Measure the fast loop:                       closedloop bench
    Profiles, experiments, reports and benchmarks are documented in docs/.
    """)
{ run, serve, validate, BenchCommand.Create(), OpticsCommand.Create(), SpikesCommand.Create(), SimulateCommand.Create(), SegmentCommand.Create() };
return root.Parse(args).Invoke();

// Ctrl+C (SIGINT) and SIGTERM (kill, systemd) end a run the same safe way: the loop stops itself, stimulation goes
// off, the report is written, and the exit code is 130.
static IDisposable StopOnSignals(CancellationTokenSource cancel)
{
    Action<PosixSignalContext> onSignal = ctx =>
    {
        ctx.Cancel = true;
        cancel.Cancel();
    };
    var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, onSignal);
    var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, onSignal);
    return new SignalRegistrations(sigint, sigterm);
}

sealed class SignalRegistrations(params IDisposable[] registrations) : IDisposable
{
    public void Dispose() { foreach (var r in registrations) r.Dispose(); }
}
