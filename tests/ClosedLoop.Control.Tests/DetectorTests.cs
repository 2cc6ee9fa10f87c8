using ClosedLoop.Core;

namespace ClosedLoop.Control.Tests;

public class DetectorTests
{
    private const long T = 100_000_000; // 10 Hz frames: easy arithmetic for refractory times
    private readonly PopulationActivity _activity = new(5, ["m0", "m1", "m2", "s0", "s1"]);
    private readonly RunEventLog _events = new();
    private readonly RunContext _context;

    public DetectorTests() => _context = new RunContext("t", 10, _events, new CancellationTokenSource());

    private GroupActivityDetector Detector(int minActive = 2, int minFrames = 1, double refractoryS = 0, double threshold = 0.15, int[]? members = null)
    {
        var d = new GroupActivityDetector(new GroupActivityDetectorSettings
        {
            Name = "motor-burst", Group = "motor", ThresholdDff = threshold, MinActive = minActive, MinFrames = minFrames, RefractoryS = refractoryS,
        }, members ?? [0, 1, 2]);
        d.Start(_context);
        return d;
    }

    /// <summary>Sets ΔF/F: the listed units at <paramref name="value"/>, every other unit at 0.</summary>
    private void Set(float value, params int[] units)
    {
        Array.Clear(_activity.Dff);
        foreach (int u in units) _activity.Dff[u] = value;
    }

    /// <summary>Evaluates frames 0.. with the active units given per frame; returns the frames that fired.</summary>
    private List<int> Run(GroupActivityDetector d, params int[][] activePerFrame)
    {
        var fired = new List<int>();
        for (int i = 0; i < activePerFrame.Length; i++)
        {
            Set(0.5f, activePerFrame[i]);
            if (d.Evaluate(_activity, i * T)) fired.Add(i);
        }
        return fired;
    }

    private static readonly int[] None = [];
    private static readonly int[] Two = [0, 1];
    private static readonly int[] One = [2];

    [Fact]
    public void Evaluate_EnoughGroupUnitsAtThreshold_FiresOnce()
    {
        var d = Detector(minActive: 2);
        Set(0.15f, 0, 2); // exactly at the threshold counts as active

        Assert.True(d.Evaluate(_activity, 7 * T));

        Assert.True(d.FiredThisFrame);
        Assert.Equal(1, d.Detections);
        Assert.Equal(7 * T, d.LastDetectionNs);
        Assert.Equal(2, d.ActiveNow);
    }

    [Fact]
    public void Evaluate_FewerThanMinActive_DoesNotFire()
    {
        var d = Detector(minActive: 2);

        Assert.Empty(Run(d, One, One, [1], None));
        Set(0.149f, 0, 1, 2); // all three just below threshold
        Assert.False(d.Evaluate(_activity, 10 * T));

        Assert.Equal(0, d.Detections);
        Assert.Equal(-1, d.LastDetectionNs);
    }

    [Fact]
    public void Evaluate_MinFrames_RequiresConsecutiveFrames()
    {
        var d = Detector(minFrames: 3);

        // Two frames, a gap, then three in a row: only the third of the run fires.
        var fired = Run(d, Two, Two, None, Two, Two, Two);

        Assert.Equal([5], fired);
    }

    [Fact]
    public void Evaluate_SustainedPattern_FiresOnlyOnItsOnset()
    {
        var d = Detector();

        var fired = Run(d, None, Two, Two, Two, Two, Two, Two);

        Assert.Equal([1], fired);
        Assert.Equal(1, d.Detections);
        Assert.False(d.FiredThisFrame);
    }

    [Fact]
    public void Evaluate_PatternLapsesAndReturns_FiresAgain()
    {
        var d = Detector();

        var fired = Run(d, Two, Two, None, Two, Two, One, Two);

        Assert.Equal([0, 3, 6], fired);
        Assert.Equal(6 * T, d.LastDetectionNs);
    }

