using ClosedLoop.Core;

namespace ClosedLoop.Dashboard;

/// <summary>
/// The dashboard's own thread. It takes the newest frame from the tap (releasing the others at once), encodes at
/// most <see cref="DashboardSettings.MaxFrameRateHz"/> frames per second and offers them to every browser, copies
/// activity into the trace history, forwards events, and sends status, parameters and trace batches. It never
/// waits for a browser: each has its own queue. It lives as long as the server, across runs.
/// </summary>
internal sealed class DashboardPump
{
    private const long IdlePollNs = 50_000_000;
    private const long RunPollNs = 4_000_000;
    private const long ParameterPeriodNs = 1_000_000_000;

    private readonly DashboardServer _server;
    private readonly DashboardSettings _settings;
    private readonly DashboardCounters _counters;
    private readonly IRunControl? _control;
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly List<RunEvent> _fresh = new();
    private readonly Thread _thread;
    private RunFeed? _pendingFeed;
    private RunFeed? _feed;
    private volatile bool _stopping;
    private volatile bool _forceStatus;
    private volatile bool _forceParameters;
    private byte[] _lastParameters = Array.Empty<byte>();
    private string _lastRunId = "";
    private Exception? _failure;

    public DashboardPump(DashboardServer server, DashboardSettings settings, DashboardCounters counters, IRunControl? control)
    {
        _server = server;
        _settings = settings;
        _counters = counters;
        _control = control;
        _thread = new Thread(Loop) { IsBackground = true, Name = "dashboard" };
    }

    /// <summary>The run being shown (dashboard thread), or the one about to be.</summary>
    public RunFeed? Current => Volatile.Read(ref _feed) ?? Volatile.Read(ref _pendingFeed);

    /// <summary>What stopped the thread, if it failed.</summary>
    public Exception? Failure => _failure;

    public bool IsAlive => _thread.IsAlive;

    public void Start() => _thread.Start();

    public void Wake(bool statusNow = false, bool parametersNow = false)
    {
        if (statusNow) _forceStatus = true;
        if (parametersNow) _forceParameters = true;
        _wake.Set();
    }

    public void Show(RunFeed feed)
    {
        Volatile.Write(ref _pendingFeed, feed);
        Wake(true, true);
    }

    public void Stop()
    {
        _stopping = true;
        _wake.Set();
        if (_thread.IsAlive) _thread.Join(TimeSpan.FromSeconds(10));
    }

    private void Loop()
    {
        long nextStatus = 0, nextTraces = 0, nextParameters = 0;
        long statusPeriod = (long)(1e9 / _settings.StatusRateHz), tracePeriod = (long)(1e9 / _settings.TraceRateHz);
        try
        {
            while (!_stopping)
            {
                long now = MonotonicClock.NowNs();
                if (Interlocked.Exchange(ref _pendingFeed, null) is { } next)
                {
                    if (_feed is { } old) Finish(old); // a run attached before the last one was detached
                    Volatile.Write(ref _feed, next);
                    next.LastCreditNs = now;
                    _lastRunId = next.Info.Context.RunId;
                    foreach (var c in _server.Clients) if (c.Initialized) Introduce(c, next);
                }
                var clients = _server.Clients;
                foreach (var c in clients) if (!c.Initialized) Join(c);

                var feed = _feed;
                if (feed is not null)
                {
                    Activity(feed);
                    Events(feed, clients);
                    if (feed.RefreshUnits() is { } unitsMessage)
                        foreach (var c in clients) if (c.Initialized) c.Send(unitsMessage);
                    Frames(feed, clients, now);
                    if (feed.DetachRequested) Finish(feed);
                }

                Traces(_feed, clients, now >= nextTraces);
                if (now >= nextTraces) nextTraces = now + tracePeriod;
                if (_forceStatus || now >= nextStatus)
                {
                    _forceStatus = false;
                    Status(clients);
                    nextStatus = now + statusPeriod;
                }
                if (_forceParameters || now >= nextParameters)
                {
                    bool forced = _forceParameters;
                    _forceParameters = false;
                    Parameters(clients, forced);
                    nextParameters = now + ParameterPeriodNs;
                }

                long wait = _feed is null ? IdlePollNs : RunPollNs;
                _wake.Wait(TimeSpan.FromTicks(wait / 100));
                _wake.Reset();
            }
        }
        catch (Exception ex)
        {
            _failure = ex;
        }
        finally
        {
            // Whatever happens, the frames go home and a waiting Detach is released.
            if (Interlocked.Exchange(ref _pendingFeed, null) is { } pending) Finish(pending);
            if (_feed is { } feed) Finish(feed);
        }
    }

    /// <summary>Sends a new browser everything it needs: hello, run description (or idle), history, parameters, status.</summary>
    private void Join(DashboardClient c)
    {
        c.Send(DashboardJson.Hello(_control is not null, _settings));
        if (_feed is { } feed) Introduce(c, feed);
        else c.Send(DashboardJson.Idle(_lastRunId));
        c.Send(ParametersMessage());
        c.Send(DashboardJson.Status(SafeStatus(out var error), error, _server.Stats(), c, _feed?.Subscription));
        c.Initialized = true;
    }

    private void Introduce(DashboardClient c, RunFeed feed)
    {
        c.SetSelection(Array.Empty<int>());
        c.TraceCursor = 0;
        c.SeenFeed = feed.Number;
        c.Send(feed.RunMessage);
        c.Send(DashboardJson.Trials(feed.ResponseTimesS));
        c.Send(DashboardJson.Events(feed.EventHistory, 0, true));
    }

