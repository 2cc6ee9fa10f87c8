using System.Globalization;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary>Renders a <see cref="RunReport"/> as tables for people.</summary>
public static class ReportPrinter
{
    /// <summary>One line: first vs last fifth of the trials.</summary>
    public static string LearningLine(LearningSummary l) => string.Create(CultureInfo.InvariantCulture,
        $"Learning ({l.Condition}): mean response time {l.FirstFifthMeanS * 1000:0.#} ms in the first fifth, {l.LastFifthMeanS * 1000:0.#} ms in the last ({l.RelativeChange * 100:+0;-0} %, one-sided Mann-Whitney p = {l.PValueFaster:0.####}; time-outs count as {l.TimeoutCountsAsS:0.###} s).");

    /// <summary>One line: pong rallies.</summary>
    public static string PongLine(PongSummary p) => string.Create(CultureInfo.InvariantCulture,
        $"Pong ({p.Condition}): {p.Games} games, {p.Hits} hits, {p.Aces} aces ({p.AceFraction * 100:0} %), mean rally {p.MeanRally:0.##}; first third {p.FirstThirdMeanRally:0.##}, last third {p.LastThirdMeanRally:0.##} (one-sided Mann-Whitney p = {p.PValueLonger:0.####} that rallies got longer; aces {p.FirstThirdAceFraction * 100:0} % → {p.LastThirdAceFraction * 100:0} %).");

    /// <summary>The Bakkum summary in one line.</summary>
    public static string BakkumLine(BakkumSummary b) => string.Create(CultureInfo.InvariantCulture,
        $"Bakkum ({b.Condition}): {b.Cycles} cycles ({b.BaselineCycles} baseline), {b.PtsCycles} followed by PTS, {b.SbsCycles} by SBS; output error mean {b.MeanErrorDeg:0.#}°, first fifth {b.FirstFifthMeanErrorDeg:0.#}° ({b.FractionRightFirstFifth:P0} right), last fifth {b.LastFifthMeanErrorDeg:0.#}° ({b.FractionRightLastFifth:P0} right); one-sided Mann-Whitney p = {b.PValueSmaller:0.####} that the error fell.");

    /// <summary>One line: a pong run against one control.</summary>
    public static string PongComparisonLine(PongComparison c) => string.Create(CultureInfo.InvariantCulture,
        $"Closed loop vs {c.Control}: mean rally {c.ClosedLoopMeanRally:0.##} vs {c.ControlMeanRally:0.##} (p = {c.PValueLonger:0.####}, P(longer) = {c.ProbabilityLonger:0.00}); last third {c.ClosedLoopLastThirdMeanRally:0.##} vs {c.ControlLastThirdMeanRally:0.##} (p = {c.LastThirdPValueLonger:0.####}, P(longer) = {c.LastThirdProbabilityLonger:0.00}); aces {c.ClosedLoopAceFraction * 100:0} % vs {c.ControlAceFraction * 100:0} %. (One-sided Mann-Whitney; P(longer) = chance a closed-loop game's rally beats a control game's, 0.5 = no effect.)");

