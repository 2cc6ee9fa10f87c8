using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using ClosedLoop.Core;
using Microsoft.Win32.SafeHandles;

namespace ClosedLoop.Storage;

/// <summary>A TIFF movie that cannot be read: the message names the file, the page (IFD, counted from 0) and what is
/// wrong with it.</summary>
public sealed class TiffFormatException : SettingException
{
    /// <summary>Creates the error for <paramref name="what"/> of page <paramref name="page"/> (−1 for the header).</summary>
    public TiffFormatException(string filePath, int page, string what, object? value, string allowed)
        : base(page < 0 ? $"header {what}" : $"page {page} {what}", value, allowed, filePath)
    {
        FilePath = filePath;
        Page = page;
    }

    /// <summary>The file that could not be read.</summary>
    public string FilePath { get; }

    /// <summary>The page (IFD) at fault, counted from 0; −1 for the file header.</summary>
    public int Page { get; }
}

/// <summary>
/// Reads uncompressed 16-bit grayscale multi-page TIFF and BigTIFF files (little-endian), such as those
/// <see cref="TiffMovieWriter"/> writes: the page count, the frame size, each page's ImageDescription and each frame's
/// pixels. All pages must share one size. A file cut off at its end (a recording whose process died) reads as the
/// complete frames before the cut, with <see cref="TruncationNote"/> saying what was lost, unless the reader is asked
/// to require a complete file. Reads may run on several threads at once.
/// </summary>
public sealed class TiffMovieReader : IDisposable
{
    /// <summary>Most pages followed before the chain is taken to loop.</summary>
    public const int MaxPages = 10_000_000;

    private readonly SafeFileHandle _handle;
    private readonly List<Page> _pages = new();
    private readonly long _length;

    /// <summary>Opens <paramref name="path"/> and walks its pages.</summary>
    /// <param name="path">The TIFF file.</param>
    /// <param name="requireComplete">Throw when the file ends inside a page instead of reading the pages before it.</param>
    /// <exception cref="TiffFormatException">The header, a page's IFD or a page's data is corrupt, unsupported or
    /// (with <paramref name="requireComplete"/>) cut off; the message names the file and the page.</exception>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    public TiffMovieReader(string path, bool requireComplete = false)
    {
        Path = path;
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        try
        {
            _length = RandomAccess.GetLength(_handle);
            Walk(requireComplete);
        }
        catch
        {
            _handle.Dispose();
            throw;
        }
    }

    /// <summary>The file read.</summary>
    public string Path { get; }

    /// <summary>Whether the file is BigTIFF (64-bit offsets).</summary>
    public bool IsBigTiff { get; private set; }

    /// <summary>Complete frames (pages) in the file.</summary>
    public int FrameCount => _pages.Count;

    /// <summary>Frame width in pixels (0 for a file without pages).</summary>
    public int WidthPx { get; private set; }

    /// <summary>Frame height in pixels (0 for a file without pages).</summary>
    public int HeightPx { get; private set; }

    /// <summary>True when the pixels are signed 16-bit (ScanImage); <see cref="ReadFrame"/> then clips negative values
    /// (PMT offset below zero) to 0.</summary>
    public bool IsSigned { get; private set; }

    /// <summary>Null for a complete file; otherwise what was cut off at the end (the page and why).</summary>
    public string? TruncationNote { get; private set; }

    /// <summary>The ImageDescription of page <paramref name="page"/> (empty when the page has none).</summary>
    public string GetDescription(int page) => _pages[CheckPage(page)].Description;

