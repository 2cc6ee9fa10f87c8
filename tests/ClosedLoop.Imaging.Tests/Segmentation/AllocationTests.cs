using ClosedLoop.Imaging.Segmentation;

namespace ClosedLoop.Imaging.Tests.Segmentation;

/// <summary>The per-frame path runs in the slow loop on every frame: once warmed up it must not allocate.</summary>
public sealed class AllocationTests
{
    [Fact]
    public void ExtractAndMerge_RecurringNeurons_AllocateNothingPerFrame()
    {
        var masks = TestMasks.YstOrGenerated("11");
        int h = masks.HeightPx, w = masks.WidthPx;
        var maps = new float[4][];
        for (int k = 0; k < maps.Length; k++)
        {
            maps[k] = new float[h * w];
            for (int i = k; i < masks.Count; i += 4) foreach (int p in masks.Masks[i]) maps[k][p] = 0.9f;
        }
        var settings = new SegmentationSettings();
        var extractor = new MaskExtractor(h, w, settings);
        var merger = new MaskMerger(h, w, settings);
        // Each map repeats for 5 frames (runs of activity); the first cycles create the groups and size their buffers.
        for (int f = 0; f < 200; f++)
        {
            extractor.Extract(maps[(f / 5) % 4]);
            merger.AddFrame(f, extractor);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        int found = 0;
        for (int f = 200; f < 220; f++)
        {
            found += extractor.Extract(maps[(f / 5) % 4]);
            merger.AddFrame(f, extractor);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(found > 0);
        Assert.Equal(0, allocated);
    }
}
