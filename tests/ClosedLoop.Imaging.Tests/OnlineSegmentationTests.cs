using ClosedLoop.Core;
using ClosedLoop.Imaging;
using ClosedLoop.Imaging.Segmentation;

namespace ClosedLoop.Imaging.Tests;

/// <summary>
/// A stand-in for the real online segmentation (a legitimate double for the plumbing): after <c>revealAt</c> frames
/// it "finds" masks A and B (ids 0, 1), after <c>refineAt</c> it refines A to A2 (unless locked), after <c>addAt</c> it
/// finds C (id 2). Lock, add and delete behave as the contract says.
/// </summary>
internal sealed class ScriptedSegmentation : IOnlineSegmentation
{
    private readonly object _gate = new();
    private readonly int[] _a, _a2, _b, _c;
    private readonly int _revealAt, _refineAt, _addAt;
    private readonly SortedDictionary<int, TrackedRoi> _rois = new();
    private readonly HashSet<int> _deleted = new();
    private int _nextId;
    private long _seen, _version;

    public ScriptedSegmentation(int w, int h, int[] a, int[] a2, int[] b, int[] c, int revealAt, int refineAt, int addAt)
    {
        WidthPx = w; HeightPx = h;
        _a = a; _a2 = a2; _b = b; _c = c;
        _revealAt = revealAt; _refineAt = refineAt; _addAt = addAt;
    }

    public int WidthPx { get; }
    public int HeightPx { get; }
    public long FramesSeen { get { lock (_gate) return _seen; } }
    public bool Initialised { get { lock (_gate) return _seen >= _revealAt; } }
    public long Version { get { lock (_gate) return _version; } }
    public bool ScriptDone { get { lock (_gate) return _seen >= _addAt; } }
    public int Pushes;

    public void Push(ReadOnlySpan<ushort> frames, int count)
    {
        Assert.Equal(count * WidthPx * HeightPx, frames.Length);
        Interlocked.Increment(ref Pushes);
        lock (_gate)
        {
            long before = _seen;
            _seen += count;
            if (before < _revealAt && _seen >= _revealAt)
            {
                Found(_a);
                Found(_b);
            }
            if (before < _refineAt && _seen >= _refineAt && _rois.TryGetValue(0, out var r0) && !r0.Locked)
            {
                _rois[0] = r0 with { PixelIndices = _a2 };
                _version++;
            }
            if (before < _addAt && _seen >= _addAt) Found(_c);
        }
    }

    private void Found(int[] mask)
    {
        int id = _nextId++;
        _rois[id] = new TrackedRoi(id, mask, false, false, 1);
        _version++;
    }

    public IReadOnlyList<TrackedRoi> Snapshot() { lock (_gate) return _rois.Values.ToList(); }

    public bool Lock(int id, bool locked)
    {
        lock (_gate)
        {
            if (!_rois.TryGetValue(id, out var r)) return false;
            _rois[id] = r with { Locked = locked };
            _version++;
            return true;
        }
    }

    public int Add(int[] pixelIndices)
    {
        lock (_gate)
        {
            foreach (int p in pixelIndices)
                if ((uint)p >= (uint)(WidthPx * HeightPx)) throw new SettingException("pixels", p, "inside the frame");
            int id = _nextId++;
            _rois[id] = new TrackedRoi(id, pixelIndices, true, true, 0);
            _version++;
            return id;
        }
    }

    public bool Delete(int id)
    {
        lock (_gate)
        {
            if (!_rois.Remove(id)) return false;
            _deleted.Add(id);
            _version++;
            return true;
        }
    }

    public void Dispose() { }
}

/// <summary>Frames where mask A shines at 1000, B at 2000, C at 3000, everything else at 100; paced on the host clock
/// and running until <paramref name="done"/> says so (plus a few frames), at most <paramref name="maxFrames"/>.</summary>
internal sealed class SceneSource(int w, int h, int[] a, int[] b, int[] c, Func<bool> done, long maxFrames) : IFrameSource
{
    public int WidthPx => w;
    public int HeightPx => h;
    public double FrameRateHz => 30;
    public long FramesAcquired { get; private set; }
    public long FramesDroppedAtSource { get; private set; }

