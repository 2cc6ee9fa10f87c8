using System.Buffers;
using System.Text.Json;
using ClosedLoop.Core;

namespace ClosedLoop.Dashboard;

/// <summary>Writes the server → browser JSON messages (docs/dashboard.md lists them). Non-finite numbers become null.</summary>
internal static class DashboardJson
{
    [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    /// <summary>Runs <paramref name="body"/> on a reused writer and returns the UTF-8 message.</summary>
    public static byte[] Write(Action<Utf8JsonWriter> body)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        var w = t_writer ??= new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = false });
        w.Reset(buffer);
        w.WriteStartObject();
        body(w);
        w.WriteEndObject();
        w.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    public static void Value(Utf8JsonWriter w, float value)
    {
        if (float.IsFinite(value)) w.WriteNumberValue(value);
        else w.WriteNullValue();
    }

    public static byte[] Hello(bool control, DashboardSettings s) => Write(w =>
    {
        w.WriteString("type", "hello");
        w.WriteString("server", "closedloop-dashboard");
        w.WriteNumber("protocol", 1);
        w.WriteBoolean("control", control);
        w.WriteNumber("maxMessageBytes", s.MaxMessageBytes);
        w.WriteNumber("maxSelectedUnits", s.MaxSelectedUnits);
        w.WriteNumber("maxFrameRateHz", s.MaxFrameRateHz);
    });

    public static byte[] Idle(string lastRunId) => Write(w =>
    {
        w.WriteString("type", "run");
        w.WriteBoolean("active", false);
        w.WriteString("runId", lastRunId);
    });

    /// <summary>The units of a run whose ROIs are found while imaging, after a change: <c>{"type": "units", "runId",
    /// "version", "units": [...]}</c> (each unit as in the run message; a unit whose ROI does not exist has no outline).</summary>
    public static byte[] Units(string runId, long version, IReadOnlyList<LiveUnit> units, IReadOnlyList<int[]> outlines, IReadOnlyList<double> radii) => Write(w =>
    {
        w.WriteString("type", "units");
        w.WriteString("runId", runId);
        w.WriteNumber("version", version);
        WriteUnits(w, units, outlines, radii);
    });

    private static void WriteUnits(Utf8JsonWriter w, IReadOnlyList<LiveUnit> units, IReadOnlyList<int[]> outlines, IReadOnlyList<double> radii)
    {
        w.WriteStartArray("units");
        for (int i = 0; i < units.Count; i++)
        {
            var u = units[i];
            w.WriteStartObject();
            w.WriteNumber("index", i);
            w.WriteString("name", u.Name);
            LiveJson.NumberOrNull(w, "x", u.CentroidXPx);
            LiveJson.NumberOrNull(w, "y", u.CentroidYPx);
            LiveJson.NumberOrNull(w, "radiusPx", radii[i]);
            w.WriteNumber("pixels", u.Pixels.Length);
            w.WriteStartArray("outline");
            foreach (int v in outlines[i]) w.WriteNumberValue(v);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    public static byte[] Run(LiveRunInfo info, int binning, IReadOnlyList<int[]> outlines, IReadOnlyList<double> radii, IReadOnlyList<LiveUnit>? units = null) => Write(w =>
    {
        w.WriteString("type", "run");
        w.WriteBoolean("active", true);
        w.WriteString("runId", info.Context.RunId);
        w.WriteString("profile", info.Profile);
        w.WriteString("experiment", info.Experiment);
        w.WriteNumber("widthPx", info.WidthPx);
        w.WriteNumber("heightPx", info.HeightPx);
        w.WriteNumber("frameRateHz", info.Context.FrameRateHz);
        w.WriteNumber("binning", binning);
        WriteUnits(w, units ?? info.Units, outlines, radii);
        LiveJson.WriteGroups(w, info.Groups);
    });

    public static byte[] Parameters(IReadOnlyList<ParameterInfo> list) => Write(w =>
    {
        w.WriteString("type", "parameters");
        w.WriteStartArray("parameters");
        foreach (var p in list)
        {
            w.WriteStartObject();
            w.WriteString("name", p.Name);
            w.WriteString("unit", p.Unit);
            LiveJson.NumberOrNull(w, "min", p.Min);
            LiveJson.NumberOrNull(w, "max", p.Max);
            LiveJson.NumberOrNull(w, "value", p.Value);
            w.WriteString("description", p.Description);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    });

    public static void Event(Utf8JsonWriter w, RunEvent e)
    {
        w.WriteStartObject();
        w.WriteString("kind", e.Kind.ToString());
        w.WriteNumber("t", e.SampleTimeNs / 1e9);
        w.WriteString("source", e.Source);
        w.WriteString("message", e.Message);
        LiveJson.NumberOrNull(w, "value", e.Value);
        w.WriteEndObject();
    }

    public static byte[] Events(IReadOnlyList<RunEvent> events, int start, bool history) => Write(w =>
    {
        w.WriteString("type", "events");
        w.WriteBoolean("history", history);
        w.WriteStartArray("events");
        for (int i = start; i < events.Count; i++) Event(w, events[i]);
        w.WriteEndArray();
    });

    public static byte[] Trials(IReadOnlyList<double> responseTimesS) => Write(w =>
    {
        w.WriteString("type", "trials");
        w.WriteStartArray("responseTimesS");
        foreach (double v in responseTimesS)
        {
            if (double.IsFinite(v)) w.WriteNumberValue(v);
            else w.WriteNullValue();
        }
        w.WriteEndArray();
    });

    public static byte[] Reply(JsonElement? id, string command, string? errorCode, string? errorMessage) => Write(w =>
    {
        w.WriteString("type", "reply");
        w.WritePropertyName("id");
        if (id is { } element && element.ValueKind is JsonValueKind.Number or JsonValueKind.String) element.WriteTo(w);
        else w.WriteNullValue();
        w.WriteString("command", command);
        w.WriteBoolean("ok", errorCode is null);
        if (errorCode is not null)
        {
            w.WriteStartObject("error");
            w.WriteString("code", errorCode);
            w.WriteString("message", errorMessage ?? "");
            w.WriteEndObject();
        }
    });

    public static byte[] Status(LiveStatus? s, string? statusError, DashboardStats d, DashboardClient client, TapSubscription? tap) => Write(w =>
    {
        w.WriteString("type", "status");
        if (s is not null)
        {
            w.WriteString("runId", s.RunId);
            LiveJson.WriteStatusFields(w, s, s.State.ToString());
        }
        else
        {
            w.WriteString("state", HostState.Idle.ToString());
        }
        if (statusError is not null) w.WriteString("statusError", statusError);
        w.WriteStartObject("dashboard");
        w.WriteNumber("clients", d.ClientsConnected);
        w.WriteNumber("framesTaken", d.FramesTaken);
        w.WriteNumber("framesDroppedAtTap", d.FramesDroppedAtTap);
        w.WriteNumber("framesSkipped", d.FramesSkipped);
        w.WriteNumber("framesEncoded", d.FramesEncoded);
        w.WriteNumber("framesSentToYou", client.FramesSent);
        w.WriteNumber("framesDroppedForYou", client.FramesDropped);
        w.WriteNumber("messagesDroppedForYou", client.MessagesDropped);
        w.WriteNumber("badMessagesFromYou", client.BadMessages);
        w.WriteNumber("badMessages", d.BadMessages);
        w.WriteNumber("eventsDropped", d.EventsDropped);
        w.WriteNumber("activityDropped", d.ActivityDropped);
        if (tap is not null)
        {
            w.WriteNumber("tapFramesOffered", tap.Frames?.Written ?? 0);
            w.WriteNumber("tapFramesDropped", tap.Frames?.Dropped ?? 0);
        }
        w.WriteEndObject();
    });
}
