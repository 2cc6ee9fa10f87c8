using System.Globalization;

namespace ClosedLoop.FirmwareSim;

/// <summary>
/// Real spike trains shipped with firmware-sim (an excerpt of the Spikefinder ground truth, see Data/README.md):
/// per recorded neuron its spike times in seconds (each spike at the centre of its 10 ms sample) and the recording's
/// length. Loaded once, immutable, shared by every tissue.
/// </summary>
public sealed class SpikefinderTrains
{
    /// <summary>Sampling rate of the recorded trains, in Hz.</summary>
    public const double SampleRateHz = 100;

    private static readonly Lazy<SpikefinderTrains> Shared = new(Load);

    private SpikefinderTrains(string[] names, double[][] timesS, double[] durationS)
    {
        Names = names;
        TimesS = timesS;
        DurationS = durationS;
    }

    /// <summary>The shipped excerpt.</summary>
    public static SpikefinderTrains Excerpt => Shared.Value;

    /// <summary>Name of each recorded neuron (<c>4.train/0</c> = dataset 4, training file, column 0).</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>Spike times of each neuron, ascending, in s from the start of its recording.</summary>
    public IReadOnlyList<double[]> TimesS { get; }

    /// <summary>Length of each neuron's recording, in s.</summary>
    public IReadOnlyList<double> DurationS { get; }

    /// <summary>Number of recorded neurons.</summary>
    public int Count => Names.Count;

    /// <summary>Mean firing rate of neuron <paramref name="source"/> over its recording, in Hz.</summary>
    public double RateHz(int source) => TimesS[source].Length / DurationS[source];

    private static SpikefinderTrains Load()
    {
        using var stream = typeof(SpikefinderTrains).Assembly.GetManifestResourceStream("ClosedLoop.FirmwareSim.Data.SpikefinderExcerpt.txt")
            ?? throw new InvalidOperationException("The Spikefinder excerpt is missing from the firmware-sim assembly.");
        using var reader = new StreamReader(stream);
        var names = new List<string>();
        var times = new List<double[]>();
        var durations = new List<double>();
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            int samples = int.Parse(parts[1], CultureInfo.InvariantCulture);
            var t = new double[parts.Length - 2];
            long index = 0;
            for (int i = 2; i < parts.Length; i++)
            {
                index += long.Parse(parts[i], CultureInfo.InvariantCulture);
                t[i - 2] = (index + 0.5) / SampleRateHz;
            }
            if (t.Length == 0) continue;
            names.Add(parts[0]);
            times.Add(t);
            durations.Add(samples / SampleRateHz);
        }
        return new SpikefinderTrains(names.ToArray(), times.ToArray(), durations.ToArray());
    }
}

/// <summary>
/// Spontaneous spikes drawn from real trains: each simulated neuron plays a segment of a recorded neuron, starting
/// at a random point; when the recording runs out it goes on with another recorded neuron from its start. With rate
/// matching, recorded time runs at (wanted rate / recorded rate) seconds per simulated second, so every neuron's
/// long-run rate is its drawn rate while bursts and interval ratios stay those of the recording. Allocation-free.
/// </summary>
internal sealed class SpikefinderSampler
{
    private readonly SpikefinderTrains _trains;
    private readonly double[] _targetRateHz;
    private readonly bool _matchRate;
    private readonly int[] _source;
    private readonly int[] _cursor;
    private readonly double[] _segmentStartS;
    private readonly double[] _sourceStartS;
    private readonly double[] _scale;
    private SimRandom _rng;

    /// <summary>Starts every neuron at a random point of a random recorded train.</summary>
    public SpikefinderSampler(SpikefinderTrains trains, ReadOnlySpan<float> targetRateHz, bool matchRate, SimRandom rng)
    {
        _trains = trains;
        _matchRate = matchRate;
        int n = targetRateHz.Length;
        _targetRateHz = new double[n];
        for (int i = 0; i < n; i++) _targetRateHz[i] = targetRateHz[i];
        _source = new int[n];
        _cursor = new int[n];
        _segmentStartS = new double[n];
        _sourceStartS = new double[n];
        _scale = new double[n];
        _rng = rng;
        for (int i = 0; i < n; i++)
        {
            int source = (int)(_rng.NextDouble() * trains.Count);
            StartSegment(i, source, _rng.NextDouble() * trains.DurationS[source], 0);
        }
    }

    /// <summary>Recorded neuron each simulated neuron is playing now.</summary>
    public ReadOnlySpan<int> Source => _source;

    /// <summary>Rate of neuron <paramref name="neuron"/>'s current segment in simulated time, in Hz.</summary>
    public double SegmentRateHz(int neuron) => _trains.RateHz(_source[neuron]) * _scale[neuron];

    /// <summary>Adds to <paramref name="spikes"/> the spikes each neuron fires before <paramref name="endS"/> (simulated
    /// time, s) that it has not fired yet.</summary>
    public void Fire(double endS, Span<int> spikes)
    {
        for (int n = 0; n < spikes.Length; n++)
        {
            if (_matchRate && _targetRateHz[n] <= 0) continue;
            while (true)
            {
                int source = _source[n];
                var times = _trains.TimesS[source];
                double duration = _trains.DurationS[source];
                double sourceEnd = _sourceStartS[n] + (endS - _segmentStartS[n]) * _scale[n];
                int c = _cursor[n];
                while (c < times.Length && times[c] < sourceEnd && times[c] < duration) { spikes[n]++; c++; }
                _cursor[n] = c;
                if (sourceEnd < duration) break;
                // The recording ran out inside this frame: go on with another recorded neuron from its start.
                double switchS = _segmentStartS[n] + (duration - _sourceStartS[n]) / _scale[n];
                StartSegment(n, (int)(_rng.NextDouble() * _trains.Count), 0, switchS);
            }
        }
    }

    private void StartSegment(int neuron, int source, double sourceStartS, double atS)
    {
        var times = _trains.TimesS[source];
        _source[neuron] = source;
        _sourceStartS[neuron] = sourceStartS;
        _segmentStartS[neuron] = atS;
        _scale[neuron] = _matchRate && _targetRateHz[neuron] > 0 ? _targetRateHz[neuron] / _trains.RateHz(source) : 1.0;
        int lo = 0, hi = times.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >> 1;
            if (times[mid] < sourceStartS) lo = mid + 1; else hi = mid;
        }
        _cursor[neuron] = lo;
    }
}
