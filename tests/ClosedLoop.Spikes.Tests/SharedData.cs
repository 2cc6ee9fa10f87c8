using System.Diagnostics;

namespace ClosedLoop.Spikes.Tests;

/// <summary>Where the shared data and tools are: ../shared next to the repository root.</summary>
internal static class SharedData
{
    public static string? RepoRoot { get; } = FindRepoRoot();

    public static string SharedFolder => Path.GetFullPath(Path.Combine(RepoRoot ?? AppContext.BaseDirectory, "..", "shared"));

    public static string Spikefinder => Path.Combine(SharedFolder, "data", "spikefinder");

    public static string Scorer => Path.Combine(SharedFolder, "tools", "spikefinder_score.py");

    private static string? FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "ClosedLoop.sln"))) return dir.FullName;
        return null;
    }

    public static bool PythonAvailable()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("python3", "--version") { RedirectStandardOutput = true, RedirectStandardError = true });
            if (p is null) return false;
            p.WaitForExit(10_000);
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}

/// <summary>A fact that needs the Spikefinder data in ../shared/data (and, when asked, python3 and the reference
/// scorer): it is skipped, saying so, when they are not there.</summary>
internal sealed class SharedDataFactAttribute : FactAttribute
{
    public SharedDataFactAttribute(bool needsPython = false)
    {
        if (!Directory.Exists(SharedData.Spikefinder))
            Skip = $"../shared/data not present: {SharedData.Spikefinder} does not exist (the Spikefinder files live next to the repository, not in it)";
        else if (needsPython && !File.Exists(SharedData.Scorer))
            Skip = $"../shared/tools not present: {SharedData.Scorer} does not exist";
        else if (needsPython && !SharedData.PythonAvailable())
            Skip = "python3 not found on PATH: the reference scorer cannot be run";
    }
}
