using ClosedLoop.Core;
using ClosedLoop.Imaging.Segmentation;

namespace ClosedLoop.Imaging.Tests.Segmentation;

public class PreprocessingTests
{
    private const int H = 8, W = 16, P = H * W;

    private static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    [Fact]
    public void Template_IsReversedTransientNormalisedToOne_WithDelayInsideIt()
    {
        var s = SnrSettings.ForIndicator("GCaMP6s", 30);
        var pre = new SnrPreprocessor(s, H, W);
        var h = pre.Taps.ToArray();
        Assert.Equal(1.0, h.Sum(), 5);
        // Oldest tap is the transient's first frame (small, rising); the newest is its tail after the peak (≥ cut-off).
        int peak = Array.IndexOf(h, h.Max());
        Assert.True(peak > 0 && peak < h.Length - 1, $"peak tap {peak} of {h.Length}");
        Assert.True(h[^1] < h[peak] * 0.5, "the oldest tap (first frame of the transient) is below half the peak");
        Assert.True(h[0] >= h[peak] * 0.5 - 1e-6, "the newest tap (the cut tail) is at least the cut-off");
        Assert.InRange(pre.DelayFrames, 1, h.Length - 1);
        // GCaMP6f is faster: a shorter template at the same rate.
        Assert.True(new SnrPreprocessor(SnrSettings.ForIndicator("GCaMP6f", 30), H, W).TemplateLength < h.Length);
    }

    [Fact]
    public void KnownNoiseAndTransients_SnrIsAmplitudeOverFilteredNoise_BaselineZero_NoiseOne()
    {
        var s = SnrSettings.ForIndicator("GCaMP6f", 30) with { BaselineTimeConstantS = 10 };
        var pre = new SnrPreprocessor(s, H, W);
        var rng = new Random(3);
        const double sigma = 20, baseline = 1000, amplitude = 60;
        var frame = new float[P];
        var snr = new float[P];
        int frames = 13000;
        var quiet = new List<float>();
        var plateau = new List<float>();
        int L = pre.TemplateLength;
        for (int t = 0; t < frames; t++)
        {
            // A 40-frame plateau of +amplitude every 2000 frames (2 % of the time, after the first 1000 frames): long
            // enough for the filter to fill, rare enough not to bias the robust baseline and noise much.
            bool up = t >= 1000 && t % 2000 < 40;
            for (int i = 0; i < P; i++) frame[i] = (float)(baseline + (up ? amplitude : 0) + sigma * Gaussian(rng));
            pre.Process(frame, snr);
            if (t < 1000) continue;
            int phase = t % 2000;
            if (phase >= L && phase < 40) plateau.AddRange(snr);
            else if (phase > 40 + L) quiet.AddRange(snr);
        }
        double expected = amplitude / (sigma * pre.NoiseGain);
        double meanPlateau = plateau.Average(v => (double)v);
        Assert.InRange(meanPlateau / expected, 0.85, 1.15);
        double mean = quiet.Average(v => (double)v);
        double sd = Math.Sqrt(quiet.Average(v => (v - mean) * (v - mean)));
        Assert.InRange(mean, -0.15, 0.15);
        Assert.InRange(sd, 0.9, 1.1);
    }

    [Fact]
    public void Filter_EqualsDirectConvolution_AndTrackersMatchBatchMedianAndMad()
    {
        var s = SnrSettings.ForIndicator("GCaMP6f", 30) with { BaselineTimeConstantS = 20 };
        var pre = new SnrPreprocessor(s, H, W);
        var rng = new Random(5);
        int frames = 3000;
        var raw = new float[frames][];
        var filtered = new float[frames][];
        var snr = new float[P];
        var levels = Enumerable.Range(0, P).Select(i => 200.0 + 10 * i).ToArray();
        for (int t = 0; t < frames; t++)
        {
            raw[t] = new float[P];
            for (int i = 0; i < P; i++) raw[t][i] = (float)(levels[i] + Math.Sqrt(levels[i]) * Gaussian(rng));
            pre.Process(raw[t], snr);
            filtered[t] = pre.Filtered.ToArray();
        }
        var h = pre.Taps;
        for (int t = 0; t < frames; t += 97)
            for (int i = 0; i < P; i += 7)
            {
                double y = 0;
                for (int k = 0; k < h.Length; k++) y += h[k] * raw[Math.Max(0, t - k)][i];
                Assert.Equal(y, filtered[t][i], 0.05);
            }
        // Batch recomputation over the last 1000 frames (stationary noise): median and 1.4826 × median |y − median|.
        // Both the tracker and a 1000-frame batch of a filtered (correlated) series scatter by several per cent per
        // pixel, so each pixel gets a loose bound and the average over the 128 pixels a tight one.
        double sumRatio = 0, sumOffset = 0;
        for (int i = 0; i < P; i++)
        {
            var ys = Enumerable.Range(frames - 1000, 1000).Select(t => (double)filtered[t][i]).Order().ToArray();
            double med = ys[ys.Length / 2];
            var dev = ys.Select(v => Math.Abs(v - med)).Order().ToArray();
            double sigma = 1.4826 * dev[dev.Length / 2];
            Assert.InRange(pre.Median[i], med - 0.4 * sigma, med + 0.4 * sigma);
            Assert.InRange(pre.NoiseAt(i) / sigma, 0.7, 1.3);
            sumRatio += pre.NoiseAt(i) / sigma;
            sumOffset += (pre.Median[i] - med) / sigma;
        }
        Assert.InRange(sumRatio / P, 0.95, 1.05);
        Assert.InRange(sumOffset / P, -0.05, 0.05);
    }