    public void Run(FramePool pool, BoundedLink<Frame> output, CancellationToken ct)
    {
        var scene = new ushort[w * h];
        Array.Fill(scene, (ushort)100);
        foreach (int p in a) scene[p] = 1000;
        foreach (int p in b) scene[p] = 2000;
        foreach (int p in c) scene[p] = 3000;
        long start = MonotonicClock.NowNs();
        int after = 0;
        for (long i = 0; i < maxFrames && !ct.IsCancellationRequested; i++)
        {
            if (done() && ++after > 30) break;
            MonotonicClock.WaitUntil(start + (i + 1) * 300_000, ct); // 0.3 ms per frame
            FramesAcquired++;
            if (!pool.TryRent(out var frame)) { FramesDroppedAtSource++; continue; }
            scene.CopyTo(frame.Pixels, 0);
            frame.FrameIndex = i;
            frame.SampleTimeNs = i * 33_333_333;
            frame.FramePeriodNs = 33_333_333;
            frame.AcquiredHostNs = MonotonicClock.NowNs();
            frame.CompletedHostNs = frame.AcquiredHostNs;
            output.TryWrite(frame);
        }
    }
}

/// <summary>Copies the first units' Raw after every frame into preallocated rows (a probe stage for the tests).</summary>
internal sealed class RawProbe(PopulationActivity activity, int units, int maxFrames) : IFastStage
{
    public readonly float[] Rows = new float[units * maxFrames];
    public int Frames;
    public string Name => "probe";
    public void Start(RunContext context) { }
    public void Process(Frame frame)
    {
        if (Frames >= maxFrames) return;
        Array.Copy(activity.Raw, 0, Rows, Frames * units, units);
        Frames++;
    }
    public void Stop() { }
    public float At(int frame, int unit) => Rows[frame * units + unit];
}

public sealed class OnlineSegmentationTests
{
    private const int W = 32, H = 24;

    private static int[] Square(int row, int col, int side)
    {
        var list = new List<int>();
        for (int r = row; r < row + side; r++)
            for (int c = col; c < col + side; c++) list.Add(r * W + c);
        return list.ToArray();
    }

    private static LiveRunInfo Info(RunContext context, OnlineRoiBoard board) =>
        new(context, "test", "test", W, H, board.Units().Units, Array.Empty<LiveGroup>(), new ParameterBoard(), () => null!, new Dictionary<string, string>())
        { CurrentUnits = board.Units };

    [Fact]
    public void Run_WithSegmentationDouble_TracesAppearAfterInitialisationAndKeepTheirUnitAsMasksAreRefined()
    {
        int[] a = Square(2, 2, 4), b = Square(10, 20, 3), c = Square(16, 4, 5);
        int[] a2 = Square(2, 2, 5); // refined: one more row and column, 9 of its 25 pixels at background
        var seg = new ScriptedSegmentation(W, H, a, a2, b, c, revealAt: 40, refineAt: 80, addAt: 120);
        var settings = new OnlineSegmentationSettings { MaxRois = 8, BatchFrames = 4, QueueFrames = 64, Masks = new SegmentationSettings { InitialFrames = 40, UpdateEveryFrames = 4 } };
        var board = new OnlineRoiBoard(settings.MaxRois, W, H, new TraceExtractionSettings());
        var activity = board.CreateActivity();
        var loop = new SegmentationLoop(seg, board, settings, "scripted double");
        var source = new SceneSource(W, H, a, b, c, () => seg.ScriptDone, maxFrames: 20_000);
        var probe = new RawProbe(activity, 4, 20_000);
        var dff = new DffStage(new DffSettings { InitFrames = 5 }, activity);
        var tap = new LiveTap(activity);
        var stages = new IFastStage[] { new TraceExtractionStage(new TraceExtractionSettings(), board, activity), dff, probe, tap };
        var context = TestRig.Context();
        loop.Attach(Info(context, board), tap);
        var pipeline = new RunPipeline(source, stages, new PipelineSettings(), tap.FramesHeldMax);

        var result = pipeline.Run(context, new CancellationTokenSource(), CancellationToken.None);
        var report = loop.Detach(result);

        Assert.Equal(RunOutcome.Completed, result.Outcome);
        Assert.True(seg.ScriptDone, $"the double saw only {seg.FramesSeen} frames");
        Assert.Null(report.Error);
        // Unit 0 goes through exactly three phases, in order: absent (NaN), mask A (1000), refined mask A2 (mean 16·1000 + 9·100 over 25).
        double refined = (16 * 1000.0 + 9 * 100) / 25;
        int phase = 0;
        for (int f = 0; f < probe.Frames; f++)
        {
            float v = probe.At(f, 0);
            int p = float.IsNaN(v) ? 0 : Math.Abs(v - 1000) < 0.01 ? 1 : Math.Abs(v - refined) < 0.01 ? 2 : -1;
            Assert.True(p >= phase, $"frame {f}: unit 0 = {v} after phase {phase}");
            phase = p;
        }
        Assert.Equal(2, phase);
        Assert.True(float.IsNaN(probe.At(0, 0)), "no ROI exists before initialisation");
        int last = probe.Frames - 1;
        Assert.Equal(2000, probe.At(last, 1), 2);   // B kept id 1
        Assert.Equal(3000, probe.At(last, 2), 2);   // C, found later, got id 2
        Assert.True(float.IsNaN(probe.At(last, 3)));  // no ROI 3
        Assert.True(float.IsNaN(activity.Dff[3]));    // absent units stay NaN downstream
        Assert.False(float.IsNaN(activity.Dff[2]));

        var stats = loop.Stats();
        Assert.Equal(3, stats.RoisAtEnd);
        Assert.True(stats.Updates >= 3, $"updates {stats.Updates}");
        Assert.Equal(seg.FramesSeen, stats.FramesSegmented);
        Assert.Equal(stats.FramesOffered, stats.FramesSegmented + stats.FramesDropped);
        Assert.True(stats.InitialisedAtFrame >= 39);
        Assert.False(double.IsNaN(stats.UpdateLatencyP99Ms));
        var log = context.Events.Snapshot().Where(e => e.Source == "segmentation").Select(e => e.Message).ToList();
        Assert.Contains(log, m => m.StartsWith("initialised after", StringComparison.Ordinal) && m.Contains("2 ROIs"));
        Assert.Contains(log, m => m.Contains("refined roi000"));
        Assert.Contains(log, m => m.Contains("added roi002"));
        Assert.Equal(3, board.Units().Units.Count(u => u.Pixels.Length > 0));
    }

