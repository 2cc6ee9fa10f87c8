using System.Text.Json.Serialization;

namespace ClosedLoop.Messaging;

/// <summary>Source-generated JSON for the control client's requests (no reflection).</summary>
[JsonSerializable(typeof(Dictionary<string, object?>))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(double))]
[JsonSerializable(typeof(int))]
[JsonSerializable(typeof(long))]
[JsonSerializable(typeof(bool))]
internal sealed partial class ControlClientJson : JsonSerializerContext;
