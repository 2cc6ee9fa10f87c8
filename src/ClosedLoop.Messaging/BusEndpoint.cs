using System.Net;
using ClosedLoop.Core;
using ClosedLoop.Messaging.Zmq;

namespace ClosedLoop.Messaging;

/// <summary>Checks ZeroMQ endpoints and decides whether binding one opens the process to other machines.</summary>
public static class BusEndpoint
{
    /// <summary>Default endpoint of the event bus publisher.</summary>
    public const string DefaultPublish = "tcp://127.0.0.1:5556";

    /// <summary>Default endpoint of the control server.</summary>
    public const string DefaultControl = "tcp://127.0.0.1:5557";

    /// <summary>Throws <see cref="SettingException"/> naming <paramref name="setting"/> when <paramref name="endpoint"/>
    /// is not <c>tcp://HOST:PORT</c> (PORT a number or *), <c>ipc://PATH</c> or <c>inproc://NAME</c>.</summary>
    public static string Validate(string setting, string? endpoint)
    {
        const string allowed = "an endpoint like tcp://127.0.0.1:5556 (port a number 1-65535 or *), ipc:///path or inproc://name";
        if (string.IsNullOrWhiteSpace(endpoint)) throw new SettingException(setting, endpoint, allowed);
        int sep = endpoint.IndexOf("://", StringComparison.Ordinal);
        if (sep <= 0 || sep + 3 >= endpoint.Length) throw new SettingException(setting, endpoint, allowed);
        string scheme = endpoint[..sep], rest = endpoint[(sep + 3)..];
        switch (scheme)
        {
            case "inproc":
            case "ipc":
                return endpoint;
            case "tcp":
                int colon = rest.LastIndexOf(':');
                if (colon <= 0) throw new SettingException(setting, endpoint, allowed);
                string port = rest[(colon + 1)..];
                if (port != "*" && !(int.TryParse(port, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int p) && p is >= 1 and <= 65535))
                    throw new SettingException(setting, endpoint, allowed);
                return endpoint;
            default:
                throw new SettingException(setting, endpoint, allowed);
        }
    }

    /// <summary>True when only this machine can reach <paramref name="endpoint"/>: inproc, ipc, or tcp on a loopback
    /// address (127.0.0.0/8, ::1, localhost, the loopback interface <c>lo</c>). A wildcard (<c>*</c>, 0.0.0.0), another
    /// address or an interface name counts as remote.</summary>
    public static bool IsLocal(string endpoint)
    {
        if (endpoint.StartsWith("inproc://", StringComparison.Ordinal) || endpoint.StartsWith("ipc://", StringComparison.Ordinal)) return true;
        if (!endpoint.StartsWith("tcp://", StringComparison.Ordinal)) return false;
        string rest = endpoint[6..];
        int colon = rest.LastIndexOf(':');
        if (colon <= 0) return false;
        string host = rest[..colon];
        int semi = host.IndexOf(';'); // tcp://source;destination form when connecting: the destination decides
        if (semi >= 0) host = host[(semi + 1)..];
        host = host.Trim('[', ']');
        if (host is "localhost" or "lo") return true;
        return IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip);
    }

    /// <summary>Reads the CURVE server keys from <paramref name="keys"/> or else from <paramref name="secretKeyFile"/>; null when neither is set.</summary>
    internal static CurveKeyPair? ResolveKeys(CurveKeyPair? keys, string? secretKeyFile) =>
        keys ?? (string.IsNullOrWhiteSpace(secretKeyFile) ? null : CurveKeyPair.Load(secretKeyFile));
}