    [Fact]
    public void Process_AllocatesNothingPerFrame()
    {
        var pre = new SnrPreprocessor(SnrSettings.ForIndicator("GCaMP6s", 30) with { BackgroundRadiusPx = 4 }, H, W);
        var frame = new ushort[P];
        var snr = new float[P];
        var rng = new Random(1);
        for (int i = 0; i < P; i++) frame[i] = (ushort)rng.Next(100, 200);
        for (int t = 0; t < 200; t++) pre.Process(frame, snr); // past warm-up, JIT settled
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int t = 0; t < 500; t++) { frame[t % P]++; pre.Process(frame, snr); }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Reset_ForgetsState_SameOutputAsAFreshPreprocessor()
    {
        var s = SnrSettings.ForIndicator("GCaMP6f", 30);
        var a = new SnrPreprocessor(s, H, W);
        var b = new SnrPreprocessor(s, H, W);
        var rng = new Random(2);
        var frames = Enumerable.Range(0, 150).Select(_ => Enumerable.Range(0, P).Select(_ => (ushort)rng.Next(50, 150)).ToArray()).ToArray();
        var sa = new float[P];
        var sb = new float[P];
        foreach (var f in frames) a.Process(f, sa);
        a.Reset();
        foreach (var f in frames) { a.Process(f, sa); b.Process(f, sb); }
        Assert.Equal(sb, sa);
    }

    [Fact]
    public void BackgroundRadius_SubtractsTheLocalMeanSnr_SoAFieldWideSwingVanishes()
    {
        var plain = SnrSettings.ForIndicator("GCaMP6f", 30);
        var a = new SnrPreprocessor(plain, H, W);
        var b = new SnrPreprocessor(plain with { BackgroundRadiusPx = 3 }, H, W);
        var rng = new Random(9);
        var frame = new float[P];
        var sa = new float[P];
        var sb = new float[P];
        double meanA = 0, meanB = 0;
        for (int t = 0; t < 400; t++)
        {
            bool swing = t >= 300 && t < 340; // the whole field brightens by 3 σ (shared neuropil, laser power)
            for (int i = 0; i < P; i++) frame[i] = (float)(500 + (swing ? 60 : 0) + 20 * Gaussian(rng));
            a.Process(frame, sa);
            b.Process(frame, sb);
            if (t >= 320 && t < 340) { meanA += sa.Average() / 20; meanB += sb.Average() / 20; }
        }
        Assert.True(meanA > 3, $"without the high-pass the swing shows as SNR {meanA:0.0}");
        Assert.InRange(meanB, -0.3, 0.3);
        // Exactly the plain SNR minus its (2r+1)² box mean, clipped at the edges.
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
            {
                double sum = 0; int n = 0;
                for (int yy = Math.Max(0, y - 3); yy <= Math.Min(H - 1, y + 3); yy++)
                    for (int xx = Math.Max(0, x - 3); xx <= Math.Min(W - 1, x + 3); xx++) { sum += sa[yy * W + xx]; n++; }
                Assert.Equal(sa[y * W + x] - sum / n, sb[y * W + x], 3);
            }
    }

    [Theory]
    [InlineData("frameRateHz")]
    [InlineData("templateCutoff")]
    [InlineData("indicatorRiseS")]
    [InlineData("baselineTimeConstantS")]
    public void BadSettings_NameTheField(string field)
    {
        var s = SnrSettings.ForIndicator("GCaMP6s", 30);
        s = field switch
        {
            "frameRateHz" => s with { FrameRateHz = 0 },
            "templateCutoff" => s with { TemplateCutoff = 2 },
            "indicatorRiseS" => s with { IndicatorRiseS = 2 },
            _ => s with { BaselineTimeConstantS = 0.1 },
        };
        var ex = Assert.Throws<SettingException>(() => new SnrPreprocessor(s, H, W));
        Assert.Equal("segmentation." + field, ex.Setting);
        var unknown = Assert.Throws<SettingException>(() => SnrSettings.ForIndicator("jRGECO", 30));
        Assert.Equal("segmentation.indicator", unknown.Setting);
        Assert.Contains("GCaMP6s", unknown.Message);
    }
}
