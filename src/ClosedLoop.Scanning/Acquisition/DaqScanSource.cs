using ClosedLoop.Core;
using ClosedLoop.Hardware.Daq;
using ClosedLoop.Scanning.Assembly;

namespace ClosedLoop.Scanning.Acquisition;

/// <summary>Everything <see cref="DaqScanSource"/> needs to drive a scan through a DAQ.</summary>
/// <param name="AiChannels">Detector channels, e.g. <c>Dev1/ai0:1</c>.</param>
/// <param name="AiRange">Detector input range.</param>
/// <param name="AiRateHz">Digitiser rate per channel.</param>
/// <param name="AoChannels">Scan outputs (galvo Y first for a resonant scan; galvo X, Y for galvo-galvo; then ETL,
/// Pockels), e.g. <c>Dev1/ao0:2</c>.</param>
/// <param name="AoRange">Output range of those channels.</param>
/// <param name="AoRateHz">Output rate.</param>
/// <param name="FrameWaveform">One frame of output samples, interleaved by scan (ao0[0], ao1[0], …), repeated every frame.</param>
/// <param name="Counter">Counter that timestamps the resonant line clock, e.g. <c>Dev1/ctr0</c> (resonant scans only).</param>
/// <param name="LineClockTerminal">Terminal the resonant sync arrives on, e.g. <c>/Dev1/PFI1</c> (resonant scans only).</param>
/// <param name="ShutterLines">Digital line that opens the shutter (high = open), or null.</param>
/// <param name="Resonant">Resonant line geometry; lines are placed at the line clock's edges.</param>
/// <param name="Linear">Galvo-galvo line geometry (in detector samples); lines start at fixed sample intervals from the
/// outputs' first sample, since both axes are driven by the same start trigger. Exactly one of the two geometries.</param>
/// <param name="HeightPx">Imaged lines per frame.</param>
/// <param name="FlybackLines">Lines per frame spent on the galvo's flyback (not imaged).</param>
/// <param name="AdcOffset">ADC code of no light.</param>
/// <param name="FrameRateHz">Frame rate these settings produce.</param>
/// <param name="TrackPhase">Estimate the bidirectional line phase from the data and follow it.</param>
public sealed record DaqScanConfig(
    string AiChannels, DaqRange AiRange, double AiRateHz,
    string AoChannels, DaqRange AoRange, double AoRateHz, double[] FrameWaveform,
    string? Counter, string? LineClockTerminal, string? ShutterLines,
    ResonantGeometry? Resonant, LinearGeometry? Linear, int HeightPx, int FlybackLines, double AdcOffset, double FrameRateHz, bool TrackPhase = true);

/// <summary>
/// A frame source that images through a DAQ: the scan waveforms (galvo Y, or galvos X and Y, and ETL/Pockels)
/// regenerate frame after frame on the analog outputs, the detectors are digitised continuously, lines are placed at
/// the resonant line clock's edges (timestamped by a counter) or, for galvo-galvo scans, at fixed sample intervals,
/// and each frame is assembled from raw samples into a pooled <see cref="Frame"/> (the first detector channel). Acquisition and
/// the line clock start on the output's start trigger, so sample 0 of every task is the same instant. The device's
/// sample clock dates every frame; a device error (input overflow, a stalled stream) ends the run with the shutter
/// closed and outputs at 0 V. Works unchanged on the simulated device and on NI hardware.
/// </summary>
public sealed class DaqScanSource : IFrameSource
{
    private readonly IDaqSystem _daq;
    private readonly DaqScanConfig _c;
    private readonly long? _frameLimit;
    private readonly Action<long>? _pace;
    private long _acquired, _dropped;