    private void Activity(RunFeed feed)
    {
        var ring = feed.Subscription.Activity;
        var history = feed.History;
        if (ring is null || history is null) return;
        while (ring.TryPeek(out var snapshot))
        {
            history.Append(snapshot);
            ring.Advance();
        }
    }

    private void Events(RunFeed feed, DashboardClient[] clients)
    {
        if (feed.DrainEvents(_fresh) == 0) return;
        var message = DashboardJson.Events(_fresh, 0, false);
        foreach (var c in clients) if (c.Initialized) c.Send(message);
        foreach (var e in _fresh)
            if (e.Kind is RunEventKind.ProtocolState or RunEventKind.TrialEnded or RunEventKind.Fault) { _forceStatus = true; break; }
    }

    private void Frames(RunFeed feed, DashboardClient[] clients, long now)
    {
        var link = feed.Subscription.Frames;
        if (link is null) return;
        Frame? newest = null;
        while (link.TryTakeNow(out var f))
        {
            DashboardCounters.Add(ref _counters.FramesTaken);
            if (newest is not null)
            {
                newest.Release();
                DashboardCounters.Add(ref _counters.FramesSkipped);
            }
            newest = f;
        }
        if (newest is null) return;
        try
        {
            feed.FrameCredit = Math.Min(2, feed.FrameCredit + (now - feed.LastCreditNs) * _settings.MaxFrameRateHz / 1e9);
            feed.LastCreditNs = now;
            bool anyone = false;
            foreach (var c in clients) anyone |= c.Initialized && !c.Closed;
            if (!anyone || feed.FrameCredit < 1 || feed.Encoder is null)
            {
                DashboardCounters.Add(ref _counters.FramesSkipped);
                return;
            }
            var encoded = feed.Encoder.Encode(newest);
            if (encoded is null)
            {
                DashboardCounters.Add(ref _counters.FramesSkipped);
                return;
            }
            feed.FrameCredit -= 1;
            DashboardCounters.Add(ref _counters.FramesEncoded);
            foreach (var c in clients) if (c.Initialized) c.OfferFrame(encoded);
            encoded.Release();
        }
        finally
        {
            newest.Release();
        }
    }

    private void Traces(RunFeed? feed, DashboardClient[] clients, bool periodic)
    {
        var history = feed?.History;
        foreach (var c in clients)
        {
            if (!c.Initialized) continue;
            int version = c.SelectionVersion;
            bool changed = version != c.SentSelectionVersion;
            if (!changed && !periodic) continue;
            var selection = c.Selection;
            if (history is null || selection.Length == 0)
            {
                c.SentSelectionVersion = version;
                continue;
            }
            if (!changed && c.TraceCursor >= history.Total) continue;
            c.Send(history.Message(selection, changed ? history.Oldest : c.TraceCursor, changed));
            c.TraceCursor = history.Total;
            c.SentSelectionVersion = version;
        }
    }

    private void Status(DashboardClient[] clients)
    {
        var status = SafeStatus(out var error);
        var stats = _server.Stats();
        foreach (var c in clients)
            if (c.Initialized) c.Send(DashboardJson.Status(status, error, stats, c, _feed?.Subscription));
    }

    private void Parameters(DashboardClient[] clients, bool forced)
    {
        var message = ParametersMessage();
        if (!forced && message.AsSpan().SequenceEqual(_lastParameters)) return;
        _lastParameters = message;
        foreach (var c in clients) if (c.Initialized) c.Send(message);
    }

    private byte[] ParametersMessage()
    {
        IReadOnlyList<ParameterInfo> list;
        try
        {
            list = _control?.Parameters() ?? _feed?.Info.Parameters.List() ?? (IReadOnlyList<ParameterInfo>)Array.Empty<ParameterInfo>();
        }
        catch (Exception)
        {
            list = Array.Empty<ParameterInfo>();
        }
        return DashboardJson.Parameters(list);
    }

    private LiveStatus? SafeStatus(out string? error)
    {
        error = null;
        try
        {
            return _control?.Status() ?? _feed?.Info.Status();
        }
        catch (Exception ex)
        {
            error = $"status unavailable: {ex.Message}";
            return null;
        }
    }

    /// <summary>Ends a run's feed: release every queued frame, pass on the last events, tell the browsers the run ended.</summary>
    private void Finish(RunFeed feed)
    {
        try
        {
            var link = feed.Subscription.Frames;
            if (link is not null)
            {
                link.Complete(); // frames the tap still offers after this are dropped and released by the link
                while (link.TryTakeNow(out var f))
                {
                    DashboardCounters.Add(ref _counters.FramesTaken);
                    DashboardCounters.Add(ref _counters.FramesSkipped);
                    f.Release();
                }
            }
            feed.MarkClosed();
            if (!_stopping)
            {
                var clients = _server.Clients;
                Activity(feed);
                Events(feed, clients);
                Traces(feed, clients, true);
                foreach (var c in clients) if (c.Initialized) c.Send(DashboardJson.Idle(feed.Info.Context.RunId));
                _forceStatus = true;
                _forceParameters = true;
            }
        }
        finally
        {
            if (ReferenceEquals(_feed, feed)) Volatile.Write(ref _feed, null);
            _server.OnFeedFinished(feed);
            feed.Finished.Set();
        }
    }
}
