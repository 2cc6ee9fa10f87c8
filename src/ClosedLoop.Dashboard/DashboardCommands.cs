using System.Text.Json;
using ClosedLoop.Core;

namespace ClosedLoop.Dashboard;

/// <summary>
/// Browser → server commands: JSON objects <c>{"type": "start" | "stop" | "load" | "set" | "select" | "roi" | "ping", "id": …, …}</c>.
/// Each gets exactly one reply <c>{"type": "reply", "id", "command", "ok", "error": {"code", "message"}}</c>; a malformed
/// or unknown message gets an error reply and is counted, and never reaches <see cref="IRunControl"/>.
/// </summary>
internal sealed class DashboardCommands
{
    private static readonly string[] Known = ["start", "stop", "load", "set", "select", "roi", "ping"];
    private const int MaxNameChars = 256;

    private readonly IRunControl? _control;
    private readonly DashboardSettings _settings;
    private readonly DashboardCounters _counters;
    private readonly Func<int> _currentUnits;
    private readonly Action _changed;

    /// <param name="control">Run control, or null for a view-only dashboard.</param>
    /// <param name="settings">Limits.</param>
    /// <param name="counters">Where commands and bad messages are counted.</param>
    /// <param name="currentUnits">Units of the attached run (0 when idle).</param>
    /// <param name="changed">Called after a command that changed something, so status and parameters go out at once.</param>
    public DashboardCommands(IRunControl? control, DashboardSettings settings, DashboardCounters counters, Func<int> currentUnits, Action changed)
    {
        _control = control;
        _settings = settings;
        _counters = counters;
        _currentUnits = currentUnits;
        _changed = changed;
    }

    /// <summary>An error reply to a message that is not a command at all (binary, oversized), counted as bad.</summary>
    public static byte[] Refuse(DashboardClient client, string code, string message)
    {
        client.CountBadMessage();
        return DashboardJson.Reply(null, "", code, message);
    }

