using ClosedLoop.FirmwareSim;
using static ClosedLoop.FirmwareSim.Tests.TissueSetup;

namespace ClosedLoop.FirmwareSim.Tests;

public class ExpectedImageTests
{
    [Fact]
    public void AdvanceExpected_SameSeed_IsTheMeanOfWhatRenderDraws()
    {
        // Two tissues with the same seed live the same biology; one reports the expected photons, the other draws
        // shot noise around them. Over many pixels and frames the drawn counts average to the expected image.
        var imaging = TissueSetup.Imaging(64, 64);
        var a = new VirtualTissue(Generated(30, rateHz: 2), imaging, seed: 5);
        var b = new VirtualTissue(Generated(30, rateHz: 2), imaging, seed: 5);
        var expected = new float[64 * 64];
        var frame = new ushort[64 * 64];
        double sumDiff = 0, sumExpected = 0;
        for (int f = 0; f < 60; f++)
        {
            a.AdvanceExpected(expected);
            b.Render(frame);
            for (int i = 0; i < frame.Length; i++)
            {
                sumDiff += frame[i] / a.CountsPerPhoton - expected[i];
                sumExpected += expected[i];
            }
            Assert.Equal(a.SpikeCounts.ToArray(), b.SpikeCounts.ToArray());
        }
        Assert.InRange(sumDiff / sumExpected, -0.01, 0.01);
    }

    [Fact]
    public void AdvanceExpected_WrongSize_NamesBothSizes()
    {
        var t = new VirtualTissue(Generated(5), TissueSetup.Imaging(32, 16), seed: 1);
        var ex = Assert.Throws<ArgumentException>(() => t.AdvanceExpected(new float[10]));
        Assert.Contains("32×16", ex.Message);
    }
}
