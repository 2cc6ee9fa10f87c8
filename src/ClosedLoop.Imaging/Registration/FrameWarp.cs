using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ClosedLoop.Imaging.Registration;

/// <summary>
/// Resampling of frames by a shift: out(x, y) = in(x + offsetX, y + offsetY). To undo a motion whose content displacement
/// is (dx, dy) (see <see cref="ShiftEstimate"/>), pass offset = (dx, dy). Positions outside the frame take the nearest edge
/// pixel (replicate); the corrected frame has no zero borders, the pixels next to an edge are repeated instead.
/// Whole-pixel offsets copy rows (no interpolation); fractional ones interpolate bilinearly with SIMD over the interior
/// of each row and round to the nearest count. Nothing is allocated.
/// </summary>
public static class FrameWarp
{
    /// <summary>Shifts <paramref name="pixels"/> (row-major <paramref name="widthPx"/> × <paramref name="heightPx"/>) in
    /// place by one offset for the whole frame, using <paramref name="scratch"/> (at least as long) for a copy.</summary>
    public static void Rigid(Span<ushort> pixels, Span<ushort> scratch, int widthPx, int heightPx, double offsetXPx, double offsetYPx)
    {
        int n = widthPx * heightPx;
        if (pixels.Length < n || scratch.Length < n) throw new ArgumentException("pixels and scratch must hold width × height values");
        if (!double.IsFinite(offsetXPx) || !double.IsFinite(offsetYPx)) return;
        int ix = (int)Math.Floor(offsetXPx), iy = (int)Math.Floor(offsetYPx);
        float fx = (float)(offsetXPx - ix), fy = (float)(offsetYPx - iy);
        if (fx < 1e-3f) fx = 0;
        else if (fx > 1 - 1e-3f) { fx = 0; ix++; }
        if (fy < 1e-3f) fy = 0;
        else if (fy > 1 - 1e-3f) { fy = 0; iy++; }
        if (ix == 0 && iy == 0 && fx == 0 && fy == 0) return;
        var src = scratch[..n];
        pixels[..n].CopyTo(src);
        for (int y = 0; y < heightPx; y++)
        {
            var outRow = pixels.Slice(y * widthPx, widthPx);
            var r0 = src.Slice(Math.Clamp(y + iy, 0, heightPx - 1) * widthPx, widthPx);
            if (fx == 0 && fy == 0)
            {
                ShiftRowInteger(r0, outRow, ix);
                continue;
            }
            var r1 = src.Slice(Math.Clamp(y + iy + 1, 0, heightPx - 1) * widthPx, widthPx);
            BilinearRow(r0, r1, outRow, ix, fx, fy);
        }
    }

    /// <summary>Shifts a float image by one offset, <paramref name="src"/> into <paramref name="dst"/> (no rounding).</summary>
    public static void Rigid(ReadOnlySpan<float> src, Span<float> dst, int widthPx, int heightPx, double offsetXPx, double offsetYPx)
    {
        int ix = (int)Math.Floor(offsetXPx), iy = (int)Math.Floor(offsetYPx);
        float fx = (float)(offsetXPx - ix), fy = (float)(offsetYPx - iy);
        float w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
        for (int y = 0; y < heightPx; y++)
        {
            var r0 = src.Slice(Math.Clamp(y + iy, 0, heightPx - 1) * widthPx, widthPx);
            var r1 = src.Slice(Math.Clamp(y + iy + 1, 0, heightPx - 1) * widthPx, widthPx);
            var o = dst.Slice(y * widthPx, widthPx);
            for (int x = 0; x < widthPx; x++)
            {
                int x0 = Math.Clamp(x + ix, 0, widthPx - 1), x1 = Math.Clamp(x + ix + 1, 0, widthPx - 1);
                o[x] = w00 * r0[x0] + w01 * r0[x1] + w10 * r1[x0] + w11 * r1[x1];
            }
        }
    }

