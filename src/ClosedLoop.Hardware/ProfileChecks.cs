using System.Globalization;
using ClosedLoop.Core;

namespace ClosedLoop.Hardware;

/// <summary>How serious a <see cref="ProfileProblem"/> is.</summary>
public enum ProblemSeverity
{
    /// <summary>The rig would still run, but probably not as the author meant; show it to the user.</summary>
    Warning,
    /// <summary>The profile cannot work; loading fails.</summary>
    Error,
}

/// <summary>A problem found by <see cref="ProfileChecks"/>: the setting concerned, its value and what would be right.</summary>
/// <param name="Severity">Whether loading fails.</param>
/// <param name="Setting">Dotted name of the setting, e.g. <c>stimulators[0].watchdogTimeoutMs</c>.</param>
/// <param name="Value">The value that causes it.</param>
/// <param name="Advice">What would be right, in words.</param>
public sealed record ProfileProblem(ProblemSeverity Severity, string Setting, object? Value, string Advice)
{
    /// <summary>The problem as a <see cref="SettingException"/> (for errors).</summary>
    public SettingException ToException() => new(Setting, Value, Advice);

    /// <summary>E.g. <c>warning: stimulators[0].watchdogTimeoutMs = 500: ...</c>.</summary>
    public override string ToString() =>
        $"{(Severity == ProblemSeverity.Error ? "error" : "warning")}: {Setting} = " +
        $"{(Value is IFormattable f ? f.ToString(null, CultureInfo.InvariantCulture) : Value)}: {Advice}";
}

/// <summary>
/// Checks across sections that no single <c>Validate</c> method can make: pathway neuron indices, the
/// stimulators' watchdogs against the frame period, limits that can never be reached, sections that will be ignored,
/// and the wiring of a scanning rig (every role on a declared channel of the right kind, voltages within reach,
/// frame rates the scanners can deliver).
/// </summary>
public static partial class ProfileChecks
{
    /// <summary>Watchdogs longer than this many frame periods leave stimulation on for long after the loop stalls.</summary>
    public const int MaxWatchdogFrames = 10;

    /// <summary>Every wiring problem of a profile that has passed <see cref="HardwareProfile.Validate"/>, errors
    /// first. <see cref="HardwareProfileLoader"/> fails on the first error; show the warnings to the user.</summary>
    public static IReadOnlyList<ProfileProblem> Wiring(HardwareProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var problems = new List<ProfileProblem>();
        double framePeriodMs = profile.Mea is { } meaRig ? meaRig.BlockMs : 1000.0 / profile.Imaging.FrameRateHz;

        if (profile.Simulation is { } sim)
        {
            if (profile.Daq.Backend != DaqBackend.Simulated)
                problems.Add(new(ProblemSeverity.Warning, "simulation", profile.Daq.Backend.ToString().ToLowerInvariant(),
                    "only used when daq.backend is 'simulated'; this section is ignored"));
            var tissue = sim.Tissue;
            int? neuronCount = tissue.Footprints == "generated" ? tissue.GeneratedNeuronCount : null;
            for (int i = 0; i < tissue.Pathways.Count; i++)
            {
                string path = $"simulation.tissue.pathways[{i}]";
                CheckIndices(problems, $"{path}.from", tissue.Pathways[i].From, neuronCount);
                CheckIndices(problems, $"{path}.to", tissue.Pathways[i].To, neuronCount);
                var loop = tissue.Pathways[i].From.Intersect(tissue.Pathways[i].To).ToList();
                if (loop.Count > 0)
                    problems.Add(new(ProblemSeverity.Warning, $"{path}.to", loop[0],
                        "a neuron in both 'from' and 'to' of one pathway excites itself and can run away"));
            }
        }

        for (int i = 0; i < profile.Stimulators.Count; i++)
        {
            var s = profile.Stimulators[i];
            string path = $"stimulators[{i}]";
            if (s.WatchdogTimeoutMs <= framePeriodMs)
                problems.Add(new(ProblemSeverity.Error, $"{path}.watchdogTimeoutMs", s.WatchdogTimeoutMs,
                    $"longer than one frame period ({Ms(framePeriodMs)} ms{(profile.Mea is null ? $" at imaging.frameRateHz = {Ms(profile.Imaging.FrameRateHz)}" : ", one mea block")}), " +
                    "or the watchdog switches stimulation off between every two frames"));
            else if (s.WatchdogTimeoutMs > MaxWatchdogFrames * (profile.Mea is null ? framePeriodMs : Math.Max(framePeriodMs, 20)))
                problems.Add(new(ProblemSeverity.Warning, $"{path}.watchdogTimeoutMs", s.WatchdogTimeoutMs,
                    $"at most {MaxWatchdogFrames} frame periods ({Ms(MaxWatchdogFrames * framePeriodMs)} ms), " +
                    "or stimulation stays on long after the loop has stalled"));
            if (s.Kind == StimulatorKind.Electrical && profile.Mea is null)
                problems.Add(new(ProblemSeverity.Error, $"{path}.kind", "electrical",
                    "an electrical stimulator needs an 'mea' section (its electrodes are the array's)"));
            if (s.MaxPulseWidthMs / 1000.0 > s.MaxDutyCycle)
                problems.Add(new(ProblemSeverity.Warning, $"{path}.maxPulseWidthMs", s.MaxPulseWidthMs,
                    $"at most maxDutyCycle × 1000 ms ({Ms(s.MaxDutyCycle * 1000)} ms): a longer pulse always breaks the duty-cycle limit"));
        }
        CheckRig(profile, problems);
        return problems.OrderByDescending(p => p.Severity).ToList();
    }

    private static void CheckIndices(List<ProfileProblem> problems, string setting, List<int> indices, int? neuronCount)
    {
        var seen = new HashSet<int>();
        for (int j = 0; j < indices.Count; j++)
        {
            int n = indices[j];
            if (n < 0)
                problems.Add(new(ProblemSeverity.Error, $"{setting}[{j}]", n, "a neuron index >= 0"));
            else if (neuronCount is { } count && n >= count)
                problems.Add(new(ProblemSeverity.Error, $"{setting}[{j}]", n,
                    $"a neuron index below simulation.tissue.generatedNeuronCount ({count})"));
            if (!seen.Add(n))
                problems.Add(new(ProblemSeverity.Warning, $"{setting}[{j}]", n, "listed once (it is already in this list)"));
        }
    }

    private static string Ms(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);
}
