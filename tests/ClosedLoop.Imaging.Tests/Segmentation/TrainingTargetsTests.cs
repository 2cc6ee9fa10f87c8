using ClosedLoop.Imaging.Segmentation;

namespace ClosedLoop.Imaging.Tests.Segmentation;

public class TrainingTargetsTests
{
    [Fact]
    public void FromTruth_MarksFramesWhereTheFilteredTransientClearsTheThreshold_AboveTheNeuronsOwnMedian()
    {
        const int frames = 600, n = 2;
        var dff = new float[frames * n];
        // Neuron 0: a 0.5 ΔF/F transient of 60 frames at frame 300 on a raised baseline of 0.2; neuron 1: silent.
        for (int t = 0; t < frames; t++) dff[t * n] = 0.2f + (t >= 300 && t < 360 ? 0.5f : 0);
        var movie = new TrainingMovie
        {
            Name = "two", Frames = new ushort[frames * 4], HeightPx = 2, WidthPx = 2, FrameRateHz = 30,
            Masks = [[0, 1], [2, 3]], TrueDff = dff, DffNoiseSigma = [0.05f, 0.05f],
        };
        var taps = SnrSettings.ForIndicator("GCaMP6f", 30).Template();
        var active = TrainingTargets.FromTruth(movie, taps, 4);
        var on = Enumerable.Range(0, frames).Where(t => active[t * n]).ToArray();
        Assert.NotEmpty(on);
        Assert.True(on.Min() >= 300 && on.Max() < 360 + taps.Length, $"active {on.Min()}–{on.Max()}");
        Assert.True(on.Length > 40, $"{on.Length} active frames");
        Assert.DoesNotContain(Enumerable.Range(0, frames), t => active[t * n + 1]);
        // The raised baseline alone is not activity: with a tiny threshold nothing before the transient is active.
        Assert.DoesNotContain(Enumerable.Range(0, 300), t => TrainingTargets.FromTruth(movie, taps, 0.5)[t * n]);
    }

    [Fact]
    public void PaintTarget_LeavesAGapBetweenTouchingActiveNeurons_AndPaintsALoneOneWhole()
    {
        const int h = 6, w = 8;
        int[] left = [.. from r in Enumerable.Range(1, 4) from c in Enumerable.Range(1, 3) select r * w + c];
        int[] right = [.. from r in Enumerable.Range(1, 4) from c in Enumerable.Range(4, 3) select r * w + c];
        var target = new float[h * w];
        var owner = new int[h * w];
        TrainingTargets.PaintTarget([left, right], [0, 1], h, w, owner, target);
        // No painted pixel of one neuron has a painted 8-neighbour of the other: two separate components.
        foreach (int a in left.Where(px => target[px] == 1))
            foreach (int b in right.Where(px => target[px] == 1))
                Assert.False(Math.Abs(a / w - b / w) <= 1 && Math.Abs(a % w - b % w) <= 1, $"pixels {a} and {b} touch");
        Assert.True(left.Count(px => target[px] == 1) >= 8 && right.Count(px => target[px] == 1) >= 8, "most of each mask stays");
        TrainingTargets.PaintTarget([left, right], [0], h, w, owner, target);
        Assert.All(left, px => Assert.Equal(1f, target[px]));
        Assert.All(right, px => Assert.Equal(0f, target[px]));
    }

    [Fact]
    public void CropAugment_TheEightSymmetriesAreDistinctRearrangementsOfTheSameCrop()
    {
        const int width = 10, crop = 4;
        var frame = Enumerable.Range(0, 80).Select(i => (float)i).ToArray();
        var seen = new HashSet<string>();
        for (int aug = 0; aug < 8; aug++)
        {
            var dst = new float[crop * crop];
            SegmentationTrainer.CropAugment(frame, width, 2, 3, crop, aug, dst);
            var expected = from r in Enumerable.Range(2, crop) from c in Enumerable.Range(3, crop) select (float)(r * width + c);
            Assert.Equal(expected.Order(), dst.Order());
            seen.Add(string.Join(",", dst));
        }
        Assert.Equal(8, seen.Count);
    }
}
