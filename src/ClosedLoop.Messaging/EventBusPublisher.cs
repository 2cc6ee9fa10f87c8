using System.Text.Json;
using ClosedLoop.Core;
using ClosedLoop.Messaging.Zmq;

namespace ClosedLoop.Messaging;

/// <summary>
/// Publishes a run on a ZeroMQ PUB socket: frames (every N-th, optionally binned), traces, rates, run events, the run's
/// description and a periodic status, each as a three-part message [topic, header JSON, binary payload]
/// (docs/messaging.md). It follows the run through a <see cref="LiveTap"/> subscription and the run's event log and
/// works on its own thread, so the fast loop never waits for it; every send is non-blocking. Two places lose messages,
/// and both are counted: the tap drops what the publisher has not taken yet (reported here and in <c>status</c>), and
/// libzmq drops, per subscriber, what that subscriber has not read beyond the high-water mark (subscribers see the
/// gap in the per-topic <c>seq</c>). The socket is bound when the publisher is created and stays bound across runs.
/// </summary>
public sealed partial class EventBusPublisher : ILiveConsumer, IDisposable
{
    private readonly EventBusSettings _settings;
    private readonly ZmqContext _context;
    private readonly bool _ownsContext;
    private readonly ZmqSocket _socket;
    private readonly BusSender _sender;
    private readonly Func<LiveStatus>? _idleStatus;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly long _statusPeriodNs;
    private readonly long _runInfoPeriodNs;
    private volatile bool _stopping;
    private RunState? _pending;     // handed over by Attach
    private RunState? _attached;    // attached and not yet detached (Attach/Detach side)
    private RunState? _current;     // publisher thread only
    private string _lastRunId = "";
    private volatile string? _sendError;
    private long _statusPublished;

    /// <summary>Creates the publisher and binds its socket. <paramref name="context"/> may be shared (it must be for
    /// <c>inproc://</c> endpoints); <paramref name="idleStatus"/> gives the host's status between runs.</summary>
    /// <exception cref="SettingException">A setting is out of range, or the endpoint is not loopback and no CURVE keys are given.</exception>
    /// <exception cref="ZmqNotInstalledException">libzmq is missing.</exception>
    /// <exception cref="ZmqException">The endpoint cannot be bound (e.g. the port is in use).</exception>
    public EventBusPublisher(EventBusSettings settings, ZmqContext? context = null, Func<LiveStatus>? idleStatus = null)
    {
        settings.Validate();
        _settings = settings;
        _idleStatus = idleStatus;
        _statusPeriodNs = (long)(settings.StatusPeriodS * 1e9);
        _runInfoPeriodNs = (long)(settings.RunInfoPeriodS * 1e9);
        var keys = BusEndpoint.ResolveKeys(settings.CurveKeys, settings.CurveSecretKeyFile);
        _ownsContext = context is null;
        _context = context ?? new ZmqContext();
        try
        {
            _socket = _context.CreateSocket(ZmqSocketType.Pub);
            _socket.SendHighWaterMark = settings.SendHighWaterMark;
            if (keys is not null) _socket.MakeCurveServer(keys);
            Endpoint = _socket.Bind(settings.Endpoint);
            ServerPublicKey = keys?.PublicKeyZ85;
        }
        catch
        {
            if (_ownsContext) _context.Dispose();
            throw;
        }
        _sender = new BusSender(_socket);
        _thread = new Thread(Loop) { IsBackground = true, Name = "bus-publisher" };
        _thread.Start();
    }

    /// <inheritdoc />
    public string Name => "bus";

    /// <summary>The endpoint bound (with the real port when the setting said <c>*</c>).</summary>
    public string Endpoint { get; }

    /// <summary>CURVE public key clients need, null without CURVE.</summary>
    public string? ServerPublicKey { get; }

    /// <summary>Messages handed to libzmq since the publisher was created.</summary>
    public long MessagesSent => _sender.Sent;

    /// <summary>Messages libzmq refused without waiting since the publisher was created.</summary>
    public long SendFailed => _sender.Failed;

    /// <summary>What stopped sending, if anything (the publisher then only drains and releases frames).</summary>
    public string? Error => _sendError;

    /// <inheritdoc />
    public void Attach(LiveRunInfo run, LiveTap tap)
    {
        ObjectDisposedException.ThrowIf(_stopping, this);
        if (_attached is not null) throw new InvalidOperationException($"The event bus is still attached to run '{_attached.Info.Context.RunId}'.");
        var s = _settings;
        bool anyActivity = s.ActivityEvery > 0 && (s.PublishTraces || s.PublishRates || s.PublishNoise || s.PublishRaw);
        var sub = tap.Subscribe(Name, s.FrameQueue, s.FrameEvery, anyActivity ? s.ActivityQueue : 0);
        var state = new RunState(run, sub, new BoundedLink<RunEvent>("events→bus", s.EventQueue, LinkFullMode.DropIncoming), s);
        state.EventSubscription = run.Context.Events.Subscribe(e =>
        {
            if (state.Detached) return;
            state.Events.TryWrite(e);
            _wake.Set();
        });
        _attached = state;
        Volatile.Write(ref _pending, state);
        _wake.Set();
    }

