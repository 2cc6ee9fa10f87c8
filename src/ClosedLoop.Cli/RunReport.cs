using System.Text.Json;
using System.Text.Json.Serialization;
using ClosedLoop.Control;
using ClosedLoop.Core;
using ClosedLoop.FirmwareSim.Culture;
using ClosedLoop.Imaging;

namespace ClosedLoop.Cli;

/// <summary>Process exit codes of <c>closedloop</c>, so scripts can tell what happened.</summary>
public static class ExitCodes
{
    /// <summary>The run completed (or the command succeeded).</summary>
    public const int Ok = 0;
    /// <summary>A profile, experiment, ROI file or option was wrong; nothing was acquired or stimulated.</summary>
    public const int BadInput = 1;
    /// <summary>A stage or device failed mid-run; stimulation was switched off and the report written.</summary>
    public const int Faulted = 2;
    /// <summary>The user pressed Ctrl+C; stimulation was switched off and the report written.</summary>
    public const int Cancelled = 130;

    /// <summary>Exit code for a run outcome.</summary>
    public static int For(RunOutcome outcome) => outcome switch
    {
        RunOutcome.Completed => Ok,
        RunOutcome.Cancelled => Cancelled,
        _ => Faulted,
    };

    /// <summary>Runs a command's body; bad input (a setting, a file that cannot be read or written) is printed in red
    /// and becomes <see cref="BadInput"/>.</summary>
    public static int Guard(Spectre.Console.IAnsiConsole console, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception ex) when (ex is SettingException or IOException or UnauthorizedAccessException)
        {
            Spectre.Console.AnsiConsoleExtensions.MarkupLine(console, $"[red]{Spectre.Console.Markup.Escape(ex.Message)}[/]");
            return BadInput;
        }
    }
}

