namespace ClosedLoop.Core;

/// <summary>What one consumer outside the fast loop receives from the <see cref="LiveTap"/>.</summary>
public sealed class TapSubscription
{
    internal TapSubscription(string name, int frameEvery, BoundedLink<Frame>? frames, ActivityRing? activity)
    {
        Name = name;
        FrameEvery = frameEvery;
        Frames = frames;
        Activity = activity;
    }

    /// <summary>Consumer name (recorder, bus, dashboard), used in reports.</summary>
    public string Name { get; }

    /// <summary>Every how many frames one is passed on (1 = all); 0 when the consumer takes no frames.</summary>
    public int FrameEvery { get; }

    /// <summary>Frames for the consumer, each holding a reference the consumer must <see cref="Frame.Release"/>; null if
    /// it takes none. Full: the incoming frame is dropped and counted (<see cref="BoundedLink{T}.Dropped"/>). Completed
    /// when the fast loop stops.</summary>
    public BoundedLink<Frame>? Frames { get; }

    /// <summary>Population activity after every frame's decision; null if the consumer takes none.</summary>
    public ActivityRing? Activity { get; }

    /// <summary>True once the fast loop has stopped: nothing more will be published.</summary>
    public bool Ended { get; internal set; }

    /// <summary>Counters for the run report.</summary>
    public TapStats Snapshot() => new(Name, Frames?.Written ?? 0, Frames?.Dropped ?? 0, Activity?.Published ?? 0, Activity?.Dropped ?? 0);
}

/// <summary>Counters of one tap subscription.</summary>
/// <param name="Name">Consumer.</param>
/// <param name="FramesOffered">Frames offered to the consumer (every <c>FrameEvery</c>-th).</param>
/// <param name="FramesDropped">Of those, frames dropped because the consumer was behind.</param>
/// <param name="ActivityPublished">Activity snapshots handed over.</param>
/// <param name="ActivityDropped">Activity snapshots dropped because the consumer was behind.</param>
public sealed record TapStats(string Name, long FramesOffered, long FramesDropped, long ActivityPublished, long ActivityDropped);

/// <summary>
/// The last fast-loop stage: after the decision for a frame, it hands the frame (by reference, no copy) and a copy of
/// the population activity to every subscribed slow consumer through bounded, counted links. It never waits: a
/// consumer that falls behind loses frames (counted), the loop does not. The frames a consumer can hold are extra
/// buffers of the run's pool (<see cref="FramesHeldMax"/>), so a slow consumer cannot starve the source either.
/// </summary>
public sealed class LiveTap : IFastStage
{
    private readonly PopulationActivity? _activity;
    private readonly List<TapSubscription> _subs = new();
    private TapSubscription[] _frozen = Array.Empty<TapSubscription>();
    private bool _started;

    /// <summary>Creates a tap that copies <paramref name="activity"/> (null: frames only).</summary>
    public LiveTap(PopulationActivity? activity) => _activity = activity;

    /// <inheritdoc />
    public string Name => "tap";

    /// <summary>The subscriptions.</summary>
    public IReadOnlyList<TapSubscription> Subscriptions => _subs;

    /// <summary>Most pooled frames the consumers can hold at once (queued plus one being handled each).</summary>
    public int FramesHeldMax => _subs.Sum(s => s.Frames is null ? 0 : s.Frames.Capacity + 1);

    /// <summary>Adds a consumer; only before the run starts. <paramref name="frameEvery"/> 0 takes no frames,
    /// <paramref name="activityCapacity"/> 0 takes no activity.</summary>
    public TapSubscription Subscribe(string name, int frameCapacity, int frameEvery, int activityCapacity)
    {
        if (_started) throw new InvalidOperationException("Tap consumers must subscribe before the run starts.");
        Check.NotEmpty("tap.name", name);
        Check.InRange($"tap.{name}.frameEvery", frameEvery, 0, 1_000_000);
        BoundedLink<Frame>? frames = frameEvery == 0 ? null
            : new BoundedLink<Frame>($"tap→{name}", Check.InRange($"tap.{name}.frameCapacity", frameCapacity, 1, 1024), LinkFullMode.DropIncoming, f => f.Release());
        ActivityRing? ring = activityCapacity == 0 || _activity is null ? null : new ActivityRing(name, _activity.Units, activityCapacity);
        var sub = new TapSubscription(name, frameEvery, frames, ring);
        _subs.Add(sub);
        return sub;
    }

    /// <inheritdoc />
    public void Start(RunContext context)
    {
        _started = true;
        _frozen = _subs.ToArray();
    }

    /// <inheritdoc />
    public void Process(Frame frame)
    {
        long now = MonotonicClock.NowNs();
        foreach (var s in _frozen)
        {
            if (s.Frames is { } link && frame.FrameIndex % s.FrameEvery == 0)
            {
                frame.AddRef();
                link.TryWrite(frame); // a dropped frame is released by the link's drop handler
            }
            s.Activity?.TryPublish(_activity!, now);
        }
    }

    /// <inheritdoc />
    public void Stop()
    {
        foreach (var s in _frozen)
        {
            s.Ended = true;
            s.Frames?.Complete();
        }
    }
}