    /// <summary>Closed loop against its control runs, one line each, then the pong comparisons.</summary>
    public static void PrintLearning(RunReport closedLoop, IReadOnlyList<RunReport> controls, IAnsiConsole console)
    {
        foreach (var r in controls.Prepend(closedLoop))
        {
            if (r.Learning is { } l) console.MarkupLine(Markup.Escape(LearningLine(l)));
            if (r.Pong is { } p) console.MarkupLine(Markup.Escape(PongLine(p)));
            if (r.Bakkum is { } bs) console.MarkupLine(Markup.Escape(BakkumLine(bs)));
        }
        if (closedLoop.Bakkum is { } ba && controls.FirstOrDefault(c => c.Bakkum is not null)?.Bakkum is { } bb)
            console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                $"Output error, closed loop vs control: mean {ba.MeanErrorDeg:0.#}° vs {bb.MeanErrorDeg:0.#}°; one-sided Mann-Whitney p = {BakkumSummary.SmallerP(ba, bb):0.####} that the closed loop's error is smaller.")));
        foreach (var c in closedLoop.PongComparisons ?? [])
            console.MarkupLine(Markup.Escape(PongComparisonLine(c)));
    }

    /// <summary>Prints the report.</summary>
    public static void Print(RunReport r, IAnsiConsole console)
    {
        string colour = r.Outcome switch { "completed" => "green", "cancelled" => "yellow", _ => "red" };
        console.Write(new Rule($"[{colour}]Run {Markup.Escape(r.Outcome)}[/] (exit code {r.ExitCode})").LeftJustified());
        if (r.Fault is not null) console.MarkupLine($"[red]Fault:[/] {Markup.Escape(r.Fault)}");
        if (r.StopReason is not null) console.MarkupLine($"Stopped because: {Markup.Escape(r.StopReason)}");

        var summary = new Table().Border(TableBorder.Rounded).AddColumns("frames", "count");
        summary.AddRow("acquired", N(r.Frames.Acquired));
        summary.AddRow("processed", N(r.Frames.Processed));
        summary.AddRow("dropped at source (no buffer)", N(r.Frames.DroppedAtSource));
        summary.AddRow("dropped in link (loop behind)", N(r.Frames.DroppedInLink));
        summary.AddRow("missing (acquired, not processed)", N(r.Frames.Missing));
        summary.AddRow("sample-clock time / wall time", $"{r.SampleClockSeconds:0.0} s / {r.WallSeconds:0.0} s");
        summary.AddRow("thread scheduling", Markup.Escape(r.Scheduling));
        summary.AddRow("garbage collections (gen 0/1/2), total pause", $"{r.Gc.Gen0}/{r.Gc.Gen1}/{r.Gc.Gen2}, {r.Gc.PauseMs:0.###} ms");
        if (r.Scan is { } scan)
            summary.AddRow("scan: missed / spurious line-clock edges, frames affected, line phase",
                $"{scan.MissedLineClockEdges} / {scan.SpuriousLineClockEdges}, {scan.FramesWithLineErrors}, {scan.LinePhaseSamples:0.##} samples");
        if (r.LoopLoadFraction is double load) summary.AddRow("fast-loop load (of each frame period)", $"{load * 100:0.###} %");
        if (r.AllocatedBytesPerFrame is double alloc) summary.AddRow("fast-loop allocation per frame", $"{alloc:0.#} B");
        if (r.NoiseLevelMedian is double nu) summary.AddRow("noise level ν (median over ROIs)", nu.ToString("0.00", CultureInfo.InvariantCulture));
        if (r.Motion is { } mc)
            summary.AddRow($"motion correction ({mc.Mode}): frames corrected, low confidence, clipped",
                $"{N(mc.FramesCorrected)}, {N(mc.LowConfidenceFrames)}, {N(mc.ClippedFrames)}; shift RMS {mc.RmsShiftPx.ToString("0.00", CultureInfo.InvariantCulture)} px, max {mc.MaxShiftPx.ToString("0.00", CultureInfo.InvariantCulture)} px");
        console.Write(summary);

        var lat = new Table().Border(TableBorder.Rounded).Title("latency after warm-up (µs)")
            .AddColumns("stage", "frames", "p50", "p99", "p99.9", "max", "mean");
        foreach (var s in r.Latency)
            lat.AddRow(Markup.Escape(s.Name), N(s.Count), U(s.P50Us), U(s.P99Us), U(s.P999Us), U(s.MaxUs), U(s.MeanUs));
        console.Write(lat);

        var st = r.Stimulation;
        console.MarkupLine($"Stimulation: {st.Delivered} delivered, {st.Refused} refused by the interlock" +
                           (st.InterlockTripped ? $", [red]interlock tripped: {Markup.Escape(st.TripReason ?? "")}[/]" : "") + ".");
        if (r.Pong is { } pongSummary)
        {
            console.MarkupLine(Markup.Escape(PongLine(pongSummary)));
            if (pongSummary.FeedbackLatencyUs.Count > 0)
            {
                var l = pongSummary.FeedbackLatencyUs.Order().ToArray();
                console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                    $"Feedback latency (block with the hit or miss complete → first feedback pulse at the stimulator): {l.Length} feedbacks, p50 {l[(l.Length - 1) / 2]:0.#} µs, p99 {l[(int)Math.Ceiling(0.99 * l.Length) - 1]:0.#} µs, max {l[^1]:0.#} µs.")));
            }
        }
        if (r.Phases is { } phases)
            foreach (var ph in phases)
                console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                    $"Phase {ph.Index} '{ph.Name}' ({ph.Kind}): {ph.StartS:0.###} s → {(ph.EndS is double e ? e.ToString("0.###", CultureInfo.InvariantCulture) + " s" : "—")}, {ph.Trials} trials, {ph.Stimuli} stimuli; ended: {ph.EndReason ?? "—"}")));
        if (r.Bakkum is { } bakkumSummary) console.MarkupLine(Markup.Escape(BakkumLine(bakkumSummary)));
        if (r.Trials.Count > 0 && r.Pong is null && r.Bakkum is null)
        {
            var trials = new Table().Border(TableBorder.Rounded).Title("trials")
                .AddColumns("trial", "start (s)", "stimuli", "refused", "response time (s)");
            bool shorten = r.Trials.Count > 40; // long runs: the first and last 10 rows (all of them are in report.json)
            foreach (var t in r.Trials)
            {
                if (shorten && t.Index == 11) trials.AddRow("…", "", "", "", "");
                if (shorten && t.Index > 10 && t.Index <= r.Trials.Count - 10) continue;
                trials.AddRow(t.Index.ToString(CultureInfo.InvariantCulture), t.StartS.ToString("0.00", CultureInfo.InvariantCulture),
                    t.Stimuli.ToString(CultureInfo.InvariantCulture), t.Refused.ToString(CultureInfo.InvariantCulture),
                    t.ResponseTimeS is double rt ? rt.ToString("0.000", CultureInfo.InvariantCulture) : "[yellow]timed out[/]");
            }
            console.Write(trials);
            bool openLoop = r.Learning?.Condition == "open-loop";
            console.MarkupLine($"{st.Responded} of {st.Trials} trials {(openLoop ? "had a response (open loop: stimulation ran on)" : "ended by the response")}" +
                               (st.MeanResponseTimeS is double m ? $"; mean response time {m:0.000} s." : "."));
            if (r.Learning is { } l) console.MarkupLine(Markup.Escape(LearningLine(l)));
        }
        if (r.OnlineSegmentation is { } seg) PrintOnlineSegmentation(seg, console);
        if (r.SpikesCnn is { } cnn) console.MarkupLine("spikes-cnn: " + Markup.Escape(cnn));
        foreach (var c in r.Live)
        {
            var tap = r.Taps.FirstOrDefault(t => t.Name == c.Name);
            string drops = tap is { FramesDropped: > 0 } || tap is { ActivityDropped: > 0 } ? $" (tap dropped {tap.FramesDropped} frames, {tap.ActivityDropped} activity snapshots)" : "";
            console.MarkupLine($"{Markup.Escape(c.Name)}: {Markup.Escape(c.Summary + drops)}" + (c.Error is null ? "" : $" [red]{Markup.Escape(c.Error)}[/]"));
        }
        foreach (var w in r.Warnings) console.MarkupLine($"[yellow]warning:[/] {Markup.Escape(w)}");
    }

    private static void PrintOnlineSegmentation(OnlineSegmentationSummary seg, IAnsiConsole console)
    {
        var t = new Table().Border(TableBorder.Rounded).Title("online segmentation").AddColumns("figure", "value");
        t.AddRow("model", Markup.Escape(seg.Model));
        t.AddRow("frames segmented / dropped by the slow loop", $"{N(seg.FramesSegmented)} / {N(seg.FramesDropped)}");
        t.AddRow("initialised", seg.InitialisedAtFrame is long f ? $"after frame {N(f)}" : "[yellow]no[/]");
        t.AddRow("ROI-set updates / user edits", $"{N(seg.Updates)} / {seg.UserEdits}");
        t.AddRow("ROIs at the end (of maxRois)", $"{seg.RoisAtEnd} of {seg.MaxRois}" + (seg.RoisOverCapacity > 0 ? $" [yellow]({seg.RoisOverCapacity} beyond maxRois, not traced)[/]" : ""));
        t.AddRow("update latency p50 / p99 / max (frame complete → ROI set handed to the fast loop)",
            seg.UpdateLatencyP50Ms is double p50 ? $"{p50:0.##} / {seg.UpdateLatencyP99Ms:0.##} / {seg.UpdateLatencyMaxMs:0.##} ms" : "no update");
        var points = seg.RoiCountOverTime;
        if (points.Count > 0)
        {
            var shown = points.Count <= 8 ? points : Enumerable.Range(0, 8).Select(k => points[k * (points.Count - 1) / 7]).ToList();
            t.AddRow("ROIs over time", string.Join(", ", shown.Select(p => $"{p.Rois} at {p.TimeS.ToString("0.#", CultureInfo.InvariantCulture)} s")));
        }
        if (seg.OutsideTrainingRange is not null) t.AddRow("[yellow]outside the model's training range[/]", Markup.Escape(seg.OutsideTrainingRange));
        if (seg.Error is not null) t.AddRow("[red]error[/]", Markup.Escape(seg.Error));
        console.Write(t);
    }

    private static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);
    private static string U(double v) => v.ToString(v < 100 ? "0.0" : "0", CultureInfo.InvariantCulture);
}
