using System.Text;
using ClosedLoop.Core;
using ClosedLoop.Imaging.Segmentation;

namespace ClosedLoop.Imaging.Tests.Segmentation;

public sealed class MaskSetJsonTests
{
    private static MaskSet FromText(string json) => MaskSet.Load(new MemoryStream(Encoding.UTF8.GetBytes(json)), "m.json");

    [Fact]
    public void SaveThenLoad_GivesTheSameMasks_AndRoiSetReadsIt()
    {
        var set = TestMasks.YstOrGenerated("21");
        var stream = new MemoryStream();
        set.Save(stream, source: "test \"round trip\"");
        var back = MaskSet.Load(new MemoryStream(stream.ToArray()), "back.json");
        Assert.Equal(set.HeightPx, back.HeightPx);
        Assert.Equal(set.WidthPx, back.WidthPx);
        Assert.Equal(set.Masks, back.Masks);
        Assert.Equal(set.Names, back.Names);
        var rois = RoiSet.Load(new MemoryStream(stream.ToArray()), "back.json");
        Assert.Equal(set.Count, rois.Count);
        Assert.Equal(set.Masks[5], rois[5].PixelIndices.ToArray().OrderBy(p => p).ToArray());
    }

    [Fact]
    public void EmptySet_RoundTrips()
    {
        var stream = new MemoryStream();
        new MaskSet(10, 12, Array.Empty<int[]>()).Save(stream);
        var back = MaskSet.Load(new MemoryStream(stream.ToArray()), "empty.json");
        Assert.Equal(0, back.Count);
        Assert.Equal(12, back.WidthPx);
    }

    [YstMasksFact]
    public void RealYstFile_Loads()
    {
        var set = MaskSet.Load(TestMasks.YstPath("11"));
        Assert.Equal((88, 120), (set.HeightPx, set.WidthPx));
        Assert.Equal(75, set.Count);
        Assert.All(set.Masks, m => Assert.True(m.SequenceEqual(m.Order())));
    }

    [Theory]
    [InlineData("""{"height": 4, "width": 5, "masks": [[0, 1], [3, 20]]}""", "masks[1][1]", "between 0 and 19")]
    [InlineData("""{"height": 4, "width": 5, "masks": [[0, 1, 1]]}""", "masks[0]", "listed once")]
    [InlineData("""{"height": 4, "width": 5, "masks": [[0, "x"]]}""", "masks[0][1]", "integer pixel index")]
    [InlineData("""{"height": 0, "width": 5, "masks": []}""", "height", "between 1 and")]
    [InlineData("""{"height": 4, "width": 5, "masks": [[0, 1]""", "json", "well-formed")]
    public void MalformedFiles_NameTheEntry(string json, string field, string allowed)
    {
        var ex = Assert.Throws<SettingException>(() => FromText(json));
        Assert.Equal(field, ex.Setting);
        Assert.Contains(allowed, ex.Message);
        Assert.Contains("m.json", ex.Message);
    }

    [Fact]
    public void MissingFile_IsASettingError()
    {
        var ex = Assert.Throws<SettingException>(() => MaskSet.Load("/nonexistent/masks.json"));
        Assert.Contains("/nonexistent/masks.json", ex.Message);
    }
}
