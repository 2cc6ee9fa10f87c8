using ClosedLoop.Core;
using ClosedLoop.FirmwareSim.Culture;
using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.FirmwareSim.Tests.Culture;

public class MeaTests
{
    // A silent culture (no noise input, so no spontaneous spikes) whose neurons fire only when told to.
    private static VirtualCulture Silent(long seed = 1) => new(new CultureSettings { NoiseSd = 0, Seed = seed });

    private static double Rms(ReadOnlySpan<float> x)
    {
        double sum = 0;
        foreach (float v in x) sum += v * v;
        return Math.Sqrt(sum / x.Length);
    }

    [Fact]
    public void Mea60_Has60NamedElectrodesWithoutCorners()
    {
        var layout = MeaLayout.Mea60();
        Assert.Equal(60, layout.Count);
        Assert.Equal("12", layout.Electrodes[0].Name);
        Assert.Equal("87", layout.Electrodes[^1].Name);
        foreach (string corner in new[] { "11", "18", "81", "88" })
            Assert.Throws<SettingException>(() => layout.IndexOf(corner));
        Electrode e = layout.Electrodes[layout.IndexOf("34")];
        Assert.Equal((400.0, 600.0), (e.XUm, e.YUm));
        var hd = MeaLayout.Parse("hd:16x8@50");
        Assert.Equal(128, hd.Count);
        Assert.Equal("R1C1", hd.Electrodes[0].Name);
        Assert.Equal(350.0, hd.Electrodes[7].XUm);
    }

    [Fact]
    public void Pickup_SpikeNextToElectrode_StandsOutOfNoiseThereAndNotFarAway()
    {
        var culture = Silent();
        int electrode = culture.Layout.IndexOf("45");
        int neuron = culture.NeuronsNear(electrode, 200)[0];
        Assert.True(culture.DistanceUm(neuron, electrode) < 40, "the test needs a neuron within 40 µm");
        int far = culture.Layout.IndexOf("82");
        int s = culture.SamplesPerStep;
        for (int i = 0; i < 100; i++) culture.Step();
        double noiseRms = Rms(culture.LastSamplesUv.Slice(electrode * s, s));
        Assert.InRange(noiseRms, 2.5, 8); // ~5 µV rms

        culture.Network.ExternalInput[neuron] = 200;
        float nearMin = 0, farMaxAbs = 0;
        for (int i = 0; i < 3; i++)
        {
            culture.Step();
            if (i == 0) Assert.Contains(neuron, culture.Network.Spikes.ToArray());
            foreach (float v in culture.LastSamplesUv.Slice(electrode * s, s)) nearMin = Math.Min(nearMin, v);
            foreach (float v in culture.LastSamplesUv.Slice(far * s, s)) farMaxAbs = Math.Max(farMaxAbs, Math.Abs(v));
        }
        Assert.True(nearMin < -6 * 5, $"trough {nearMin} µV should be far below 5 × the 5 µV noise");
        Assert.True(farMaxAbs < 6 * 5, $"a far electrode saw {farMaxAbs} µV");
    }

    [Fact]
    public void Stimulation_PulseOnElectrode_FiresNearbyNeuronsWithinFewMsAndLeavesAnArtifact()
    {
        var culture = Silent(2);
        int electrode = culture.Layout.IndexOf("55");
        int[] near = culture.NeuronsNear(electrode, 30);
        Assert.NotEmpty(near);
        int[] far = culture.NeuronsNear(culture.Layout.IndexOf("22"), 100);
        for (int i = 0; i < 50; i++) culture.Step();
        culture.Stimulate(electrode, 20, 200);
        var fired = new HashSet<int>();
        float artifactPeak = 0;
        int s = culture.SamplesPerStep;
        for (int i = 0; i < 3; i++)
        {
            culture.Step();
            foreach (int j in culture.Network.Spikes) fired.Add(j);
            if (i == 0) foreach (float v in culture.LastSamplesUv.Slice(electrode * s, s)) artifactPeak = Math.Max(artifactPeak, Math.Abs(v));
        }
        Assert.All(near, j => Assert.Contains(j, fired));
        Assert.DoesNotContain(fired, far.Contains);
        Assert.True(artifactPeak > 200, $"stimulation artifact of {artifactPeak} µV on the stimulating electrode");
    }

    [Fact]
    public void VirtualCulture_SameSeed_RecordsTheSameSamples()
    {
        var a = new VirtualCulture(new CultureSettings { Seed = 9 });
        var b = new VirtualCulture(new CultureSettings { Seed = 9 });
        for (int i = 0; i < 300; i++)
        {
            if (i % 50 == 0) { a.Stimulate(3, 20); b.Stimulate(3, 20); }
            a.Step();
            b.Step();
            Assert.True(a.LastSamplesUv.SequenceEqual(b.LastSamplesUv), $"samples differ at {i} ms");
        }
    }

