using System.Globalization;
using ClosedLoop.Core;
using ClosedLoop.FirmwareSim;
using ClosedLoop.Hardware;
using ClosedLoop.Imaging;
using ClosedLoop.Imaging.Registration;
using Spectre.Console;

namespace ClosedLoop.Cli;

/// <summary>
/// <c>closedloop bench --registration</c>: the cost of online motion correction per 512×512 frame (rigid, and
/// piecewise-rigid on a 4 × 4 grid), against baselines measured in the same run on the same frames (copying a frame;
/// trace extraction of the tissue's 300 ROIs), and its accuracy against the virtual tissue's known motion at a realistic
/// noise level (ν = 1 %/√Hz). Frames are rendered outside the timed region; only the correction is timed.
/// </summary>
public static class RegistrationBench
{
    private const int Side = 512;

    /// <summary>One timed case.</summary>
    /// <param name="Name">What was timed.</param>
    /// <param name="Stats">Per-frame cost, µs.</param>
    /// <param name="ErrorRmsPx">RMS error of the shift against the truth (offset-free), px, where it applies.</param>
    /// <param name="Note">How the error was measured.</param>
    /// <param name="CpuMeanUs">Mean CPU time of the benchmark thread per frame, µs (Linux; null elsewhere): less affected
    /// than wall-clock percentiles by other processes taking the core.</param>
    public sealed record Case(string Name, LatencyStats Stats, double? ErrorRmsPx, string Note, double? CpuMeanUs = null);

    /// <summary>Runs the benchmark and prints it; returns the exit code.</summary>
    public static int Execute(int frames, IAnsiConsole console)
    {
        try { Check.InRange("--frames", frames, 50, 100_000); }
        catch (SettingException ex)
        {
            console.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
            return ExitCodes.BadInput;
        }
        console.MarkupLine($"Motion-correction benchmark: {Side}×{Side} px frames of moving virtual tissue (ν = 1), {frames:N0} timed frames per case, one core …");
        var cases = Run(frames);
        var t = new Table().Border(TableBorder.Rounded).Title("per-frame cost (µs) and accuracy")
            .AddColumns("case", "p50", "p99", "max", "mean", "CPU", "p50/copy", "error (px)");
        double copy = cases[0].Stats.P50Us;
        foreach (var c in cases)
        {
            t.AddRow(Markup.Escape(c.Name), F(c.Stats.P50Us), F(c.Stats.P99Us), F(c.Stats.MaxUs), F(c.Stats.MeanUs),
                c.CpuMeanUs is double cpu ? F(cpu) : "",
                (c.Stats.P50Us / copy).ToString("0.0", CultureInfo.InvariantCulture) + "×",
                c.ErrorRmsPx is double e ? e.ToString("0.000", CultureInfo.InvariantCulture) : "");
        }
        console.Write(t);
        foreach (var c in cases.Where(c => c.Note.Length > 0)) console.MarkupLine($"[grey]{Markup.Escape(c.Name)}: {Markup.Escape(c.Note)}[/]");
        console.MarkupLine("[grey]p50/p99/max/mean: wall clock per frame; CPU: the thread's own CPU time per frame (mean). Timings on a shared or busy machine are noisy; compare the ratios to the baselines measured in the same run.[/]");
        return ExitCodes.Ok;
    }

