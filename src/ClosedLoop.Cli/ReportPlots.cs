using System.Globalization;
using System.Net;
using System.Text;

namespace ClosedLoop.Cli;

/// <summary>
/// Writes the plots a person looks at after a run, as standalone SVG files beside report.json: the response time
/// of every trial (time-outs marked) or, for pong, the rally length of every game and a histogram of the feedback
/// latency; and the latency of every stage (p50, p99 and max on a log scale).
/// </summary>
public static class ReportPlots
{
    private const int Width = 720, Height = 360, Left = 70, Right = 20, Top = 40, Bottom = 50;
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Writes trials.svg (when there are trials) or, for pong, rallies.svg and feedback-latency.svg (when there
    /// was feedback), and latency.svg into <paramref name="directory"/>; returns the paths.</summary>
    public static IReadOnlyList<string> Write(RunReport report, double maxTrialS, string directory)
    {
        var written = new List<string>();
        if (report.Bakkum is { } bakkum)
        {
            var e = bakkum.ErrorsDeg.ToArray();
            string path = Path.Combine(directory, "output-error.svg");
            File.WriteAllText(path, LineChart($"Bakkum ({bakkum.Condition}): output error per cycle after the baseline (goal {bakkum.GoalDeg:0}°, tolerance {bakkum.ToleranceDeg:0}°)",
                "cycle after the baseline", "output error (degrees)",
                [new ChartSeries("error", "#1f77b4", e, Dots: true), new ChartSeries("10-cycle mean", "#1f77b4", Running(e, 10)),
                 new ChartSeries("tolerance", "#2ca02c", e.Select(_ => bakkum.ToleranceDeg).ToArray())]));
            written.Add(path);
        }
        else if (report.Pong is { } pong)
        {
            var rallies = pong.Rallies.Select(v => (double)v).ToArray();
            string path = Path.Combine(directory, "rallies.svg");
            File.WriteAllText(path, LineChart($"Pong ({pong.Condition}): rally length per game", "game", "rally length (hits)",
                [new ChartSeries("rally", "#1f77b4", rallies, Dots: true),
                 new ChartSeries("10-game mean", "#1f77b4", rallies.Select((_, i) => rallies.Skip(Math.Max(0, i - 9)).Take(Math.Min(10, i + 1)).Average()).ToArray())]));
            written.Add(path);
            if (pong.FeedbackLatencyUs.Count > 0)
            {
                path = Path.Combine(directory, "feedback-latency.svg");
                File.WriteAllText(path, Histogram($"Pong ({pong.Condition}): hit or miss → first feedback pulse, {pong.FeedbackLatencyUs.Count} feedbacks",
                    "host latency from the block with the hit or miss complete to the pulse at the stimulator (µs, log scale)", pong.FeedbackLatencyUs));
                written.Add(path);
            }
        }
        else if (report.Trials.Count > 0)
        {
            string path = Path.Combine(directory, "trials.svg");
            File.WriteAllText(path, Trials(report, maxTrialS));
            written.Add(path);
        }
        if (report.Latency.Count > 0)
        {
            string path = Path.Combine(directory, "latency.svg");
            File.WriteAllText(path, Latency(report));
            written.Add(path);
        }
        return written;
    }

    /// <summary>Response time per trial; time-outs drawn at the trial limit in another colour.</summary>
    public static string Trials(RunReport report, double maxTrialS)
    {
        var trials = report.Trials;
        double yMax = Math.Max(maxTrialS, trials.Max(t => t.ResponseTimeS ?? 0)) * 1.05;
        int n = trials.Count;
        double X(double i) => Left + (n == 1 ? 0.5 : i / (n - 1)) * (Width - Left - Right);
        double Y(double v) => Top + (1 - v / yMax) * (Height - Top - Bottom);

        var svg = Begin($"Response time per trial — {report.RunId}");
        Axes(svg, "trial", "response time (s)");
        foreach (double tick in Ticks(yMax))
            YTick(svg, Y(tick), tick.ToString(tick < 10 ? "0.#" : "0", Inv));
        for (int i = 0; i < n; i += Math.Max(1, n / 10))
            svg.Append(Text(X(i), Height - Bottom + 18, trials[i].Index.ToString(Inv), "middle"));
        var line = new StringBuilder();
        for (int i = 0; i < n; i++)
        {
            if (trials[i].ResponseTimeS is not double r) continue;
            line.Append(line.Length == 0 ? 'M' : 'L').Append(F(X(i))).Append(',').Append(F(Y(r))).Append(' ');
        }
        if (line.Length > 0) svg.Append($"<path d=\"{line}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\"/>");
        for (int i = 0; i < n; i++)
        {
            var t = trials[i];
            svg.Append(t.ResponseTimeS is double r
                ? $"<circle cx=\"{F(X(i))}\" cy=\"{F(Y(r))}\" r=\"3.5\" fill=\"#1f77b4\"><title>trial {t.Index}: {r.ToString("0.000", Inv)} s</title></circle>"
                : $"<rect x=\"{F(X(i) - 4)}\" y=\"{F(Y(maxTrialS) - 4)}\" width=\"8\" height=\"8\" fill=\"#d62728\"><title>trial {t.Index}: timed out</title></rect>");
        }
        svg.Append($"<text x=\"{Width - Right}\" y=\"{Top - 8}\" text-anchor=\"end\" font-size=\"11\"><tspan fill=\"#1f77b4\">● response</tspan>   <tspan fill=\"#d62728\">■ timed out (no response)</tspan></text>");
        return End(svg);
    }

    /// <summary>p50, p99 and max latency of each stage and end to end, log scale in µs.</summary>
    public static string Latency(RunReport report)
    {
        var stages = report.Latency;
        double max = Math.Max(10, stages.Max(s => s.MaxUs));
        double min = 0.1;
        double lMin = Math.Log10(min), lMax = Math.Ceiling(Math.Log10(max));
        int rowHeight = (Height - Top - Bottom) / stages.Count;
        double X(double us) => Left + 200 + (Math.Log10(Math.Max(us, min)) - lMin) / (lMax - lMin) * (Width - Left - 200 - Right);

        var svg = Begin($"Latency per stage (µs, log scale) — {report.RunId}");
        for (double d = lMin; d <= lMax + 1e-9; d++)
        {
            double x = X(Math.Pow(10, d));
            svg.Append($"<line x1=\"{F(x)}\" y1=\"{Top}\" x2=\"{F(x)}\" y2=\"{Height - Bottom}\" stroke=\"#ddd\"/>");
            svg.Append(Text(x, Height - Bottom + 18, Math.Pow(10, d).ToString("0.#", Inv), "middle"));
        }
        for (int i = 0; i < stages.Count; i++)
        {
            var s = stages[i];
            double y = Top + i * rowHeight + rowHeight / 2.0;
            svg.Append(Text(Left + 190, y + 4, s.Name.Length > 32 ? s.Name[..32] + "…" : s.Name, "end", 11));
            svg.Append($"<line x1=\"{F(X(s.P50Us))}\" y1=\"{F(y)}\" x2=\"{F(X(s.MaxUs))}\" y2=\"{F(y)}\" stroke=\"#999\"/>");
            svg.Append($"<circle cx=\"{F(X(s.P50Us))}\" cy=\"{F(y)}\" r=\"4\" fill=\"#1f77b4\"><title>p50 {s.P50Us} µs</title></circle>");
            svg.Append($"<circle cx=\"{F(X(s.P99Us))}\" cy=\"{F(y)}\" r=\"4\" fill=\"#ff7f0e\"><title>p99 {s.P99Us} µs</title></circle>");
            svg.Append($"<circle cx=\"{F(X(s.MaxUs))}\" cy=\"{F(y)}\" r=\"4\" fill=\"#d62728\"><title>max {s.MaxUs} µs</title></circle>");
        }
        svg.Append($"<text x=\"{Width - Right}\" y=\"{Top - 8}\" text-anchor=\"end\" font-size=\"11\"><tspan fill=\"#1f77b4\">● p50</tspan>  <tspan fill=\"#ff7f0e\">● p99</tspan>  <tspan fill=\"#d62728\">● max</tspan></text>");
        svg.Append(Text(Left + 200 + (Width - Left - 200 - Right) / 2.0, Height - 12, "µs", "middle"));
        return End(svg);
    }

    /// <summary>Writes learning.svg into <paramref name="directory"/>: response time per trial of a closed-loop run and
    /// of its control (dots) with a 10-trial running mean each (lines); returns the file's path.</summary>
    public static string WriteLearning(RunReport closedLoop, RunReport control, double maxTrialS, string directory)
    {
        var a = LearningSummary.ResponseTimes(closedLoop.Trials, maxTrialS);
        var b = LearningSummary.ResponseTimes(control.Trials, maxTrialS);
        static double[] Running(double[] v, int w) => v.Select((_, i) => v.Skip(Math.Max(0, i - w + 1)).Take(Math.Min(w, i + 1)).Average()).ToArray();
        string Label(string name, RunReport r) => r.Learning is { } l
            ? $"{name}: first fifth {l.FirstFifthMeanS * 1000:0.#} ms → last {l.LastFifthMeanS * 1000:0.#} ms ({l.RelativeChange * 100:+0;-0} %, p {l.PValueFaster:0.####})"
            : name;
        string svg = LineChart("Response time per trial: closed loop vs control (time-outs count as the longest trial)", "trial", "response time (s)",
        [
            new ChartSeries("closed loop", "#9ecae1", a.Select(v => v).ToArray(), Dots: true),
            new ChartSeries("control", "#fdae6b", b, Dots: true),
            new ChartSeries(Label("closed loop (10-trial mean)", closedLoop), "#1f77b4", Running(a, 10)),
            new ChartSeries(Label("control (10-trial mean)", control), "#ff7f0e", Running(b, 10)),
        ]);
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, "learning.svg");
        File.WriteAllText(path, svg);
        return path;
    }

