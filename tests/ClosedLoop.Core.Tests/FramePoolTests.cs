using ClosedLoop.Core;

namespace ClosedLoop.Core.Tests;

public class FramePoolTests
{
    [Fact]
    public void TryRent_AllBuffersOut_FailsAndCountsTheMiss()
    {
        var pool = new FramePool(8, 8, 2);
        Assert.True(pool.TryRent(out _));
        Assert.True(pool.TryRent(out _));
        Assert.False(pool.TryRent(out _));
        Assert.Equal(1, pool.Exhausted);
    }

    [Fact]
    public void Release_LastReference_ReturnsBufferForReuse()
    {
        var pool = new FramePool(8, 8, 1);
        Assert.True(pool.TryRent(out var frame));
        frame.AddRef();
        frame.Release();
        Assert.Equal(1, pool.Outstanding);
        frame.Release();
        Assert.Equal(0, pool.Outstanding);
        Assert.True(pool.TryRent(out var again));
        Assert.Same(frame, again);
    }

    [Fact]
    public void Release_TooOften_Throws()
    {
        var pool = new FramePool(8, 8, 1);
        Assert.True(pool.TryRent(out var frame));
        frame.Release();
        Assert.Throws<InvalidOperationException>(() => frame.Release());
    }

    [Fact]
    public void TryRent_ReusedBuffer_ComesBackWithFreshMetadata()
    {
        var pool = new FramePool(8, 8, 1);
        Assert.True(pool.TryRent(out var frame));
        frame.FrameIndex = 12;
        frame.StageExitHostNs[3] = 99;
        frame.Release();
        Assert.True(pool.TryRent(out frame));
        Assert.Equal(-1, frame.FrameIndex);
        Assert.Equal(0, frame.StageExitHostNs[3]);
        Assert.Equal(1, frame.References);
    }

    [Fact]
    public void Constructor_HugeFrame_NamesSettingAndRange()
    {
        var ex = Assert.Throws<SettingException>(() => new FramePool(10_000, 8, 1));
        Assert.Contains("frame.widthPx", ex.Message);
        Assert.Contains("between 1 and 8192", ex.Message);
    }
}
