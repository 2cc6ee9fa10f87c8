using ClosedLoop.Control.Mea;
using ClosedLoop.Core;

namespace ClosedLoop.Control.Protocols;

/// <summary>One phase of an experiment: a name, what runs in it, and how long.</summary>
/// <param name="Name">Name (events and the report).</param>
/// <param name="Kind">What runs: <c>rest</c>, <c>rules</c>, or a built-in protocol kind.</param>
/// <param name="DurationS">The phase ends after this long, s; 0 = when its protocol is done (trials, games, a
/// <c>nextPhase</c> rule) or the run ends.</param>
/// <param name="Stage">The protocol of the phase; null for <c>rest</c> (nothing is stimulated).</param>
public sealed record Phase(string Name, string Kind, double DurationS, IProtocolStage? Stage);

/// <summary>What one phase did.</summary>
/// <param name="Index">Position in the experiment's phases, from 0.</param>
/// <param name="Name">Phase name.</param>
/// <param name="Kind">rest, rules, or the built-in protocol kind.</param>
/// <param name="StartS">Sample-clock time it began, s.</param>
/// <param name="EndS">Time it ended, s (null while it runs).</param>
/// <param name="Trials">Trials (or games, or cycles) it finished.</param>
/// <param name="Stimuli">Stimulation commands the interlock delivered during it.</param>
/// <param name="EndReason">Why it ended (its duration, its protocol, the end of the run).</param>
public sealed record PhaseRecord(int Index, string Name, string Kind, double StartS, double? EndS, int Trials, long Stimuli, string? EndReason);

/// <summary>
/// Runs an experiment's phases in order as one protocol stage. A phase ends when its <see cref="Phase.DurationS"/> is
/// reached (checked before its protocol sees the frame) or when its protocol asks to stop (its trials are done, a
/// <c>nextPhase</c> rule); the next phase starts on the same frame. The first phase starts at the run's first sample.
/// Every phase boundary switches off any train still running on every stimulator and is written to the event log
/// (<see cref="RunEventKind.ProtocolState"/>, source <c>phases</c>). After the last phase the run ends. Each phase's
/// protocol gets its own run context, so "I am done" from it ends the phase, not the run.
/// </summary>
public sealed class PhaseSequence : IProtocolStage
{
    private readonly Phase[] _phases;
    private readonly SafetyInterlock _interlock;
    private readonly List<PhaseRecord> _records = new();
    private readonly List<TrialRecord> _finishedTrials = new();
    private RunContext? _context;
    private RunContext? _child;
    private CancellationTokenSource? _childStop;
    private int _index;
    private long _startNs, _durationNs, _deliveredAtStart, _lastNowNs;

    /// <summary>The phases, run in this order, stimulating through <paramref name="interlock"/>.</summary>
    public PhaseSequence(IReadOnlyList<Phase> phases, SafetyInterlock interlock)
    {
        if (phases.Count == 0) throw new SettingException("phases", "[]", "at least one phase");
        _phases = phases.ToArray();
        _interlock = interlock;
    }

    /// <inheritdoc />
    public string Name => "protocol";

    /// <summary>The phases.</summary>
    public IReadOnlyList<Phase> Phases => _phases;

    /// <summary>Phases begun so far, with what they did (a copy).</summary>
    public IReadOnlyList<PhaseRecord> Records
    {
        get
        {
            lock (_records)
            {
                var list = _records.ToList();
                if (_index < _phases.Length && list.Count > 0 && list[^1].EndS is null && _phases[_index].Stage is { } s)
                    list[^1] = list[^1] with { Trials = s.Trials.Count };
                return list;
            }
        }
    }

    /// <summary>The phase running now (null before the first frame and after the last phase).</summary>
    public Phase? Current => _index >= 0 && _index < _phases.Length && _child is not null ? _phases[_index] : null;

    /// <inheritdoc />
    public IReadOnlyList<TrialRecord> Trials
    {
        get
        {
            lock (_records)
            {
                var all = new List<TrialRecord>(_finishedTrials);
                if (Current is { Stage: { } s } p) all.AddRange(s.Trials.Select(t => t with { Phase = p.Name }));
                return all;
            }
        }
    }

