using System.Text;
using ClosedLoop.Core;
using ClosedLoop.FirmwareSim;

namespace ClosedLoop.FirmwareSim.Tests;

public sealed class FootprintsTests
{
    private static Stream Json(string text) => new MemoryStream(Encoding.UTF8.GetBytes(text));

    [Fact]
    public void Load_BuiltinYstPart11_Has75NeuronsOn120By88Field()
    {
        var footprints = Footprints.Load("builtin:YST_part11", 120, 88);

        Assert.Equal(75, footprints.Count);
        Assert.Equal(120, footprints.WidthPx);
        Assert.Equal(88, footprints.HeightPx);
        for (int n = 0; n < footprints.Count; n++)
        {
            Assert.InRange(footprints.CentroidXPx[n], 0f, 119f);
            Assert.InRange(footprints.CentroidYPx[n], 0f, 87f);
            Assert.True(footprints.PixelsOf(n).Length >= 20);
        }
    }

    [Theory]
    [InlineData("builtin:YST_part12", 99)]
    [InlineData("builtin:YST_part21", 89)]
    public void Load_OtherBuiltins_ResolveFromAnyDirectory(string name, int neurons)
    {
        Assert.Equal(neurons, Footprints.Load(name, 120, 88).Count);
    }

    [Fact]
    public void Load_BuiltinMask_WeightsAreBrightestInsideAndAboutPointSixAtTheEdge()
    {
        var footprints = Footprints.Load("builtin:YST_part11", 120, 88);
        var weights = footprints.WeightsOf(0);

        Assert.True(weights.ToArray().Max() > 0.9f);
        Assert.InRange(weights.ToArray().Min(), Footprints.EdgeWeight - 0.01f, 0.75f);
    }

    [Fact]
    public void Load_PixelOutsideField_ErrorNamesMaskIndexAndPixel()
    {
        var masks = string.Join(",", Enumerable.Range(0, 12).Select(i => $"[{i * 10}, {i * 10 + 1}]"));
        var json = $$"""{"height": 88, "width": 120, "masks": [{{masks}}, [5, 99999]]}""";

        var error = Assert.Throws<SettingException>(() => Footprints.Load(Json(json), "bad.json", 120, 88));

        Assert.Contains("masks[12]", error.Message);
        Assert.Contains("99999", error.Message);
        Assert.Contains("120×88", error.Message);
        Assert.Contains("bad.json", error.Message);
    }

    [Fact]
    public void Load_SizeDiffersFromImagingProfile_ErrorNamesBothSizes()
    {
        var error = Assert.Throws<SettingException>(() => Footprints.Load("builtin:YST_part11", 512, 512));

        Assert.Contains("120×88", error.Message);
        Assert.Contains("512×512", error.Message);
        Assert.Contains("builtin:YST_part11", error.Message);
    }

    [Fact]
    public void Load_MalformedJson_ErrorNamesLine()
    {
        var json = "{\n\"height\": 88,\n\"width\": 120,\n\"masks\": [[1, 2,, 3]]\n}";

        var error = Assert.Throws<SettingException>(() => Footprints.Load(Json(json), "broken.json", 120, 88));

        Assert.Contains("broken.json line 4", error.Message);
    }

    [Fact]
    public void Load_UnknownBuiltin_ErrorListsShippedNames()
    {
        var error = Assert.Throws<SettingException>(() => Footprints.Load("builtin:nope", 120, 88));

        Assert.Contains("builtin:YST_part11", error.Message);
    }

    [Fact]
    public void Generate_512FieldWith300Neurons_SameSeedSameFieldOtherSeedDiffers()
    {
        var a = Footprints.Generate(512, 512, 300, 5, seed: 7);
        var b = Footprints.Generate(512, 512, 300, 5, seed: 7);
        var c = Footprints.Generate(512, 512, 300, 5, seed: 8);

        Assert.Equal(300, a.Count);
        Assert.Equal(a.CentroidXPx.ToArray(), b.CentroidXPx.ToArray());
        Assert.Equal(a.CentroidYPx.ToArray(), b.CentroidYPx.ToArray());
        for (int n = 0; n < a.Count; n++) Assert.Equal(a.PixelsOf(n).ToArray(), b.PixelsOf(n).ToArray());
        Assert.NotEqual(a.CentroidXPx.ToArray(), c.CentroidXPx.ToArray());
    }

    [Fact]
    public void Generate_Somata_AreRoughlyDiskSizedAndKeptApart()
    {
        var footprints = Footprints.Generate(512, 512, 300, 5, seed: 3);

        double meanArea = Enumerable.Range(0, footprints.Count).Average(n => footprints.PixelsOf(n).Length);
        Assert.InRange(meanArea, 0.8 * Math.PI * 25, 1.2 * Math.PI * 25);
        double closest = double.MaxValue;
        for (int i = 0; i < footprints.Count; i++)
            for (int j = i + 1; j < footprints.Count; j++)
            {
                double dx = footprints.CentroidXPx[i] - footprints.CentroidXPx[j], dy = footprints.CentroidYPx[i] - footprints.CentroidYPx[j];
                closest = Math.Min(closest, Math.Sqrt(dx * dx + dy * dy));
            }
        Assert.True(closest >= 6.5, $"closest centroids {closest:F1} px apart");
    }
}
