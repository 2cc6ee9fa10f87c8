using System.Text;
using ClosedLoop.Core;
using ClosedLoop.Imaging;

namespace ClosedLoop.Imaging.Tests;

public sealed class RoiSetTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "roiset-tests-" + Guid.NewGuid().ToString("N"));

    public RoiSetTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string json)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, json);
        return path;
    }

    private static RoiSet FromText(string json, string name = "test.json") =>
        RoiSet.Load(new MemoryStream(Encoding.UTF8.GetBytes(json)), name);

    [Fact]
    public void Load_MasksLayout_GivesDefaultNamesCentroidsAndAreas()
    {
        // 4 wide × 3 high; mask 0 = pixels (row 0, col 1) and (row 1, col 1); mask 1 = (row 2, col 3).
        string path = Write("masks.json", """{"source": "x", "height": 3, "width": 4, "pixel_index": "row*width+col", "masks": [[1, 5], [11]]}""");
        var set = RoiSet.Load(path);

        Assert.Equal(4, set.WidthPx);
        Assert.Equal(3, set.HeightPx);
        Assert.Equal(new[] { "roi000", "roi001" }, set.Names);
        Assert.Equal(2, set[0].AreaPx);
        Assert.Equal(1f, set[0].CentroidXPx);
        Assert.Equal(0.5f, set[0].CentroidYPx);
        Assert.Equal(3f, set["roi001"].CentroidXPx);
        Assert.Equal(2f, set["roi001"].CentroidYPx);
        Assert.False(set[0].IsWeighted);
        Assert.Equal(new[] { 0, 2, 3 }, set.Offsets.ToArray());
        Assert.Equal(path, set.SourceName);
    }

    [Fact]
    public void Load_MasksLayoutWithNames_UsesTheNames()
    {
        var set = FromText("""{"height": 3, "width": 4, "masks": [[1], [2]], "names": ["a", "b"]}""");
        Assert.Equal(1, set.IndexOf("b"));
    }

    [Fact]
    public void Load_ShippedYstMasks_LoadsEveryNeuron()
    {
        // The human-labelled YST masks ship with firmware-sim (see its Data/README.md); users load them as ROI files.
        string path = Path.Combine(FindRepoRoot(), "firmware-sim", "ClosedLoop.FirmwareSim", "Data", "FinalMasks_YST_part11.json");
        var set = RoiSet.Load(path);
        Assert.Equal(120, set.WidthPx);
        Assert.Equal(88, set.HeightPx);
        Assert.Equal(75, set.Count);
        set.Check(120, 88);
    }

    [Fact]
    public void Load_RoisLayoutWithWeights_KeepsNamesWeightsAndWeightedCentroid()
    {
        var set = FromText("""
            {"height": 2, "width": 3,
             "rois": [{"name": "cellA", "pixels": [0, 2], "weights": [1, 3]},
                      {"name": "cellB", "pixels": [4]}]}
            """);
        Assert.Equal(2, set.Count);
        Assert.True(set["cellA"].IsWeighted);
        Assert.Equal(new[] { 1f, 3f }, set["cellA"].Weights.ToArray());
        Assert.Equal(1.5f, set["cellA"].CentroidXPx); // (0·1 + 2·3) / 4
        Assert.Equal(new[] { 1f }, set["cellB"].Weights.ToArray());
        Assert.False(set["cellB"].IsWeighted);
    }

    [Fact]
    public void Save_ThenLoad_GivesTheSameSet()
    {
        var set = new RoiSet(5, 4, [
            new RoiDefinition("n\"1", [0, 1, 6], [0.25f, 1f, 0.1f]),
            new RoiDefinition("n2", [19]),
        ]);
        string path = Path.Combine(_dir, "saved.json");
        set.Save(path);
        var back = RoiSet.Load(path);

        Assert.Equal(set.Names, back.Names);
        Assert.Equal(set.PixelIndices.ToArray(), back.PixelIndices.ToArray());
        Assert.Equal(set.Weights.ToArray(), back.Weights.ToArray());
        Assert.True(back[0].IsWeighted);
        Assert.False(back[1].IsWeighted);
        Assert.Equal((5, 4), (back.WidthPx, back.HeightPx));
    }

    [Fact]
    public void IndexOf_NameOrDecimalIndex_FindsTheRoi_AndUnknownThrows()
    {
        var set = FromText("""{"height": 3, "width": 4, "masks": [[1], [2], [3]]}""");
        Assert.Equal(2, set.IndexOf("roi002"));
        Assert.Equal(1, set.IndexOf("1"));
        var ex = Assert.Throws<SettingException>(() => set.IndexOf("7"));
        Assert.Contains("between 0 and 2", ex.Message);
        Assert.Throws<SettingException>(() => set.IndexOf("nope"));
    }

    [Fact]
    public void Check_OtherFrameSize_ThrowsNamingBothSizes()
    {
        var set = FromText("""{"height": 88, "width": 120, "masks": [[1]]}""", "yst.json");
        var ex = Assert.Throws<SettingException>(() => set.Check(512, 512));
        Assert.Contains("512×512", ex.Message);
        Assert.Contains("120×88", ex.Message);
        Assert.Contains("yst.json", ex.Message);
    }

    [Theory]
    [InlineData("""{"height": 88, "width": 120, "rois": [{"name": "a", "pixels": [1]}, {"name": "b", "pixels": [2]}, {"name": "c", "pixels": [3]}, {"name": "d", "pixels": [0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,20000]}]}""", "rois[3].pixels[17]", "20000")]
    [InlineData("""{"height": 88, "width": 120, "masks": [[1, 2], []]}""", "masks[1]", "non-empty")]
    [InlineData("""{"height": 88, "width": 120, "rois": [{"name": "a", "pixels": [1]}, {"name": "a", "pixels": [2]}]}""", "rois[1].name", "'a'")]
    [InlineData("""{"height": 88, "width": 120, "rois": [{"name": "a", "pixels": [1, 2], "weights": [1]}]}""", "rois[0].weights", "exactly 2")]
    [InlineData("""{"height": 88, "width": 120, "rois": [{"name": "a", "pixels": [1, 2], "weights": [1, -0.5]}]}""", "rois[0].weights[1]", "-0.5")]
    [InlineData("""{"width": 120, "masks": [[1]]}""", "height", "(missing)")]
    [InlineData("""{"height": 88, "masks": [[1]]}""", "width", "(missing)")]
    [InlineData("""{"height": 88, "width": 120, "masks": [[1, 1]]}""", "masks[0][1]", "not already listed")]
    [InlineData("""{"height": 88, "width": 120, "masks": [[1.5]]}""", "masks[0][0]", "integer")]
    [InlineData("""{"height": 88, "width": 120, "pixel_index": "col*height+row", "masks": [[1]]}""", "pixel_index", "row-major")]
    [InlineData("""{"height": 88, "width": 120}""", "masks or rois", "exactly one")]
    public void Load_MalformedField_ThrowsNamingFileAndField(string json, string field, string detail)
    {
        string path = Write("bad.json", json);
        var ex = Assert.Throws<SettingException>(() => RoiSet.Load(path));
        Assert.Equal(field, ex.Setting);
        Assert.Contains(path, ex.Message);
        Assert.Contains(field, ex.Message);
        Assert.Contains(detail, ex.Message);
    }

    [Fact]
    public void Load_MalformedJson_ThrowsNamingFileAndLine()
    {
        string path = Write("broken.json", "{\n  \"height\": 88,\n  \"width\": 120,\n  \"masks\": [[1, 2,, 3]]\n}");
        var ex = Assert.Throws<SettingException>(() => RoiSet.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("line 4", ex.Message);
    }

    [Fact]
    public void Load_MissingFile_ThrowsNamingThePath()
    {
        string path = Path.Combine(_dir, "absent.json");
        var ex = Assert.Throws<SettingException>(() => RoiSet.Load(path));
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void Constructor_AllZeroWeights_ThrowsNamingTheWeights()
    {
        var ex = Assert.Throws<SettingException>(() => new RoiSet(4, 4, [new RoiDefinition("z", [1, 2], [0f, 0f])]));
        Assert.Equal("rois[0].weights", ex.Setting);
    }

    [Fact]
    public void CreateActivity_OneUnitPerRoi_NamedAfterTheRois()
    {
        var set = FromText("""{"height": 3, "width": 4, "masks": [[1], [2]], "names": ["a", "b"]}""");
        var activity = set.CreateActivity();
        Assert.Equal(2, activity.Units);
        Assert.Equal(new[] { "a", "b" }, activity.UnitNames);
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ClosedLoop.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("ClosedLoop.sln not found above " + AppContext.BaseDirectory);
    }
}