    /// <summary>Creates the source. <paramref name="pace"/>, when given, is called with the sample index the source
    /// needs next and must make the device produce samples up to it (an as-fast-as-possible simulated device); without
    /// it the source waits for the device's own clock (real hardware, real-time simulation).</summary>
    public DaqScanSource(IDaqSystem daq, DaqScanConfig config, long? frameLimit = null, Action<long>? pace = null)
    {
        Check.InRange("scan.heightPx", config.HeightPx, 1, 8192);
        Check.InRange("scan.flybackLines", config.FlybackLines, 0, 8192);
        Check.Positive("scan.aiRateHz", config.AiRateHz);
        Check.Positive("scan.frameRateHz", config.FrameRateHz);
        if (config.FrameWaveform.Length == 0) throw new SettingException("scan.frameWaveform", 0, "at least one sample per channel");
        if ((config.Resonant is null) == (config.Linear is null))
            throw new SettingException("scan.geometry", null, "either a resonant or a linear (galvo-galvo) line geometry");
        if (config.Resonant is not null && (config.Counter is null || config.LineClockTerminal is null))
            throw new SettingException("scan.counter", config.Counter, "a counter and its line-clock terminal for a resonant scan");
        Map = config.Resonant is { } r ? PixelMap.Resonant(r) : PixelMap.Linear(config.Linear!);
        if (Map.Bidirectional && (config.HeightPx + config.FlybackLines) % 2 != 0)
            throw new SettingException("scan.flybackLines", config.FlybackLines,
                $"a number that makes the frame an even number of lines ({config.HeightPx} imaged + flyback): a bidirectional frame must start on a forward line");
        _daq = daq;
        _c = config;
        _frameLimit = frameLimit;
        _pace = pace;
        Assembler = new FrameAssembler(Map, new AssemblySettings(config.HeightPx, Channels: DaqChannels.Parse(config.AiChannels).Count, AdcOffset: config.AdcOffset));
        Phase = Map.Bidirectional ? new PhaseEstimator(Map) : null;
    }

    /// <inheritdoc />
    public int WidthPx => Map.WidthPx;

    /// <inheritdoc />
    public int HeightPx => _c.HeightPx;

    /// <inheritdoc />
    public double FrameRateHz => _c.FrameRateHz;

    /// <inheritdoc />
    public long FramesAcquired => Interlocked.Read(ref _acquired);

    /// <inheritdoc />
    public long FramesDroppedAtSource => Interlocked.Read(ref _dropped);

    /// <summary>How long the detector stream may deliver nothing before the source gives up with an error, in ns:
    /// ten frame periods or half a second, whichever is longer.</summary>
    public long StallTimeoutNs => (long)Math.Max(0.5e9, 10e9 / _c.FrameRateHz);

    /// <summary>Frames the source acquires before it ends, or null until cancelled.</summary>
    public long? FrameLimit => _frameLimit;

    /// <summary>The configuration the source was built with.</summary>
    public DaqScanConfig Config => _c;

    /// <summary>Pixel map (its phase follows the estimate when phase tracking is on).</summary>
    public PixelMap Map { get; }

    /// <summary>The assembler, with its line-sync counters (missed and spurious line-clock edges).</summary>
    public FrameAssembler Assembler { get; }

    /// <summary>The line-phase estimator (bidirectional scans).</summary>
    public PhaseEstimator? Phase { get; }

    /// <summary>The latest phase estimate.</summary>
    public PhaseEstimate LastPhase { get; private set; }

