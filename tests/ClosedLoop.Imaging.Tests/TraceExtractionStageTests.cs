using ClosedLoop.Core;
using ClosedLoop.Imaging;

namespace ClosedLoop.Imaging.Tests;

internal static class TestRig
{
    public static RunContext Context(double frameRateHz = 30) => new("test", frameRateHz, new RunEventLog(), new CancellationTokenSource());

    public static Frame Rent(FramePool pool, long frameIndex)
    {
        Assert.True(pool.TryRent(out var frame));
        frame.FrameIndex = frameIndex;
        frame.SampleTimeNs = frameIndex * 33_333_333;
        return frame;
    }

    /// <summary>Pixel indices of a disk of <paramref name="radiusPx"/> around (row, col).</summary>
    public static int[] Disk(int widthPx, int row, int col, double radiusPx)
    {
        var list = new List<int>();
        int r = (int)Math.Ceiling(radiusPx);
        for (int dr = -r; dr <= r; dr++)
            for (int dc = -r; dc <= r; dc++)
                if (dr * dr + dc * dc <= radiusPx * radiusPx) list.Add((row + dr) * widthPx + col + dc);
        return list.ToArray();
    }
}

public sealed class TraceExtractionStageTests
{
    [Fact]
    public void Process_UnweightedRois_GiveExactMeanOfTheirPixels()
    {
        var rois = new RoiSet(8, 6, [new RoiDefinition("a", [0, 1, 9, 47]), new RoiDefinition("b", [20, 21, 22, 23, 24])]);
        var activity = rois.CreateActivity();
        var stage = new TraceExtractionStage(new TraceExtractionSettings(), rois, 8, 6, activity);
        stage.Start(TestRig.Context());
        var pool = new FramePool(8, 6, 1);
        var frame = TestRig.Rent(pool, 42);
        for (int p = 0; p < frame.Pixels.Length; p++) frame.Pixels[p] = (ushort)(p * 100 + 7);

        stage.Process(frame);

        Assert.Equal((0 + 1 + 9 + 47) * 100 / 4.0 + 7, activity.Raw[0], 3);
        Assert.Equal((20 + 21 + 22 + 23 + 24) * 100 / 5.0 + 7, activity.Raw[1], 3);
        Assert.Equal(42, activity.FrameIndex);
        Assert.Equal(frame.SampleTimeNs, activity.SampleTimeNs);
        frame.Release();
    }

    [Fact]
    public void Process_WeightedRoi_GivesWeightedMean()
    {
        var rois = new RoiSet(4, 4, [new RoiDefinition("w", [0, 5, 10], [1f, 2f, 0f])]);
        var activity = rois.CreateActivity();
        var stage = new TraceExtractionStage(new TraceExtractionSettings(), rois, 4, 4, activity);
        stage.Start(TestRig.Context());
        var frame = TestRig.Rent(new FramePool(4, 4, 1), 0);
        frame.Pixels[0] = 100;
        frame.Pixels[5] = 400;
        frame.Pixels[10] = 60000; // weight 0: must not count

        stage.Process(frame);

        Assert.Equal((100 * 1 + 400 * 2) / 3.0, activity.Raw[0], 3);
    }

    [Fact]
    public void Process_NeuropilOn_RemovesUniformBackgroundAroundRoi()
    {
        const int w = 64, h = 64;
        var roi = TestRig.Disk(w, 32, 32, 4);
        var rois = new RoiSet(w, h, [new RoiDefinition("cell", roi)]);
        var activity = rois.CreateActivity();
        var settings = new TraceExtractionSettings { NeuropilCoefficient = 1, NeuropilInnerRadiusPx = 2, NeuropilOuterRadiusPx = 8 };
        var stage = new TraceExtractionStage(settings, rois, w, h, activity);
        stage.Start(TestRig.Context());
        var frame = TestRig.Rent(new FramePool(w, h, 1), 0);
        const ushort background = 700, cellSignal = 250;
        Array.Fill(frame.Pixels, background);
        foreach (int p in roi) frame.Pixels[p] = background + cellSignal;

        stage.Process(frame);

        Assert.Equal(cellSignal, activity.Raw[0], 2);
        var annulus = stage.NeuropilPixels(0).ToArray();
        Assert.NotEmpty(annulus);
        Assert.DoesNotContain(annulus, p => roi.Contains(p));
    }

