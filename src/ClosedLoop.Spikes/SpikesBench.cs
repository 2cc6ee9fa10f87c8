using ClosedLoop.Core;

namespace ClosedLoop.Spikes;

/// <summary>Per-frame cost of <see cref="DeconvolutionStage"/> alone.</summary>
/// <param name="Units">Units deconvolved per frame.</param>
/// <param name="Frames">Frames measured (after warm-up).</param>
/// <param name="MeanUs">Mean time per frame, µs.</param>
/// <param name="P50Us">Median time per frame, µs.</param>
/// <param name="P99Us">99th percentile, µs.</param>
/// <param name="MaxUs">Longest frame, µs.</param>
/// <param name="AllocatedBytesPerFrame">Bytes allocated per frame on the measuring thread.</param>
public sealed record SpikesBenchResult(int Units, int Frames, double MeanUs, double P50Us, double P99Us, double MaxUs, double AllocatedBytesPerFrame);

/// <summary>Measures the deconvolution stage on synthetic ΔF/F (AR(1) calcium at 30 Hz with Poisson spikes and noise).</summary>
public static class SpikesBench
{
    /// <summary>Runs <paramref name="frames"/> frames (after 2000 of warm-up) of <paramref name="units"/> units through the stage.</summary>
    public static SpikesBenchResult Run(int units, int frames, OasisSettings settings)
    {
        const double rateHz = 30;
        const int warmup = 2000, distinct = 3000;
        var names = Enumerable.Range(0, units).Select(i => "u" + i).ToArray();
        var activity = new PopulationActivity(units, names);
        var traces = new float[distinct * units];
        var rng = new Random(5);
        double gamma = Math.Exp(-1 / (settings.DecayS * rateHz));
        for (int i = 0; i < units; i++)
        {
            double c = 0;
            for (int t = 0; t < distinct; t++)
            {
                c = gamma * c + (rng.NextDouble() < 0.5 / rateHz ? 0.1 : 0);
                traces[t * units + i] = (float)(c + 0.02 * Gauss(rng));
            }
        }
        using var stop = new CancellationTokenSource();
        var stage = new DeconvolutionStage(settings, activity);
        stage.Start(new RunContext("spikes-bench", rateHz, new RunEventLog(), stop));
        var pool = new FramePool(1, 1, 1);
        if (!pool.TryRent(out var frame)) throw new InvalidOperationException("no frame");
        var times = new long[frames];
        long allocated = 0;
        for (int f = 0; f < warmup + frames; f++)
        {
            frame.FrameIndex = activity.FrameIndex = f;
            traces.AsSpan((f % distinct) * units, units).CopyTo(activity.Dff);
            if (f == warmup) allocated = GC.GetAllocatedBytesForCurrentThread();
            long t0 = MonotonicClock.NowNs();
            stage.Process(frame);
            long dt = MonotonicClock.NowNs() - t0;
            if (f >= warmup) times[f - warmup] = dt;
        }
        double bytes = (GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)frames;
        stage.Stop();
        frame.Release();
        Array.Sort(times);
        return new SpikesBenchResult(units, frames, times.Average() / 1e3, times[frames / 2] / 1e3,
            times[(int)(0.99 * (frames - 1))] / 1e3, times[^1] / 1e3, bytes);
    }

    private static double Gauss(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