    /// <inheritdoc />
    public void Run(FramePool pool, BoundedLink<Frame> output, CancellationToken cancellationToken)
    {
        int channels = Assembler.Channels;
        int linesPerFrame = _c.HeightPx + _c.FlybackLines;
        double samplesPerLine = Map.LinePeriodSamples;
        int samplesPerFrame = (int)Math.Ceiling(linesPerFrame * samplesPerLine);
        // The window holds two frames and the margins a pixel map may read around a line.
        int window = 2 * samplesPerFrame + 4 * (int)Math.Ceiling(samplesPerLine);
        var samples = new short[channels * window];   // channel-major
        var chunk = new short[channels * Math.Max(1024, samplesPerFrame / 4)];
        var planes = channels == 1 ? Array.Empty<ushort>() : new ushort[Assembler.DestinationLength];
        // Edges for as many lines as the input buffer can hold, so a backlog of samples never outruns the edge list.
        int bufferSamples = InputBufferSamples(samplesPerFrame);
        int linesInBuffer = (int)Math.Ceiling(bufferSamples / samplesPerLine) + 2;
        var edges = new long[linesInBuffer + 4 * linesPerFrame + 64];
        var lineStarts = new long[_c.HeightPx];
        int pendingEdges = 0;
        long windowStart = 0;   // sample index of samples[0]
        int windowCount = 0;
        long linesSeen = 0;     // lines since the first line-clock edge
        long periodNs = (long)Math.Round(1e9 / _c.FrameRateHz);

        using var ao = _daq.CreateAnalogOutputTask(new AnalogOutputConfig("scan-outputs", _c.AoChannels, _c.AoRange,
            new DaqTiming(_c.AoRateHz, _c.FrameWaveform.Length / DaqChannels.Parse(_c.AoChannels).Count), AllowRegeneration: true));
        using var ai = _daq.CreateAnalogInputTask(new AnalogInputConfig("detectors", _c.AiChannels, _c.AiRange,
            new DaqTiming(_c.AiRateHz, bufferSamples), new DaqStartTrigger(ao.StartTriggerTerminal)));
        using var lineClock = _c.Resonant is null ? null : _daq.CreateCounterInputTask(new CounterInputConfig("line-clock", _c.Counter!, _c.LineClockTerminal!, DaqEdge.Rising,
            new DaqTiming(_c.AiRateHz, linesInBuffer + 8 * linesPerFrame, SampleClockSource: ai.SampleClockTerminal), new DaqStartTrigger(ao.StartTriggerTerminal)));
        using var shutter = _c.ShutterLines is null ? null : _daq.CreateDigitalOutputTask(new DigitalOutputConfig("shutter", _c.ShutterLines));
        var rising = new long[2 * linesPerFrame];
        long lastRising = -1;
        try
        {
            ao.Write(_c.FrameWaveform);
            ai.Start();
            lineClock?.Start();
            shutter?.WriteState(1);
            ao.Start();
            var clock = new SampleClock(ai.SampleRateHz, MonotonicClock.NowNs());
            long lastSampleHostNs = MonotonicClock.NowNs();
            long stallNs = StallTimeoutNs;

            for (long frameIndex = 0; _frameLimit is null || frameIndex < _frameLimit; frameIndex++)
            {
                // Lines of this frame: [first, first + height) counted from the first line-clock edge.
                long firstLine = frameIndex * linesPerFrame;
                while (!cancellationToken.IsCancellationRequested)
                {
                    // Enough edges to place every line of the frame, and the samples up to the last line's end?
                    if (linesSeen >= firstLine + _c.HeightPx + 1)
                    {
                        long lastStart = EdgeOfLine(edges, pendingEdges, linesSeen, firstLine + _c.HeightPx - 1);
                        if (lastStart + Map.MaxSampleOffset < windowStart + windowCount) break;
                    }
                    _pace?.Invoke(windowStart + windowCount + chunk.Length / channels);
                    int n = ai.Read(chunk, TimeSpan.FromMilliseconds(100), out long first, cancellationToken);
                    if (n == 0 && MonotonicClock.NowNs() - lastSampleHostNs > stallNs)
                        throw new DaqException(DaqErrorCodes.ReadTimeout, ai.Device,
                            $"the detector stream stalled: no samples for {stallNs / 1e6:0} ms (sample clock or trigger lost?); acquisition stopped, shutter closed", ai.Name);
                    if (n > 0)
                    {
                        lastSampleHostNs = MonotonicClock.NowNs();
                        if (first != windowStart + windowCount)
                            throw new DaqException(DaqErrorCodes.InputBufferOverflow, ai.Device, $"detector samples skipped from {windowStart + windowCount} to {first}", ai.Name);
                        if (windowCount + n > window) Compact(samples, channels, window, ref windowStart, ref windowCount, edges, pendingEdges, linesSeen, firstLine);
                        if (windowCount + n > window)
                            throw new InvalidOperationException($"sample window of {window} too small for {windowCount + n} samples");
                        for (int c = 0; c < channels; c++)
                            for (int k = 0; k < n; k++)
                                samples[c * window + windowCount + k] = chunk[k * channels + c];
                        windowCount += n;
                    }
                    if (lineClock is null)
                    {
                        // Galvo-galvo: line k starts k line periods after the outputs' (and detectors') first sample.
                        while (pendingEdges < edges.Length && LinearLineStart(linesSeen) < windowStart + windowCount)
                            AddEdge(edges, ref pendingEdges, ref linesSeen, LinearLineStart(linesSeen), firstLine);
                        continue;
                    }
                    // Take only as many edges as fit without discarding any the frame being assembled still needs.
                    int room = (edges.Length - pendingEdges) / 2 - 1;
                    int got = room <= 0 ? 0 : lineClock.ReadEdges(rising.AsSpan(0, Math.Min(rising.Length, room)), TimeSpan.Zero, cancellationToken);
                    for (int k = 0; k < got; k++)
                    {
                        // One rising edge per mirror period; a bidirectional scan has a backward line starting half-way.
                        if (Map.Bidirectional && lastRising >= 0)
                            AddEdge(edges, ref pendingEdges, ref linesSeen, lastRising + (rising[k] - lastRising) / 2, firstLine);
                        AddEdge(edges, ref pendingEdges, ref linesSeen, rising[k], firstLine);
                        lastRising = rising[k];
                    }
                }
                if (cancellationToken.IsCancellationRequested) return;

                // Line starts of this frame relative to the sample window.
                int firstEdgeSlot = (int)(firstLine - (linesSeen - pendingEdges));
                for (int l = 0; l < _c.HeightPx; l++) lineStarts[l] = edges[firstEdgeSlot + l] - windowStart;
                Interlocked.Increment(ref _acquired);
                if (!pool.TryRent(out var frame))
                {
                    Interlocked.Increment(ref _dropped);
                    TrimEdges(edges, ref pendingEdges, linesSeen, firstLine + linesPerFrame);
                    continue;
                }
                try
                {
                    // One detector: assemble straight into the pooled frame. Several: assemble all, hand on the first.
                    if (channels == 1) Assembler.AssembleFrame(samples, window, lineStarts, frame.Pixels);
                    else
                    {
                        Assembler.AssembleFrame(samples, window, lineStarts, planes);
                        planes.AsSpan(0, frame.Pixels.Length).CopyTo(frame.Pixels);
                    }
                    if (Phase is not null && _c.TrackPhase && (frameIndex < 3 || frameIndex % 30 == 0))
                        LastPhase = Phase.Track(samples.AsSpan(0, window), lineStarts, gain: frameIndex < 3 ? 1 : 0.2);
                    long firstSample = edges[firstEdgeSlot];
                    frame.FrameIndex = frameIndex;
                    frame.SampleTimeNs = clock.SampleTimeNs(firstSample);
                    frame.FramePeriodNs = periodNs;
                    frame.AcquiredHostNs = clock.ToHostNs(firstSample);
                    frame.CompletedHostNs = MonotonicClock.NowNs();
                }
                catch
                {
                    frame.Release();
                    throw;
                }
                output.TryWrite(frame);
                // Edges of this frame's lines are used up: keep only those of the next frame onwards.
                TrimEdges(edges, ref pendingEdges, linesSeen, firstLine + linesPerFrame);
            }
        }
        finally
        {
            try { shutter?.WriteState(0); } catch (DaqException) { }
            ao.Stop();
            ai.Stop();
            lineClock?.Stop();
            shutter?.Stop();
        }
    }

