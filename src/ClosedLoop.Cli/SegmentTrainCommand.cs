using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ClosedLoop.Core;
using ClosedLoop.FirmwareSim;
using ClosedLoop.Imaging.Segmentation;
using ClosedLoop.Storage;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary>What <c>closedloop segment train</c> does.</summary>
/// <param name="OutFolder">Folder for the .onnx file (created if missing).</param>
/// <param name="ModelName">File name of the model, without .onnx.</param>
/// <param name="Parts">YST footprint parts rendered for training (11, 12, 21).</param>
/// <param name="ValidateParts">Parts rendered for validation only (never trained on).</param>
/// <param name="NoiseLevels">Noise levels ν of the synthetic movies.</param>
/// <param name="Indicators">Indicators of the synthetic movies.</param>
/// <param name="Frames">Frames per synthetic movie.</param>
/// <param name="FrameRateHz">Frame rate of the synthetic movies, Hz.</param>
/// <param name="RateHz">Mean firing rate of the synthetic neurons, Hz.</param>
/// <param name="TemplateIndicator">Indicator whose kinetics set the matched filter (stored in the model).</param>
/// <param name="Movies">Labelled recordings (TIFF) to train on as well; each pairs with the mask file at the same position.</param>
/// <param name="MaskFiles">Masks JSON files for <paramref name="Movies"/>.</param>
/// <param name="MovieRateHz">Frame rate of the labelled recordings, Hz.</param>
/// <param name="Seed">Seed of movies, initialisation and augmentation.</param>
/// <param name="Training">Network and optimisation settings.</param>
/// <param name="PixelSizeUm">Pixel size of the training data, µm (NaN when not calibrated).</param>
/// <param name="BackgroundRadiusPx">Spatial high-pass radius of the SNR frames, px (0 = off).</param>
public sealed record SegmentTrainOptions(string OutFolder, string ModelName, int[] Parts, int[] ValidateParts, double[] NoiseLevels,
    string[] Indicators, int Frames, double FrameRateHz, double RateHz, string? TemplateIndicator, string[] Movies, string[] MaskFiles,
    double MovieRateHz, int Seed, SegmentationTrainingSettings Training, double PixelSizeUm = double.NaN, int BackgroundRadiusPx = 0);

