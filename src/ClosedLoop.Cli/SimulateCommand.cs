using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ClosedLoop.Core;
using ClosedLoop.FirmwareSim;
using ClosedLoop.Hardware;
using ClosedLoop.Storage;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary>What <c>closedloop simulate movie</c> renders.</summary>
/// <param name="OutFolder">Folder that receives movie.tif, the ground truth and a README (created if missing).</param>
/// <param name="Footprints"><c>builtin:NAME</c>, a masks JSON path or <c>generated</c>.</param>
/// <param name="Neurons">Somata placed when <paramref name="Footprints"/> is <c>generated</c>.</param>
/// <param name="WidthPx">Field width for generated footprints; for a masks file, null or the file's width.</param>
/// <param name="HeightPx">Field height for generated footprints; for a masks file, null or the file's height.</param>
/// <param name="Frames">Frames to render.</param>
/// <param name="FrameRateHz">Frame rate, which sets the time step of the biology.</param>
/// <param name="Seed">Seed of every random draw: the same options give the same files.</param>
/// <param name="Indicator">Calcium indicator preset: GCaMP6s, GCaMP6f or OGB-1.</param>
/// <param name="NoiseLevel">Requested noise level ν of ROI-mean ΔF/F traces (%/√Hz); null = the default photon budget.</param>
/// <param name="Motion">none, rigid or nonrigid.</param>
/// <param name="MotionRmsPx">RMS of each component of the rigid shift, px.</param>
/// <param name="SpikeSource">poisson or spikefinder.</param>
/// <param name="RateHz">Mean spontaneous firing rate, Hz.</param>
/// <param name="DriftFraction">S.d. of the shared slow brightness drift (fraction).</param>
/// <param name="NeuronDriftFraction">S.d. of each soma's own slow baseline drift (fraction).</param>
/// <param name="BleachTauS">Bleaching time constant, s; null = none.</param>
/// <param name="WriteMovie">False renders everything but skips the TIFF (ground truth is still written): for timing.</param>
public sealed record MovieOptions(string OutFolder, string Footprints = "builtin:YST_part11", int Neurons = 100,
    int? WidthPx = null, int? HeightPx = null, int Frames = 3000, double FrameRateHz = 30, int Seed = 1,
    string Indicator = "GCaMP6s", double? NoiseLevel = null, string Motion = "none", double MotionRmsPx = 1.0,
    string SpikeSource = "poisson", double RateHz = 0.2, double DriftFraction = 0, double NeuronDriftFraction = 0,
    double? BleachTauS = null, bool WriteMovie = true);

/// <summary>What <c>closedloop simulate movie</c> wrote.</summary>
/// <param name="Folder">The output folder (full path).</param>
/// <param name="Frames">Frames in movie.tif.</param>
/// <param name="WidthPx">Frame width.</param>
/// <param name="HeightPx">Frame height.</param>
/// <param name="Neurons">Neurons (masks, CSV columns).</param>
/// <param name="FootprintsSource">Where the footprints came from.</param>
/// <param name="Spikes">Spikes fired by all neurons over the movie.</param>
/// <param name="RenderFramesPerS">Frames per second of the tissue's rendering alone.</param>
/// <param name="TotalFramesPerS">Frames per second including writing the movie and the ground truth.</param>
/// <param name="PredictedNoiseLevel">Median over neurons of the shot-noise ν the photon budget gives.</param>
public sealed record MovieResult(string Folder, int Frames, int WidthPx, int HeightPx, int Neurons, string FootprintsSource, long Spikes,
    double RenderFramesPerS = 0, double TotalFramesPerS = 0, double PredictedNoiseLevel = double.NaN);

/// <summary>
/// <c>closedloop simulate</c>: offline products of the virtual tissue. <c>simulate movie</c> renders a two-photon movie
/// with its ground truth (footprints, spikes, calcium) into a folder, for testing segmentation and spike inference
/// against known answers. The file layouts are described in docs/data-formats.md.
/// </summary>
public static class SimulateCommand
{
    /// <summary>Default and fallback field size (px) for generated footprints.</summary>
    public const int DefaultGeneratedSizePx = 256;

