using ClosedLoop.Core;
using ClosedLoop.Hardware;
using ClosedLoop.Imaging;
using Xunit.Abstractions;

namespace ClosedLoop.FirmwareSim.Tests;

/// <summary>The statistics of the virtual tissue that segmentation and spike inference are trained and scored on.</summary>
public sealed class TissueModelTests(ITestOutputHelper output)
{
    // ---- noise level -------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(1.0)]
    [InlineData(2.0)]
    [InlineData(4.0)]
    [InlineData(8.0)]
    public void Render_RequestedNoiseLevel_RoiTracesHaveItWithinTenPercent(double nu)
    {
        // YST part 11 masks at 30 Hz; traces are the mean over each ground-truth mask, ΔF/F against the trace's median,
        // ν from the project's own NoiseLevel code; the median over neurons must match the request.
        var profile = new TissueProfile { NoiseLevel = nu };
        var tissue = new VirtualTissue(profile, TissueSetup.Imaging(), seed: 21);
        const int frames = 1500;
        var traces = RoiTraces(tissue, frames);

        var measured = new double[tissue.NeuronCount];
        for (int n = 0; n < measured.Length; n++)
        {
            var sorted = traces[n].ToArray();
            Array.Sort(sorted);
            float f0 = sorted[frames / 2];
            var dff = traces[n].Select(v => (v - f0) / f0).ToArray();
            measured[n] = NoiseLevel.Compute(dff, tissue.FrameRateHz);
        }
        Array.Sort(measured);
        double median = measured[measured.Length / 2];
        output.WriteLine($"requested ν {nu}, measured median {median:F3}, photon scale {tissue.PhotonScale:F4}, soma photons/px/frame {tissue.NeuronBaselinePhotons:F3}");
        Assert.InRange(median, 0.9 * nu, 1.1 * nu);
    }

    [Fact]
    public void Constructor_NoiseLevel_ScalesPhotonsWithTheSquareOfTheRatio()
    {
        var imaging = TissueSetup.Imaging();
        var a = new VirtualTissue(new TissueProfile { NoiseLevel = 1 }, imaging, seed: 1);
        var b = new VirtualTissue(new TissueProfile { NoiseLevel = 2 }, imaging, seed: 1);

        Assert.Equal(4.0, a.NeuronBaselinePhotons / b.NeuronBaselinePhotons, 6);
        Assert.Equal(1.0, Median(a.PredictedNoiseLevel.ToArray()), 6);
    }

    // ---- spike trains ------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(SpikeSource.Poisson, 1.0)]
    [InlineData(SpikeSource.Spikefinder, 1.0)]
    [InlineData(SpikeSource.Spikefinder, 4.0)]
    public void Render_SpikeSource_MeanRateMatchesRequest(SpikeSource source, double rateHz)
    {
        var profile = TissueSetup.Generated(neurons: 60, rateHz: rateHz);
        profile.SpikeSource = source;
        var tissue = new VirtualTissue(profile, TissueSetup.Imaging(32, 32), seed: 3);
        const int frames = 9000; // 300 s at 30 Hz
        var spikes = new List<int>[tissue.NeuronCount];
        for (int n = 0; n < spikes.Length; n++) spikes[n] = new List<int>();
        for (int f = 0; f < frames; f++)
        {
            tissue.Advance();
            for (int n = 0; n < tissue.NeuronCount; n++)
                for (int k = 0; k < tissue.LastSpikes[n]; k++) spikes[n].Add(f);
        }
        double measured = spikes.Sum(s => s.Count) / (frames / tissue.FrameRateHz) / tissue.NeuronCount;
        output.WriteLine($"{source} at {rateHz} Hz: measured {measured:F3} Hz");
        Assert.InRange(measured, 0.9 * rateHz, 1.1 * rateHz);
    }

