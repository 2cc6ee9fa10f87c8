using System.Text;
using ClosedLoop.Core;

namespace ClosedLoop.Messaging.Zmq;

/// <summary>Z85, ZeroMQ's printable encoding of binary keys (32 bytes ↔ 40 characters), through libzmq.</summary>
public static unsafe class Z85
{
    /// <summary>Encodes <paramref name="data"/> (length a multiple of 4).</summary>
    public static string Encode(ReadOnlySpan<byte> data)
    {
        ZmqLibrary.EnsureLoaded();
        if (data.Length % 4 != 0) throw new ArgumentException("Z85 encodes a whole number of 4-byte groups.", nameof(data));
        var dest = new byte[data.Length * 5 / 4 + 1];
        fixed (byte* d = dest)
        fixed (byte* s = data)
            if (NativeMethods.zmq_z85_encode(d, s, (nuint)data.Length) == null) throw new ArgumentException("Z85 encoding failed.", nameof(data));
        return Encoding.ASCII.GetString(dest, 0, dest.Length - 1);
    }

    /// <summary>Decodes <paramref name="text"/> (length a multiple of 5); throws <see cref="SettingException"/> naming
    /// <paramref name="setting"/> when it is not valid Z85.</summary>
    public static byte[] Decode(string text, string setting = "z85")
    {
        ZmqLibrary.EnsureLoaded();
        if (text.Length == 0 || text.Length % 5 != 0 || text.Any(c => c is < '!' or > '}'))
            throw new SettingException(setting, text, "Z85 text whose length is a multiple of 5");
        var src = Encoding.ASCII.GetBytes(text + "\0");
        var dest = new byte[text.Length * 4 / 5];
        fixed (byte* d = dest)
        fixed (byte* s = src)
            if (NativeMethods.zmq_z85_decode(d, s) == null) throw new SettingException(setting, text, "valid Z85 text");
        return dest;
    }

    /// <summary>Decodes a 40-character CURVE key into its 32 bytes.</summary>
    public static byte[] DecodeKey(string keyZ85, string setting)
    {
        if (keyZ85 is null || keyZ85.Length != CurveKeyPair.KeyLengthZ85)
            throw new SettingException(setting, keyZ85 is null ? null : $"{keyZ85.Length} characters", "a CURVE key of 40 Z85 characters");
        return Decode(keyZ85, setting);
    }
}

/// <summary>A CURVE key pair (Curve25519), kept as Z85 text. The secret key must stay private (file mode 600).</summary>
public sealed class CurveKeyPair
{
    /// <summary>Length of a key in Z85 characters.</summary>
    public const int KeyLengthZ85 = 40;

    private CurveKeyPair(string publicKeyZ85, string secretKeyZ85)
    {
        PublicKeyZ85 = publicKeyZ85;
        SecretKeyZ85 = secretKeyZ85;
        PublicKeyBytes = Z85.DecodeKey(publicKeyZ85, "curve.publicKey");
        SecretKeyBytes = Z85.DecodeKey(secretKeyZ85, "curve.secretKey");
    }

    /// <summary>Public key, 40 Z85 characters: give it to clients.</summary>
    public string PublicKeyZ85 { get; }

    /// <summary>Secret key, 40 Z85 characters.</summary>
    public string SecretKeyZ85 { get; }

    internal byte[] PublicKeyBytes { get; }

    internal byte[] SecretKeyBytes { get; }

    /// <summary>Makes a new random key pair (libzmq's zmq_curve_keypair).</summary>
    public static unsafe CurveKeyPair Generate()
    {
        RequireCurve();
        byte* pub = stackalloc byte[KeyLengthZ85 + 1];
        byte* sec = stackalloc byte[KeyLengthZ85 + 1];
        if (NativeMethods.zmq_curve_keypair(pub, sec) != 0) throw ZmqException.FromErrno("zmq_curve_keypair");
        return new CurveKeyPair(Encoding.ASCII.GetString(pub, KeyLengthZ85), Encoding.ASCII.GetString(sec, KeyLengthZ85));
    }

    /// <summary>Rebuilds the pair from its secret key (the public key is derived).</summary>
    public static unsafe CurveKeyPair FromSecret(string secretKeyZ85)
    {
        RequireCurve();
        Z85.DecodeKey(secretKeyZ85, "curve.secretKey");
        byte* pub = stackalloc byte[KeyLengthZ85 + 1];
        var sec = Encoding.ASCII.GetBytes(secretKeyZ85 + "\0");
        fixed (byte* s = sec)
            if (NativeMethods.zmq_curve_public(pub, s) != 0) throw ZmqException.FromErrno("zmq_curve_public");
        return new CurveKeyPair(Encoding.ASCII.GetString(pub, KeyLengthZ85), secretKeyZ85);
    }

    /// <summary>Reads a secret key file: either the 40-character key alone on a line, or a ZeroMQ certificate
    /// (<c>secret-key = "…"</c>). Lines starting with # are comments.</summary>
    public static CurveKeyPair Load(string path)
    {
        if (!File.Exists(path)) throw new SettingException("curve.secretKeyFile", path, "an existing file holding a CURVE secret key");
        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            int eq = line.IndexOf('=');
            if (eq > 0 && line[..eq].Trim() == "secret-key") return FromSecret(line[(eq + 1)..].Trim().Trim('"'));
            if (eq < 0 && line.Length == KeyLengthZ85) return FromSecret(line);
        }
        throw new SettingException("curve.secretKeyFile", path, "a file with a 40-character Z85 secret key on a line, or a line 'secret-key = \"…\"'");
    }

    /// <summary>Writes the pair as a ZeroMQ-style certificate (secret file, mode 600) and its public half
    /// (<paramref name="path"/>.pub, for clients).</summary>
    public void Save(string path)
    {
        string secret = $"#   ClosedLoop CURVE secret key: keep private\ncurve\n    public-key = \"{PublicKeyZ85}\"\n    secret-key = \"{SecretKeyZ85}\"\n";
        File.WriteAllText(path, "");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(path, secret);
        File.WriteAllText(path + ".pub", $"#   ClosedLoop CURVE public key: give to clients\ncurve\n    public-key = \"{PublicKeyZ85}\"\n");
    }

    private static void RequireCurve()
    {
        if (!ZmqLibrary.HasCurve)
            throw new ZmqNotInstalledException("This libzmq was built without CURVE security (zmq_has(\"curve\") is false); install Debian's libzmq5, which has it.");
    }
}
