using ClosedLoop.Core;

namespace ClosedLoop.Spikes.Tests;

/// <summary>Drives one spike stage frame by frame: writes ΔF/F into its population activity and processes a frame.</summary>
internal class StageRig<TStage> : IDisposable where TStage : IFastStage
{
    private readonly CancellationTokenSource _stop = new();
    private readonly FramePool _pool = new(1, 1, 1);
    private readonly Frame _frame;
    private long _next;

    public StageRig(int units, double rateHz, Func<PopulationActivity, TStage> create)
    {
        Activity = new PopulationActivity(units, Enumerable.Range(0, units).Select(i => "u" + i).ToArray());
        Stage = create(Activity);
        Stage.Start(new RunContext("t", rateHz, new RunEventLog(), _stop));
        Assert.True(_pool.TryRent(out _frame));
    }

    public PopulationActivity Activity { get; }
    public TStage Stage { get; }

    public void Step(ReadOnlySpan<float> dff)
    {
        dff.CopyTo(Activity.Dff);
        _frame.FrameIndex = Activity.FrameIndex = _next++;
        Stage.Process(_frame);
    }

    public void Dispose()
    {
        Stage.Stop();
        _frame.Release();
        _stop.Dispose();
    }
}