/// <summary>Everything a run reports, on screen and as report.json.</summary>
public sealed record RunReport
{
    /// <summary>Run identifier.</summary>
    public required string RunId { get; init; }
    /// <summary>completed, cancelled or faulted.</summary>
    public required string Outcome { get; init; }
    /// <summary>The process exit code this outcome gives.</summary>
    public required int ExitCode { get; init; }
    /// <summary>What failed, when faulted.</summary>
    public string? Fault { get; init; }
    /// <summary>Why a stage ended the run early (e.g. the protocol finished).</summary>
    public string? StopReason { get; init; }
    /// <summary>Hardware profile used.</summary>
    public required string Profile { get; init; }
    /// <summary>Experiment used.</summary>
    public required string Experiment { get; init; }
    /// <summary>realtime or fast.</summary>
    public required string Pacing { get; init; }
    /// <summary>How frames were obtained: whole frames from the frame-level simulated rig, or assembled from DAQ samples.</summary>
    public required string Acquisition { get; init; }
    /// <summary>Frame geometry and rate.</summary>
    public required int WidthPx { get; init; }
    /// <summary>Frame height.</summary>
    public required int HeightPx { get; init; }
    /// <summary>Frame rate, Hz.</summary>
    public required double FrameRateHz { get; init; }
    /// <summary>ROIs in the fast loop.</summary>
    public required int Rois { get; init; }
    /// <summary>UTC start time.</summary>
    public required DateTime StartedUtc { get; init; }
    /// <summary>Host time the run took, s.</summary>
    public required double WallSeconds { get; init; }
    /// <summary>Sample-clock time covered by the processed frames, s.</summary>
    public required double SampleClockSeconds { get; init; }
    /// <summary>Frame counters.</summary>
    public required FrameCounts Frames { get; init; }
    /// <summary>Frame assembly from detector samples (scanning rigs only): line-clock problems and the line phase.</summary>
    public ScanSummary? Scan { get; init; }
    /// <summary>Every link between threads, with its drop counter.</summary>
    public required IReadOnlyList<LinkStats> Links { get; init; }
    /// <summary>Latency per stage and end to end, µs, after warm-up.</summary>
    public required IReadOnlyList<LatencyStats> Latency { get; init; }
    /// <summary>Bytes the fast-loop thread allocated per frame after warm-up.</summary>
    public double? AllocatedBytesPerFrame { get; init; }
    /// <summary>Scheduling the fast-loop and acquisition threads were granted (e.g. "SCHED_FIFO 50").</summary>
    public required string Scheduling { get; init; }
    /// <summary>Garbage collections during the run (gen 0, 1, 2) and their total pause, to tell a GC pause from an
    /// operating-system stall when reading the latency maximum.</summary>
    public required GcSummary Gc { get; init; }
    /// <summary>Fraction of each frame period the fast loop spent processing (mean).</summary>
    public double? LoopLoadFraction { get; init; }
    /// <summary>Stimulation summary.</summary>
    public required StimulationSummary Stimulation { get; init; }
    /// <summary>Per-trial results of the protocol.</summary>
    public required IReadOnlyList<TrialRecord> Trials { get; init; }
    /// <summary>Detections per detector.</summary>
    public required IReadOnlyDictionary<string, long> Detections { get; init; }
    /// <summary>Median noise level ν over ROIs at the end of the run (null before ΔF/F initialised).</summary>
    public double? NoiseLevelMedian { get; init; }
    /// <summary>ν per ROI at the end of the run.</summary>
    public required IReadOnlyDictionary<string, double?> NoiseLevelPerRoi { get; init; }
    /// <summary>Event counts by kind (the events themselves are in events.jsonl).</summary>
    public required IReadOnlyDictionary<string, int> EventCounts { get; init; }
    /// <summary>Non-fatal findings about the profile.</summary>
    public required IReadOnlyList<string> Warnings { get; init; }
    /// <summary>What the live consumers (recorder, event bus, dashboard) did, with their counters and any error.</summary>
    public required IReadOnlyList<LiveConsumerReport> Live { get; init; }
    /// <summary>Frames and activity handed to each live consumer by the tap, and what it dropped.</summary>
    public required IReadOnlyList<TapStats> Taps { get; init; }
    /// <summary>The recording replayed, when the run was a replay.</summary>
    public string? Replay { get; init; }
    /// <summary>Learning curve summary (first vs last fifth of the trials), when the run had at least 5 trials.</summary>
    public LearningSummary? Learning { get; init; }
    /// <summary>Pong games: rally length per game and its statistics, when the protocol was pong.</summary>
    public PongSummary? Pong { get; init; }
    /// <summary>A pong run against each control run after it (<c>run --with-control</c>); null otherwise.</summary>
    public IReadOnlyList<PongComparison>? PongComparisons { get; init; }
    /// <summary>MEA front end and stimulator counters, on MEA rigs.</summary>
    public MeaSummary? Mea { get; init; }
    /// <summary>The phases of an experiment run through the protocol engine: name, kind, start and end, trials,
    /// stimuli, why each ended (null for a single built-in protocol).</summary>
    public IReadOnlyList<ClosedLoop.Control.Protocols.PhaseRecord>? Phases { get; init; }
    /// <summary>The Bakkum protocol's output error per cycle and its learning curve (null unless the run had a bakkum phase).</summary>
    public BakkumSummary? Bakkum { get; init; }
    /// <summary>Motion correction: frames corrected, low-confidence and clipped frames, RMS and largest shift (null when off).</summary>
    public ClosedLoop.Imaging.Registration.MotionSummary? Motion { get; init; }
    /// <summary>What the slow loop's online segmentation did (<c>rois: online</c> runs only).</summary>
    public OnlineSegmentationSummary? OnlineSegmentation { get; init; }
    /// <summary>The CNN spike stage (<c>spikes: {method: cnn}</c>): models, latency, steps, ν flags; null otherwise.</summary>
    public string? SpikesCnn { get; init; }