    private sealed class Harness : IDisposable
    {
        public readonly ScriptedSegmentation Seg;
        public readonly OnlineRoiBoard Board;
        public readonly PopulationActivity Activity;
        public readonly SegmentationLoop Loop;
        public readonly TraceExtractionStage Stage;
        public readonly RunContext Context = TestRig.Context();
        public readonly LiveTap Tap;
        public readonly FramePool Pool = new(W, H, 2);
        private long _frame;

        public Harness()
        {
            Seg = new ScriptedSegmentation(W, H, Square(0, 0, 2), Square(0, 0, 3), Square(5, 5, 2), Square(9, 9, 2), 1000, 2000, 3000);
            var settings = new OnlineSegmentationSettings { MaxRois = 4 };
            Board = new OnlineRoiBoard(settings.MaxRois, W, H, new TraceExtractionSettings());
            Activity = Board.CreateActivity();
            Loop = new SegmentationLoop(Seg, Board, settings, "scripted double");
            Tap = new LiveTap(Activity);
            Loop.Attach(Info(Context, Board), Tap);
            Tap.Start(Context);
            Stage = new TraceExtractionStage(new TraceExtractionSettings(), Board, Activity);
            Stage.Start(Context);
        }

        /// <summary>One frame through the stage: pixel p has value p + 1.</summary>
        public void Frame()
        {
            Assert.True(Pool.TryRent(out var f));
            for (int p = 0; p < f.Pixels.Length; p++) f.Pixels[p] = (ushort)(p + 1);
            f.FrameIndex = _frame++;
            Stage.Process(f);
            f.Release();
        }

        public void Dispose()
        {
            Tap.Stop();
            Loop.Detach(new RunResult(RunOutcome.Completed, null, null, null, 0));
        }
    }

