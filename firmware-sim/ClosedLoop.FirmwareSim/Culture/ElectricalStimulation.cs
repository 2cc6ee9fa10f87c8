using System.Runtime.CompilerServices;
using ClosedLoop.Core;

namespace ClosedLoop.FirmwareSim.Culture;

/// <summary>
/// Electrical stimulation through the electrodes. Each step holds the current of every electrode at the pick-up
/// rate (µA, negative = cathodic), written either as biphasic pulses (<see cref="AddBiphasicPulse"/>) or sample by
/// sample (the simulated MEA's analog outputs). When the step runs, each stimulating electrode's phase charge
/// Q = ½ ∫ |I| dt (nC; the charge of one phase of a balanced biphasic pulse) reaches every neuron within
/// <see cref="StimulationSettings.CutoffUm"/> as input Q × gain / (1 + (d / λ)²) during that 1 ms step (the point
/// neuron responds to the depolarising phase and ignores the charge-balancing one), and the current couples onto every
/// recording electrode as an artifact, weighted 1 / (1 + d / 100 µm).
/// </summary>
public sealed class ElectricalStimulation
{
    private const double ArtifactCouplingUm = 100;

    private readonly int _electrodes, _samplesPerStep;
    private readonly double _samplePeriodUs;
    private readonly float[] _currentUa;
    private readonly bool[] _active;
    private readonly int[] _activeList;
    private int _activeCount;
    private readonly int[] _electrodeStart, _targetNeuron;
    private readonly float[] _targetGain;
    private readonly float[] _coupling; // [recording * E + stimulating]

    internal ElectricalStimulation(CultureSettings settings, ReadOnlySpan<float> xUm, ReadOnlySpan<float> yUm, int samplesPerStep)
    {
        StimulationSettings st = settings.Stimulation;
        MeaLayout layout = settings.Layout;
        _electrodes = layout.Count;
        _samplesPerStep = samplesPerStep;
        _samplePeriodUs = 1000.0 / samplesPerStep;
        _currentUa = new float[_electrodes * samplesPerStep];
        _active = new bool[_electrodes];
        _activeList = new int[_electrodes];

        _electrodeStart = new int[_electrodes + 1];
        var neurons = new List<int>();
        var gains = new List<float>();
        double h2 = settings.SomaHeightUm * settings.SomaHeightUm, lambda2 = st.SpreadUm * st.SpreadUm, cutoff2 = st.CutoffUm * st.CutoffUm;
        foreach (Electrode e in layout.Electrodes)
        {
            for (int j = 0; j < xUm.Length; j++)
            {
                double dx = xUm[j] - e.XUm, dy = yUm[j] - e.YUm;
                double d2 = dx * dx + dy * dy + h2;
                if (d2 > cutoff2) continue;
                neurons.Add(j);
                gains.Add((float)(st.DrivePerNanocoulomb / (1 + d2 / lambda2)));
            }
            _electrodeStart[e.Index + 1] = neurons.Count;
        }
        _targetNeuron = neurons.ToArray();
        _targetGain = gains.ToArray();

        _coupling = new float[_electrodes * _electrodes];
        foreach (Electrode r in layout.Electrodes)
            foreach (Electrode s in layout.Electrodes)
            {
                double d = Math.Sqrt((r.XUm - s.XUm) * (r.XUm - s.XUm) + (r.YUm - s.YUm) * (r.YUm - s.YUm));
                _coupling[r.Index * _electrodes + s.Index] = (float)(1 / (1 + d / ArtifactCouplingUm));
            }
    }

    /// <summary>Electrodes that carry current in the coming step.</summary>
    public int ActiveElectrodeCount => _activeCount;

    /// <summary>Pulses and sample currents applied so far, counted as steps × electrodes that carried current.</summary>
    public long ElectrodeStepsStimulated { get; private set; }

    /// <summary>Adds a biphasic, charge-balanced current pulse on <paramref name="electrode"/> at the start of the coming
    /// step: <paramref name="phaseUs"/> at −<paramref name="amplitudeUa"/> (cathodic) then <paramref name="phaseUs"/> at
    /// +<paramref name="amplitudeUa"/> (anodic-first when <paramref name="cathodicFirst"/> is false).</summary>
    /// <exception cref="SettingException">An electrode index, amplitude or phase out of range.</exception>
    public void AddBiphasicPulse(int electrode, double amplitudeUa, double phaseUs = 200, bool cathodicFirst = true)
    {
        if ((uint)electrode >= (uint)_electrodes) throw new SettingException("electrode", electrode, $"an electrode index 0 … {_electrodes - 1}");
        Check.InRange("amplitudeUa", amplitudeUa, 0, 10_000);
        Check.InRange("phaseUs", phaseUs, _samplePeriodUs, 500);
        int samples = Math.Max(1, (int)Math.Round(phaseUs / _samplePeriodUs));
        float first = (float)(cathodicFirst ? -amplitudeUa : amplitudeUa);
        Span<float> row = _currentUa.AsSpan(electrode * _samplesPerStep, _samplesPerStep);
        for (int i = 0; i < samples && i < row.Length; i++) row[i] += first;
        for (int i = samples; i < 2 * samples && i < row.Length; i++) row[i] -= first;
        MarkActive(electrode);
    }

    /// <summary>Sets the current of <paramref name="electrode"/> at sample <paramref name="sample"/> of the coming step (µA).</summary>
    internal void SetCurrent(int electrode, int sample, float currentUa)
    {
        _currentUa[electrode * _samplesPerStep + sample] = currentUa;
        if (currentUa != 0) MarkActive(electrode);
    }

    private void MarkActive(int electrode)
    {
        if (_active[electrode]) return;
        _active[electrode] = true;
        _activeList[_activeCount++] = electrode;
    }

    /// <summary>Turns the coming step's currents into neuron input (added to <paramref name="neuronInput"/>) and, when
    /// <paramref name="coupledCurrentUa"/> is not empty, into the current coupled onto each recording electrode
    /// (electrode-major, overwritten). Then clears the currents. Returns whether any electrode carried current.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot path: optimised from the first call, no tiering warm-up
    internal bool Apply(Span<float> neuronInput, Span<float> coupledCurrentUa)
    {
        if (_activeCount == 0) return false;
        int s = _samplesPerStep;
        if (!coupledCurrentUa.IsEmpty) coupledCurrentUa.Clear();
        for (int k = 0; k < _activeCount; k++)
        {
            int e = _activeList[k];
            Span<float> row = _currentUa.AsSpan(e * s, s);
            double absSum = 0;
            for (int i = 0; i < s; i++) absSum += Math.Abs(row[i]);
            float chargeNc = (float)(0.5 * absSum * _samplePeriodUs * 1e-3); // µA·µs = pC
            for (int p = _electrodeStart[e]; p < _electrodeStart[e + 1]; p++)
                neuronInput[_targetNeuron[p]] += chargeNc * _targetGain[p];
            if (!coupledCurrentUa.IsEmpty)
            {
                for (int r = 0; r < _electrodes; r++)
                {
                    float g = _coupling[r * _electrodes + e];
                    Span<float> target = coupledCurrentUa.Slice(r * s, s);
                    for (int i = 0; i < s; i++) target[i] += g * row[i];
                }
            }
            row.Clear();
            _active[e] = false;
        }
        ElectrodeStepsStimulated += _activeCount;
        _activeCount = 0;
        return true;
    }
}