    /// <summary>Measures every case; the first two are the baselines (frame copy, trace extraction).</summary>
    public static IReadOnlyList<Case> Run(int frames)
    {
        var cases = new List<Case>();
        var rigidMotion = new MotionProfile { Mode = MotionMode.Rigid, RmsPx = 2, TimeConstantS = 0.5, JumpRateHz = 0.1, JumpPx = 3 };
        var nonrigidMotion = new MotionProfile { Mode = MotionMode.Nonrigid, RmsPx = 2, TimeConstantS = 0.5, NonrigidRmsPx = 1, GridX = 4, GridY = 4 };

        // Baselines on the same frames.
        var tissue = Tissue(rigidMotion);
        var frame = new ushort[Side * Side];
        var copyTarget = new ushort[Side * Side];
        var rois = Session.TissueRois(tissue.Footprints);
        var activity = rois.CreateActivity();
        var traces = new TraceExtractionStage(new TraceExtractionSettings(), rois, Side, Side, activity);
        traces.Start(new RunContext("bench", 30, new RunEventLog(), new CancellationTokenSource()));
        var pool = new FramePool(Side, Side, 1);
        pool.TryRent(out var pooled);
        var copyH = new LatencyHistogram();
        var traceH = new LatencyHistogram();
        long copyCpu = 0, traceCpu = 0;
        for (int f = 0; f < frames + 20; f++)
        {
            tissue.Render(frame);
            long c0 = ThreadCpuNs();
            long t0 = MonotonicClock.NowNs();
            frame.AsSpan().CopyTo(copyTarget);
            long t1 = MonotonicClock.NowNs();
            long c1 = ThreadCpuNs();
            frame.AsSpan().CopyTo(pooled!.Pixels);
            long c2 = ThreadCpuNs();
            long t2 = MonotonicClock.NowNs();
            traces.Process(pooled);
            long t3 = MonotonicClock.NowNs();
            long c3 = ThreadCpuNs();
            if (f < 20) continue;
            copyCpu += c1 - c0;
            traceCpu += c3 - c2;
            copyH.Record(t1 - t0);
            traceH.Record(t3 - t2);
        }
        pooled!.Release();
        cases.Add(new Case("copy one frame", copyH.Summarise("copy"), null, "baseline: copying the 512×512 frame", Cpu(copyCpu, frames)));
        cases.Add(new Case($"traces ({rois.Count} ROIs)", traceH.Summarise("traces"), null, "baseline: the trace extraction stage on the same frames", Cpu(traceCpu, frames)));

        var rigid = new MotionCorrectionSettings { Mode = MotionCorrectionMode.Rigid };
        cases.Add(TimeRigid("rigid 2×bin 128", rigid, rigidMotion, frames, "rigid, binning 2, patch 128 binned px (the defaults)"));
        cases.Add(TimeRigid("rigid 4×bin 64", new MotionCorrectionSettings { Binning = 4, PatchPx = 64 }, rigidMotion, frames, "rigid, binning 4, patch 64"));
        cases.Add(TimeRigid("rigid 1×bin 256", new MotionCorrectionSettings { Binning = 1, PatchPx = 256 }, rigidMotion, frames, "rigid, no binning, patch 256"));
        cases.Add(TimePiecewise("piecewise 4×4",
            new MotionCorrectionSettings { Mode = MotionCorrectionMode.PiecewiseRigid, MaxPatchDeviationPx = 6 }, nonrigidMotion, frames));
        return cases;
    }

    private static VirtualTissue Tissue(MotionProfile motion) => new(new TissueProfile
    {
        Footprints = "generated",
        GeneratedNeuronCount = 300,
        NeuronRadiusPx = 5,
        SpontaneousRateHz = 0.5,
        NoiseLevel = 1,
        Motion = motion,
    }, new ImagingProfile { WidthPx = Side, HeightPx = Side, FrameRateHz = 30 }, seed: 21);

    private static Case TimeRigid(string name, MotionCorrectionSettings settings, MotionProfile motion, int frames, string note)
    {
        var ex = new List<double>();
        var ey = new List<double>();
        var (h, cpu) = Time(name, settings, motion, frames, (tissue, corrector, s) =>
        {
            ex.Add(s.ShiftXPx - tissue.MotionDxPx);
            ey.Add(s.ShiftYPx - tissue.MotionDyPx);
        });
        return new Case(name, h, OffsetFreeRms([ex], [ey]),
            note + "; error: shift vs the true rigid motion (2 px RMS per axis, jumps)", cpu);
    }

    private static Case TimePiecewise(string name, MotionCorrectionSettings settings, MotionProfile motion, int frames)
    {
        int points = 5;
        var px = new List<double>[points * points];
        var py = new List<double>[points * points];
        var rx = new List<double>[points * points];
        var ry = new List<double>[points * points];
        for (int i = 0; i < px.Length; i++) { px[i] = []; py[i] = []; rx[i] = []; ry[i] = []; }
        var (h, cpu) = Time(name, settings, motion, frames, (tissue, corrector, s) =>
        {
            for (int i = 0; i < points * points; i++)
            {
                int x = (int)((i % points + 0.5) * Side / points), y = (int)((i / points + 0.5) * Side / points);
                var (tx, ty) = TrueShift(tissue, x, y);
                var (fx, fy) = corrector.Field!.At(x, y);
                px[i].Add(fx - tx); py[i].Add(fy - ty);
                rx[i].Add(s.ShiftXPx - tx); ry[i].Add(s.ShiftYPx - ty);
            }
        });
        double rigidErr = OffsetFreeRms(rx, ry);
        return new Case(name, h, OffsetFreeRms(px, py),
            $"piecewise-rigid, 4 × 4 patches of 64 binned px, binning 2; error: field at 25 points vs the true non-rigid motion (1 px RMS per node on top of the rigid one), where the rigid shift alone errs by {rigidErr.ToString("0.000", CultureInfo.InvariantCulture)} px", cpu);
    }

