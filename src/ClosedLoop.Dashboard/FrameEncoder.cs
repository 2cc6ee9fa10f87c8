using System.Buffers.Binary;
using System.Collections.Concurrent;
using ClosedLoop.Core;

namespace ClosedLoop.Dashboard;

/// <summary>An 8-bit frame message in a pooled buffer, shared by every browser it is sent to (reference counted).</summary>
internal sealed class EncodedFrame
{
    private readonly EncodedFramePool _pool;
    private int _references;

    public EncodedFrame(EncodedFramePool pool, int bytes)
    {
        _pool = pool;
        Buffer = new byte[bytes];
    }

    public byte[] Buffer { get; }

    public long FrameIndex { get; set; }

    public ReadOnlyMemory<byte> Message => Buffer;

    public void AddRef() => Interlocked.Increment(ref _references);

    public void Release()
    {
        int left = Interlocked.Decrement(ref _references);
        if (left == 0) _pool.Return(this);
        else if (left < 0) throw new InvalidOperationException("Encoded frame released more often than referenced.");
    }

    internal void ResetForRent() => _references = 1;
}

/// <summary>Buffers for encoded frames: created up to a limit while browsers connect, then reused, never per frame.</summary>
internal sealed class EncodedFramePool
{
    private readonly ConcurrentQueue<EncodedFrame> _free = new();
    private readonly int _bytes;
    private readonly int _max;
    private int _created;

    public EncodedFramePool(int bytes, int max)
    {
        _bytes = bytes;
        _max = max;
    }

    public int Created => Volatile.Read(ref _created);

    public EncodedFrame? TryRent()
    {
        if (!_free.TryDequeue(out var f))
        {
            if (Interlocked.Increment(ref _created) > _max)
            {
                Interlocked.Decrement(ref _created);
                return null;
            }
            f = new EncodedFrame(this, _bytes);
        }
        f.ResetForRent();
        return f;
    }

    internal void Return(EncodedFrame frame) => _free.Enqueue(frame);
}

/// <summary>
/// Turns 16-bit frames into the dashboard's binary frame message: whole-factor binning down to a display size, and
/// an 8-bit display range that follows the data (0.5th to 99.9th percentile of a pixel sample, smoothed over frames
/// so the contrast does not flicker). Runs on the dashboard's own thread; allocation-free after the first frames.
/// </summary>
/// <remarks>
/// Message layout (little-endian): byte 0 kind = 1 (frame), byte 1 version = 1, u16 width, u16 height (as sent),
/// u16 binning factor, i64 frame index, i64 sample time (ns), u16 display low, u16 display high (counts),
/// u32 reserved, then width × height bytes, row-major.
/// </remarks>
internal sealed class FrameEncoder
{
    public const int HeaderBytes = 32;
    public const byte KindFrame = 1;
    public const byte Version = 1;
    private const int Bins = 1024;
    private const double LowPercentile = 0.005, HighPercentile = 0.999, Smoothing = 0.3;
    private const int SampleTarget = 65536;

    private readonly byte[] _lut = new byte[65536];
    private readonly int[] _histogram = new int[Bins];
    private readonly ushort[]? _binned;
    private double _low = double.NaN, _high = double.NaN;
    private int _lutLow = -1, _lutHigh = -1;

    public FrameEncoder(int widthPx, int heightPx, int maxDisplayPx, int maxBuffers)
    {
        WidthPx = widthPx;
        HeightPx = heightPx;
        Binning = Math.Max(1, (Math.Max(widthPx, heightPx) + maxDisplayPx - 1) / maxDisplayPx);
        OutWidthPx = widthPx / Binning;
        OutHeightPx = heightPx / Binning;
        if (Binning > 1) _binned = new ushort[OutWidthPx * OutHeightPx];
        Pool = new EncodedFramePool(HeaderBytes + OutWidthPx * OutHeightPx, maxBuffers);
    }

    public int WidthPx { get; }
    public int HeightPx { get; }
    public int Binning { get; }
    public int OutWidthPx { get; }
    public int OutHeightPx { get; }
    public EncodedFramePool Pool { get; }

    /// <summary>Display range now, counts.</summary>
    public (double Low, double High) DisplayRange => (_low, _high);

