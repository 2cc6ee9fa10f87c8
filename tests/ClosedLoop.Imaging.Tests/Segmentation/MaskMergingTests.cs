using ClosedLoop.Imaging.Segmentation;

namespace ClosedLoop.Imaging.Tests.Segmentation;

public sealed class MaskMergingTests
{
    [Theory]
    [InlineData("11", 1)]
    [InlineData("12", 2)]
    [InlineData("21", 3)]
    public void BurstingNeuronsAreFound_FlashesAndNoiseAreNot(string part, int seed)
    {
        var movie = new SyntheticMovie(TestMasks.YstOrGenerated(part), seed);
        var found = MaskMerger.FromProbabilityMaps(movie.Maps, movie.Frames, movie.H, movie.W, new SegmentationSettings());
        var foundSet = new MaskSet(movie.H, movie.W, found.Select(m => m.PixelIndices));
        var truth = movie.ActiveTruth;

        var score = SegmentationScore.Compute(truth, foundSet);
        Assert.Equal(truth.Count, score.Matches.Count);   // every bursting neuron found
        Assert.Equal(truth.Count, found.Count);           // and nothing else: no flash, no noise blob
        // Masks are merged from full and core-only frames: the majority rule gives back the full mask.
        Assert.True(score.MeanMatchedIou > 0.95, $"mean IoU {score.MeanMatchedIou:0.000}");
        // Core-only frames join their neuron, so nearly every mask is tracked over its whole 6-frame burst (a frame is lost
        // only where a noise blob bridges two active neurons into one candidate, which joins the other neuron).
        int wholeBurst = found.Count(m => m.LongestRunFrames == 6);
        Assert.True(wholeBurst >= 0.9 * found.Count, $"{wholeBurst} of {found.Count} masks tracked over the whole burst");
    }

    [Fact]
    public void TemporalConsistency_CountsConsecutiveFrames()
    {
        int h = 10, w = 10;
        var mask = new[] { 11, 12, 21, 22 };
        var settings = new SegmentationSettings { MinAreaPx = 1, MinConsecutiveFrames = 3 };
        var merger = new MaskMerger(h, w, settings);
        foreach (long f in new long[] { 0, 1, 3, 4, 6, 7 }) merger.AddMask(f, mask); // six frames, never three in a row
        Assert.Empty(merger.Consolidate());
        merger.AddMask(8, mask);                                                       // 6, 7, 8
        var result = Assert.Single(merger.Consolidate());
        Assert.Equal(mask, result.PixelIndices);
        Assert.Equal(3, result.LongestRunFrames);
        Assert.Equal(7, result.SeenInFrames);
        Assert.Equal(0, result.FirstFrame);
    }

    [Fact]
    public void MergedMask_KeepsPixelsSeenInEnoughMembers()
    {
        int w = 20;
        var settings = new SegmentationSettings { MinAreaPx = 1, MinConsecutiveFrames = 1, MaskFraction = 0.5 };
        var merger = new MaskMerger(20, w, settings);
        int[] core = { 21, 22, 41, 42 };
        int[] full = { 21, 22, 23, 41, 42, 43 };
        int[] once = { 21, 22, 41, 42, 61 };
        merger.AddMask(0, full);
        merger.AddMask(1, full);
        merger.AddMask(2, core);
        merger.AddMask(3, once);
        // Counts: core pixels 4, 23 and 43 twice (≥ 0.5 × 4), 61 once (< 2): dropped.
        var m = Assert.Single(merger.Consolidate());
        Assert.Equal(full, m.PixelIndices);
    }

    [Fact]
    public void Candidates_MergeByIouConsumeOrCentroid_NotWhenBarelyTouching()
    {
        int w = 40;
        int[] Square(int r0, int c0, int side) =>
            Enumerable.Range(r0, side).SelectMany(r => Enumerable.Range(c0, side).Select(c => r * w + c)).ToArray();
        var s = new SegmentationSettings { MinAreaPx = 1, MinConsecutiveFrames = 1, MergeCentroidDistancePx = 0 };

        // Small square inside a big one: IoU 16/64 = 0.25, but it is consumed (16/16 ≥ 0.75): one neuron.
        var m = new MaskMerger(40, w, s);
        m.AddMask(0, Square(0, 0, 8));
        m.AddMask(1, Square(2, 2, 4));
        Assert.Single(m.Consolidate());

        // Two 6 × 6 squares overlapping by one column: IoU 6/66, consume 6/36: two neurons.
        m = new MaskMerger(40, w, s);
        m.AddMask(0, Square(10, 10, 6));
        m.AddMask(1, Square(10, 15, 6));
        Assert.Equal(2, m.Consolidate().Count);

        // Same pair with a generous centroid rule (5 px apart ≤ 6): merged.
        m = new MaskMerger(40, w, s with { MergeCentroidDistancePx = 6 });
        m.AddMask(0, Square(10, 10, 6));
        m.AddMask(1, Square(10, 15, 6));
        Assert.Single(m.Consolidate());
    }

    [Fact]
    public void GroupsThatGrowTogether_AreMergedAtConsolidation()
    {
        // Two halves of one neuron start separate groups; a later full mask bridges them. Consolidation joins all three.
        int w = 30;
        var s = new SegmentationSettings { MinAreaPx = 1, MinConsecutiveFrames = 1, MergeCentroidDistancePx = 0, MaskFraction = 0.3 };
        var m = new MaskMerger(30, w, s);
        int[] left = Enumerable.Range(5, 6).SelectMany(r => Enumerable.Range(5, 4).Select(c => r * w + c)).ToArray();
        int[] right = Enumerable.Range(5, 6).SelectMany(r => Enumerable.Range(9, 4).Select(c => r * w + c)).ToArray();
        int[] full = left.Concat(right).OrderBy(p => p).ToArray();
        m.AddMask(0, left);
        m.AddMask(1, right);
        Assert.Equal(2, m.GroupCount);
        for (int f = 2; f < 6; f++) m.AddMask(f, full);
        var merged = Assert.Single(m.Consolidate());
        Assert.Equal(full, merged.PixelIndices);
        Assert.Equal(6, merged.LongestRunFrames); // frames 0–5 joined into one run
    }

    [Fact]
    public void NoiseOnlyGroups_ArePrunedSoMemoryStaysBounded()
    {
        var rng = new Random(5);
        var s = new SegmentationSettings { MinAreaPx = 1 };
        var m = new MaskMerger(64, 64, s);
        for (int f = 0; f < 2000; f++)
        {
            int r = rng.Next(0, 62), c = rng.Next(0, 62);
            m.AddMask(f, new[] { r * 64 + c, r * 64 + c + 1, (r + 1) * 64 + c });
            m.PruneStale(f);
        }
        Assert.True(m.GroupCount < 50, $"{m.GroupCount} groups held");
    }
}
