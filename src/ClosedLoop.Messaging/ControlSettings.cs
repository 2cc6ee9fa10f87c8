using ClosedLoop.Core;
using ClosedLoop.Messaging.Zmq;

namespace ClosedLoop.Messaging;

/// <summary>Settings of the <see cref="ControlServer"/>, read once when it is created.</summary>
public sealed class ControlSettings : IStageSettings
{
    /// <summary>Where to answer requests. Loopback by default; any address other machines can reach needs a token.</summary>
    public string Endpoint { get; set; } = BusEndpoint.DefaultControl;

    /// <summary>Shared secret every request must carry in its <c>token</c> field; required for a non-loopback endpoint.
    /// Null or empty: no token needed (loopback only).</summary>
    public string? Token { get; set; }

    /// <summary>CURVE secret key file of the server (encrypts requests, the token included; see docs/messaging.md).</summary>
    public string? CurveSecretKeyFile { get; set; }

    /// <summary>CURVE server keys given directly (wins over <see cref="CurveSecretKeyFile"/>).</summary>
    public CurveKeyPair? CurveKeys { get; set; }

    /// <summary>Largest request answered, bytes; a larger one gets a <c>too-large</c> error.</summary>
    public int MaxRequestBytes { get; set; } = 64 * 1024;

    /// <summary>Largest request libzmq accepts at all, bytes (ZMQ_MAXMSGSIZE): a peer sending more is disconnected
    /// without a reply, so a flood cannot exhaust memory. At least <see cref="MaxRequestBytes"/>.</summary>
    public int HardLimitBytes { get; set; } = 1024 * 1024;

    /// <summary>Shortest token accepted, characters.</summary>
    public const int MinTokenLength = 16;

    /// <inheritdoc />
    public void Validate()
    {
        BusEndpoint.Validate("control.endpoint", Endpoint);
        Check.InRange("control.maxRequestBytes", MaxRequestBytes, 256, 16 * 1024 * 1024);
        Check.InRange("control.hardLimitBytes", HardLimitBytes, MaxRequestBytes, 64 * 1024 * 1024);
        if (!string.IsNullOrEmpty(Token) && (Token.Length < MinTokenLength || Token.Any(char.IsWhiteSpace)))
            throw new SettingException("control.token", $"{Token.Length} characters", $"at least {MinTokenLength} characters without spaces (e.g. `openssl rand -hex 16`)");
        if (!BusEndpoint.IsLocal(Endpoint) && string.IsNullOrEmpty(Token))
            throw new SettingException("control.endpoint", Endpoint,
                "a loopback endpoint (tcp://127.0.0.1:PORT) unless a token is set (control.token, best with CURVE keys): otherwise anyone on the network could start and stop runs");
    }
}
