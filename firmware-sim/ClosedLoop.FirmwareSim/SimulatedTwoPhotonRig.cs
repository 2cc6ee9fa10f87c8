using ClosedLoop.Core;
using ClosedLoop.Hardware;

namespace ClosedLoop.FirmwareSim;

/// <summary>
/// A simulated two-photon rig: a <see cref="VirtualTissue"/> rendered frame by frame on the rig's sample clock.
/// Frame i covers [i·T, (i+1)·T) on the sample clock (T = frame period); it carries
/// <c>SampleTimeNs = i·T</c> and <c>FrameIndex = i</c>.
/// <list type="bullet">
/// <item><see cref="SimulationPacing.Realtime"/>: the rig waits on the host clock until the frame's last sample time
/// (start + (i+1)·T on a <see cref="SampleClock"/> started when <see cref="Run"/> begins), then renders and hands it
/// on, like a real scanner whose frame is complete only at its end. <c>AcquiredHostNs</c> = start + i·T.</item>
/// <item><see cref="SimulationPacing.Fast"/>: lock-step; the rig renders frame i as soon as every buffer of the pool
/// has come back after frame i − 1, so a run is reproducible for a seed whatever the host's speed.
/// <c>AcquiredHostNs</c> is the host time when rendering began.</item>
/// </list>
/// When no pooled buffer is free the tissue still advances (biology time flows), the frame is counted in
/// <see cref="FramesDroppedAtSource"/> and the rig goes on; it never blocks on a slow consumer in real-time pacing.
/// </summary>
public sealed class SimulatedTwoPhotonRig : IFrameSource
{
    private readonly long? _frameLimit;
    private readonly long? _faultAtFrame;
    private long _acquired;
    private long _dropped;
    private int _started;

    /// <summary>Builds the rig a hardware profile describes (its <c>simulation</c> section is required); a relative
    /// footprints path is taken relative to the profile's folder.</summary>
    /// <param name="profile">The rig; validated here.</param>
    /// <param name="frameLimit">Frames to produce before <see cref="Run"/> returns; null = until cancelled.</param>
    /// <param name="pacing">Overrides the profile's pacing (e.g. from the command line); null = as in the profile.</param>
    public SimulatedTwoPhotonRig(HardwareProfile profile, long? frameLimit = null, SimulationPacing? pacing = null)
        : this(profile.Imaging,
               profile.Simulation ?? throw new SettingException("simulation", null, "present for a simulated rig", profile.SourcePath),
               frameLimit, pacing, BaseDirectoryOf(profile.SourcePath))
    {
    }

    /// <summary>Builds a rig from its imaging and simulation sections.</summary>
    /// <param name="imaging">Frame size and rate.</param>
    /// <param name="simulation">Tissue, seed and pacing.</param>
    /// <param name="frameLimit">Frames to produce before <see cref="Run"/> returns; null = until cancelled.</param>
    /// <param name="pacing">Overrides the simulation's pacing; null = as in <paramref name="simulation"/>.</param>
    /// <param name="baseDirectory">Folder a relative footprints path is taken from; null = the working directory.</param>
    public SimulatedTwoPhotonRig(ImagingProfile imaging, SimulationProfile simulation, long? frameLimit = null,
        SimulationPacing? pacing = null, string? baseDirectory = null)
    {
        if (frameLimit is < 0) throw new SettingException("frameLimit", frameLimit.Value, "≥ 0 or absent (run until cancelled)");
        simulation.Validate(imaging);
        Tissue = new VirtualTissue(simulation.Tissue, imaging, simulation.Seed, baseDirectory);
        Pacing = pacing ?? simulation.Pacing;
        _frameLimit = frameLimit;
        _faultAtFrame = simulation.FaultAfterS is double f ? (long)Math.Ceiling(f * imaging.FrameRateHz) : null;
    }

    /// <summary>The virtual tissue (ground truth, and the target of <see cref="SimulatedPhotostimulator"/>).</summary>
    public VirtualTissue Tissue { get; }

    /// <summary>How frames are paced.</summary>
    public SimulationPacing Pacing { get; }

