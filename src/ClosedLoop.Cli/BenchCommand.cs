using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using ClosedLoop.Control;
using ClosedLoop.Core;
using ClosedLoop.FirmwareSim;
using ClosedLoop.Hardware;
using ClosedLoop.Imaging;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary>
/// <c>closedloop bench</c>: the fast loop (traces → ΔF/F → detector → protocol → interlock) as fast as it goes on
/// pre-rendered frames of the virtual tissue, one frame in flight at a time, so each frame's latency is the loop's
/// own cost. Prints frames/s, allocation per frame and latency percentiles, and a baseline measured in the same
/// run (copying one frame: the least any stage that reads a frame must pay).
/// </summary>
public static class BenchCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var width = new Option<int>("--width") { Description = "Frame width, px.", DefaultValueFactory = _ => 512 };
        var height = new Option<int>("--height") { Description = "Frame height, px.", DefaultValueFactory = _ => 512 };
        var rois = new Option<int>("--rois") { Description = "ROIs (generated neurons).", DefaultValueFactory = _ => 500 };
        var frames = new Option<int>("--frames") { Description = "Frames measured after warm-up.", DefaultValueFactory = _ => 20_000 };
        var json = new Option<string?>("--json") { Description = "Also write the figures to this JSON file." };
        var scan = new Option<bool>("--scan") { Description = "Measure the scanning layer instead: waveform generation and frame assembly from raw samples." };
        var cmd = new Command("bench", "Measure the fast loop on simulated frames: frames/s on one core, allocations per frame, latency percentiles from frame complete to stimulation decision.")
            { width, height, rois, frames, json, scan };
        cmd.SetAction(p => p.GetValue(scan)
            ? ScanBench.Execute(AnsiConsole.Console)
            : Execute(p.GetValue(width), p.GetValue(height), p.GetValue(rois), p.GetValue(frames), p.GetValue(json), AnsiConsole.Console));
        return cmd;
    }

    /// <summary>Runs the benchmark; returns the exit code.</summary>
    public static int Execute(int widthPx, int heightPx, int roiCount, int frames, string? jsonPath, IAnsiConsole console)
    {
        BenchResult result;
        try
        {
            Check.InRange("--width", widthPx, 32, 4096);
            Check.InRange("--height", heightPx, 32, 4096);
            Check.InRange("--rois", roiCount, 10, 20_000);
            Check.InRange("--frames", frames, 100, 10_000_000);
            console.MarkupLine($"Fast-loop benchmark: {widthPx}×{heightPx} px, {roiCount} ROIs, {frames:N0} frames after warm-up …");
            result = Run(widthPx, heightPx, roiCount, frames);
        }
        catch (SettingException ex)
        {
            console.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
            return ExitCodes.BadInput;
        }

        var t = new Table().Border(TableBorder.Rounded).AddColumns("figure", "value");
        t.AddRow("fast loop, frames/s on one core (processing only)", result.LoopFramesPerSecond.ToString("N0", CultureInfo.InvariantCulture));
        t.AddRow("frames/s including hand-over between threads", result.WallFramesPerSecond.ToString("N0", CultureInfo.InvariantCulture));
        t.AddRow("allocated per frame (fast-loop thread)", $"{result.AllocatedBytesPerFrame:0.##} B");
        t.AddRow("share of a 30 Hz frame period (33.3 ms)", $"{result.LoopMeanUs / 333.33:0.###} %");
        t.AddRow("baseline: copy one frame, p50", $"{result.BaselineCopyP50Us:0.0} µs");
        t.AddRow("fast loop mean / baseline copy", $"{result.LoopMeanUs / result.BaselineCopyP50Us:0.00}×");
        t.AddRow("frames lost", result.FramesLost.ToString(CultureInfo.InvariantCulture));
        t.AddRow("stimuli delivered / refused", $"{result.StimuliDelivered} / {result.StimuliRefused}");
        console.Write(t);
        var lat = new Table().Border(TableBorder.Rounded).Title("latency (µs)").AddColumns("stage", "p50", "p99", "p99.9", "max", "mean");
        foreach (var s in result.Latency)
            lat.AddRow(Markup.Escape(s.Name), F(s.P50Us), F(s.P99Us), F(s.P999Us), F(s.MaxUs), F(s.MeanUs));
        console.Write(lat);
        if (jsonPath is not null)
        {
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(result, RunReport.Json));
            console.MarkupLine($"Figures written to [blue]{Markup.Escape(Path.GetFullPath(jsonPath))}[/]");
        }
        return ExitCodes.Ok;
    }

    /// <summary>Builds the loop on a generated field and measures it.</summary>
    public static BenchResult Run(int widthPx, int heightPx, int roiCount, int frames)
    {
        const int warmup = 500, distinctFrames = 32, seed = 11;
        var imaging = new ImagingProfile { WidthPx = widthPx, HeightPx = heightPx, FrameRateHz = 30 };
        var tissueProfile = new TissueProfile { SpontaneousRateHz = 0.5 };
        var footprints = Footprints.Generate(widthPx, heightPx, roiCount, 5, seed);
        var tissue = new VirtualTissue(tissueProfile, imaging, seed, footprints);
        var rendered = new ushort[distinctFrames][];
        for (int i = 0; i < distinctFrames; i++) { rendered[i] = new ushort[widthPx * heightPx]; tissue.Render(rendered[i]); }

        var rois = Session.TissueRois(footprints);
        var activity = rois.CreateActivity();
        var events = new RunEventLog();
        using var stop = new CancellationTokenSource();
        var context = new RunContext("bench", imaging.FrameRateHz, events, stop);
        using var interlock = new SafetyInterlock(events);
        var channel = interlock.Register(new StimulatorProfile { Name = "bench" }, new CountingStimulator());
        var detector = new GroupActivityDetector(new GroupActivityDetectorSettings { Name = "motor", Group = "motor", ThresholdDff = 0.1, MinActive = 2 },
            Enumerable.Range(roiCount / 2, 10).ToArray());
        var targets = new StimulationTargets("sensory", Enumerable.Range(0, 8).Select(i => rois[i].CentroidXPx).ToArray(), Enumerable.Range(0, 8).Select(i => rois[i].CentroidYPx).ToArray());
        var protocol = new StimulusAvoidanceProtocol(new StimulusAvoidanceSettings { Stimulator = "bench", Targets = "sensory", Detector = "motor", Trials = 0 },
            detector, targets, interlock, channel);
        var stages = new IFastStage[]
        {
            new TraceExtractionStage(new TraceExtractionSettings(), rois, widthPx, heightPx, activity),
            new DffStage(new DffSettings(), activity),
            new DetectorStage(new[] { detector }, activity),
            protocol,
        };
        var source = new PrerenderedSource(rendered, widthPx, heightPx, imaging.FrameRateHz, warmup + frames);
        var pipeline = new RunPipeline(source, stages, new PipelineSettings { WarmupFrames = warmup });
        var result = pipeline.Run(context, stop, CancellationToken.None);
        if (result.Outcome != RunOutcome.Completed) throw new InvalidOperationException("benchmark run failed: " + result.FaultMessage);

        var loop = pipeline.Loop;
        double loopMeanUs = loop.BusyNs / 1e3 / loop.SteadyFrames;
        return new BenchResult(widthPx, heightPx, roiCount, loop.SteadyFrames,
            1e6 / loopMeanUs,
            source.SteadyWallFramesPerSecond(warmup),
            loop.AllocatedBytesPerFrame,
            loopMeanUs,
            BaselineCopyUs(rendered[0]),
            source.FramesAcquired - loop.FramesProcessed,
            interlock.Delivered, interlock.Refused,
            loop.Ledger.Summarise());
    }

    private static double BaselineCopyUs(ushort[] frame)
    {
        var target = new ushort[frame.Length];
        var h = new LatencyHistogram();
        for (int i = 0; i < 2000; i++)
        {
            long t0 = MonotonicClock.NowNs();
            frame.AsSpan().CopyTo(target);
            h.Record(MonotonicClock.NowNs() - t0);
        }
        return h.Quantile(0.5) / 1e3;
    }

    private static string F(double v) => v.ToString(v < 100 ? "0.0" : "0", CultureInfo.InvariantCulture);

    /// <summary>The benchmark's stimulation sink: counts what the interlock let through (no device in a benchmark).</summary>
    private sealed class CountingStimulator : IStimulator
    {
        private long _trains;
        public string Name => "bench";
        public bool IsActive => false;
        public void Deliver(in StimulationCommand command) => _trains++;
        public void AllOff() { }
    }

    /// <summary>Hands out copies of pre-rendered frames, one in flight at a time, stamped like a real source.</summary>
    private sealed class PrerenderedSource(ushort[][] frames, int widthPx, int heightPx, double frameRateHz, long count) : IFrameSource
    {
        private long _acquired, _dropped, _steadyStartNs, _endNs;
        public int WidthPx => widthPx;
        public int HeightPx => heightPx;
        public double FrameRateHz => frameRateHz;
        public long FramesAcquired => _acquired;
        public long FramesDroppedAtSource => _dropped;

        public double SteadyWallFramesPerSecond(int warmup) => (count - warmup) / ((_endNs - _steadyStartNs) / 1e9);

        public void Run(FramePool pool, BoundedLink<Frame> output, CancellationToken ct)
        {
            long periodNs = (long)(1e9 / frameRateHz);
            for (long i = 0; i < count; i++)
            {
                if (i == 500) _steadyStartNs = MonotonicClock.NowNs();
                if (!pool.TryRent(out var frame)) { _dropped++; _acquired++; continue; }
                long t0 = MonotonicClock.NowNs();
                frames[i % frames.Length].AsSpan().CopyTo(frame.Pixels);
                frame.FrameIndex = i;
                frame.SampleTimeNs = i * periodNs;
                frame.FramePeriodNs = periodNs;
                frame.AcquiredHostNs = t0;
                frame.CompletedHostNs = MonotonicClock.NowNs();
                _acquired++;
                output.TryWrite(frame);
                pool.WaitUntilAllReturned(TimeSpan.FromSeconds(10), ct);
            }
            _endNs = MonotonicClock.NowNs();
        }
    }
}

/// <summary>Figures of one benchmark run.</summary>
public sealed record BenchResult(int WidthPx, int HeightPx, int Rois, long FramesMeasured, double LoopFramesPerSecond,
    double WallFramesPerSecond, double AllocatedBytesPerFrame, double LoopMeanUs, double BaselineCopyP50Us, long FramesLost,
    long StimuliDelivered, long StimuliRefused, IReadOnlyList<LatencyStats> Latency);
