using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ClosedLoop.Core;
using ClosedLoop.Imaging.Segmentation;
using ClosedLoop.Models.Inference;
using ClosedLoop.Storage;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary>Options of <c>closedloop segment MOVIE.tif</c>.</summary>
/// <param name="MoviePath">Recorded TIFF movie.</param>
/// <param name="OutPath">Where to write the masks JSON.</param>
/// <param name="Online">Stream the frames through <see cref="OnlineSegmentation"/> instead of batch post-processing.</param>
/// <param name="ModelPath">Segmentation model (.onnx); null = the shipped default.</param>
/// <param name="FrameRateHz">Frame rate; null = from the movie's metadata.</param>
/// <param name="TruthPath">Ground-truth masks to score against, if any.</param>
/// <param name="Settings">Post-processing settings.</param>
/// <param name="InitialS">Online: seconds of frames for the initial ROI set.</param>
/// <param name="UpdateS">Online: seconds between updates.</param>
/// <param name="Backend">Inference backend.</param>
public sealed record SegmentOptions(string MoviePath, string OutPath, bool Online = false, string? ModelPath = null, double? FrameRateHz = null,
    string? TruthPath = null, SegmentationSettings? Settings = null, double InitialS = 30, double UpdateS = 1, BackendKind Backend = BackendKind.Auto);

/// <summary>
/// <c>closedloop segment</c>: find neuron masks in a recorded movie (batch or online, docs/segmentation.md) and
/// <c>segment score</c>: precision, recall and F1 of masks against ground truth.
/// </summary>
public static class SegmentCommand
{
    /// <summary>Frames handed to the segmenter per call in batch mode.</summary>
    private const int BatchFrames = 16;

    /// <summary>Creates the command and its subcommands.</summary>
    public static Command Create()
    {
        var movie = new Argument<string>("movie") { Description = "Recorded TIFF movie (ours or ScanImage, 16-bit grayscale)." };
        var output = new Option<string>("--out") { Description = "Where to write the masks (JSON: height, width, masks as row * width + col indices; loadable as an ROI file).", Required = true };
        var online = new Option<bool>("--online") { Description = "Stream the frames as 'run' would: initialise on the first --initial-s seconds, then update every --update-s seconds with stable ROI ids." };
        var model = new Option<string?>("--model") { Description = "Segmentation model (.onnx); default: the shipped model." };
        var rate = new Option<double?>("--frame-rate-hz") { Description = "The movie's frame rate, Hz; default: from its metadata (ours: frameRateHz, ScanImage: scanFrameRate)." };
        var truth = new Option<string?>("--truth") { Description = "Ground-truth masks JSON: also print precision, recall and F1 at IoU ≥ 0.5." };
        var d = new SegmentationSettings();
        var threshold = new Option<double>("--threshold") { Description = "Probability threshold, (0, 1].", DefaultValueFactory = _ => d.ProbabilityThreshold };
        var minArea = new Option<int>("--min-area-px") { Description = "Smallest mask kept, pixels.", DefaultValueFactory = _ => d.MinAreaPx };
        var maxArea = new Option<int>("--max-area-px") { Description = "Largest mask kept, pixels.", DefaultValueFactory = _ => d.MaxAreaPx };
        var minFrames = new Option<int>("--min-frames") { Description = "Temporal consistency: consecutive frames a mask must be found in (0 = automatic: 0.6 × the model's temporal filter length, at least 3).", DefaultValueFactory = _ => d.MinConsecutiveFrames };
        var initial = new Option<double>("--initial-s") { Description = "With --online: seconds of frames (after the model's warm-up) for the initial ROI set.", DefaultValueFactory = _ => 30.0 };
        var update = new Option<double>("--update-s") { Description = "With --online: seconds between updates of the ROI set.", DefaultValueFactory = _ => 1.0 };
        var backend = new Option<BackendKind>("--backend") { Description = "Inference backend: Auto, OnnxRuntime or Managed.", DefaultValueFactory = _ => BackendKind.Auto };
        var cmd = new Command("segment", """
            Find neurons in a recorded movie: the segmentation model turns each frame into a probability map; masks are
            thresholded, merged across frames and kept when found in enough consecutive frames (batch), or tracked online
            with stable ids as 'run' does (--online). Writes the masks as JSON. 'segment score' compares masks with ground truth.
            """)
            { movie, output, online, model, rate, truth, threshold, minArea, maxArea, minFrames, initial, update, backend };
        cmd.SetAction(p => Segment(new SegmentOptions(p.GetValue(movie)!, p.GetValue(output)!, p.GetValue(online), p.GetValue(model), p.GetValue(rate),
            p.GetValue(truth), d with { ProbabilityThreshold = p.GetValue(threshold), MinAreaPx = p.GetValue(minArea), MaxAreaPx = p.GetValue(maxArea), MinConsecutiveFrames = p.GetValue(minFrames) },
            p.GetValue(initial), p.GetValue(update), p.GetValue(backend)), AnsiConsole.Console));
        cmd.Subcommands.Add(CreateScore());
        cmd.Subcommands.Add(CreateBench());
        cmd.Subcommands.Add(SegmentTrainCommand.Create());
        return cmd;
    }

