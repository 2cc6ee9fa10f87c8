using System.CommandLine;
using ClosedLoop.Core;
using ClosedLoop.Dashboard;
using ClosedLoop.Messaging;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary>
/// The command-line options that put a run (or <c>closedloop serve</c>) on the network — the web dashboard and the
/// ZeroMQ event bus and its remote control — and the servers they start, attached to a <see cref="RunHost"/> as live consumers and answering
/// its remote control. Everything listens on loopback unless told otherwise.
/// </summary>
internal sealed class LiveEndpoints : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _servers = new();

    /// <summary>Options shared by <c>run</c> and <c>serve</c>.</summary>
    internal sealed class Options
    {
        public readonly Option<int?> Dashboard = new("--dashboard")
        {
            Description = "Serve the live dashboard on this port of 127.0.0.1 (0 = any free port); open the printed URL in a browser.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        public readonly Option<string> DashboardHost = new("--dashboard-host")
        {
            Description = "Address the dashboard listens on. Anything but loopback needs --allow-remote (the dashboard has no login; prefer an SSH tunnel).",
            DefaultValueFactory = _ => "127.0.0.1",
        };
        public readonly Option<bool> AllowRemote = new("--allow-remote") { Description = "Let the dashboard listen on a non-loopback address." };
        public readonly Option<string?> Publish = new("--publish")
        {
            Description = $"Publish frames, traces, rates and events on a ZeroMQ PUB socket (default endpoint {BusEndpoint.DefaultPublish}; docs/messaging.md).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        public readonly Option<int> PublishFrameEvery = new("--publish-frame-every") { Description = "With --publish: send every N-th frame (0 = no frames).", DefaultValueFactory = _ => 1 };
        public readonly Option<int> PublishBinning = new("--publish-binning") { Description = "With --publish: bin frames N×N before sending.", DefaultValueFactory = _ => 1 };
        public readonly Option<string?> Control = new("--control")
        {
            Description = $"Answer remote control (status, start, stop, set, load) on a ZeroMQ REP socket (default endpoint {BusEndpoint.DefaultControl}).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        public readonly Option<string?> Token = new("--token") { Description = "Token every control request must carry (required when --control binds a non-loopback address; at least 16 characters). Also read from CLOSEDLOOP_TOKEN." };
        public readonly Option<string?> CurveKey = new("--curve-secret-key") { Description = "CURVE secret key file: encrypt the bus and control sockets (required to publish on a non-loopback address)." };

        public IEnumerable<Option> All => new Option[] { Dashboard, DashboardHost, AllowRemote, Publish, PublishFrameEvery, PublishBinning, Control, Token, CurveKey };

        public bool Any(ParseResult p) => p.GetResult(Dashboard) is not null || p.GetResult(Publish) is not null || p.GetResult(Control) is not null;
    }

    private LiveEndpoints() { }

    /// <summary>URL of the dashboard, when one is served.</summary>
    public string? DashboardUrl { get; private set; }

    /// <summary>Starts what the options ask for and adds it to <paramref name="host"/>. Throws <see cref="SettingException"/>
    /// for a bad option (naming it) and <see cref="IOException"/> when a port is taken.</summary>
    public static async Task<LiveEndpoints> StartAsync(Options o, ParseResult p, RunHost host, IAnsiConsole console)
    {
        var live = new LiveEndpoints();
        try
        {
            if (p.GetResult(o.Dashboard) is not null)
            {
                var settings = new DashboardSettings { Host = p.GetValue(o.DashboardHost)!, Port = p.GetValue(o.Dashboard) ?? 0, AllowRemote = p.GetValue(o.AllowRemote) };
                var server = new DashboardServer(settings, host);
                live._servers.Add(server);
                await server.StartAsync();
                host.AddConsumer(server);
                live.DashboardUrl = server.Url;
                console.MarkupLine($"Dashboard: [blue]{Markup.Escape(server.Url)}[/]");
            }
            string? curve = p.GetValue(o.CurveKey);
            if (p.GetResult(o.Publish) is not null)
            {
                var settings = new EventBusSettings
                {
                    Endpoint = p.GetValue(o.Publish) ?? BusEndpoint.DefaultPublish,
                    FrameEvery = p.GetValue(o.PublishFrameEvery),
                    FrameBinning = p.GetValue(o.PublishBinning),
                    CurveSecretKeyFile = curve,
                };
                var bus = new EventBusPublisher(settings, idleStatus: host.Status);
                live._servers.Add(new SyncDisposer(bus));
                host.AddConsumer(bus);
                console.MarkupLine($"Event bus: [blue]{Markup.Escape(bus.Endpoint)}[/]");
            }
            if (p.GetResult(o.Control) is not null)
            {
                var settings = new ControlSettings
                {
                    Endpoint = p.GetValue(o.Control) ?? BusEndpoint.DefaultControl,
                    Token = p.GetValue(o.Token) ?? Environment.GetEnvironmentVariable("CLOSEDLOOP_TOKEN"),
                    CurveSecretKeyFile = curve,
                };
                var control = new ControlServer(host, settings);
                live._servers.Add(new SyncDisposer(control));
                console.MarkupLine($"Remote control: [blue]{Markup.Escape(settings.Endpoint)}[/]" + (settings.Token is null ? "" : " (token required)"));
            }
            return live;
        }
        catch
        {
            await live.DisposeAsync();
            throw;
        }
    }

    private sealed class SyncDisposer(IDisposable inner) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            inner.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var s in _servers) await s.DisposeAsync();
        _servers.Clear();
    }
}