    /// <summary>Reads frame <paramref name="page"/> (row-major) into <paramref name="pixels"/>, which must hold
    /// <see cref="WidthPx"/> × <see cref="HeightPx"/> values.</summary>
    /// <exception cref="TiffFormatException">The file no longer holds the frame's data.</exception>
    public void ReadFrame(int page, Span<ushort> pixels)
    {
        var p = _pages[CheckPage(page)];
        if (pixels.Length != WidthPx * HeightPx)
            throw new ArgumentException($"The span holds {pixels.Length} values; {Path}'s frames are {WidthPx}×{HeightPx} = {WidthPx * HeightPx}.", nameof(pixels));
        var bytes = MemoryMarshal.AsBytes(pixels);
        int filled = 0;
        for (int s = 0; s < p.StripOffsets.Length; s++)
        {
            int count = (int)Math.Min(p.StripByteCounts[s], bytes.Length - filled);
            int read = ReadAt(p.StripOffsets[s], bytes.Slice(filled, count));
            if (read < count)
                throw new TiffFormatException(Path, page, $"strip {s}", $"{read} of {count} bytes at offset {p.StripOffsets[s]}", "all there (the file has shrunk since it was opened)");
            filled += count;
        }
        if (!BitConverter.IsLittleEndian)
            for (int i = 0; i < pixels.Length; i++) pixels[i] = BinaryPrimitives.ReverseEndianness(pixels[i]);
        if (IsSigned)
        {
            var signed = MemoryMarshal.Cast<ushort, short>(pixels);
            for (int i = 0; i < signed.Length; i++) if (signed[i] < 0) signed[i] = 0;
        }
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _handle.Dispose();

    private int CheckPage(int page)
    {
        if ((uint)page >= (uint)_pages.Count)
            throw new ArgumentOutOfRangeException(nameof(page), page, $"{Path} has {_pages.Count} frames (0 to {_pages.Count - 1}).");
        return page;
    }

    private void Walk(bool requireComplete)
    {
        Span<byte> header = stackalloc byte[16];
        if (ReadAt(0, header[..8]) < 8)
            throw new TiffFormatException(Path, -1, "length", $"{_length} bytes", "at least 8 bytes (a TIFF header)");
        if (header[0] != 'I' || header[1] != 'I')
        {
            string found = header[0] == 'M' && header[1] == 'M' ? "'MM' (big-endian)" : $"0x{header[0]:X2}{header[1]:X2}";
            throw new TiffFormatException(Path, -1, "byte order", found, "'II' (little-endian TIFF)");
        }
        ushort magic = BinaryPrimitives.ReadUInt16LittleEndian(header[2..]);
        long first;
        if (magic == 42)
            first = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        else if (magic == 43)
        {
            IsBigTiff = true;
            if (ReadAt(8, header[8..16]) < 8)
                throw new TiffFormatException(Path, -1, "length", $"{_length} bytes", "at least 16 bytes (a BigTIFF header)");
            ushort offsetSize = BinaryPrimitives.ReadUInt16LittleEndian(header[4..]);
            if (offsetSize != 8)
                throw new TiffFormatException(Path, -1, "BigTIFF offset size", offsetSize, "8");
            first = (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(header[8..]), long.MaxValue);
        }
        else
            throw new TiffFormatException(Path, -1, "version", magic, "42 (TIFF) or 43 (BigTIFF)");

        int headerBytes = IsBigTiff ? 16 : 8;
        long offset = first;
        var visited = new HashSet<long>();
        while (offset != 0)
        {
            int index = _pages.Count;
            if (offset < headerBytes || (offset & 1) != 0)
                throw new TiffFormatException(Path, index, "IFD offset", offset, $"an even offset past the {headerBytes}-byte header");
            if (!visited.Add(offset) || index >= MaxPages)
                throw new TiffFormatException(Path, index, "IFD offset", offset, "an IFD not visited before (the page chain loops)");
            if (offset >= _length)
            {
                // The header itself pointing past the end is corruption; a later link doing so is a cut-off recording.
                if (index == 0 || requireComplete)
                    throw new TiffFormatException(Path, index, "IFD offset", offset, $"inside the file ({_length} bytes)");
                TruncationNote = $"{Path}: page {index}'s IFD at offset {offset} lies beyond the end of the file ({_length} bytes); the file was cut off and {index} complete frames were read.";
                return;
            }
            var (page, next, cut) = ReadIfd(index, offset);
            if (cut is not null)
            {
                if (requireComplete) throw cut;
                TruncationNote = $"{cut.Message} The file was cut off; {index} complete frames were read.";
                return;
            }
            _pages.Add(page!);
            offset = next;
        }
    }

    private (Page? Page, long Next, TiffFormatException? Cut) ReadIfd(int index, long offset)
    {
        int countBytes = IsBigTiff ? 8 : 2, entryBytes = IsBigTiff ? 20 : 12, nextBytes = IsBigTiff ? 8 : 4;
        Span<byte> head = stackalloc byte[8];
        if (ReadAt(offset, head[..countBytes]) < countBytes)
            return (null, 0, new TiffFormatException(Path, index, "IFD", $"cut off at offset {offset}", $"complete within the file ({_length} bytes)"));
        ulong entries = IsBigTiff ? BinaryPrimitives.ReadUInt64LittleEndian(head) : BinaryPrimitives.ReadUInt16LittleEndian(head);
        if (entries == 0 || entries > 4096)
            throw new TiffFormatException(Path, index, "IFD entry count", entries, "between 1 and 4096");
        var ifd = new byte[(int)entries * entryBytes + nextBytes];
        if (ReadAt(offset + countBytes, ifd) < ifd.Length)
            return (null, 0, new TiffFormatException(Path, index, "IFD", $"cut off at offset {offset}", $"complete within the file ({_length} bytes)"));

        long width = -1, height = -1, bits = 1, compression = 1, samples = 1, format = 1, rowsPerStrip = -1;
        long[]? stripOffsets = null, stripCounts = null;
        string description = "";
        for (int e = 0; e < (int)entries; e++)
        {
            var entry = ifd.AsSpan(e * entryBytes, entryBytes);
            ushort tag = BinaryPrimitives.ReadUInt16LittleEndian(entry);
            ushort type = BinaryPrimitives.ReadUInt16LittleEndian(entry[2..]);
            long count = IsBigTiff ? (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(entry[4..]), int.MaxValue) : BinaryPrimitives.ReadUInt32LittleEndian(entry[4..]);
            var field = IsBigTiff ? entry.Slice(12, 8) : entry.Slice(8, 4);
            switch (tag)
            {
                case TiffMovieWriter.TagImageWidth: width = Single(index, "ImageWidth", type, count, field); break;
                case TiffMovieWriter.TagImageLength: height = Single(index, "ImageLength", type, count, field); break;
                case TiffMovieWriter.TagBitsPerSample: bits = Single(index, "BitsPerSample", type, count, field); break;
                case TiffMovieWriter.TagCompression: compression = Single(index, "Compression", type, count, field); break;
                case TiffMovieWriter.TagSamplesPerPixel: samples = Single(index, "SamplesPerPixel", type, count, field); break;
                case TiffMovieWriter.TagSampleFormat: format = Single(index, "SampleFormat", type, count, field); break;
                case TiffMovieWriter.TagRowsPerStrip: rowsPerStrip = Single(index, "RowsPerStrip", type, count, field); break;
                case TiffMovieWriter.TagStripOffsets: stripOffsets = Values(index, "StripOffsets", type, count, field); break;
                case TiffMovieWriter.TagStripByteCounts: stripCounts = Values(index, "StripByteCounts", type, count, field); break;
                case TiffMovieWriter.TagImageDescription: description = Text(index, type, count, field); break;
            }
        }
        long next = IsBigTiff
            ? (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(ifd.AsSpan(ifd.Length - 8)), long.MaxValue)
            : BinaryPrimitives.ReadUInt32LittleEndian(ifd.AsSpan(ifd.Length - 4));

        if (width is < 1 or > ushort.MaxValue) throw new TiffFormatException(Path, index, "ImageWidth", width < 0 ? null : width, "between 1 and 65535");
        if (height is < 1 or > ushort.MaxValue) throw new TiffFormatException(Path, index, "ImageLength", height < 0 ? null : height, "between 1 and 65535");
        if (bits != 16) throw new TiffFormatException(Path, index, "BitsPerSample", bits, "16");
        if (compression != 1) throw new TiffFormatException(Path, index, "Compression", compression, "1 (uncompressed)");
        if (samples != 1) throw new TiffFormatException(Path, index, "SamplesPerPixel", samples, "1 (grayscale)");
        if (format is not (1 or 2)) throw new TiffFormatException(Path, index, "SampleFormat", format, "1 (unsigned integer) or 2 (signed integer, as ScanImage writes)");
        if (_pages.Count == 0) IsSigned = format == 2;
        else if (IsSigned != (format == 2)) throw new TiffFormatException(Path, index, "SampleFormat", format, $"page 0's {(IsSigned ? 2 : 1)} (every frame of a movie has one format)");
        if (stripOffsets is null) throw new TiffFormatException(Path, index, "StripOffsets", null, "present");
        if (stripCounts is null || stripCounts.Length != stripOffsets.Length)
            throw new TiffFormatException(Path, index, "StripByteCounts", stripCounts?.Length, $"present with one count per strip ({stripOffsets.Length})");
        if (_pages.Count == 0) { WidthPx = (int)width; HeightPx = (int)height; }
        else if (width != WidthPx || height != HeightPx)
            throw new TiffFormatException(Path, index, "size", $"{width}×{height}", $"page 0's {WidthPx}×{HeightPx} (every frame of a movie has one size)");

        long frameBytes = width * height * 2, total = 0;
        for (int s = 0; s < stripOffsets.Length; s++)
        {
            if (stripOffsets[s] < 0 || stripCounts[s] < 0)
                throw new TiffFormatException(Path, index, $"strip {s}", $"offset {stripOffsets[s]}, {stripCounts[s]} bytes", "non-negative");
            if (stripOffsets[s] + stripCounts[s] > _length)
                return (null, 0, new TiffFormatException(Path, index, $"strip {s}", $"bytes {stripOffsets[s]} to {stripOffsets[s] + stripCounts[s]}", $"inside the file ({_length} bytes)"));
            total += stripCounts[s];
        }
        if (total < frameBytes)
            throw new TiffFormatException(Path, index, "StripByteCounts", $"{total} bytes in all", $"at least {frameBytes} bytes ({width}×{height} 16-bit pixels; rows per strip {rowsPerStrip})");
        return (new Page(stripOffsets, stripCounts, description), next, null);
    }

    private long Single(int index, string name, ushort type, long count, ReadOnlySpan<byte> field)
    {
        if (count != 1) throw new TiffFormatException(Path, index, name, $"{count} values", "a single value");
        return type switch
        {
            TiffMovieWriter.TypeShort => BinaryPrimitives.ReadUInt16LittleEndian(field),
            TiffMovieWriter.TypeLong => BinaryPrimitives.ReadUInt32LittleEndian(field),
            TiffMovieWriter.TypeLong8 when IsBigTiff => (long)BinaryPrimitives.ReadUInt64LittleEndian(field),
            _ => throw new TiffFormatException(Path, index, $"{name} type", type, "SHORT (3), LONG (4) or, in BigTIFF, LONG8 (16)"),
        };
    }

    private long[] Values(int index, string name, ushort type, long count, ReadOnlySpan<byte> field)
    {
        int size = type switch
        {
            TiffMovieWriter.TypeShort => 2,
            TiffMovieWriter.TypeLong => 4,
            TiffMovieWriter.TypeLong8 when IsBigTiff => 8,
            _ => throw new TiffFormatException(Path, index, $"{name} type", type, "SHORT (3), LONG (4) or, in BigTIFF, LONG8 (16)"),
        };
        if (count is < 1 or > 1_000_000) throw new TiffFormatException(Path, index, name, $"{count} values", "between 1 and 1000000 values");
        var raw = new byte[count * size];
        if (raw.Length <= field.Length) field[..raw.Length].CopyTo(raw);
        else
        {
            long at = Offset(field);
            if (ReadAt(at, raw) < raw.Length)
                throw new TiffFormatException(Path, index, name, $"{count} values at offset {at}", $"inside the file ({_length} bytes)");
        }
        var values = new long[count];
        for (int i = 0; i < values.Length; i++)
            values[i] = size switch
            {
                2 => BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(2 * i)),
                4 => BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(4 * i)),
                _ => (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(8 * i)), long.MaxValue),
            };
        return values;
    }

    private string Text(int index, ushort type, long count, ReadOnlySpan<byte> field)
    {
        if (type != TiffMovieWriter.TypeAscii) throw new TiffFormatException(Path, index, "ImageDescription type", type, "ASCII (2)");
        if (count > 64 * 1024 * 1024) throw new TiffFormatException(Path, index, "ImageDescription", $"{count} bytes", "at most 64 MiB");
        byte[] raw = new byte[count];
        if (raw.Length <= field.Length) field[..raw.Length].CopyTo(raw);
        else
        {
            long at = Offset(field);
            if (ReadAt(at, raw) < raw.Length)
                throw new TiffFormatException(Path, index, "ImageDescription", $"{count} bytes at offset {at}", $"inside the file ({_length} bytes)");
        }
        int end = Array.IndexOf(raw, (byte)0);
        return Encoding.UTF8.GetString(raw, 0, end < 0 ? raw.Length : end);
    }

    private long Offset(ReadOnlySpan<byte> field) => IsBigTiff
        ? (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(field), long.MaxValue)
        : BinaryPrimitives.ReadUInt32LittleEndian(field);

    private int ReadAt(long offset, Span<byte> target)
    {
        int total = 0;
        while (total < target.Length)
        {
            int n = RandomAccess.Read(_handle, target[total..], offset + total);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    private sealed record Page(long[] StripOffsets, long[] StripByteCounts, string Description);
}
