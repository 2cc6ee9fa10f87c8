using System.Net;
using ClosedLoop.Core;

namespace ClosedLoop.Dashboard;

/// <summary>
/// Settings of the live dashboard. All are read once, when the server starts (<see cref="DashboardServer.StartAsync"/>)
/// or when a run is attached; none changes during a run.
/// </summary>
public sealed class DashboardSettings : IStageSettings
{
    /// <summary>Address to listen on. Loopback (127.0.0.1 or ::1) by default; any other address also needs
    /// <see cref="AllowRemote"/>, because the dashboard has no authentication and can start and stop runs.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free one (the chosen address is in <see cref="DashboardServer.Url"/>).</summary>
    public int Port { get; init; }

    /// <summary>Allow listening on a non-loopback address. Off by default: prefer an SSH tunnel (docs/dashboard.md).</summary>
    public bool AllowRemote { get; init; }

    /// <summary>Most frames per second sent to each browser, Hz.</summary>
    public double MaxFrameRateHz { get; init; } = 30;

    /// <summary>Frames the tap may queue for the dashboard (it holds at most this plus one pooled frame).</summary>
    public int FrameQueueCapacity { get; init; } = 2;

    /// <summary>Largest side of a frame as sent, px; bigger frames are binned by a whole factor.</summary>
    public int MaxDisplayPx { get; init; } = 1024;

    /// <summary>Activity snapshots the tap may queue for the dashboard.</summary>
    public int ActivityCapacity { get; init; } = 1024;

    /// <summary>Samples of ΔF/F and rate kept per unit for the trace plot (fewer when there are very many units).</summary>
    public int TraceHistorySamples { get; init; } = 1800;

    /// <summary>Most units one browser may select for traces.</summary>
    public int MaxSelectedUnits { get; init; } = 16;

    /// <summary>Most browsers connected at once; more are refused with HTTP 503.</summary>
    public int MaxClients { get; init; } = 8;

    /// <summary>Largest message a browser may send, bytes; longer ones get a too-large error.</summary>
    public int MaxMessageBytes { get; init; } = 4096;

    /// <summary>Text messages queued per browser before the oldest is dropped (and counted).</summary>
    public int ClientQueueMessages { get; init; } = 256;

    /// <summary>Status messages per second.</summary>
    public double StatusRateHz { get; init; } = 4;

    /// <summary>Trace batches per second.</summary>
    public double TraceRateHz { get; init; } = 10;

    /// <summary>Events kept per run for browsers that connect later.</summary>
    public int EventHistory { get; init; } = 2000;

    /// <inheritdoc />
    public void Validate()
    {
        if (!IPAddress.TryParse(Host, out var address))
            throw new SettingException("dashboard.host", Host, "an IP address, e.g. 127.0.0.1 (loopback) or ::1");
        if (!IPAddress.IsLoopback(address) && !AllowRemote)
            throw new SettingException("dashboard.host", Host,
                "a loopback address (127.0.0.1 or ::1) unless dashboard.allowRemote is set; the dashboard has no authentication, so prefer an SSH tunnel");
        Check.InRange("dashboard.port", Port, 0, 65535);
        Check.InRange("dashboard.maxFrameRateHz", MaxFrameRateHz, 0.1, 1000);
        Check.InRange("dashboard.frameQueueCapacity", FrameQueueCapacity, 1, 16);
        Check.InRange("dashboard.maxDisplayPx", MaxDisplayPx, 16, 8192);
        Check.InRange("dashboard.activityCapacity", ActivityCapacity, 1, 1 << 16);
        Check.InRange("dashboard.traceHistorySamples", TraceHistorySamples, 10, 100_000);
        Check.InRange("dashboard.maxSelectedUnits", MaxSelectedUnits, 1, 256);
        Check.InRange("dashboard.maxClients", MaxClients, 1, 64);
        Check.InRange("dashboard.maxMessageBytes", MaxMessageBytes, 256, 1 << 20);
        Check.InRange("dashboard.clientQueueMessages", ClientQueueMessages, 8, 1 << 16);
        Check.InRange("dashboard.statusRateHz", StatusRateHz, 0.2, 50);
        Check.InRange("dashboard.traceRateHz", TraceRateHz, 0.5, 100);
        Check.InRange("dashboard.eventHistory", EventHistory, 10, 1_000_000);
    }
}

/// <summary>Counters of a dashboard server since it started (all runs together), for reports and tests.</summary>
/// <param name="ClientsConnected">Browsers connected now.</param>
/// <param name="ClientsServed">Browsers that connected since the server started.</param>
/// <param name="ClientsRefused">Connections refused (too many browsers, foreign origin, not a WebSocket).</param>
/// <param name="FramesTaken">Frames taken from the tap.</param>
/// <param name="FramesDroppedAtTap">Frames the tap dropped because the dashboard was behind (tap link full).</param>
/// <param name="FramesSkipped">Frames taken but not shown, to keep to the frame-rate cap or because a newer one was queued.</param>
/// <param name="FramesEncoded">Frames converted to 8 bits and offered to the browsers.</param>
/// <param name="FramesSent">Frame messages sent to browsers (all browsers together).</param>
/// <param name="FramesDroppedForClients">Frames replaced by a newer one before a slow browser took them.</param>
/// <param name="MessagesSent">Text messages sent to browsers.</param>
/// <param name="MessagesDropped">Text messages dropped because a browser's queue was full.</param>
/// <param name="CommandsReceived">Well-formed commands received.</param>
/// <param name="CommandsRefused">Well-formed commands that were refused (error reply).</param>
/// <param name="BadMessages">Malformed, unknown, binary or oversized messages from browsers (error reply).</param>
/// <param name="EventsDropped">Run events dropped because the dashboard's event queue was full.</param>
/// <param name="ActivityDropped">Activity snapshots the tap dropped because the dashboard was behind.</param>
public sealed record DashboardStats(
    int ClientsConnected, long ClientsServed, long ClientsRefused,
    long FramesTaken, long FramesDroppedAtTap, long FramesSkipped, long FramesEncoded, long FramesSent, long FramesDroppedForClients,
    long MessagesSent, long MessagesDropped, long CommandsReceived, long CommandsRefused, long BadMessages,
    long EventsDropped, long ActivityDropped);

/// <summary>Interlocked counters behind <see cref="DashboardStats"/>.</summary>
internal sealed class DashboardCounters
{
    public long ClientsServed, ClientsRefused, FramesTaken, FramesSkipped, FramesEncoded, FramesSent, FramesDroppedForClients;
    public long MessagesSent, MessagesDropped, CommandsReceived, CommandsRefused, BadMessages, EventsDropped;
    public long TapDroppedEarlierRuns, ActivityDroppedEarlierRuns;

    public static void Add(ref long counter, long by = 1) => Interlocked.Add(ref counter, by);

    public static long Get(ref long counter) => Interlocked.Read(ref counter);
}
