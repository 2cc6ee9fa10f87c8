namespace ClosedLoop.Imaging.Registration;

/// <summary>
/// A smooth per-pixel shift over a frame, given at the nodes of a <see cref="GridX"/> × <see cref="GridY"/> grid
/// (node (ix, iy) at column <see cref="NodeXPx"/>[ix], row <see cref="NodeYPx"/>[iy]) and interpolated bilinearly between
/// nodes; beyond the outermost nodes the edge value holds. Continuous everywhere, linear between neighbouring nodes.
/// Shifts follow the <see cref="ShiftEstimate"/> convention (content displacement; <see cref="FrameWarp.Field"/> undoes it).
/// </summary>
public sealed class ShiftField
{
    private readonly double[] _nodeX;
    private readonly double[] _nodeY;
    private readonly int[] _rowNode;
    private readonly float[] _rowFrac;

    /// <summary>Creates a field of zero shifts on a frame of <paramref name="widthPx"/> × <paramref name="heightPx"/> with
    /// nodes at the given (strictly increasing) columns and rows, at least two of each.</summary>
    public ShiftField(int widthPx, int heightPx, IReadOnlyList<double> nodeXPx, IReadOnlyList<double> nodeYPx)
    {
        if (nodeXPx.Count < 2 || nodeYPx.Count < 2) throw new ArgumentException("at least 2 × 2 nodes");
        for (int i = 1; i < nodeXPx.Count; i++) if (!(nodeXPx[i] > nodeXPx[i - 1])) throw new ArgumentException("node columns must increase");
        for (int i = 1; i < nodeYPx.Count; i++) if (!(nodeYPx[i] > nodeYPx[i - 1])) throw new ArgumentException("node rows must increase");
        WidthPx = widthPx;
        HeightPx = heightPx;
        _nodeX = nodeXPx.ToArray();
        _nodeY = nodeYPx.ToArray();
        GridX = _nodeX.Length;
        GridY = _nodeY.Length;
        DxPx = new float[GridX * GridY];
        DyPx = new float[GridX * GridY];
        RowScratchX = new float[GridX];
        RowScratchY = new float[GridX];
        PixelScratchX = new float[widthPx];
        PixelScratchY = new float[widthPx];
        ColumnNode = new int[widthPx];
        ColumnFraction = new float[widthPx];
        for (int x = 0; x < widthPx; x++) Locate(_nodeX, x, out ColumnNode[x], out ColumnFraction[x]);
        _rowNode = new int[heightPx];
        _rowFrac = new float[heightPx];
        for (int y = 0; y < heightPx; y++) Locate(_nodeY, y, out _rowNode[y], out _rowFrac[y]);
    }

    /// <summary>Frame width, px.</summary>
    public int WidthPx { get; }

    /// <summary>Frame height, px.</summary>
    public int HeightPx { get; }

    /// <summary>Nodes along x.</summary>
    public int GridX { get; }

    /// <summary>Nodes along y.</summary>
    public int GridY { get; }

    /// <summary>Column of each node column, px.</summary>
    public IReadOnlyList<double> NodeXPx => _nodeX;

    /// <summary>Row of each node row, px.</summary>
    public IReadOnlyList<double> NodeYPx => _nodeY;

    /// <summary>x shift of each node (row-major: node (ix, iy) at iy·GridX + ix), px. Write to change the field.</summary>
    public float[] DxPx { get; }

    /// <summary>y shift of each node, px.</summary>
    public float[] DyPx { get; }

    internal float[] RowScratchX { get; }
    internal float[] RowScratchY { get; }
    internal float[] PixelScratchX { get; }
    internal float[] PixelScratchY { get; }
    internal int[] ColumnNode { get; }
    internal float[] ColumnFraction { get; }

    /// <summary>Sets every node to the same shift.</summary>
    public void Fill(float dxPx, float dyPx)
    {
        Array.Fill(DxPx, dxPx);
        Array.Fill(DyPx, dyPx);
    }

    /// <summary>The shift at pixel (x, y) (allocates two small arrays: for tests and tools, not the per-frame path).</summary>
    public (double DxPx, double DyPx) At(int x, int y)
    {
        var rx = new float[GridX];
        var ry = new float[GridX];
        NodeRow(y, rx, ry);
        int k = ColumnNode[x];
        float f = ColumnFraction[x];
        return (rx[k] + f * (rx[k + 1] - rx[k]), ry[k] + f * (ry[k + 1] - ry[k]));
    }

    /// <summary>The node shifts interpolated to row <paramref name="y"/>, one per node column.</summary>
    internal void NodeRow(int y, Span<float> dx, Span<float> dy)
    {
        int k = _rowNode[y];
        float f = _rowFrac[y];
        int a = k * GridX, b = (k + 1) * GridX;
        for (int i = 0; i < GridX; i++)
        {
            dx[i] = DxPx[a + i] + f * (DxPx[b + i] - DxPx[a + i]);
            dy[i] = DyPx[a + i] + f * (DyPx[b + i] - DyPx[a + i]);
        }
    }

    private static void Locate(double[] nodes, double p, out int k, out float frac)
    {
        int last = nodes.Length - 2;
        k = 0;
        while (k < last && p > nodes[k + 1]) k++;
        frac = (float)Math.Clamp((p - nodes[k]) / (nodes[k + 1] - nodes[k]), 0, 1);
    }
}
