using ClosedLoop.Control;
using ClosedLoop.Core;
using ClosedLoop.FirmwareSim;
using ClosedLoop.Hardware;
using ClosedLoop.Imaging;

namespace ClosedLoop.Cli;

/// <summary>
/// The benchmarks' fast loop: a generated field of the virtual tissue rendered ahead of time, its true footprints as
/// ROIs, and traces → ΔF/F → detector → stimulus-avoidance protocol → interlock (stimulation counted, going nowhere).
/// Frames are handed out one in flight at a time (lock-step) or paced on the host clock.
/// </summary>
internal sealed class BenchLoop : IDisposable
{
    private BenchLoop(ushort[][] rendered, RoiSet rois, PopulationActivity activity, RunContext context, CancellationTokenSource stop,
        SafetyInterlock interlock, IReadOnlyList<IFastStage> stages, PrerenderedSource source)
    {
        Rendered = rendered;
        Rois = rois;
        Activity = activity;
        Context = context;
        Stop = stop;
        Interlock = interlock;
        Stages = stages;
        Source = source;
    }

    public ushort[][] Rendered { get; }
    public RoiSet Rois { get; }
    public PopulationActivity Activity { get; }
    public RunContext Context { get; }
    public CancellationTokenSource Stop { get; }
    public SafetyInterlock Interlock { get; }
    public IReadOnlyList<IFastStage> Stages { get; }
    public PrerenderedSource Source { get; }

    /// <summary>Builds the loop for <paramref name="frames"/> frames; <paramref name="periodHostNs"/> 0 = lock-step.</summary>
    public static BenchLoop Create(int widthPx, int heightPx, int roiCount, long frames, long periodHostNs, double frameRateHz = 30)
    {
        const int distinctFrames = 32, seed = 11;
        var imaging = new ImagingProfile { WidthPx = widthPx, HeightPx = heightPx, FrameRateHz = frameRateHz };
        var footprints = Footprints.Generate(widthPx, heightPx, roiCount, 5, seed);
        var tissue = new VirtualTissue(new TissueProfile { SpontaneousRateHz = 0.5 }, imaging, seed, footprints);
        var rendered = new ushort[distinctFrames][];
        for (int i = 0; i < distinctFrames; i++) { rendered[i] = new ushort[widthPx * heightPx]; tissue.Render(rendered[i]); }

        var rois = Session.TissueRois(footprints);
        var activity = rois.CreateActivity();
        var events = new RunEventLog();
        var stop = new CancellationTokenSource();
        var context = new RunContext("bench", frameRateHz, events, stop);
        var interlock = new SafetyInterlock(events);
        var channel = interlock.Register(new StimulatorProfile { Name = "bench" }, new CountingStimulator());
        var detector = new GroupActivityDetector(new GroupActivityDetectorSettings { Name = "motor", Group = "motor", ThresholdDff = 0.1, MinActive = 2 },
            Enumerable.Range(roiCount / 2, 10).ToArray());
        var targets = new StimulationTargets("sensory", Enumerable.Range(0, 8).Select(i => rois[i].CentroidXPx).ToArray(), Enumerable.Range(0, 8).Select(i => rois[i].CentroidYPx).ToArray());
        var protocol = new StimulusAvoidanceProtocol(new StimulusAvoidanceSettings { Stimulator = "bench", Targets = "sensory", Detector = "motor", Trials = 0 },
            detector, targets, interlock, channel);
        var stages = new IFastStage[]
        {
            new TraceExtractionStage(new TraceExtractionSettings(), rois, widthPx, heightPx, activity),
            new DffStage(new DffSettings(), activity),
            new DetectorStage(new[] { detector }, activity),
            protocol,
        };
        var source = new PrerenderedSource(rendered, widthPx, heightPx, frameRateHz, frames, periodHostNs);
        return new BenchLoop(rendered, rois, activity, context, stop, interlock, stages, source);
    }

    public void Dispose()
    {
        Interlock.Dispose();
        Stop.Dispose();
    }

    /// <summary>The benchmark's stimulation sink: counts what the interlock let through (no device in a benchmark).</summary>
    private sealed class CountingStimulator : IStimulator
    {
        private long _trains;
        public string Name => "bench";
        public bool IsActive => false;
        public void Deliver(in StimulationCommand command) => _trains++;
        public void AllOff() { }
    }
}

/// <summary>Hands out copies of pre-rendered frames, stamped like a real source: lock-step (the next frame once the
/// loop has finished this one) or paced every <c>periodHostNs</c> on the host clock, never waiting for consumers.</summary>
internal sealed class PrerenderedSource(ushort[][] frames, int widthPx, int heightPx, double frameRateHz, long count, long periodHostNs) : IFrameSource
{
    private long _acquired, _dropped, _steadyStartNs, _endNs;
    public int WidthPx => widthPx;
    public int HeightPx => heightPx;
    public double FrameRateHz => frameRateHz;
    public long FramesAcquired => _acquired;
    public long FramesDroppedAtSource => _dropped;

    public double SteadyWallFramesPerSecond(int warmup) => (count - warmup) / ((_endNs - _steadyStartNs) / 1e9);

    public void Run(FramePool pool, BoundedLink<Frame> output, CancellationToken ct)
    {
        long periodNs = (long)(1e9 / frameRateHz);
        long start = MonotonicClock.NowNs();
        for (long i = 0; i < count; i++)
        {
            if (i == 500) _steadyStartNs = MonotonicClock.NowNs();
            if (periodHostNs > 0) MonotonicClock.WaitUntil(start + (i + 1) * periodHostNs, ct);
            _acquired++;
            if (!pool.TryRent(out var frame)) { _dropped++; continue; }
            long t0 = MonotonicClock.NowNs();
            frames[i % frames.Length].AsSpan().CopyTo(frame.Pixels);
            frame.FrameIndex = i;
            frame.SampleTimeNs = i * periodNs;
            frame.FramePeriodNs = periodNs;
            frame.AcquiredHostNs = t0;
            frame.CompletedHostNs = MonotonicClock.NowNs();
            output.TryWrite(frame);
            if (periodHostNs == 0) pool.WaitUntilProcessed(i, TimeSpan.FromSeconds(10), ct);
        }
        _endNs = MonotonicClock.NowNs();
    }
}