    /// <summary>Writes rallies.svg into <paramref name="directory"/>: rally length per game of a pong run and of each of
    /// its controls (dots) with a 10-game running mean each (lines, legend with the mean and, for the controls, the
    /// one-sided Mann–Whitney p that the closed loop's rallies are longer); returns the file's path.</summary>
    public static string WriteRallies(RunReport closedLoop, IReadOnlyList<RunReport> controls, string directory)
    {
        string[] colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"], light = ["#9ecae1", "#fdae6b", "#a1d99b", "#fc9272"];
        var runs = controls.Prepend(closedLoop).Where(r => r.Pong is not null).ToArray();
        var dots = new List<ChartSeries>();
        var lines = new List<ChartSeries>();
        for (int i = 0; i < runs.Length; i++)
        {
            var p = runs[i].Pong!;
            double[] v = p.Rallies.Select(x => (double)x).ToArray();
            string label = $"{p.Condition}: mean {p.MeanRally.ToString("0.##", Inv)}";
            if (i > 0 && closedLoop.Pong is { } cl)
                label += $", p = {PongComparison.Of(cl, p).PValueLonger.ToString("0.###", Inv)}";
            dots.Add(new ChartSeries(p.Condition, light[i % light.Length], v, Dots: true));
            lines.Add(new ChartSeries(label, colours[i % colours.Length], Running(v, 10)));
        }
        string svg = LineChart("Pong: rally length per game (dots) and 10-game running mean (lines)", "game", "rally length (hits)", [.. dots, .. lines]);
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, "rallies.svg");
        File.WriteAllText(path, svg);
        return path;
    }

    /// <summary>Writes output-error.svg into <paramref name="directory"/>: the Bakkum output error per cycle of a
    /// closed-loop run and of its control (dots) with a 10-cycle running mean each; returns the file's path.</summary>
    public static string WriteOutputError(RunReport closedLoop, RunReport control, string directory)
    {
        var a = closedLoop.Bakkum!;
        var b = control.Bakkum!;
        double[] ea = a.ErrorsDeg.ToArray(), eb = b.ErrorsDeg.ToArray();
        string Label(string name, BakkumSummary s) => $"{name}: first fifth {s.FirstFifthMeanErrorDeg:0}° → last {s.LastFifthMeanErrorDeg:0}° (p {s.PValueSmaller:0.####})";
        string svg = LineChart($"Bakkum output error per cycle: closed loop (mean {a.MeanErrorDeg:0}°) vs control (mean {b.MeanErrorDeg:0}°), p = {BakkumSummary.SmallerP(a, b):0.####}",
            "cycle after the baseline", "output error (degrees)",
        [
            new ChartSeries("closed loop", "#9ecae1", ea, Dots: true),
            new ChartSeries("control", "#fdae6b", eb, Dots: true),
            new ChartSeries(Label("closed loop (10-cycle mean)", a), "#1f77b4", Running(ea, 10)),
            new ChartSeries(Label("control (10-cycle mean)", b), "#ff7f0e", Running(eb, 10)),
        ]);
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, "output-error-vs-control.svg");
        File.WriteAllText(path, svg);
        return path;
    }

    private static double[] Running(double[] v, int w) => v.Select((_, i) => v.Skip(Math.Max(0, i - w + 1)).Take(Math.Min(w, i + 1)).Average()).ToArray();

    /// <summary>A histogram of positive values on a log x axis (10 bins per decade), counts on y; median and p99 marked.</summary>
    public static string Histogram(string title, string xLabel, IReadOnlyList<double> values)
    {
        var v = values.Select(x => Math.Max(x, 0.1)).Order().ToArray();
        var svg = Begin(title.Length > 110 ? title[..110] + "…" : title);
        Axes(svg, xLabel, "count");
        if (v.Length == 0) return End(svg);
        const int perDecade = 10;
        double lMin = Math.Floor(Math.Log10(v[0])), lMax = Math.Max(lMin + 1, Math.Ceiling(Math.Log10(v[^1]) + 1e-9));
        int bins = (int)Math.Round((lMax - lMin) * perDecade);
        var counts = new int[bins];
        foreach (double x in v) counts[Math.Clamp((int)((Math.Log10(x) - lMin) * perDecade), 0, bins - 1)]++;
        double yMax = counts.Max() * 1.1;
        double X(double l) => Left + (l - lMin) / (lMax - lMin) * (Width - Left - Right);
        double Y(double c) => Top + (1 - c / yMax) * (Height - Top - Bottom);
        foreach (double tick in Ticks(yMax))
            YTick(svg, Y(tick), tick.ToString("0.#", Inv));
        for (double d = lMin; d <= lMax + 1e-9; d++)
            svg.Append(Text(X(d), Height - Bottom + 18, Math.Pow(10, d).ToString("0.#", Inv), "middle"));
        for (int b = 0; b < bins; b++)
        {
            if (counts[b] == 0) continue;
            double x0 = X(lMin + (double)b / perDecade), x1 = X(lMin + (b + 1.0) / perDecade);
            svg.Append($"<rect x=\"{F(x0)}\" y=\"{F(Y(counts[b]))}\" width=\"{F(Math.Max(1, x1 - x0 - 1))}\" height=\"{F(Y(0) - Y(counts[b]))}\" fill=\"#1f77b4\"><title>{counts[b]}</title></rect>");
        }
        double p50 = v[(v.Length - 1) / 2], p99 = v[(int)Math.Ceiling(0.99 * v.Length) - 1];
        foreach (var (q, name, colour) in new[] { (p50, "p50", "#ff7f0e"), (p99, "p99", "#d62728") })
            svg.Append($"<line x1=\"{F(X(Math.Log10(q)))}\" y1=\"{Top}\" x2=\"{F(X(Math.Log10(q)))}\" y2=\"{Height - Bottom}\" stroke=\"{colour}\" stroke-dasharray=\"4 3\"><title>{name} {q.ToString("0.#", Inv)}</title></line>");
        svg.Append($"<text x=\"{Width - Right}\" y=\"{Top - 8}\" text-anchor=\"end\" font-size=\"11\"><tspan fill=\"#ff7f0e\">┆ p50 {p50.ToString("0.#", Inv)}</tspan>  <tspan fill=\"#d62728\">┆ p99 {p99.ToString("0.#", Inv)}</tspan>  max {v[^1].ToString("0.#", Inv)}  (n = {v.Length})</text>");
        return End(svg);
    }

    /// <summary>One series of <see cref="LineChart"/>: values at x = 1, 2, …; NaN leaves a gap.</summary>
    /// <param name="Name">Legend text.</param>
    /// <param name="Color">SVG colour, e.g. <c>#1f77b4</c>.</param>
    /// <param name="Values">y values, one per x.</param>
    /// <param name="Dots">True: points (light); false: a line.</param>
    public sealed record ChartSeries(string Name, string Color, IReadOnlyList<double> Values, bool Dots = false);

    /// <summary>A generic chart of series against x = 1, 2, … (trials), in the style of <see cref="Trials"/>.</summary>
    public static string LineChart(string title, string xLabel, string yLabel, IReadOnlyList<ChartSeries> series)
    {
        int n = Math.Max(1, series.Max(s => s.Values.Count));
        double yMax = Math.Max(1e-9, series.SelectMany(s => s.Values).Where(v => !double.IsNaN(v)).DefaultIfEmpty(1).Max()) * 1.05;
        double X(double i) => Left + (n == 1 ? 0.5 : (i - 1) / (n - 1)) * (Width - Left - Right);
        double Y(double v) => Top + (1 - v / yMax) * (Height - Top - Bottom);

        var svg = Begin(title);
        Axes(svg, xLabel, yLabel);
        foreach (double tick in Ticks(yMax))
            YTick(svg, Y(tick), tick.ToString(tick < 10 ? "0.#" : "0", Inv));
        for (int i = 1; i <= n; i += Math.Max(1, n / 10))
            svg.Append(Text(X(i), Height - Bottom + 18, i.ToString(Inv), "middle"));
        foreach (var s in series)
        {
            if (s.Dots)
            {
                for (int i = 0; i < s.Values.Count; i++)
                    if (!double.IsNaN(s.Values[i]))
                        svg.Append($"<circle cx=\"{F(X(i + 1))}\" cy=\"{F(Y(s.Values[i]))}\" r=\"2\" fill=\"{s.Color}\" fill-opacity=\"0.35\"/>");
                continue;
            }
            var line = new StringBuilder();
            bool pen = false;
            for (int i = 0; i < s.Values.Count; i++)
            {
                if (double.IsNaN(s.Values[i])) { pen = false; continue; }
                line.Append(pen ? 'L' : 'M').Append(F(X(i + 1))).Append(',').Append(F(Y(s.Values[i]))).Append(' ');
                pen = true;
            }
            if (line.Length > 0) svg.Append($"<path d=\"{line}\" fill=\"none\" stroke=\"{s.Color}\" stroke-width=\"2\"/>");
        }
        var legend = string.Join("   ", series.Where(s => !s.Dots).Select(s => $"<tspan fill=\"{s.Color}\">— {WebUtility.HtmlEncode(s.Name)}</tspan>"));
        svg.Append($"<text x=\"{Width - Right}\" y=\"{Top - 8}\" text-anchor=\"end\" font-size=\"11\">{legend}</text>");
        return End(svg);
    }

    private static StringBuilder Begin(string title)
    {
        var svg = new StringBuilder();
        svg.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">");
        svg.Append($"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>");
        svg.Append(Text(Width / 2.0, 22, title, "middle", 14));
        return svg;
    }

    private static string End(StringBuilder svg) => svg.Append("</svg>\n").ToString();

    private static void Axes(StringBuilder svg, string xLabel, string yLabel)
    {
        svg.Append($"<line x1=\"{Left}\" y1=\"{Height - Bottom}\" x2=\"{Width - Right}\" y2=\"{Height - Bottom}\" stroke=\"black\"/>");
        svg.Append($"<line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{Height - Bottom}\" stroke=\"black\"/>");
        svg.Append(Text((Left + Width - Right) / 2.0, Height - 12, xLabel, "middle"));
        svg.Append($"<text x=\"16\" y=\"{F((Top + Height - Bottom) / 2.0)}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {F((Top + Height - Bottom) / 2.0)})\">{WebUtility.HtmlEncode(yLabel)}</text>");
    }

    private static void YTick(StringBuilder svg, double y, string label)
    {
        svg.Append($"<line x1=\"{Left - 4}\" y1=\"{F(y)}\" x2=\"{Width - Right}\" y2=\"{F(y)}\" stroke=\"#eee\"/>");
        svg.Append(Text(Left - 8, y + 4, label, "end"));
    }

    private static IEnumerable<double> Ticks(double max)
    {
        double step = Math.Pow(10, Math.Floor(Math.Log10(max)));
        if (max / step < 3) step /= 2;
        for (double v = 0; v <= max; v += step) yield return v;
    }

    private static string Text(double x, double y, string text, string anchor, int size = 12) =>
        $"<text x=\"{F(x)}\" y=\"{F(y)}\" text-anchor=\"{anchor}\" font-size=\"{size}\">{WebUtility.HtmlEncode(text)}</text>";

    private static string F(double v) => v.ToString("0.#", Inv);
}
