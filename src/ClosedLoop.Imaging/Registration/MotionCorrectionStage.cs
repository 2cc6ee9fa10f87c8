using System.Globalization;
using ClosedLoop.Core;

namespace ClosedLoop.Imaging.Registration;

/// <summary>
/// Fast-loop stage that motion-corrects every frame in place (see <see cref="MotionCorrector"/>), so the stages after it
/// (trace extraction, the live tap, the recorder) see corrected pixels. Put it first. Each frame's shift, confidence and
/// flags go to <see cref="Trace"/>, preallocated at Start; nothing is allocated per frame.
/// </summary>
public sealed class MotionCorrectionStage : IFastStage
{
    /// <summary>Frames recorded one by one when the run's length is unknown: one hour at 30 Hz.</summary>
    public const long DefaultTraceCapacityFrames = 108_000;

    private readonly MotionCorrectionSettings _settings;
    private readonly int _widthPx, _heightPx;
    private readonly long _traceCapacity;
    private MotionCorrector? _corrector;
    private RunContext? _context;
    private bool _hadReference;

    /// <summary>Creates the stage for <paramref name="widthPx"/> × <paramref name="heightPx"/> frames; the trace records
    /// up to <paramref name="traceCapacityFrames"/> frames one by one (later ones only enter the totals). Throws
    /// <see cref="SettingException"/> naming the setting when the settings do not fit the frame.</summary>
    public MotionCorrectionStage(MotionCorrectionSettings settings, int widthPx, int heightPx, long traceCapacityFrames = DefaultTraceCapacityFrames)
    {
        settings.Validate(widthPx, heightPx);
        _settings = settings;
        _widthPx = widthPx;
        _heightPx = heightPx;
        _traceCapacity = Math.Clamp(traceCapacityFrames, 1, 100_000_000);
        Trace = new MotionTrace(ModeName(settings.Mode), 1);
    }

    /// <inheritdoc />
    public string Name => "motion";

    /// <summary>The settings.</summary>
    public MotionCorrectionSettings Settings => _settings;

    /// <summary>This run's per-frame record and totals (replaced at each Start).</summary>
    public MotionTrace Trace { get; private set; }

    /// <summary>The corrector of this run (null before Start or in mode none).</summary>
    public MotionCorrector? Corrector => _corrector;

    /// <summary>What was done to the last frame.</summary>
    public MotionSample Last { get; private set; }

    /// <summary>The name a mode has in experiment files.</summary>
    public static string ModeName(MotionCorrectionMode mode) => mode switch
    {
        MotionCorrectionMode.None => "none",
        MotionCorrectionMode.Rigid => "rigid",
        _ => "piecewiseRigid",
    };

    /// <inheritdoc />
    public void Start(RunContext context)
    {
        _settings.Validate(_widthPx, _heightPx);
        _context = context;
        _hadReference = false;
        _corrector = _settings.Mode == MotionCorrectionMode.None ? null : new MotionCorrector(_settings, _widthPx, _heightPx);
        Trace = new MotionTrace(ModeName(_settings.Mode), _traceCapacity);
    }

    /// <inheritdoc />
    public void Process(Frame frame)
    {
        if (frame.Width != _widthPx || frame.Height != _heightPx) ThrowWrongSize(frame);
        if (_corrector is null) return;
        var sample = _corrector.Correct(frame.Pixels);
        Last = sample;
        Trace.Record(frame.FrameIndex, sample);
        if (_corrector.HasReference != _hadReference) Announce(frame.FrameIndex);
    }

    /// <inheritdoc />
    public void Stop()
    {
        if (_context is null || _corrector is null) return;
        var s = Trace.Summary();
        _context.Events.Add(new RunEvent(RunEventKind.Info, 0, MonotonicClock.NowNs(), Name, string.Create(CultureInfo.InvariantCulture,
            $"motion correction ({s.Mode}): {s.FramesCorrected} frames corrected, {s.LowConfidenceFrames} low confidence, {s.ClippedFrames} clipped, RMS shift {s.RmsShiftPx:0.###} px, max {s.MaxShiftPx:0.###} px")));
    }

    /// <summary>Logs a reference built or given up (rare: an event allocates).</summary>
    private void Announce(long frameIndex)
    {
        _hadReference = _corrector!.HasReference;
        string message = _hadReference
            ? $"motion correction reference built from {_corrector.ReferenceFramesUsed} of {_settings.ReferenceFrames} frames (the others had low confidence and were left out); correcting from frame {frameIndex + 1}"
            : $"motion correction: {_corrector.LostAfterFrames} frames in a row had low confidence up to frame {frameIndex}; rebuilding the reference from the next {_settings.ReferenceFrames} frames (not corrected meanwhile)";
        _context?.Events.Add(new RunEvent(RunEventKind.Info, 0, MonotonicClock.NowNs(), Name, message));
    }

    private void ThrowWrongSize(Frame frame) =>
        throw new InvalidOperationException($"Frame {frame.FrameIndex} is {frame.Width}×{frame.Height} px but motion correction was set up for {_widthPx}×{_heightPx} px.");
}
