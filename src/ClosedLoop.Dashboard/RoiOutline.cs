namespace ClosedLoop.Dashboard;

/// <summary>Outline of an ROI for drawing: its pixels that touch a pixel outside it (4-neighbourhood) or the frame edge.</summary>
internal static class RoiOutline
{
    /// <summary>Outline pixels of each unit as flat (x, y) pairs; pixel indices outside the frame are ignored.
    /// <paramref name="mask"/> is a scratch buffer of width × height, left cleared.</summary>
    public static int[] Compute(int[] pixels, int widthPx, int heightPx, bool[] mask)
    {
        int n = widthPx * heightPx;
        foreach (int p in pixels) if ((uint)p < (uint)n) mask[p] = true;
        var outline = new List<int>();
        foreach (int p in pixels)
        {
            if ((uint)p >= (uint)n || !mask[p]) continue;
            int x = p % widthPx, y = p / widthPx;
            bool edge = x == 0 || y == 0 || x == widthPx - 1 || y == heightPx - 1
                || !mask[p - 1] || !mask[p + 1] || !mask[p - widthPx] || !mask[p + widthPx];
            if (edge)
            {
                outline.Add(x);
                outline.Add(y);
            }
        }
        // Duplicated indices would list a pixel twice; harmless for drawing. Clear the scratch mask for the next unit.
        foreach (int p in pixels) if ((uint)p < (uint)n) mask[p] = false;
        return outline.ToArray();
    }
}