    /// <summary>Shifts <paramref name="pixels"/> in place by a per-pixel offset taken from <paramref name="field"/>
    /// (bilinear sampling, replicate edges), using <paramref name="scratch"/> for a copy.</summary>
    public static void Field(Span<ushort> pixels, Span<ushort> scratch, ShiftField field)
    {
        int w = field.WidthPx, h = field.HeightPx, n = w * h;
        if (pixels.Length < n || scratch.Length < n) throw new ArgumentException("pixels and scratch must hold width × height values");
        var src = scratch[..n];
        pixels[..n].CopyTo(src);
        var rowDx = field.RowScratchX;
        var rowDy = field.RowScratchY;
        var colNode = field.ColumnNode;
        var colFrac = field.ColumnFraction;
        var ox = field.PixelScratchX;
        var oy = field.PixelScratchY;
        ref ushort s = ref MemoryMarshal.GetReference(src);
        ref ushort o = ref MemoryMarshal.GetReference(pixels);
        float maxX = w - 1, maxY = h - 1;
        for (int y = 0; y < h; y++)
        {
            field.NodeRow(y, rowDx, rowDy);
            // This row's sample positions: column x + dx(x), row y + dy(x), clamped to the frame (replicate edges).
            for (int x = 0; x < w; x++)
            {
                int k = colNode[x];
                float f = colFrac[x];
                float vx = x + rowDx[k] + f * (rowDx[k + 1] - rowDx[k]);
                float vy = y + rowDy[k] + f * (rowDy[k + 1] - rowDy[k]);
                ox[x] = vx > 0f ? (vx < maxX ? vx : maxX) : 0f;
                oy[x] = vy > 0f ? (vy < maxY ? vy : maxY) : 0f;
            }
            ref ushort orow = ref Unsafe.Add(ref o, y * w);
            ref float pox = ref MemoryMarshal.GetArrayDataReference(ox);
            ref float poy = ref MemoryMarshal.GetArrayDataReference(oy);
            int xs = 0;
            if (Vector.IsHardwareAccelerated)
            {
                // The field is smooth, so a run of Vector<ushort>.Count pixels almost always reads the same two source rows
                // at the same whole-pixel column offset: then the run is four contiguous loads and per-lane weights.
                int vc = Vector<ushort>.Count, fc = Vector<float>.Count;
                for (; xs + vc <= w; xs += vc)
                {
                    var sx0 = Vector.LoadUnsafe(ref pox, (nuint)xs);
                    var sx1 = Vector.LoadUnsafe(ref pox, (nuint)(xs + fc));
                    var sy0 = Vector.LoadUnsafe(ref poy, (nuint)xs);
                    var sy1 = Vector.LoadUnsafe(ref poy, (nuint)(xs + fc));
                    var ix0 = Vector.ConvertToInt32(sx0);
                    var ix1 = Vector.ConvertToInt32(sx1);
                    var iy0 = Vector.ConvertToInt32(sy0);
                    var iy1 = Vector.ConvertToInt32(sy1);
                    int colOffset = ix0[0] - xs, row = iy0[0];
                    var expect0 = IntRamp + new Vector<int>(xs + colOffset);
                    var expect1 = expect0 + new Vector<int>(fc);
                    var rowV = new Vector<int>(row);
                    if (!Vector.EqualsAll(ix0, expect0) || !Vector.EqualsAll(ix1, expect1) || !Vector.EqualsAll(iy0, rowV) || !Vector.EqualsAll(iy1, rowV)
                        || xs + colOffset + vc >= w || row + 1 >= h)
                    {
                        ScalarRun(ref s, ref orow, ref pox, ref poy, xs, xs + vc, w, h);
                        continue;
                    }
                    ref ushort r0 = ref Unsafe.Add(ref s, row * w + xs + colOffset);
                    ref ushort r1 = ref Unsafe.Add(ref r0, w);
                    Vector.Widen(Vector.LoadUnsafe(ref r0), out var a0, out var a1);
                    Vector.Widen(Vector.LoadUnsafe(ref Unsafe.Add(ref r0, 1)), out var b0, out var b1);
                    Vector.Widen(Vector.LoadUnsafe(ref r1), out var c0, out var c1);
                    Vector.Widen(Vector.LoadUnsafe(ref Unsafe.Add(ref r1, 1)), out var d0, out var d1);
                    var lo = Lerp2(a0, b0, c0, d0, sx0 - Vector.ConvertToSingle(ix0), sy0 - Vector.ConvertToSingle(iy0));
                    var hi = Lerp2(a1, b1, c1, d1, sx1 - Vector.ConvertToSingle(ix1), sy1 - Vector.ConvertToSingle(iy1));
                    Vector.Narrow(lo, hi).StoreUnsafe(ref orow, (nuint)xs);
                }
            }
            ScalarRun(ref s, ref orow, ref pox, ref poy, xs, w, w, h);
        }
    }

