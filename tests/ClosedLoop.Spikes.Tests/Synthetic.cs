namespace ClosedLoop.Spikes.Tests;

/// <summary>A synthetic AR(1) calcium trace with known decay, spikes and noise.</summary>
internal sealed record Synthetic(float[] Calcium, double[] Spikes, double Gamma, double Sigma)
{
    public static Synthetic Make(int frames, double rateHz, double decayS, double spikeRateHz, double amplitude, double sigma, int seed, double baseline = 0)
    {
        var rng = new Random(seed);
        double gamma = Math.Exp(-1 / (decayS * rateHz));
        var calcium = new float[frames];
        var spikes = new double[frames];
        double c = 0;
        for (int t = 0; t < frames; t++)
        {
            if (rng.NextDouble() < spikeRateHz / rateHz) spikes[t] = 1 + (rng.NextDouble() < 0.2 ? 1 : 0);
            c = gamma * c + amplitude * spikes[t];
            calcium[t] = (float)(baseline + c + sigma * Gauss(rng));
        }
        return new Synthetic(calcium, spikes, gamma, sigma);
    }

    private static double Gauss(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
