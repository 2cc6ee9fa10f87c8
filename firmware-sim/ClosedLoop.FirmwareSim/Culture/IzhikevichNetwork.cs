using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace ClosedLoop.FirmwareSim.Culture;

/// <summary>
/// A spiking network of Izhikevich neurons (Izhikevich 2003, 2006): regular-spiking excitatory neurons
/// (a = 0.02, b = 0.2, c = −65, d = 8) followed by fast-spiking inhibitory ones (a = 0.1, b = 0.2, c = −65, d = 2),
/// sparse random connectivity with integer axonal delays, additive STDP on excitatory synapses, Tsodyks–Markram
/// short-term depression and Gaussian input noise.
/// <para>One <see cref="Step"/> advances 1 ms: the membrane is integrated as two 0.5 ms half-steps (u once), spikes are
/// detected at v ≥ 30 mV, and every spike is delivered to each target exactly its delay later (a spike at t with delay
/// d adds its weight to the target's input at t + d). STDP is event driven with exponential traces (τ = StdpTauMs):
/// when a neuron fires, each plastic synapse onto it gains A+ × the presynaptic trace as seen at the synapse (i.e.
/// delayed by the synapse's delay); when a spike arrives at a synapse, it loses A− × the postsynaptic trace. Weights
/// stay in [0, MaxWeight] and may decay slowly toward 0 (WeightDecayPerS). Cost per step: O(N) for the neurons plus O(spikes × fan-out);
/// <see cref="Step"/> allocates nothing.</para>
/// Neurons 0 … <see cref="ExcitatoryCount"/> − 1 are excitatory. Not thread-safe: one thread steps a network.
/// </summary>
public sealed class IzhikevichNetwork
{
    private const float SpikeThresholdMv = 30f;
    private const int DecayIntervalMs = 10;

    private readonly int _n, _ne, _maxDelay, _ring;
    private readonly float[] _v, _u, _a, _b, _c, _d;
    private readonly float[] _external, _synaptic, _noise, _total;

    // Outgoing synapses (CSR by presynaptic neuron, sorted by delay within a neuron).
    private readonly int[] _post;
    private readonly float[] _w;
    private readonly byte[] _delay;
    private readonly int[] _offsets; // _offsets[i * maxDelay + (d − 1)] = first synapse of neuron i with delay d
    private readonly int _plasticEnd; // synapses [0, _plasticEnd) come from excitatory neurons
    private readonly bool[]? _plasticMask; // null: every excitatory synapse is plastic

    // Incoming plastic synapses per postsynaptic neuron (for LTP when it fires).
    private readonly int[] _inStart, _inSynapse, _inPre;
    private readonly byte[] _inDelay;

    // Spike history (ring of _ring ms) and traces.
    private readonly int[][] _fired;
    private readonly float[][] _firedEfficacy;
    private readonly int[] _firedCount;
    private readonly float[][] _preTrace;
    private readonly float[] _postTrace;
    private readonly float _traceDecay;

    // Short-term depression: available resources per presynaptic neuron, updated lazily at its spikes.
    private readonly float[] _resources;
    private readonly long[] _lastSpikeMs;

    private readonly int[] _spikes;
    private readonly byte[] _spikeHalf;
    private readonly long[] _spikeCounts;
    private int _spikeCount;
    private long _timeMs;

    private readonly GaussianNoise _noiseSource;
    private readonly float _noiseSd, _aPlus, _aMinus, _maxWeight, _decayFactor, _utilisation, _recoveryMs;
    private readonly bool _std;

