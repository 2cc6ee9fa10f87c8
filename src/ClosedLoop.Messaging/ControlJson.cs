using System.Text.Json;
using ClosedLoop.Core;

namespace ClosedLoop.Messaging;

/// <summary>How control replies and bus headers spell the core's records in JSON (camelCase, NaN as null).</summary>
internal static class ControlJson
{
    public static string StateName(HostState state) => state switch
    {
        HostState.Idle => "idle",
        HostState.Running => "running",
        HostState.Stopping => "stopping",
        _ => state.ToString().ToLowerInvariant(),
    };

    /// <summary>Writes the fields of <paramref name="s"/> (all but runId) into the object being written.</summary>
    public static void WriteStatusFields(Utf8JsonWriter w, LiveStatus s) => LiveJson.WriteStatusFields(w, s, StateName(s.State));

    /// <summary>Writes <paramref name="s"/> as an object (runId included).</summary>
    public static void WriteStatus(Utf8JsonWriter w, LiveStatus s)
    {
        w.WriteStartObject();
        w.WriteString("runId", s.RunId);
        WriteStatusFields(w, s);
        w.WriteEndObject();
    }

    /// <summary>Writes the live parameters as an array of objects.</summary>
    public static void WriteParameters(Utf8JsonWriter w, IReadOnlyList<ParameterInfo> parameters)
    {
        w.WriteStartArray();
        foreach (var p in parameters)
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
    }
}