    [Fact]
    public void Render_SpikefinderSource_KeepsRealBurstinessThatPoissonLacks()
    {
        // Coefficient of variation of inter-spike intervals (in frames at 100 Hz): about 1 for Poisson, well above
        // 1 for the recorded trains (bursts and pauses).
        double Cv(SpikeSource source)
        {
            var profile = TissueSetup.Generated(neurons: 30, rateHz: 2);
            profile.SpikeSource = source;
            var tissue = new VirtualTissue(profile, TissueSetup.Imaging(32, 32, frameRateHz: 100), seed: 8);
            var last = new int[30];
            Array.Fill(last, -1);
            var intervals = new List<double>[30];
            for (int n = 0; n < 30; n++) intervals[n] = new List<double>();
            for (int f = 0; f < 30_000; f++)
            {
                tissue.Advance();
                for (int n = 0; n < 30; n++)
                    for (int k = 0; k < tissue.LastSpikes[n]; k++)
                    {
                        if (last[n] >= 0) intervals[n].Add(f - last[n]);
                        last[n] = f;
                    }
            }
            // Mean over neurons of each neuron's own CV (neurons fire at different rates).
            return intervals.Where(i => i.Count > 20).Average(i =>
            {
                double mean = i.Average();
                return Math.Sqrt(i.Sum(v => (v - mean) * (v - mean)) / i.Count) / mean;
            });
        }

        double poisson = Cv(SpikeSource.Poisson), real = Cv(SpikeSource.Spikefinder);
        output.WriteLine($"ISI CV: Poisson {poisson:F2}, Spikefinder {real:F2}");
        Assert.InRange(poisson, 0.9, 1.1);
        Assert.True(real > 1.3, $"Spikefinder ISI CV {real:F2}");
    }

    [Fact]
    public void SpikefinderExcerpt_HoldsRecordedNeuronsWithPlausibleRates()
    {
        var trains = SpikefinderTrains.Excerpt;

        Assert.Equal(15, trains.Count);
        Assert.Equal(10_342, trains.TimesS.Sum(t => t.Length));
        for (int i = 0; i < trains.Count; i++)
        {
            Assert.InRange(trains.RateHz(i), 0.1, 20);
            Assert.True(trains.TimesS[i].Last() < trains.DurationS[i]);
        }
    }

    // ---- indicator ---------------------------------------------------------------------------------------------

    public static TheoryData<string> Indicators => new() { "GCaMP6s", "GCaMP6f", "OGB-1" };

    [Theory]
    [MemberData(nameof(Indicators))]
    public void Render_IsolatedSpike_MeanResponseHasThePresetsKinetics(string indicator)
    {
        // 200 Hz, noise-free expected images, neuropil off: average the ROI ΔF/F after spikes that have no other
        // spike of the same neuron within 4 decay times.
        const double rateHz = 200;
        var profile = TissueSetup.Generated(neurons: 8, rateHz: 0.1);
        profile.Indicator = indicator;
        profile.NeuropilFraction = 0;
        var tissue = new VirtualTissue(profile, TissueSetup.Imaging(96, 96, rateHz), seed: 5);
        var model = tissue.Indicator;
        int frames = (int)(150 * rateHz);
        var image = new float[96 * 96];
        var traces = new double[tissue.NeuronCount][];
        var spikeFrames = new List<int>[tissue.NeuronCount];
        for (int n = 0; n < traces.Length; n++) { traces[n] = new double[frames]; spikeFrames[n] = new List<int>(); }
        for (int f = 0; f < frames; f++)
        {
            tissue.AdvanceExpected(image);
            for (int n = 0; n < traces.Length; n++)
            {
                double sum = 0;
                var pixels = tissue.Footprints.PixelsOf(n);
                foreach (int p in pixels) sum += image[p];
                traces[n][f] = sum / pixels.Length;
                if (tissue.LastSpikes[n] > 0) spikeFrames[n].Add(f);
            }
        }

        int window = (int)(4 * model.DecayS * rateHz);
        var mean = new double[window];
        int used = 0;
        for (int n = 0; n < traces.Length; n++)
        {
            double f0 = traces[n].Min();
            var s = spikeFrames[n];
            for (int i = 0; i < s.Count; i++)
            {
                bool isolated = (i == 0 || s[i] - s[i - 1] > window) && (i + 1 == s.Count || s[i + 1] - s[i] > window)
                                && s[i] + window < frames && s[i] > window;
                if (!isolated) continue;
                for (int k = 0; k < window; k++) mean[k] += (traces[n][s[i] + k] - f0) / f0;
                used++;
            }
        }
        Assert.True(used >= 10, $"only {used} isolated spikes");
        for (int k = 0; k < window; k++) mean[k] /= used;

        // Frame k (0 = the spike's frame) shows the transient (k + 1)/f after the spike.
        int peak = Array.IndexOf(mean, mean.Max());
        double timeToPeakS = (peak + 1) / rateHz;
        int half = peak;
        while (half < window - 1 && mean[half + 1] > 0.5 * mean[peak]) half++;
        double fraction = (mean[half] - 0.5 * mean[peak]) / (mean[half] - mean[half + 1]);
        double halfDecayS = (half + fraction - peak) / rateHz;
        output.WriteLine($"{indicator}: peak ΔF/F {mean[peak]:F3} at {timeToPeakS * 1000:F0} ms (model {model.TimeToPeakS * 1000:F0} ms), " +
                         $"half decay {halfDecayS * 1000:F0} ms (model {model.HalfDecayFromPeakS * 1000:F0} ms), {used} spikes");

        Assert.InRange(timeToPeakS, model.TimeToPeakS * 0.9 - 1 / rateHz, model.TimeToPeakS * 1.1 + 1 / rateHz);
        Assert.InRange(halfDecayS, model.HalfDecayFromPeakS * 0.9, model.HalfDecayFromPeakS * 1.1);
        // The mask-mean ΔF/F is the footprint's weighted mean response (weights 0.6–1), so a little below the peak ΔF/F.
        Assert.InRange(mean[peak], 0.7 * model.DffPerSpike, 1.0 * model.DffPerSpike);
    }

