namespace ClosedLoop.Spikes;

/// <summary>
/// The online OASIS core for one unit (AR(1) pools; AR(2) through a causal pre-filter that removes the rise). Each
/// sample adds a pool and merges it backwards while it violates the spike constraint, so the cost is O(1) amortised per
/// sample. Pools live in a ring of fixed capacity: nothing is allocated after construction. Used by the stage (one per
/// unit) and by the offline entry (one with room for the whole trace), so both compute the same thing.
/// </summary>
internal sealed class OasisTrack
{
    // Pool k: calcium c(t) = Value · γ^(t − Start) for Start ≤ t < Start + Length; Weight = Σ γ^(2(t − Start));
    // DecayToEnd = γ^Length (the factor from the pool's start to the sample after its end).
    private readonly double[] _value, _weight, _decayToEnd;
    private readonly long[] _start;
    private readonly int[] _length;
    private readonly int _capacity;
    private readonly int _lookAhead;
    private int _head, _count;
    private long _next;
    private bool _evicted;
    private double _floorEnd;
    private double _prevInput;
    private OasisParameters _p;
    private double _shift;

    public OasisTrack(int capacity, int lookAheadFrames)
    {
        _capacity = capacity;
        _lookAhead = lookAheadFrames;
        _value = new double[capacity];
        _weight = new double[capacity];
        _decayToEnd = new double[capacity];
        _start = new long[capacity];
        _length = new int[capacity];
    }

    public OasisParameters Parameters => _p;

    /// <summary>Index the next sample will get.</summary>
    public long NextIndex => _next;

    /// <summary>Forgets every pool and starts again at sample <paramref name="firstIndex"/> with new parameters.</summary>
    public void Reset(in OasisParameters parameters, long firstIndex)
    {
        _p = parameters;
        // λ·Σ s(t) = λ·Σ (c(t) − γ c(t−1)) = λ(1 − γ)·Σ c(t) (up to the last sample): the penalty is a constant
        // subtracted from every sample.
        _shift = parameters.Lambda * (1 - parameters.Gamma);
        _head = _count = 0;
        _next = firstIndex;
        _evicted = false;
        _floorEnd = 0;
        _prevInput = 0;
    }

    /// <summary>Adds one sample and returns the spike amplitude now estimated for sample (this one − look-ahead), or 0
    /// while that sample does not exist yet. A NaN sample is replaced by the model's own prediction.</summary>
    public double Add(double y)
    {
        double u;
        if (double.IsNaN(y))
        {
            u = _count > 0 ? _value[Last] * _decayToEnd[Last] : 0;
        }
        else
        {
            double yb = y - _p.Baseline;
            // AR(2) = AR(1) in u(t) = y(t) − r·y(t−1): the rise factor r is undone causally, the decay stays in the pools.
            u = _p.Rise > 0 ? yb - _p.Rise * _prevInput : yb;
            _prevInput = yb;
            u -= _shift;
        }

        if (_count == _capacity)
        {
            _floorEnd = _value[_head] * _decayToEnd[_head];
            _head = _head + 1 == _capacity ? 0 : _head + 1;
            _count--;
            _evicted = true;
        }
        int slot = Slot(_count++);
        _value[slot] = u;
        _weight[slot] = 1;
        _decayToEnd[slot] = _p.Gamma;
        _start[slot] = _next;
        _length[slot] = 1;

        double sMin = _p.MinSpike;
        while (_count >= 2)
        {
            int b = Slot(_count - 1), a = Slot(_count - 2);
            double ga = _decayToEnd[a];
            if (_value[b] >= ga * _value[a] + sMin) break;
            // Merge pool b into a: the least-squares value of one exponential over both stretches.
            double gw = ga * ga * _weight[b];
            _value[a] = (_weight[a] * _value[a] + ga * _weight[b] * _value[b]) / (_weight[a] + gw);
            _weight[a] += gw;
            _decayToEnd[a] = ga * _decayToEnd[b];
            _length[a] += _length[b];
            _count--;
        }
        if (_count == 1 && _value[_head] < 0) _value[_head] = 0;
        _next++;

        long target = _next - 1 - _lookAhead;
        if (target < 0) return 0;
        int k = _count - 1;
        while (k > 0 && _start[Slot(k)] > target) k--;
        int s = Slot(k);
        if (_start[s] != target) return 0;
        double spike;
        if (k > 0)
        {
            int prev = Slot(k - 1);
            spike = _value[s] - _decayToEnd[prev] * _value[prev];
        }
        else if (_evicted)
        {
            spike = _value[s] - _floorEnd;
        }
        else
        {
            return 0; // the first pool's start is the initial condition, not a spike
        }
        return spike > 0 ? spike : 0;
    }

    /// <summary>Writes the current full solution: spike amplitude and fitted calcium (plus baseline) for the samples
    /// from the oldest pool kept to the last one, at positions relative to <paramref name="firstIndex"/>.</summary>
    public void Solution(long firstIndex, Span<double> spikes, Span<double> calcium)
    {
        spikes.Clear();
        double prevC = 0;
        for (int k = 0; k < _count; k++)
        {
            int s = Slot(k);
            double v = _value[s];
            long start = _start[s];
            if (k > 0)
            {
                int p = Slot(k - 1);
                int at = (int)(start - firstIndex);
                if (at >= 0 && at < spikes.Length) spikes[at] = Math.Max(0, v - _decayToEnd[p] * _value[p]);
            }
            double c = v;
            for (int i = 0; i < _length[s]; i++, c *= _p.Gamma)
            {
                int at = (int)(start + i - firstIndex);
                // Back from the pools (u, the decay-only trace) to the model's calcium: c(t) = u(t) + r·c(t−1).
                double cal = _p.Rise > 0 ? c + _p.Rise * prevC : c;
                prevC = cal;
                if (at >= 0 && at < calcium.Length) calcium[at] = cal + _p.Baseline;
            }
        }
    }

    private int Last => Slot(_count - 1);

    private int Slot(int k)
    {
        int i = _head + k;
        return i >= _capacity ? i - _capacity : i;
    }
}
