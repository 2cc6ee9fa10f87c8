using System.Buffers.Binary;
using System.Text;

namespace ClosedLoop.Models.Onnx;

/// <summary>Writes protocol-buffer wire format (varints, fixed32, length-delimited fields), enough for ONNX's messages.</summary>
internal sealed class ProtoWriter
{
    private byte[] _buf = new byte[256];
    private int _len;

    public int Length => _len;

    public byte[] ToArray() => _buf.AsSpan(0, _len).ToArray();

    private void Ensure(int extra)
    {
        if (_len + extra > _buf.Length) Array.Resize(ref _buf, Math.Max(_buf.Length * 2, _len + extra));
    }

    private void Raw(ReadOnlySpan<byte> bytes)
    {
        Ensure(bytes.Length);
        bytes.CopyTo(_buf.AsSpan(_len));
        _len += bytes.Length;
    }

    private void Varint(ulong v)
    {
        Ensure(10);
        while (v >= 0x80) { _buf[_len++] = (byte)(v | 0x80); v >>= 7; }
        _buf[_len++] = (byte)v;
    }

    private void Tag(int field, int wireType) => Varint((ulong)((field << 3) | wireType));

    /// <summary>int64/int32/enum field (negative values take ten bytes, as protobuf specifies).</summary>
    public void Int64(int field, long value) { Tag(field, 0); Varint((ulong)value); }

    public void Float(int field, float value)
    {
        Tag(field, 5);
        Ensure(4);
        BinaryPrimitives.WriteSingleLittleEndian(_buf.AsSpan(_len), value);
        _len += 4;
    }

    public void Bytes(int field, ReadOnlySpan<byte> value) { Tag(field, 2); Varint((ulong)value.Length); Raw(value); }

    public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    public void Message(int field, ProtoWriter inner) => Bytes(field, inner._buf.AsSpan(0, inner._len));

    public void PackedInt64(int field, ReadOnlySpan<long> values)
    {
        var tmp = new ProtoWriter();
        foreach (long v in values) tmp.Varint((ulong)v);
        Message(field, tmp);
    }

    public void PackedFloat(int field, ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        Bytes(field, bytes);
    }
}

/// <summary>One field read from protobuf wire format.</summary>
/// <param name="Number">Field number.</param>
/// <param name="WireType">0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.</param>
/// <param name="Scalar">Varint or fixed value.</param>
/// <param name="Payload">Bytes of a length-delimited field.</param>
internal readonly record struct ProtoField(int Number, int WireType, ulong Scalar, ReadOnlyMemory<byte> Payload)
{
    public long Int64 => (long)Scalar;
    public float Float => BitConverter.Int32BitsToSingle((int)(uint)Scalar);
    public string String => Encoding.UTF8.GetString(Payload.Span);
}

/// <summary>Reads protocol-buffer wire format into fields; throws <see cref="InvalidDataException"/> on malformed input.</summary>
internal static class ProtoReader
{
    public static List<ProtoField> Parse(ReadOnlyMemory<byte> data)
    {
        var fields = new List<ProtoField>();
        ReadOnlySpan<byte> s = data.Span;
        int pos = 0;
        while (pos < s.Length)
        {
            int at = pos;
            ulong key = Varint(s, ref pos);
            int number = (int)(key >> 3), wire = (int)(key & 7);
            if (number <= 0) throw new InvalidDataException($"protobuf field number {number} at byte {at}");
            switch (wire)
            {
                case 0: fields.Add(new ProtoField(number, wire, Varint(s, ref pos), default)); break;
                case 1:
                    Need(s, pos, 8);
                    fields.Add(new ProtoField(number, wire, BinaryPrimitives.ReadUInt64LittleEndian(s[pos..]), default));
                    pos += 8;
                    break;
                case 5:
                    Need(s, pos, 4);
                    fields.Add(new ProtoField(number, wire, BinaryPrimitives.ReadUInt32LittleEndian(s[pos..]), default));
                    pos += 4;
                    break;
                case 2:
                {
                    ulong len = Varint(s, ref pos);
                    if (len > (ulong)(s.Length - pos)) throw new InvalidDataException($"protobuf field {number} at byte {at} claims {len} bytes, only {s.Length - pos} remain");
                    fields.Add(new ProtoField(number, wire, len, data.Slice(pos, (int)len)));
                    pos += (int)len;
                    break;
                }
                default: throw new InvalidDataException($"protobuf wire type {wire} (field {number}) at byte {at} is not valid");
            }
        }
        return fields;
    }

    private static void Need(ReadOnlySpan<byte> s, int pos, int n)
    {
        if (s.Length - pos < n) throw new InvalidDataException($"protobuf data ends inside a field at byte {pos}");
    }

    private static ulong Varint(ReadOnlySpan<byte> s, ref int pos)
    {
        ulong v = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            if (pos >= s.Length) throw new InvalidDataException($"protobuf data ends inside a varint at byte {pos}");
            byte b = s[pos++];
            v |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return v;
        }
        throw new InvalidDataException($"protobuf varint longer than 10 bytes at byte {pos}");
    }

    /// <summary>Repeated int64: packed (one length-delimited field) or not (several varints).</summary>
    public static List<long> Int64s(IEnumerable<ProtoField> fields)
    {
        var list = new List<long>();
        foreach (var f in fields)
        {
            if (f.WireType == 0) { list.Add(f.Int64); continue; }
            ReadOnlySpan<byte> s = f.Payload.Span;
            int pos = 0;
            while (pos < s.Length) list.Add((long)Varint(s, ref pos));
        }
        return list;
    }

    /// <summary>Repeated float: packed or not.</summary>
    public static List<float> Floats(IEnumerable<ProtoField> fields)
    {
        var list = new List<float>();
        foreach (var f in fields)
        {
            if (f.WireType == 5) { list.Add(f.Float); continue; }
            ReadOnlySpan<byte> s = f.Payload.Span;
            if (s.Length % 4 != 0) throw new InvalidDataException("packed float field length is not a multiple of 4");
            for (int i = 0; i < s.Length; i += 4) list.Add(BinaryPrimitives.ReadSingleLittleEndian(s[i..]));
        }
        return list;
    }
}
