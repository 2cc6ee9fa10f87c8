namespace ClosedLoop.Spikes;

/// <summary>
/// The last <see cref="Frames"/> frames of one value per unit, written by the fast loop and copied by a slow thread
/// for refits. Rows are published seqlock-style (frame being written, then frame written), so a copy can tell which
/// rows were whole while it was taken. Writing allocates nothing.
/// </summary>
internal sealed class FrameHistory
{
    private readonly float[] _rows;
    private long _writing = -1, _written = -1;

    /// <summary>Creates an empty history of <paramref name="frames"/> rows of <paramref name="units"/> values.</summary>
    public FrameHistory(int frames, int units)
    {
        Frames = frames;
        Units = units;
        _rows = new float[checked(frames * units)];
    }

    /// <summary>Rows kept.</summary>
    public int Frames { get; }

    /// <summary>Values per row.</summary>
    public int Units { get; }

    /// <summary>Frames written so far (any thread).</summary>
    public long Count => Volatile.Read(ref _written) + 1;

    /// <summary>The value of <paramref name="unit"/> at <paramref name="frame"/>, one of the last <see cref="Frames"/>
    /// written; for the writing thread.</summary>
    public float this[long frame, int unit] => _rows[(int)(frame % Frames) * Units + unit];

    /// <summary>Writes the row of <paramref name="frame"/> (frames in order, from 0); fast loop only.</summary>
    public void Write(long frame, ReadOnlySpan<float> values)
    {
        Volatile.Write(ref _writing, frame);
        Interlocked.MemoryBarrier();
        values[..Units].CopyTo(_rows.AsSpan((int)(frame % Frames) * Units, Units));
        Volatile.Write(ref _written, frame);
    }

    /// <summary>Copies the rows that were whole during the copy (the row being written may be torn; rows the writer
    /// had not come round to again are whole), oldest first; null while fewer than <paramref name="minFrames"/> such
    /// rows exist (after a few tries). Any thread but the writer's.</summary>
    public Snapshot? TryCopy(int minFrames)
    {
        for (int attempt = 0; ; attempt++)
        {
            long last = Volatile.Read(ref _written);
            var copy = (float[])_rows.Clone();
            Interlocked.MemoryBarrier();
            long writing = Volatile.Read(ref _writing);
            long first = Math.Max(0, writing - Frames + 1);
            if (last - first + 1 >= minFrames) return new Snapshot(copy, first, (int)(last - first + 1), Frames, Units);
            if (last + 1 < minFrames || attempt >= 3) return null;
        }
    }

    /// <summary>A copy of whole rows: frames <see cref="First"/> … <see cref="First"/> + <see cref="Length"/> − 1.</summary>
    public sealed class Snapshot
    {
        private readonly float[] _rows;
        private readonly int _frames, _units;

        internal Snapshot(float[] rows, long first, int length, int frames, int units)
        {
            _rows = rows; First = first; Length = length; _frames = frames; _units = units;
        }

        /// <summary>First frame held.</summary>
        public long First { get; }

        /// <summary>Frames held.</summary>
        public int Length { get; }

        /// <summary>The values of <paramref name="unit"/>, oldest first, into the first <see cref="Length"/> elements.</summary>
        public void Column(int unit, Span<float> into)
        {
            for (int k = 0; k < Length; k++) into[k] = _rows[(int)((First + k) % _frames) * _units + unit];
        }

        /// <summary>The values of <paramref name="unit"/>, oldest first, into the first <see cref="Length"/> elements.</summary>
        public void Column(int unit, Span<double> into)
        {
            for (int k = 0; k < Length; k++) into[k] = _rows[(int)((First + k) % _frames) * _units + unit];
        }
    }
}