    private static Command CreateBench()
    {
        var size = new Option<int>("--size") { Description = "Frame side, pixels (square frames).", DefaultValueFactory = _ => 512 };
        var frames = new Option<int>("--frames") { Description = "Frames measured after 50 warm-up frames.", DefaultValueFactory = _ => 2000 };
        var cmd = new Command("bench", "Measure the post-processing per frame (threshold, connected components, merging) on synthetic probability maps, against a baseline of one pass over the map in the same run.")
            { size, frames };
        cmd.SetAction(p => Bench(p.GetValue(size), p.GetValue(frames), AnsiConsole.Console));
        return cmd;
    }

    /// <summary><c>segment bench</c>: per-frame cost of <see cref="MaskExtractor"/> and <see cref="MaskMerger"/> on
    /// synthetic maps (about one neuron per 1,300 px², 10 % of them active per frame, two noise blobs per frame); returns the exit code.</summary>
    public static int Bench(int sizePx, int frames, IAnsiConsole console) => ExitCodes.Guard(console, () =>
    {
        Check.InRange("--size", sizePx, 32, 4096);
        Check.InRange("--frames", frames, 10, 1_000_000);
        const int warmup = 50;
        int n = sizePx * sizePx;
        var rng = new Random(1);
        int neurons = n / 1300;
        var centres = Enumerable.Range(0, neurons).Select(_ => (R: rng.Next(6, sizePx - 6), C: rng.Next(6, sizePx - 6))).ToArray();
        var maps = new float[8][];
        for (int k = 0; k < maps.Length; k++)
        {
            var m = maps[k] = new float[n];
            for (int i = 0; i < n; i++) m[i] = (float)(0.3 * rng.NextDouble());
            foreach (var (r, c) in centres.Where((_, i) => (i + k) % 10 == 0))
                for (int dr = -5; dr <= 5; dr++)
                    for (int dc = -5; dc <= 5; dc++)
                        if (dr * dr + dc * dc <= 25) m[(r + dr) * sizePx + c + dc] = 0.9f;
            for (int b = 0; b < 2; b++)
            {
                int r0 = rng.Next(0, sizePx - 5), c0 = rng.Next(0, sizePx - 5);
                for (int r = r0; r < r0 + 5; r++) for (int c = c0; c < c0 + 5; c++) m[r * sizePx + c] = 0.9f;
            }
        }
        var settings = new SegmentationSettings();
        var extractor = new MaskExtractor(sizePx, sizePx, settings);
        var merger = new MaskMerger(sizePx, sizePx, settings);
        var baseUs = new double[frames];
        var extractUs = new double[frames];
        var totalUs = new double[frames];
        double sink = 0;
        long allocated = 0;
        for (int f = 0; f < warmup + frames; f++)
        {
            // Frames come in runs of 4 copies of one map, so the active neurons pass the temporal-consistency test.
            var map = maps[(f / 4) % maps.Length];
            long t0 = Stopwatch.GetTimestamp();
            sink += System.Numerics.Tensors.TensorPrimitives.Max<float>(map); // baseline: one vectorised pass over the map
            long t1 = Stopwatch.GetTimestamp();
            long a0 = GC.GetAllocatedBytesForCurrentThread();
            extractor.Extract(map);
            long t2 = Stopwatch.GetTimestamp();
            merger.AddFrame(f, extractor);
            long t3 = Stopwatch.GetTimestamp();
            if (f < warmup) continue;
            allocated += GC.GetAllocatedBytesForCurrentThread() - a0;
            int i = f - warmup;
            baseUs[i] = Stopwatch.GetElapsedTime(t0, t1).TotalMicroseconds;
            extractUs[i] = Stopwatch.GetElapsedTime(t1, t2).TotalMicroseconds;
            totalUs[i] = Stopwatch.GetElapsedTime(t1, t3).TotalMicroseconds;
        }
        // An online update calls this every second: repeat it past the JIT's tiering and report the median of the last 10.
        IReadOnlyList<MergedMask> found = Array.Empty<MergedMask>();
        var updateMs = new double[50];
        for (int k = 0; k < updateMs.Length; k++)
        {
            long tc = Stopwatch.GetTimestamp();
            found = merger.Consolidate();
            updateMs[k] = Stopwatch.GetElapsedTime(tc).TotalMilliseconds;
        }
        double consolidateMs = Percentile(updateMs[^10..], 50);

        var t = new Table().Border(TableBorder.Rounded).AddColumns("per frame", "p50 µs", "p99 µs", "max µs", "p50 ÷ baseline p50");
        void Row(string name, double[] us) => t.AddRow(name, Pct(us, 50), Pct(us, 99), us.Max().ToString("0", CultureInfo.InvariantCulture),
            (Percentile(us, 50) / Math.Max(Percentile(baseUs, 50), 1e-3)).ToString("0.0", CultureInfo.InvariantCulture));
        Row("baseline: one pass (max) over the map", baseUs);
        Row("masks from the map (threshold + components)", extractUs);
        Row("masks + merging across frames", totalUs);
        console.Write(t);
        console.MarkupLine($"{sizePx}×{sizePx} px, {frames:N0} frames, {neurons} neurons (10 % active per frame) + 2 noise blobs per frame; "
            + $"{(double)allocated / frames:0} bytes allocated per frame; consolidation (an online update) of {merger.GroupCount} groups into {found.Count} masks: {consolidateMs:0.00} ms. "
            + $"Timings on a shared machine are noisy: compare the ratio. (checksum {sink:0})");
        return ExitCodes.Ok;
    });

