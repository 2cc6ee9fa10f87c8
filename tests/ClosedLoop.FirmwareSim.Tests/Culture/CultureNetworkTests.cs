using ClosedLoop.FirmwareSim.Culture;

namespace ClosedLoop.FirmwareSim.Tests.Culture;

public class CultureNetworkTests
{
    private static (double ExcitatoryHz, double InhibitoryHz, double BurstFraction) Activity(CultureSettings settings, int ms)
    {
        var net = new IzhikevichNetwork(settings);
        for (int i = 0; i < 500; i++) net.Step();
        long[] before = net.SpikeCounts.ToArray();
        int bins = 0, burstBins = 0, inBin = 0;
        for (int i = 0; i < ms; i++)
        {
            net.Step();
            inBin += net.Spikes.Length;
            if (i % 10 == 9)
            {
                bins++;
                if (inBin >= 0.1 * net.NeuronCount) burstBins++; // a population burst: ≥ 10 % of the neurons in 10 ms
                inBin = 0;
            }
        }
        long e = 0, inh = 0;
        for (int j = 0; j < net.NeuronCount; j++)
        {
            if (j < net.ExcitatoryCount) e += net.SpikeCounts[j] - before[j];
            else inh += net.SpikeCounts[j] - before[j];
        }
        double s = ms / 1000.0;
        return (e / s / net.ExcitatoryCount, inh / s / (net.NeuronCount - net.ExcitatoryCount), burstBins / (double)bins);
    }

    [Fact]
    public void Step_SameSeed_GivesSameSpikesAndWeights()
    {
        var settings = new CultureSettings { Seed = 5 };
        var a = new IzhikevichNetwork(settings);
        var b = new IzhikevichNetwork(settings);
        for (int i = 0; i < 1000; i++)
        {
            a.Step();
            b.Step();
            Assert.True(a.Spikes.SequenceEqual(b.Spikes), $"spikes differ at {i} ms");
        }
        Assert.True(a.Weights.SequenceEqual(b.Weights));
        var c = new IzhikevichNetwork(settings with { Seed = 6 });
        for (int i = 0; i < 1000; i++) c.Step();
        Assert.False(a.SpikeCounts.SequenceEqual(c.SpikeCounts));
    }

    [Fact]
    public void Step_DefaultCulture_FiresSparselyWithoutPopulationBursts()
    {
        var (e, i, burst) = Activity(new CultureSettings(), 4000);
        Assert.InRange(e, 0.1, 10); // dissociated cultures: ~0.1–10 Hz
        Assert.InRange(i, 0.05, 20);
        Assert.True(burst < 0.02, $"the default culture spends {burst:P0} of the time in population bursts");
    }

    [Fact]
    public void Step_ShortTermDepression_SuppressesPopulationBursts()
    {
        // Stronger synapses and more noise make the network burst; depleting the synaptic resources cuts the bursts.
        var bursty = new CultureSettings { InitialExcitatoryWeightMax = 7, NoiseSd = 5, Seed = 3 };
        var (_, _, withDepression) = Activity(bursty, 4000);
        var (_, _, without) = Activity(bursty with { ShortTermDepression = false }, 4000);
        Assert.True(without > 0.15, $"without depression the network bursts only {without:P0} of the time");
        Assert.True(withDepression < 0.75 * without, $"bursts {withDepression:P0} with depression vs {without:P0} without");
    }

    private static (IzhikevichNetwork Net, int Synapse, int Pre, int Post, int DelayMs) QuietPair()
    {
        var net = new IzhikevichNetwork(new CultureSettings { NeuronCount = 200, NoiseSd = 0, ShortTermDepression = false, Seed = 2, ConnectionLengthUm = 0 });
        for (int s = 0; s < net.SynapseCount; s++)
        {
            int post = net.PostOf(s);
            if (net.IsPlastic(s) && post < net.ExcitatoryCount && net.DelayOf(s) <= 5)
            {
                net.SetWeight(s, 5);
                return (net, s, net.PreOf(s), post, net.DelayOf(s));
            }
        }
        throw new InvalidOperationException("no short excitatory synapse");
    }

    private static void RunUntil(IzhikevichNetwork net, long ms)
    {
        while (net.TimeMs < ms) net.Step();
    }

    [Fact]
    public void Stdp_PreBeforePost_PotentiatesAndPostBeforePre_Depresses()
    {
        // Pre fires at 100 ms; its spike arrives at 100 + d; post fires 4 ms after the arrival: LTP.
        var (net, s, pre, post, d) = QuietPair();
        RunUntil(net, 100);
        net.ExternalInput[pre] = 200;
        net.Step();
        Assert.Contains(pre, net.Spikes.ToArray());
        RunUntil(net, 100 + d + 4);
        net.ExternalInput[post] = 200;
        net.Step();
        Assert.Contains(post, net.Spikes.ToArray());
        RunUntil(net, 200);
        float potentiated = net.Weights[s];
        Assert.True(potentiated > 5.05f, $"pre-before-post left the weight at {potentiated}");

        // Post fires at 300 ms; pre fires so that its spike arrives 4 ms later: LTD.
        var (net2, s2, pre2, post2, d2) = QuietPair();
        RunUntil(net2, 300);
        net2.ExternalInput[post2] = 200;
        net2.Step();
        RunUntil(net2, 300 + 4 - d2 + 1 > 301 ? 300 + 4 - d2 + 1 : 301);
        net2.ExternalInput[pre2] = 200;
        net2.Step();
        RunUntil(net2, 400);
        float depressed = net2.Weights[s2];
        Assert.True(depressed < 4.95f, $"post-before-pre left the weight at {depressed}");
    }

    [Fact]
    public void Stdp_PairingsFarApart_LeaveTheWeight()
    {
        var (net, s, pre, post, _) = QuietPair();
        RunUntil(net, 100);
        net.ExternalInput[pre] = 200;
        net.Step();
        RunUntil(net, 400); // 300 ms later: far outside the 20 ms window
        net.ExternalInput[post] = 200;
        net.Step();
        RunUntil(net, 500);
        Assert.InRange(net.Weights[s], 4.99f, 5.01f);
    }

    [Fact]
    public void Step_AllocatesNothing()
    {
        var culture = new VirtualCulture(new CultureSettings());
        for (int i = 0; i < 200; i++) { culture.Stimulate(10, 20); culture.Step(); }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 500; i++) { if (i % 10 == 0) culture.Stimulate(10, 20); culture.Step(); }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
