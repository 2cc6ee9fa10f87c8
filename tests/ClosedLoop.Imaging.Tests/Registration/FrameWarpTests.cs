using ClosedLoop.Imaging.Registration;

namespace ClosedLoop.Imaging.Tests.Registration;

public sealed class FrameWarpTests
{
    private static ushort[] Ramp(int w, int h) => Enumerable.Range(0, w * h).Select(i => (ushort)(10 * (i % w) + 1000 * (i / w))).ToArray();

    [Fact]
    public void Rigid_IntegerOffset_MovesRowsAndColumnsAndReplicatesEdges()
    {
        const int w = 40, h = 30;
        var src = Ramp(w, h);
        var px = (ushort[])src.Clone();
        FrameWarp.Rigid(px, new ushort[w * h], w, h, 3, -2);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                Assert.Equal(src[Math.Clamp(y - 2, 0, h - 1) * w + Math.Clamp(x + 3, 0, w - 1)], px[y * w + x]);
    }

    [Theory]
    [InlineData(0.5, 0.25)]
    [InlineData(-2.3, 1.7)]
    [InlineData(7.9, -3.05)]
    public void Rigid_FractionalOffset_MatchesScalarBilinearEverywhere(double ox, double oy)
    {
        const int w = 70, h = 33; // width not a multiple of the vector length: the scalar tail is used too
        var rng = new Random(2);
        var src = Enumerable.Range(0, w * h).Select(_ => (ushort)rng.Next(0, 60000)).ToArray();
        var px = (ushort[])src.Clone();
        FrameWarp.Rigid(px, new ushort[w * h], w, h, ox, oy);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                double sx = Math.Clamp(x + ox, 0, w - 1), sy = Math.Clamp(y + oy, 0, h - 1);
                double expected = Bilinear(src, w, h, x + ox, y + oy);
                Assert.True(Math.Abs(px[y * w + x] - expected) <= 1.0, $"({x},{y}): {px[y * w + x]} vs {expected:F2} (source {sx:F2},{sy:F2})");
            }
    }

    [Fact]
    public void Field_UniformField_EqualsTheRigidWarp()
    {
        const int w = 64, h = 48;
        var rng = new Random(9);
        var src = Enumerable.Range(0, w * h).Select(_ => (ushort)rng.Next(0, 4000)).ToArray();
        var field = new ShiftField(w, h, [8.0, 32, 56], [8.0, 40]);
        field.Fill(1.25f, -0.5f);
        var a = (ushort[])src.Clone();
        var b = (ushort[])src.Clone();
        FrameWarp.Field(a, new ushort[w * h], field);
        FrameWarp.Rigid(b, new ushort[w * h], w, h, 1.25, -0.5);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1, $"pixel {i}: {a[i]} vs {b[i]}");
    }

    [Fact]
    public void Field_VaryingField_MatchesScalarBilinearAtEveryPixel()
    {
        // A field that varies across the frame (and pushes samples past the edges) against a plain per-pixel reference.
        const int w = 100, h = 60;
        var rng = new Random(11);
        var src = Enumerable.Range(0, w * h).Select(_ => (ushort)rng.Next(0, 60000)).ToArray();
        var field = new ShiftField(w, h, [5.0, 50, 95], [5.0, 55]);
        float[] dx = [-3.2f, 0.4f, 6.7f, 2.5f, -0.3f, -5.5f];
        float[] dy = [1.1f, -2.6f, 0.2f, 4.4f, -0.9f, 3.3f];
        dx.CopyTo(field.DxPx, 0);
        dy.CopyTo(field.DyPx, 0);
        var px = (ushort[])src.Clone();
        FrameWarp.Field(px, new ushort[w * h], field);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                var (fx, fy) = field.At(x, y);
                double expected = Bilinear(src, w, h, x + fx, y + fy);
                Assert.True(Math.Abs(px[y * w + x] - expected) <= 1.0, $"({x},{y}): {px[y * w + x]} vs {expected:F2}");
            }
    }

    [Fact]
    public void ShiftField_At_InterpolatesBetweenNodesAndHoldsBeyondThem()
    {
        var field = new ShiftField(100, 100, [10.0, 90], [10.0, 90]);
        field.DxPx[0] = 0; field.DxPx[1] = 4; field.DxPx[2] = 0; field.DxPx[3] = 4;
        Assert.Equal(2, field.At(50, 50).DxPx, 1e-5);
        Assert.Equal(0, field.At(0, 50).DxPx, 1e-5);
        Assert.Equal(4, field.At(99, 20).DxPx, 1e-5);
    }

    private static double Bilinear(ushort[] img, int w, int h, double x, double y)
    {
        x = Math.Clamp(x, 0, w - 1);
        y = Math.Clamp(y, 0, h - 1);
        int x0 = (int)Math.Floor(x), y0 = (int)Math.Floor(y);
        int x1 = Math.Min(x0 + 1, w - 1), y1 = Math.Min(y0 + 1, h - 1);
        double fx = x - x0, fy = y - y0;
        double top = img[y0 * w + x0] * (1 - fx) + img[y0 * w + x1] * fx;
        double bottom = img[y1 * w + x0] * (1 - fx) + img[y1 * w + x1] * fx;
        return top * (1 - fy) + bottom * fy;
    }
}