    /// <summary>0, 1, 2, … in the lanes of a vector.</summary>
    private static readonly Vector<int> IntRamp = new(Enumerable.Range(0, Vector<int>.Count).ToArray());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<uint> Lerp2(Vector<uint> p00, Vector<uint> p01, Vector<uint> p10, Vector<uint> p11, Vector<float> ax, Vector<float> ay)
    {
        var a = Vector.ConvertToSingle(Vector.AsVectorInt32(p00));
        var b = Vector.ConvertToSingle(Vector.AsVectorInt32(p01));
        var c = Vector.ConvertToSingle(Vector.AsVectorInt32(p10));
        var d = Vector.ConvertToSingle(Vector.AsVectorInt32(p11));
        var top = a + ax * (b - a);
        var bottom = c + ax * (d - c);
        return Vector.AsVectorUInt32(Vector.ConvertToInt32(top + ay * (bottom - top) + new Vector<float>(0.5f)));
    }

    /// <summary>Bilinear samples at the (already clamped) positions of columns [from, to) of one output row.</summary>
    private static void ScalarRun(ref ushort s, ref ushort orow, ref float pox, ref float poy, int from, int to, int w, int h)
    {
        for (int x = from; x < to; x++)
        {
            float sx = Unsafe.Add(ref pox, x), sy = Unsafe.Add(ref poy, x);
            int x0 = (int)sx, y0 = (int)sy;
            float ax = sx - x0, ay = sy - y0;
            int x1 = Math.Min(x0 + 1, w - 1), y1 = Math.Min(y0 + 1, h - 1);
            ref ushort r0 = ref Unsafe.Add(ref s, y0 * w);
            ref ushort r1 = ref Unsafe.Add(ref s, y1 * w);
            float p00 = Unsafe.Add(ref r0, x0), p01 = Unsafe.Add(ref r0, x1);
            float p10 = Unsafe.Add(ref r1, x0), p11 = Unsafe.Add(ref r1, x1);
            float top = p00 + ax * (p01 - p00), bottom = p10 + ax * (p11 - p10);
            Unsafe.Add(ref orow, x) = (ushort)(int)(top + ay * (bottom - top) + 0.5f);
        }
    }

    /// <summary>out[x] = in[clamp(x + ix)].</summary>
    private static void ShiftRowInteger(ReadOnlySpan<ushort> row, Span<ushort> outRow, int ix)
    {
        int w = row.Length;
        if (ix >= w) { outRow.Fill(row[w - 1]); return; }
        if (ix <= -w) { outRow.Fill(row[0]); return; }
        if (ix >= 0)
        {
            row[ix..].CopyTo(outRow);
            outRow[(w - ix)..].Fill(row[w - 1]);
        }
        else
        {
            row[..(w + ix)].CopyTo(outRow[(-ix)..]);
            outRow[..(-ix)].Fill(row[0]);
        }
    }

