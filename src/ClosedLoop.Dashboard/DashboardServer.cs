using System.Net;
using System.Reflection;
using ClosedLoop.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ClosedLoop.Dashboard;

/// <summary>
/// The live dashboard: a web page served by the process that runs experiments (Kestrel on loopback by default) and a
/// WebSocket at <c>/ws</c> that streams the live frame with ROI outlines, traces, events, status and the learning
/// curve, and takes start/stop/parameter commands through <see cref="IRunControl"/>. One server lives across runs:
/// each run is attached (<see cref="Attach"/>) and detached (<see cref="Detach"/>); between runs the page shows the
/// idle state and can still start the next run. Everything runs on the dashboard's own threads; the fast loop only
/// ever meets the tap's bounded, dropping links.
/// </summary>
public sealed class DashboardServer : ILiveConsumer, IAsyncDisposable
{
    private readonly DashboardSettings _settings;
    private readonly IRunControl? _control;
    private readonly DashboardCounters _counters = new();
    private readonly DashboardCommands _commands;
    private readonly DashboardPump _pump;
    private readonly object _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _clientTasks = new();
    private DashboardClient[] _clients = Array.Empty<DashboardClient>();
    private WebApplication? _app;
    private RunFeed? _attached;
    private long _feeds;
    private int _nextClientId;
    private bool _disposed;

    /// <summary>Creates the server (not yet listening: call <see cref="StartAsync"/>).</summary>
    /// <param name="settings">Address, port and limits; checked here.</param>
    /// <param name="control">Run control behind the Start/Stop buttons and parameter editing; null for a view-only dashboard.</param>
    public DashboardServer(DashboardSettings settings, IRunControl? control)
    {
        settings.Validate();
        _settings = settings;
        _control = control;
        _pump = new DashboardPump(this, settings, _counters, control);
        _commands = new DashboardCommands(control, settings, _counters, () => _pump.Current?.Units ?? 0, () => _pump.Wake(true, true));
    }

    /// <inheritdoc />
    public string Name => "dashboard";

    private IDisposable? _eventSubscription;

    /// <summary>Address of the page, e.g. <c>http://127.0.0.1:8080/</c> (the real port when 0 was asked for); empty before start.</summary>
    public string Url { get; private set; } = "";

    /// <summary>Address of the WebSocket, e.g. <c>ws://127.0.0.1:8080/ws</c>; empty before start.</summary>
    public string WebSocketUrl => Url.Length == 0 ? "" : "ws" + Url["http".Length..] + "ws";

    /// <summary>Settings in use.</summary>
    public DashboardSettings Settings => _settings;

    internal DashboardClient[] Clients => Volatile.Read(ref _clients);

