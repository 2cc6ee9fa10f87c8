using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ClosedLoop.Core;

namespace ClosedLoop.Scanning.Assembly;

/// <summary>How a pixel's samples become its value.</summary>
public enum PixelReduction
{
    /// <summary>Mean of the (weighted) samples minus the ADC offset: brightness independent of dwell time.</summary>
    Mean,

    /// <summary>Sum of the (weighted) samples minus offset × samples: proportional to collected photons, so
    /// slow edge pixels come out brighter.</summary>
    Sum,
}

/// <summary>What to do with a line whose line-clock edge was missed.</summary>
public enum MissedLinePolicy
{
    /// <summary>Assemble it from the predicted position (the samples are there; only the edge is missing).</summary>
    Predicted,

    /// <summary>Write zeros (the line's state says why).</summary>
    Zero,
}

/// <summary>Frame assembly settings (read once, when the assembler is built).</summary>
/// <param name="HeightPx">Lines per frame.</param>
/// <param name="Channels">Detector channels in each sample block (e.g. 2 PMTs).</param>
/// <param name="AdcOffset">ADC code of zero light, subtracted from every sample.</param>
/// <param name="Reduction">Mean or sum of a pixel's samples.</param>
/// <param name="InvertPolarity">True for detectors whose signal is negative-going (value = offset − sample).</param>
/// <param name="MissedLines">What to write for a line whose edge was missed.</param>
public sealed record AssemblySettings(
    int HeightPx, int Channels = 1, double AdcOffset = 0, PixelReduction Reduction = PixelReduction.Mean,
    bool InvertPolarity = false, MissedLinePolicy MissedLines = MissedLinePolicy.Predicted);

/// <summary>
/// Turns int16 detector samples (ADC codes) into uint16 frames. A sample block holds the channels one after the
/// other (channel-major, "grouped by channel": channel c's samples are [c·n, (c+1)·n) for n samples per channel;
/// use <see cref="Deinterleave"/> for interleaved data). Lines are placed at their line-clock edges by
/// <see cref="LineSync"/>; pixels take their samples from the <see cref="PixelMap"/>; odd lines of a
/// bidirectional scan are reversed by the map. The destination holds the channels' frames one after the other
/// (channel-major, row-major within a frame). Nothing is allocated per line or frame.
/// </summary>
public sealed class FrameAssembler
{
    private readonly AssemblySettings _s;
    private readonly float _offset, _sign;

    /// <summary>Creates an assembler for frames of <paramref name="map"/>.WidthPx × <paramref name="settings"/>.HeightPx.</summary>
    public FrameAssembler(PixelMap map, AssemblySettings settings)
    {
        ArgumentNullException.ThrowIfNull(map);
        Check.InRange("assembly.heightPx", settings.HeightPx, 1, 8192);
        Check.InRange("assembly.channels", settings.Channels, 1, 16);
        Check.InRange("assembly.adcOffset", settings.AdcOffset, short.MinValue, short.MaxValue);
        Map = map;
        _s = settings;
        _offset = (float)settings.AdcOffset;
        _sign = settings.InvertPolarity ? -1f : 1f;
        Sync = new LineSync(map.LinePeriodSamples, settings.HeightPx);
    }

    /// <summary>The pixel map (set its phase between frames).</summary>
    public PixelMap Map { get; }

    /// <summary>The line placer, with its per-line states and run counters.</summary>
    public LineSync Sync { get; }

    /// <summary>Pixels per line.</summary>
    public int WidthPx => Map.WidthPx;

    /// <summary>Lines per frame.</summary>
    public int HeightPx => _s.HeightPx;

    /// <summary>Channels per block.</summary>
    public int Channels => _s.Channels;

    /// <summary>Pixels the destination of <see cref="AssembleFrame"/> must hold: channels × height × width.</summary>
    public int DestinationLength => _s.Channels * _s.HeightPx * Map.WidthPx;

