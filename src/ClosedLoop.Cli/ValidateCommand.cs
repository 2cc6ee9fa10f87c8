using ClosedLoop.Cli.Experiments;
using ClosedLoop.Core;
using ClosedLoop.Hardware;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary><c>closedloop validate</c>: check files without touching hardware.</summary>
public static class ValidateCommand
{
    /// <summary>Validates a profile and optionally an experiment against it; returns the exit code.</summary>
    public static int Execute(string? profile, string? experiment, bool list, IAnsiConsole console)
    {
        if (list || profile is null)
        {
            console.MarkupLine("Built-in profiles:    " + Markup.Escape(string.Join(", ", HardwareProfileLoader.BuiltinNames().Select(n => "builtin:" + n))));
            console.MarkupLine("Built-in experiments: " + Markup.Escape(string.Join(", ", ExperimentLoader.BuiltinNames().Select(n => "builtin:" + n))));
            if (profile is null && !list)
            {
                console.MarkupLine("[red]Give a profile to validate.[/]");
                return ExitCodes.BadInput;
            }
            if (profile is null) return ExitCodes.Ok;
        }
        try
        {
            var p = HardwareProfileLoader.Load(profile);
            var problems = ProfileChecks.Wiring(p);
            foreach (var w in problems)
                console.MarkupLine($"[yellow]warning:[/] {Markup.Escape($"{w.Setting}: {w.Advice}")}");
            if (p.Mea is not null && p.Daq.Backend == DaqBackend.Simulated)
            {
                // Build the array as a run would: the layout, the AI/AO tasks and the culture have the final word.
                using var meaRig = new Rigs.MeaRig(p, 1, SimulationPacing.Fast);
                console.MarkupLine($"MEA: {Markup.Escape(meaRig.Layout.Description)}, {meaRig.SamplesPerBlock} samples per block, {meaRig.MicrovoltsPerCode:0.###} µV per code");
            }
            if (p.Scanners is not null && p.Daq.Backend == DaqBackend.Simulated)
            {
                // Build the scan exactly as a run would: the waveform generator has the final word on what the
                // scanners can follow (frame rate, amplitude), and names the nearest feasible setting if not.
                using var rig = Rigs.ScanRig.Build(p, frameLimit: 1, SimulationPacing.Fast);
                console.MarkupLine($"Scan: {rig.Plan.LinesPerFrame} lines + {rig.Plan.FlybackLines} flyback at {rig.Plan.FrameRateHz:0.##} Hz, fill fraction {rig.Plan.TemporalFillFraction:0.##}");
            }
            console.MarkupLine($"[green]Profile valid:[/] {Markup.Escape(p.SourcePath)} ({Markup.Escape(p.Name)}: {p.Daq.Backend}, {(p.Mea is { } mea ? $"MEA layout {mea.Layout} at {mea.SampleRateHz / 1000:0.#} kHz in {mea.BlockMs} ms blocks" : $"{p.Imaging.WidthPx}×{p.Imaging.HeightPx} px at {p.Imaging.FrameRateHz:0.##} Hz")}, {p.Stimulators.Count} stimulator(s))");
            if (experiment is not null)
            {
                // Build the whole session: it resolves groups, ROIs, detectors and stimulators and checks every
                // stimulus against the interlock, exactly as a run would, but acquires nothing.
                using var session = Session.Build(new RunOptions(profile, experiment));
                console.MarkupLine($"[green]Experiment valid on this rig:[/] {Markup.Escape(session.Experiment.SourcePath)} ({session.UnitCount} {(session.OnlineBoard is null ? "ROIs" : "ROI units for online segmentation")}, {session.Experiment.Groups.Count} groups, {session.Detectors.Count} detector(s))");
            }
            return ExitCodes.Ok;
        }
        catch (SettingException ex)
        {
            console.MarkupLine($"[red]Invalid:[/] {Markup.Escape(ex.Message)}");
            return ExitCodes.BadInput;
        }
    }
}