    /// <summary>JSON options shared by report and event files.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        NumberHandling = JsonNumberHandling.Strict,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Builds the report of a finished session.</summary>
    public static RunReport From(Session s, RunResult result, DateTime startedUtc, GcSummary gc, IReadOnlyList<LiveConsumerReport>? live = null)
    {
        var loop = s.Pipeline.Loop;
        var source = s.Pipeline.Source;
        var trials = s.Protocol.Trials;
        var nu = new Dictionary<string, double?>(s.Activity.Units);
        for (int i = 0; i < s.Activity.Units; i++)
            nu[s.Activity.UnitNames[i]] = float.IsFinite(s.Activity.NoiseLevel[i]) ? Math.Round(s.Activity.NoiseLevel[i], 4) : null;
        var finite = nu.Values.Where(v => v is not null).Select(v => v!.Value).Order().ToArray();
        var events = s.Events.Snapshot();
        double periodS = 1.0 / s.Source.FrameRateHz;
        return new RunReport
        {
            RunId = s.Context.RunId,
            Outcome = result.Outcome.ToString().ToLowerInvariant(),
            ExitCode = ExitCodes.For(result.Outcome),
            Fault = result.FaultMessage,
            StopReason = result.StopReason,
            Profile = s.Profile.SourcePath,
            Experiment = s.Experiment.SourcePath,
            Pacing = s.Pacing.ToString().ToLowerInvariant(),
            Acquisition = s.AcquisitionPath,
            WidthPx = s.WidthPx,
            HeightPx = s.HeightPx,
            FrameRateHz = s.Source.FrameRateHz,
            Rois = s.UnitCount,
            StartedUtc = startedUtc,
            WallSeconds = Math.Round(result.WallSeconds, 3),
            SampleClockSeconds = Math.Round(loop.FramesProcessed * periodS, 3),
            Frames = new FrameCounts(source.FramesAcquired, loop.FramesProcessed, source.FramesDroppedAtSource,
                s.Pipeline.Input.Dropped, source.FramesAcquired - loop.FramesProcessed, s.Pipeline.Pool.Exhausted),
            Scan = s.ScanRig is { } rig ? new ScanSummary(rig.Source.Assembler.Sync.TotalMissed, rig.Source.Assembler.Sync.TotalSpurious,
                rig.Source.Assembler.Sync.FramesWithErrors, Math.Round(rig.Source.Map.PhaseSamples, 3), Math.Round(rig.Plan.FrameRateHz, 4)) : null,
            Links = new[] { s.Pipeline.Input.Snapshot() },
            Latency = loop.Ledger.Summarise().Select(Round).ToList(),
            Gc = gc,
            Scheduling = $"fast loop: {s.Pipeline.FastLoopScheduling}; acquisition: {s.Pipeline.AcquisitionScheduling}",
            AllocatedBytesPerFrame = double.IsFinite(loop.AllocatedBytesPerFrame) ? Math.Round(loop.AllocatedBytesPerFrame, 2) : null,
            LoopLoadFraction = loop.SteadyFrames > 0 ? Math.Round(loop.BusyNs / 1e9 / loop.SteadyFrames / periodS, 6) : null,
            Stimulation = new StimulationSummary(s.Interlock.Delivered, s.Interlock.Refused, s.Interlock.IsTripped, s.Interlock.TripReason,
                trials.Count, trials.Count(t => !t.TimedOut), trials.Count(t => t.TimedOut),
                Mean(trials.Where(t => !t.TimedOut).Select(t => t.ResponseTimeS!.Value))),
            Trials = trials,
            Detections = s.Detectors.ToDictionary(d => d.Name, d => d.Detections),
            NoiseLevelMedian = finite.Length == 0 ? null : Math.Round(finite[finite.Length / 2], 4),
            NoiseLevelPerRoi = nu,
            EventCounts = events.GroupBy(e => e.Kind).ToDictionary(g => JsonNamingPolicy.CamelCase.ConvertName(g.Key.ToString()), g => g.Count()),
            Warnings = s.Warnings.Select(w => $"{w.Setting}: {w.Advice}").ToList(),
            Live = live ?? Array.Empty<LiveConsumerReport>(),
            Taps = s.Tap?.Subscriptions.Select(t => t.Snapshot()).ToList() ?? (IReadOnlyList<TapStats>)Array.Empty<TapStats>(),
            Replay = s.Replay?.Path,
            Learning = s.Pong is null && s.Bakkum is null ? LearningSummary.From(trials, s.Experiment.TrialLimitS, s.Experiment.IsOpenLoop) : null,
            Phases = s.Phases?.Records,
            Bakkum = s.Bakkum is { } bakkum ? BakkumSummary.From(bakkum.Cycles, bakkum.Settings) : null,
            Pong = s.Pong is { } pong ? PongSummary.From(pong.Games, pong.Settings.Condition, pong.FeedbackLatenciesUs) : null,
            Mea = s.Mea is { } mea && s.FrontEnd is { } fe
                ? new MeaSummary(mea.Layout.Count, mea.SampleRateHz, mea.SamplesPerBlock, fe.Spikes, fe.BlankedSamples,
                    mea.Stimulator.PulsesRendered, mea.Stimulator.LatePulses, Math.Round(mea.Culture.TimeMs / 1000.0, 3))
                : null,
            Motion = s.Motion?.Trace.Summary(),
            SpikesCnn = s.SpikesCnn?.Summary(),
            OnlineSegmentation = s.Segmentation is { } seg ? OnlineSegmentationSummary.From(seg.Stats()) with { OutsideTrainingRange = s.SegmentationRangeWarning?.Invoke() } : null,
        };
    }

