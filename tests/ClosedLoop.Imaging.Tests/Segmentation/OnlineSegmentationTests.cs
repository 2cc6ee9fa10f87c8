using ClosedLoop.Core;
using ClosedLoop.Imaging.Segmentation;

namespace ClosedLoop.Imaging.Tests.Segmentation;

public sealed class OnlineSegmentationTests
{
    private const int H = 40, W = 40;
    private static readonly SegmentationSettings Settings = new()
    {
        MinAreaPx = 4, InitialFrames = 20, UpdateEveryFrames = 10, MinConsecutiveFrames = 3,
    };

    private static int[] Sq(int r0, int c0, int side) => MapSegmenter.Square(W, r0, c0, side);

    private static void PushFrames(OnlineSegmentation seg, int count, int perCall = 7)
    {
        var frames = new ushort[perCall * H * W];
        for (int done = 0; done < count;)
        {
            int k = Math.Min(perCall, count - done);
            seg.Push(frames.AsSpan(0, k * H * W), k);
            done += k;
        }
    }

    private static TrackedRoi Roi(OnlineSegmentation seg, int id) => Assert.Single(seg.Snapshot(), r => r.Id == id);

    [Fact]
    public void IdsStayStable_AsMasksAreRefined_AndNewNeuronsGetNewIds()
    {
        var core = Sq(5, 5, 4);
        var full = Sq(4, 4, 6);
        var b = Sq(20, 20, 5);
        var seg = new OnlineSegmentation(new MapSegmenter(H, W, f =>
            f < 40 ? MapSegmenter.Map(H, W, core) : f < 60 ? MapSegmenter.Map(H, W, full) : MapSegmenter.Map(H, W, full, b), warmupFrames: 5), Settings);

        PushFrames(seg, 24);
        Assert.False(seg.Initialised);
        Assert.Empty(seg.Snapshot());
        PushFrames(seg, 1); // 5 warm-up + 20 initial frames
        Assert.True(seg.Initialised);
        var first = Assert.Single(seg.Snapshot());
        Assert.Equal(0, first.Id);
        Assert.Equal(core, first.PixelIndices);
        Assert.Equal("roi000", first.Name);
        long v0 = seg.Version;

        PushFrames(seg, 100);
        var rois = seg.Snapshot();
        Assert.Equal(new[] { 0, 1 }, rois.Select(r => r.Id));
        Assert.Equal(full, rois[0].PixelIndices); // refined: the ring seen in most frames since frame 40 joined the mask
        Assert.Equal(b, rois[1].PixelIndices);
        Assert.False(rois[0].Locked || rois[0].UserAdded);
        Assert.True(seg.Version > v0);
    }

    [Fact]
    public void VersionChangesOnlyWhenSomethingChanges()
    {
        var a = Sq(5, 5, 6);
        var seg = new OnlineSegmentation(new MapSegmenter(H, W, _ => MapSegmenter.Map(H, W, a)), Settings);
        PushFrames(seg, 30);
        long v = seg.Version;
        Assert.Equal(1, v);
        PushFrames(seg, 100); // ten updates, nothing new
        Assert.Equal(v, seg.Version);
        Assert.True(seg.Lock(0, false)); // already unlocked: no change
        Assert.Equal(v, seg.Version);
        Assert.True(seg.Lock(0, true));
        Assert.Equal(v + 1, seg.Version);
        Assert.False(seg.Lock(42, true));
    }

    [Fact]
    public void LockedRoi_IsNotRefined_UntilUnlocked()
    {
        var small = Sq(5, 5, 6);
        var big = Sq(4, 4, 8);
        var seg = new OnlineSegmentation(new MapSegmenter(H, W, f => MapSegmenter.Map(H, W, f < 30 ? small : big)), Settings);
        PushFrames(seg, 20);
        Assert.Equal(small, Roi(seg, 0).PixelIndices);
        seg.Lock(0, true);
        PushFrames(seg, 150);
        Assert.Equal(small, Roi(seg, 0).PixelIndices);
        Assert.True(Roi(seg, 0).Locked);
        Assert.Single(seg.Snapshot()); // the bigger mask is the same neuron, not a new ROI
        seg.Lock(0, false);
        PushFrames(seg, 20);
        Assert.Equal(big, Roi(seg, 0).PixelIndices);
    }

    [Fact]
    public void DeletedRoi_IsNotBroughtBack_AndItsIdIsNotReused()
    {
        var a = Sq(5, 5, 6);
        var b = Sq(20, 5, 6);
        var c = Sq(20, 25, 6);
        var seg = new OnlineSegmentation(new MapSegmenter(H, W, f =>
            f < 80 ? MapSegmenter.Map(H, W, a, b) : MapSegmenter.Map(H, W, a, b, c)), Settings);
        PushFrames(seg, 30);
        Assert.Equal(new[] { 0, 1 }, seg.Snapshot().Select(r => r.Id));
        long v = seg.Version;
        Assert.True(seg.Delete(0));
        Assert.Equal(v + 1, seg.Version);
        Assert.False(seg.Delete(0));
        PushFrames(seg, 100); // A keeps firing; C appears at frame 80
        var rois = seg.Snapshot();
        Assert.Equal(new[] { 1, 2 }, rois.Select(r => r.Id));
        Assert.Equal(c, rois[1].PixelIndices);
    }

