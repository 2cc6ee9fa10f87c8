using System.Text.Json;
using ClosedLoop.Cli;
using ClosedLoop.Cli.Experiments;
using ClosedLoop.Hardware;
using Spectre.Console;

namespace ClosedLoop.IntegrationTests;

/// <summary>Runs the closedloop commands in-process with a captured console and a scratch folder.</summary>
internal sealed class Harness : IDisposable
{
    private readonly StringWriter _out = new();

    public Harness()
    {
        Folder = Directory.CreateTempSubdirectory("closedloop-it-").FullName;
        Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(_out),
            Interactive = InteractionSupport.No,
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
        });
        Console.Profile.Width = 400; // keep messages on one line for the assertions
    }

    public string Folder { get; }
    public IAnsiConsole Console { get; }
    public string Output => _out.ToString();
    public string RunFolder => Path.Combine(Folder, "run");

    /// <summary>The default profile's text with <paramref name="edit"/> applied, written to a file.</summary>
    public string Profile(Func<string, string> edit, string name = "rig.yaml")
    {
        string path = Path.Combine(Folder, name);
        File.WriteAllText(path, edit(HardwareProfileLoader.ReadBuiltin("sim-two-photon")!));
        return path;
    }

    /// <summary>The default profile with a 5 s watchdog instead of 250 ms: for real-time runs whose test is not about the
    /// watchdog, since a busy test machine can stall a real-time loop past 250 ms and (rightly) end the run as a fault.</summary>
    public string ProfileWithPatientWatchdog() => Profile(p => p.Replace("watchdogTimeoutMs: 250", "watchdogTimeoutMs: 5000"), "rig-patient-watchdog.yaml");

    /// <summary>The default experiment's text with <paramref name="edit"/> applied, written to a file.</summary>
    public string Experiment(Func<string, string> edit, string name = "experiment.yaml")
    {
        using var s = typeof(ExperimentLoader).Assembly.GetManifestResourceStream("experiments/stimulus-avoidance.yaml")!;
        string path = Path.Combine(Folder, name);
        File.WriteAllText(path, edit(new StreamReader(s).ReadToEnd()));
        return path;
    }

    public (int ExitCode, RunReport? Report) Run(string profile, string experiment, SimulationPacing pacing = SimulationPacing.Fast,
        double? durationS = null, CancellationToken cancel = default)
    {
        RunReport? report = null;
        int code = RunCommand.Execute(new RunOptions(profile, experiment, durationS, pacing, RunFolder, Quiet: true), Console, cancel, r => report = r);
        return (code, report);
    }

    public JsonElement ReportJson() => JsonDocument.Parse(File.ReadAllText(Path.Combine(RunFolder, "report.json"))).RootElement;

    public List<JsonElement> EventsJson() =>
        File.ReadAllLines(Path.Combine(RunFolder, "events.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();

    public void Dispose()
    {
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { }
    }
}
