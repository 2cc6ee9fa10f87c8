using ClosedLoop.Scanning.Assembly;

namespace ClosedLoop.Scanning.Tests;

public class AssemblyGalvoTests
{
    [Fact]
    public void AssembleLine_LinearMapping_SkipsTurnaroundAndAveragesEqualRuns()
    {
        // 100 samples per line: 10 turnaround samples, 80 on the ramp (2 per pixel), 10 flyback samples.
        var map = PixelMap.Linear(new LinearGeometry(100, 10, 80, 40, Bidirectional: false));
        var asm = new FrameAssembler(map, new AssemblySettings(HeightPx: 1));
        var line = new short[100];
        for (int i = 0; i < 100; i++) line[i] = (short)(i is >= 10 and < 90 ? 10 * ((i - 10) / 2) : 9999);
        var row = new ushort[40];

        asm.AssembleLine(line, 0, backward: false, row);

        for (int p = 0; p < 40; p++) Assert.Equal(10 * p, row[p]);
        Assert.All(map.SampleCounts().ToArray(), c => Assert.Equal(2f, c));
    }

    [Fact]
    public void AssembleFrame_TriangleScan_ReversesBackwardLines()
    {
        var map = PixelMap.Linear(new LinearGeometry(100, 10, 80, 40, Bidirectional: true));
        var asm = new FrameAssembler(map, new AssemblySettings(HeightPx: 4));
        var samples = new short[4 * 100 + 10];
        for (int line = 0; line < 4; line++)
            for (int i = 10; i < 90; i++)
            {
                int pos = line % 2 == 0 ? (i - 10) / 2 : 39 - (i - 10) / 2; // the beam's pixel column
                samples[line * 100 + i] = (short)(5 * pos);
            }
        var dest = new ushort[asm.DestinationLength];

        var status = asm.AssembleFrame(samples, samples.Length, [0, 100, 200, 300], dest);

        Assert.True(status.IsClean);
        for (int line = 0; line < 4; line++)
            for (int p = 0; p < 40; p++) Assert.Equal(5 * p, dest[line * 40 + p]);
    }

    [Fact]
    public void AssembleLine_FractionalSamplesPerPixel_WeightsSharedSamples()
    {
        // 2.5 samples per pixel: sample 2 is shared half and half between pixels 0 and 1.
        var map = PixelMap.Linear(new LinearGeometry(10, 0, 10, 4, Bidirectional: false));
        var asm = new FrameAssembler(map, new AssemblySettings(HeightPx: 1, Reduction: PixelReduction.Sum));
        short[] line = [10, 10, 10, 20, 20, 30, 30, 30, 40, 40];
        var row = new ushort[4];

        asm.AssembleLine(line, 0, false, row);

        Assert.Equal(new ushort[] { 25, 45, 75, 95 }, row);
    }

    [Fact]
    public void AssembleLine_SamplesMissingFromBlock_Throws()
    {
        var map = PixelMap.Linear(new LinearGeometry(100, 10, 80, 40, Bidirectional: false));
        var asm = new FrameAssembler(map, new AssemblySettings(HeightPx: 1));

        Assert.Throws<ArgumentOutOfRangeException>(() => asm.AssembleLine(new short[50], 0, false, new ushort[40]));
    }
}
