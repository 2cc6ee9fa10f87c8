using System.Text.Json;

namespace ClosedLoop.Core;

/// <summary>The JSON forms of the live contracts that both the event bus and the dashboard send, written once here so
/// a Python client and the web page see the same fields.</summary>
public static class LiveJson
{
    /// <summary>Writes a number, or null when it is not finite (JSON has no NaN).</summary>
    public static void NumberOrNull(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value)) w.WriteNumber(name, value);
        else w.WriteNull(name);
    }

    /// <summary>Writes the fields of <paramref name="s"/> (all but runId, which callers place themselves) into the
    /// object being written, with the host state spelled <paramref name="state"/>.</summary>
    public static void WriteStatusFields(Utf8JsonWriter w, LiveStatus s, string state)
    {
        w.WriteString("state", state);
        w.WriteString("profile", s.Profile);
        w.WriteString("experiment", s.Experiment);
        w.WriteNumber("framesAcquired", s.FramesAcquired);
        w.WriteNumber("framesProcessed", s.FramesProcessed);
        w.WriteNumber("framesDropped", s.FramesDropped);
        w.WriteNumber("stimuliDelivered", s.StimuliDelivered);
        w.WriteNumber("stimuliRefused", s.StimuliRefused);
        w.WriteNumber("trialsDone", s.TrialsDone);
        w.WriteString("protocolState", s.ProtocolState);
        NumberOrNull(w, "latencyP50Us", s.LatencyP50Us);
        NumberOrNull(w, "latencyP99Us", s.LatencyP99Us);
        w.WriteString("lastOutcome", s.LastOutcome);
        w.WriteString("lastMessage", s.LastMessage);
    }

    /// <summary>Writes <c>"groups": [{"name", "role", "units": [...]}, ...]</c>.</summary>
    public static void WriteGroups(Utf8JsonWriter w, IReadOnlyList<LiveGroup> groups)
    {
        w.WriteStartArray("groups");
        foreach (var g in groups)
        {
            w.WriteStartObject();
            w.WriteString("name", g.Name);
            w.WriteString("role", g.Role);
            w.WriteStartArray("units");
            foreach (int u in g.Units) w.WriteNumberValue(u);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
