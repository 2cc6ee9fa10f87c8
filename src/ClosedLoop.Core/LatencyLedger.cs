namespace ClosedLoop.Core;

/// <summary>
/// Collects, per frame, the time each fast-loop stage finished, and turns them into per-stage and end-to-end
/// latency percentiles. The first pseudo-stage is the wait in the input link (frame complete → picked up by the
/// loop); each later stage's latency is its exit minus the previous exit; end to end is the last exit minus the
/// frame's completion, i.e. "frame complete → stimulation decision".
/// </summary>
public sealed class LatencyLedger
{
    /// <summary>Name of the pseudo-stage measuring the time a frame waited in the loop's input link.</summary>
    public const string QueueStage = "queue";

    private readonly string[] _names;
    private readonly LatencyHistogram[] _stages;
    private readonly LatencyHistogram _endToEnd = new();
    private readonly LatencyHistogram _acquisitionToDecision = new();

    /// <summary>Creates a ledger for the given stages, in processing order (the queue pseudo-stage is added in front).</summary>
    public LatencyLedger(IReadOnlyList<string> stageNames)
    {
        if (stageNames.Count + 1 > Frame.MaxStages)
            throw new SettingException("fastLoop.stages", stageNames.Count, $"at most {Frame.MaxStages - 1} stages");
        _names = new string[stageNames.Count + 1];
        _names[0] = QueueStage;
        for (int i = 0; i < stageNames.Count; i++) _names[i + 1] = stageNames[i];
        _stages = new LatencyHistogram[_names.Length];
        for (int i = 0; i < _stages.Length; i++) _stages[i] = new LatencyHistogram();
    }

    /// <summary>Stage names including the queue pseudo-stage at index 0; a stage's index is where it stamps the frame.</summary>
    public IReadOnlyList<string> StageNames => _names;

    /// <summary>Frames recorded.</summary>
    public long Count => _endToEnd.Count;

    /// <summary>The end-to-end histogram (frame complete → last stage exit).</summary>
    public LatencyHistogram EndToEnd => _endToEnd;

    /// <summary>Records a frame whose stages have all stamped <see cref="Frame.StageExitHostNs"/>.</summary>
    public void Record(Frame frame)
    {
        long previous = frame.CompletedHostNs;
        var exits = frame.StageExitHostNs;
        for (int i = 0; i < _stages.Length; i++)
        {
            _stages[i].Record(exits[i] - previous);
            previous = exits[i];
        }
        _endToEnd.Record(previous - frame.CompletedHostNs);
        _acquisitionToDecision.Record(previous - frame.AcquiredHostNs);
    }

    /// <summary>Forgets everything recorded (after a warm-up).</summary>
    public void Reset()
    {
        foreach (var h in _stages) h.Reset();
        _endToEnd.Reset();
        _acquisitionToDecision.Reset();
    }

    /// <summary>Per-stage statistics, then "end-to-end" and "first-sample-to-decision".</summary>
    public IReadOnlyList<LatencyStats> Summarise()
    {
        var list = new List<LatencyStats>(_stages.Length + 2);
        for (int i = 0; i < _stages.Length; i++) list.Add(_stages[i].Summarise(_names[i]));
        list.Add(_endToEnd.Summarise("end-to-end (frame complete → decision)"));
        list.Add(_acquisitionToDecision.Summarise("first sample → decision"));
        return list;
    }
}
