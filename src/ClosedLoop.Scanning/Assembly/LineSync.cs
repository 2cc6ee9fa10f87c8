using ClosedLoop.Core;

namespace ClosedLoop.Scanning.Assembly;

/// <summary>How one line of a frame was placed.</summary>
public enum LineState : byte
{
    /// <summary>Placed at its own line-clock edge.</summary>
    Ok,

    /// <summary>Its edge was missing; placed at the position predicted from its neighbours.</summary>
    Missed,

    /// <summary>Its samples are not (all) in the block; the line is zero.</summary>
    NoData,
}

/// <summary>Outcome of placing one frame's lines.</summary>
/// <param name="Lines">Lines in the frame.</param>
/// <param name="Missed">Lines whose line-clock edge was missing (placed by prediction or zeroed, as configured).</param>
/// <param name="Spurious">Edges ignored because they came far too early or off the line grid.</param>
/// <param name="NoData">Lines zeroed because their samples were not in the block.</param>
public readonly record struct LineSyncStatus(int Lines, int Missed, int Spurious, int NoData)
{
    /// <summary>True when every line sat on its own edge and had its samples.</summary>
    public bool IsClean => Missed == 0 && Spurious == 0 && NoData == 0;

    /// <inheritdoc/>
    public override string ToString() => IsClean
        ? $"{Lines} lines, clean"
        : $"{Lines} lines: {Missed} missed line-clock edge(s), {Spurious} spurious edge(s) ignored, {NoData} line(s) without samples";
}

/// <summary>
/// Places a frame's lines from the sample indices of the resonant line-clock edges. An edge closer to the last
/// accepted one than half a period, or off the line grid by more than a quarter period, is spurious and ignored;
/// an interval of about n periods means n − 1 edges were missed, and those lines are placed evenly in between so
/// every later line keeps its row (and its scan direction). Counters accumulate over the run. No allocation per frame.
/// </summary>
public sealed class LineSync
{
    private readonly long[] _starts;
    private readonly LineState[] _states;
    private readonly double _period;

    /// <summary>Creates a line placer for <paramref name="linesPerFrame"/> lines of <paramref name="linePeriodSamples"/> samples.</summary>
    public LineSync(double linePeriodSamples, int linesPerFrame)
    {
        Check.Positive("lineSync.linePeriodSamples", linePeriodSamples);
        Check.InRange("lineSync.linesPerFrame", linesPerFrame, 1, 8192);
        _period = linePeriodSamples;
        _starts = new long[linesPerFrame];
        _states = new LineState[linesPerFrame];
    }

    /// <summary>Lines per frame.</summary>
    public int LinesPerFrame => _starts.Length;

    /// <summary>Start sample of each line of the last placed frame.</summary>
    public ReadOnlySpan<long> LineStarts => _starts;

    /// <summary>State of each line of the last placed frame.</summary>
    public ReadOnlySpan<LineState> LineStates => _states;

    /// <summary>Missed edges counted since creation.</summary>
    public long TotalMissed { get; private set; }

    /// <summary>Spurious edges counted since creation.</summary>
    public long TotalSpurious { get; private set; }

    /// <summary>Frames placed with any missed/spurious edge or missing samples.</summary>
    public long FramesWithErrors { get; private set; }

    /// <summary>Places the lines of one frame. <paramref name="edges"/> are ascending sample indices of line-clock
    /// edges, the first being line 0's edge.</summary>
    public LineSyncStatus Place(ReadOnlySpan<long> edges)
    {
        int lines = _starts.Length, line = 0, missed = 0, spurious = 0;
        if (edges.IsEmpty)
        {
            _states.AsSpan().Fill(LineState.NoData);
            FramesWithErrors++;
            return new LineSyncStatus(lines, 0, 0, lines);
        }
        long prev = edges[0];
        _starts[line] = prev;
        _states[line++] = LineState.Ok;
        for (int i = 1; i < edges.Length && line < lines; i++)
        {
            long interval = edges[i] - prev;
            double periods = interval / _period;
            int n = (int)Math.Round(periods);
            if (periods < 0.5 || Math.Abs(periods - n) > 0.25)
            {
                spurious++;
                continue;
            }
            for (int k = 1; k < n && line < lines; k++)
            {
                _starts[line] = prev + (long)Math.Round(k * (double)interval / n);
                _states[line++] = LineState.Missed;
                missed++;
            }
            if (line < lines)
            {
                _starts[line] = edges[i];
                _states[line++] = LineState.Ok;
            }
            prev = edges[i];
        }
        for (int k = 1; line < lines; k++) // the frame ended without edges: predict the rest
        {
            _starts[line] = prev + (long)Math.Round(k * _period);
            _states[line++] = LineState.Missed;
            missed++;
        }
        TotalMissed += missed;
        TotalSpurious += spurious;
        var status = new LineSyncStatus(lines, missed, spurious, 0);
        if (!status.IsClean) FramesWithErrors++;
        return status;
    }

    internal void MarkNoData(int line) => _states[line] = LineState.NoData;
}