    /// <summary>Writes report.json and events.jsonl into <paramref name="directory"/>; returns the report's path.</summary>
    public static string Write(RunReport report, IReadOnlyList<RunEvent> events, string directory)
    {
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, "report.json");
        File.WriteAllText(path, JsonSerializer.Serialize(report, Json));
        using var w = new StreamWriter(Path.Combine(directory, "events.jsonl"));
        foreach (var e in events) w.WriteLine(RunEventJson.ToLine(e));
        return path;
    }

    private static LatencyStats Round(LatencyStats s) =>
        s with { P50Us = Math.Round(s.P50Us, 2), P99Us = Math.Round(s.P99Us, 2), P999Us = Math.Round(s.P999Us, 2), MaxUs = Math.Round(s.MaxUs, 2), MeanUs = Math.Round(s.MeanUs, 2) };

    private static double? Mean(IEnumerable<double> values)
    {
        var a = values.ToArray();
        return a.Length == 0 ? null : Math.Round(a.Average(), 4);
    }
}

/// <summary>Frame counters of a run.</summary>
/// <param name="Acquired">Frames the source produced.</param>
/// <param name="Processed">Frames that went through every fast-loop stage.</param>
/// <param name="DroppedAtSource">Frames the source could not hand on (no free buffer).</param>
/// <param name="DroppedInLink">Frames the source→loop link discarded because the loop fell behind.</param>
/// <param name="Missing">Frames acquired but never processed, for any reason.</param>
/// <param name="PoolExhausted">Times a frame buffer was asked for and none was free.</param>
public sealed record FrameCounts(long Acquired, long Processed, long DroppedAtSource, long DroppedInLink, long Missing, long PoolExhausted);

/// <summary>What was stimulated and how the trials went.</summary>
/// <param name="Delivered">Stimulation commands that reached a stimulator.</param>
/// <param name="Refused">Commands the interlock refused.</param>
/// <param name="InterlockTripped">True when the interlock latched off during the run.</param>
/// <param name="TripReason">Why it tripped.</param>
/// <param name="Trials">Trials finished.</param>
/// <param name="Responded">Trials ended by the wanted response.</param>
/// <param name="TimedOut">Trials that ended without it.</param>
/// <param name="MeanResponseTimeS">Mean response time of the responded trials, s.</param>
public sealed record StimulationSummary(long Delivered, long Refused, bool InterlockTripped, string? TripReason,
    int Trials, int Responded, int TimedOut, double? MeanResponseTimeS);

/// <summary>How frames were assembled from detector samples.</summary>
/// <param name="MissedLineClockEdges">Line-clock edges that never came (their lines were placed by prediction).</param>
/// <param name="SpuriousLineClockEdges">Extra edges between lines, ignored.</param>
/// <param name="FramesWithLineErrors">Frames with a missed or spurious edge, or lines without samples.</param>
/// <param name="LinePhaseSamples">Bidirectional line phase in use at the end, in detector samples.</param>
/// <param name="ScanFrameRateHz">Frame rate of the scan (imaged lines + flyback).</param>
public sealed record ScanSummary(long MissedLineClockEdges, long SpuriousLineClockEdges, long FramesWithLineErrors,
    double LinePhaseSamples, double ScanFrameRateHz);

/// <summary>Garbage collections over a run.</summary>
/// <param name="Gen0">Generation-0 collections.</param>
/// <param name="Gen1">Generation-1 collections.</param>
/// <param name="Gen2">Generation-2 collections.</param>
/// <param name="PauseMs">Total time the runtime paused threads for collections, ms.</param>
public sealed record GcSummary(int Gen0, int Gen1, int Gen2, double PauseMs)
{
    /// <summary>The process's counters now, to subtract from a later reading.</summary>
    public static GcSummary Now() => new(GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration().TotalMilliseconds);