/// <summary>
/// <c>closedloop segment train</c>: renders synthetic movies of the YST footprints (firmware-sim) at several noise levels
/// and indicators, preprocesses them (<see cref="SnrPreprocessor"/>), builds per-frame targets (masks of the neurons
/// whose transient is clearly above noise), trains the shallow U-Net (Adam, Dice + BCE, crops, flips, rotations), writes
/// ONNX with the training range in its metadata and prints the pixel Dice per validation movie. Labelled recordings
/// (a TIFF and a masks JSON) can be added with <c>--movie</c>/<c>--masks</c>.
/// </summary>
public static class SegmentTrainCommand
{
    /// <summary>Creates the <c>train</c> subcommand (to be added under <c>segment</c>).</summary>
    public static Command Create()
    {
        var d = new SegmentationTrainingSettings();
        var outDir = new Option<string>("--out") { Description = "Folder for the model (.onnx).", Required = true };
        var name = new Option<string>("--name") { Description = "Model file name without .onnx.", DefaultValueFactory = _ => "segmentation" };
        var parts = new Option<string>("--parts") { Description = "YST footprint parts to train on (of 11, 12, 21), comma-separated; empty: none (only --movie).", DefaultValueFactory = _ => "11,12" };
        var validate = new Option<string>("--validate") { Description = "YST parts held out for validation, comma-separated.", DefaultValueFactory = _ => "21" };
        var noise = new Option<string>("--noise-levels") { Description = "Noise levels ν of the synthetic movies (%/√Hz), comma-separated.", DefaultValueFactory = _ => "1,2,4" };
        var indicators = new Option<string>("--indicators") { Description = "Indicators of the synthetic movies, comma-separated (GCaMP6s, GCaMP6f, OGB-1).", DefaultValueFactory = _ => "GCaMP6s,GCaMP6f" };
        var frames = new Option<int>("--frames") { Description = "Frames per synthetic movie.", DefaultValueFactory = _ => 3000 };
        var rate = new Option<double>("--frame-rate-hz") { Description = "Frame rate of the synthetic movies, Hz.", DefaultValueFactory = _ => 30 };
        var firing = new Option<double>("--rate-hz") { Description = "Mean firing rate of the synthetic neurons, Hz.", DefaultValueFactory = _ => 0.2 };
        var template = new Option<string?>("--template-indicator") { Description = "Indicator whose transient is the matched filter (default: the first of --indicators, or GCaMP6s)." };
        var movies = new Option<string?>("--movie") { Description = "Labelled recordings to train on as well (TIFF), comma-separated." };
        var masks = new Option<string?>("--masks") { Description = "Masks JSON per --movie (layout of FinalMasks_YST_part11.json), comma-separated." };
        var movieRate = new Option<double>("--movie-rate-hz") { Description = "Frame rate of the --movie recordings, Hz.", DefaultValueFactory = _ => 30 };
        var seed = new Option<int>("--seed") { Description = "Seed of the movies, the initialisation and the augmentation.", DefaultValueFactory = _ => 1 };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the kept frames.", DefaultValueFactory = _ => d.Epochs };
        var crop = new Option<int>("--crop-px") { Description = "Side of the square random crops, px.", DefaultValueFactory = _ => d.CropPx };
        var convs = new Option<int>("--convs-per-level") { Description = "Convolutions per U-Net depth (1 or 2).", DefaultValueFactory = _ => d.ConvsPerLevel };
        var channels = new Option<string>("--channels") { Description = "Channels per depth, comma-separated.", DefaultValueFactory = _ => string.Join(",", d.Channels) };
        var batch = new Option<int>("--batch") { Description = "Mini-batch size.", DefaultValueFactory = _ => d.BatchSize };
        var lr = new Option<double>("--learning-rate") { Description = "Adam learning rate.", DefaultValueFactory = _ => d.LearningRate };
        var threads = new Option<int>("--threads") { Description = "Training threads.", DefaultValueFactory = _ => d.Threads };
        var targetSnr = new Option<double>("--target-snr") { Description = "A neuron is in a frame's target when its filtered transient is at least this many σ of its ROI-mean noise.", DefaultValueFactory = _ => d.TargetSnr };
        var stride = new Option<int>("--frame-stride") { Description = "Keep every n-th frame after the warm-up.", DefaultValueFactory = _ => d.FrameStride };
        var background = new Option<int>("--background-radius-px") { Description = "Spatial high-pass of the SNR frames: subtract the mean over a (2r+1)² square; 0 = off.", DefaultValueFactory = _ => 0 };
        var pixel = new Option<double?>("--pixel-size-um") { Description = "Pixel size of the training data, µm (stored in the model; default: not calibrated)." };
        var cmd = new Command("train", "Train the segmentation U-Net on synthetic movies of the YST footprints (and optional labelled recordings), validate on held-out parts, write ONNX.")
            { outDir, name, parts, validate, noise, indicators, frames, rate, firing, template, movies, masks, movieRate, seed, epochs, crop, convs, channels, batch, lr, threads, targetSnr, stride, pixel, background };
        cmd.SetAction(p =>
        {
            try
            {
                var o = new SegmentTrainOptions(p.GetValue(outDir)!, p.GetValue(name)!, Ints("--parts", p.GetValue(parts)), Ints("--validate", p.GetValue(validate)),
                    Doubles("--noise-levels", p.GetValue(noise)), List(p.GetValue(indicators)), p.GetValue(frames), p.GetValue(rate), p.GetValue(firing),
                    p.GetValue(template), List(p.GetValue(movies)), List(p.GetValue(masks)), p.GetValue(movieRate), p.GetValue(seed),
                    new SegmentationTrainingSettings
                    {
                        Epochs = p.GetValue(epochs), CropPx = p.GetValue(crop), ConvsPerLevel = p.GetValue(convs), Channels = Ints("--channels", p.GetValue(channels)),
                        BatchSize = p.GetValue(batch), LearningRate = p.GetValue(lr), Threads = p.GetValue(threads), TargetSnr = p.GetValue(targetSnr),
                        FrameStride = p.GetValue(stride), Seed = p.GetValue(seed),
                    }, p.GetValue(pixel) ?? double.NaN, p.GetValue(background));
                return Execute(o, AnsiConsole.Console);
            }
            catch (SettingException ex)
            {
                AnsiConsole.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
                return ExitCodes.BadInput;
            }
        });
        return cmd;
    }

