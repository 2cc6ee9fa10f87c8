using ClosedLoop.Control.Mea;
using ClosedLoop.Core;

namespace ClosedLoop.Control.Tests.Mea;

public class MeaFrontEndTests
{
    private const int Channels = 4, Samples = 25;
    private const double RateHz = 25_000, UvPerCode = 0.5;

    private sealed class Fixture
    {
        private readonly FramePool _pool = new(Channels, Samples, 2);
        private long _block;
        public long LastStimulusNs = long.MinValue;
        public readonly PopulationActivity Activity = new(Channels, ["a", "b", "c", "d"]);
        public readonly MeaFrontEndStage Stage;

        public Fixture(MeaFrontEndSettings? settings = null)
        {
            Stage = new MeaFrontEndStage(settings ?? new MeaFrontEndSettings { NoiseWindowS = 0.2 }, Channels, Samples, RateHz, UvPerCode, Activity, () => LastStimulusNs);
            Stage.Start(new RunContext("t", 1000, new RunEventLog(), new CancellationTokenSource()));
        }

        /// <summary>Feeds one 1 ms block whose µV per (sample, channel) <paramref name="uv"/> gives; returns the spike counts.</summary>
        public float[] Block(Func<long, int, double> uv)
        {
            Assert.True(_pool.TryRent(out var frame));
            for (int s = 0; s < Samples; s++)
                for (int c = 0; c < Channels; c++)
                    frame.Pixels[s * Channels + c] = (ushort)(short)Math.Clamp(Math.Round(uv(_block * Samples + s, c) / UvPerCode), short.MinValue, short.MaxValue);
            frame.FrameIndex = _block;
            frame.SampleTimeNs = _block * 1_000_000;
            frame.FramePeriodNs = 1_000_000;
            Stage.Process(frame);
            frame.Release();
            _block++;
            return Activity.Raw.ToArray();
        }
    }

    private static Func<long, int, double> Noise(int seed, double sdUv)
    {
        var random = new Random(seed);
        return (_, _) => sdUv * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
    }

    private static double Gain(double hz)
    {
        var hp = MeaFrontEndStage.Biquad(300, RateHz, highPass: true);
        var lp = MeaFrontEndStage.Biquad(3000, RateHz, highPass: false);
        double h1 = 0, h2 = 0, l1 = 0, l2 = 0, peak = 0;
        for (int i = 0; i < 25_000; i++)
        {
            double x = Math.Sin(2 * Math.PI * hz * i / RateHz);
            double y = hp.B0 * x + h1; h1 = hp.B1 * x - hp.A1 * y + h2; h2 = hp.B2 * x - hp.A2 * y;
            double z = lp.B0 * y + l1; l1 = lp.B1 * y - lp.A1 * z + l2; l2 = lp.B2 * y - lp.A2 * z;
            if (i > 20_000) peak = Math.Max(peak, Math.Abs(z));
        }
        return peak;
    }

    [Fact]
    public void BandPass_PassesSpikeBand_AndRejectsLfpAndHighFrequencies()
    {
        Assert.InRange(Gain(1000), 0.85, 1.05);
        Assert.InRange(Gain(300), 0.6, 0.8);   // −3 dB at the corners
        Assert.True(Gain(30) < 0.02, $"30 Hz gain {Gain(30)}");
        Assert.True(Gain(10_000) < 0.15, $"10 kHz gain {Gain(10_000)}");
    }

    [Fact]
    public void Threshold_ComesFromTheMedianNoise_AndPureNoiseGivesAlmostNoSpikes()
    {
        var f = new Fixture();
        var noise = Noise(1, 10);
        for (int b = 0; b < 1200; b++) f.Block(noise);
        Assert.True(f.Stage.Detecting);
        // White noise of 10 µV rms in a 300-3000 Hz band of a 12.5 kHz Nyquist band keeps about √(2700/12500) of it.
        foreach (float sigma in f.Stage.SigmaUv) Assert.InRange(sigma, 3.5, 5.5);
        Assert.True(f.Stage.Spikes < 10, $"{f.Stage.Spikes} false spikes in 4.8 s of electrode noise at 5 σ");
    }