    /// <summary>What happened between <paramref name="start"/> and now.</summary>
    public static GcSummary Since(GcSummary start)
    {
        var now = Now();
        return new(now.Gen0 - start.Gen0, now.Gen1 - start.Gen1, now.Gen2 - start.Gen2, Math.Round(now.PauseMs - start.PauseMs, 3));
    }
}

/// <summary>A learning curve in two numbers: mean response time of the first and of the last fifth of the trials
/// (time-outs count as the longest trial), their relative change and a one-sided Mann–Whitney p-value that the last
/// fifth is faster.</summary>
/// <param name="Condition">closed-loop or open-loop (the control).</param>
/// <param name="Trials">Trials in the run.</param>
/// <param name="FifthLength">Trials in each fifth.</param>
/// <param name="TimeoutCountsAsS">What a trial without response counts as, s.</param>
/// <param name="FirstFifthMeanS">Mean response time of the first fifth, s.</param>
/// <param name="LastFifthMeanS">Mean response time of the last fifth, s.</param>
/// <param name="RelativeChange">(last − first) / first: −0.3 is 30 % faster.</param>
/// <param name="PValueFaster">One-sided Mann–Whitney p that the last fifth is faster than the first.</param>
public sealed record LearningSummary(string Condition, int Trials, int FifthLength, double TimeoutCountsAsS, double FirstFifthMeanS,
    double LastFifthMeanS, double RelativeChange, double PValueFaster)
{
    /// <summary>Response time per trial, time-outs counted as <paramref name="maxTrialS"/>.</summary>
    public static double[] ResponseTimes(IReadOnlyList<TrialRecord> trials, double maxTrialS) =>
        trials.Select(t => t.ResponseTimeS ?? maxTrialS).ToArray();

    /// <summary>The summary of <paramref name="trials"/>, or null for fewer than 5.</summary>
    public static LearningSummary? From(IReadOnlyList<TrialRecord> trials, double maxTrialS, bool openLoop)
    {
        if (trials.Count < 5) return null;
        var rt = ResponseTimes(trials, maxTrialS);
        int n = rt.Length / 5;
        double[] first = rt.Take(n).ToArray(), last = rt.TakeLast(n).ToArray();
        double a = first.Average(), b = last.Average();
        return new LearningSummary(openLoop ? "open-loop" : "closed-loop", rt.Length, n, maxTrialS, Math.Round(a, 5), Math.Round(b, 5),
            Math.Round((b - a) / a, 4), Math.Round(LearningStatistics.MannWhitneyLessP(last, first), 6));
    }
}

/// <summary>What the MEA front end and stimulator did.</summary>
/// <param name="Electrodes">Electrodes recorded.</param>
/// <param name="SampleRateHz">Samples per electrode per second.</param>
/// <param name="SamplesPerBlock">Samples per electrode per block (frame).</param>
/// <param name="SpikesDetected">Threshold crossings counted, all electrodes.</param>
/// <param name="BlankedSamples">Samples (per electrode) blanked after stimuli.</param>
/// <param name="PulsesRendered">Electrode pulses written to the AO stream.</param>
/// <param name="LatePulses">Pulses that started later than commanded.</param>
/// <param name="CultureSeconds">Culture time simulated (simulated rigs), s.</param>
public sealed record MeaSummary(int Electrodes, double SampleRateHz, int SamplesPerBlock, long SpikesDetected, long BlankedSamples,
    long PulsesRendered, long LatePulses, double CultureSeconds);