    /// <summary>Runs the training with progress on <paramref name="console"/>; returns the exit code.</summary>
    public static int Execute(SegmentTrainOptions o, IAnsiConsole console)
    {
        try
        {
            var result = Train(o, console);
            return result is null ? ExitCodes.BadInput : ExitCodes.Ok;
        }
        catch (SettingException ex)
        {
            console.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
            return ExitCodes.BadInput;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            console.MarkupLine($"[red]Could not write to {Markup.Escape(Path.GetFullPath(o.OutFolder))}: {Markup.Escape(ex.Message)}[/]");
            return ExitCodes.BadInput;
        }
    }

    /// <summary>The training itself; returns the model and the validation figures (null after a reported input error).</summary>
    public static (SegmentationModel Model, IReadOnlyList<DiceResult> Validation)? Train(SegmentTrainOptions o, IAnsiConsole console)
    {
        o.Training.Validate();
        Check.InRange("--frames", o.Frames, 100, 1_000_000);
        Check.InRange("--frame-rate-hz", o.FrameRateHz, 0.5, 1000);
        foreach (var part in o.Parts.Concat(o.ValidateParts))
            if (part is not (11 or 12 or 21)) throw new SettingException("--parts", part, "YST parts 11, 12 or 21 (the footprints firmware-sim ships)");
        var overlap = o.Parts.Intersect(o.ValidateParts).ToArray();
        if (overlap.Length > 0) throw new SettingException("--validate", string.Join(",", overlap), "parts not in --parts (a held-out part must not be trained on)");
        foreach (var nu in o.NoiseLevels) Check.InRange("--noise-levels", nu, 0.05, 50);
        if (o.Movies.Length != o.MaskFiles.Length) throw new SettingException("--masks", o.MaskFiles.Length, $"one masks file per --movie ({o.Movies.Length})");
        if (o.Parts.Length == 0 && o.Movies.Length == 0) throw new SettingException("--parts", "", "at least one part, or a --movie with --masks");
        string templateName = o.TemplateIndicator ?? (o.Indicators.Length > 0 ? o.Indicators[0] : "GCaMP6s");
        var pre = SnrSettings.ForIndicator(templateName, o.FrameRateHz) with { BackgroundRadiusPx = o.BackgroundRadiusPx };
        pre.Validate();
        foreach (var ind in o.Indicators) SnrSettings.ForIndicator(ind, o.FrameRateHz);
        Directory.CreateDirectory(o.OutFolder);

        var total = Stopwatch.StartNew();
        var train = new List<TrainingSet>();
        var valid = new List<TrainingSet>();
        var renderWatch = new Stopwatch();
        var prepWatch = new Stopwatch();
        int movieSeed = o.Seed * 1000;
        console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"Synthetic movies: train parts {string.Join(",", o.Parts)}, validate {string.Join(",", o.ValidateParts)}; ν {string.Join(",", o.NoiseLevels)}; {string.Join(",", o.Indicators)}; {o.Frames} frames at {o.FrameRateHz} Hz; template {pre.Indicator}.")));
        console.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn()).Start(ctx =>
        {
            var jobs = new List<(int Part, double Nu, string Ind, bool Validation)>();
            foreach (var part in o.Parts) foreach (var nu in o.NoiseLevels) foreach (var ind in o.Indicators) jobs.Add((part, nu, ind, false));
            foreach (var part in o.ValidateParts) foreach (var nu in o.NoiseLevels) foreach (var ind in o.Indicators) jobs.Add((part, nu, ind, true));
            var task = ctx.AddTask("rendering + preprocessing movies", maxValue: Math.Max(1, jobs.Count + o.Movies.Length));
            foreach (var (part, nu, ind, isVal) in jobs)
            {
                renderWatch.Start();
                var movie = SegmentationMovie.Render(new SegmentationMovieOptions($"builtin:YST_part{part}", o.Frames, o.FrameRateHz, ind, nu, ++movieSeed, o.RateHz));
                renderWatch.Stop();
                prepWatch.Start();
                var set = TrainingTargets.Prepare(ToTrainingMovie(movie, string.Create(CultureInfo.InvariantCulture, $"YST_part{part} ν={nu} {ind}")),
                    pre, o.Training.TargetSnr, isVal ? 1 : o.Training.FrameStride);
                prepWatch.Stop();
                (isVal ? valid : train).Add(set);
                task.Increment(1);
            }
            for (int i = 0; i < o.Movies.Length; i++)
            {
                train.Add(TrainingTargets.Prepare(ReadRecording(o.Movies[i], o.MaskFiles[i], o.MovieRateHz), pre, o.Training.TargetSnr, o.Training.FrameStride));
                task.Increment(1);
            }
        });
        int samples = train.Sum(s => s.Count);
        console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"{train.Count} training movies ({samples} frames kept), {valid.Count} validation movies; rendering {renderWatch.Elapsed.TotalSeconds:0.0} s, preprocessing {prepWatch.Elapsed.TotalSeconds:0.0} s.")));
        SegmentationModel model = null!;
        var trainWatch = Stopwatch.StartNew();
        console.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn()).Start(ctx =>
        {
            var task = ctx.AddTask("training", maxValue: 1);
            model = SegmentationTrainer.Train(train, pre, o.Training, p =>
            {
                task.MaxValue = p.TotalSteps;
                task.Value = p.Step + 1;
                if ((p.Step & 15) == 0) task.Description = string.Create(CultureInfo.InvariantCulture, $"training epoch {p.Epoch + 1}/{o.Training.Epochs} loss {p.Loss:0.0000}");
            });
        });
        trainWatch.Stop();
        var results = valid.Select(v => SegmentationTrainer.Evaluate(model, v, o.Training.Threads)).ToList();
        var inv = CultureInfo.InvariantCulture;
        var extra = new Dictionary<string, string>(model.Extra)
        {
            ["validation_pixel_dice"] = string.Join("; ", results.Select(r => string.Create(inv, $"{r.Name}: {r.Dice:0.000}"))),
            ["training_command"] = CommandLine(o),
        };
        model = model with { Name = o.ModelName + ".onnx", PixelSizeUm = o.PixelSizeUm, Extra = extra };
        string path = Path.Combine(o.OutFolder, o.ModelName + ".onnx");
        model.Save(path);
        var table = new Table().AddColumns("validation movie", "pixel Dice", "frames", "target fraction");
        foreach (var r in results) table.AddRow(Markup.Escape(r.Name), r.Dice.ToString("0.000", inv), r.Frames.ToString(inv), r.TargetFraction.ToString("0.0000", inv));
        if (results.Count > 0) console.Write(table);
        console.MarkupLine(Markup.Escape(string.Create(inv,
            $"Wrote {Path.GetFullPath(path)} ({new FileInfo(path).Length / 1024.0:0.0} KiB): training {trainWatch.Elapsed.TotalSeconds:0} s for {o.Training.Epochs} epochs × {samples} frames on {o.Training.Threads} thread(s); total {total.Elapsed.TotalSeconds:0} s.")));
        console.MarkupLine(Markup.Escape(string.Create(inv, $"Training range: ν {model.NuMin:0.##}–{model.NuMax:0.##}, pixel ν {model.PixelNuMin:0.#}–{model.PixelNuMax:0.#}, neurons ≈ {model.NeuronDiameterPx:0.#} px.")));
        return (model, results);
    }

    /// <summary>A rendered synthetic movie as a training movie (with its ground truth).</summary>
    public static TrainingMovie ToTrainingMovie(SegmentationMovie m, string name) => new()
    {
        Name = name, Frames = m.Frames, HeightPx = m.HeightPx, WidthPx = m.WidthPx, FrameRateHz = m.Options.FrameRateHz,
        Masks = m.Masks, TrueDff = m.TrueDff, DffNoiseSigma = m.DffNoiseSigma, NoiseLevel = m.NoiseLevel,
    };

    /// <summary>Reads a labelled recording: a TIFF movie and a masks JSON of the same field.</summary>
    public static TrainingMovie ReadRecording(string tiffPath, string masksPath, double frameRateHz)
    {
        if (!File.Exists(tiffPath)) throw new SettingException("--movie", tiffPath, "an existing TIFF movie");
        using var reader = new TiffMovieReader(tiffPath);
        int h = reader.HeightPx, w = reader.WidthPx, p = h * w;
        var frames = new ushort[(long)reader.FrameCount * p];
        for (int i = 0; i < reader.FrameCount; i++) reader.ReadFrame(i, frames.AsSpan(i * p, p));
        var fp = Footprints.Load(masksPath, w, h);
        var masks = new int[fp.Count][];
        for (int i = 0; i < fp.Count; i++) masks[i] = fp.PixelsOf(i).ToArray();
        return new TrainingMovie { Name = Path.GetFileName(tiffPath), Frames = frames, HeightPx = h, WidthPx = w, FrameRateHz = frameRateHz, Masks = masks };
    }

    private static string CommandLine(SegmentTrainOptions o)
    {
        var inv = CultureInfo.InvariantCulture;
        var t = o.Training;
        return string.Create(inv, $"closedloop segment train --out {o.OutFolder} --name {o.ModelName} --parts {string.Join(",", o.Parts)} --validate {string.Join(",", o.ValidateParts)} ")
            + string.Create(inv, $"--noise-levels {string.Join(",", o.NoiseLevels.Select(v => v.ToString(inv)))} --indicators {string.Join(",", o.Indicators)} --frames {o.Frames} --frame-rate-hz {o.FrameRateHz} --rate-hz {o.RateHz} ")
            + string.Create(inv, $"--seed {o.Seed} --epochs {t.Epochs} --crop-px {t.CropPx} --convs-per-level {t.ConvsPerLevel} --channels {string.Join(",", t.Channels)} --batch {t.BatchSize} ")
            + string.Create(inv, $"--learning-rate {t.LearningRate} --threads {t.Threads} --target-snr {t.TargetSnr} --frame-stride {t.FrameStride}")
            + (o.TemplateIndicator is null ? "" : $" --template-indicator {o.TemplateIndicator}")
            + (o.BackgroundRadiusPx == 0 ? "" : $" --background-radius-px {o.BackgroundRadiusPx}")
            + (o.Movies.Length == 0 ? "" : $" --movie {string.Join(",", o.Movies)} --masks {string.Join(",", o.MaskFiles)} --movie-rate-hz {o.MovieRateHz.ToString(inv)}");
    }

    private static string[] List(string? s) => (s ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static int[] Ints(string flag, string? s) =>
        List(s).Select(v => int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? i : throw new SettingException(flag, v, "integers, comma-separated")).ToArray();

    private static double[] Doubles(string flag, string? s) =>
        List(s).Select(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : throw new SettingException(flag, v, "numbers, comma-separated")).ToArray();
}
