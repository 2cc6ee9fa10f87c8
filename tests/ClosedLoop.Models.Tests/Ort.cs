using System.Diagnostics;
using ClosedLoop.Models.OnnxRuntime;

namespace ClosedLoop.Models.Tests;

/// <summary>Test helpers for ONNX Runtime and the reference Python onnx package.</summary>
internal static class Ort
{
    /// <summary>Fails (never skips) with the library's own message when ONNX Runtime is missing: CI installs it.</summary>
    public static OnnxRuntimeLibrary Require() => OnnxRuntimeLibrary.Load();

    /// <summary>Runs /usr/bin/python3 on <paramref name="script"/>; fails with the set-up command when python3-onnx is missing.</summary>
    public static string Python(string script, params string[] args)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start /usr/bin/python3");
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            Assert.Fail($"python3 failed (exit {p.ExitCode}). The reference model needs Debian python3-onnx and python3-numpy: run build/setup-native.sh onnx.\n{stderr}");
        return stdout.Result;
    }

    public static string TempFile(string name) =>
        Path.Combine(Directory.CreateTempSubdirectory("closedloop-models-").FullName, name);
}
