using ClosedLoop.Scanning.Assembly;
using static ClosedLoop.Scanning.Tests.AssemblyTestScenes;

namespace ClosedLoop.Scanning.Tests;

public class ResonantAssemblyTests
{
    private const int W = 128, H = 16;
    private const double Fill = 0.8;

    [Fact]
    public void AssembleFrame_VerticalStripe_LandsInItsColumns()
    {
        double uA = PixelEdgeU(40, W, Fill), uB = PixelEdgeU(50, W, Fill);
        var (samples, edges, n) = Resonant((u, _) => u >= uA && u < uB ? 1100 : 100, H, bidirectional: true);
        var asm = new FrameAssembler(Map(W, Fill, true), new AssemblySettings(H, AdcOffset: 100));
        var dest = new ushort[asm.DestinationLength];

        var status = asm.AssembleFrame(samples, n, edges, dest);

        Assert.True(status.IsClean, status.ToString());
        for (int row = 0; row < H; row++)
        {
            for (int col = 0; col < W; col++)
            {
                ushort v = dest[row * W + col];
                if (col >= 41 && col <= 48) Assert.InRange(v, 950, 1000);
                else if (col <= 38 || col >= 51) Assert.Equal(0, v);
            }
        }
    }

    [Fact]
    public void AssembleFrame_UniformScene_GivesUniformPixelsDespiteUnequalSampleCounts()
    {
        var (samples, edges, n) = Resonant((_, _) => 700, H, bidirectional: true);
        var map = Map(W, Fill, true);
        var asm = new FrameAssembler(map, new AssemblySettings(H, AdcOffset: 200));
        var dest = new ushort[asm.DestinationLength];

        asm.AssembleFrame(samples, n, edges, dest);

        Assert.All(dest, v => Assert.Equal(500, v));
        var counts = map.SampleCounts();
        // The beam is slowest at the edges of the field, so equal-size edge pixels collect more samples than central ones.
        Assert.True(counts[0] > 1.5 * counts[W / 2], $"edge {counts[0]} vs centre {counts[W / 2]}");
        Assert.Equal(counts[0], counts[W - 1], 3);
        double total = 0;
        foreach (var c in counts) total += c;
        Assert.Equal(Fill * HalfPeriod, total, 3);
    }

    [Fact]
    public void AssembleFrame_SumReduction_EdgePixelsCollectMoreSignal()
    {
        var (samples, edges, n) = Resonant((_, _) => 110, H, bidirectional: true);
        var map = Map(W, Fill, true);
        var asm = new FrameAssembler(map, new AssemblySettings(H, AdcOffset: 100, Reduction: PixelReduction.Sum));
        var dest = new ushort[asm.DestinationLength];

        asm.AssembleFrame(samples, n, edges, dest);

        Assert.Equal(Math.Round(10 * map.SampleCounts()[0]), dest[0], 0);
        Assert.True(dest[0] > dest[W / 2]);
    }

    [Fact]
    public void AssembleFrame_TwoChannels_WritesEachChannelFrame()
    {
        double uA = PixelEdgeU(60, W, Fill), uB = PixelEdgeU(70, W, Fill);
        var (samples, edges, n) = Resonant((u, _) => u >= uA && u < uB ? 600 : 100, H, true, channels: 2,
            channelGain: (c, v) => c == 0 ? v : 2 * v);
        var asm = new FrameAssembler(Map(W, Fill, true), new AssemblySettings(H, Channels: 2));
        var dest = new ushort[asm.DestinationLength];

        asm.AssembleFrame(samples, n, edges, dest);

        Assert.Equal(2 * W * H, asm.DestinationLength);
        Assert.Equal(600, dest[5 * W + 65]);
        Assert.Equal(1200, dest[W * H + 5 * W + 65]);
        Assert.Equal(200, dest[W * H + 5 * W + 10]);
    }

    [Fact]
    public void Deinterleave_InterleavedPairs_GivesChannelMajorBlock()
    {
        short[] interleaved = [1, 10, 2, 20, 3, 30];
        var major = new short[6];

        FrameAssembler.Deinterleave(interleaved, 2, major);

        Assert.Equal(new short[] { 1, 2, 3, 10, 20, 30 }, major);
    }

    [Fact]
    public void AssembleFrame_AfterWarmUp_AllocatesNothing()
    {
        var (samples, edges, n) = Resonant((u, r) => 300 + 200 * u + r, H, true, channels: 2);
        var asm = new FrameAssembler(Map(W, Fill, true), new AssemblySettings(H, Channels: 2));
        var dest = new ushort[asm.DestinationLength];
        asm.AssembleFrame(samples, n, edges, dest);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 5; i++) asm.AssembleFrame(samples, n, edges, dest);
        long after = GC.GetAllocatedBytesForCurrentThread();

        Assert.Equal(0, after - before);
    }

    [Fact]
    public void AssembleFrame_NegativeGoingDetector_InvertsAroundOffset()
    {
        var (samples, edges, n) = Resonant((_, _) => -300, H, true);
        var asm = new FrameAssembler(Map(W, Fill, true), new AssemblySettings(H, AdcOffset: -100, InvertPolarity: true));
        var dest = new ushort[asm.DestinationLength];

        asm.AssembleFrame(samples, n, edges, dest);

        Assert.All(dest, v => Assert.Equal(200, v));
    }

    [Fact]
    public void SetPhase_BeyondHalfALine_ThrowsNamingSetting()
    {
        var map = Map(W, Fill, true);
        var e = Assert.Throws<ClosedLoop.Core.SettingException>(() => map.SetPhase(1000));
        Assert.Equal("assembly.phaseSamples", e.Setting);
    }
}