    /// <summary>Frames to produce, or null for no limit.</summary>
    public long? FrameLimit => _frameLimit;

    /// <summary>The sample clock of the current run (frame i's first sample at <c>ToHostNs(i)</c> in real-time
    /// pacing); null before <see cref="Run"/>.</summary>
    public SampleClock? Clock { get; private set; }

    /// <inheritdoc />
    public int WidthPx => Tissue.WidthPx;

    /// <inheritdoc />
    public int HeightPx => Tissue.HeightPx;

    /// <inheritdoc />
    public double FrameRateHz => Tissue.FrameRateHz;

    /// <summary>Frame period on the sample clock, in ns.</summary>
    public long FramePeriodNs => Tissue.FramePeriodNs;

    /// <inheritdoc />
    public long FramesAcquired => Interlocked.Read(ref _acquired);

    /// <inheritdoc />
    public long FramesDroppedAtSource => Interlocked.Read(ref _dropped);

    /// <summary>Produces frames until the frame limit is reached or <paramref name="cancellationToken"/> fires (then it
    /// returns normally). A rig runs once: the tissue's time line does not restart.</summary>
    /// <exception cref="SettingException">The pool's frame size differs from the rig's.</exception>
    /// <exception cref="InvalidOperationException">Run was already called.</exception>
    public void Run(FramePool pool, BoundedLink<Frame> output, CancellationToken cancellationToken)
    {
        if (pool.Width != WidthPx || pool.Height != HeightPx)
            throw new SettingException("framePool size", $"{pool.Width}×{pool.Height} px", $"the rig's {WidthPx}×{HeightPx} px");
        if (Interlocked.Exchange(ref _started, 1) != 0)
            throw new InvalidOperationException("A simulated rig runs once; build a new one for another run.");

        long periodNs = Tissue.FramePeriodNs;
        var clock = new SampleClock(1e9 / periodNs, MonotonicClock.NowNs());
        Clock = clock;
        bool realtime = Pacing == SimulationPacing.Realtime;
        try
        {
            for (long i = 0; _frameLimit is null || i < _frameLimit; i++)
            {
                if (cancellationToken.IsCancellationRequested) return;
                if (_faultAtFrame is long faultFrame && i >= faultFrame)
                    throw new IOException($"simulated DAQ fault at {i * periodNs / 1e9:0.###} s (simulation.faultAfterS): the device stopped delivering samples");
                long acquiredHostNs = clock.StartHostNs + i * periodNs;
                if (realtime) MonotonicClock.WaitUntil(acquiredHostNs + periodNs, cancellationToken);
                else acquiredHostNs = MonotonicClock.NowNs();

                Interlocked.Increment(ref _acquired);
                if (!pool.TryRent(out var frame))
                {
                    Tissue.Advance();
                    Interlocked.Increment(ref _dropped);
                    continue;
                }
                try
                {
                    Tissue.Render(frame.Span);
                }
                catch
                {
                    frame.Release();
                    throw;
                }
                frame.FrameIndex = i;
                frame.SampleTimeNs = i * periodNs;
                frame.FramePeriodNs = periodNs;
                frame.AcquiredHostNs = acquiredHostNs;
                frame.CompletedHostNs = MonotonicClock.NowNs();
                if (!output.TryWrite(frame) && output.FullMode == LinkFullMode.Wait && !output.IsCompleted)
                {
                    // A waiting link that is full refused the frame and kept no reference: the source drops it.
                    frame.Release();
                    Interlocked.Increment(ref _dropped);
                }

                if (!realtime)
                    while (!pool.WaitUntilProcessed(i, TimeSpan.FromMilliseconds(200), cancellationToken) && frame.References > 0 && !output.IsCompleted) { }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Cancellation is the normal way a run ends.
        }
    }

    private static string? BaseDirectoryOf(string sourcePath)
    {
        if (string.IsNullOrEmpty(sourcePath) || sourcePath.StartsWith(Footprints.BuiltinPrefix, StringComparison.OrdinalIgnoreCase))
            return null;
        return Path.GetDirectoryName(Path.GetFullPath(sourcePath));
    }
}