    /// <summary>Assembles one frame of every channel.</summary>
    /// <param name="samples">Channel-major sample block (<see cref="Channels"/> × <paramref name="samplesPerChannel"/>).</param>
    /// <param name="samplesPerChannel">Samples of each channel in the block.</param>
    /// <param name="lineEdges">Ascending sample indices (within a channel) of the line-clock edges, starting with line 0.</param>
    /// <param name="destination">Channel-major frames, at least <see cref="DestinationLength"/> pixels.</param>
    /// <returns>How the lines were placed (missed and spurious edges, lines without samples).</returns>
    public LineSyncStatus AssembleFrame(ReadOnlySpan<short> samples, int samplesPerChannel, ReadOnlySpan<long> lineEdges, Span<ushort> destination)
    {
        int w = Map.WidthPx, h = _s.HeightPx, ch = _s.Channels;
        if (samplesPerChannel < 1 || samples.Length < (long)ch * samplesPerChannel)
            throw new ArgumentException($"The block holds {samples.Length} samples, fewer than {ch} channels × {samplesPerChannel}.", nameof(samples));
        if (destination.Length < DestinationLength)
            throw new ArgumentException($"Need {DestinationLength} pixels, got {destination.Length}.", nameof(destination));
        var status = Sync.Place(lineEdges);
        int noData = 0;
        var starts = Sync.LineStarts;
        var states = Sync.LineStates;
        for (int line = 0; line < h; line++)
        {
            long start = starts[line];
            bool zero = states[line] == LineState.NoData || states[line] == LineState.Missed && _s.MissedLines == MissedLinePolicy.Zero;
            if (!zero && (start + Map.MinSampleOffset < 0 || start + Map.MaxSampleOffset >= samplesPerChannel))
            {
                Sync.MarkNoData(line);
                zero = true;
                noData++;
            }
            bool backward = Map.Bidirectional && (line & 1) == 1;
            for (int c = 0; c < ch; c++)
            {
                var row = destination.Slice((c * h + line) * w, w);
                if (zero) row.Clear();
                else AssembleLineUnchecked(samples.Slice(c * samplesPerChannel, samplesPerChannel), start, backward, row);
            }
        }
        return status with { NoData = status.NoData + noData };
    }

    /// <summary>Assembles one line of one channel whose line starts at <paramref name="lineStart"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The line's samples are not all in <paramref name="channelSamples"/>.</exception>
    public void AssembleLine(ReadOnlySpan<short> channelSamples, long lineStart, bool backward, Span<ushort> row)
    {
        if (lineStart + Map.MinSampleOffset < 0 || lineStart + Map.MaxSampleOffset >= channelSamples.Length)
            throw new ArgumentOutOfRangeException(nameof(lineStart), $"Line at {lineStart} needs samples {lineStart + Map.MinSampleOffset}..{lineStart + Map.MaxSampleOffset}; the block has {channelSamples.Length}.");
        if (row.Length < Map.WidthPx) throw new ArgumentException($"Need {Map.WidthPx} pixels.", nameof(row));
        AssembleLineUnchecked(channelSamples, lineStart, backward, row);
    }

    /// <summary>Copies interleaved samples (s0c0, s0c1, s1c0, …) into channel-major order.</summary>
    public static void Deinterleave(ReadOnlySpan<short> interleaved, int channels, Span<short> channelMajor)
    {
        Check.InRange("channels", channels, 1, 16);
        int n = interleaved.Length / channels;
        if (channelMajor.Length < n * channels) throw new ArgumentException("Destination too short.", nameof(channelMajor));
        for (int c = 0; c < channels; c++)
        {
            var d = channelMajor.Slice(c * n, n);
            for (int i = 0; i < n; i++) d[i] = interleaved[i * channels + c];
        }
    }

    private void AssembleLineUnchecked(ReadOnlySpan<short> channel, long lineStart, bool backward, Span<ushort> row)
    {
        ref short line = ref Unsafe.Add(ref MemoryMarshal.GetReference(channel), (nint)lineStart);
        var table = Map.Table(backward);
        ref PixelSpan px = ref MemoryMarshal.GetReference(table);
        ref ushort dst = ref MemoryMarshal.GetReference(row);
        bool mean = _s.Reduction == PixelReduction.Mean;
        float offset = _offset, sign = _sign;
        for (int p = 0; p < table.Length; p++)
        {
            ref PixelSpan s = ref Unsafe.Add(ref px, p);
            int sum = SumRun(ref Unsafe.Add(ref line, s.Start), s.Count);
            float acc = sum + s.LeftWeight * Unsafe.Add(ref line, s.LeftIndex) + s.RightWeight * Unsafe.Add(ref line, s.RightIndex);
            float v = mean ? sign * (acc / s.Weight - offset) : sign * (acc - offset * s.Weight);
            Unsafe.Add(ref dst, p) = (ushort)Math.Clamp(v + 0.5f, 0f, 65535f);
        }
    }

    /// <summary>Sum of a contiguous run of int16 samples; widens 16 at a time into int32 lanes where the run is long enough.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int SumRun(ref short first, int count)
    {
        int i = 0, sum = 0;
        if (Vector256.IsHardwareAccelerated && count >= 16)
        {
            var acc = Vector256<int>.Zero;
            for (; i <= count - 16; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref first, (nuint)i));
                acc += lo + hi;
            }
            sum = Vector256.Sum(acc);
        }
        for (; i < count; i++) sum += Unsafe.Add(ref first, i);
        return sum;
    }
}