    /// <summary>Builds the network (connectivity and initial state) from <paramref name="settings"/>, which are validated.
    /// With <see cref="CultureSettings.ConnectionLengthUm"/> &gt; 0 the soma positions (<paramref name="xUm"/>,
    /// <paramref name="yUm"/>, µm) make near neurons likelier targets; without positions, targets are uniform.</summary>
    public IzhikevichNetwork(CultureSettings settings, ReadOnlySpan<float> xUm = default, ReadOnlySpan<float> yUm = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        Settings = settings;
        _n = settings.NeuronCount;
        _ne = settings.ExcitatoryCount;
        _maxDelay = settings.MaxDelayMs;
        _ring = _maxDelay + 1;
        _v = new float[_n]; _u = new float[_n]; _a = new float[_n]; _b = new float[_n]; _c = new float[_n]; _d = new float[_n];
        for (int i = 0; i < _n; i++)
        {
            bool exc = i < _ne;
            _a[i] = exc ? 0.02f : 0.1f;
            _b[i] = 0.2f;
            _c[i] = -65f;
            _d[i] = exc ? 8f : 2f;
            _v[i] = -65f;
            _u[i] = _b[i] * _v[i];
        }
        _external = new float[_n];
        _synaptic = new float[_n];
        _noise = new float[_n + 1];
        _total = new float[_n];

        var random = new SimRandom(settings.Seed, 101);
        int m = settings.ConnectionsPerNeuron;
        _post = new int[_n * m];
        _w = new float[_n * m];
        _delay = new byte[_n * m];
        _offsets = new int[_n * _maxDelay + 1];
        BuildConnectivity(settings, ref random, m, xUm, yUm);
        _plasticEnd = _ne * m;
        if (!settings.PlasticExcitatoryToInhibitory)
        {
            _plasticMask = new bool[_plasticEnd];
            for (int s = 0; s < _plasticEnd; s++) _plasticMask[s] = _post[s] < _ne;
        }

        // Incoming plastic synapses, grouped by target.
        _inStart = new int[_n + 1];
        for (int s = 0; s < _plasticEnd; s++)
            if (IsPlastic(s)) _inStart[_post[s] + 1]++;
        for (int i = 0; i < _n; i++) _inStart[i + 1] += _inStart[i];
        int incoming = _inStart[_n];
        _inSynapse = new int[incoming];
        _inPre = new int[incoming];
        _inDelay = new byte[incoming];
        var fill = (int[])_inStart.Clone();
        for (int pre = 0; pre < _ne; pre++)
            for (int s = _offsets[pre * _maxDelay]; s < _offsets[(pre + 1) * _maxDelay]; s++)
            {
                if (!IsPlastic(s)) continue;
                int k = fill[_post[s]]++;
                _inSynapse[k] = s;
                _inPre[k] = pre;
                _inDelay[k] = _delay[s];
            }

        _fired = new int[_ring][];
        _firedEfficacy = new float[_ring][];
        _preTrace = new float[_ring][];
        for (int r = 0; r < _ring; r++)
        {
            _fired[r] = new int[_n];
            _firedEfficacy[r] = new float[_n];
            _preTrace[r] = new float[_n];
        }
        _firedCount = new int[_ring];
        _postTrace = new float[_n];
        _traceDecay = (float)Math.Exp(-1.0 / settings.StdpTauMs);
        _resources = new float[_n];
        Array.Fill(_resources, 1f);
        _lastSpikeMs = new long[_n];
        _spikes = new int[_n];
        _spikeHalf = new byte[_n];
        _spikeCounts = new long[_n];

        _noiseSource = new GaussianNoise(settings.Seed, 102);
        _noiseSd = (float)settings.NoiseSd;
        _aPlus = (float)settings.StdpPotentiation;
        _aMinus = (float)settings.StdpDepression;
        _maxWeight = (float)settings.MaxWeight;
        _decayFactor = (float)Math.Pow(1 - settings.WeightDecayPerS, DecayIntervalMs / 1000.0);
        _std = settings.ShortTermDepression;
        _utilisation = (float)settings.DepressionUtilisation;
        _recoveryMs = (float)settings.DepressionRecoveryMs;
        PlasticityEnabled = true;
    }

    /// <summary>The settings the network was built from.</summary>
    public CultureSettings Settings { get; }

    /// <summary>Neurons.</summary>
    public int NeuronCount => _n;

