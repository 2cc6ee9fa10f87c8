using System.Globalization;

namespace ClosedLoop.Imaging.Registration;

/// <summary>What motion correction did to one frame.</summary>
/// <param name="ShiftXPx">Shift applied, as the content displacement along x (the frame was resampled at x + ShiftXPx),
/// frame px; NaN while the reference was being built.</param>
/// <param name="ShiftYPx">Shift applied along y, frame px; NaN while the reference was being built.</param>
/// <param name="Confidence">Peak-to-sidelobe ratio of the frame's rigid registration (NaN while the reference was being built).</param>
/// <param name="LowConfidence">True when the confidence was below the threshold and the last trusted shift was applied instead.</param>
/// <param name="Clipped">True when the best match lay beyond the maximum shift and the shift was clipped to it.</param>
/// <param name="ReferencePending">True for the frames the reference was built from (not corrected).</param>
/// <param name="LowConfidencePatches">Piecewise patches that fell back to the rigid shift in this frame.</param>
public readonly record struct MotionSample(double ShiftXPx, double ShiftYPx, double Confidence, bool LowConfidence, bool Clipped,
    bool ReferencePending, int LowConfidencePatches);

/// <summary>Per-run summary of motion correction (in the run report).</summary>
/// <param name="Mode">rigid or piecewiseRigid.</param>
/// <param name="Frames">Frames seen.</param>
/// <param name="FramesCorrected">Frames corrected (all but the reference frames).</param>
/// <param name="LowConfidenceFrames">Corrected frames whose own estimate was not trusted (the last trusted shift was applied).</param>
/// <param name="ClippedFrames">Frames whose motion exceeded the maximum shift.</param>
/// <param name="RmsShiftPx">√(mean of dx² + dy²) of the shifts applied to corrected frames, px.</param>
/// <param name="MaxShiftPx">Largest √(dx² + dy²) applied, px.</param>
/// <param name="MedianConfidence">Median peak-to-sidelobe ratio of the recorded corrected frames.</param>
/// <param name="LowConfidencePatches">Piecewise patches (summed over frames) that fell back to the rigid shift.</param>
/// <param name="FramesRecorded">Frames with a per-frame record (the trace holds at most its capacity).</param>
public sealed record MotionSummary(string Mode, long Frames, long FramesCorrected, long LowConfidenceFrames, long ClippedFrames,
    double RmsShiftPx, double MaxShiftPx, double? MedianConfidence, long LowConfidencePatches, long FramesRecorded);

/// <summary>
/// Per-frame record of motion correction in preallocated storage: frame index, shift x/y (px), confidence and flags for up
/// to <see cref="Capacity"/> frames (later frames only enter the totals), and running totals for the run report.
/// <see cref="Record"/> allocates nothing. Written on the fast-loop thread; read it after the run.
/// </summary>
public sealed class MotionTrace
{
    private const byte LowFlag = 1, ClipFlag = 2, PendingFlag = 4;
    private readonly long[] _frame;
    private readonly float[] _dx, _dy, _confidence;
    private readonly byte[] _flags;
    private long _count, _frames, _corrected, _low, _clipped, _lowPatches;
    private double _sumSq, _max;

    /// <summary>Creates a trace holding up to <paramref name="capacity"/> frames (1..100,000,000).</summary>
    public MotionTrace(string mode, long capacity)
    {
        if (capacity < 1 || capacity > 100_000_000) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "1..100,000,000 frames");
        Mode = mode;
        _frame = new long[capacity];
        _dx = new float[capacity];
        _dy = new float[capacity];
        _confidence = new float[capacity];
        _flags = new byte[capacity];
    }

    /// <summary>rigid or piecewiseRigid.</summary>
    public string Mode { get; }

    /// <summary>Most frames recorded one by one.</summary>
    public int Capacity => _frame.Length;

    /// <summary>Frames recorded one by one.</summary>
    public int Count => (int)Math.Min(_count, _frame.Length);

    /// <summary>Frame index of record <paramref name="i"/>.</summary>
    public long FrameIndex(int i) => _frame[i];

    /// <summary>Shift x of record <paramref name="i"/>, px (NaN while the reference was being built).</summary>
    public float ShiftXPx(int i) => _dx[i];

    /// <summary>Shift y of record <paramref name="i"/>, px.</summary>
    public float ShiftYPx(int i) => _dy[i];

    /// <summary>Confidence of record <paramref name="i"/>.</summary>
    public float Confidence(int i) => _confidence[i];

    /// <summary>Whether record <paramref name="i"/> was low confidence.</summary>
    public bool LowConfidence(int i) => (_flags[i] & LowFlag) != 0;

    /// <summary>Whether record <paramref name="i"/> was clipped at the maximum shift.</summary>
    public bool Clipped(int i) => (_flags[i] & ClipFlag) != 0;

    /// <summary>Whether record <paramref name="i"/> was a reference frame (not corrected).</summary>
    public bool ReferencePending(int i) => (_flags[i] & PendingFlag) != 0;

    /// <summary>Adds one frame.</summary>
    public void Record(long frameIndex, in MotionSample s)
    {
        _frames++;
        _lowPatches += s.LowConfidencePatches;
        if (!s.ReferencePending)
        {
            _corrected++;
            if (s.LowConfidence) _low++;
            if (s.Clipped) _clipped++;
            double m2 = s.ShiftXPx * s.ShiftXPx + s.ShiftYPx * s.ShiftYPx;
            _sumSq += m2;
            if (m2 > _max) _max = m2;
        }
        long i = _count++;
        if (i >= _frame.Length) return;
        _frame[i] = frameIndex;
        _dx[i] = (float)s.ShiftXPx;
        _dy[i] = (float)s.ShiftYPx;
        _confidence[i] = (float)s.Confidence;
        _flags[i] = (byte)((s.LowConfidence ? LowFlag : 0) | (s.Clipped ? ClipFlag : 0) | (s.ReferencePending ? PendingFlag : 0));
    }

    /// <summary>The totals so far.</summary>
    public MotionSummary Summary()
    {
        var conf = new List<float>();
        for (int i = 0; i < Count; i++) if (!ReferencePending(i) && float.IsFinite(_confidence[i])) conf.Add(_confidence[i]);
        conf.Sort();
        double? median = conf.Count == 0 ? null : Math.Round(conf[conf.Count / 2], 2);
        return new MotionSummary(Mode, _frames, _corrected, _low, _clipped,
            _corrected == 0 ? 0 : Math.Round(Math.Sqrt(_sumSq / _corrected), 4), Math.Round(Math.Sqrt(_max), 4), median, _lowPatches, Count);
    }

    /// <summary>Writes <c>frame,shiftXPx,shiftYPx,confidence,lowConfidence,clipped</c> per recorded frame (empty shift and
    /// confidence for the reference frames; flags 0/1).</summary>
    public void WriteCsv(string path)
    {
        using var w = new StreamWriter(path);
        w.WriteLine("frame,shiftXPx,shiftYPx,confidence,lowConfidence,clipped");
        for (int i = 0; i < Count; i++)
        {
            w.Write(_frame[i].ToString(CultureInfo.InvariantCulture));
            w.Write(',');
            w.Write(G(_dx[i]));
            w.Write(',');
            w.Write(G(_dy[i]));
            w.Write(',');
            w.Write(G(_confidence[i]));
            w.Write(LowConfidence(i) ? ",1" : ",0");
            w.WriteLine(Clipped(i) ? ",1" : ",0");
        }
    }

    private static string G(float v) => float.IsFinite(v) ? v.ToString("0.####", CultureInfo.InvariantCulture) : "";
}
