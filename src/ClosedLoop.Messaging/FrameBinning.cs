using ClosedLoop.Core;

namespace ClosedLoop.Messaging;

/// <summary>
/// Integer downsampling of a frame by binning: each output pixel is the mean of a <c>factor × factor</c> block of
/// input pixels, rounded to the nearest count. Rows and columns left over at the right and bottom edges (when the
/// size is not a multiple of the factor) are left out.
/// </summary>
public static class FrameBinning
{
    /// <summary>Output size of a <paramref name="widthPx"/> × <paramref name="heightPx"/> frame binned by <paramref name="factor"/>.</summary>
    public static (int WidthPx, int HeightPx) OutputSize(int widthPx, int heightPx, int factor)
    {
        Check.InRange("bus.frameBinning", factor, 1, 64);
        return (widthPx / factor, heightPx / factor);
    }

    /// <summary>Bins <paramref name="pixels"/> (row-major, <paramref name="widthPx"/> wide) into <paramref name="output"/>,
    /// which must hold exactly the <see cref="OutputSize"/>. Allocation-free.</summary>
    public static void Bin(ReadOnlySpan<ushort> pixels, int widthPx, int heightPx, int factor, Span<ushort> output)
    {
        var (ow, oh) = OutputSize(widthPx, heightPx, factor);
        if (pixels.Length < widthPx * heightPx) throw new ArgumentException($"pixels holds {pixels.Length} values, fewer than {widthPx}×{heightPx}.", nameof(pixels));
        if (output.Length != ow * oh) throw new ArgumentException($"output must hold {ow}×{oh} = {ow * oh} pixels, not {output.Length}.", nameof(output));
        if (factor == 1)
        {
            pixels[..output.Length].CopyTo(output);
            return;
        }
        uint n = (uint)(factor * factor), half = n / 2;
        for (int oy = 0; oy < oh; oy++)
        {
            for (int ox = 0; ox < ow; ox++)
            {
                uint sum = 0;
                int x0 = ox * factor;
                for (int dy = 0; dy < factor; dy++)
                {
                    var row = pixels.Slice((oy * factor + dy) * widthPx + x0, factor);
                    foreach (var v in row) sum += v;
                }
                output[oy * ow + ox] = (ushort)((sum + half) / n);
            }
        }
    }
}
