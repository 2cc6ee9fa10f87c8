using ClosedLoop.Core;
using ClosedLoop.Spikes.Cnn;

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
        var traces = SyntheticDff(units, distinct, rateHz, settings.DecayS);
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

    /// <summary>ΔF/F of <paramref name="units"/> units for <paramref name="frames"/> frames, frame-major: AR(1) calcium
    /// (decay <paramref name="decayS"/>) driven by 0.5 Hz Poisson spikes of 0.1, plus white noise of s.d. 0.02.</summary>
    private static float[] SyntheticDff(int units, int frames, double rateHz, double decayS)
    {
        var traces = new float[frames * units];
        var rng = new Random(5);
        double gamma = Math.Exp(-1 / (decayS * rateHz));
        for (int i = 0; i < units; i++)
        {
            double c = 0;
            for (int t = 0; t < frames; t++)
            {
                c = gamma * c + (rng.NextDouble() < 0.5 / rateHz ? 0.1 : 0);
                traces[t * units + i] = (float)(c + 0.02 * Gauss(rng));
            }
        }
        return traces;
    }

    private static double Gauss(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>
    /// Per-frame cost of the CNN ensemble for <paramref name="rois"/> ROIs two ways, in one run: the streaming stage
    /// (<see cref="CnnSpikeStage"/>: interpolation to the model rate, normalisation, ceil(model / frame rate) streaming
    /// steps) at <paramref name="frameRateHz"/>, and the window baseline (<see cref="SpikeCnnInference.RunWindows"/>: one
    /// W-sample window per ROI per frame through every model, backend <paramref name="baseline"/>).
    /// </summary>
    public static CnnStreamBenchResult RunCnn(IReadOnlyList<(byte[] Bytes, string Source)> models, int rois, int frames, double frameRateHz,
        ClosedLoop.Models.Inference.BackendKind baseline)
    {
        var loaded = models.Select(m => SpikeCnnModel.Load(m.Bytes, m.Source)).ToArray();
        var (stream, stepsPerFrame) = RunCnnStage(loaded, rois, frames, frameRateHz);

        // Baseline in the same run: the window forward of every model for every ROI.
        using var cnn = new SpikeCnnInference(models, baseline);
        int w = cnn.Models[0].WindowSamples;
        var windows = new float[rois * w];
        var rng = new Random(6);
        for (int i = 0; i < windows.Length; i++) windows[i] = (float)(rng.NextDouble() * 2 - 0.5);
        var mean = new float[rois]; var scratch = new float[rois];
        for (int i = 0; i < 20; i++) cnn.RunWindows(windows, rois, mean, scratch);
        int baseFrames = Math.Min(frames, 1000);
        var baseTimes = new long[baseFrames];
        long baseAlloc0 = GC.GetAllocatedBytesForCurrentThread();
        for (int f = 0; f < baseFrames; f++)
        {
            long t0 = MonotonicClock.NowNs();
            cnn.RunWindows(windows, rois, mean, scratch);
            baseTimes[f] = MonotonicClock.NowNs() - t0;
        }
        double baseBytes = (GC.GetAllocatedBytesForCurrentThread() - baseAlloc0) / (double)baseFrames;
        Array.Sort(baseTimes);
        var ensemble = new StreamingSpikeCnnEnsemble(loaded, 1);
        return new CnnStreamBenchResult(rois, frames, frameRateHz, loaded[0].RateHz, stepsPerFrame, loaded.Length, stream,
            new SpikesBenchResult(rois, baseFrames, baseTimes.Average() / 1e3, baseTimes[baseFrames / 2] / 1e3, baseTimes[(int)(0.99 * (baseFrames - 1))] / 1e3, baseTimes[^1] / 1e3, baseBytes),
            cnn.BackendName, ensemble.MultiplyAddsPerStep, ensemble.WindowMultiplyAdds);
    }

    /// <summary>
    /// Per-frame cost of the streaming stage alone (<see cref="CnnSpikeStage"/> on <paramref name="loaded"/>, synthetic
    /// ΔF/F, after a warm-up of 3 s of frames and the first normalisation): <paramref name="frames"/> frames of
    /// <paramref name="rois"/> ROIs at <paramref name="frameRateHz"/>. Returns the times and the steps per frame.
    /// </summary>
    public static (SpikesBenchResult Stream, int StepsPerFrame) RunCnnStage(IReadOnlyList<SpikeCnnModel> loaded, int rois, int frames, double frameRateHz)
    {
        var names = Enumerable.Range(0, rois).Select(i => "u" + i).ToArray();
        var activity = new PopulationActivity(rois, names);
        const int distinct = 3000;
        var traces = SyntheticDff(rois, distinct, frameRateHz, 0.7);
        using var stop = new CancellationTokenSource();
        using var stage = new CnnSpikeStage(new CnnSpikeSettings(), activity, loaded) { AutoRefit = false };
        stage.Start(new RunContext("spikes-cnn-bench", frameRateHz, new RunEventLog(), stop));
        var pool = new FramePool(1, 1, 1);
        if (!pool.TryRent(out var frame)) throw new InvalidOperationException("no frame");
        int warmup = (int)Math.Ceiling(3 * frameRateHz) + 200;
        var times = new long[frames];
        long allocated = 0;
        for (int f = 0; f < warmup + frames; f++)
        {
            frame.FrameIndex = activity.FrameIndex = f;
            traces.AsSpan((f % distinct) * rois, rois).CopyTo(activity.Dff);
            if (f == warmup - 200 && stage.Refit() is null) throw new InvalidOperationException("no normalisation after the warm-up");
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
        return (new SpikesBenchResult(rois, frames, times.Average() / 1e3, times[frames / 2] / 1e3, times[(int)(0.99 * (frames - 1))] / 1e3, times[^1] / 1e3, bytes),
            stage.StepsPerFrame);
    }
}

/// <summary>Streaming CNN stage against the window baseline, measured in one run.</summary>
/// <param name="Rois">ROIs per frame.</param>
/// <param name="Frames">Frames measured for the stage.</param>
/// <param name="FrameRateHz">Imaging frame rate.</param>
/// <param name="ModelRateHz">Rate the models work at.</param>
/// <param name="StepsPerFrame">Streaming steps per frame at most (ceil(model / frame rate)).</param>
/// <param name="Models">Models in the ensemble.</param>
/// <param name="Stream">The stage per frame.</param>
/// <param name="Window">RunWindows per frame (one window per ROI, all models).</param>
/// <param name="WindowBackend">Backend of the baseline.</param>
/// <param name="StreamMultiplyAdds">Multiply-adds per ROI per streaming step, all models.</param>
/// <param name="WindowMultiplyAdds">Multiply-adds per ROI per window forward, all models.</param>
public sealed record CnnStreamBenchResult(int Rois, int Frames, double FrameRateHz, double ModelRateHz, int StepsPerFrame, int Models,
    SpikesBenchResult Stream, SpikesBenchResult Window, string WindowBackend, long StreamMultiplyAdds, long WindowMultiplyAdds)
{
    /// <summary>Window p50 over stream p50.</summary>
    public double SpeedUp => Window.P50Us / Stream.P50Us;
}