    private static double Percentile(double[] v, double p)
    {
        var s = (double[])v.Clone();
        Array.Sort(s);
        return s[Math.Min(s.Length - 1, (int)Math.Round(p / 100 * (s.Length - 1)))];
    }

    private static string Pct(double[] v, double p) => Percentile(v, p).ToString("0", CultureInfo.InvariantCulture);

    private static Command CreateScore()
    {
        var truth = new Argument<string>("truth") { Description = "Ground-truth masks JSON." };
        var found = new Argument<string>("found") { Description = "Found masks JSON (e.g. written by 'segment --out')." };
        var iou = new Option<double>("--iou") { Description = "Least intersection over union for a match, (0, 1].", DefaultValueFactory = _ => 0.5 };
        var verbose = new Option<bool>("--verbose") { Description = "List every ground-truth mask with its match and IoU." };
        var cmd = new Command("score", "Score found masks against ground truth: one-to-one matches at IoU ≥ --iou; precision, recall, F1 and mean IoU of the matches.")
            { truth, found, iou, verbose };
        cmd.SetAction(p => Score(p.GetValue(truth)!, p.GetValue(found)!, p.GetValue(iou), p.GetValue(verbose), AnsiConsole.Console));
        return cmd;
    }

    /// <summary><c>segment score</c>; returns the exit code (1 on bad input).</summary>
    public static int Score(string truthPath, string foundPath, double iou, bool verbose, IAnsiConsole console) => ExitCodes.Guard(console, () =>
    {
        Check.InRange("--iou", iou, 1e-9, 1);
        var truth = MaskSet.Load(truthPath);
        var found = MaskSet.Load(foundPath);
        var score = SegmentationScore.Compute(truth, found, iou);
        if (verbose)
        {
            var byTruth = score.Matches.ToDictionary(m => m.TruthIndex);
            var t = new Table().Border(TableBorder.Rounded).AddColumns("truth", "area px", "found", "IoU");
            for (int i = 0; i < truth.Count; i++)
            {
                bool hit = byTruth.TryGetValue(i, out var m);
                t.AddRow(Markup.Escape(truth.Names[i]), truth.Masks[i].Length.ToString(CultureInfo.InvariantCulture),
                    hit ? Markup.Escape(found.Names[m.FoundIndex]) : "[yellow]missed[/]", hit ? F(m.Iou) : "");
            }
            console.Write(t);
            var matchedFound = score.Matches.Select(m => m.FoundIndex).ToHashSet();
            var extra = Enumerable.Range(0, found.Count).Where(f => !matchedFound.Contains(f)).Select(f => found.Names[f]).ToList();
            if (extra.Count > 0) console.MarkupLine($"Unmatched found masks ({extra.Count}): {Markup.Escape(string.Join(", ", extra))}");
        }
        PrintScore(score, console);
        return ExitCodes.Ok;
    });