    /// <summary>Times the whole per-frame correction of <paramref name="frames"/> frames of moving tissue (after the
    /// reference frames and 20 more), wall clock and the thread's own CPU; <paramref name="trusted"/> sees each timed
    /// frame whose registration was confident, outside the timed region.</summary>
    private static (LatencyStats Latency, double? CpuUsPerFrame) Time(string name, MotionCorrectionSettings settings, MotionProfile motion, int frames,
        Action<VirtualTissue, MotionCorrector, MotionSample> trusted)
    {
        var tissue = Tissue(motion);
        var corrector = new MotionCorrector(settings, Side, Side);
        var frame = new ushort[Side * Side];
        var h = new LatencyHistogram();
        long cpu = 0;
        int warm = settings.ReferenceFrames + 20;
        for (int f = 0; f < frames + warm; f++)
        {
            tissue.Render(frame);
            long c0 = ThreadCpuNs();
            long t0 = MonotonicClock.NowNs();
            var s = corrector.Correct(frame);
            long t1 = MonotonicClock.NowNs();
            long c1 = ThreadCpuNs();
            if (f < warm) continue;
            h.Record(t1 - t0);
            cpu += c1 - c0;
            if (!s.LowConfidence) trusted(tissue, corrector, s);
        }
        return (h.Summarise(name), Cpu(cpu, frames));
    }

    /// <summary>RMS of √(ex² + ey²) after removing each series' mean: shifts are measured against the reference, which
    /// sits at the average position of its own frames.</summary>
    private static double OffsetFreeRms(IReadOnlyList<List<double>> ex, IReadOnlyList<List<double>> ey)
    {
        double sum = 0;
        int n = 0;
        for (int k = 0; k < ex.Count; k++)
        {
            if (ex[k].Count == 0) continue;
            double mx = ex[k].Average(), my = ey[k].Average();
            for (int i = 0; i < ex[k].Count; i++)
            {
                sum += (ex[k][i] - mx) * (ex[k][i] - mx) + (ey[k][i] - my) * (ey[k][i] - my);
                n++;
            }
        }
        return n == 0 ? double.NaN : Math.Sqrt(sum / n);
    }

    /// <summary>The tissue's displacement at (x, y): bilinear between its motion grid's nodes (docs/simulation.md).</summary>
    private static (double, double) TrueShift(VirtualTissue t, double x, double y)
    {
        int gx = t.MotionGridX, gy = t.MotionGridY;
        double fx = x / t.MotionNodeXPx(1), fy = y / t.MotionNodeYPx(1);
        int ix = Math.Min((int)fx, gx - 2), iy = Math.Min((int)fy, gy - 2);
        double ax = fx - ix, ay = fy - iy;
        var dx = t.MotionNodeDxPx;
        var dy = t.MotionNodeDyPx;
        double L(ReadOnlySpan<float> v) =>
            (1 - ay) * ((1 - ax) * v[iy * gx + ix] + ax * v[iy * gx + ix + 1]) + ay * ((1 - ax) * v[(iy + 1) * gx + ix] + ax * v[(iy + 1) * gx + ix + 1]);
        return (L(dx), L(dy));
    }

    private static double? Cpu(long totalNs, int frames) => totalNs < 0 || !OperatingSystem.IsLinux() ? null : totalNs / 1e3 / frames;

    /// <summary>CPU time this thread has used, ns (Linux: clock_gettime(CLOCK_THREAD_CPUTIME_ID)); −1 elsewhere.</summary>
    private static long ThreadCpuNs()
    {
        if (!OperatingSystem.IsLinux()) return -1;
        return ClockGetTime(3, out var ts) == 0 ? ts.Seconds * 1_000_000_000 + ts.Nanoseconds : -1;
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    private static string F(double v) => v.ToString(v < 100 ? "0.0" : "0", CultureInfo.InvariantCulture);
}