    /// <summary>Handles one text message from <paramref name="client"/> and returns the reply.</summary>
    public byte[] Handle(DashboardClient client, ReadOnlyMemory<byte> utf8)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException ex)
        {
            return Refuse(client, "bad-request", $"message is not valid JSON ({ex.Message}); send an object such as {{\"type\":\"stop\"}}");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                return Refuse(client, "bad-request", $"message must be a JSON object with a \"type\", not {root.ValueKind.ToString().ToLowerInvariant()}");
            JsonElement? id = root.TryGetProperty("id", out var idElement) ? idElement.Clone() : null;
            if (!root.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
                return BadField(client, id, "", "type", $"a string, one of: {string.Join(", ", Known)}");
            string type = typeElement.GetString()!;
            if (Array.IndexOf(Known, type) < 0)
            {
                client.CountBadMessage();
                return DashboardJson.Reply(id, Shorten(type), "unknown-command",
                    $"unknown command '{Shorten(type)}'; known commands: {string.Join(", ", Known)}");
            }
            DashboardCounters.Add(ref _counters.CommandsReceived);
            try
            {
                Execute(client, type, root);
                return DashboardJson.Reply(id, type, null, null);
            }
            catch (BadFieldException ex)
            {
                return BadField(client, id, type, ex.Field, ex.Allowed);
            }
            catch (ControlException ex)
            {
                return Refused(id, type, ex.Code, ex.Message);
            }
            catch (SettingException ex)
            {
                return Refused(id, type, ex.Setting == "parameter" ? "unknown-parameter" : "out-of-range", ex.Message);
            }
            catch (Exception ex)
            {
                return Refused(id, type, "internal", $"{type} failed: {ex.Message}");
            }
        }
    }

    private void Execute(DashboardClient client, string type, JsonElement root)
    {
        switch (type)
        {
            case "ping":
                return;
            case "select":
                Select(client, root);
                return;
        }
        var control = _control ?? throw new ControlException("unauthorised",
            "this dashboard was started without run control: it shows the run but cannot start, stop, load or set parameters");
        switch (type)
        {
            case "start":
                control.Start();
                break;
            case "stop":
                control.Stop(OptionalString(root, "reason") ?? "stopped from the dashboard");
                break;
            case "load":
                control.Load(RequiredString(root, "profile"), RequiredString(root, "experiment"));
                break;
            case "set":
                string name = RequiredString(root, "name");
                if (!root.TryGetProperty("value", out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double value) || !double.IsFinite(value))
                    throw new BadFieldException("value", "a finite JSON number");
                control.SetParameter(name, value);
                break;
            case "roi":
                control.EditRoi(ReadRoiEdit(root));
                break;
        }
        _changed();
    }

    private void Select(DashboardClient client, JsonElement root)
    {
        if (!root.TryGetProperty("units", out var units) || units.ValueKind != JsonValueKind.Array)
            throw new BadFieldException("units", "an array of unit indices, e.g. [0, 3]");
        int count = _currentUnits();
        if (count == 0) throw new ControlException("not-running", "no run is attached, so there are no units to select");
        int n = units.GetArrayLength();
        if (n > _settings.MaxSelectedUnits)
            throw new BadFieldException("units", $"at most {_settings.MaxSelectedUnits} unit indices (got {n})");
        var selection = new List<int>(n);
        foreach (var u in units.EnumerateArray())
        {
            if (u.ValueKind != JsonValueKind.Number || !u.TryGetInt32(out int index) || index < 0 || index >= count)
                throw new BadFieldException("units", $"whole numbers between 0 and {count - 1} (this run has {count} units)");
            if (!selection.Contains(index)) selection.Add(index);
        }
        client.SetSelection(selection.ToArray());
        _changed();
    }

    /// <summary><c>{"type": "roi", "action": "lock" | "unlock" | "delete", "id": 3}</c>, or <c>"action": "add"</c> with
    /// <c>"pixels": [...]</c> or <c>"x", "y", "radius"</c> (px).</summary>
    private static RoiEditRequest ReadRoiEdit(JsonElement root)
    {
        var kind = RequiredString(root, "action") switch
        {
            "lock" => RoiEditAction.Lock,
            "unlock" => RoiEditAction.Unlock,
            "add" => RoiEditAction.Add,
            "delete" => RoiEditAction.Delete,
            _ => throw new BadFieldException("action", "one of lock, unlock, add, delete"),
        };
        int? id = null;
        if (kind != RoiEditAction.Add && root.TryGetProperty("id", out var idValue))
        {
            if (idValue.ValueKind != JsonValueKind.Number || !idValue.TryGetInt32(out int v)) throw new BadFieldException("id", "a whole number (an ROI id)");
            id = v;
        }
        int[]? pixels = null;
        if (root.TryGetProperty("pixels", out var px) && px.ValueKind != JsonValueKind.Null)
        {
            if (px.ValueKind != JsonValueKind.Array || px.GetArrayLength() > 1 << 20)
                throw new BadFieldException("pixels", "an array of at most 1,048,576 pixel indices (row * width + col)");
            pixels = new int[px.GetArrayLength()];
            int j = 0;
            foreach (var e in px.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int p)) throw new BadFieldException($"pixels[{j}]", "a whole number (row * width + col)");
                pixels[j++] = p;
            }
        }
        return new RoiEditRequest(kind, id, pixels, Number(root, "x"), Number(root, "y"), Number(root, "radius"));
    }

    private static double? Number(JsonElement root, string field)
    {
        if (!root.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d)) throw new BadFieldException(field, "a finite JSON number (px)");
        return d;
    }

    private byte[] BadField(DashboardClient client, JsonElement? id, string type, string field, string allowed)
    {
        client.CountBadMessage();
        return DashboardJson.Reply(id, type, "bad-request", $"field '{field}' must be {allowed}");
    }

    private byte[] Refused(JsonElement? id, string type, string code, string message)
    {
        DashboardCounters.Add(ref _counters.CommandsRefused);
        return DashboardJson.Reply(id, type, code, message);
    }

    private static string RequiredString(JsonElement root, string field) =>
        OptionalString(root, field) ?? throw new BadFieldException(field, $"a non-empty string of at most {MaxNameChars} characters");

    private static string? OptionalString(JsonElement root, string field)
    {
        if (!root.TryGetProperty(field, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.String) throw new BadFieldException(field, $"a string of at most {MaxNameChars} characters");
        string s = e.GetString()!;
        if (s.Length == 0 || s.Length > MaxNameChars) throw new BadFieldException(field, $"a non-empty string of at most {MaxNameChars} characters");
        return s;
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "…";

    private sealed class BadFieldException(string field, string allowed) : Exception($"{field} must be {allowed}")
    {
        public string Field { get; } = field;
        public string Allowed { get; } = allowed;
    }
}
