using ClosedLoop.FirmwareSim;
using ClosedLoop.Hardware;

namespace ClosedLoop.Imaging.Tests.Registration;

/// <summary>Textured test images whose content can be displaced by any amount exactly (sums of Gaussian blobs).</summary>
internal static class TestImages
{
    public sealed record Blob(double X, double Y, double SigmaPx, double Amplitude);

    public static Blob[] Blobs(int widthPx, int heightPx, int count, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => new Blob(rng.NextDouble() * widthPx, rng.NextDouble() * heightPx,
            1.5 + 2.5 * rng.NextDouble(), 200 + 800 * rng.NextDouble())).ToArray();
    }

    /// <summary>image(x, y) = background + Σ blobs at (x − dx(x, y), y − dy(x, y)): content displaced by (dx, dy).</summary>
    public static float[] Render(Blob[] blobs, int w, int h, Func<int, int, (double Dx, double Dy)> shift, double background = 100)
    {
        var img = new float[w * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                var (dx, dy) = shift(x, y);
                double px = x - dx, py = y - dy, v = background;
                foreach (var b in blobs)
                {
                    double ex = px - b.X, ey = py - b.Y;
                    double r2 = ex * ex + ey * ey;
                    if (r2 < 25 * b.SigmaPx * b.SigmaPx) v += b.Amplitude * Math.Exp(-r2 / (2 * b.SigmaPx * b.SigmaPx));
                }
                img[y * w + x] = (float)v;
            }
        return img;
    }

    public static float[] Render(Blob[] blobs, int w, int h, double dx, double dy) => Render(blobs, w, h, (_, _) => (dx, dy));

    /// <summary>Rounds to counts with Poisson-like noise (normal, variance = value / gain photons).</summary>
    public static ushort[] ToCounts(float[] image, Random rng, double photonsPerCount = 0)
    {
        var o = new ushort[image.Length];
        for (int i = 0; i < image.Length; i++)
        {
            double v = image[i];
            if (photonsPerCount > 0) v += Math.Sqrt(v / photonsPerCount) * Gaussian(rng);
            o[i] = (ushort)Math.Clamp(Math.Round(v), 0, 65535);
        }
        return o;
    }

    public static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>A moving virtual tissue of generated neurons at the noise level ν (%/√Hz) of real recordings.</summary>
    public static VirtualTissue Tissue(int sizePx, MotionProfile motion, double noiseLevel, int seed, int neurons = 0)
    {
        var tissue = new TissueProfile
        {
            Footprints = "generated",
            GeneratedNeuronCount = neurons > 0 ? neurons : sizePx * sizePx / 400,
            NeuronRadiusPx = 5,
            SpontaneousRateHz = 0.5,
            NoiseLevel = noiseLevel,
            Motion = motion,
        };
        return new VirtualTissue(tissue, new ImagingProfile { WidthPx = sizePx, HeightPx = sizePx, FrameRateHz = 30 }, seed);
    }
}