    /// <summary>Excitatory neurons (indices 0 … this − 1).</summary>
    public int ExcitatoryCount => _ne;

    /// <summary>Synapses.</summary>
    public int SynapseCount => _post.Length;

    /// <summary>Milliseconds simulated (steps taken).</summary>
    public long TimeMs => _timeMs;

    /// <summary>Whether STDP and weight decay act (true by default). May change between steps, e.g. to probe a
    /// network without changing it.</summary>
    public bool PlasticityEnabled { get; set; }

    /// <summary>Input (mV) added to each neuron during the next <see cref="Step"/> only, e.g. stimulation; cleared by it.</summary>
    public Span<float> ExternalInput => _external;

    /// <summary>Neurons that fired in the last step.</summary>
    public ReadOnlySpan<int> Spikes => _spikes.AsSpan(0, _spikeCount);

    /// <summary>For each of <see cref="Spikes"/>, the half-step it fired in (0: first 0.5 ms of the step, 1: second).</summary>
    public ReadOnlySpan<byte> SpikeHalfSteps => _spikeHalf.AsSpan(0, _spikeCount);

    /// <summary>Spikes fired by each neuron since construction.</summary>
    public ReadOnlySpan<long> SpikeCounts => _spikeCounts;

    /// <summary>Membrane potentials, mV.</summary>
    public ReadOnlySpan<float> MembranePotentials => _v;

    /// <summary>Synaptic weights in synapse order (mV per spike; inhibitory ones negative).</summary>
    public ReadOnlySpan<float> Weights => _w;

    /// <summary>Target of synapse <paramref name="synapse"/>.</summary>
    public int PostOf(int synapse) => _post[synapse];

    /// <summary>Source of synapse <paramref name="synapse"/>.</summary>
    public int PreOf(int synapse) => synapse / Settings.ConnectionsPerNeuron;

    /// <summary>Axonal delay of synapse <paramref name="synapse"/>, ms.</summary>
    public int DelayOf(int synapse) => _delay[synapse];

    /// <summary>Outgoing synapses of neuron <paramref name="pre"/> (a range of synapse indices).</summary>
    public Range OutgoingOf(int pre) => _offsets[pre * _maxDelay].._offsets[(pre + 1) * _maxDelay];

    /// <summary>Whether STDP acts on synapse <paramref name="synapse"/>.</summary>
    public bool IsPlastic(int synapse) => synapse < _plasticEnd && (_plasticMask is null || _plasticMask[synapse]);

    /// <summary>Sets a weight (tests and experiments that prepare a network); plastic weights are clipped to [0, MaxWeight].</summary>
    public void SetWeight(int synapse, float weight) =>
        _w[synapse] = IsPlastic(synapse) ? Math.Clamp(weight, 0f, _maxWeight) : weight;

    /// <summary>The synapse from <paramref name="pre"/> to <paramref name="post"/>, or −1.</summary>
    public int FindSynapse(int pre, int post)
    {
        Range r = OutgoingOf(pre);
        for (int s = r.Start.Value; s < r.End.Value; s++) if (_post[s] == post) return s;
        return -1;
    }