    [Fact]
    public void IndicatorPresets_MatchPublishedKineticsRoughly()
    {
        Assert.InRange(IndicatorModel.GCaMP6s.TimeToPeakS, 0.1, 0.3);
        Assert.InRange(IndicatorModel.GCaMP6f.TimeToPeakS, 0.03, 0.1);
        Assert.InRange(IndicatorModel.Ogb1.TimeToPeakS, 0, 0.05);
        Assert.True(IndicatorModel.GCaMP6f.HalfDecayFromPeakS < 0.5 * IndicatorModel.GCaMP6s.HalfDecayFromPeakS);
    }

    [Fact]
    public void Render_ManySpikesAtOnce_SaturateTheResponsePerSpike()
    {
        var profile = TissueSetup.Generated(neurons: 4, rateHz: 0);
        var single = new VirtualTissue(profile, TissueSetup.Imaging(64, 64), seed: 2);
        var burst = new VirtualTissue(profile, TissueSetup.Imaging(64, 64), seed: 2);
        var frame = new ushort[64 * 64];
        single.Stimulate(new StimulationCommand(TissueSetup.TargetsOn(single, [0]), 200, 5, 1, 1, 0));
        burst.Stimulate(new StimulationCommand(TissueSetup.TargetsOn(burst, [0]), 200, 2, 30, 200, 0));
        double peakSingle = 0, peakBurst = 0;
        for (int f = 0; f < 30; f++)
        {
            single.Render(frame);
            burst.Render(frame);
            peakSingle = Math.Max(peakSingle, single.TrueDff[0]);
            peakBurst = Math.Max(peakBurst, burst.TrueDff[0]);
        }
        long spikes = burst.SpikeCounts[0];
        Assert.Equal(1, single.SpikeCounts[0]);
        Assert.True(spikes >= 20, $"the burst fired {spikes} spikes");
        double perSpikeBurst = peakBurst / spikes, perSpikeSingle = peakSingle;
        output.WriteLine($"ΔF/F per spike: single {perSpikeSingle:F3}, burst of {spikes} {perSpikeBurst:F3}");
        Assert.True(perSpikeBurst < 0.6 * perSpikeSingle);
    }

    // ---- brightness: bleaching and drift -----------------------------------------------------------------------

    [Fact]
    public void Render_Bleaching_HalvesBrightnessAtTauLn2()
    {
        var profile = TissueSetup.Generated(neurons: 20, rateHz: 0);
        profile.NeuropilFraction = 0;
        profile.BleachTauS = 10;
        var tissue = new VirtualTissue(profile, TissueSetup.Imaging(64, 64), seed: 4);
        var frame = new ushort[64 * 64];
        int halfFrame = (int)Math.Round(10 * Math.Log(2) * tissue.FrameRateHz);
        double first = 0, atHalf = 0;
        for (int f = 0; f <= halfFrame; f++)
        {
            tissue.Render(frame);
            if (f == 0) first = frame.Average(v => (double)v);
            if (f == halfFrame) atHalf = frame.Average(v => (double)v);
        }
        Assert.InRange(atHalf / first, 0.48, 0.52);
        Assert.InRange(tissue.Brightness, 0.499, 0.501);
    }