/// <summary>Pong in numbers: rally length (hits before the miss) per game, aces (games lost on the serve), and the
/// first and last third of the games with a one-sided Mann–Whitney p-value that rallies got longer.</summary>
/// <param name="Condition">closed-loop (hit and miss feedback), open-loop (no feedback) or rest (no stimulation).</param>
/// <param name="Games">Games played.</param>
/// <param name="Rallies">Rally length of each game, in order.</param>
/// <param name="Hits">Hits in all games.</param>
/// <param name="Aces">Games with no hit.</param>
/// <param name="AceFraction">Aces / games.</param>
/// <param name="MeanRally">Mean rally length.</param>
/// <param name="ThirdLength">Games in each third (the first and the last).</param>
/// <param name="FirstThirdMeanRally">Mean rally length of the first third of the games.</param>
/// <param name="LastThirdMeanRally">Mean rally length of the last third.</param>
/// <param name="FirstThirdAceFraction">Ace fraction of the first third.</param>
/// <param name="LastThirdAceFraction">Ace fraction of the last third.</param>
/// <param name="PValueLonger">One-sided Mann–Whitney p that the last third's rallies are longer than the first third's.</param>
/// <param name="FeedbackLatencyUs">Host latency of each hit or miss feedback: block complete → first feedback pulse
/// handed to the stimulator, µs (empty in the controls).</param>
public sealed record PongSummary(string Condition, int Games, IReadOnlyList<int> Rallies, int Hits, int Aces, double AceFraction, double MeanRally,
    int ThirdLength, double FirstThirdMeanRally, double LastThirdMeanRally, double FirstThirdAceFraction, double LastThirdAceFraction,
    double PValueLonger, IReadOnlyList<double> FeedbackLatencyUs)
{
    /// <summary>The summary of <paramref name="games"/> (null when none was played).</summary>
    public static PongSummary? From(IReadOnlyList<ClosedLoop.Control.Mea.PongGame> games, ClosedLoop.Control.Mea.PongCondition condition,
        IReadOnlyList<double>? feedbackLatencyUs = null)
    {
        if (games.Count == 0) return null;
        var r = games.Select(g => (double)g.Hits).ToArray();
        int n = Math.Max(1, r.Length / 3);
        double[] first = r.Take(n).ToArray(), last = r.TakeLast(n).ToArray();
        return new PongSummary(ClosedLoop.Control.Mea.PongConditions.Name(condition), r.Length, games.Select(g => g.Hits).ToArray(), games.Sum(g => g.Hits),
            games.Count(g => g.Hits == 0), Math.Round(games.Count(g => g.Hits == 0) / (double)r.Length, 4), Math.Round(r.Average(), 4), n,
            Math.Round(first.Average(), 4), Math.Round(last.Average(), 4), Math.Round(AcesIn(first), 4), Math.Round(AcesIn(last), 4),
            Math.Round(LearningStatistics.MannWhitneyGreaterP(last, first), 6),
            (feedbackLatencyUs ?? []).Select(v => Math.Round(v, 1)).ToArray());
    }

    private static double AcesIn(double[] rallies) => rallies.Count(v => v == 0) / (double)rallies.Length;
}

/// <summary>A pong run against one of its controls (same culture, seed and serves): rallies over all games and over the
/// last third, as one-sided Mann–Whitney p-values that the closed loop's rallies are longer and as common-language
/// effect sizes (probability that a closed-loop game's rally is longer than a control game's, ties half: 0.5 = no
/// effect), and the ace fractions.</summary>
/// <param name="Control">The control's condition: open-loop or rest.</param>
/// <param name="ClosedLoopMeanRally">Mean rally of the closed loop.</param>
/// <param name="ControlMeanRally">Mean rally of the control.</param>
/// <param name="PValueLonger">All games: one-sided Mann–Whitney p that closed-loop rallies are longer.</param>
/// <param name="ProbabilityLonger">All games: P(closed-loop rally &gt; control rally) + ½ P(equal).</param>
/// <param name="ClosedLoopLastThirdMeanRally">Mean rally of the closed loop's last third.</param>
/// <param name="ControlLastThirdMeanRally">Mean rally of the control's last third.</param>
/// <param name="LastThirdPValueLonger">Last third of each run: one-sided Mann–Whitney p that closed-loop rallies are longer.</param>
/// <param name="LastThirdProbabilityLonger">Last third of each run: the effect size as above.</param>
/// <param name="ClosedLoopAceFraction">Aces / games, closed loop.</param>
/// <param name="ControlAceFraction">Aces / games, control.</param>
public sealed record PongComparison(string Control, double ClosedLoopMeanRally, double ControlMeanRally, double PValueLonger, double ProbabilityLonger,
    double ClosedLoopLastThirdMeanRally, double ControlLastThirdMeanRally, double LastThirdPValueLonger, double LastThirdProbabilityLonger,
    double ClosedLoopAceFraction, double ControlAceFraction)
{
    /// <summary>Compares <paramref name="closedLoop"/> with <paramref name="control"/>.</summary>
    public static PongComparison Of(PongSummary closedLoop, PongSummary control)
    {
        double[] a = closedLoop.Rallies.Select(v => (double)v).ToArray(), b = control.Rallies.Select(v => (double)v).ToArray();
        double[] aLast = a.TakeLast(closedLoop.ThirdLength).ToArray(), bLast = b.TakeLast(control.ThirdLength).ToArray();
        return new PongComparison(control.Condition, closedLoop.MeanRally, control.MeanRally,
            Math.Round(LearningStatistics.MannWhitneyGreaterP(a, b), 6), Math.Round(LearningStatistics.ProbabilityOfSuperiority(a, b), 4),
            closedLoop.LastThirdMeanRally, control.LastThirdMeanRally,
            Math.Round(LearningStatistics.MannWhitneyGreaterP(aLast, bLast), 6), Math.Round(LearningStatistics.ProbabilityOfSuperiority(aLast, bLast), 4),
            closedLoop.AceFraction, control.AceFraction);
    }
}

