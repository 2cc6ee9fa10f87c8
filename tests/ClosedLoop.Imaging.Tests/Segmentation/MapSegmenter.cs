using ClosedLoop.Imaging.Segmentation;

namespace ClosedLoop.Imaging.Tests.Segmentation;

/// <summary>A test double for the network: ignores the pixels and returns, for frame i (counted since the last reset),
/// the probability map that <c>map(i)</c> gives. Used to test post-processing and tracking on known masks.</summary>
internal sealed class MapSegmenter : IFrameSegmenter
{
    private readonly Func<long, float[]> _map;
    private long _frame;

    public MapSegmenter(int heightPx, int widthPx, Func<long, float[]> map, int warmupFrames = 0)
    {
        HeightPx = heightPx;
        WidthPx = widthPx;
        _map = map;
        WarmupFrames = warmupFrames;
    }

    public int HeightPx { get; }
    public int WidthPx { get; }
    public int WarmupFrames { get; }
    public string Description => "test maps";
    public bool Disposed { get; private set; }

    public void Process(ReadOnlySpan<ushort> frames, int count, Span<float> probabilities)
    {
        int n = HeightPx * WidthPx;
        if (frames.Length < count * n || probabilities.Length < count * n) throw new ArgumentException("short buffers");
        for (int k = 0; k < count; k++) _map(_frame++).AsSpan().CopyTo(probabilities.Slice(k * n, n));
    }

    public void Reset() => _frame = 0;

    public void Dispose() => Disposed = true;

    /// <summary>A map that is 0.9 on the given masks and 0.05 elsewhere.</summary>
    public static float[] Map(int heightPx, int widthPx, params int[][] masks)
    {
        var m = new float[heightPx * widthPx];
        Array.Fill(m, 0.05f);
        foreach (var mask in masks) foreach (int p in mask) m[p] = 0.9f;
        return m;
    }

    public static int[] Square(int widthPx, int r0, int c0, int side) =>
        Enumerable.Range(r0, side).SelectMany(r => Enumerable.Range(c0, side).Select(c => r * widthPx + c)).ToArray();
}
