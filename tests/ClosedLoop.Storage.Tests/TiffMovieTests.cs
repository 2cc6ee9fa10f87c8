using System.Buffers.Binary;
using System.Text.Json;
using ClosedLoop.Core;
using ClosedLoop.Storage;

namespace ClosedLoop.Storage.Tests;

public sealed class TiffMovieTests : IDisposable
{
    private const int Width = 13, Height = 7;
    private readonly string _folder = Directory.CreateTempSubdirectory("closedloop-tiff-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static ushort[] FramePixels(int frame)
    {
        var pixels = new ushort[Width * Height];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (ushort)(frame * 1000 + i * 7 + 65000 * (i % 2));
        return pixels;
    }

    private string WriteMovie(int frames, bool bigTiff = false, string name = "movie.tif")
    {
        string path = Path.Combine(_folder, name);
        using var writer = new TiffMovieWriter(path, Width, Height, """{"frameRateHz": 30, "pixelSizeUm": 1.5, "source": "test \u00b5"}""", bigTiff);
        for (int i = 0; i < frames; i++) writer.Append(FramePixels(i), i / 30.0);
        return path;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Append_ThenRead_ReturnsFramesAndMetadata(bool bigTiff)
    {
        string path = WriteMovie(5, bigTiff);
        using var reader = new TiffMovieReader(path, requireComplete: true);
        Assert.Equal(bigTiff, reader.IsBigTiff);
        Assert.Equal(5, reader.FrameCount);
        Assert.Equal(Width, reader.WidthPx);
        Assert.Equal(Height, reader.HeightPx);
        Assert.Null(reader.TruncationNote);
        var pixels = new ushort[Width * Height];
        for (int i = 0; i < 5; i++)
        {
            reader.ReadFrame(i, pixels);
            Assert.Equal(FramePixels(i), pixels);
        }
        using var first = JsonDocument.Parse(reader.GetDescription(0));
        Assert.Equal(30, first.RootElement.GetProperty("frameRateHz").GetDouble());
        Assert.Equal(1.5, first.RootElement.GetProperty("pixelSizeUm").GetDouble());
        Assert.Equal("test µ", first.RootElement.GetProperty("source").GetString());
    }

    [Fact]
    public void GetDescription_EveryPage_IsJsonWithIndexAndTime()
    {
        string path = WriteMovie(4);
        using var reader = new TiffMovieReader(path);
        for (int i = 0; i < reader.FrameCount; i++)
        {
            using var doc = JsonDocument.Parse(reader.GetDescription(i));
            Assert.Equal(i, doc.RootElement.GetProperty("frameIndex").GetInt64());
            Assert.Equal(i / 30.0, doc.RootElement.GetProperty("sampleTimeS").GetDouble());
            Assert.Equal(i == 0, doc.RootElement.TryGetProperty("frameRateHz", out _));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Open_FileCutInsideLastFrame_ReadsEarlierFrames(bool bigTiff)
    {
        string path = WriteMovie(4, bigTiff);
        long full = new FileInfo(path).Length;
        long cut = full - 40 - Width * Height; // inside the last frame's pixels
        using (var f = File.OpenWrite(path)) f.SetLength(cut);

        using var reader = new TiffMovieReader(path);
        Assert.Equal(3, reader.FrameCount);
        Assert.Contains("page 3", reader.TruncationNote);
        var pixels = new ushort[Width * Height];
        reader.ReadFrame(2, pixels);
        Assert.Equal(FramePixels(2), pixels);

        var ex = Assert.Throws<TiffFormatException>(() => new TiffMovieReader(path, requireComplete: true));
        Assert.Equal(3, ex.Page);
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void Append_WriterNeverDisposed_FramesSoFarReadable()
    {
        string path = Path.Combine(_folder, "open.tif");
        var writer = new TiffMovieWriter(path, Width, Height);
        writer.Append(FramePixels(0), 0);
        writer.Append(FramePixels(1), 0.1);
        using (var reader = new TiffMovieReader(path, requireComplete: true))
            Assert.Equal(2, reader.FrameCount);
        writer.Dispose();
    }

    [Fact]
    public void Open_CorruptHeader_ThrowsNamingFileAndHeader()
    {
        string path = WriteMovie(2);
        var bytes = File.ReadAllBytes(path);
        bytes[2] = 41;
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<TiffFormatException>(() => new TiffMovieReader(path));
        Assert.Equal(-1, ex.Page);
        Assert.Contains(path, ex.Message);
        Assert.Contains("42 (TIFF) or 43 (BigTIFF)", ex.Message);
    }

    [Fact]
    public void Open_FirstIfdOffsetBeyondFile_ThrowsNamingPage0()
    {
        string path = WriteMovie(2);
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), (uint)bytes.Length + 100);
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<TiffFormatException>(() => new TiffMovieReader(path));
        Assert.Equal(0, ex.Page);
        Assert.Contains("page 0 IFD offset", ex.Message);
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void Open_NextIfdOffsetBeyondFileWhenCompleteRequired_ThrowsNamingPage()
    {
        string path = WriteMovie(3);
        var bytes = File.ReadAllBytes(path);
        // Page 0's IFD ends with the link to page 1; point it past the end.
        long ifd0 = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4));
        int count = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan((int)ifd0));
        int link = (int)ifd0 + 2 + count * 12;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(link), (uint)bytes.Length + 2);
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<TiffFormatException>(() => new TiffMovieReader(path, requireComplete: true));
        Assert.Equal(1, ex.Page);
        Assert.Contains("page 1 IFD offset", ex.Message);
    }