    [Fact]
    public void Edit_AddLockDelete_TakeEffectAtTheNextFrameAndAreLogged()
    {
        using var h = new Harness();
        h.Frame();
        Assert.All(h.Activity.Raw, v => Assert.True(float.IsNaN(v)));

        var added = h.Loop.Edit(new RoiEditRequest(RoiEditAction.Add, CenterXPx: 10, CenterYPx: 5, RadiusPx: 1));
        Assert.Equal(0, added.Id);
        Assert.Equal("roi000", added.Name);
        Assert.Equal(5, added.AreaPx); // centre and its four neighbours
        h.Frame();
        double expected = new[] { 4 * W + 10, 5 * W + 9, 5 * W + 10, 5 * W + 11, 6 * W + 10 }.Average(p => p + 1.0);
        Assert.Equal(expected, h.Activity.Raw[0], 2);

        var byPixels = h.Loop.Edit(new RoiEditRequest(RoiEditAction.Add, Pixels: [3, 1, 2, 3]));
        Assert.Equal(1, byPixels.Id);
        Assert.Equal(3, byPixels.AreaPx); // duplicates removed
        h.Loop.Edit(new RoiEditRequest(RoiEditAction.Unlock, Id: 1));
        h.Loop.Edit(new RoiEditRequest(RoiEditAction.Lock, Id: 1));
        h.Frame();
        Assert.Equal(3, h.Activity.Raw[1], 2); // pixels 1, 2, 3 hold 2, 3, 4

        var deleted = h.Loop.Edit(new RoiEditRequest(RoiEditAction.Delete, Id: 0));
        Assert.Equal(0, deleted.AreaPx);
        h.Frame();
        Assert.True(float.IsNaN(h.Activity.Raw[0]));
        Assert.Equal(3, h.Activity.Raw[1], 2);
        Assert.Equal(h.Board.PublishedVersion, h.Board.AppliedVersion);

        var log = h.Context.Events.Snapshot().Where(e => e.Source == "segmentation").Select(e => e.Message).ToList();
        Assert.Equal(
            ["user added roi000 (circle x=10 y=5 r=1 px, 5 px)", "user added roi001 (pixels, 3 px)", "user unlocked roi001", "user locked roi001", "user deleted roi000"],
            log);
        Assert.Equal(5, h.Loop.Stats().UserEdits);
    }

    [Fact]
    public void Edit_BadRequests_NameTheFieldAndChangeNothing()
    {
        using var h = new Harness();
        long version = h.Board.PublishedVersion;

        var unknown = Assert.Throws<ControlException>(() => h.Loop.Edit(new RoiEditRequest(RoiEditAction.Delete, Id: 2)));
        Assert.Equal("unknown-roi", unknown.Code);
        Assert.Contains("field 'id'", unknown.Message);
        Assert.Contains("no ROI exists yet", unknown.Message);

        var beyond = Assert.Throws<ControlException>(() => h.Loop.Edit(new RoiEditRequest(RoiEditAction.Lock, Id: 99)));
        Assert.Equal("unknown-roi", beyond.Code);
        Assert.Contains("0..3", beyond.Message);

        var missingId = Assert.Throws<ControlException>(() => h.Loop.Edit(new RoiEditRequest(RoiEditAction.Lock)));
        Assert.Equal("bad-request", missingId.Code);
        Assert.Contains("field 'id'", missingId.Message);

        var outside = Assert.Throws<ControlException>(() => h.Loop.Edit(new RoiEditRequest(RoiEditAction.Add, Pixels: [5, W * H])));
        Assert.Equal("bad-request", outside.Code);
        Assert.Contains("field 'pixels[1]'", outside.Message);
        Assert.Contains($"{W}×{H}", outside.Message);

        var offFrame = Assert.Throws<ControlException>(() => h.Loop.Edit(new RoiEditRequest(RoiEditAction.Add, CenterXPx: -3, CenterYPx: 4, RadiusPx: 2)));
        Assert.Contains("field 'x'", offFrame.Message);
        var noRadius = Assert.Throws<ControlException>(() => h.Loop.Edit(new RoiEditRequest(RoiEditAction.Add, CenterXPx: 3, CenterYPx: 4)));
        Assert.Contains("field 'radius'", noRadius.Message);

        Assert.Equal(version, h.Board.PublishedVersion);
        Assert.Empty(h.Seg.Snapshot());
        Assert.DoesNotContain(h.Context.Events.Snapshot(), e => e.Source == "segmentation");
    }

    [Fact]
    public void Edit_WhenAllIdsAreUsed_RefusesAndTracesNothingNew()
    {
        using var h = new Harness();
        for (int i = 0; i < 4; i++) h.Loop.Edit(new RoiEditRequest(RoiEditAction.Add, Pixels: [i]));
        var full = Assert.Throws<ControlException>(() => h.Loop.Edit(new RoiEditRequest(RoiEditAction.Add, Pixels: [10])));
        Assert.Equal("out-of-range", full.Code);
        Assert.Contains("segmentation.maxRois", full.Message);
        Assert.Equal(4, h.Board.Present);
    }

