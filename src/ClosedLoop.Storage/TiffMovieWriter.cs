using System.Buffers.Binary;
using System.Buffers.Text;
using System.Runtime.InteropServices;
using System.Text.Json;
using ClosedLoop.Core;

namespace ClosedLoop.Storage;

/// <summary>
/// Writes 16-bit grayscale frames, one at a time, as a little-endian multi-page TIFF (one page per frame, one strip per
/// page, uncompressed), in the spirit of ScanImage files: classic TIFF while the file stays under 4 GiB, BigTIFF when
/// asked for or when the declared frame count would pass <see cref="AutoBigTiffBytes"/>. Every page's ImageDescription
/// is a JSON object with <c>frameIndex</c> and <c>sampleTimeS</c>; the first page's also carries the caller's
/// frame-invariant metadata. The layout is described in docs/data-formats.md.
/// <para>Crash safety: each frame's pixels, description and IFD are written before the previous IFD (or the header)
/// is patched to point at them, so a file cut off at any moment reads as the frames completed before the cut.</para>
/// <para>Nothing is allocated per frame: the IFD and description are composed in buffers made at construction.
/// Not thread-safe: call <see cref="Append(ReadOnlySpan{ushort}, double, long, long)"/> from one thread.</para>
/// </summary>
public sealed class TiffMovieWriter : IDisposable
{
    /// <summary>Declared sizes (width × height × 2 × frames) above this many bytes switch to BigTIFF automatically
    /// (3.9 GiB, leaving room under classic TIFF's 4 GiB offsets for the IFDs and descriptions).</summary>
    public const long AutoBigTiffBytes = 3_900L * 1024 * 1024;

    internal const ushort TagImageWidth = 256, TagImageLength = 257, TagBitsPerSample = 258, TagCompression = 259,
        TagPhotometric = 262, TagImageDescription = 270, TagStripOffsets = 273, TagSamplesPerPixel = 277,
        TagRowsPerStrip = 278, TagStripByteCounts = 279, TagSampleFormat = 339;

    internal const ushort TypeAscii = 2, TypeShort = 3, TypeLong = 4, TypeLong8 = 16;

    private const int EntryCount = 11;
    private const int PerFrameDescriptionBytes = 128;

    private readonly FileStream _file;
    private readonly byte[] _firstDescription;
    private readonly byte[] _block;
    private readonly byte[]? _swap;
    private readonly int _frameBytes;
    private long _end;
    private long _previousNextPointer;
    private bool _disposed;