    /// <inheritdoc />
    public string StateName => Current is { } p ? p.Stage is { } s ? s.StateName : "Resting" : _index >= _phases.Length ? "Done" : "Idle";

    /// <inheritdoc />
    public void Start(RunContext context)
    {
        _context = context;
        _index = -1;
        _child = null;
        lock (_records) { _records.Clear(); _finishedTrials.Clear(); }
    }

    /// <inheritdoc />
    public void Process(Frame frame)
    {
        long now = frame.SampleTimeNs + frame.FramePeriodNs;
        _lastNowNs = now;
        if (_index < 0 && !Begin(0, frame.SampleTimeNs)) return;
        for (int guard = 0; guard <= _phases.Length && _index < _phases.Length; guard++)
        {
            var phase = _phases[_index];
            if (_durationNs > 0 && now - _startNs >= _durationNs)
            {
                if (!End(now, $"its duration ({SafetyInterlock.F(phase.DurationS)} s)")) return;
                continue;
            }
            phase.Stage?.Process(frame);
            if (!_child!.StopRequested) return;
            if (!End(now, _child.StopReason ?? "its protocol finished")) return;
        }
    }

    /// <inheritdoc />
    public void Stop()
    {
        if (Current is { } p)
        {
            p.Stage?.Stop();
            lock (_records)
                if (_records.Count > 0 && _records[^1].EndS is null)
                    _records[^1] = _records[^1] with { EndS = _lastNowNs / 1e9, Trials = p.Stage?.Trials.Count ?? 0, Stimuli = _interlock.Delivered - _deliveredAtStart, EndReason = "the run ended" };
        }
    }

    /// <inheritdoc />
    public void RegisterParameters(ParameterBoard board)
    {
        foreach (var p in _phases) p.Stage?.RegisterParameters(board);
    }

    /// <summary>Starts phase <paramref name="index"/> at <paramref name="startNs"/>; false when there is none (the run ends).</summary>
    private bool Begin(int index, long startNs)
    {
        _index = index;
        if (index >= _phases.Length)
        {
            lock (_records) _child = null;
            Log(startNs, $"all {_phases.Length} phases done");
            _context!.RequestStop($"all {_phases.Length} phases done");
            return false;
        }
        var phase = _phases[index];
        _startNs = startNs;
        _durationNs = (long)Math.Round(phase.DurationS * 1e9);
        _deliveredAtStart = _interlock.Delivered;
        _childStop?.Dispose();
        _childStop = new CancellationTokenSource();
        var child = new RunContext(_context!.RunId, _context.FrameRateHz, _context.Events, _childStop);
        phase.Stage?.Start(child);
        lock (_records)
        {
            _child = child;
            _records.Add(new PhaseRecord(index, phase.Name, phase.Kind, startNs / 1e9, null, 0, 0, null));
        }
        Log(startNs, $"phase {index} '{phase.Name}' ({phase.Kind}{(phase.DurationS > 0 ? $", {SafetyInterlock.F(phase.DurationS)} s" : "")}) started");
        return true;
    }

    /// <summary>Ends the current phase and begins the next; false when the run ends.</summary>
    private bool End(long now, string reason)
    {
        var phase = _phases[_index];
        phase.Stage?.Stop();
        foreach (var c in _interlock.Channels) _interlock.Stop(c); // nothing spills into the next phase
        var trials = phase.Stage?.Trials ?? Array.Empty<TrialRecord>();
        lock (_records)
        {
            _finishedTrials.AddRange(trials.Select(t => t with { Phase = phase.Name }));
            _records[^1] = _records[^1] with { EndS = now / 1e9, Trials = trials.Count, Stimuli = _interlock.Delivered - _deliveredAtStart, EndReason = reason };
            _child = null;
        }
        Log(now, $"phase {_index} '{phase.Name}' ended: {reason}");
        return Begin(_index + 1, now);
    }

    private void Log(long now, string message) =>
        _context!.Events.Add(new RunEvent(RunEventKind.ProtocolState, now, MonotonicClock.NowNs(), "phases", message));
}