    [Fact]
    public void SimulatedMea_AiTask_ReadsEveryElectrodeContiguouslyAtThePickupRate()
    {
        var culture = new VirtualCulture(new CultureSettings { Seed = 3 });
        using var mea = new SimulatedMeaSystem(culture);
        Assert.Equal(60, mea.Devices[0].PhysicalChannels.Count(c => c.Contains("/ai", StringComparison.Ordinal)));
        using var ai = mea.CreateAnalogInputTask(new AnalogInputConfig("mea", "Mea1/ai0:59", new DaqRange(-5, 5), new DaqTiming(25_000, 20_000)));
        Assert.Equal(60, ai.Channels.Count);
        Assert.Equal(25_000, ai.SampleRateHz);
        ai.Start();
        var buffer = new short[60 * 1000];
        long next = 0;
        var perChannelSquares = new double[60];
        for (int block = 0; block < 20; block++)
        {
            mea.AdvanceBy(10_000_000);
            int n;
            while ((n = ai.Read(buffer, TimeSpan.Zero, out long first)) > 0)
            {
                Assert.Equal(next, first);
                next += n;
                for (int i = 0; i < n; i++)
                    for (int c = 0; c < 60; c++) perChannelSquares[c] += (double)buffer[i * 60 + c] * buffer[i * 60 + c];
            }
        }
        // 200 ms after a 1 ms start latency: 199 ms of samples at 25 kHz (+1 for the sample at the edge).
        Assert.InRange(next, 199 * 25, 199 * 25 + 1);
        double uvPerCode = mea.MicrovoltsPerCode(ai);
        Assert.InRange(uvPerCode, 0.15, 0.16);
        foreach (double sq in perChannelSquares)
            Assert.InRange(Math.Sqrt(sq / next) * uvPerCode, 3, 20); // noise ~5 µV rms plus spikes on every channel
    }

    [Fact]
    public void SimulatedMea_AoBiphasicPulses_FireNeuronsNearTheElectrode()
    {
        var culture = new VirtualCulture(new CultureSettings { NoiseSd = 0, Seed = 4 });
        int electrode = Enumerable.Range(0, culture.Layout.Count).First(e => culture.NeuronsNear(e, 30).Length > 0);
        int[] near = culture.NeuronsNear(electrode, 30);
        using var mea = new SimulatedMeaSystem(culture);
        using var ai = mea.CreateAnalogInputTask(new AnalogInputConfig("mea", "Mea1/ai0:59", new DaqRange(-10, 10), new DaqTiming(25_000, 50_000)));
        // A 20 µA, 200 µs/phase biphasic pulse every 50 ms on ao(electrode), regenerated.
        double[] pulse = mea.BiphasicPulseVolts(20, 200, 25_000, 50_000);
        using var ao = mea.CreateAnalogOutputTask(new AnalogOutputConfig("stim", $"Mea1/ao{electrode}", new DaqRange(-10, 10), new DaqTiming(25_000, pulse.Length)));
        ao.Write(pulse);
        ai.Start();
        ao.Start();
        mea.AdvanceBy(300_000_000);
        var buffer = new short[60 * 10_000];
        int total = 0;
        int n;
        while ((n = ai.Read(buffer, TimeSpan.Zero, out _)) > 0) total += n;
        Assert.True(total > 7000);
        Assert.All(near, j => Assert.True(culture.Network.SpikeCounts[j] >= 3, $"neuron {j} fired {culture.Network.SpikeCounts[j]} times"));
        Assert.True(culture.Stimulation.ElectrodeStepsStimulated >= 5);
    }

    [Fact]
    public void SimulatedMea_AiAtAnotherRate_IsRefusedNamingTheRate()
    {
        using var mea = new SimulatedMeaSystem(new VirtualCulture(new CultureSettings()));
        var ex = Assert.Throws<DaqException>(() => mea.CreateAnalogInputTask(new AnalogInputConfig("mea", "Mea1/ai0:3", new DaqRange(-5, 5), new DaqTiming(30_000, 1000))));
        Assert.Contains("Timing.SampleRateHz", ex.Message);
        Assert.Contains("25000", ex.Message);
    }

    [Theory]
    [InlineData("NeuronCount")]
    [InlineData("ConnectionsPerNeuron")]
    [InlineData("MaxDelayMs")]
    [InlineData("NoiseSd")]
    [InlineData("Pickup.NoiseRmsUv")]
    [InlineData("Stimulation.SpreadUm")]
    [InlineData("Layout.Rows")]
    [InlineData("StimulusRateHz")]
    [InlineData("OutputElectrodes")]
    public void Settings_ImpossibleValue_ThrowsNamingTheParameter(string parameter)
    {
        var good = new CultureSettings();
        Action build = parameter switch
        {
            "NeuronCount" => () => new VirtualCulture(good with { NeuronCount = -5 }),
            "ConnectionsPerNeuron" => () => new VirtualCulture(good with { ConnectionsPerNeuron = 5000 }),
            "MaxDelayMs" => () => new VirtualCulture(good with { MinDelayMs = 5, MaxDelayMs = 2 }),
            "NoiseSd" => () => new VirtualCulture(good with { NoiseSd = -1 }),
            "Pickup.NoiseRmsUv" => () => new VirtualCulture(good with { Pickup = new PickupSettings { NoiseRmsUv = -5 } }),
            "Stimulation.SpreadUm" => () => new VirtualCulture(good with { Stimulation = new StimulationSettings { SpreadUm = 0 } }),
            "Layout.Rows" => () => MeaLayout.HighDensity(0, 8, 60),
            "StimulusRateHz" => () => new LearningSettings { StimulusRateHz = -1 }.Validate(),
            _ => () => new LearningSettings { OutputElectrodes = ["99"] }.Validate(),
        };
        var ex = Assert.Throws<SettingException>(build);
        Assert.Equal(parameter, ex.Setting);
    }
}
