using System.Diagnostics;
using ClosedLoop.Core;

namespace ClosedLoop.Scanning.Assembly;

/// <summary>What <see cref="AssemblyBenchmark.Run"/> assembles.</summary>
/// <param name="ResonantFrequencyHz">Resonant scanner frequency, in Hz.</param>
/// <param name="SampleRateHz">Detector sample rate per channel, in Hz.</param>
/// <param name="WidthPx">Pixels per line.</param>
/// <param name="HeightPx">Lines per frame.</param>
/// <param name="Channels">Detector channels.</param>
/// <param name="TemporalFillFraction">Imaged fraction of each half-period.</param>
/// <param name="MinDurationS">Least time to keep assembling, in seconds.</param>
public sealed record AssemblyBenchmarkSettings(
    double ResonantFrequencyHz = 7910, double SampleRateHz = 80e6, int WidthPx = 512, int HeightPx = 512,
    int Channels = 2, double TemporalFillFraction = 0.8, double MinDurationS = 2.0);

/// <summary>Figures from one benchmark run.</summary>
/// <param name="Frames">Frames assembled (each with every channel).</param>
/// <param name="ElapsedS">Wall time spent assembling, in seconds.</param>
/// <param name="FramesPerSecond">Frames assembled per second of wall time.</param>
/// <param name="MegabytesPerSecond">Detector data consumed per second (int16 samples of every channel, 10⁶ bytes).</param>
/// <param name="RealTimeRatio">Frames per second divided by the scanner's frame rate (≥ 1 keeps up).</param>
/// <param name="ScannerFrameRateHz">Frame rate of the simulated scan.</param>
/// <param name="AllocatedBytesPerFrame">Managed bytes allocated per assembled frame (expected 0).</param>
public sealed record AssemblyBenchmarkResult(
    int Frames, double ElapsedS, double FramesPerSecond, double MegabytesPerSecond, double RealTimeRatio,
    double ScannerFrameRateHz, double AllocatedBytesPerFrame)
{
    /// <inheritdoc/>
    public override string ToString() => FormattableString.Invariant(
        $"{Frames} frames in {ElapsedS:F2} s: {FramesPerSecond:F1} frames/s, {MegabytesPerSecond:F0} MB/s, {RealTimeRatio:F2}× real time (scan {ScannerFrameRateHz:F2} Hz), {AllocatedBytesPerFrame:F0} B allocated/frame");
}

/// <summary>
/// Measures frame assembly of a bidirectional resonant stream on the calling thread (one core): one frame of
/// synthetic detector samples with line-clock edges is generated, then assembled repeatedly, line sync included.
/// </summary>
public static class AssemblyBenchmark
{
    /// <summary>Runs the measurement (defaults: 7910 Hz bidirectional, 80 MS/s, 512 × 512 px, 2 channels).</summary>
    public static AssemblyBenchmarkResult Run(AssemblyBenchmarkSettings? settings = null)
    {
        var s = settings ?? new AssemblyBenchmarkSettings();
        Check.Positive("bench.minDurationS", s.MinDurationS);
        var map = PixelMap.Resonant(new ResonantGeometry(s.SampleRateHz, s.ResonantFrequencyHz, s.WidthPx, s.TemporalFillFraction, true));
        map.SetPhase(1.5);
        var assembler = new FrameAssembler(map, new AssemblySettings(s.HeightPx, s.Channels, AdcOffset: 100));
        double half = s.SampleRateHz / (2 * s.ResonantFrequencyHz);
        int perChannel = (int)Math.Ceiling((s.HeightPx + 1) * half);
        var samples = new short[perChannel * s.Channels];
        var rng = new Random(7);
        for (int i = 0; i < samples.Length; i++) samples[i] = (short)(100 + rng.Next(0, 2000));
        var edges = new long[s.HeightPx];
        for (int k = 0; k < edges.Length; k++) edges[k] = (long)Math.Round(k * half);
        var dest = new ushort[assembler.DestinationLength];

        assembler.AssembleFrame(samples, perChannel, edges, dest); // warm up (JIT)
        long allocated0 = GC.GetAllocatedBytesForCurrentThread();
        var sw = Stopwatch.StartNew();
        int frames = 0;
        while (sw.Elapsed.TotalSeconds < s.MinDurationS)
        {
            assembler.AssembleFrame(samples, perChannel, edges, dest);
            frames++;
        }
        sw.Stop();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocated0;
        double elapsed = sw.Elapsed.TotalSeconds;
        double fps = frames / elapsed;
        double scanFrameRate = s.SampleRateHz / (s.HeightPx * half);
        double bytesPerFrame = s.HeightPx * half * s.Channels * sizeof(short);
        return new AssemblyBenchmarkResult(frames, elapsed, fps, fps * bytesPerFrame / 1e6, fps / scanFrameRate, scanFrameRate, (double)allocated / frames);
    }
}
