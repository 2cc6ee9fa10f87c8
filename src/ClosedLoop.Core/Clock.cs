using System.Diagnostics;

namespace ClosedLoop.Core;

/// <summary>
/// The one monotonic clock every host-side timestamp in a run is taken from, in nanoseconds.
/// It never jumps with wall-clock changes, so differences between two readings are durations.
/// </summary>
public static class MonotonicClock
{
    private static readonly double NsPerTick = 1e9 / Stopwatch.Frequency;

    /// <summary>Current reading of the monotonic clock, in nanoseconds since an arbitrary origin.</summary>
    public static long NowNs() => (long)(Stopwatch.GetTimestamp() * NsPerTick);

    /// <summary>Blocks the calling thread until the monotonic clock reads at least <paramref name="deadlineNs"/>.
    /// Sleeps while far from the deadline and spins for the last stretch, so a hardware-paced source wakes within
    /// a few tens of microseconds of its sample clock.</summary>
    public static void WaitUntil(long deadlineNs, CancellationToken cancellationToken)
    {
        const long spinBelowNs = 1_500_000;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long remaining = deadlineNs - NowNs();
            if (remaining <= 0) return;
            if (remaining > spinBelowNs)
            {
                int sleepMs = (int)Math.Min((remaining - spinBelowNs) / 1_000_000, 50);
                cancellationToken.WaitHandle.WaitOne(Math.Max(sleepMs, 1));
            }
            else
            {
                Thread.SpinWait(20);
            }
        }
    }
}

/// <summary>
/// Maps a device's sample clock onto the host's monotonic clock. A device counts samples at a fixed rate;
/// the alignment is taken when the device starts (sample 0 at <see cref="StartHostNs"/>) and can be
/// refined later when a sample index and its host arrival time are observed together.
/// </summary>
public sealed class SampleClock
{
    /// <summary>Creates a clock for a device counting at <paramref name="sampleRateHz"/>, whose sample 0 happened at <paramref name="startHostNs"/>.</summary>
    public SampleClock(double sampleRateHz, long startHostNs)
    {
        if (!(sampleRateHz > 0) || double.IsInfinity(sampleRateHz))
            throw new SettingException("sampleRateHz", sampleRateHz, "> 0 and finite");
        SampleRateHz = sampleRateHz;
        StartHostNs = startHostNs;
    }

    /// <summary>Samples per second of the device clock.</summary>
    public double SampleRateHz { get; }

    /// <summary>Host monotonic time of sample 0, in nanoseconds.</summary>
    public long StartHostNs { get; private set; }

    /// <summary>Time of a sample on the device's own time line (sample 0 = 0 ns).</summary>
    public long SampleTimeNs(long sampleIndex) => (long)Math.Round(sampleIndex * 1e9 / SampleRateHz);

    /// <summary>Host monotonic time at which a sample was taken.</summary>
    public long ToHostNs(long sampleIndex) => StartHostNs + SampleTimeNs(sampleIndex);

    /// <summary>Sample index at a host monotonic time (rounded down).</summary>
    public long ToSampleIndex(long hostNs) => (long)Math.Floor((hostNs - StartHostNs) * SampleRateHz / 1e9);

    /// <summary>Re-aligns the clock from an observed pair (sample index, host time at which it arrived).
    /// Only moves the origin earlier-to-later by at most <paramref name="maxStepNs"/> so a late delivery cannot drag the clock.</summary>
    public void Realign(long sampleIndex, long observedHostNs, long maxStepNs)
    {
        long predicted = ToHostNs(sampleIndex);
        long error = observedHostNs - predicted;
        if (error < 0) StartHostNs += Math.Max(error, -maxStepNs);
    }
}
