using ClosedLoop.Core;
using ClosedLoop.FirmwareSim;
using ClosedLoop.Hardware;

namespace ClosedLoop.FirmwareSim.Tests;

/// <summary>Small profiles and helpers shared by the tests.</summary>
internal static class TissueSetup
{
    public static ImagingProfile Imaging(int widthPx = 120, int heightPx = 88, double frameRateHz = 30) =>
        new() { WidthPx = widthPx, HeightPx = heightPx, FrameRateHz = frameRateHz };

    public static TissueProfile Generated(int neurons = 40, double rateHz = 0.2) => new()
    {
        Footprints = "generated",
        GeneratedNeuronCount = neurons,
        NeuronRadiusPx = 4,
        SpontaneousRateHz = rateHz,
    };

    /// <summary>Targets on the centroids of <paramref name="neurons"/>.</summary>
    public static StimulationTargets TargetsOn(VirtualTissue tissue, IEnumerable<int> neurons)
    {
        var list = neurons.ToArray();
        return new StimulationTargets("test", list.Select(n => tissue.CentroidXPx[n]).ToArray(), list.Select(n => tissue.CentroidYPx[n]).ToArray());
    }

    /// <summary>Mean pixel value over a neuron's footprint.</summary>
    public static double FootprintMean(VirtualTissue tissue, ReadOnlySpan<ushort> frame, int neuron)
    {
        var pixels = tissue.Footprints.PixelsOf(neuron);
        double sum = 0;
        foreach (int p in pixels) sum += frame[p];
        return sum / pixels.Length;
    }
}