    [Fact]
    public void Open_UnsupportedCompression_ThrowsNamingPage()
    {
        string path = WriteMovie(3);
        var bytes = File.ReadAllBytes(path);
        long ifd0 = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4));
        int count = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan((int)ifd0));
        for (int e = 0; e < count; e++)
        {
            int at = (int)ifd0 + 2 + e * 12;
            if (BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(at)) == 259) // Compression
                BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(at + 8), 5);
        }
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<TiffFormatException>(() => new TiffMovieReader(path));
        Assert.Equal(0, ex.Page);
        Assert.Contains("page 0 Compression = 5", ex.Message);
    }

    [Fact]
    public void Constructor_DeclaredSizeOver4GiB_ChoosesBigTiff()
    {
        using var writer = new TiffMovieWriter(Path.Combine(_folder, "big.tif"), 512, 512, expectedFrames: 10_000);
        Assert.True(writer.IsBigTiff);
        using var small = new TiffMovieWriter(Path.Combine(_folder, "small.tif"), 512, 512, expectedFrames: 1_000);
        Assert.False(small.IsBigTiff);
    }

    [Theory]
    [InlineData("[1, 2]")]
    [InlineData("{not json")]
    [InlineData("""{"frameIndex": 3}""")]
    public void Constructor_BadMetadata_ThrowsSettingException(string metadata)
    {
        var ex = Assert.Throws<SettingException>(() => new TiffMovieWriter(Path.Combine(_folder, "bad.tif"), 4, 4, metadata));
        Assert.Contains("metadataJson", ex.Message);
    }

    [Fact]
    public void Append_WrongPixelCount_ThrowsArgumentException()
    {
        using var writer = new TiffMovieWriter(Path.Combine(_folder, "w.tif"), Width, Height);
        Assert.Throws<ArgumentException>(() => writer.Append(new ushort[3], 0));
    }

    [Fact]
    public void Append_ManyFrames_AllocatesNothingPerFrame()
    {
        using var writer = new TiffMovieWriter(Path.Combine(_folder, "alloc.tif"), Width, Height, """{"a": 1}""");
        var pixels = FramePixels(1);
        for (int i = 0; i < 10; i++) writer.Append(pixels, i * 0.033);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200; i++) writer.Append(pixels, i * 0.033);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