    /// <summary>Advances the network by 1 ms.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot path: optimised from the first call, no tiering warm-up
    public void Step()
    {
        long t = _timeMs;
        int slot = (int)(t % _ring);

        // Input: synaptic arrivals for this ms + external + noise.
        if (_noiseSd > 0) _noiseSource.Fill(_noise.AsSpan(0, _n), _noiseSd);
        else Array.Clear(_noise);
        TensorPrimitives.Add(_synaptic, _external, _total);
        TensorPrimitives.Add(_total, _noise.AsSpan(0, _n), _total);
        Array.Clear(_synaptic);
        Array.Clear(_external);

        // Membrane: two 0.5 ms half-steps for v, one step for u.
        _spikeCount = 0;
        for (int i = 0; i < _n; i++)
        {
            float v = _v[i], u = _u[i], input = _total[i];
            v += 0.5f * ((0.04f * v + 5f) * v + 140f - u + input);
            byte half = 0;
            if (v < SpikeThresholdMv)
            {
                v += 0.5f * ((0.04f * v + 5f) * v + 140f - u + input);
                half = 1;
            }
            u += _a[i] * (_b[i] * v - u);
            if (v >= SpikeThresholdMv)
            {
                v = _c[i];
                u += _d[i];
                _spikes[_spikeCount] = i;
                _spikeHalf[_spikeCount] = half;
                _spikeCount++;
            }
            _v[i] = v;
            _u[i] = u;
        }

        // Traces advance to t; the presynaptic trace of t is written into the ring slot of t.
        Decay(_postTrace, _postTrace, _traceDecay);
        float[] preNow = _preTrace[slot];
        Decay(_preTrace[(int)((t + _ring - 1) % _ring)], preNow, _traceDecay);

        int[] firedNow = _fired[slot];
        float[] efficacyNow = _firedEfficacy[slot];
        bool plastic = PlasticityEnabled;
        for (int k = 0; k < _spikeCount; k++)
        {
            int j = _spikes[k];
            _spikeCounts[j]++;
            if (plastic && _aPlus > 0) Potentiate(j, t);
            _postTrace[j] += 1f;
            preNow[j] += 1f;
            float efficacy = 1f;
            if (_std && j < _ne)
            {
                float x = 1f - (1f - _resources[j]) * MathF.Exp(-(t - _lastSpikeMs[j]) / _recoveryMs);
                efficacy = x;
                _resources[j] = x - _utilisation * x;
                _lastSpikeMs[j] = t;
            }
            firedNow[k] = j;
            efficacyNow[k] = efficacy;
        }
        _firedCount[slot] = _spikeCount;

        Deliver(t, plastic);

        _timeMs = t + 1;
        if (plastic && _decayFactor < 1f && _timeMs % DecayIntervalMs == 0) DecayWeights();
    }