    [Fact]
    public void UserRoi_IsLocked_KeepsItsMask_AndAbsorbsTheNeuronBelowIt()
    {
        var a = Sq(5, 5, 6);
        var b = Sq(20, 20, 6);
        var seg = new OnlineSegmentation(new MapSegmenter(H, W, f =>
            f < 40 ? MapSegmenter.Map(H, W, a) : MapSegmenter.Map(H, W, a, b)), Settings);
        PushFrames(seg, 30);
        var drawn = Sq(19, 19, 7).Reverse().ToArray(); // a user's rough outline, unordered
        int id = seg.Add(drawn);
        Assert.Equal(1, id);
        var user = Roi(seg, id);
        Assert.True(user.Locked && user.UserAdded);
        Assert.Equal(Sq(19, 19, 7), user.PixelIndices);
        PushFrames(seg, 60); // B fires under the user ROI
        Assert.Equal(new[] { 0, 1 }, seg.Snapshot().Select(r => r.Id));
        Assert.Equal(Sq(19, 19, 7), Roi(seg, 1).PixelIndices);
        Assert.True(seg.Lock(1, false)); // user ROIs stay locked
        Assert.True(Roi(seg, 1).Locked);

        var ex = Assert.Throws<SettingException>(() => seg.Add(new[] { 5, H * W, 7 }));
        Assert.Equal("pixelIndices[1]", ex.Setting);
        Assert.Contains($"between 0 and {H * W - 1}", ex.Message);
        Assert.Throws<SettingException>(() => seg.Add(new[] { -1 }));
    }

    [Fact]
    public void MapsDuringWarmup_SeedNothing()
    {
        var a = Sq(5, 5, 6);
        var seg = new OnlineSegmentation(new MapSegmenter(H, W, f => f < 10 ? MapSegmenter.Map(H, W, a) : MapSegmenter.Map(H, W), warmupFrames: 10), Settings);
        PushFrames(seg, 60);
        Assert.True(seg.Initialised);
        Assert.Empty(seg.Snapshot());
    }

    [Fact]
    public void OnSyntheticYstMaps_FindsWhatTheBatchFinds()
    {
        var movie = new SyntheticMovie(TestMasks.YstOrGenerated("11"), seed: 4);
        int n = movie.H * movie.W;
        var settings = new SegmentationSettings { InitialFrames = 10, UpdateEveryFrames = 5 };
        var seg = new OnlineSegmentation(new MapSegmenter(movie.H, movie.W, f => movie.Maps.AsSpan((int)(f % movie.Frames) * n, n).ToArray()), settings);
        var frames = new ushort[n];
        for (int f = 0; f < movie.Frames + 10; f++) seg.Push(frames, 1);
        var online = new MaskSet(movie.H, movie.W, seg.Snapshot().Select(r => r.PixelIndices));
        var score = SegmentationScore.Compute(movie.ActiveTruth, online);
        Assert.True(score.F1 > 0.97, $"F1 {score.F1:0.000} (P {score.Precision:0.000}, R {score.Recall:0.000})");
        Assert.Equal(Enumerable.Range(0, online.Count), seg.Snapshot().Select(r => r.Id)); // nothing deleted: ids 0..n-1
    }

    [Fact]
    public async Task ConcurrentEdits_WhilePushing_KeepTheSetConsistent()
    {
        var masks = Enumerable.Range(0, 9).Select(i => Sq(2 + 12 * (i / 3), 2 + 12 * (i % 3), 6)).ToArray();
        // Neuron i starts firing at frame 10 i: new ROIs keep appearing while other threads edit.
        var seg = new OnlineSegmentation(new MapSegmenter(H, W, f => MapSegmenter.Map(H, W, masks.Where((_, i) => f >= 10 * i).ToArray())),
            Settings with { UpdateEveryFrames = 2 });
        var deleted = new System.Collections.Concurrent.ConcurrentBag<int>();
        using var stop = new CancellationTokenSource();
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var editors = Enumerable.Range(0, 3).Select(t => Task.Run(() =>
        {
            var rng = new Random(t);
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    var snap = seg.Snapshot();
                    for (int k = 1; k < snap.Count; k++)
                        if (snap[k].Id <= snap[k - 1].Id) throw new InvalidOperationException("ids not ascending");
                    if (snap.Count > 0)
                    {
                        var pick = snap[rng.Next(snap.Count)];
                        switch (rng.Next(4))
                        {
                            case 0: seg.Lock(pick.Id, rng.Next(2) == 0); break;
                            case 1: if (rng.Next(20) == 0 && seg.Delete(pick.Id)) deleted.Add(pick.Id); break;
                            case 2: if (rng.Next(20) == 0) seg.Add(new[] { rng.Next(H * W) }); break;
                        }
                    }
                }
            }
            catch (Exception ex) { errors.Enqueue(ex); }
        })).ToArray();
        PushFrames(seg, 200, perCall: 3);
        stop.Cancel();
        await Task.WhenAll(editors);
        Assert.Empty(errors);
        var final = seg.Snapshot();
        Assert.Equal(final.Count, final.Select(r => r.Id).Distinct().Count());
        Assert.DoesNotContain(final, r => deleted.Contains(r.Id));
        Assert.Equal(200, seg.FramesSeen);
    }

    [Fact]
    public void Dispose_DisposesTheSegmenter_AndBadPushesAreClear()
    {
        var net = new MapSegmenter(H, W, _ => MapSegmenter.Map(H, W));
        var seg = new OnlineSegmentation(net, Settings);
        Assert.Throws<ArgumentException>(() => seg.Push(new ushort[H * W], 2));
        seg.Dispose();
        Assert.True(net.Disposed);
        Assert.Throws<ObjectDisposedException>(() => seg.Push(new ushort[H * W], 1));
        var ex = Assert.Throws<SettingException>(() => new OnlineSegmentation(net, Settings with { UpdateEveryFrames = 0 }));
        Assert.Equal("segmentation.updateEveryFrames", ex.Setting);
    }
}
