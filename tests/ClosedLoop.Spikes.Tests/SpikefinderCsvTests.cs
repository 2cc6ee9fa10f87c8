using System.Text;
using ClosedLoop.Core;

namespace ClosedLoop.Spikes.Tests;

public class SpikefinderCsvTests
{
    private static SpikefinderTable ReadText(string text, double rateHz = 100) =>
        SpikefinderCsv.Read(new MemoryStream(Encoding.UTF8.GetBytes(text)), "test.csv", rateHz);

    private static SpikefinderFormatException Fails(string text) =>
        Assert.Throws<SpikefinderFormatException>(() => ReadText(text));

    [Fact]
    public void Read_ShorterColumnPaddedWithEmptyCells_ColumnEndsAtItsLastValue()
    {
        var t = ReadText("0,1,2\n1.5,2,3\n1.25,,4\n1,,\n");

        Assert.Equal(["0", "1", "2"], t.Names);
        Assert.Equal([1.5, 1.25, 1], t.Columns[0]);
        Assert.Equal([2.0], t.Columns[1]);
        Assert.Equal([3.0, 4], t.Columns[2]);
        Assert.Equal(3, t.Rows);
    }

    [Fact]
    public void Read_EmptyOrNaNCellInsideAColumn_KeptAsNaN()
    {
        var t = ReadText("0,1\n1,NaN\n,2\n3,nan\n4,5\n");

        Assert.True(double.IsNaN(t.Columns[0][1]));
        Assert.Equal(4, t.Columns[1].Length);
        Assert.True(double.IsNaN(t.Columns[1][0]) && double.IsNaN(t.Columns[1][2]));
    }

    [Fact]
    public void Read_RaggedRow_ErrorNamesFileLineAndColumn()
    {
        var ex = Fails("0,1\n1,2\n3,4,5\n");

        Assert.Equal(3, ex.Line);
        Assert.Equal(3, ex.Column);
        Assert.Contains("test.csv: line 3", ex.Message);
        Assert.Contains("ragged", ex.Message);
    }

    [Fact]
    public void Read_TextThatIsNotANumber_ErrorNamesLineColumnAndText()
    {
        var ex = Fails("0,1\n1,2\n3,abc\n");

        Assert.Equal(3, ex.Line);
        Assert.Equal(2, ex.Column);
        Assert.Contains("test.csv: line 3: column 2 ('1') = 'abc'", ex.Message);
    }

    [Fact]
    public void Read_AllNaNColumn_ErrorNamesTheColumn()
    {
        var ex = Fails("0,1,2\n1,,3\n2,NaN,4\n");

        Assert.Equal(2, ex.Column);
        Assert.Contains("column 2 ('1')", ex.Message);
        Assert.Contains("no values", ex.Message);
    }

    [Fact]
    public void Read_EmptyFile_ErrorSaysEmpty()
    {
        var ex = Fails("");

        Assert.Contains("test.csv", ex.Message);
        Assert.Contains("empty", ex.Message);
    }

    [Fact]
    public void Read_HeaderOnly_ErrorAsksForRows()
    {
        Assert.Contains("at least one row", Fails("0,1\n").Message);
    }

    [Fact]
    public void Read_FirstLineIsData_ErrorSaysTheHeaderIsMissing()
    {
        var ex = Fails("1.257,0.507\n1.270,0.485\n");

        Assert.Equal(1, ex.Line);
        Assert.Contains("header", ex.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-100)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void Read_BadSamplingRate_ErrorNamesTheRate(double rateHz)
    {
        var ex = Assert.Throws<SettingException>(() => ReadText("0\n1\n", rateHz));

        Assert.Equal("rateHz", ex.Setting);
    }

    [Fact]
    public void Read_OtherSamplingRate_IsDeclaredOnTheTable()
    {
        Assert.Equal(30, ReadText("0\n1\n", 30).SamplingRateHz);
    }

    [Fact]
    public void Write_ThenRead_SameColumnsAndPadding()
    {
        var table = new SpikefinderTable(["0", "1"], [[0.1, double.NaN, 1e-17, 3], [2.5]]);
        var ms = new MemoryStream();

        SpikefinderCsv.Write(ms, table);
        string text = Encoding.UTF8.GetString(ms.ToArray());
        var back = SpikefinderCsv.Read(new MemoryStream(ms.ToArray()), "x.csv");

        Assert.StartsWith("0,1\n0.1,2.5\n,\n1E-17,\n3,\n", text);
        Assert.Equal(table.Columns[0], back.Columns[0]);
        Assert.Equal(table.Columns[1], back.Columns[1]);
    }
}