    [Fact]
    public void Render_Drift_BrightnessWandersWithTheRequestedSpread()
    {
        var profile = TissueSetup.Generated(neurons: 10, rateHz: 0);
        profile.DriftFraction = 0.1;
        profile.DriftTimeConstantS = 1;
        profile.NeuronDriftFraction = 0.05;
        var tissue = new VirtualTissue(profile, TissueSetup.Imaging(32, 32), seed: 6);
        var logs = new List<double>();
        for (int f = 0; f < 6000; f++)
        {
            tissue.Advance();
            logs.Add(Math.Log(tissue.Brightness));
        }
        double mean = logs.Average();
        double sd = Math.Sqrt(logs.Sum(v => (v - mean) * (v - mean)) / logs.Count);
        Assert.InRange(sd, 0.08, 0.12);
    }

    // ---- motion ------------------------------------------------------------------------------------------------

    [Fact]
    public void AdvanceExpected_RigidMotion_RegistrationRecoversTheTrueShift()
    {
        // The same seed with and without motion lives the same biology, so the still tissue's image is the reference.
        var still = TissueSetup.Generated(neurons: 60, rateHz: 0.5);
        var moving = TissueSetup.Generated(neurons: 60, rateHz: 0.5);
        moving.Motion = new MotionProfile { Mode = MotionMode.Rigid, RmsPx = 2, TimeConstantS = 0.3, JumpRateHz = 0.5, JumpPx = 2 };
        var imaging = TissueSetup.Imaging(96, 96);
        var a = new VirtualTissue(still, imaging, seed: 9);
        var b = new VirtualTissue(moving, imaging, seed: 9);
        var reference = new float[96 * 96];
        var image = new float[96 * 96];
        double worst = 0, sumSq = 0;
        const int frames = 40;
        for (int f = 0; f < frames; f++)
        {
            for (int skip = 0; skip < 3; skip++) { a.Advance(); b.Advance(); }
            a.AdvanceExpected(reference);
            b.AdvanceExpected(image);
            var (dx, dy) = EstimateShift(reference, image, 96, 96, 48, 48, 32);
            double err = Math.Max(Math.Abs(dx - b.MotionDxPx), Math.Abs(dy - b.MotionDyPx));
            worst = Math.Max(worst, err);
            sumSq += Math.Pow(b.MotionDxPx, 2) + Math.Pow(b.MotionDyPx, 2);
        }
        double rms = Math.Sqrt(sumSq / (2 * frames));
        output.WriteLine($"worst error {worst:F3} px, shift RMS {rms:F2} px");
        Assert.True(worst <= 0.1, $"worst error {worst:F3} px");
        Assert.InRange(rms, 0.8, 4);
    }

