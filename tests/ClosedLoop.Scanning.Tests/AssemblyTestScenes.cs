using ClosedLoop.Scanning.Assembly;

namespace ClosedLoop.Scanning.Tests;

/// <summary>A simple sampler: a scene seen along a known sinusoidal resonant trajectory, with line-clock edges.</summary>
internal static class AssemblyTestScenes
{
    public const double Fs = 10e6, Fr = 7910;
    public static double HalfPeriod => Fs / (2 * Fr);

    /// <summary>Samples <paramref name="lines"/> bidirectional (or forward-only) lines; scene(u, row) with u ∈ [−1, 1].
    /// The mirror lags the line clock by <paramref name="delaySamples"/>.</summary>
    public static (short[] Samples, long[] Edges, int PerChannel) Resonant(
        Func<double, int, double> scene, int lines, bool bidirectional, double delaySamples = 0, int channels = 1,
        Func<int, double, double>? channelGain = null)
    {
        double period = bidirectional ? HalfPeriod : 2 * HalfPeriod;
        int perChannel = (int)Math.Ceiling((lines + 1) * period) + 8;
        var samples = new short[perChannel * channels];
        var edges = new long[lines];
        for (int k = 0; k < lines; k++) edges[k] = (long)Math.Round(k * period);
        for (int c = 0; c < channels; c++)
        {
            for (int n = 0; n < perChannel; n++)
            {
                // Which line is the mirror on at sample n, and where?
                double t = n + 0.5 - delaySamples;
                int k = (int)Math.Floor(t / period);
                if (k < 0) k = 0;
                double s = t - k * period;
                bool backward = bidirectional && (k & 1) == 1;
                double phase = Math.PI * (s - HalfPeriod / 2) / HalfPeriod;
                double u = Math.Sin(phase) * (backward ? -1 : 1);
                if (!bidirectional && s >= HalfPeriod) u = -Math.Sin(phase);
                double v = scene(u, Math.Min(k, lines - 1));
                if (channelGain is not null) v = channelGain(c, v);
                samples[c * perChannel + n] = (short)Math.Round(v);
            }
        }
        return (samples, edges, perChannel);
    }

    /// <summary>Normalised position of pixel edge k of a resonant map.</summary>
    public static double PixelEdgeU(int k, int width, double fill) => Math.Sin(Math.PI * fill / 2) * (2.0 * k / width - 1);

    public static PixelMap Map(int width, double fill, bool bidirectional) =>
        PixelMap.Resonant(new ResonantGeometry(Fs, Fr, width, fill, bidirectional));
}