    /// <summary>Encodes <paramref name="frame"/>, or returns null when its size does not match or no buffer is free.</summary>
    public EncodedFrame? Encode(Frame frame)
    {
        if (frame.Width != WidthPx || frame.Height != HeightPx) return null;
        var message = Pool.TryRent();
        if (message is null) return null;
        ReadOnlySpan<ushort> source = frame.Pixels;
        if (_binned is not null)
        {
            Bin(source, _binned);
            source = _binned;
        }
        UpdateRange(source);
        var buffer = message.Buffer.AsSpan();
        WriteHeader(buffer, frame);
        var pixels = buffer.Slice(HeaderBytes);
        var lut = _lut;
        for (int i = 0; i < pixels.Length; i++) pixels[i] = lut[source[i]];
        message.FrameIndex = frame.FrameIndex;
        return message;
    }

    private void WriteHeader(Span<byte> b, Frame frame)
    {
        b[0] = KindFrame;
        b[1] = Version;
        BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(2), (ushort)OutWidthPx);
        BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(4), (ushort)OutHeightPx);
        BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(6), (ushort)Binning);
        BinaryPrimitives.WriteInt64LittleEndian(b.Slice(8), frame.FrameIndex);
        BinaryPrimitives.WriteInt64LittleEndian(b.Slice(16), frame.SampleTimeNs);
        BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(24), (ushort)_lutLow);
        BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(26), (ushort)_lutHigh);
        BinaryPrimitives.WriteUInt32LittleEndian(b.Slice(28), 0);
    }

    private void Bin(ReadOnlySpan<ushort> source, Span<ushort> target)
    {
        int b = Binning, area = b * b;
        for (int oy = 0; oy < OutHeightPx; oy++)
        {
            for (int ox = 0; ox < OutWidthPx; ox++)
            {
                int sum = 0;
                for (int dy = 0; dy < b; dy++)
                {
                    var row = source.Slice((oy * b + dy) * WidthPx + ox * b, b);
                    foreach (var v in row) sum += v;
                }
                target[oy * OutWidthPx + ox] = (ushort)(sum / area);
            }
        }
    }

    /// <summary>Finds the percentile range of a pixel sample, smooths it over frames, and rebuilds the lookup table when it moved.</summary>
    private void UpdateRange(ReadOnlySpan<ushort> pixels)
    {
        int step = Math.Max(1, pixels.Length / SampleTarget);
        int min = ushort.MaxValue, max = 0, n = 0;
        for (int i = 0; i < pixels.Length; i += step)
        {
            int v = pixels[i];
            if (v < min) min = v;
            if (v > max) max = v;
            n++;
        }
        double low, high;
        if (max <= min)
        {
            low = min;
            high = min + 1;
        }
        else
        {
            Array.Clear(_histogram);
            double scale = (Bins - 1) / (double)(max - min);
            for (int i = 0; i < pixels.Length; i += step) _histogram[(int)((pixels[i] - min) * scale)]++;
            low = min + Percentile(n, LowPercentile) / scale;
            high = min + (Percentile(n, HighPercentile) + 1) / scale;
        }
        if (double.IsNaN(_low))
        {
            _low = low;
            _high = high;
        }
        else
        {
            _low += Smoothing * (low - _low);
            _high += Smoothing * (high - _high);
        }
        int lo = (int)Math.Clamp(Math.Round(_low), 0, 65534);
        int hi = (int)Math.Clamp(Math.Round(_high), lo + 1, 65535);
        if (lo == _lutLow && hi == _lutHigh) return;
        _lutLow = lo;
        _lutHigh = hi;
        double k = 255.0 / (hi - lo);
        for (int v = 0; v < 65536; v++)
            _lut[v] = v <= lo ? (byte)0 : v >= hi ? (byte)255 : (byte)((v - lo) * k + 0.5);
    }

    private int Percentile(int n, double fraction)
    {
        long target = (long)(fraction * n);
        long cumulative = 0;
        for (int b = 0; b < Bins; b++)
        {
            cumulative += _histogram[b];
            if (cumulative > target) return b;
        }
        return Bins - 1;
    }
}