    [Fact]
    public void AdvanceExpected_NonrigidMotion_EveryPixelIsTheReferenceAtItsGridDisplacement()
    {
        // frame(x, y) = reference(x − dx(x, y), y − dy(x, y)), with (dx, dy) the bilinear interpolation of the grid
        // node shifts: rebuilt here independently from the still twin and the ground truth, pixel by pixel.
        var still = TissueSetup.Generated(neurons: 120, rateHz: 0.5);
        var moving = TissueSetup.Generated(neurons: 120, rateHz: 0.5);
        moving.Motion = new MotionProfile { Mode = MotionMode.Nonrigid, RmsPx = 1, NonrigidRmsPx = 1.5, GridX = 3, GridY = 4 };
        const int w = 128, h = 112;
        var imaging = TissueSetup.Imaging(w, h);
        var a = new VirtualTissue(still, imaging, seed: 12);
        var b = new VirtualTissue(moving, imaging, seed: 12);
        var reference = new float[w * h];
        var image = new float[w * h];
        double worstRelative = 0, spread = 0, worstPatch = 0;
        for (int f = 0; f < 10; f++)
        {
            for (int skip = 0; skip < 5; skip++) { a.Advance(); b.Advance(); }
            a.AdvanceExpected(reference);
            b.AdvanceExpected(image);
            double peak = image.Max();
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    var (dx, dy) = GridShiftAt(b, x, y);
                    double expected = Bilinear(reference, w, h, x - dx, y - dy);
                    worstRelative = Math.Max(worstRelative, Math.Abs(image[y * w + x] - expected) / peak);
                }
            var shifts = new List<double>();
            foreach (var (cx, cy) in new[] { (32, 28), (96, 28), (32, 84), (96, 84) })
            {
                var (tx, ty) = GridShiftAt(b, cx, cy);
                var (ex, ey) = EstimateShift(reference, image, w, h, cx, cy, 8);
                worstPatch = Math.Max(worstPatch, Math.Max(Math.Abs(ex - tx), Math.Abs(ey - ty)));
                shifts.Add(tx);
            }
            spread = Math.Max(spread, shifts.Max() - shifts.Min());
        }
        output.WriteLine($"worst pixel error {worstRelative:E2} of the peak, worst 16×16 patch estimate error {worstPatch:F3} px, spread of patch shifts {spread:F2} px");
        Assert.True(worstRelative < 1e-4, $"worst pixel error {worstRelative:E2} of the peak");
        Assert.True(worstPatch < 0.3, $"worst patch error {worstPatch:F3} px");
        Assert.True(spread > 1, "the patches should move differently");
    }

    private static double Bilinear(float[] image, int w, int h, double x, double y)
    {
        x = Math.Clamp(x, 0, w - 1);
        y = Math.Clamp(y, 0, h - 1);
        int x0 = Math.Min((int)x, w - 2), y0 = Math.Min((int)y, h - 2);
        double fx = x - x0, fy = y - y0;
        return (1 - fx) * (1 - fy) * image[y0 * w + x0] + fx * (1 - fy) * image[y0 * w + x0 + 1]
             + (1 - fx) * fy * image[(y0 + 1) * w + x0] + fx * fy * image[(y0 + 1) * w + x0 + 1];
    }

    // ---- opsin kinetics ----------------------------------------------------------------------------------------

    [Fact]
    public void Stimulate_SpikeProbability_RisesWithPowerWidthAndRate()
    {
        double P(double powerMw, double widthMs, int pulses = 1, double rateHz = 1) => FiringPerPulse(powerMw, widthMs, pulses, rateHz);

        double reference = P(5, 5);
        output.WriteLine($"p(5 mW, 5 ms) {reference:F3}; 2.5 mW {P(2.5, 5):F3}; 10 mW {P(10, 5):F3}; 1 ms {P(5, 1):F3}; " +
                         $"3 mW 2 ms at 10 Hz {P(3, 2, 5, 10):F3} vs 100 Hz {P(3, 2, 5, 100):F3}");
        Assert.InRange(reference, 1 - 1 / Math.E - 0.05, 1 - 1 / Math.E + 0.05);
        Assert.True(P(2.5, 5) < reference - 0.2);
        Assert.True(P(10, 5) > reference + 0.2);
        Assert.True(P(5, 1) < reference - 0.2);
        Assert.True(P(3, 2, 5, 100) > 1.4 * P(3, 2, 5, 10), "channels still open from the previous pulse should help");
    }

    private static double FiringPerPulse(double powerMw, double widthMs, int pulses, double rateHz)
    {
        var profile = TissueSetup.Generated(neurons: 40, rateHz: 0);
        var tissue = new VirtualTissue(profile, TissueSetup.Imaging(96, 96), seed: 14);
        var targets = TissueSetup.TargetsOn(tissue, Enumerable.Range(0, 40));
        const int trials = 40;
        int framesPerTrial = (int)tissue.FrameRateHz; // 1 s apart: channels closed again
        for (int t = 0; t < trials; t++)
        {
            tissue.Stimulate(new StimulationCommand(targets, powerMw, widthMs, pulses, rateHz, (long)t * framesPerTrial * tissue.FramePeriodNs));
            for (int f = 0; f < framesPerTrial; f++) tissue.Advance();
        }
        return tissue.SpikeCounts.ToArray().Sum() / (double)(40 * trials * pulses);
    }

    // ---- determinism and bad input -----------------------------------------------------------------------------

    [Fact]
    public void Render_EverythingOn_SameSeedSameMovieOtherSeedDiffers()
    {
        TissueProfile Profile()
        {
            var p = TissueSetup.Generated(neurons: 30, rateHz: 1);
            p.SpikeSource = SpikeSource.Spikefinder;
            p.Indicator = "GCaMP6f";
            p.NoiseLevel = 2;
            p.DriftFraction = 0.05;
            p.NeuronDriftFraction = 0.05;
            p.BleachTauS = 100;
            p.Motion = new MotionProfile { Mode = MotionMode.Nonrigid, JumpRateHz = 1 };
            return p;
        }
        var a = new VirtualTissue(Profile(), TissueSetup.Imaging(64, 48), seed: 3);
        var b = new VirtualTissue(Profile(), TissueSetup.Imaging(64, 48), seed: 3);
        var c = new VirtualTissue(Profile(), TissueSetup.Imaging(64, 48), seed: 4);
        var fa = new ushort[64 * 48];
        var fb = new ushort[64 * 48];
        var fc = new ushort[64 * 48];
        bool differs = false;
        for (int f = 0; f < 60; f++)
        {
            a.Render(fa);
            b.Render(fb);
            c.Render(fc);
            Assert.Equal(fa, fb);
            Assert.Equal(a.MotionDxPx, b.MotionDxPx);
            differs |= !fa.AsSpan().SequenceEqual(fc);
        }
        Assert.Equal(a.SpikeCounts.ToArray(), b.SpikeCounts.ToArray());
        Assert.True(differs);
    }

    [Fact]
    public void Render_EverythingOn_AllocatesNothingPerFrame()
    {
        var profile = TissueSetup.Generated(neurons: 30, rateHz: 1);
        profile.SpikeSource = SpikeSource.Spikefinder;
        profile.DriftFraction = 0.05;
        profile.NeuronDriftFraction = 0.05;
        profile.BleachTauS = 100;
        profile.Motion = new MotionProfile { Mode = MotionMode.Nonrigid };
        var tissue = new VirtualTissue(profile, TissueSetup.Imaging(64, 48), seed: 3);
        var rigid = TissueSetup.Generated(neurons: 30, rateHz: 1);
        rigid.Motion = new MotionProfile { Mode = MotionMode.Rigid };
        var rigidTissue = new VirtualTissue(rigid, TissueSetup.Imaging(64, 48), seed: 3);
        var frame = new ushort[64 * 48];
        var command = new StimulationCommand(TissueSetup.TargetsOn(tissue, [0, 1, 2]), 10, 5, 3, 20, 0);
        for (int i = 0; i < 50; i++) { tissue.Stimulate(command with { SampleTimeNs = i * tissue.FramePeriodNs }); tissue.Render(frame); rigidTissue.Render(frame); }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 50; i < 250; i++)
        {
            tissue.Stimulate(command with { SampleTimeNs = i * tissue.FramePeriodNs });
            tissue.Render(frame);
            rigidTissue.Render(frame);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData("noiseLevel")]
    [InlineData("rate")]
    [InlineData("bleach")]
    [InlineData("motion")]
    [InlineData("indicator")]
    [InlineData("opsin")]
    public void Constructor_ImpossibleParameter_ErrorNamesIt(string which)
    {
        var p = TissueSetup.Generated(neurons: 5);
        string setting = which switch
        {
            "noiseLevel" => Set(() => p.NoiseLevel = 0, "simulation.tissue.noiseLevel"),
            "rate" => Set(() => p.SpontaneousRateHz = -1, "simulation.tissue.spontaneousRateHz"),
            "bleach" => Set(() => p.BleachTauS = -5, "simulation.tissue.bleachTauS"),
            "motion" => Set(() => p.Motion = new MotionProfile { Mode = MotionMode.Rigid, RmsPx = -1 }, "simulation.tissue.motion.rmsPx"),
            "indicator" => Set(() => p.Indicator = "GCaMP99", "simulation.tissue.indicator"),
            _ => Set(() => p.Opsin.Kind = "Arch", "simulation.tissue.opsin.kind"),
        };
        var ex = Assert.Throws<SettingException>(() => new VirtualTissue(p, TissueSetup.Imaging(64, 48), seed: 1));
        Assert.Equal(setting, ex.Setting);
    }

    private static string Set(Action change, string setting)
    {
        change();
        return setting;
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    private static float[][] RoiTraces(VirtualTissue tissue, int frames)
    {
        var frame = new ushort[tissue.WidthPx * tissue.HeightPx];
        var traces = new float[tissue.NeuronCount][];
        for (int n = 0; n < traces.Length; n++) traces[n] = new float[frames];
        for (int f = 0; f < frames; f++)
        {
            tissue.Render(frame);
            for (int n = 0; n < traces.Length; n++)
            {
                var pixels = tissue.Footprints.PixelsOf(n);
                double sum = 0;
                foreach (int p in pixels) sum += frame[p];
                traces[n][f] = (float)(sum / pixels.Length);
            }
        }
        return traces;
    }

    private static double Median(double[] values)
    {
        var sorted = values.ToArray();
        Array.Sort(sorted);
        int m = sorted.Length;
        return m % 2 == 1 ? sorted[m / 2] : 0.5 * (sorted[m / 2 - 1] + sorted[m / 2]);
    }

    /// <summary>Shift of <paramref name="image"/>'s content relative to <paramref name="reference"/> in the square
    /// patch of half-size <paramref name="half"/> around (cx, cy): integer search of the sum of squared differences
    /// (±6 px), then Gauss–Newton refinement with the reference's gradients (Lucas–Kanade).</summary>
    private static (double Dx, double Dy) EstimateShift(float[] reference, float[] image, int w, int h, int cx, int cy, int half)
    {
        double Ref(double x, double y)
        {
            x = Math.Clamp(x, 0, w - 1);
            y = Math.Clamp(y, 0, h - 1);
            int x0 = Math.Min((int)x, w - 2), y0 = Math.Min((int)y, h - 2);
            double fx = x - x0, fy = y - y0;
            return (1 - fx) * (1 - fy) * reference[y0 * w + x0] + fx * (1 - fy) * reference[y0 * w + x0 + 1]
                 + (1 - fx) * fy * reference[(y0 + 1) * w + x0] + fx * fy * reference[(y0 + 1) * w + x0 + 1];
        }
        double bestSsd = double.MaxValue, dx = 0, dy = 0;
        for (int sy = -6; sy <= 6; sy++)
            for (int sx = -6; sx <= 6; sx++)
            {
                double ssd = 0;
                for (int y = cy - half; y < cy + half; y++)
                    for (int x = cx - half; x < cx + half; x++)
                    {
                        double d = image[y * w + x] - Ref(x - sx, y - sy);
                        ssd += d * d;
                    }
                if (ssd < bestSsd) { bestSsd = ssd; dx = sx; dy = sy; }
            }
        for (int iteration = 0; iteration < 20; iteration++)
        {
            double a11 = 0, a12 = 0, a22 = 0, b1 = 0, b2 = 0;
            for (int y = cy - half; y < cy + half; y++)
                for (int x = cx - half; x < cx + half; x++)
                {
                    double px = x - dx, py = y - dy;
                    double gx = (Ref(px + 0.5, py) - Ref(px - 0.5, py));
                    double gy = (Ref(px, py + 0.5) - Ref(px, py - 0.5));
                    double r = image[y * w + x] - Ref(px, py);
                    // image ≈ R(x − d): ∂/∂d = −∇R.
                    a11 += gx * gx; a12 += gx * gy; a22 += gy * gy;
                    b1 -= gx * r; b2 -= gy * r;
                }
            double det = a11 * a22 - a12 * a12;
            double ux = (a22 * b1 - a12 * b2) / det, uy = (a11 * b2 - a12 * b1) / det;
            dx += ux;
            dy += uy;
            if (Math.Abs(ux) + Math.Abs(uy) < 1e-5) break;
        }
        return (dx, dy);
    }

    /// <summary>The tissue's true displacement at pixel (x, y): bilinear interpolation of its grid node shifts.</summary>
    private static (double Dx, double Dy) GridShiftAt(VirtualTissue t, int x, int y)
    {
        int gx = t.MotionGridX, gy = t.MotionGridY;
        double fx = x / t.MotionNodeXPx(1), fy = y / t.MotionNodeYPx(1);
        int j = Math.Min((int)fx, gx - 2), i = Math.Min((int)fy, gy - 2);
        double tx = fx - j, ty = fy - i;
        double Lerp2(ReadOnlySpan<float> v) =>
            (1 - ty) * ((1 - tx) * v[i * gx + j] + tx * v[i * gx + j + 1]) + ty * ((1 - tx) * v[(i + 1) * gx + j] + tx * v[(i + 1) * gx + j + 1]);
        return (Lerp2(t.MotionNodeDxPx), Lerp2(t.MotionNodeDyPx));
    }
}
