using System.Text.Json;
using ClosedLoop.Core;

namespace ClosedLoop.Dashboard;

/// <summary>
/// The last few seconds of ΔF/F and rate of every unit, so a browser that selects a unit sees its recent trace at
/// once. Written by the dashboard thread from the tap's activity ring; preallocated, sample-major.
/// </summary>
internal sealed class TraceHistory
{
    /// <summary>Most floats kept for all units together (two arrays), so very many units shorten the history.</summary>
    private const long MaxFloats = 4_000_000;

    private readonly float[] _dff;
    private readonly float[] _rate;
    private readonly double[] _timeS;
    private readonly long[] _frameIndex;
    private long _total;

    public TraceHistory(int units, int samples)
    {
        Units = units;
        Capacity = (int)Math.Max(10, Math.Min(samples, MaxFloats / 2 / Math.Max(1, units)));
        _dff = new float[Capacity * units];
        _rate = new float[Capacity * units];
        _timeS = new double[Capacity];
        _frameIndex = new long[Capacity];
    }

    public int Units { get; }

    public int Capacity { get; }

    /// <summary>Samples appended since the run started.</summary>
    public long Total => _total;

    /// <summary>Oldest sample still held (in <see cref="Total"/> numbering).</summary>
    public long Oldest => Math.Max(0, _total - Capacity);

    public void Append(ActivitySnapshot s)
    {
        int slot = (int)(_total % Capacity);
        int n = Math.Min(Units, s.Dff.Length);
        s.Dff.AsSpan(0, n).CopyTo(_dff.AsSpan(slot * Units, n));
        s.Rate.AsSpan(0, n).CopyTo(_rate.AsSpan(slot * Units, n));
        _timeS[slot] = s.SampleTimeNs / 1e9;
        _frameIndex[slot] = s.FrameIndex;
        _total++;
    }

    /// <summary>A traces message for <paramref name="units"/> with samples from <paramref name="from"/> (clamped to what is held) to now.</summary>
    public byte[] Message(int[] units, long from, bool reset) => DashboardJson.Write(w =>
    {
        long start = Math.Max(from, Oldest);
        w.WriteString("type", "traces");
        w.WriteBoolean("reset", reset || from < Oldest);
        w.WriteStartArray("frames");
        for (long k = start; k < _total; k++) w.WriteNumberValue(_frameIndex[k % Capacity]);
        w.WriteEndArray();
        w.WriteStartArray("t");
        for (long k = start; k < _total; k++) w.WriteNumberValue(Math.Round(_timeS[k % Capacity], 6));
        w.WriteEndArray();
        w.WriteStartArray("units");
        foreach (int u in units)
        {
            w.WriteStartObject();
            w.WriteNumber("index", u);
            WriteSeries(w, "dff", _dff, u, start);
            WriteSeries(w, "rate", _rate, u, start);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    });

    private void WriteSeries(Utf8JsonWriter w, string name, float[] data, int unit, long start)
    {
        w.WriteStartArray(name);
        for (long k = start; k < _total; k++) DashboardJson.Value(w, data[(int)(k % Capacity) * Units + unit]);
        w.WriteEndArray();
    }
}
