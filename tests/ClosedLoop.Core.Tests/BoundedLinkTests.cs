using ClosedLoop.Core;

namespace ClosedLoop.Core.Tests;

public class BoundedLinkTests
{
    [Theory]
    [InlineData(LinkFullMode.DropOldest, new[] { 3, 4, 5 })]
    [InlineData(LinkFullMode.DropNewest, new[] { 1, 2, 5 })]
    [InlineData(LinkFullMode.DropIncoming, new[] { 1, 2, 3 })]
    public void TryWrite_WhenFull_DropsAccordingToModeAndCountsEveryDrop(LinkFullMode mode, int[] expectedKept)
    {
        var dropped = new List<int>();
        using var link = new BoundedLink<int>("test", 3, mode, dropped.Add);
        for (int i = 1; i <= 5; i++) link.TryWrite(i);

        var kept = new List<int>();
        link.Complete();
        while (link.TryTake(out var x, CancellationToken.None)) kept.Add(x);

        Assert.Equal(expectedKept, kept);
        Assert.Equal(2, link.Dropped);
        Assert.Equal(2, dropped.Count);
        Assert.Equal(link.Written, link.Read + link.Dropped);
    }

    [Fact]
    public void TryWrite_WaitModeWhenFull_RefusesWithoutDropping()
    {
        using var link = new BoundedLink<int>("test", 2, LinkFullMode.Wait);
        Assert.True(link.TryWrite(1));
        Assert.True(link.TryWrite(2));
        Assert.False(link.TryWrite(3));
        Assert.Equal(0, link.Dropped);
        Assert.Equal(2, link.Count);
    }

    [Fact]
    public void TryWrite_AfterComplete_HandsItemToDropHandler()
    {
        var dropped = new List<int>();
        using var link = new BoundedLink<int>("test", 2, LinkFullMode.DropOldest, dropped.Add);
        link.Complete();
        Assert.False(link.TryWrite(7));
        Assert.Equal(new[] { 7 }, dropped);
        Assert.Equal(1, link.Dropped);
    }

    [Fact]
    public async Task TryTake_BlockedReader_WakesWhenAnotherThreadWrites()
    {
        using var link = new BoundedLink<int>("test", 4, LinkFullMode.DropOldest);
        var reader = Task.Run(() => link.TryTake(out var v, CancellationToken.None) ? v : -1);
        Thread.Sleep(50);
        link.TryWrite(42);
        Assert.Equal(42, await reader.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void TryTake_Cancelled_ThrowsOperationCanceled()
    {
        using var link = new BoundedLink<int>("test", 4, LinkFullMode.DropOldest);
        using var cts = new CancellationTokenSource(50);
        Assert.ThrowsAny<OperationCanceledException>(() => link.TryTake(out _, cts.Token));
    }

    [Fact]
    public void Drain_ReturnsQueuedFramesToTheirPool()
    {
        var pool = new FramePool(4, 4, 4);
        using var link = new BoundedLink<Frame>("frames", 4, LinkFullMode.DropOldest, f => f.Release());
        for (int i = 0; i < 3; i++) { Assert.True(pool.TryRent(out var f)); link.TryWrite(f); }
        Assert.Equal(3, pool.Outstanding);

        Assert.Equal(3, link.Drain());

        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Constructor_ZeroCapacity_NamesTheSetting()
    {
        var ex = Assert.Throws<SettingException>(() => new BoundedLink<int>("display", 0, LinkFullMode.DropOldest));
        Assert.Contains("links.display.capacity", ex.Message);
        Assert.Contains("between 1 and", ex.Message);
    }
}