    /// <summary>out[x] = bilinear of rows r0 (weight 1 − fy) and r1 (fy) at column x + ix + fx, edges replicated.</summary>
    private static void BilinearRow(ReadOnlySpan<ushort> r0, ReadOnlySpan<ushort> r1, Span<ushort> outRow, int ix, float fx, float fy)
    {
        int w = r0.Length;
        float w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
        // Interior: columns whose two source columns x + ix and x + ix + 1 are both inside the row.
        int lo = Math.Clamp(-ix, 0, w), hi = Math.Clamp(w - 1 - ix, lo, w); // x in [lo, hi)
        for (int x = 0; x < lo; x++) outRow[x] = Edge(r0, r1, x + ix, w, w00, w01, w10, w11);
        int xv = lo;
        if (Vector.IsHardwareAccelerated)
        {
            int vc = Vector<ushort>.Count;
            ref ushort p0 = ref MemoryMarshal.GetReference(r0);
            ref ushort p1 = ref MemoryMarshal.GetReference(r1);
            ref ushort po = ref MemoryMarshal.GetReference(outRow);
            var v00 = new Vector<float>(w00);
            var v01 = new Vector<float>(w01);
            var v10 = new Vector<float>(w10);
            var v11 = new Vector<float>(w11);
            var half = new Vector<float>(0.5f);
            for (; xv + vc <= hi; xv += vc)
            {
                int sx = xv + ix;
                Vector.Widen(Vector.LoadUnsafe(ref p0, (nuint)sx), out var a0, out var a1);
                Vector.Widen(Vector.LoadUnsafe(ref p0, (nuint)(sx + 1)), out var b0, out var b1);
                Vector.Widen(Vector.LoadUnsafe(ref p1, (nuint)sx), out var c0, out var c1);
                Vector.Widen(Vector.LoadUnsafe(ref p1, (nuint)(sx + 1)), out var d0, out var d1);
                var lo32 = Mix(a0, b0, c0, d0, v00, v01, v10, v11, half);
                var hi32 = Mix(a1, b1, c1, d1, v00, v01, v10, v11, half);
                Vector.Narrow(lo32, hi32).StoreUnsafe(ref po, (nuint)xv);
            }
        }
        for (; xv < hi; xv++)
        {
            int sx = xv + ix;
            outRow[xv] = (ushort)(int)(w00 * r0[sx] + w01 * r0[sx + 1] + w10 * r1[sx] + w11 * r1[sx + 1] + 0.5f);
        }
        for (int x = Math.Max(hi, lo); x < w; x++) outRow[x] = Edge(r0, r1, x + ix, w, w00, w01, w10, w11);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<uint> Mix(Vector<uint> a, Vector<uint> b, Vector<uint> c, Vector<uint> d,
        Vector<float> w00, Vector<float> w01, Vector<float> w10, Vector<float> w11, Vector<float> half)
    {
        var f = Vector.ConvertToSingle(Vector.AsVectorInt32(a)) * w00 + Vector.ConvertToSingle(Vector.AsVectorInt32(b)) * w01
              + Vector.ConvertToSingle(Vector.AsVectorInt32(c)) * w10 + Vector.ConvertToSingle(Vector.AsVectorInt32(d)) * w11 + half;
        return Vector.AsVectorUInt32(Vector.ConvertToInt32(f));
    }

    private static ushort Edge(ReadOnlySpan<ushort> r0, ReadOnlySpan<ushort> r1, int sx, int w, float w00, float w01, float w10, float w11)
    {
        int x0 = Math.Clamp(sx, 0, w - 1), x1 = Math.Clamp(sx + 1, 0, w - 1);
        return (ushort)(int)(w00 * r0[x0] + w01 * r0[x1] + w10 * r1[x0] + w11 * r1[x1] + 0.5f);
    }
}