    /// <inheritdoc />
    public LiveConsumerReport Detach(RunResult result)
    {
        var state = _attached ?? throw new InvalidOperationException("The event bus is not attached to a run.");
        state.Result = result;
        state.DetachRequested = true;
        _wake.Set();
        bool finished = state.Done.Wait(TimeSpan.FromSeconds(10));
        state.Detached = true;
        state.EventSubscription?.Dispose();
        _attached = null;
        if (!finished && !_thread.IsAlive) finished = DrainDead(state);
        var tapStats = state.Sub.Snapshot();
        var c = new Dictionary<string, long>
        {
            ["messagesSent"] = state.MessagesSent,
            ["bytesSent"] = state.BytesSent,
            ["sendFailed"] = state.SendFailed,
            ["framesPublished"] = state.FramesPublished,
            ["activityPublished"] = state.ActivityPublished,
            ["eventsPublished"] = state.EventsPublished,
            ["framesOffered"] = tapStats.FramesOffered,
            ["framesDroppedByTap"] = tapStats.FramesDropped,
            ["activityDroppedByTap"] = tapStats.ActivityDropped,
            ["eventsDropped"] = state.Events.Dropped,
        };
        string? error = state.Error ?? (finished ? null : "the publisher thread did not finish within 10 s");
        string summary = $"{state.MessagesSent:N0} messages ({state.BytesSent / 1e6:F1} MB) on {Endpoint}: {state.FramesPublished:N0} frames, "
            + $"{state.ActivityPublished:N0} activity snapshots, {state.EventsPublished:N0} events; lost before sending: "
            + $"{tapStats.FramesDropped:N0} frames, {tapStats.ActivityDropped:N0} snapshots, {state.Events.Dropped:N0} events";
        return new LiveConsumerReport(Name, summary, error, c);
    }

    /// <summary>Stops the thread, closes the socket (and the context if it made it).</summary>
    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _wake.Set();
        _thread.Join(TimeSpan.FromSeconds(5));
        _socket.Dispose();
        if (_ownsContext) _context.Dispose();
    }

    // --- publisher thread ----------------------------------------------------------------------------------------

    private void Loop()
    {
        long nextStatus = MonotonicClock.NowNs();
        long nextInfo = long.MaxValue;
        while (true)
        {
            var pending = Interlocked.Exchange(ref _pending, null);
            if (pending is not null)
            {
                _current = pending;
                _lastRunId = pending.Info.Context.RunId;
                pending.MarkStart(_sender);
                Guard(pending, () => PublishRunInfo(pending, TopicId.RunStart));
                nextInfo = _runInfoPeriodNs > 0 ? MonotonicClock.NowNs() + _runInfoPeriodNs : long.MaxValue;
            }
            var run = _current;
            bool busy = false;
            if (run is not null)
            {
                busy = Pump(run);
                if (!busy && (run.DetachRequested || _stopping))
                {
                    Finish(run);
                    _current = null;
                    nextInfo = long.MaxValue;
                    continue;
                }
            }
            else if (_stopping) return;

            long now = MonotonicClock.NowNs();
            if (now >= nextStatus)
            {
                Guard(run, PublishStatus);
                nextStatus = now + _statusPeriodNs;
            }
            if (run is not null && now >= nextInfo)
            {
                Guard(run, () => PublishRunInfo(run, TopicId.RunInfo));
                nextInfo = now + _runInfoPeriodNs;
            }
            if (busy) continue;
            // Frames and activity are polled every millisecond rather than signalled by the tap: a thread woken by every
            // frame gets scheduled on the loop's core right after the tap and delays the loop. Events (rare) still wake it.
            _wake.Wait(run is null ? TimeSpan.FromMilliseconds(20) : TimeSpan.FromMilliseconds(1));
            _wake.Reset();
        }
    }

    /// <summary>Publishes what is queued (a bounded batch of each kind); true when anything was there. Allocation-free
    /// on the steady path: no closures, headers written into a reused buffer.</summary>
    private bool Pump(RunState run)
    {
        bool did = false;
        if (run.Sub.Frames is { } frames)
        {
            for (int i = 0; i < 64 && frames.TryTakeNow(out var frame); i++)
            {
                did = true;
                try
                {
                    if (_sendError is null) PublishFrame(run, frame);
                }
                catch (Exception e) { Fail(run, e); }
                finally { frame.Release(); }
            }
        }
        if (run.Sub.Activity is { } ring)
        {
            for (int i = 0; i < 256 && ring.TryPeek(out var snapshot); i++)
            {
                did = true;
                try
                {
                    if (_sendError is null && run.ActivityEvery > 0 && snapshot.FrameIndex % run.ActivityEvery == 0) PublishActivity(run, snapshot);
                }
                catch (Exception e) { Fail(run, e); }
                ring.Advance();
            }
        }
        for (int i = 0; i < 256 && run.Events.TryTakeNow(out var ev); i++)
        {
            did = true;
            try
            {
                if (_sendError is null) PublishEvent(run, ev);
            }
            catch (Exception e) { Fail(run, e); }
        }
        return did;
    }

    private void Finish(RunState run)
    {
        run.Sub.Frames?.Drain(); // anything that raced in after the last pump goes back to the pool
        while (run.Sub.Activity is { } ring && ring.TryPeek(out _)) ring.Advance();
        Guard(run, () => PublishRunEnd(run));
        Guard(run, PublishStatus);
        run.MarkEnd(_sender);
        run.Done.Set();
    }

    /// <summary>Detach after the thread died: release the frames still queued.</summary>
    private static bool DrainDead(RunState run)
    {
        run.Sub.Frames?.Drain();
        run.Error ??= "the publisher thread had stopped";
        return true;
    }

    /// <summary>Runs one occasional publish (status, run description); see <see cref="Fail"/>.</summary>
    private void Guard(RunState? run, Action publish)
    {
        if (_sendError is not null) return;
        try { publish(); }
        catch (Exception e) { Fail(run, e); }
    }

    /// <summary>A failure to publish stops sending for good (frames are still drained and released) and is reported;
    /// the run goes on.</summary>
    private void Fail(RunState? run, Exception e)
    {
        _sendError ??= $"event bus stopped sending: {e.Message}";
        if (run is not null) run.Error ??= _sendError;
    }
}
