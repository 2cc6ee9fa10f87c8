namespace ClosedLoop.Core;

/// <summary>A copy of <see cref="PopulationActivity"/> at one frame, held in an <see cref="ActivityRing"/> slot.</summary>
public sealed class ActivitySnapshot
{
    internal ActivitySnapshot(int units)
    {
        Raw = new float[units];
        Dff = new float[units];
        NoiseLevel = new float[units];
        Rate = new float[units];
    }

    /// <summary>Frame the values belong to.</summary>
    public long FrameIndex { get; internal set; }

    /// <summary>Sample-clock time of the frame's first sample, in ns.</summary>
    public long SampleTimeNs { get; internal set; }

    /// <summary>Host monotonic time the values were copied (after the fast loop's decision), in ns.</summary>
    public long HostNs { get; internal set; }

    /// <summary>Raw signal per unit.</summary>
    public float[] Raw { get; }

    /// <summary>ΔF/F per unit (fraction).</summary>
    public float[] Dff { get; }

    /// <summary>Noise level ν per unit.</summary>
    public float[] NoiseLevel { get; }

    /// <summary>Inferred spike rate per unit, spikes per frame.</summary>
    public float[] Rate { get; }
}

/// <summary>
/// A single-producer, single-consumer ring of preallocated <see cref="ActivitySnapshot"/>s: the fast loop copies the
/// population activity in without waiting or allocating; a slow consumer (recorder, event bus, dashboard) reads
/// them on its own thread. When the consumer falls behind, new snapshots are dropped and counted, never queued
/// without bound and never blocking the loop. Consumers poll (every few milliseconds): the ring never wakes a thread,
/// because a consumer woken by every frame is scheduled on the loop's core right after the tap and delays the loop.
/// </summary>
public sealed class ActivityRing
{
    private readonly ActivitySnapshot[] _slots;
    private long _head; // next slot to write (producer)
    private long _tail; // next slot to read (consumer)
    private long _dropped;

    /// <summary>Creates a ring of <paramref name="capacity"/> snapshots of <paramref name="units"/> units.</summary>
    public ActivityRing(string name, int units, int capacity)
    {
        Name = Check.NotEmpty("tap.name", name);
        Check.InRange($"tap.{name}.activityCapacity", capacity, 1, 1 << 16);
        Units = Check.InRange($"tap.{name}.units", units, 1, 1_000_000);
        _slots = new ActivitySnapshot[capacity];
        for (int i = 0; i < capacity; i++) _slots[i] = new ActivitySnapshot(units);
    }

    /// <summary>Name of the consumer, for reports.</summary>
    public string Name { get; }

    /// <summary>Units per snapshot.</summary>
    public int Units { get; }

    /// <summary>Capacity in snapshots.</summary>
    public int Capacity => _slots.Length;

    /// <summary>Snapshots published (written into the ring).</summary>
    public long Published => Volatile.Read(ref _head);

    /// <summary>Snapshots dropped because the consumer was behind.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Snapshots waiting to be read.</summary>
    public int Count => (int)(Volatile.Read(ref _head) - Volatile.Read(ref _tail));

    /// <summary>Producer: copies <paramref name="activity"/> into the next free slot; false (and counted) when full. Allocation-free.</summary>
    public bool TryPublish(PopulationActivity activity, long hostNs)
    {
        long head = _head;
        if (head - Volatile.Read(ref _tail) >= _slots.Length)
        {
            Interlocked.Increment(ref _dropped);
            return false;
        }
        var s = _slots[head % _slots.Length];
        int n = Math.Min(Units, activity.Units);
        activity.Raw.AsSpan(0, n).CopyTo(s.Raw);
        activity.Dff.AsSpan(0, n).CopyTo(s.Dff);
        activity.NoiseLevel.AsSpan(0, n).CopyTo(s.NoiseLevel);
        activity.Rate.AsSpan(0, n).CopyTo(s.Rate);
        s.FrameIndex = activity.FrameIndex;
        s.SampleTimeNs = activity.SampleTimeNs;
        s.HostNs = hostNs;
        Volatile.Write(ref _head, head + 1);
        return true;
    }

    /// <summary>Consumer: the oldest unread snapshot, left in place until <see cref="Advance"/>; false when empty.</summary>
    public bool TryPeek(out ActivitySnapshot snapshot)
    {
        long tail = _tail;
        if (tail == Volatile.Read(ref _head)) { snapshot = null!; return false; }
        snapshot = _slots[tail % _slots.Length];
        return true;
    }

    /// <summary>Consumer: frees the slot returned by the last <see cref="TryPeek"/>.</summary>
    public void Advance()
    {
        long tail = _tail;
        if (tail == Volatile.Read(ref _head)) return;
        Volatile.Write(ref _tail, tail + 1);
    }
}
