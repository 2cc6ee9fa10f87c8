using ClosedLoop.Core;
using ClosedLoop.Imaging.Segmentation;

namespace ClosedLoop.Imaging.Tests.Segmentation;

public sealed class MaskExtractorTests
{
    private static readonly SegmentationSettings Loose = new() { MinAreaPx = 1, MaxAreaPx = 100_000 };

    /// <summary>A map drawn as text: '#' = probability 0.9, '+' = exactly the threshold 0.5, '.' = 0.1.</summary>
    private static (float[] Map, int H, int W) Draw(params string[] rows)
    {
        int h = rows.Length, w = rows[0].Length;
        var map = new float[h * w];
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++)
                map[r * w + c] = rows[r][c] switch { '#' => 0.9f, '+' => 0.5f, _ => 0.1f };
        return (map, h, w);
    }

    private static List<int[]> Masks(MaskExtractor x) => Enumerable.Range(0, x.Count).Select(i => x.GetPixels(i).ToArray()).ToList();

    [Fact]
    public void DiagonalNeighboursJoin_SeparateBlobsStaySeparate()
    {
        var (map, h, w) = Draw(
            "##......",
            "..#...##",
            "...+..##",
            "........",
            "#.......");
        var x = new MaskExtractor(h, w, Loose);
        Assert.Equal(3, x.Extract(map));
        var masks = Masks(x);
        // The diagonal chain (0,0)(0,1)(1,2)(2,3) is one neuron under 8-connectivity; a pixel at exactly the threshold counts.
        Assert.Equal(new[] { 0, 1, 10, 19 }, masks[0]);
        Assert.Equal(new[] { 14, 15, 22, 23 }, masks[1]);
        Assert.Equal(new[] { 32 }, masks[2]);
        Assert.Equal(1.5, x.GetCentroidRowPx(1), 6);
        Assert.Equal(6.5, x.GetCentroidColPx(1), 6);
    }

    [Fact]
    public void ShapesThatMeetLate_AreOneComponent()
    {
        // A U and a spiral-like shape: their arms get different provisional labels that must be joined further down.
        var (map, h, w) = Draw(
            "#...#.#.#.#",
            "#...#.#.#.#",
            "#...#.#.#.#",
            "#####.#.#.#",
            "......#.#.#",
            "......#####");
        var x = new MaskExtractor(h, w, Loose);
        Assert.Equal(2, x.Extract(map));
        Assert.Equal(11, x.GetAreaPx(0));
        Assert.Equal(20, x.GetAreaPx(1));
    }

    [Fact]
    public void AreaLimits_DropSpecksAndLargeBlobs()
    {
        var (map, h, w) = Draw(
            "#.........",
            "....###...",
            "....###...",
            ".........#",
            "#####.....",
            "#####.....",
            "#####.....");
        var x = new MaskExtractor(h, w, new SegmentationSettings { MinAreaPx = 4, MaxAreaPx = 10 });
        Assert.Equal(1, x.Extract(map));
        Assert.Equal(new[] { 14, 15, 16, 24, 25, 26 }, x.GetPixels(0).ToArray());
        Assert.Equal(3, x.RejectedCount); // two single pixels and the 15-pixel block
    }

    [Fact]
    public void NaNAndBelowThreshold_AreBackground()
    {
        var map = new float[] { float.NaN, 0.49f, 0.51f, float.NaN };
        var x = new MaskExtractor(1, 4, Loose);
        Assert.Equal(1, x.Extract(map));
        Assert.Equal(new[] { 2 }, x.GetPixels(0).ToArray());
    }

    [Theory]
    [InlineData(0.3, 1)]
    [InlineData(0.5, 2)]
    [InlineData(0.7, 3)]
    public void RandomMaps_MatchAFloodFillReference(double density, int seed)
    {
        // 37 × 53: widths that are not a multiple of the vector size exercise the scalar tails.
        int h = 37, w = 53;
        var rng = new Random(seed);
        var x = new MaskExtractor(h, w, Loose);
        for (int trial = 0; trial < 20; trial++)
        {
            var map = new float[h * w];
            for (int i = 0; i < map.Length; i++) map[i] = rng.NextDouble() < density ? 0.8f : 0.2f;
            x.Extract(map);
            var expected = TestMasks.FloodFillComponents(map, h, w, 0.5f).OrderBy(m => m[0]).ToList();
            var got = Masks(x).OrderBy(m => m[0]).ToList();
            Assert.Equal(expected.Count, got.Count);
            for (int k = 0; k < got.Count; k++) Assert.Equal(expected[k], got[k]);
        }
    }

    [Fact]
    public void WrongMapSizeOrBadSettings_AreClearErrors()
    {
        var x = new MaskExtractor(4, 4, Loose);
        Assert.Throws<ArgumentException>(() => x.Extract(new float[15]));
        var ex = Assert.Throws<SettingException>(() => new MaskExtractor(4, 4, new SegmentationSettings { ProbabilityThreshold = 1.5 }));
        Assert.Equal("segmentation.probabilityThreshold", ex.Setting);
        ex = Assert.Throws<SettingException>(() => new SegmentationSettings { MinAreaPx = 50, MaxAreaPx = 10 }.Validate());
        Assert.Equal("segmentation.maxAreaPx", ex.Setting);
        Assert.Contains("between 50 and", ex.Message);
    }
}