    [Fact]
    public void Process_AfterASwap_AllocatesNothing()
    {
        using var h = new Harness();
        h.Frame();
        h.Loop.Edit(new RoiEditRequest(RoiEditAction.Add, CenterXPx: 10, CenterYPx: 10, RadiusPx: 4));
        h.Frame(); // warm the path once
        h.Loop.Edit(new RoiEditRequest(RoiEditAction.Add, CenterXPx: 20, CenterYPx: 10, RadiusPx: 3));
        Assert.True(h.Pool.TryRent(out var frame));
        frame.FrameIndex = 100;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200; i++) h.Stage.Process(frame); // the first of them takes the new tables over
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        frame.Release();
        Assert.Equal(0, allocated);
        Assert.Equal(h.Board.PublishedVersion, h.Board.AppliedVersion);
        Assert.False(float.IsNaN(h.Activity.Raw[1]));
    }

    [Fact]
    public void OnlineStage_WithNeuropil_SubtractsTheAnnulusBuiltByTheBoard()
    {
        var traces = new TraceExtractionSettings { NeuropilCoefficient = 0.5, NeuropilInnerRadiusPx = 0, NeuropilOuterRadiusPx = 1.5 };
        var board = new OnlineRoiBoard(2, W, H, traces);
        var activity = board.CreateActivity();
        var stage = new TraceExtractionStage(traces, board, activity);
        stage.Start(TestRig.Context());
        var roi = Square(10, 10, 2);
        board.Publish([new TrackedRoi(1, roi, false, false, 1)], 1);
        var pool = new FramePool(W, H, 1);
        var frame = TestRig.Rent(pool, 0);
        Array.Fill(frame.Pixels, (ushort)200);
        foreach (int p in roi) frame.Pixels[p] = 1000;
        stage.Process(frame);
        frame.Release();
        Assert.True(float.IsNaN(activity.Raw[0]));
        Assert.Equal(1000 - 0.5 * 200, activity.Raw[1], 2);
    }

    [Fact]
    public void Dff_UnitThatAppearsLate_IsNaNUntilThenAndInitialisesOnItsOwnFrames()
    {
        var activity = new PopulationActivity(2, ["a", "b"]);
        var stage = new DffStage(new DffSettings { InitFrames = 5 }, activity);
        stage.Start(TestRig.Context());
        var pool = new FramePool(4, 4, 1);
        var dff = new float[2, 70];
        for (int f = 0; f < 70; f++)
        {
            activity.FrameIndex = f;
            activity.Raw[0] = f == 30 ? 150 : 100;
            activity.Raw[1] = f < 20 || (f >= 40 && f < 50) ? float.NaN : f < 40 ? (f == 35 ? 300 : 200) : (f == 60 ? 500 : 250);
            var frame = TestRig.Rent(pool, f);
            stage.Process(frame);
            frame.Release();
            dff[0, f] = activity.Dff[0];
            dff[1, f] = activity.Dff[1];
        }
        for (int f = 0; f < 20; f++) Assert.True(float.IsNaN(dff[1, f]), $"frame {f}: absent unit must be NaN");
        for (int f = 20; f < 25; f++) Assert.Equal(0, dff[1, f]); // its own init frames
        Assert.Equal(0.5, dff[1, 35], 3);                          // F0 = 200 from its first frames
        Assert.Equal(0.5, dff[0, 30], 3);                          // the other unit is unaffected
        for (int f = 40; f < 50; f++) Assert.True(float.IsNaN(dff[1, f]));
        for (int f = 50; f < 55; f++) Assert.Equal(0, dff[1, f]);  // back: initialised again
        Assert.Equal(1.0, dff[1, 60], 3);                          // F0 = 250 now
        Assert.True(float.IsNaN(activity.NoiseLevel[1]) || activity.NoiseLevel[1] >= 0);
    }

    [Fact]
    public void Settings_OutOfRange_NameTheField()
    {
        Assert.Equal("segmentation.maxRois", Assert.Throws<SettingException>(() => new OnlineSegmentationSettings { MaxRois = 0 }.Validate()).Setting);
        Assert.Equal("segmentation.initialFrames", Assert.Throws<SettingException>(() => new OnlineSegmentationSettings { Masks = new SegmentationSettings { InitialFrames = 0 } }.Validate()).Setting);
        Assert.Equal("segmentation.updateEveryFrames", Assert.Throws<SettingException>(() => new OnlineSegmentationSettings { Masks = new SegmentationSettings { UpdateEveryFrames = 0 } }.Validate()).Setting);
        var queue = Assert.Throws<SettingException>(() => new OnlineSegmentationSettings { BatchFrames = 16, QueueFrames = 8 }.Validate());
        Assert.Equal("segmentation.queueFrames", queue.Setting);
        Assert.Contains("segmentation.batchFrames (16)", queue.Allowed);
    }
}