    private static void WarnOutsideTrainingRange(IFrameSegmenter segmenter, IAnsiConsole console)
    {
        if (segmenter.TrainingRangeWarning is { } warning)
            console.MarkupLine($"[yellow]Outside the model's training range: {Markup.Escape(warning)}. Check the masks, or fine-tune the model on labelled frames of this rig (segment train).[/]");
    }

    private static void PrintScore(SegmentationScore s, IAnsiConsole console)
    {
        var t = new Table().Border(TableBorder.Rounded).AddColumns("truth", "found", "matched", "precision", "recall", "F1", "mean IoU");
        t.AddRow(s.TruthCount.ToString(CultureInfo.InvariantCulture), s.FoundCount.ToString(CultureInfo.InvariantCulture), s.Matches.Count.ToString(CultureInfo.InvariantCulture),
            F(s.Precision), F(s.Recall), F(s.F1), double.IsNaN(s.MeanMatchedIou) ? "–" : F(s.MeanMatchedIou));
        console.Write(t);
        console.MarkupLine($"F1 = {F(s.F1)} (precision {F(s.Precision)}, recall {F(s.Recall)}) at IoU ≥ {s.IouThreshold.ToString("0.##", CultureInfo.InvariantCulture)}");
    }

    /// <summary><c>segment MOVIE.tif</c>; returns the exit code (1 on bad input). <paramref name="openSegmenter"/> replaces
    /// <see cref="SegmentationModels.Open"/> (tests).</summary>
    public static int Segment(SegmentOptions o, IAnsiConsole console, Func<string?, int, int, double, IFrameSegmenter>? openSegmenter = null) => ExitCodes.Guard(console, () =>
    {
        var settings = (o.Settings ?? new SegmentationSettings()).Validate();
        if (!File.Exists(o.MoviePath)) throw new SettingException("movie", o.MoviePath, "an existing TIFF movie");
        if (o.ModelPath is not null && !File.Exists(o.ModelPath)) throw new SettingException("--model", o.ModelPath, "an existing .onnx file");
        MaskSet? truth = o.TruthPath is null ? null : MaskSet.Load(o.TruthPath);

        using var reader = new TiffMovieReader(o.MoviePath);
        if (reader.FrameCount == 0) throw new SettingException("movie", o.MoviePath, "a TIFF movie with at least one complete frame");
        if (reader.TruncationNote is not null) console.MarkupLine($"[yellow]{Markup.Escape(reader.TruncationNote)}[/]");
        double rateHz = o.FrameRateHz is double r ? Check.InRange("--frame-rate-hz", r, 0.01, 10_000)
            : TiffReplaySource.FrameRateFromMetadata(reader.GetDescription(0)) is double m && m > 0 && m <= 10_000 ? m
            : throw new SettingException("--frame-rate-hz", null, $"given: {o.MoviePath} does not say its frame rate in its metadata");
        int h = reader.HeightPx, w = reader.WidthPx;
        truth?.CheckSameFrame(new MaskSet(h, w, Array.Empty<int[]>(), sourceName: o.MoviePath));

        IFrameSegmenter segmenter = OpenModel(o, h, w, rateHz, openSegmenter);
        settings = settings.ForFilter(segmenter.TemporalFilterFrames);
        string mode = o.Online ? "online" : "batch";
        string modelDescription = segmenter.Description;
        console.MarkupLine($"{Markup.Escape(Path.GetFileName(o.MoviePath))}: {reader.FrameCount:N0} frames of {w}×{h} px at {rateHz.ToString("0.##", CultureInfo.InvariantCulture)} Hz; "
            + $"{mode}; model {Markup.Escape(modelDescription)}; {Markup.Escape(settings.ToString())}");

        var sw = Stopwatch.StartNew();
        IReadOnlyList<int[]> masks;
        string note;
        if (o.Online)
        {
            var onlineSettings = settings with
            {
                InitialFrames = Math.Max(1, (int)Math.Round(Check.InRange("--initial-s", o.InitialS, 0, 86_400) * rateHz)),
                UpdateEveryFrames = Math.Max(1, (int)Math.Round(Check.InRange("--update-s", o.UpdateS, 0, 86_400) * rateHz)),
            };
            using var seg = new OnlineSegmentation(segmenter, onlineSettings);
            RunWithProgress(console, reader, $"{mode}", (frames, count, task) =>
            {
                seg.Push(frames, count);
                task.Description = seg.Initialised ? $"online: {seg.Snapshot().Count} ROIs (update {seg.UpdatesDone})" : "online: initialising";
            });
            if (!seg.Initialised)
                console.MarkupLine($"[yellow]The movie ended before the online initialisation ({segmenter.WarmupFrames} warm-up + {onlineSettings.InitialFrames} frames): no ROIs. Use a shorter --initial-s.[/]");
            var rois = seg.Snapshot();
            masks = rois.Select(x => x.PixelIndices).ToList();
            WarnOutsideTrainingRange(segmenter, console);
            note = $"online, initial {onlineSettings.InitialFrames} frames, update every {onlineSettings.UpdateEveryFrames} frames";
        }
        else
        {
            using (segmenter)
            {
                var extractor = new MaskExtractor(h, w, settings);
                var merger = new MaskMerger(h, w, settings);
                var maps = new float[BatchFrames * h * w];
                long frame = 0;
                int warmup = Math.Max(0, segmenter.WarmupFrames);
                RunWithProgress(console, reader, mode, (frames, count, task) =>
                {
                    segmenter.Process(frames, count, maps);
                    for (int k = 0; k < count; k++, frame++)
                    {
                        if (frame < warmup) continue;
                        extractor.Extract(maps.AsSpan(k * h * w, h * w));
                        merger.AddFrame(frame, extractor);
                    }
                });
                masks = merger.Consolidate().Select(x => x.PixelIndices).ToList();
                WarnOutsideTrainingRange(segmenter, console);
            }
            note = "batch";
        }
        double seconds = sw.Elapsed.TotalSeconds;

        var set = new MaskSet(h, w, masks);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(o.OutPath));
        if (dir is not null) Directory.CreateDirectory(dir);
        set.Save(o.OutPath, $"closedloop segment {Path.GetFileName(o.MoviePath)} ({note}; model {modelDescription}; {settings})");
        console.MarkupLine($"{set.Count} ROI(s) in {seconds:0.0} s ({reader.FrameCount / Math.Max(seconds, 1e-9):0.0} frames/s) written to [blue]{Markup.Escape(Path.GetFullPath(o.OutPath))}[/]");
        if (truth is not null) PrintScore(SegmentationScore.Compute(truth, set), console);
        return ExitCodes.Ok;
    });