    /// <summary>destination = source × factor, with values below 1e−6 set to 0: a trace left to decay for seconds would
    /// otherwise become a denormal float, and arithmetic on denormals is many times slower.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot path: optimised from the first call, no tiering warm-up
    private static void Decay(ReadOnlySpan<float> source, Span<float> destination, float factor)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var f = new Vector<float>(factor);
            var floor = new Vector<float>(1e-6f);
            for (; i <= source.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                Vector<float> v = new Vector<float>(source[i..]) * f;
                Vector.ConditionalSelect(Vector.GreaterThan(v, floor), v, Vector<float>.Zero).CopyTo(destination[i..]);
            }
        }
        for (; i < source.Length; i++)
        {
            float v = source[i] * factor;
            destination[i] = v > 1e-6f ? v : 0f;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private void Potentiate(int post, long t)
    {
        for (int k = _inStart[post]; k < _inStart[post + 1]; k++)
        {
            float trace = _preTrace[(int)((t - _inDelay[k] + _ring) % _ring)][_inPre[k]];
            if (trace <= 0f) continue;
            int s = _inSynapse[k];
            float w = _w[s] + _aPlus * trace;
            _w[s] = w > _maxWeight ? _maxWeight : w;
        }
    }

    /// <summary>Delivers every spike that arrives at t + 1 into the synaptic input of the next step, depressing plastic
    /// synapses by the target's trace (post-before-pre).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot path: optimised from the first call, no tiering warm-up
    private void Deliver(long t, bool plastic)
    {
        float depress = plastic ? _aMinus * _traceDecay : 0f;
        for (int d = 1; d <= _maxDelay; d++)
        {
            long ts = t + 1 - d;
            if (ts < 0) break;
            int slot = (int)(ts % _ring);
            int count = _firedCount[slot];
            if (count == 0) continue;
            int[] fired = _fired[slot];
            float[] efficacy = _firedEfficacy[slot];
            for (int k = 0; k < count; k++)
            {
                int pre = fired[k];
                int start = _offsets[pre * _maxDelay + d - 1], end = _offsets[pre * _maxDelay + d];
                float eff = efficacy[k];
                if (pre < _ne && depress > 0f)
                {
                    for (int s = start; s < end; s++)
                    {
                        int post = _post[s];
                        float w = _w[s];
                        _synaptic[post] += w * eff;
                        if (_plasticMask is not null && !_plasticMask[s]) continue;
                        w -= depress * _postTrace[post];
                        _w[s] = w < 0f ? 0f : w;
                    }
                }
                else
                {
                    for (int s = start; s < end; s++) _synaptic[_post[s]] += _w[s] * eff;
                }
            }
        }
    }

    private void DecayWeights()
    {
        Span<float> plasticWeights = _w.AsSpan(0, _plasticEnd);
        if (_plasticMask is null)
        {
            TensorPrimitives.Multiply(plasticWeights, _decayFactor, plasticWeights);
            return;
        }
        for (int s = 0; s < plasticWeights.Length; s++)
            if (_plasticMask[s]) plasticWeights[s] *= _decayFactor;
    }

    private void BuildConnectivity(CultureSettings settings, ref SimRandom random, int m, ReadOnlySpan<float> xUm, ReadOnlySpan<float> yUm)
    {
        bool local = settings.ConnectionLengthUm > 0 && xUm.Length == _n && yUm.Length == _n;
        double inverseTwoSigma2 = local ? 1 / (2 * settings.ConnectionLengthUm * settings.ConnectionLengthUm) : 0;
        var stamp = new int[_n]; // stamp[target] == pre + 1: already a target of pre
        var targets = new int[m];
        var delays = new int[m];
        var perDelay = new int[_maxDelay + 1];
        var cursor = new int[_maxDelay + 1];
        int minDelay = settings.MinDelayMs;
        float wInit = (float)settings.InitialExcitatoryWeightMax, wInh = (float)settings.InhibitoryWeight;
        int next = 0;
        for (int pre = 0; pre < _n; pre++)
        {
            bool exc = pre < _ne;
            // m distinct targets by rejection (m is at most the pool size − 1 and usually far smaller): any other neuron
            // for an excitatory source, excitatory neurons only for an inhibitory one.
            int pool = exc ? _n : _ne;
            stamp[pre] = pre + 1;
            for (int k = 0; k < m; k++)
            {
                int target, attempts = 0;
                while (true)
                {
                    target = (int)(random.NextUInt64() % (ulong)pool);
                    if (stamp[target] == pre + 1) continue;
                    if (!local || ++attempts > 10_000) break; // a tiny σ on a sparse dish: fall back to uniform
                    // Accept with a Gaussian probability of the distance (rejection sampling).
                    double dx = xUm[target] - xUm[pre], dy = yUm[target] - yUm[pre];
                    if (random.NextDouble() < Math.Exp(-(dx * dx + dy * dy) * inverseTwoSigma2)) break;
                }
                stamp[target] = pre + 1;
                targets[k] = target;
                delays[k] = exc ? minDelay + (int)(random.NextUInt64() % (ulong)(_maxDelay - minDelay + 1)) : minDelay;
            }
            // Counting sort by delay.
            Array.Clear(perDelay);
            for (int k = 0; k < m; k++) perDelay[delays[k]]++;
            int offset = next;
            for (int d = 1; d <= _maxDelay; d++)
            {
                _offsets[pre * _maxDelay + d - 1] = offset;
                offset += perDelay[d];
            }
            for (int d = 1; d <= _maxDelay; d++) cursor[d] = _offsets[pre * _maxDelay + d - 1];
            for (int k = 0; k < m; k++)
            {
                int s = cursor[delays[k]]++;
                _post[s] = targets[k];
                _delay[s] = (byte)delays[k];
                _w[s] = exc ? wInit * (float)random.NextDouble() : wInh;
            }
            next += m;
        }
        _offsets[_n * _maxDelay] = next;
    }
}
