using System.CommandLine;
using ClosedLoop.Core;
using ClosedLoop.Dashboard;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary>
/// The command-line options that put a run (or <c>closedloop serve</c>) on the network — the web dashboard and the
/// ZeroMQ event bus — and the servers they start, attached to a <see cref="RunHost"/> as live consumers and answering
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

        public IEnumerable<Option> All => new Option[] { Dashboard, DashboardHost, AllowRemote };

        public bool Any(ParseResult p) => p.GetResult(Dashboard) is not null;
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
            return live;
        }
        catch
        {
            await live.DisposeAsync();
            throw;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var s in _servers) await s.DisposeAsync();
        _servers.Clear();
    }
}