    [Fact]
    public void Spikes_AreCountedOnTheirElectrode_OncePerRefractoryPeriod()
    {
        var f = new Fixture(new MeaFrontEndSettings { NoiseWindowS = 0.2, RefractoryMs = 1 });
        var noise = Noise(2, 5);
        for (int b = 0; b < 300; b++) f.Block(noise);
        long before = f.Stage.Spikes;
        // Electrode 1: a −100 µV, 0.12 ms trough every 0.6 ms (faster than the 1 ms refractory period) for 6 ms.
        float total = 0;
        for (int b = 0; b < 6; b++)
        {
            var counts = f.Block((i, c) => noise(i, c) + (c == 1 && i % 15 < 3 ? -100 : 0));
            total += counts[1];
            Assert.Equal(0, counts[0] + counts[2] + counts[3]);
        }
        Assert.InRange(total, 5, 7);          // one per ms, not one per trough (10)
        Assert.Equal(before + (long)total, f.Stage.Spikes);
        Assert.True(f.Activity.Rate[1] > 0);
    }

    [Fact]
    public void Blanking_RemovesStimulationArtifacts_ThatWouldOtherwiseCountAsSpikes()
    {
        static Func<long, int, double> Artifact(Func<long, int, double> noise) => (i, c) =>
        {
            long since = i - 300 * 25; // a stimulus at the start of block 300
            double artifact = since < 0 ? 0 : since < 5 ? -800 : since < 10 ? 800 : 300 * Math.Exp(-(since - 10) / 20.0);
            return noise(i, c) + artifact;
        };
        float Run(bool blank)
        {
            var f = new Fixture();
            var signal = Artifact(Noise(3, 5));
            for (int b = 0; b < 300; b++) f.Block(signal);
            if (blank) f.LastStimulusNs = 300 * 1_000_000L;
            float spikes = 0;
            for (int b = 300; b < 310; b++) spikes += f.Block(signal).Sum();
            return spikes;
        }
        Assert.True(Run(blank: false) >= Channels, "without blanking the artifact is detected on every electrode");
        Assert.Equal(0, Run(blank: true));
    }

    [Fact]
    public void ResponseWindowDetector_CountsSpikesInTheWindowAfterTheLatestStimulus()
    {
        long stim = long.MinValue;
        var d = new ResponseWindowDetector(new ResponseWindowDetectorSettings { Name = "r", Group = "out", WindowStartMs = 3, WindowEndMs = 10, MinSpikes = 2 }, [2, 3], () => stim);
        d.Start(new RunContext("t", 1000, new RunEventLog(), new CancellationTokenSource()));
        var a = new PopulationActivity(Channels, ["a", "b", "c", "d"]);
        bool At(long ms, float spikes)
        {
            a.SampleTimeNs = ms * 1_000_000;
            a.Raw[2] = spikes;
            return d.Evaluate(a, (ms + 1) * 1_000_000);
        }
        Assert.False(At(0, 5));                // no stimulus yet
        stim = 10_000_000;
        Assert.False(At(11, 5));               // 1 ms after: before the window
        Assert.False(At(13, 1));               // in the window: 1 of 2
        Assert.True(At(14, 1));                // 2 of 2: fires
        Assert.False(At(15, 3));               // once per stimulus
        stim = 20_000_000;
        Assert.False(At(31, 3));               // 11 ms after: past the window
        Assert.Equal(1, d.Detections);
        Assert.Equal(15_000_000, d.LastDetectionNs);
    }

