using System.Globalization;

namespace ClosedLoop.Core;

/// <summary>A parameter that may be changed while a run is going (from the event bus or the dashboard).</summary>
/// <param name="Name">Dotted name, e.g. <c>detectors.motor-response.thresholdDff</c>.</param>
/// <param name="Unit">Unit in words (e.g. "fraction", "s", "ROIs").</param>
/// <param name="Min">Smallest allowed value.</param>
/// <param name="Max">Largest allowed value.</param>
/// <param name="Value">Value now (after the last applied change).</param>
/// <param name="Description">What it does.</param>
public sealed record ParameterInfo(string Name, string Unit, double Min, double Max, double Value, string Description);

/// <summary>
/// Live parameters of a run. A change requested from any thread is checked against the parameter's range at once
/// (a bad request gets a <see cref="SettingException"/> naming the parameter and range) and applied by the fast loop
/// between two frames (<see cref="ApplyPending"/>), so a stage never sees a value change in the middle of a frame.
/// Safety limits are not parameters: they live in the interlock and cannot be changed during a run.
/// </summary>
public sealed class ParameterBoard
{
    private sealed class Entry
    {
        public required string Name;
        public required string Unit;
        public required double Min;
        public required double Max;
        public required string Description;
        public required Func<double> Get;
        public required Action<double> Set;
        public bool Integer;
        public double Pending;
        public bool HasPending;
    }

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private int _pendingCount;
    private RunEventLog? _events;

    /// <summary>Registers a parameter (before the run). <paramref name="set"/> runs on the fast-loop thread.</summary>
    public void Register(string name, string unit, double min, double max, Func<double> get, Action<double> set, string description, bool integer = false)
    {
        Check.NotEmpty("parameter.name", name);
        lock (_gate)
        {
            if (_entries.ContainsKey(name)) throw new InvalidOperationException($"Parameter '{name}' is registered twice.");
            _entries[name] = new Entry { Name = name, Unit = unit, Min = min, Max = max, Description = description, Get = get, Set = set, Integer = integer };
        }
    }

    /// <summary>Where applied changes are logged (as <see cref="RunEventKind.Info"/> events).</summary>
    public void LogTo(RunEventLog events) => _events = events;

    /// <summary>The parameters, sorted by name.</summary>
    public IReadOnlyList<ParameterInfo> List()
    {
        lock (_gate)
            return _entries.Values.OrderBy(e => e.Name, StringComparer.Ordinal)
                .Select(e => new ParameterInfo(e.Name, e.Unit, e.Min, e.Max, e.HasPending ? e.Pending : e.Get(), e.Description)).ToList();
    }

    /// <summary>Asks for <paramref name="name"/> to become <paramref name="value"/> before the next frame. Throws
    /// <see cref="SettingException"/> for an unknown name (listing the known ones) or a value out of range.</summary>
    public void Request(string name, double value)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(name, out var e))
                throw new SettingException("parameter", name, _entries.Count == 0 ? "a live parameter (this run has none)" : $"one of: {string.Join(", ", _entries.Keys.OrderBy(k => k, StringComparer.Ordinal))}");
            if (double.IsNaN(value) || value < e.Min || value > e.Max || (e.Integer && value != Math.Floor(value)))
                throw new SettingException(name, value, $"{(e.Integer ? "a whole number" : "a number")} between {F(e.Min)} and {F(e.Max)} {e.Unit}".TrimEnd());
            e.Pending = value;
            if (!e.HasPending) { e.HasPending = true; _pendingCount++; }
        }
    }

    /// <summary>Called by the fast loop between frames: applies requested changes. Allocation-free when nothing is pending.</summary>
    public void ApplyPending(long sampleTimeNs)
    {
        if (Volatile.Read(ref _pendingCount) == 0) return;
        lock (_gate)
        {
            foreach (var e in _entries.Values)
            {
                if (!e.HasPending) continue;
                e.HasPending = false;
                double old = e.Get();
                e.Set(e.Pending);
                _events?.Add(new RunEvent(RunEventKind.Info, sampleTimeNs, MonotonicClock.NowNs(), "parameters",
                    $"{e.Name} changed from {F(old)} to {F(e.Pending)}", e.Pending));
            }
            _pendingCount = 0;
        }
    }

    private static string F(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}
