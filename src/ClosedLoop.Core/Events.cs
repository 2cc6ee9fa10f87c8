namespace ClosedLoop.Core;

/// <summary>Kinds of things that happen in a run and end up in its event log and report.</summary>
public enum RunEventKind
{
    /// <summary>A stimulation command reached a stimulator.</summary>
    Stimulation,
    /// <summary>The safety interlock refused a stimulation command.</summary>
    StimulationRefused,
    /// <summary>A pattern detector fired.</summary>
    Detection,
    /// <summary>A protocol trial started.</summary>
    TrialStarted,
    /// <summary>A protocol trial ended (criterion met or timed out).</summary>
    TrialEnded,
    /// <summary>A protocol changed state (stimulating, pausing, done).</summary>
    ProtocolState,
    /// <summary>Stimulation was switched off for safety (end of run, fault, watchdog).</summary>
    SafetyOff,
    /// <summary>Something went wrong.</summary>
    Fault,
    /// <summary>Informational message.</summary>
    Info,
}

/// <summary>One event. Events are rare (stimuli, detections, trials), not per frame, so each is a small object.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="SampleTimeNs">When, on the rig's sample clock (ns since the first sample).</param>
/// <param name="HostNs">When, on the host monotonic clock.</param>
/// <param name="Source">Which stage, detector, protocol or stimulator said so.</param>
/// <param name="Message">Human-readable detail.</param>
/// <param name="Value">A number that goes with it (e.g. response time in s, power in mW), NaN if none.</param>
public sealed record RunEvent(RunEventKind Kind, long SampleTimeNs, long HostNs, string Source, string Message, double Value = double.NaN);

/// <summary>Thread-safe log of a run's events; listeners (recorder, event bus, dashboard) get each event as it is added.</summary>
public sealed class RunEventLog
{
    private readonly List<RunEvent> _events = new(4096);
    private readonly object _gate = new();
    private readonly List<Action<RunEvent>> _listeners = new();

    /// <summary>Adds an event and hands it to every listener. A listener that throws is removed and the failure logged.</summary>
    public void Add(RunEvent e)
    {
        Action<RunEvent>[] listeners;
        lock (_gate)
        {
            _events.Add(e);
            listeners = _listeners.Count == 0 ? Array.Empty<Action<RunEvent>>() : _listeners.ToArray();
        }
        foreach (var l in listeners)
        {
            try { l(e); }
            catch (Exception ex)
            {
                lock (_gate)
                {
                    _listeners.Remove(l);
                    _events.Add(new RunEvent(RunEventKind.Fault, e.SampleTimeNs, MonotonicClock.NowNs(), "event-log", $"listener removed after it failed: {ex.Message}"));
                }
            }
        }
    }

    /// <summary>Subscribes a listener to events added from now on; dispose the result to unsubscribe.</summary>
    public IDisposable Subscribe(Action<RunEvent> listener)
    {
        lock (_gate) _listeners.Add(listener);
        return new Subscription(this, listener);
    }

    private sealed class Subscription(RunEventLog log, Action<RunEvent> listener) : IDisposable
    {
        public void Dispose()
        {
            lock (log._gate) log._listeners.Remove(listener);
        }
    }

    /// <summary>Copy of all events so far.</summary>
    public IReadOnlyList<RunEvent> Snapshot()
    {
        lock (_gate) return _events.ToArray();
    }

    /// <summary>Number of events of a kind so far.</summary>
    public int Count(RunEventKind kind)
    {
        lock (_gate)
        {
            int n = 0;
            foreach (var e in _events) if (e.Kind == kind) n++;
            return n;
        }
    }
}

/// <summary>The one JSON form of a <see cref="RunEvent"/>, shared by events.jsonl, recordings and the event bus:
/// <c>{"kind": "stimulation", "sampleTimeS": 1.5, "hostNs": …, "source": "…", "message": "…", "value": 8}</c>
/// (kind in camelCase, value null when there is none).</summary>
public static class RunEventJson
{
    /// <summary>Writer options that leave non-ASCII text and quotes readable (still strictly valid JSON).</summary>
    public static readonly System.Text.Json.JsonWriterOptions Readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Kind as written in JSON (camelCase).</summary>
    public static string KindName(RunEventKind kind) => System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(kind.ToString());

    /// <summary>Writes <paramref name="e"/> as one JSON object.</summary>
    public static void Write(System.Text.Json.Utf8JsonWriter w, RunEvent e)
    {
        w.WriteStartObject();
        w.WriteString("kind", KindName(e.Kind));
        w.WriteNumber("sampleTimeS", Math.Round(e.SampleTimeNs / 1e9, 6));
        w.WriteNumber("hostNs", e.HostNs);
        w.WriteString("source", e.Source);
        w.WriteString("message", e.Message);
        if (double.IsFinite(e.Value)) w.WriteNumber("value", e.Value);
        else w.WriteNull("value");
        w.WriteEndObject();
    }

    /// <summary><paramref name="e"/> as one line of JSON (no newline).</summary>
    public static string ToLine(RunEvent e)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var w = new System.Text.Json.Utf8JsonWriter(buffer, Readable)) Write(w, e);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