    /// <summary>The detectors' device-side buffer: half a second or four frames, whichever is longer, so a pause of the
    /// acquisition thread (start-up, a slow disk, a busy machine) does not overflow it.</summary>
    private int InputBufferSamples(int samplesPerFrame) =>
        (int)Math.Min(int.MaxValue / 4, Math.Max(4L * samplesPerFrame, (long)(0.5 * _c.AiRateHz)));

    private static void AddEdge(long[] edges, ref int pending, ref long linesSeen, long edge, long keepFromLine)
    {
        if (pending == edges.Length)
        {
            // Forget edges of lines before the frame being assembled; those are never needed again.
            int drop = (int)Math.Clamp(keepFromLine - (linesSeen - pending), 0, pending);
            if (drop == 0) throw new InvalidOperationException($"line-clock edge list full ({edges.Length}) within one frame");
            Array.Copy(edges, drop, edges, 0, pending - drop);
            pending -= drop;
        }
        edges[pending++] = edge;
        linesSeen++;
    }

    private long LinearLineStart(long line) => (long)Math.Round(line * _c.Linear!.SamplesPerLine);

    private static void TrimEdges(long[] edges, ref int pending, long linesSeen, long keepFromLine)
    {
        int drop = (int)Math.Clamp(keepFromLine - (linesSeen - pending), 0, pending);
        if (drop == 0) return;
        Array.Copy(edges, drop, edges, 0, pending - drop);
        pending -= drop;
    }

    private static long EdgeOfLine(long[] edges, int pending, long linesSeen, long line) => edges[pending - (int)(linesSeen - line)];

    private void Compact(short[] samples, int channels, int window, ref long windowStart, ref int windowCount,
        long[] edges, int pending, long linesSeen, long firstLine)
    {
        // Keep from just before the first line of the frame being assembled when its edge is known; otherwise keep
        // the most recent quarter of the window.
        bool firstLineKnown = firstLine >= linesSeen - pending && firstLine < linesSeen;
        long keepFrom = firstLineKnown
            ? EdgeOfLine(edges, pending, linesSeen, firstLine) + Map.MinSampleOffset - 1
            : windowStart + windowCount - window / 4;
        int drop = (int)Math.Clamp(keepFrom - windowStart, 0, windowCount);
        if (drop == 0) return;
        for (int c = 0; c < channels; c++)
            Array.Copy(samples, c * window + drop, samples, c * window, windowCount - drop);
        windowStart += drop;
        windowCount -= drop;
    }
}