/// <summary>The online segmentation of a run, as report.json gives it (latencies in ms, null without updates).</summary>
/// <param name="Model">The segmentation model's description.</param>
/// <param name="MaxRois">Units reserved for ROIs (segmentation.maxRois).</param>
/// <param name="FramesSegmented">Frames pushed through the segmentation.</param>
/// <param name="FramesDropped">Frames the slow loop dropped because it was behind (the fast loop processed all of them).</param>
/// <param name="Initialised">Whether the initialisation finished.</param>
/// <param name="InitialisedAtFrame">Frame after which the first ROI set was traced (null: never).</param>
/// <param name="Updates">ROI sets published because the segmentation changed them.</param>
/// <param name="Version">Last ROI-set version.</param>
/// <param name="RoisAtEnd">ROIs traced at the end.</param>
/// <param name="RoisOverCapacity">ROIs with ids beyond maxRois at the end (not traced).</param>
/// <param name="UserEdits">Lock, unlock, add and delete requests carried out.</param>
/// <param name="UpdateLatencyP50Ms">Last frame of a batch complete → new ROI set handed to the fast loop, median, ms.</param>
/// <param name="UpdateLatencyP99Ms">Same, 99th percentile, ms.</param>
/// <param name="UpdateLatencyMaxMs">Same, maximum, ms.</param>
/// <param name="TableSwaps">Times the fast loop took over new extraction tables.</param>
/// <param name="RoiCountOverTime">ROIs traced after each change (frame, time, count, version; at most 200 points).</param>
/// <param name="Error">What stopped the segmentation early, if anything.</param>
public sealed record OnlineSegmentationSummary(string Model, int MaxRois, long FramesSegmented, long FramesDropped, bool Initialised,
    long? InitialisedAtFrame, long Updates, long Version, int RoisAtEnd, int RoisOverCapacity, int UserEdits,
    double? UpdateLatencyP50Ms, double? UpdateLatencyP99Ms, double? UpdateLatencyMaxMs, long TableSwaps,
    IReadOnlyList<RoiCountPoint> RoiCountOverTime, string? Error)
{
    /// <summary>Null when the movie stayed inside what the model was trained on; else what lay outside (check the masks or
    /// fine-tune the model on your data).</summary>
    public string? OutsideTrainingRange { get; init; }

    /// <summary>From the slow loop's figures.</summary>
    public static OnlineSegmentationSummary From(OnlineSegmentationStats s)
    {
        static double? Ms(double v) => double.IsFinite(v) ? Math.Round(v, 3) : null;
        return new OnlineSegmentationSummary(s.Model, s.Capacity, s.FramesSegmented, s.FramesDropped, s.Initialised,
            s.InitialisedAtFrame < 0 ? null : s.InitialisedAtFrame, s.Updates, s.Version, s.RoisAtEnd, s.RoisOverCapacity, s.UserEdits,
            Ms(s.UpdateLatencyP50Ms), Ms(s.UpdateLatencyP99Ms), Ms(s.UpdateLatencyMaxMs), s.Swaps,
            s.RoiCountOverTime.Select(p => p with { TimeS = Math.Round(p.TimeS, 3) }).ToList(), s.Error);
    }
}