    /// <summary>Starts listening and the dashboard thread.</summary>
    /// <exception cref="IOException">The port is taken or the address cannot be bound (the message names them).</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_app is not null) throw new InvalidOperationException("The dashboard is already started.");
        ObjectDisposedException.ThrowIf(_disposed, this);
        var address = IPAddress.Parse(_settings.Host);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(DashboardServer).Assembly.GetName().Name });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = 64 * 1024;
            k.Listen(address, _settings.Port);
        });
        var app = builder.Build();
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(20) });
        app.Run(HandleAsync);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new IOException($"The dashboard cannot listen on {_settings.Host}:{_settings.Port} ({ex.Message}); choose another port (dashboard.port, 0 picks a free one).", ex);
        }
        _app = app;
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? $"http://{_settings.Host}:{_settings.Port}";
        Url = bound.TrimEnd('/') + "/";
        _pump.Start();
    }

    /// <summary>Counters since the server started.</summary>
    public DashboardStats Stats()
    {
        var feed = _pump.Current;
        var c = _counters;
        return new DashboardStats(
            Clients.Length, DashboardCounters.Get(ref c.ClientsServed), DashboardCounters.Get(ref c.ClientsRefused),
            DashboardCounters.Get(ref c.FramesTaken), DashboardCounters.Get(ref c.TapDroppedEarlierRuns) + (feed?.Subscription.Frames?.Dropped ?? 0),
            DashboardCounters.Get(ref c.FramesSkipped), DashboardCounters.Get(ref c.FramesEncoded), DashboardCounters.Get(ref c.FramesSent),
            DashboardCounters.Get(ref c.FramesDroppedForClients), DashboardCounters.Get(ref c.MessagesSent), DashboardCounters.Get(ref c.MessagesDropped),
            DashboardCounters.Get(ref c.CommandsReceived), DashboardCounters.Get(ref c.CommandsRefused), DashboardCounters.Get(ref c.BadMessages),
            DashboardCounters.Get(ref c.EventsDropped), DashboardCounters.Get(ref c.ActivityDroppedEarlierRuns) + (feed?.Subscription.Activity?.Dropped ?? 0));
    }

    /// <summary>Subscribes to the run's tap (the newest frames, at most <see cref="DashboardSettings.MaxFrameRateHz"/> of
    /// them, and the activity) and its event log, and shows the run to every browser. Call before the run starts.</summary>
    public void Attach(LiveRunInfo run, LiveTap tap)
    {
        if (_app is null) throw new InvalidOperationException("Start the dashboard (StartAsync) before attaching a run.");
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_gate)
        {
            if (_attached is not null)
                throw new InvalidOperationException($"Run '{_attached.Info.Context.RunId}' is still attached to the dashboard; detach it first.");
            int frameEvery = run.WidthPx > 0 && run.HeightPx > 0
                ? Math.Max(1, (int)Math.Floor(run.Context.FrameRateHz / _settings.MaxFrameRateHz))
                : 0;
            var subscription = tap.Subscribe(Name, _settings.FrameQueueCapacity, frameEvery, run.Units.Count > 0 ? _settings.ActivityCapacity : 0);
            var feed = new RunFeed(Interlocked.Increment(ref _feeds), run, subscription, _settings, _counters);
            _eventSubscription = run.Context.Events.Subscribe(feed.OnEvent);
            _attached = feed;
            _pump.Show(feed);
        }
    }

    /// <summary>Ends the run's feed: every frame the dashboard held or had queued is released, browsers are told the
    /// run ended (the page goes idle), and the counters are reported.</summary>
    public LiveConsumerReport Detach(RunResult result)
    {
        RunFeed feed;
        lock (_gate)
        {
            feed = _attached ?? throw new InvalidOperationException("No run is attached to the dashboard.");
            _attached = null;
            _eventSubscription?.Dispose();
            _eventSubscription = null;
        }
        feed.RequestDetach(result);
        _pump.Wake();
        string? error = null;
        if (!feed.Finished.Wait(TimeSpan.FromSeconds(10)) || !_pump.IsAlive)
        {
            // The dashboard thread is gone or stuck: release the queued frames here so the pool is whole again.
            if (!feed.Finished.IsSet)
            {
                feed.MarkClosed();
                feed.Subscription.Frames?.Drain();
                OnFeedFinished(feed);
            }
            error = _pump.Failure is { } f ? $"dashboard thread failed: {f.Message}" : feed.Finished.IsSet ? null : "dashboard thread did not finish within 10 s";
        }
        var tap = feed.Subscription.Snapshot();
        var s = Stats();
        var counters = new Dictionary<string, long>
        {
            ["framesOffered"] = tap.FramesOffered,
            ["framesDroppedAtTap"] = tap.FramesDropped,
            ["framesEncoded"] = s.FramesEncoded,
            ["framesSent"] = s.FramesSent,
            ["framesDroppedForClients"] = s.FramesDroppedForClients,
            ["activityDropped"] = tap.ActivityDropped,
            ["clientsConnected"] = s.ClientsConnected,
            ["clientsServed"] = s.ClientsServed,
            ["commands"] = s.CommandsReceived,
            ["badMessages"] = s.BadMessages,
            ["eventsDropped"] = s.EventsDropped,
        };
        string summary = $"served {Url} to {s.ClientsServed} browser(s); {s.FramesSent} frames sent, {tap.FramesDropped} dropped at the tap, {s.FramesDroppedForClients} replaced before a slow browser took them";
        return new LiveConsumerReport(Name, summary, error, counters);
    }

    /// <summary>Called on the dashboard thread once a feed's frames are all released.</summary>
    internal void OnFeedFinished(RunFeed feed)
    {
        DashboardCounters.Add(ref _counters.TapDroppedEarlierRuns, feed.Subscription.Frames?.Dropped ?? 0);
        DashboardCounters.Add(ref _counters.ActivityDroppedEarlierRuns, feed.Subscription.Activity?.Dropped ?? 0);
    }

    private async Task HandleAsync(HttpContext context)
    {
        var response = context.Response;
        response.Headers.CacheControl = "no-store";
        response.Headers.XContentTypeOptions = "nosniff";
        string path = context.Request.Path.Value ?? "/";
        if (path == "/ws")
        {
            await AcceptAsync(context).ConfigureAwait(false);
            return;
        }
        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }
        (string resource, string type) = path switch
        {
            "/" or "/index.html" => ("index.html", "text/html; charset=utf-8"),
            "/dashboard.js" => ("dashboard.js", "text/javascript; charset=utf-8"),
            "/dashboard.css" => ("dashboard.css", "text/css; charset=utf-8"),
            _ => ("", ""),
        };
        if (resource.Length == 0)
        {
            response.StatusCode = path == "/favicon.ico" ? StatusCodes.Status204NoContent : StatusCodes.Status404NotFound;
            return;
        }
        response.ContentType = type;
        response.Headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";
        var bytes = Resource(resource);
        response.ContentLength = bytes.Length;
        if (HttpMethods.IsGet(context.Request.Method)) await response.Body.WriteAsync(bytes, context.RequestAborted).ConfigureAwait(false);
    }

    private async Task AcceptAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            DashboardCounters.Add(ref _counters.ClientsRefused);
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("This address takes WebSocket connections only.").ConfigureAwait(false);
            return;
        }
        // A page from another site must not drive the rig through the user's browser (cross-site WebSocket hijacking).
        string origin = context.Request.Headers.Origin.ToString();
        if (origin.Length > 0 && !SameOrigin(origin, context.Request.Host.Value))
        {
            DashboardCounters.Add(ref _counters.ClientsRefused);
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            await context.Response.WriteAsync($"Origin '{origin}' may not connect; open the dashboard from {Url}.").ConfigureAwait(false);
            return;
        }
        DashboardClient client;
        lock (_gate)
        {
            if (_disposed || _clients.Length >= _settings.MaxClients)
            {
                DashboardCounters.Add(ref _counters.ClientsRefused);
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                return;
            }
        }
        var socket = await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
        lock (_gate)
        {
            client = new DashboardClient(++_nextClientId, socket, _settings, _counters, _commands.Handle);
            _clients = [.. _clients, client];
            DashboardCounters.Add(ref _counters.ClientsServed);
        }
        _pump.Wake();
        var run = client.RunAsync(_stopping.Token);
        lock (_gate) _clientTasks.Add(run);
        try
        {
            await run.ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
            {
                _clients = _clients.Where(c => c != client).ToArray();
                _clientTasks.Remove(run);
            }
        }
    }

    private static bool SameOrigin(string origin, string? host) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri) && host is not null
        && string.Equals(uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port}", host, StringComparison.OrdinalIgnoreCase);

    private static readonly Dictionary<string, byte[]> ResourceCache = new();

    internal static byte[] Resource(string name)
    {
        lock (ResourceCache)
        {
            if (ResourceCache.TryGetValue(name, out var cached)) return cached;
            using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("dashboard/" + name)
                ?? throw new InvalidOperationException($"Dashboard resource '{name}' is missing from the assembly.");
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            return ResourceCache[name] = memory.ToArray();
        }
    }

    /// <summary>Stops the page and the dashboard thread; a run still attached is finished first, so its frames go home.</summary>
    public async ValueTask DisposeAsync()
    {
        Task[] clients;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
        }
        RunFeed? attached;
        lock (_gate)
        {
            attached = _attached;
            _attached = null;
        }
        if (attached is not null)
        {
            attached.RequestDetach(new RunResult(RunOutcome.Cancelled, null, null, "dashboard closed", 0));
            _pump.Wake();
            attached.Finished.Wait(TimeSpan.FromSeconds(5));
        }
        _pump.Stop();
        if (attached is not null && !attached.Finished.IsSet) attached.Subscription.Frames?.Drain();
        _stopping.Cancel();
        lock (_gate) clients = _clientTasks.ToArray();
        try { await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); }
        catch (Exception) { /* clients closing with errors or slowly: the server goes anyway */ }
        if (_app is not null)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _app.StopAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception) { /* stopping a server with hung connections */ }
            await _app.DisposeAsync().ConfigureAwait(false);
        }
        _stopping.Dispose();
    }
}