    [Fact]
    public void Settings_OutOfRange_NameTheSetting()
    {
        var ex = Assert.Throws<SettingException>(() => new MeaFrontEndSettings { LowCutHz = 3000, HighCutHz = 2000 }.Validate());
        Assert.Contains("frontEnd.bandpassHz[1]", ex.Message);
        ex = Assert.Throws<SettingException>(() => new MeaFrontEndStage(new MeaFrontEndSettings { HighCutHz = 13_000 }, Channels, Samples, RateHz, UvPerCode,
            new PopulationActivity(Channels, ["a", "b", "c", "d"]), () => 0));
        Assert.Contains("Nyquist", ex.Message);
    }
}

public class ElectricalInterlockTests
{
    private static readonly StimulationTargets Electrodes = new("input", [3, 4]);

    private static (SafetyInterlock Interlock, StimulationChannel Channel, FakeStimulator Device, RunEventLog Events) Rig()
    {
        var events = new RunEventLog();
        var interlock = new SafetyInterlock(events);
        var device = new FakeStimulator("electrodes");
        var channel = interlock.Register(new ClosedLoop.Hardware.StimulatorProfile
        {
            Name = "electrodes", Kind = ClosedLoop.Hardware.StimulatorKind.Electrical, MaxPowerMw = 0, MaxPulseWidthMs = 1,
            MaxPulseRateHz = 200, MaxDutyCycle = 0.2, MaxAmplitudeUa = 40, MaxPhaseWidthUs = 400, MaxChargePerPhaseNc = 8,
        }, device);
        return (interlock, channel, device, events);
    }

    private static StimulationCommand Pulse(double ua, double us, double balanceUa, double balanceUs, long atNs = 0) =>
        new(Electrodes, 0, (us + balanceUs) / 1000, 1, 0, atNs)
        { AmplitudeUa = ua, PhaseWidthUs = us, BalanceAmplitudeUa = balanceUa, BalancePhaseWidthUs = balanceUs };

    [Theory]
    [InlineData(50, 100, 50, 100, "maxAmplitudeUa")]
    [InlineData(10, 500, 10, 500, "maxPhaseWidthUs")]
    [InlineData(30, 300, 30, 300, "maxChargePerPhaseNc")]
    [InlineData(20, 200, 10, 200, "charge-balanced")]
    public void ElectricalPulse_BeyondALimit_IsRefusedAndLoggedNamingTheLimit(double ua, double us, double balanceUa, double balanceUs, string limit)
    {
        var (interlock, channel, device, events) = Rig();
        Assert.False(interlock.TryDeliver(channel, Pulse(ua, us, balanceUa, balanceUs)));
        Assert.Empty(device.Delivered);
        var refused = Assert.Single(events.Snapshot(), e => e.Kind == RunEventKind.StimulationRefused);
        Assert.Contains(limit, refused.Message);
        Assert.Contains("electrodes", refused.Message);
    }

    [Fact]
    public void BalancedPulseWithinLimits_IsDelivered_AndSetsTheLastDeliveryTime()
    {
        var (interlock, channel, device, _) = Rig();
        Assert.True(interlock.TryDeliver(channel, Pulse(15, 200, 15, 200, atNs: 5_000_000)));
        Assert.Single(device.Delivered);
        Assert.Equal(5_000_000, interlock.LastDeliveryNs);
    }

    [Fact]
    public void LightCommandOnAnElectricalStimulator_IsRefused()
    {
        var (interlock, channel, _, events) = Rig();
        Assert.False(interlock.TryDeliver(channel, new StimulationCommand(Electrodes, 5, 0.4, 1, 0, 0)));
        Assert.Contains("electrical", events.Snapshot().Single(e => e.Kind == RunEventKind.StimulationRefused).Message);
    }

    [Fact]
    public void Template_BeyondTheChargeLimit_IsRefusedBeforeTheRunNamingTheSetting()
    {
        var (_, channel, _, _) = Rig();
        var ex = Assert.Throws<SettingException>(() => SafetyInterlock.CheckTemplate(channel, Pulse(40, 400, 40, 400), "protocol.pulse"));
        Assert.Contains("protocol.pulse", ex.Message);
        Assert.Contains("maxChargePerPhaseNc", ex.Message);
    }
}
