using ClosedLoop.Scanning.Assembly;
using static ClosedLoop.Scanning.Tests.AssemblyTestScenes;

namespace ClosedLoop.Scanning.Tests;

public class AssemblyLineSyncTests
{
    private const int W = 64, H = 40;
    private const double Fill = 0.8;

    // Each row has its own brightness, so a row that slipped shows up as a wrong value.
    private static double Scene(double u, int row) => 100 + 20 * row;

    private static (short[] S, long[] Edges, int N) Stream() => Resonant(Scene, H, bidirectional: true);

    [Fact]
    public void AssembleFrame_MissedEdge_CountsItAndKeepsFrameAligned()
    {
        var (s, edges, n) = Stream();
        var damaged = edges.Where((_, i) => i != 10).ToArray();
        var asm = new FrameAssembler(Map(W, Fill, true), new AssemblySettings(H));
        var dest = new ushort[asm.DestinationLength];

        var status = asm.AssembleFrame(s, n, damaged, dest);

        Assert.Equal(1, status.Missed);
        Assert.Equal(0, status.Spurious);
        Assert.Equal(LineState.Missed, asm.Sync.LineStates[10]);
        Assert.Contains("1 missed", status.ToString());
        for (int row = 0; row < H; row++) Assert.Equal(100 + 20 * row, dest[row * W + W / 2]);
    }

    [Fact]
    public void AssembleFrame_MissedEdgeWithZeroPolicy_ZeroesThatLineOnly()
    {
        var (s, edges, n) = Stream();
        var damaged = edges.Where((_, i) => i != 7).ToArray();
        var asm = new FrameAssembler(Map(W, Fill, true), new AssemblySettings(H, MissedLines: MissedLinePolicy.Zero));
        var dest = new ushort[asm.DestinationLength];

        asm.AssembleFrame(s, n, damaged, dest);

        Assert.All(dest.AsSpan(7 * W, W).ToArray(), v => Assert.Equal(0, v));
        Assert.Equal(100 + 20 * 8, dest[8 * W + 3]);
        Assert.Equal(100 + 20 * 39, dest[39 * W + 3]);
    }

    [Fact]
    public void AssembleFrame_SpuriousEdges_AreIgnoredAndCounted()
    {
        var (s, edges, n) = Stream();
        var noisy = edges.ToList();
        noisy.Insert(21, edges[20] + (long)(0.3 * HalfPeriod));  // a glitch just after an edge
        noisy.Insert(6, edges[5] + (long)(0.6 * HalfPeriod));    // off the line grid
        var asm = new FrameAssembler(Map(W, Fill, true), new AssemblySettings(H));
        var dest = new ushort[asm.DestinationLength];

        var status = asm.AssembleFrame(s, n, noisy.ToArray(), dest);

        Assert.Equal(2, status.Spurious);
        Assert.Equal(0, status.Missed);
        Assert.Equal(2, asm.Sync.TotalSpurious);
        Assert.Equal(1, asm.Sync.FramesWithErrors);
        for (int row = 0; row < H; row++) Assert.Equal(100 + 20 * row, dest[row * W + 5]);
    }

    [Fact]
    public void AssembleFrame_SeveralMissedEdgesInARow_StillPlacesEveryRow()
    {
        var (s, edges, n) = Stream();
        var damaged = edges.Where((_, i) => i < 12 || i > 14).ToArray();
        var asm = new FrameAssembler(Map(W, Fill, true), new AssemblySettings(H));
        var dest = new ushort[asm.DestinationLength];

        var status = asm.AssembleFrame(s, n, damaged, dest);

        Assert.Equal(3, status.Missed);
        for (int row = 0; row < H; row++) Assert.Equal(100 + 20 * row, dest[row * W + 30]);
    }

    [Fact]
    public void AssembleFrame_BlockEndsEarly_ZeroesLinesWithoutSamples()
    {
        var (s, edges, n) = Stream();
        int shortN = (int)(35.5 * HalfPeriod);
        var block = s.AsSpan(0, shortN).ToArray();
        var asm = new FrameAssembler(Map(W, Fill, true), new AssemblySettings(H));
        var dest = new ushort[asm.DestinationLength];

        var status = asm.AssembleFrame(block, shortN, edges.Where(e => e < shortN).ToArray(), dest);

        Assert.True(status.NoData >= 4, status.ToString());
        Assert.Equal(0, dest[38 * W + 10]);
        Assert.Equal(100 + 20 * 34, dest[34 * W + 10]);
        Assert.Equal(LineState.NoData, asm.Sync.LineStates[39]);
    }
}
