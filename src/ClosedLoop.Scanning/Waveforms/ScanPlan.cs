namespace ClosedLoop.Scanning.Waveforms;

/// <summary>A stretch of AO samples within one frame (or volume), [<see cref="Start"/>, <see cref="Start"/> + <see cref="Length"/>).</summary>
/// <param name="Start">First sample index.</param>
/// <param name="Length">Number of samples.</param>
public readonly record struct SampleWindow(int Start, int Length)
{
    /// <summary>One past the last sample.</summary>
    public int End => Start + Length;
}

/// <summary>
/// Timing of one frame of a scan, in AO samples: what each generator writes per call and where the beam is on.
/// Built once by a generator; immutable.
/// </summary>
public sealed class ScanPlan
{
    internal ScanPlan(double aoSampleRateHz, double samplesPerLine, int linesPerFrame, int flybackLines,
        int samplesPerFrame, double activeSamplesPerLine, double temporalFillFraction, bool bidirectional,
        SampleWindow[] beamOn)
    {
        AoSampleRateHz = aoSampleRateHz;
        SamplesPerLine = samplesPerLine;
        LinesPerFrame = linesPerFrame;
        FlybackLines = flybackLines;
        SamplesPerFrame = samplesPerFrame;
        ActiveSamplesPerLine = activeSamplesPerLine;
        TemporalFillFraction = temporalFillFraction;
        Bidirectional = bidirectional;
        BeamOnWindows = beamOn;
        var off = new List<SampleWindow>(beamOn.Length + 1);
        int cursor = 0;
        foreach (var w in beamOn)
        {
            if (w.Start > cursor) off.Add(new SampleWindow(cursor, w.Start - cursor));
            cursor = Math.Max(cursor, w.End);
        }
        if (cursor < samplesPerFrame) off.Add(new SampleWindow(cursor, samplesPerFrame - cursor));
        BlankedWindows = off.ToArray();
    }

    /// <summary>AO sample rate the waveforms are written at, in Hz.</summary>
    public double AoSampleRateHz { get; }

    /// <summary>AO samples per line period (fractional for a resonant line clock that is not a multiple of the AO clock).</summary>
    public double SamplesPerLine { get; }

    /// <summary>Imaged lines per frame.</summary>
    public int LinesPerFrame { get; }

    /// <summary>Line periods spent on the slow-axis flyback at the end of the frame.</summary>
    public int FlybackLines { get; }

    /// <summary>AO samples per frame, flyback included (the length of the spans a frame's write fills).</summary>
    public int SamplesPerFrame { get; }

    /// <summary>AO samples per line during which the beam moves linearly (galvo) or is inside the fill fraction (resonant).</summary>
    public double ActiveSamplesPerLine { get; }

    /// <summary>Fraction of each line period that is imaged.</summary>
    public double TemporalFillFraction { get; }

    /// <summary>True when lines are imaged in both directions.</summary>
    public bool Bidirectional { get; }

    /// <summary>Duration of one line, in seconds.</summary>
    public double LinePeriodS => SamplesPerLine / AoSampleRateHz;

    /// <summary>Duration of one frame, flyback included, in seconds.</summary>
    public double FramePeriodS => SamplesPerFrame / AoSampleRateHz;

    /// <summary>Frames per second.</summary>
    public double FrameRateHz => AoSampleRateHz / SamplesPerFrame;

    /// <summary>Duration of the slow-axis flyback, in seconds.</summary>
    public double FlybackS => FlybackLines * LinePeriodS;

    /// <summary>Windows (within a frame) during which the beam is on, in increasing order.</summary>
    public IReadOnlyList<SampleWindow> BeamOnWindows { get; }

    /// <summary>Windows (within a frame) during which the beam is blanked: turnarounds and flyback.</summary>
    public IReadOnlyList<SampleWindow> BlankedWindows { get; }

    /// <summary>True when the beam is on at <paramref name="sample"/> (index within the frame).</summary>
    public bool IsBeamOn(int sample)
    {
        var on = (SampleWindow[])BeamOnWindows;
        int lo = 0, hi = on.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            if (sample < on[mid].Start) hi = mid - 1;
            else if (sample >= on[mid].End) lo = mid + 1;
            else return true;
        }
        return false;
    }

    /// <summary>Writes the beam-blanking waveform for one frame: <paramref name="levels"/>.OnV inside the
    /// beam-on windows, OffV elsewhere. No allocation.</summary>
    public void WriteBlanking(Span<double> destination, BlankingLevels levels)
    {
        if (destination.Length < SamplesPerFrame)
            throw new ArgumentException($"Need {SamplesPerFrame} samples, got {destination.Length}.", nameof(destination));
        var d = destination[..SamplesPerFrame];
        d.Fill(levels.OffV);
        foreach (var w in (SampleWindow[])BeamOnWindows) d.Slice(w.Start, w.Length).Fill(levels.OnV);
    }
}