    [Fact]
    public void Start_NeuropilAnnulus_LeavesOutOtherRoisPixels()
    {
        const int w = 40, h = 40;
        var a = TestRig.Disk(w, 20, 14, 3);
        var b = TestRig.Disk(w, 20, 24, 3);
        var rois = new RoiSet(w, h, [new RoiDefinition("a", a), new RoiDefinition("b", b)]);
        var stage = new TraceExtractionStage(new TraceExtractionSettings { NeuropilCoefficient = 0.7 }, rois, w, h, rois.CreateActivity());
        stage.Start(TestRig.Context());

        var annulusA = stage.NeuropilPixels(0).ToArray();
        Assert.NotEmpty(annulusA);
        Assert.DoesNotContain(annulusA, p => b.Contains(p) || a.Contains(p));
    }

    [Fact]
    public void Process_ManyFrames_AllocatesNothing()
    {
        const int w = 128, h = 128;
        var defs = new List<RoiDefinition>();
        for (int i = 0; i < 40; i++) defs.Add(new RoiDefinition($"c{i}", TestRig.Disk(w, 10 + (i / 8) * 20, 10 + (i % 8) * 14, 4)));
        defs.Add(new RoiDefinition("weighted", [5, 6, 7], [0.5f, 1f, 2f]));
        var rois = new RoiSet(w, h, defs);
        var activity = rois.CreateActivity();
        var stage = new TraceExtractionStage(new TraceExtractionSettings { NeuropilCoefficient = 0.7 }, rois, w, h, activity);
        stage.Start(TestRig.Context());
        var frame = TestRig.Rent(new FramePool(w, h, 1), 0);
        stage.Process(frame); // JIT

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 5000; i++) stage.Process(frame);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Constructor_RoisForAnotherFrameSize_ThrowsNamingBothSizes()
    {
        var rois = new RoiSet(120, 88, [new RoiDefinition("a", [1])]);
        var ex = Assert.Throws<SettingException>(() => new TraceExtractionStage(new TraceExtractionSettings(), rois, 512, 512, rois.CreateActivity()));
        Assert.Contains("512×512", ex.Message);
        Assert.Contains("120×88", ex.Message);
    }

    [Fact]
    public void Constructor_ActivityWithWrongUnitCount_Throws()
    {
        var rois = new RoiSet(10, 10, [new RoiDefinition("a", [1]), new RoiDefinition("b", [2])]);
        var ex = Assert.Throws<SettingException>(() =>
            new TraceExtractionStage(new TraceExtractionSettings(), rois, 10, 10, new PopulationActivity(3, ["x", "y", "z"])));
        Assert.Equal("activity.units", ex.Setting);
    }

    [Theory]
    [InlineData(1.5, 2, 8, "traces.neuropilCoefficient")]
    [InlineData(-0.1, 2, 8, "traces.neuropilCoefficient")]
    [InlineData(0.7, -1, 8, "traces.neuropilInnerRadiusPx")]
    [InlineData(0.7, 4, 3, "traces.neuropilOuterRadiusPx")]
    [InlineData(0.7, 2, 500, "traces.neuropilOuterRadiusPx")]
    public void Start_OutOfRangeSetting_ThrowsNamingTheSetting(double coefficient, double innerPx, double outerPx, string setting)
    {
        var rois = new RoiSet(10, 10, [new RoiDefinition("a", [1])]);
        var settings = new TraceExtractionSettings { NeuropilCoefficient = coefficient, NeuropilInnerRadiusPx = innerPx, NeuropilOuterRadiusPx = outerPx };
        var stage = new TraceExtractionStage(settings, rois, 10, 10, rois.CreateActivity());
        var ex = Assert.Throws<SettingException>(() => stage.Start(TestRig.Context()));
        Assert.Equal(setting, ex.Setting);
    }

    [Fact]
    public void Process_FrameOfAnotherSize_Throws()
    {
        var rois = new RoiSet(10, 10, [new RoiDefinition("a", [1])]);
        var stage = new TraceExtractionStage(new TraceExtractionSettings(), rois, 10, 10, rois.CreateActivity());
        stage.Start(TestRig.Context());
        var frame = TestRig.Rent(new FramePool(12, 10, 1), 3);
        var ex = Assert.Throws<InvalidOperationException>(() => stage.Process(frame));
        Assert.Contains("12×10", ex.Message);
    }
}