    private static IFrameSegmenter OpenModel(SegmentOptions o, int h, int w, double rateHz, Func<string?, int, int, double, IFrameSegmenter>? open)
    {
        IFrameSegmenter segmenter;
        try
        {
            segmenter = open is null ? SegmentationModels.Open(o.ModelPath, h, w, rateHz, o.Backend) : open(o.ModelPath, h, w, rateHz);
        }
        catch (Exception ex) when (ex is not (SettingException or OutOfMemoryException))
        {
            // Whatever the model loader throws (no model yet, a corrupt file, an ONNX Runtime error): one clear message.
            throw new SettingException("--model", o.ModelPath ?? "(shipped default)", $"a readable segmentation model for {w}×{h} px frames ({ex.Message})");
        }
        if (segmenter.HeightPx != h || segmenter.WidthPx != w)
        {
            var (mh, mw) = (segmenter.HeightPx, segmenter.WidthPx);
            segmenter.Dispose();
            throw new SettingException("movie frame size", $"{w}×{h} px", $"the {mw}×{mh} px the model '{o.ModelPath ?? "(shipped default)"}' segments");
        }
        return segmenter;
    }

    private static void RunWithProgress(IAnsiConsole console, TiffMovieReader reader, string mode, Action<ReadOnlySpan<ushort>, int, ProgressTask> step)
    {
        int n = reader.HeightPx * reader.WidthPx;
        var frames = new ushort[BatchFrames * n];
        console.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn()).Start(ctx =>
        {
            var task = ctx.AddTask(mode, maxValue: reader.FrameCount);
            for (int page = 0; page < reader.FrameCount;)
            {
                int count = Math.Min(BatchFrames, reader.FrameCount - page);
                for (int k = 0; k < count; k++) reader.ReadFrame(page + k, frames.AsSpan(k * n, n));
                step(frames.AsSpan(0, count * n), count, task);
                page += count;
                task.Increment(count);
            }
        });
    }

    private static string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);

}