/// <summary>Bakkum CPS/PTS/SBS in numbers: the output error (angle between the centre-of-activity output and the goal)
/// per cycle after the baseline, how often PTS followed, and the first and last fifth of the cycles with a one-sided
/// Mann–Whitney p-value that the error got smaller.</summary>
/// <param name="Condition">closed-loop (PTS when the output is wrong, the pool learns) or open-loop (the control).</param>
/// <param name="Cycles">Cycles finished, baseline included.</param>
/// <param name="BaselineCycles">Cycles without training that set the output's origin.</param>
/// <param name="GoalDeg">Goal direction, degrees.</param>
/// <param name="ToleranceDeg">Errors up to this count as right, degrees.</param>
/// <param name="ErrorsDeg">Output error per cycle after the baseline, degrees (180 when no spike was evoked).</param>
/// <param name="PtsCycles">Cycles followed by PTS.</param>
/// <param name="SbsCycles">Cycles after the baseline followed by SBS.</param>
/// <param name="MeanErrorDeg">Mean output error, degrees.</param>
/// <param name="FirstFifthMeanErrorDeg">Mean error of the first fifth of the cycles after the baseline.</param>
/// <param name="LastFifthMeanErrorDeg">Mean error of the last fifth.</param>
/// <param name="FractionRightFirstFifth">Fraction of the first fifth within the tolerance.</param>
/// <param name="FractionRightLastFifth">Fraction of the last fifth within the tolerance.</param>
/// <param name="PValueSmaller">One-sided Mann–Whitney p that the last fifth's errors are smaller than the first fifth's.</param>
/// <param name="PerCycle">Every cycle: evoked spikes, centre of activity, output, error, feedback, PTS pattern.</param>
public sealed record BakkumSummary(string Condition, int Cycles, int BaselineCycles, double GoalDeg, double ToleranceDeg,
    IReadOnlyList<double> ErrorsDeg, int PtsCycles, int SbsCycles, double MeanErrorDeg, double FirstFifthMeanErrorDeg,
    double LastFifthMeanErrorDeg, double FractionRightFirstFifth, double FractionRightLastFifth, double PValueSmaller,
    IReadOnlyList<ClosedLoop.Control.Mea.BakkumCycle> PerCycle)
{
    /// <summary>The summary of a run's cycles (null before the first cycle after the baseline).</summary>
    public static BakkumSummary? From(IReadOnlyList<ClosedLoop.Control.Mea.BakkumCycle> cycles, ClosedLoop.Control.Mea.BakkumSettings s)
    {
        var errors = cycles.Where(c => c.ErrorDeg is not null).Select(c => c.ErrorDeg!.Value).ToArray();
        if (errors.Length == 0) return null;
        int n = Math.Max(1, errors.Length / 5);
        double[] first = errors.Take(n).ToArray(), last = errors.TakeLast(n).ToArray();
        return new BakkumSummary(s.OpenLoop ? "open-loop" : "closed-loop", cycles.Count, s.BaselineCycles, s.GoalDeg, s.ToleranceDeg, errors,
            cycles.Count(c => c.Feedback == "pts"), cycles.Count(c => c.Feedback == "sbs"), Math.Round(errors.Average(), 3),
            Math.Round(first.Average(), 3), Math.Round(last.Average(), 3),
            Math.Round(first.Count(e => e <= s.ToleranceDeg) / (double)n, 4), Math.Round(last.Count(e => e <= s.ToleranceDeg) / (double)n, 4),
            Math.Round(ClosedLoop.FirmwareSim.Culture.LearningStatistics.MannWhitneyLessP(last, first), 6), cycles);
    }

    /// <summary>One-sided Mann–Whitney p that <paramref name="a"/>'s errors are smaller than <paramref name="b"/>'s.</summary>
    public static double SmallerP(BakkumSummary a, BakkumSummary b) =>
        ClosedLoop.FirmwareSim.Culture.LearningStatistics.MannWhitneyLessP(a.ErrorsDeg.ToArray(), b.ErrorsDeg.ToArray());
}
