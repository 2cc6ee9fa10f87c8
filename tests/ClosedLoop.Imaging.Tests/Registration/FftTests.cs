using ClosedLoop.Imaging.Registration;

namespace ClosedLoop.Imaging.Tests.Registration;

public sealed class FftTests
{
    private static (double Re, double Im)[] NaiveDft(float[] re, float[] im, int sign)
    {
        int n = re.Length;
        var o = new (double, double)[n];
        for (int k = 0; k < n; k++)
        {
            double sr = 0, si = 0;
            for (int t = 0; t < n; t++)
            {
                double a = sign * 2 * Math.PI * k * t / n;
                sr += re[t] * Math.Cos(a) - im[t] * Math.Sin(a);
                si += re[t] * Math.Sin(a) + im[t] * Math.Cos(a);
            }
            o[k] = (sr, si);
        }
        return o;
    }

    private static float[] RandomArray(Random rng, int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();

    [Theory]
    [InlineData(2)]
    [InlineData(8)]
    [InlineData(64)]
    [InlineData(512)]
    public void Forward_RandomSignal_MatchesNaiveDft(int n)
    {
        var rng = new Random(n);
        var re = RandomArray(rng, n);
        var im = RandomArray(rng, n);
        var expected = NaiveDft(re, im, -1);
        var fft = new ComplexFft(n);
        fft.Forward(re, im);
        double scale = Math.Sqrt(n);
        for (int k = 0; k < n; k++)
        {
            Assert.True(Math.Abs(re[k] - expected[k].Re) < 1e-4 * scale, $"re[{k}] {re[k]} vs {expected[k].Re}");
            Assert.True(Math.Abs(im[k] - expected[k].Im) < 1e-4 * scale, $"im[{k}] {im[k]} vs {expected[k].Im}");
        }
    }

    [Fact]
    public void Inverse_AfterForward_GivesTheSignalBack()
    {
        var rng = new Random(3);
        var re = RandomArray(rng, 256);
        var im = RandomArray(rng, 256);
        var (r0, i0) = ((float[])re.Clone(), (float[])im.Clone());
        var fft = new ComplexFft(256);
        fft.Forward(re, im);
        fft.Inverse(re, im);
        for (int i = 0; i < 256; i++)
        {
            Assert.True(Math.Abs(r0[i] - re[i]) < 1e-5, $"re[{i}]");
            Assert.True(Math.Abs(i0[i] - im[i]) < 1e-5, $"im[{i}]");
        }
    }

    [Fact]
    public void Forward2D_RandomImage_MatchesNaive2DDft()
    {
        const int n = 16;
        var rng = new Random(5);
        var re = RandomArray(rng, n * n);
        var im = RandomArray(rng, n * n);
        var expRe = new double[n * n];
        var expIm = new double[n * n];
        for (int ky = 0; ky < n; ky++)
            for (int kx = 0; kx < n; kx++)
            {
                double sr = 0, si = 0;
                for (int y = 0; y < n; y++)
                    for (int x = 0; x < n; x++)
                    {
                        double a = -2 * Math.PI * (ky * y + kx * x) / n;
                        float vr = re[y * n + x], vi = im[y * n + x];
                        sr += vr * Math.Cos(a) - vi * Math.Sin(a);
                        si += vr * Math.Sin(a) + vi * Math.Cos(a);
                    }
                expRe[ky * n + kx] = sr;
                expIm[ky * n + kx] = si;
            }
        var fft = new Fft2D(n);
        fft.Forward(re, im);
        for (int i = 0; i < n * n; i++)
        {
            Assert.True(Math.Abs(re[i] - expRe[i]) < 1e-3, $"re[{i}] {re[i]} vs {expRe[i]}");
            Assert.True(Math.Abs(im[i] - expIm[i]) < 1e-3, $"im[{i}] {im[i]} vs {expIm[i]}");
        }
    }

    [Fact]
    public void Inverse2D_AfterForward_GivesTheImageBack()
    {
        const int n = 128;
        var rng = new Random(8);
        var re = RandomArray(rng, n * n);
        var im = RandomArray(rng, n * n);
        var (r0, i0) = ((float[])re.Clone(), (float[])im.Clone());
        var fft = new Fft2D(n);
        fft.Forward(re, im);
        fft.Inverse(re, im);
        for (int i = 0; i < n * n; i++)
        {
            Assert.True(Math.Abs(r0[i] - re[i]) < 1e-5, $"re[{i}]");
            Assert.True(Math.Abs(i0[i] - im[i]) < 1e-5, $"im[{i}]");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(100)]
    public void Constructor_LengthNotAPowerOfTwo_Throws(int n)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ComplexFft(n));
    }
}
