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
        var frames = new Option<int?>("--frames") { Description = "Frames measured after warm-up (default 20,000; 6,000 per run with --record)." };
        var json = new Option<string?>("--json") { Description = "Also write the figures to this JSON file." };
        var scan = new Option<bool>("--scan") { Description = "Measure the scanning layer instead: waveform generation and frame assembly from raw samples." };
        var record = new Option<bool>("--record") { Description = "Measure what recording costs the loop (paced frames with and without the recorder) and the TIFF writer's throughput." };
        var speedUp = new Option<double>("--speed-up") { Description = "With --record: pace frames at this multiple of 30 Hz.", DefaultValueFactory = _ => 10 };
        var dir = new Option<string?>("--dir") { Description = "With --record: folder to record into (default: a scratch folder, deleted after)." };
        var bus = new Option<bool>("--bus") { Description = "Measure the ZeroMQ event bus: small messages per second on loopback tcp and inproc, and with a subscriber that never reads." };
        var dashboard = new Option<bool>("--dashboard") { Description = "Measure the dashboard: frames per second delivered to a WebSocket client at 512×512, and what it adds to the tap's cost." };
        var models = new Option<bool>("--models") { Description = "Measure the neural networks: spike CNN per frame for 1000 ROIs and U-Net frames/s, through ONNX Runtime and the managed forward." };
        var quick = new Option<bool>("--quick") { Description = "With --models, --bus or --segmentation: a shorter run." };
        var registration = new Option<bool>("--registration") { Description = "Measure online motion correction: rigid and piecewise-rigid registration of 512×512 frames of moving virtual tissue, cost per frame against a frame copy and trace extraction, and the error against the known motion." };
        var segmentation = new Option<bool>("--segmentation") { Description = "Measure the segmenter (SNR preprocessing + U-Net): frames/s at 120×88 on 2 threads and 512×512 on one, ONNX Runtime and managed, against the SUNS default network." };
        var onlineSegmentation = new Option<bool>("--online-segmentation") { Description = "Measure what online segmentation in the slow loop costs the fast loop: paced frames with and without a segmenting slow loop (a CPU-heavy stand-in for the model) in the same process." };
        var segmentationMs = new Option<double>("--segmentation-ms") { Description = "With --online-segmentation: the stand-in model's arithmetic per frame, ms.", DefaultValueFactory = _ => 2 };
        var cmd = new Command("bench", "Measure the fast loop on simulated frames: frames/s on one core, allocations per frame, latency percentiles from frame complete to stimulation decision.")
            { width, height, rois, frames, json, scan, record, speedUp, dir, bus, dashboard, models, quick, registration, segmentation };
        cmd.Options.Add(onlineSegmentation);
        cmd.Options.Add(segmentationMs);
        cmd.SetAction(p => p.GetValue(registration)
            ? RegistrationBench.Execute(p.GetValue(frames) ?? 1000, AnsiConsole.Console)
            : p.GetValue(segmentation)
            ? SegmentBench.Run(Console.Out, p.GetValue(quick))
            : p.GetValue(onlineSegmentation)
            ? OnlineSegmentationBench.Execute(p.GetValue(width), p.GetValue(height), p.GetValue(rois), p.GetValue(frames) ?? 6000, p.GetValue(speedUp), p.GetValue(segmentationMs), AnsiConsole.Console)
            : p.GetValue(scan)
            ? ScanBench.Execute(AnsiConsole.Console)
            : p.GetValue(bus) || p.GetValue(dashboard) || p.GetValue(models)
            ? LiveBenchmarks(p.GetValue(bus), p.GetValue(dashboard), p.GetValue(models), p.GetValue(quick), AnsiConsole.Console)
            : p.GetValue(record)
            ? RecordBench.Execute(p.GetValue(width), p.GetValue(height), p.GetValue(rois), p.GetValue(frames) ?? 6000, p.GetValue(speedUp), p.GetValue(dir), AnsiConsole.Console)
            : Execute(p.GetValue(width), p.GetValue(height), p.GetValue(rois), p.GetValue(frames) ?? 20_000, p.GetValue(json), AnsiConsole.Console));
        return cmd;
    }

    /// <summary>The benchmarks of the event bus, the dashboard and the networks, each printing its own figures.</summary>
    private static int LiveBenchmarks(bool bus, bool dashboard, bool models, bool quick, IAnsiConsole console)
    {
        try
        {
            if (bus)
            {
                console.MarkupLine("Event bus benchmark (libzmq, loopback) …");
                console.WriteLine(ClosedLoop.Messaging.BusBenchmark.Run(new ClosedLoop.Messaging.BusBenchmarkOptions { Messages = quick ? 50_000 : 200_000 }).ToText());
            }
            if (dashboard)
            {
                console.MarkupLine("Dashboard benchmark (512×512 frames at 60 Hz, a WebSocket client on loopback) …");
                console.WriteLine(ClosedLoop.Dashboard.DashboardBenchmark.RunAsync().GetAwaiter().GetResult().Format());
            }
            if (models)
            {
                console.MarkupLine("Networks benchmark (spike CNN and U-Net; ONNX Runtime and managed) …");
                var text = new StringWriter();
                ClosedLoop.Models.ModelsBenchmark.Run(text, new ClosedLoop.Models.ModelsBenchmarkOptions { Quick = quick });
                console.WriteLine(text.ToString());
            }
            return ExitCodes.Ok;
        }
        catch (SettingException ex)
        {
            console.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
            return ExitCodes.BadInput;
        }
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
        const int warmup = 500;
        using var bench = BenchLoop.Create(widthPx, heightPx, roiCount, warmup + frames, periodHostNs: 0);
        var pipeline = new RunPipeline(bench.Source, bench.Stages, new PipelineSettings { WarmupFrames = warmup });
        var result = pipeline.Run(bench.Context, bench.Stop, CancellationToken.None);
        if (result.Outcome != RunOutcome.Completed) throw new InvalidOperationException("benchmark run failed: " + result.FaultMessage);

        var loop = pipeline.Loop;
        double loopMeanUs = loop.BusyNs / 1e3 / loop.SteadyFrames;
        return new BenchResult(widthPx, heightPx, roiCount, loop.SteadyFrames,
            1e6 / loopMeanUs,
            bench.Source.SteadyWallFramesPerSecond(warmup),
            loop.AllocatedBytesPerFrame,
            loopMeanUs,
            BaselineCopyUs(bench.Rendered[0]),
            bench.Source.FramesAcquired - loop.FramesProcessed,
            bench.Interlock.Delivered, bench.Interlock.Refused,
            loop.Ledger.Summarise());
    }

    internal static double BaselineCopyUs(ushort[] frame)
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
}

/// <summary>Figures of one benchmark run.</summary>
public sealed record BenchResult(int WidthPx, int HeightPx, int Rois, long FramesMeasured, double LoopFramesPerSecond,
    double WallFramesPerSecond, double AllocatedBytesPerFrame, double LoopMeanUs, double BaselineCopyP50Us, long FramesLost,
    long StimuliDelivered, long StimuliRefused, IReadOnlyList<LatencyStats> Latency);