    /// <summary>Creates the command with its <c>movie</c> subcommand.</summary>
    public static Command Create()
    {
        var footprints = new Option<string>("--footprints")
        {
            Description = "Neuron footprints: builtin:YST_part11 (or another builtin), a masks JSON file, or 'generated'.",
            DefaultValueFactory = _ => "builtin:YST_part11",
        };
        var neurons = new Option<int>("--neurons") { Description = "Neurons placed when --footprints generated.", DefaultValueFactory = _ => 100 };
        var width = new Option<int?>("--width") { Description = $"Field width, px, for generated footprints (default {DefaultGeneratedSizePx})." };
        var height = new Option<int?>("--height") { Description = $"Field height, px, for generated footprints (default {DefaultGeneratedSizePx})." };
        var frames = new Option<int>("--frames") { Description = "Frames to render.", DefaultValueFactory = _ => 3000 };
        var rate = new Option<double>("--frame-rate-hz") { Description = "Frame rate, Hz.", DefaultValueFactory = _ => 30 };
        var seed = new Option<int>("--seed") { Description = "Seed of every random draw (same seed, same files).", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--out") { Description = "Folder for movie.tif, masks.json, spikes.csv, calcium.csv, dff.csv, motion.csv and README.md.", Required = true };
        var indicator = new Option<string>("--indicator") { Description = "Calcium indicator: GCaMP6s, GCaMP6f or OGB-1.", DefaultValueFactory = _ => "GCaMP6s" };
        var noise = new Option<double?>("--noise-level") { Description = "Noise level ν of ROI-mean ΔF/F traces (%/√Hz, e.g. 1 = good); sets the photon budget. Default: 60 photons/px/frame per soma." };
        var motion = new Option<string>("--motion") { Description = "Brain motion: none, rigid or nonrigid.", DefaultValueFactory = _ => "none" };
        var motionRms = new Option<double>("--motion-rms-px") { Description = "RMS of each component of the rigid shift, px.", DefaultValueFactory = _ => 1.0 };
        var spikeSource = new Option<string>("--spike-source") { Description = "Spike trains: poisson, or spikefinder (real ground-truth trains, time-scaled to the rate).", DefaultValueFactory = _ => "poisson" };
        var rateHz = new Option<double>("--rate-hz") { Description = "Mean spontaneous firing rate, Hz.", DefaultValueFactory = _ => 0.2 };
        var drift = new Option<double>("--drift") { Description = "S.d. of the slow drift of the whole field's brightness (fraction, e.g. 0.05).", DefaultValueFactory = _ => 0 };
        var neuronDrift = new Option<double>("--neuron-drift") { Description = "S.d. of each soma's own slow baseline drift (fraction).", DefaultValueFactory = _ => 0 };
        var bleach = new Option<double?>("--bleach-tau-s") { Description = "Bleaching time constant, s (brightness × exp(−t/τ)); default none." };
        var noTiff = new Option<bool>("--no-tiff") { Description = "Render but do not write movie.tif (ground truth only; for timing)." };
        var movie = new Command("movie", "Render a simulated two-photon movie (multi-page TIFF) with its ground truth: footprints, spikes, calcium, ΔF/F and motion per frame.")
            { footprints, neurons, width, height, frames, rate, seed, output, indicator, noise, motion, motionRms, spikeSource, rateHz, drift, neuronDrift, bleach, noTiff };
        movie.SetAction(p => ExecuteMovie(new MovieOptions(p.GetValue(output)!, p.GetValue(footprints)!, p.GetValue(neurons),
            p.GetValue(width), p.GetValue(height), p.GetValue(frames), p.GetValue(rate), p.GetValue(seed),
            p.GetValue(indicator)!, p.GetValue(noise), p.GetValue(motion)!, p.GetValue(motionRms), p.GetValue(spikeSource)!,
            p.GetValue(rateHz), p.GetValue(drift), p.GetValue(neuronDrift), p.GetValue(bleach), !p.GetValue(noTiff)), AnsiConsole.Console));
        return new Command("simulate", "Offline products of the virtual tissue (firmware-sim).") { movie };
    }

    /// <summary>Runs <c>simulate movie</c> with progress on <paramref name="console"/>; returns the exit code
    /// (<see cref="ExitCodes.BadInput"/> for a bad option, naming it and its range).</summary>
    public static int ExecuteMovie(MovieOptions options, IAnsiConsole console)
    {
        MovieResult result;
        try
        {
            var (tissue, imaging, footprints) = Prepare(options);
            console.MarkupLine(Markup.Escape($"Rendering {options.Frames:N0} frames of {imaging.WidthPx}×{imaging.HeightPx} px, {footprints.Count} neurons from {footprints.Source}, seed {options.Seed} …"));
            if (console.Profile.Capabilities.Interactive)
            {
                result = null!;
                console.Progress()
                    .AutoClear(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("frames", maxValue: options.Frames);
                        result = Write(options, tissue, imaging, footprints, done => task.Value = done);
                    });
            }
            else
            {
                int step = Math.Max(1, options.Frames / 10), next = step;
                result = Write(options, tissue, imaging, footprints, done =>
                {
                    if (done < next && done < options.Frames) return;
                    console.WriteLine($"{done}/{options.Frames} frames");
                    next = done + step;
                });
            }
        }
        catch (SettingException ex)
        {
            console.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
            return ExitCodes.BadInput;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            console.MarkupLine($"[red]Could not write to {Markup.Escape(Path.GetFullPath(options.OutFolder))}: {Markup.Escape(ex.Message)}[/]");
            return ExitCodes.BadInput;
        }
        console.MarkupLine(Markup.Escape($"Wrote {result.Frames} frames, {result.Neurons} neurons, {result.Spikes} spikes to {result.Folder}"));
        console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"Noise level ν (shot noise, median over neurons): {result.PredictedNoiseLevel:0.###}. Speed: {result.RenderFramesPerS:0} frames/s rendering, {result.TotalFramesPerS:0} frames/s with writing{(options.WriteMovie ? "" : " (ground truth only, no TIFF)")}.")));
        return ExitCodes.Ok;
    }

    /// <summary>Renders the movie and its ground truth into <see cref="MovieOptions.OutFolder"/> without a console;
    /// <paramref name="progress"/> (if given) hears the frames done so far.</summary>
    /// <exception cref="SettingException">An option is out of range; the message names it and the range.</exception>
    public static MovieResult WriteMovie(MovieOptions options, Action<int>? progress = null)
    {
        var (tissue, imaging, footprints) = Prepare(options);
        return Write(options, tissue, imaging, footprints, progress);
    }

    private static (TissueProfile Tissue, ImagingProfile Imaging, Footprints Footprints) Prepare(MovieOptions o)
    {
        Check.NotEmpty("--out", o.OutFolder);
        Check.InRange("--frames", o.Frames, 1, 10_000_000);
        Check.InRange("--frame-rate-hz", o.FrameRateHz, 0.1, 1000);
        string spec = Check.NotEmpty("--footprints", o.Footprints).Trim();
        var tissue = new TissueProfile { Footprints = spec };
        bool generated = string.Equals(spec, Footprints.GeneratedName, StringComparison.OrdinalIgnoreCase);
        int width, height;
        if (generated)
        {
            width = Check.InRange("--width", o.WidthPx ?? DefaultGeneratedSizePx, 32, 4096);
            height = Check.InRange("--height", o.HeightPx ?? DefaultGeneratedSizePx, 32, 4096);
            tissue.GeneratedNeuronCount = Check.InRange("--neurons", o.Neurons, 1, 20_000);
        }
        else
        {
            (width, height) = MaskFieldSize(spec);
            if (o.WidthPx is int w && w != width) throw new SettingException("--width", w, $"left out or {width} (the width of {spec}); use --footprints generated for another size");
            if (o.HeightPx is int h && h != height) throw new SettingException("--height", h, $"left out or {height} (the height of {spec}); use --footprints generated for another size");
        }
        var imaging = new ImagingProfile { WidthPx = width, HeightPx = height, FrameRateHz = o.FrameRateHz };
        imaging.Validate();
        ApplyModelOptions(o, tissue, imaging);
        tissue.Validate(imaging);
        return (tissue, imaging, Footprints.FromProfile(tissue, imaging, o.Seed));
    }

    /// <summary>Checks the model flags (naming each flag and its range) and copies them into the tissue profile.</summary>
    private static void ApplyModelOptions(MovieOptions o, TissueProfile tissue, ImagingProfile imaging)
    {
        var inv = CultureInfo.InvariantCulture;
        var model = IndicatorModel.FindPreset(o.Indicator)
            ?? throw new SettingException("--indicator", o.Indicator, $"one of {string.Join(", ", IndicatorModel.Presets.Select(m => m.Name))}");
        tissue.Indicator = model.Name;
        double durationS = o.Frames / o.FrameRateHz;
        if (model.DecayS > durationS)
            throw new SettingException("--frames", o.Frames, string.Create(inv,
                $"at least {Math.Ceiling(model.DecayS * o.FrameRateHz)} at {o.FrameRateHz} Hz: the movie ({durationS:0.###} s) is shorter than the {model.Name} kernel's decay time constant ({model.DecayS} s); render more frames or choose a faster --indicator"));
        if (o.NoiseLevel is double nu) tissue.NoiseLevel = Check.InRange("--noise-level", nu, 0.01, 100);
        tissue.Motion.Mode = ParseEnum<MotionMode>("--motion", o.Motion, "none, rigid or nonrigid");
        double maxRms = Math.Min(imaging.WidthPx, imaging.HeightPx) / 8.0;
        tissue.Motion.RmsPx = Check.InRange("--motion-rms-px", o.MotionRmsPx, 0, maxRms);
        tissue.Motion.NonrigidRmsPx = Math.Min(maxRms, 0.5 * o.MotionRmsPx);
        tissue.Motion.GridX = Math.Clamp(imaging.WidthPx / 64 + 2, 2, Math.Max(2, imaging.WidthPx / 8));
        tissue.Motion.GridY = Math.Clamp(imaging.HeightPx / 64 + 2, 2, Math.Max(2, imaging.HeightPx / 8));
        tissue.SpikeSource = ParseEnum<SpikeSource>("--spike-source", o.SpikeSource, "poisson or spikefinder");
        tissue.SpontaneousRateHz = Check.InRange("--rate-hz", o.RateHz, 0, 50);
        tissue.DriftFraction = Check.InRange("--drift", o.DriftFraction, 0, 0.5);
        tissue.NeuronDriftFraction = Check.InRange("--neuron-drift", o.NeuronDriftFraction, 0, 0.5);
        if (o.BleachTauS is double bleach) tissue.BleachTauS = Check.InRange("--bleach-tau-s", bleach, 0.1, 1e7);
    }

    private static T ParseEnum<T>(string flag, string? value, string allowed) where T : struct, Enum =>
        Enum.TryParse<T>(value?.Trim(), ignoreCase: true, out var parsed) && Enum.IsDefined(parsed) && !int.TryParse(value, out _)
            ? parsed : throw new SettingException(flag, value, allowed);

    /// <summary>The field size a masks file or builtin declares (its height and width members).</summary>
    private static (int Width, int Height) MaskFieldSize(string spec)
    {
        string allowed = $"'{Footprints.GeneratedName}', a masks JSON file or one of {string.Join(", ", Footprints.BuiltinNames.Select(b => Footprints.BuiltinPrefix + b))}";
        Stream? stream = spec.StartsWith(Footprints.BuiltinPrefix, StringComparison.OrdinalIgnoreCase)
            ? Footprints.OpenBuiltin(spec, out _)
            : File.Exists(spec) ? File.OpenRead(spec) : null;
        if (stream is null) throw new SettingException("--footprints", spec, allowed);
        using (stream)
        {
            try
            {
                using var doc = JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
                var root = doc.RootElement;
                if (root.ValueKind == JsonValueKind.Object
                    && root.TryGetProperty("width", out var w) && w.TryGetInt32(out int width)
                    && root.TryGetProperty("height", out var h) && h.TryGetInt32(out int height))
                    return (width, height);
            }
            catch (JsonException) { }
        }
        throw new SettingException("--footprints", spec, "a masks JSON file with integer 'height' and 'width' members and 'masks' (see docs/data-formats.md)");
    }

    private static MovieResult Write(MovieOptions o, TissueProfile tissueProfile, ImagingProfile imaging, Footprints footprints, Action<int>? progress)
    {
        var tissue = new VirtualTissue(tissueProfile, imaging, o.Seed, footprints);
        string folder = Path.GetFullPath(o.OutFolder);
        Directory.CreateDirectory(folder);
        WriteMasks(Path.Combine(folder, "masks.json"), footprints);

        int n = tissue.NeuronCount;
        var frame = new ushort[imaging.WidthPx * imaging.HeightPx];
        Span<char> number = stackalloc char[32];
        string metadata = Metadata(o, imaging, tissueProfile, tissue, footprints);
        var inv = CultureInfo.InvariantCulture;
        bool nonrigid = tissue.MotionMode == MotionMode.Nonrigid;
        long renderTicks = 0;
        var total = System.Diagnostics.Stopwatch.StartNew();
        using (var movie = o.WriteMovie ? new TiffMovieWriter(Path.Combine(folder, "movie.tif"), imaging.WidthPx, imaging.HeightPx, metadata, expectedFrames: o.Frames) : null)
        using (var spikes = Csv(Path.Combine(folder, "spikes.csv")))
        using (var calcium = Csv(Path.Combine(folder, "calcium.csv")))
        using (var dff = Csv(Path.Combine(folder, "dff.csv")))
        using (var motion = Csv(Path.Combine(folder, "motion.csv")))
        using (var grid = nonrigid ? Csv(Path.Combine(folder, "motion_grid.csv")) : null)
        {
            string header = string.Join(',', Enumerable.Range(0, n).Select(i => i.ToString(CultureInfo.InvariantCulture)));
            spikes.WriteLine(header);
            calcium.WriteLine(header);
            dff.WriteLine(header);
            motion.WriteLine("frame,dx_px,dy_px");
            grid?.WriteLine("frame,node_x,node_y,x_px,y_px,dx_px,dy_px");
            for (int f = 0; f < o.Frames; f++)
            {
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                tissue.Render(frame);
                renderTicks += System.Diagnostics.Stopwatch.GetTimestamp() - start;
                movie?.Append(frame, f * (double)tissue.FramePeriodNs / 1e9);
                var s = tissue.LastSpikes;
                var c = tissue.Calcium;
                var d = tissue.TrueDff;
                for (int i = 0; i < n; i++)
                {
                    if (i > 0) { spikes.Write(','); calcium.Write(','); dff.Write(','); }
                    s[i].TryFormat(number, out int len, default, inv);
                    spikes.Write(number[..len]);
                    c[i].TryFormat(number, out len, "G6", inv);
                    calcium.Write(number[..len]);
                    d[i].TryFormat(number, out len, "G6", inv);
                    dff.Write(number[..len]);
                }
                spikes.WriteLine();
                calcium.WriteLine();
                dff.WriteLine();
                motion.WriteLine(string.Create(inv, $"{f},{tissue.MotionDxPx:0.#####},{tissue.MotionDyPx:0.#####}"));
                if (grid is not null)
                {
                    var ndx = tissue.MotionNodeDxPx;
                    var ndy = tissue.MotionNodeDyPx;
                    for (int iy = 0; iy < tissue.MotionGridY; iy++)
                        for (int ix = 0; ix < tissue.MotionGridX; ix++)
                        {
                            int k = iy * tissue.MotionGridX + ix;
                            grid.WriteLine(string.Create(inv, $"{f},{ix},{iy},{tissue.MotionNodeXPx(ix):0.###},{tissue.MotionNodeYPx(iy):0.###},{ndx[k]:0.#####},{ndy[k]:0.#####}"));
                        }
                }
                progress?.Invoke(f + 1);
            }
        }
        double totalS = total.Elapsed.TotalSeconds;
        double renderS = renderTicks / (double)System.Diagnostics.Stopwatch.Frequency;
        long spikeTotal = 0;
        foreach (long count in tissue.SpikeCounts) spikeTotal += count;
        var sortedNu = tissue.PredictedNoiseLevel.ToArray();
        Array.Sort(sortedNu);
        double medianNu = sortedNu.Length == 0 ? double.NaN : sortedNu[sortedNu.Length / 2];
        WriteReadme(Path.Combine(folder, "README.md"), o, imaging, tissue, footprints, spikeTotal, medianNu);
        return new MovieResult(folder, o.Frames, imaging.WidthPx, imaging.HeightPx, n, footprints.Source, spikeTotal,
            o.Frames / Math.Max(renderS, 1e-9), o.Frames / Math.Max(totalS, 1e-9), medianNu);
    }

    private static StreamWriter Csv(string path) => new(path, false, new UTF8Encoding(false), bufferSize: 1 << 16);

    private static string Metadata(MovieOptions o, ImagingProfile imaging, TissueProfile t, VirtualTissue tissue, Footprints footprints)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("source", "closedloop simulate movie (firmware-sim VirtualTissue)");
            w.WriteNumber("frameRateHz", imaging.FrameRateHz);
            w.WriteNumber("widthPx", imaging.WidthPx);
            w.WriteNumber("heightPx", imaging.HeightPx);
            w.WriteNumber("pixelSizeUm", imaging.PixelSizeUm);
            w.WriteNumber("frames", o.Frames);
            w.WriteNumber("seed", o.Seed);
            w.WriteString("footprints", footprints.Source);
            w.WriteNumber("neurons", footprints.Count);
            w.WriteStartObject("tissue");
            var ind = tissue.Indicator;
            w.WriteNumber("spontaneousRateHz", t.SpontaneousRateHz);
            w.WriteString("spikeSource", t.SpikeSource.ToString().ToLowerInvariant());
            w.WriteString("indicator", ind.Name);
            w.WriteNumber("indicatorRiseS", ind.RiseS);
            w.WriteNumber("indicatorDecayS", ind.DecayS);
            w.WriteNumber("dffPerSpike", ind.DffPerSpike);
            w.WriteNumber("saturationSpikes", ind.SaturationSpikes);
            w.WriteNumber("saturationHill", ind.SaturationHill);
            w.WriteNumber("neuronBaselinePhotons", tissue.NeuronBaselinePhotons);
            w.WriteNumber("backgroundPhotons", t.BackgroundPhotons * tissue.PhotonScale);
            w.WriteNumber("neuropilFraction", t.NeuropilFraction);
            w.WriteNumber("countsPerPhoton", t.CountsPerPhoton);
            if (t.NoiseLevel is double nu) w.WriteNumber("noiseLevel", nu);
            w.WriteNumber("driftFraction", t.DriftFraction);
            w.WriteNumber("neuronDriftFraction", t.NeuronDriftFraction);
            w.WriteNumber("driftTimeConstantS", t.DriftTimeConstantS);
            if (t.BleachTauS is double bleach) w.WriteNumber("bleachTauS", bleach);
            w.WriteString("motion", t.Motion.Mode.ToString().ToLowerInvariant());
            if (t.Motion.Mode != MotionMode.None)
            {
                w.WriteNumber("motionRmsPx", t.Motion.RmsPx);
                w.WriteNumber("motionTimeConstantS", t.Motion.TimeConstantS);
            }
            if (t.Motion.Mode == MotionMode.Nonrigid)
            {
                w.WriteNumber("nonrigidRmsPx", t.Motion.NonrigidRmsPx);
                w.WriteNumber("motionGridX", t.Motion.GridX);
                w.WriteNumber("motionGridY", t.Motion.GridY);
            }
            w.WriteNumber("neuronRadiusPx", t.NeuronRadiusPx);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteMasks(string path, Footprints footprints)
    {
        using var file = File.Create(path);
        using var w = new Utf8JsonWriter(file);
        w.WriteStartObject();
        w.WriteString("source", $"closedloop simulate movie: footprints from {footprints.Source}");
        w.WriteNumber("height", footprints.HeightPx);
        w.WriteNumber("width", footprints.WidthPx);
        w.WriteString("pixel_index", "row*width+col");
        w.WriteStartArray("masks");
        for (int i = 0; i < footprints.Count; i++)
        {
            w.WriteStartArray();
            foreach (int p in footprints.PixelsOf(i)) w.WriteNumberValue(p);
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteReadme(string path, MovieOptions o, ImagingProfile imaging, VirtualTissue tissue, Footprints footprints, long spikes, double medianNu)
    {
        var inv = CultureInfo.InvariantCulture;
        var ind = tissue.Indicator;
        string motionNote = tissue.MotionMode switch
        {
            MotionMode.None => "no motion (motion.csv holds zeros)",
            MotionMode.Rigid => string.Create(inv, $"rigid motion, RMS {o.MotionRmsPx} px per component"),
            _ => string.Create(inv, $"non-rigid motion, rigid RMS {o.MotionRmsPx} px plus a {tissue.MotionGridX}×{tissue.MotionGridY} grid of local shifts"),
        };
        string text = string.Create(inv, $"""
            # Simulated two-photon movie

            Rendered by `closedloop simulate movie` from the firmware-sim virtual tissue (docs/simulation.md):
            {o.Frames} frames of {imaging.WidthPx}×{imaging.HeightPx} px at {imaging.FrameRateHz} Hz, {footprints.Count} neurons
            (footprints: {footprints.Source}), seed {o.Seed}, {spikes} spikes in all ({o.SpikeSource} spike trains,
            mean rate {o.RateHz} Hz). Indicator {ind.Name} (rise {ind.RiseS} s, decay {ind.DecayS} s, peak ΔF/F per spike
            {ind.DffPerSpike}); {tissue.NeuronBaselinePhotons:0.###} photons per soma pixel per frame at rest, so the
            shot-noise ν of ROI-mean ΔF/F traces is {medianNu:0.###} (median over neurons); {motionNote}.
            The same options and seed give the same files. Layouts in detail: docs/data-formats.md.

            | file | contents |
            |---|---|
            | movie.tif | the movie: one uint16 page per frame, detector counts, row-major. Every page's ImageDescription is JSON with `frameIndex` and `sampleTimeS`; page 0 adds the frame rate, size, seed, footprints source and tissue parameters. |
            | masks.json | ground-truth footprints: `height`, `width`, `pixel_index` ("row*width+col") and `masks`, one list of pixel indices per neuron, in the reference (unmoved) coordinates. |
            | spikes.csv | spikes each neuron fired in each frame: a header row of neuron indices (the order of `masks`), then one row per frame. |
            | calcium.csv | indicator calcium of each neuron at the end of each frame, in spikes' worth before saturation (an isolated spike's transient peaks at 1); same shape as spikes.csv. |
            | dff.csv | noise-free ΔF/F (fraction) of each soma in each frame: the indicator's saturating response to calcium, before drift, bleaching, neuropil and noise; same shape. |
            | motion.csv | `frame,dx_px,dy_px`: the rigid shift of the frame's content relative to the masks, frame(x, y) = reference(x − dx, y − dy); to correct, shift the frame by (−dx, −dy). |
            {(tissue.MotionMode == MotionMode.Nonrigid ? "| motion_grid.csv | `frame,node_x,node_y,x_px,y_px,dx_px,dy_px`: total shift of every node of the non-rigid grid; the shift at any pixel is the bilinear interpolation of the node shifts, with the same convention. |" : "")}

            Frame i covers [i/f, (i+1)/f) s on the sample clock (f the frame rate); its spikes fall in that interval and
            its calcium includes them, so a neuron's calcium rises in the frame of a spike, peaks after the indicator's
            rise time and decays after it.
            """);
        File.WriteAllText(path, text + "\n");
    }
}