    [Fact]
    public void Evaluate_WithinRefractoryPeriod_DoesNotFireAgain()
    {
        var d = Detector(refractoryS: 0.5);

        // Onsets at 0, 0.2 s (refractory), 0.4 s (refractory), 0.6 s (fires), 0.8 s (refractory again).
        var fired = Run(d, Two, None, Two, None, Two, None, Two, None, Two);

        Assert.Equal([0, 6], fired);
        Assert.Equal(2, d.Detections);
    }

    [Fact]
    public void Evaluate_UnitsOutsideTheGroup_AreIgnored()
    {
        var d = Detector(minActive: 1, members: [0, 1]);

        Set(5f, 2, 3, 4);
        Assert.False(d.Evaluate(_activity, 0));
        Assert.Equal(0, d.ActiveNow);

        Set(0.2f, 1);
        Assert.True(d.Evaluate(_activity, T));
    }

    [Fact]
    public void Start_NewRun_ForgetsPreviousDetections()
    {
        var d = Detector(refractoryS: 10);
        Assert.Equal([0], Run(d, Two));

        d.Start(_context);

        Assert.Equal(0, d.Detections);
        Assert.Equal(-1, d.LastDetectionNs);
        Assert.Equal([0], Run(d, Two)); // no refractory or edge state left over
    }

    [Fact]
    public void Constructor_MinActiveLargerThanGroup_RefusedNamingSetting()
    {
        var ex = Assert.Throws<SettingException>(() => new GroupActivityDetector(
            new GroupActivityDetectorSettings { Group = "motor", MinActive = 4, SettingPath = "detectors.burst" }, [0, 1, 2]));

        Assert.Equal("detectors.burst.minActive", ex.Setting);
        Assert.Contains("'motor'", ex.Message);
        Assert.Contains("(3)", ex.Message);
    }

    [Fact]
    public void Constructor_EmptyGroup_RefusedNamingGroup()
    {
        var ex = Assert.Throws<SettingException>(() => new GroupActivityDetector(
            new GroupActivityDetectorSettings { Group = "motor", MinActive = 1 }, []));
        Assert.Equal("detectors.pattern.group", ex.Setting);
    }

    [Fact]
    public void Constructor_ThresholdOutOfRange_RefusedNamingSetting()
    {
        var ex = Assert.Throws<SettingException>(() => new GroupActivityDetector(
            new GroupActivityDetectorSettings { Group = "motor", ThresholdDff = 0 }, [0, 1]));
        Assert.Equal("detectors.pattern.thresholdDff", ex.Setting);
    }

    [Fact]
    public void Process_ActivityForAnotherFrame_Throws()
    {
        var stage = new DetectorStage([Detector()], _activity);
        stage.Start(_context);
        var pool = new FramePool(4, 4, 1);
        Assert.True(pool.TryRent(out var frame));
        frame.FrameIndex = 5;
        frame.SampleTimeNs = 5 * T;
        frame.FramePeriodNs = T;
        _activity.FrameIndex = 4; // the extraction stages did not run for frame 5

        var ex = Assert.Throws<InvalidOperationException>(() => stage.Process(frame));
        Assert.Contains("frame 4", ex.Message);
        frame.Release();
    }

    [Fact]
    public void Process_Detection_LoggedAndDatedAtTheFrameEnd()
    {
        var detector = Detector();
        var stage = new DetectorStage([detector], _activity);
        stage.Start(_context);
        var pool = new FramePool(4, 4, 1);
        Assert.True(pool.TryRent(out var frame));
        frame.FramePeriodNs = T;

        for (int i = 0; i < 3; i++)
        {
            frame.FrameIndex = i;
            frame.SampleTimeNs = i * T;
            _activity.FrameIndex = i;
            Set(0.5f, i == 1 ? Two : None);
            stage.Process(frame);
        }

        var e = Assert.Single(_events.Snapshot(), e => e.Kind == RunEventKind.Detection);
        Assert.Equal("motor-burst", e.Source);
        Assert.Equal(2 * T, e.SampleTimeNs); // frame 1 spans [T, 2T): its activity is known at 2T
        Assert.Equal(2 * T, detector.LastDetectionNs);
        frame.Release();
    }
}