    /// <summary>
    /// Creates (or overwrites) <paramref name="path"/> for frames of <paramref name="widthPx"/> × <paramref name="heightPx"/>.
    /// </summary>
    /// <param name="path">File to write.</param>
    /// <param name="widthPx">Frame width, 1 to 65 535 px.</param>
    /// <param name="heightPx">Frame height, 1 to 65 535 px.</param>
    /// <param name="metadataJson">Frame-invariant metadata as a JSON object (frame rate, pixel size, source, …), stored in
    /// the first page's description; null for none. Its own <c>frameIndex</c>/<c>sampleTimeS</c> members are not allowed.</param>
    /// <param name="bigTiff">Write BigTIFF (64-bit offsets) whatever the size.</param>
    /// <param name="expectedFrames">Frames the caller means to write (0 if unknown); a movie that would pass
    /// <see cref="AutoBigTiffBytes"/> is written as BigTIFF.</param>
    /// <exception cref="SettingException">A size is out of range or the metadata is not a JSON object.</exception>
    public TiffMovieWriter(string path, int widthPx, int heightPx, string? metadataJson = null, bool bigTiff = false, long expectedFrames = 0)
    {
        Check.InRange("widthPx", widthPx, 1, ushort.MaxValue);
        Check.InRange("heightPx", heightPx, 1, ushort.MaxValue);
        if (expectedFrames < 0) throw new SettingException("expectedFrames", expectedFrames, "0 (unknown) or more");
        WidthPx = widthPx;
        HeightPx = heightPx;
        _frameBytes = checked(widthPx * heightPx * 2);
        IsBigTiff = bigTiff || (double)_frameBytes * expectedFrames > AutoBigTiffBytes;
        _firstDescription = ComposeFirstDescription(metadataJson);
        _block = new byte[_firstDescription.Length + PerFrameDescriptionBytes + 16 + IfdBytes];
        if (!BitConverter.IsLittleEndian) _swap = new byte[_frameBytes];

        Path = path;
        _file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0);
        Span<byte> header = stackalloc byte[16];
        header.Clear();
        header[0] = (byte)'I';
        header[1] = (byte)'I';
        if (IsBigTiff)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(header[2..], 43);
            BinaryPrimitives.WriteUInt16LittleEndian(header[4..], 8);
            _previousNextPointer = 8;
            _end = 16;
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(header[2..], 42);
            _previousNextPointer = 4;
            _end = 8;
        }
        _file.Write(header[..(int)_end]);
    }

    /// <summary>The file being written.</summary>
    public string Path { get; }

    /// <summary>Frame width in pixels.</summary>
    public int WidthPx { get; }

    /// <summary>Frame height in pixels.</summary>
    public int HeightPx { get; }

    /// <summary>Whether the file is BigTIFF (64-bit offsets) rather than classic TIFF.</summary>
    public bool IsBigTiff { get; }

    /// <summary>Frames appended so far (each one is readable once <see cref="Append(ReadOnlySpan{ushort}, double, long, long)"/> returns).</summary>
    public long FrameCount { get; private set; }

    /// <summary>Bytes written so far.</summary>
    public long Length => _end;

    private int IfdBytes => IsBigTiff ? 8 + EntryCount * 20 + 8 : 2 + EntryCount * 12 + 4;

    /// <summary>
    /// Appends one frame (row-major, <see cref="WidthPx"/> × <see cref="HeightPx"/> values) taken at
    /// <paramref name="sampleTimeS"/> on the acquisition clock. Its index is <see cref="FrameCount"/> before the call.
    /// </summary>
    /// <exception cref="ArgumentException">The frame has the wrong number of pixels or the time is not finite.</exception>
    /// <exception cref="IOException">The disk refused the write, or a classic TIFF would pass 4 GiB (ask for BigTIFF).</exception>
    public void Append(ReadOnlySpan<ushort> pixels, double sampleTimeS) => Append(pixels, sampleTimeS, FrameCount, -1);

    /// <summary>
    /// Appends one frame that is frame <paramref name="frameIndex"/> of an acquisition (a recording that lost or skipped
    /// frames keeps their true indices), acquired at host time <paramref name="hostTimeNs"/> (monotonic ns; negative: not
    /// written). Page <see cref="FrameCount"/> of the file either way.
    /// </summary>
    /// <exception cref="ArgumentException">The frame has the wrong number of pixels, the time is not finite or the index is negative.</exception>
    /// <exception cref="IOException">The disk refused the write, or a classic TIFF would pass 4 GiB (ask for BigTIFF).</exception>
    public void Append(ReadOnlySpan<ushort> pixels, double sampleTimeS, long frameIndex, long hostTimeNs)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (frameIndex < 0) throw new ArgumentException($"frameIndex = {frameIndex} is negative.", nameof(frameIndex));
        if (pixels.Length != WidthPx * HeightPx)
            throw new ArgumentException($"The frame holds {pixels.Length} pixels; this movie's frames are {WidthPx}×{HeightPx} = {WidthPx * HeightPx}.", nameof(pixels));
        if (!double.IsFinite(sampleTimeS))
            throw new ArgumentException($"sampleTimeS = {sampleTimeS} is not a finite number.", nameof(sampleTimeS));

        long index = FrameCount;
        long dataOffset = _end;
        int descriptionLength = WriteDescription(_block, index, frameIndex, sampleTimeS, hostTimeNs);
        int descriptionPadded = descriptionLength + 1 + ((descriptionLength + 1) & 1); // NUL, then even alignment
        long descriptionOffset = dataOffset + _frameBytes;
        long ifdOffset = descriptionOffset + descriptionPadded;
        long blockEnd = ifdOffset + IfdBytes;
        if (!IsBigTiff && blockEnd > uint.MaxValue)
            throw new IOException($"{Path}: frame {index} would take the file past the 4 GiB a classic TIFF can address; create the writer with bigTiff: true (or declare expectedFrames).");

        var block = _block.AsSpan(0, descriptionPadded + IfdBytes);
        block[descriptionLength..descriptionPadded].Clear();
        ComposeIfd(block[descriptionPadded..], descriptionLength + 1, descriptionOffset, dataOffset);

        // Pixels, then description and IFD, and only then the link that makes the page part of the file.
        if (_swap is null)
            _file.Write(MemoryMarshal.AsBytes(pixels));
        else
        {
            for (int i = 0; i < pixels.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(_swap.AsSpan(2 * i), pixels[i]);
            _file.Write(_swap);
        }
        _file.Write(block);
        _end = blockEnd;

        Span<byte> link = stackalloc byte[8];
        int linkBytes = IsBigTiff ? 8 : 4;
        if (IsBigTiff) BinaryPrimitives.WriteUInt64LittleEndian(link, (ulong)ifdOffset);
        else BinaryPrimitives.WriteUInt32LittleEndian(link, (uint)ifdOffset);
        _file.Seek(_previousNextPointer, SeekOrigin.Begin);
        _file.Write(link[..linkBytes]);
        _file.Seek(_end, SeekOrigin.Begin);
        _previousNextPointer = blockEnd - linkBytes;
        FrameCount = index + 1;
    }

    /// <summary>Asks the operating system to put everything written so far on the disk.</summary>
    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _file.Flush(flushToDisk: true);
    }

    /// <summary>Closes the file; every appended frame stays readable.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _file.Dispose();
    }

    private int WriteDescription(byte[] target, long page, long frameIndex, double sampleTimeS, long hostTimeNs)
    {
        // {"frameIndex":N,"sampleTimeS":T[,"hostTimeNs":H]  then the first page's metadata members, then }
        var span = target.AsSpan();
        int n = 0;
        n += Copy("{\"frameIndex\":"u8, span[n..]);
        Utf8Formatter.TryFormat(frameIndex, span[n..], out int w);
        n += w;
        n += Copy(",\"sampleTimeS\":"u8, span[n..]);
        if (!Utf8Formatter.TryFormat(sampleTimeS, span[n..], out w, new System.Buffers.StandardFormat('R')))
            throw new InvalidOperationException("sample time did not fit its buffer");
        n += w;
        if (hostTimeNs >= 0)
        {
            n += Copy(",\"hostTimeNs\":"u8, span[n..]);
            Utf8Formatter.TryFormat(hostTimeNs, span[n..], out w);
            n += w;
        }
        if (page == 0 && _firstDescription.Length > 0)
        {
            span[n++] = (byte)',';
            n += Copy(_firstDescription, span[n..]);
        }
        span[n++] = (byte)'}';
        return n;
    }

    private static int Copy(ReadOnlySpan<byte> source, Span<byte> target)
    {
        source.CopyTo(target);
        return source.Length;
    }

    private void ComposeIfd(Span<byte> ifd, int descriptionCount, long descriptionOffset, long dataOffset)
    {
        int p;
        if (IsBigTiff) { BinaryPrimitives.WriteUInt64LittleEndian(ifd, EntryCount); p = 8; }
        else { BinaryPrimitives.WriteUInt16LittleEndian(ifd, EntryCount); p = 2; }
        ushort offsetType = IsBigTiff ? TypeLong8 : TypeLong;
        Entry(ifd, ref p, TagImageWidth, TypeLong, 1, (ulong)WidthPx);
        Entry(ifd, ref p, TagImageLength, TypeLong, 1, (ulong)HeightPx);
        Entry(ifd, ref p, TagBitsPerSample, TypeShort, 1, 16);
        Entry(ifd, ref p, TagCompression, TypeShort, 1, 1);
        Entry(ifd, ref p, TagPhotometric, TypeShort, 1, 1);
        Entry(ifd, ref p, TagImageDescription, TypeAscii, (ulong)descriptionCount, (ulong)descriptionOffset);
        Entry(ifd, ref p, TagStripOffsets, offsetType, 1, (ulong)dataOffset);
        Entry(ifd, ref p, TagSamplesPerPixel, TypeShort, 1, 1);
        Entry(ifd, ref p, TagRowsPerStrip, TypeLong, 1, (ulong)HeightPx);
        Entry(ifd, ref p, TagStripByteCounts, offsetType, 1, (ulong)_frameBytes);
        Entry(ifd, ref p, TagSampleFormat, TypeShort, 1, 1);
        ifd[p..].Clear(); // next-IFD offset: 0 until the next frame links itself here
    }

    private void Entry(Span<byte> ifd, ref int p, ushort tag, ushort type, ulong count, ulong value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(ifd[p..], tag);
        BinaryPrimitives.WriteUInt16LittleEndian(ifd[(p + 2)..], type);
        if (IsBigTiff)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(ifd[(p + 4)..], count);
            var field = ifd.Slice(p + 12, 8);
            field.Clear();
            if (type == TypeShort) BinaryPrimitives.WriteUInt16LittleEndian(field, (ushort)value);
            else BinaryPrimitives.WriteUInt64LittleEndian(field, value);
            p += 20;
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(ifd[(p + 4)..], (uint)count);
            var field = ifd.Slice(p + 8, 4);
            field.Clear();
            if (type == TypeShort) BinaryPrimitives.WriteUInt16LittleEndian(field, (ushort)value);
            else BinaryPrimitives.WriteUInt32LittleEndian(field, (uint)value);
            p += 12;
        }
    }

    /// <summary>The caller's metadata object's members as JSON text without the surrounding braces (empty for none).</summary>
    private static byte[] ComposeFirstDescription(string? metadataJson)
    {
        if (string.IsNullOrWhiteSpace(metadataJson)) return [];
        JsonDocument doc;
        try { doc = JsonDocument.Parse(metadataJson); }
        catch (JsonException ex)
        {
            throw new SettingException("metadataJson", $"malformed JSON ({ex.Message})", "a JSON object");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new SettingException("metadataJson", doc.RootElement.ValueKind.ToString(), "a JSON object");
            using var buffer = new MemoryStream();
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                foreach (var member in doc.RootElement.EnumerateObject())
                {
                    if (member.NameEquals("frameIndex") || member.NameEquals("sampleTimeS") || member.NameEquals("hostTimeNs"))
                        throw new SettingException($"metadataJson.{member.Name}", "present", "absent (the writer sets it on every page)");
                    member.WriteTo(writer);
                }
                writer.WriteEndObject();
            }
            var text = buffer.ToArray();
            return text.Length <= 2 ? [] : text[1..^1];
        }
    }
}
