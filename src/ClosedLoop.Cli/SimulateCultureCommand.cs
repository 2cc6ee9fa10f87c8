using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ClosedLoop.Core;
using ClosedLoop.FirmwareSim.Culture;
using ClosedLoop.Hardware.Daq;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary>What <c>closedloop simulate culture</c> runs.</summary>
/// <param name="OutFolder">Folder for culture.json and learning.svg (created if missing); null: <c>culture-SEED</c>.</param>
/// <param name="Neurons">Neurons in the culture.</param>
/// <param name="Trials">Trials per condition.</param>
/// <param name="Seed">Seed of the culture and of every random draw.</param>
/// <param name="Condition"><c>both</c>, <c>closed-loop</c> or <c>control</c>.</param>
/// <param name="Electrodes">Array: <c>60</c>, <c>hd</c> or <c>hd:ROWSxCOLS@PITCH</c>.</param>
/// <param name="Bench">Measure simulation speed instead of running the experiment.</param>
/// <param name="BenchSeconds">Simulated seconds per benchmark row.</param>
public sealed record CultureOptions(string? OutFolder = null, int Neurons = 1000, int Trials = 200, int Seed = 1,
    string Condition = "both", string Electrodes = "60", bool Bench = false, double BenchSeconds = 5);

/// <summary>
/// <c>closedloop simulate culture</c>: the virtual culture on a simulated MEA learns by stimulation avoidance. Runs
/// the closed loop (stimulation stops when the output electrodes respond) and the control (stimulation runs the whole
/// trial), prints both learning curves as a table, and writes culture.json and learning.svg. With <c>--bench</c> it
/// measures how fast the culture simulates instead. The model and the experiment: docs/culture.md.
/// </summary>
public static class SimulateCultureCommand
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Creates the <c>culture</c> subcommand.</summary>
    public static Command Create()
    {
        var neurons = new Option<int>("--neurons") { Description = "Neurons in the culture (80 % excitatory).", DefaultValueFactory = _ => 1000 };
        var trials = new Option<int>("--trials") { Description = "Trials per condition.", DefaultValueFactory = _ => 200 };
        var seed = new Option<int>("--seed") { Description = "Seed of the culture and every random draw (same seed, same result).", DefaultValueFactory = _ => 1 };
        var condition = new Option<string>("--condition") { Description = "both, closed-loop or control.", DefaultValueFactory = _ => "both" };
        var electrodes = new Option<string>("--electrodes") { Description = "Array: 60 (8×8 MEA), hd (32×32 at 60 µm) or hd:ROWSxCOLS@PITCH_UM.", DefaultValueFactory = _ => "60" };
        var output = new Option<string?>("--out") { Description = "Folder for culture.json and learning.svg (default culture-SEED)." };
        var bench = new Option<bool>("--bench") { Description = "Measure simulated seconds per wall second (1000 and 3000 neurons, with and without 25 kHz electrode pick-up) instead." };
        var duration = new Option<double>("--duration-s") { Description = "With --bench: simulated seconds per benchmark row.", DefaultValueFactory = _ => 5 };
        var cmd = new Command("culture", "A virtual culture (Izhikevich network with STDP) on a simulated MEA learns to stop its stimulation: closed loop against control, both learning curves as a table, culture.json and learning.svg.")
            { neurons, trials, seed, condition, electrodes, output, bench, duration };
        cmd.SetAction(p => Execute(new CultureOptions(p.GetValue(output), p.GetValue(neurons), p.GetValue(trials), p.GetValue(seed),
            p.GetValue(condition)!, p.GetValue(electrodes)!, p.GetValue(bench), p.GetValue(duration)), AnsiConsole.Console));
        return cmd;
    }

    /// <summary>Runs the command; returns the exit code (<see cref="ExitCodes.BadInput"/> for a bad option, naming it).</summary>
    public static int Execute(CultureOptions options, IAnsiConsole console)
    {
        try
        {
            if (options.Bench) return ExecuteBench(options, console);
            LearningSettings settings = Prepare(options, out LearningCondition[] conditions);
            console.MarkupLine(Markup.Escape(string.Create(Inv,
                $"Culture: {settings.Culture.NeuronCount} neurons on a {settings.Culture.Layout.Description}, seed {options.Seed}; inputs {string.Join(",", settings.InputElectrodes)} → outputs {string.Join(",", settings.OutputElectrodes)}; {settings.Trials} trials per condition …")));
            var runs = new List<LearningRun>();
            if (console.Profile.Capabilities.Interactive)
            {
                console.Progress().AutoClear(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var tasks = conditions.Select(c => ctx.AddTask(Name(c), maxValue: settings.Trials)).ToArray();
                        for (int i = 0; i < conditions.Length; i++)
                        {
                            var task = tasks[i];
                            runs.Add(CultureLearningExperiment.Run(settings, conditions[i], done => task.Value = done));
                        }
                    });
            }
            else
            {
                foreach (LearningCondition c in conditions)
                {
                    int step = Math.Max(1, settings.Trials / 5);
                    runs.Add(CultureLearningExperiment.Run(settings, c, done =>
                    {
                        if (done % step == 0 || done == settings.Trials) console.WriteLine($"{Name(c)}: {done}/{settings.Trials} trials");
                    }));
                }
            }
            string folder = Path.GetFullPath(options.OutFolder ?? $"culture-{options.Seed}");
            Directory.CreateDirectory(folder);
            WriteJson(Path.Combine(folder, "culture.json"), options, settings, runs);
            File.WriteAllText(Path.Combine(folder, "learning.svg"), Plot(runs, options.Seed));
            PrintTable(console, runs);
            console.MarkupLine(Markup.Escape($"Wrote {Path.Combine(folder, "culture.json")} and learning.svg"));
            return ExitCodes.Ok;
        }
        catch (SettingException ex)
        {
            console.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
            return ExitCodes.BadInput;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            console.MarkupLine($"[red]Could not write the results: {Markup.Escape(ex.Message)}[/]");
            return ExitCodes.BadInput;
        }
    }

    /// <summary>The experiment's settings for <paramref name="options"/>.</summary>
    /// <exception cref="SettingException">An option is out of range; the message names it.</exception>
    public static LearningSettings Prepare(CultureOptions options, out LearningCondition[] conditions)
    {
        Check.InRange("--neurons", options.Neurons, 100, 200_000);
        Check.InRange("--trials", options.Trials, 5, 100_000);
        conditions = (options.Condition ?? "").Trim().ToLowerInvariant() switch
        {
            "both" => [LearningCondition.ClosedLoop, LearningCondition.Control],
            "closed-loop" or "closedloop" => [LearningCondition.ClosedLoop],
            "control" => [LearningCondition.Control],
            _ => throw new SettingException("--condition", options.Condition, "both, closed-loop or control"),
        };
        MeaLayout layout = MeaLayout.Parse(options.Electrodes, "--electrodes");
        var defaults = new LearningSettings();
        var culture = new CultureSettings { NeuronCount = options.Neurons, Seed = options.Seed, Layout = layout };
        return new LearningSettings
        {
            Culture = culture,
            Trials = options.Trials,
            InputElectrodes = Nearest(layout, defaults.InputElectrodes),
            OutputElectrodes = Nearest(layout, defaults.OutputElectrodes),
        }.Validate();
    }

    /// <summary>The electrodes of <paramref name="layout"/> nearest the positions the named 60-MEA electrodes have.</summary>
    private static string[] Nearest(MeaLayout layout, IReadOnlyList<string> mea60Names)
    {
        MeaLayout mea60 = MeaLayout.Mea60();
        return mea60Names.Select(name =>
        {
            Electrode target = mea60.Electrodes[mea60.IndexOf(name)];
            return layout.Electrodes.MinBy(e => (e.XUm - layout.MinXUm - target.XUm) * (e.XUm - layout.MinXUm - target.XUm)
                + (e.YUm - layout.MinYUm - target.YUm) * (e.YUm - layout.MinYUm - target.YUm)).Name;
        }).Distinct().ToArray();
    }

    private static string Name(LearningCondition c) => c == LearningCondition.ClosedLoop ? "closed loop" : "control";

    private static void PrintTable(IAnsiConsole console, IReadOnlyList<LearningRun> runs)
    {
        var t = new Table().Border(TableBorder.Rounded).Title("response time per trial (ms; time-outs count as the trial length)")
            .AddColumns("condition", "first fifth", "last fifth", "change", "p (last < first)", "time-outs", "input→output weight", "simulated / wall");
        foreach (LearningRun r in runs)
            t.AddRow(Name(r.Condition), r.FirstFifthMeanMs.ToString("0.0", Inv), r.LastFifthMeanMs.ToString("0.0", Inv),
                r.RelativeChange.ToString("+0%;-0%", Inv), r.PValueFaster.ToString("0.0000", Inv), r.TimeOuts.ToString(Inv),
                string.Create(Inv, $"{r.PathwayWeightStart:0.00} → {r.PathwayWeightEnd:0.00} mV ({r.PathwaySynapses} syn.)"),
                string.Create(Inv, $"{r.SpeedFactor:0}×"));
        console.Write(t);
        int blocks = 10;
        var curve = new Table().Border(TableBorder.Rounded).Title($"learning curves: mean response time (ms) per tenth of the trials");
        curve.AddColumn("condition");
        int n = runs.Max(r => r.Trials.Count);
        for (int b = 0; b < blocks; b++) curve.AddColumn(string.Create(Inv, $"{b * n / blocks + 1}–{(b + 1) * n / blocks}"));
        foreach (LearningRun r in runs)
        {
            double[] rt = r.ResponseTimesMs;
            var cells = new List<string> { Name(r.Condition) };
            for (int b = 0; b < blocks; b++)
            {
                var block = rt.Skip(b * rt.Length / blocks).Take((b + 1) * rt.Length / blocks - b * rt.Length / blocks).ToArray();
                cells.Add(block.Length == 0 ? "–" : block.Average().ToString("0", Inv));
            }
            curve.AddRow(cells.ToArray());
        }
        console.Write(curve);
    }

    /// <summary>The learning curves: every trial as a faint dot, and a 10-trial running mean per condition.</summary>
    public static string Plot(IReadOnlyList<LearningRun> runs, int seed)
    {
        var series = new List<ReportPlots.ChartSeries>();
        foreach (LearningRun r in runs)
        {
            string color = r.Condition == LearningCondition.ClosedLoop ? "#1f77b4" : "#d62728";
            double[] rt = r.ResponseTimesMs;
            series.Add(new ReportPlots.ChartSeries(Name(r.Condition), color, rt, Dots: true));
            series.Add(new ReportPlots.ChartSeries($"{Name(r.Condition)} (10-trial mean)", color, RunningMean(rt, 10)));
        }
        return ReportPlots.LineChart($"Virtual culture: response time per trial — seed {seed}", "trial", "response time (ms)", series);
    }

    private static double[] RunningMean(double[] values, int window)
    {
        var result = new double[values.Length];
        double sum = 0;
        for (int i = 0; i < values.Length; i++)
        {
            sum += values[i];
            if (i >= window) sum -= values[i - window];
            result[i] = sum / Math.Min(i + 1, window);
        }
        return result;
    }

    private static void WriteJson(string path, CultureOptions options, LearningSettings s, IReadOnlyList<LearningRun> runs)
    {
        using var file = File.Create(path);
        using var w = new Utf8JsonWriter(file, new JsonWriterOptions { Indented = true });
        CultureSettings c = s.Culture;
        w.WriteStartObject();
        w.WriteString("source", "closedloop simulate culture (firmware-sim VirtualCulture; docs/culture.md)");
        w.WriteNumber("seed", options.Seed);
        w.WriteStartObject("culture");
        w.WriteNumber("neurons", c.NeuronCount);
        w.WriteNumber("excitatory", c.ExcitatoryCount);
        w.WriteNumber("connectionsPerNeuron", c.ConnectionsPerNeuron);
        w.WriteNumber("connectionLengthUm", c.ConnectionLengthUm);
        w.WriteNumber("minDelayMs", c.MinDelayMs);
        w.WriteNumber("maxDelayMs", c.MaxDelayMs);
        w.WriteNumber("stdpPotentiation", c.StdpPotentiation);
        w.WriteNumber("stdpDepression", c.StdpDepression);
        w.WriteNumber("stdpTauMs", c.StdpTauMs);
        w.WriteNumber("maxWeight", c.MaxWeight);
        w.WriteNumber("noiseSd", c.NoiseSd);
        w.WriteBoolean("shortTermDepression", c.ShortTermDepression);
        w.WriteString("layout", c.Layout.Description);
        w.WriteEndObject();
        w.WriteStartObject("protocol");
        w.WriteString("inputElectrodes", string.Join(",", s.InputElectrodes));
        w.WriteString("outputElectrodes", string.Join(",", s.OutputElectrodes));
        w.WriteNumber("stimulusRateHz", s.StimulusRateHz);
        w.WriteNumber("pulseAmplitudeUa", s.PulseAmplitudeUa);
        w.WriteNumber("pulsePhaseUs", s.PulsePhaseUs);
        w.WriteNumber("responseWindowStartMs", s.ResponseWindowStartMs);
        w.WriteNumber("responseWindowEndMs", s.ResponseWindowEndMs);
        w.WriteNumber("responseSpikes", s.ResponseSpikes);
        w.WriteNumber("maxTrialS", s.MaxTrialS);
        w.WriteNumber("pauseMinS", s.PauseMinS);
        w.WriteNumber("pauseMaxS", s.PauseMaxS);
        w.WriteNumber("trials", s.Trials);
        w.WriteEndObject();
        w.WriteStartObject("conditions");
        foreach (LearningRun r in runs)
        {
            w.WriteStartObject(r.Condition == LearningCondition.ClosedLoop ? "closedLoop" : "control");
            w.WriteStartObject("summary");
            w.WriteNumber("firstFifthMeanMs", Math.Round(r.FirstFifthMeanMs, 3));
            w.WriteNumber("lastFifthMeanMs", Math.Round(r.LastFifthMeanMs, 3));
            w.WriteNumber("relativeChange", Math.Round(r.RelativeChange, 4));
            w.WriteNumber("mannWhitneyPLastFaster", Math.Round(r.PValueFaster, 6));
            w.WriteNumber("timeOuts", r.TimeOuts);
            w.WriteNumber("outputNeurons", r.OutputNeurons);
            w.WriteNumber("inputNeuronsDriven", r.InputNeuronsDriven);
            w.WriteNumber("pathwaySynapses", r.PathwaySynapses);
            w.WriteNumber("pathwayWeightStartMv", Math.Round(r.PathwayWeightStart, 4));
            w.WriteNumber("pathwayWeightEndMv", Math.Round(r.PathwayWeightEnd, 4));
            w.WriteNumber("simulatedS", Math.Round(r.SimulatedS, 3));
            w.WriteNumber("wallS", Math.Round(r.WallS, 3));
            w.WriteEndObject();
            w.WriteStartArray("trials");
            foreach (LearningTrial t in r.Trials)
            {
                w.WriteStartObject();
                w.WriteNumber("index", t.Index);
                w.WriteNumber("startS", Math.Round(t.StartS, 3));
                if (t.ResponseTimeMs is double ms) w.WriteNumber("responseTimeMs", ms);
                else w.WriteNull("responseTimeMs");
                w.WriteNumber("pulses", t.Pulses);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>One benchmark row.</summary>
    /// <param name="Case">What was simulated.</param>
    /// <param name="Neurons">Neurons.</param>
    /// <param name="SimulatedS">Culture seconds simulated.</param>
    /// <param name="WallS">Wall-clock seconds it took.</param>
    /// <param name="Spikes">Spikes fired.</param>
    public sealed record CultureBenchRow(string Case, int Neurons, double SimulatedS, double WallS, long Spikes)
    {
        /// <summary>Simulated seconds per wall second (≥ 10 is the target for 1000 neurons).</summary>
        public double SpeedFactor => SimulatedS / WallS;
    }

    /// <summary>Measures the culture's speed on this thread: network only, with pick-up at 25 kHz on 60 electrodes, and
    /// through the DAQ contract (AI reads of every electrode), for <paramref name="neurons"/> and 3000 neurons.</summary>
    public static IReadOnlyList<CultureBenchRow> RunBench(int neurons, double seconds, int seed = 1)
    {
        var rows = new List<CultureBenchRow>();
        // Throw-away round so every path is compiled at full optimisation (tiered JIT) before anything is timed.
        var warm = new CultureSettings { NeuronCount = neurons, Seed = seed };
        Measure("warm-up", neurons, 1.5, warm, recording: false);
        Measure("warm-up", neurons, 1.5, warm, recording: true);
        MeasureDaq(neurons, 0.5, warm);
        Thread.Sleep(300);
        foreach (int n in new[] { neurons, 3000 }.Distinct())
        {
            var settings = new CultureSettings { NeuronCount = n, Seed = seed };
            rows.Add(Measure("network only (spikes)", n, seconds, settings, recording: false));
            rows.Add(Measure("network + pick-up, 60 electrodes at 25 kHz", n, seconds, settings, recording: true));
            rows.Add(MeasureDaq(n, seconds, settings));
        }
        return rows;
    }

    private static CultureBenchRow Measure(string name, int n, double seconds, CultureSettings settings, bool recording)
    {
        var culture = new VirtualCulture(settings) { RecordingEnabled = recording };
        for (int i = 0; i < 500; i++) culture.Step(); // warm-up (JIT, caches)
        long before = Total(culture);
        int steps = (int)Math.Round(seconds * 1000 / 3);
        double wall = double.MaxValue;
        for (int round = 0; round < 3; round++) // best of three: a shared machine's hiccups only ever slow a round down
        {
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < steps; i++) culture.Step();
            wall = Math.Min(wall, clock.Elapsed.TotalSeconds);
        }
        return new CultureBenchRow(name, n, steps / 1000.0, wall, (Total(culture) - before) / 3);
    }

    private static CultureBenchRow MeasureDaq(int n, double seconds, CultureSettings settings)
    {
        var culture = new VirtualCulture(settings);
        using var mea = new SimulatedMeaSystem(culture);
        int channels = culture.Layout.Count;
        using var ai = mea.CreateAnalogInputTask(new AnalogInputConfig("mea", $"Mea1/ai0:{channels - 1}", new DaqRange(-5, 5),
            new DaqTiming(culture.Pickup.SampleRateHz, 50_000)));
        ai.Start();
        var buffer = new short[channels * 2_500];
        mea.AdvanceBy(500_000_000);
        while (ai.Read(buffer, TimeSpan.Zero, out _) > 0) { }
        long before = Total(culture);
        long startNs = mea.NowNs;
        var clock = Stopwatch.StartNew();
        long endNs = startNs + (long)(seconds * 1e9);
        while (mea.NowNs < endNs)
        {
            mea.AdvanceBy(10_000_000);
            while (ai.Read(buffer, TimeSpan.Zero, out _) > 0) { }
        }
        double wall = clock.Elapsed.TotalSeconds;
        return new CultureBenchRow("simulated MEA: AI reads of every electrode (DAQ contract)", n, (mea.NowNs - startNs) / 1e9, wall, Total(culture) - before);
    }

    private static long Total(VirtualCulture culture)
    {
        long sum = 0;
        foreach (long c in culture.Network.SpikeCounts) sum += c;
        return sum;
    }

    private static int ExecuteBench(CultureOptions options, IAnsiConsole console)
    {
        Check.InRange("--neurons", options.Neurons, 100, 200_000);
        Check.InRange("--duration-s", options.BenchSeconds, 0.1, 3600);
        console.MarkupLine(Markup.Escape(string.Create(Inv, $"Culture speed on one core: {options.BenchSeconds} s simulated per row, 1 ms steps …")));
        var rows = RunBench(options.Neurons, options.BenchSeconds, options.Seed);
        var t = new Table().Border(TableBorder.Rounded).AddColumns("case", "neurons", "mean rate", "simulated / wall", "vs target 10×");
        foreach (CultureBenchRow r in rows)
            t.AddRow(Markup.Escape(r.Case), r.Neurons.ToString(Inv), string.Create(Inv, $"{r.Spikes / r.SimulatedS / r.Neurons:0.0} Hz"),
                string.Create(Inv, $"{r.SpeedFactor:0.0}×"), string.Create(Inv, $"{r.SpeedFactor / 10:0.0}"));
        console.Write(t);
        return ExitCodes.Ok;
    }
}
