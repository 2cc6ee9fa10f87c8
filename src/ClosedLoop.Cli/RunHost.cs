using ClosedLoop.Core;
using ClosedLoop.Storage;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary>What follows every run of a host besides the report: a recording, and long-lived consumers (event bus,
/// dashboard) that are attached to each run in turn.</summary>
/// <param name="Record">Record every run (movie.tif, activity.csv, events.jsonl, manifest.json beside the report).</param>
/// <param name="Recording">Recorder settings.</param>
/// <param name="Consumers">Consumers that live across runs (event bus publisher, dashboard).</param>
public sealed record LiveServices(bool Record = false, RecordingSettings? Recording = null, IReadOnlyList<ILiveConsumer>? Consumers = null)
{
    /// <summary>No recording, no live consumers.</summary>
    public static readonly LiveServices None = new();
}

/// <summary>
/// Runs experiments one at a time and answers remote control (<see cref="IRunControl"/>) about them: <c>closedloop
/// run</c> uses it for its one run (so the event bus and the dashboard can stop it or change a parameter), <c>closedloop
/// serve</c> waits for start requests. Every run goes through the same path: build and check, attach the live
/// consumers, run, detach them, write the report. Thread-safe.
/// </summary>
public sealed class RunHost : IRunControl
{
    private readonly object _gate = new();
    private readonly IAnsiConsole _console;
    private readonly LiveServices _services;
    private readonly CancellationToken _processCancel;
    private RunOptions _loaded;
    private Session? _session;
    private Task<int>? _background;
    private HostState _state = HostState.Idle;
    private LiveStatus? _last;
    private readonly List<ILiveConsumer> _added = new();

    /// <summary>Creates a host with <paramref name="initial"/> loaded.</summary>
    public RunHost(RunOptions initial, IAnsiConsole console, LiveServices? services, CancellationToken processCancel)
    {
        _loaded = initial;
        _console = console;
        _services = services ?? LiveServices.None;
        _processCancel = processCancel;
    }

    /// <summary>Adds a consumer that follows every later run (a dashboard or event bus created with this host as its
    /// remote control); only while idle.</summary>
    public void AddConsumer(ILiveConsumer consumer)
    {
        lock (_gate)
        {
            if (_state != HostState.Idle) throw new ControlException("busy", "consumers can be added only between runs");
            _added.Add(consumer);
        }
    }

    /// <summary>Called with each finished run's report.</summary>
    public event Action<RunReport>? ReportWritten;

    /// <summary>The background run started by <see cref="Start"/>, if any.</summary>
    public Task<int>? Background { get { lock (_gate) return _background; } }

    /// <summary>Runs the loaded experiment on the calling thread; returns the exit code (see <see cref="ExitCodes"/>).</summary>
    public int RunNow()
    {
        lock (_gate)
        {
            if (_state != HostState.Idle) throw new ControlException("busy", "a run is already going");
            _state = HostState.Running;
        }
        return Execute(_loaded, quiet: _loaded.Quiet);
    }

    /// <inheritdoc />
    public LiveStatus Status()
    {
        lock (_gate)
        {
            if (_state != HostState.Idle)
            {
                // Between a start and the first frame the session is still being built: running, no counters yet.
                if (_session is { } s)
                {
                    try { return s.LiveStatusNow() with { State = _state }; }
                    catch (NullReferenceException) { /* still being wired */ }
                }
                return Idle(_state);
            }
            return _last is null ? Idle(HostState.Idle) : _last with { State = HostState.Idle };
        }
    }

    /// <inheritdoc />
    public void Load(string profile, string experiment)
    {
        if (string.IsNullOrWhiteSpace(profile) || string.IsNullOrWhiteSpace(experiment))
            throw new ControlException("bad-request", "load needs a profile and an experiment (a YAML path or builtin:NAME)");
        lock (_gate)
            if (_state != HostState.Idle) throw new ControlException("busy", $"cannot load while a run is {_state.ToString().ToLowerInvariant()}; stop it first");
        var candidate = _loaded with { Profile = profile, Experiment = experiment, RunId = null, OutputDirectory = null };
        try
        {
            using var check = Session.Build(candidate);
        }
        catch (SettingException ex)
        {
            throw new ControlException("load-failed", ex.Message);
        }
        lock (_gate)
        {
            if (_state != HostState.Idle) throw new ControlException("busy", "a run started while the experiment was being checked");
            _loaded = candidate;
        }
        _console.MarkupLine(Markup.Escape($"Loaded {experiment} on {profile}."));
    }

    /// <inheritdoc />
    public void Start()
    {
        lock (_gate)
        {
            if (_state != HostState.Idle) throw new ControlException("busy", $"a run is already {_state.ToString().ToLowerInvariant()}");
            _state = HostState.Running;
            var options = _loaded;
            _background = Task.Factory.StartNew(() => Execute(options, quiet: true), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
    }

    /// <inheritdoc />
    public void Stop(string reason)
    {
        Session? s;
        lock (_gate)
        {
            if (_state == HostState.Idle || _session is null) throw new ControlException("not-running", "there is no run to stop");
            _state = HostState.Stopping;
            s = _session;
        }
        s.Context.RequestStop($"stopped by remote control{(string.IsNullOrWhiteSpace(reason) ? "" : ": " + reason)}");
    }

    /// <inheritdoc />
    public IReadOnlyList<ParameterInfo> Parameters()
    {
        lock (_gate) return _session is { } s && _state != HostState.Idle ? s.Parameters.List() : Array.Empty<ParameterInfo>();
    }

    /// <inheritdoc />
    public void SetParameter(string name, double value)
    {
        Session? s;
        lock (_gate)
        {
            if (_state != HostState.Running || _session is null) throw new ControlException("not-running", "parameters can be set only while a run is going");
            s = _session;
        }
        try { s.Parameters.Request(name, value); }
        catch (SettingException ex)
        {
            throw new ControlException(ex.Setting == "parameter" ? "unknown-parameter" : "out-of-range", ex.Message);
        }
    }

    /// <inheritdoc />
    public RoiEditReply EditRoi(RoiEditRequest request)
    {
        Session? s;
        lock (_gate)
        {
            if (_state != HostState.Running || _session is null) throw new ControlException("not-running", "ROIs can be edited only while a run is going");
            s = _session;
        }
        var loop = s.Segmentation ?? throw new ControlException("not-supported",
            $"this run's ROIs are fixed (rois: {s.Experiment.Rois}); editing ROIs while running needs an experiment with 'rois: online'");
        return loop.Edit(request);
    }

    private LiveStatus Idle(HostState state) =>
        new(state, "", _loaded.Profile, _loaded.Experiment, 0, 0, 0, 0, 0, 0, "", double.NaN, double.NaN, "", "");

    private int Execute(RunOptions requested, bool quiet)
    {
        var options = requested with { RunId = requested.RunId ?? "" };
        Session? session = null;
        var consumers = new List<ILiveConsumer>(_services.Consumers ?? Array.Empty<ILiveConsumer>());
        lock (_gate) consumers.AddRange(_added);
        try
        {
            // The run id names the output folder, which the recorder needs before the session exists.
            var experimentName = Path.GetFileNameWithoutExtension(options.Experiment.Replace("builtin:", "", StringComparison.OrdinalIgnoreCase));
            string runId = requested.RunId ?? Session.NewRunId(experimentName);
            string dir = options.OutputDirectory ?? Path.Combine("runs", runId);
            options = options with { RunId = runId, OutputDirectory = dir };
            if (_services.Record) consumers.Add(new RunRecorder(dir, _services.Recording));
            try
            {
                session = Session.Build(options, consumers);
            }
            catch (SettingException ex)
            {
                _console.MarkupLine($"[red]Cannot start:[/] {Markup.Escape(ex.Message)}");
                _last = Idle(HostState.Idle) with { LastOutcome = "bad-input", LastMessage = ex.Message };
                return ExitCodes.BadInput;
            }
            lock (_gate) _session = session;
            return RunCommand.RunSession(session, options, _console, _processCancel, quiet, report =>
            {
                _last = session.LiveStatusNow() with { LastOutcome = report.Outcome, LastMessage = report.Fault ?? report.StopReason ?? "" };
                ReportWritten?.Invoke(report);
            });
        }
        finally
        {
            lock (_gate)
            {
                _session = null;
                _state = HostState.Idle;
            }
            session?.Dispose();
        }
    }
}
