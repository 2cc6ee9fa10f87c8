using System.Runtime.CompilerServices;
using ClosedLoop.Core;

namespace ClosedLoop.FirmwareSim.Culture;

/// <summary>
/// A dissociated culture on a multi-electrode array: an <see cref="IzhikevichNetwork"/> whose neurons are spread
/// uniformly over the array (its bounding box widened by <see cref="CultureSettings.DishMarginUm"/>), recorded by
/// <see cref="ElectrodePickup"/> and stimulated by <see cref="ElectricalStimulation"/>. <see cref="Step"/> advances
/// 1 ms: the step's stimulation becomes neuron input, the network steps, and (when <see cref="RecordingEnabled"/>)
/// the electrodes' samples for that ms are rendered into <see cref="LastSamplesUv"/>. Deterministic for a seed;
/// allocation-free per step; one thread steps a culture.
/// </summary>
public sealed class VirtualCulture
{
    private readonly float[] _xUm, _yUm;
    private readonly float[] _samplesUv, _coupledUa;

    /// <summary>Builds the culture from <paramref name="settings"/> (validated first).</summary>
    /// <exception cref="SettingException">A setting is out of range; the message names it.</exception>
    public VirtualCulture(CultureSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        Settings = settings;
        Layout = settings.Layout;
        int n = settings.NeuronCount;
        _xUm = new float[n];
        _yUm = new float[n];
        var random = new SimRandom(settings.Seed, 301);
        double margin = settings.DishMarginUm;
        DishMinXUm = Layout.MinXUm - margin;
        DishMinYUm = Layout.MinYUm - margin;
        DishWidthUm = Layout.MaxXUm - Layout.MinXUm + 2 * margin;
        DishHeightUm = Layout.MaxYUm - Layout.MinYUm + 2 * margin;
        if (DishWidthUm <= 0 || DishHeightUm <= 0)
            throw new SettingException(nameof(CultureSettings.DishMarginUm), margin, "> 0 for an array whose electrodes lie on one line or point");
        for (int j = 0; j < n; j++)
        {
            _xUm[j] = (float)(DishMinXUm + random.NextDouble() * DishWidthUm);
            _yUm[j] = (float)(DishMinYUm + random.NextDouble() * DishHeightUm);
        }
        Network = new IzhikevichNetwork(settings, _xUm, _yUm);
        Pickup = new ElectrodePickup(settings, _xUm, _yUm);
        Stimulation = new ElectricalStimulation(settings, _xUm, _yUm, Pickup.SamplesPerStep);
        _samplesUv = new float[Layout.Count * Pickup.SamplesPerStep];
        _coupledUa = new float[Layout.Count * Pickup.SamplesPerStep];
    }

    /// <summary>The settings.</summary>
    public CultureSettings Settings { get; }

    /// <summary>The electrode array.</summary>
    public MeaLayout Layout { get; }

    /// <summary>The neurons and synapses.</summary>
    public IzhikevichNetwork Network { get; }

    /// <summary>The electrodes as recorders.</summary>
    public ElectrodePickup Pickup { get; }

    /// <summary>The electrodes as stimulators.</summary>
    public ElectricalStimulation Stimulation { get; }

    /// <summary>Whether <see cref="Step"/> renders electrode samples (true by default). Experiments that only need the
    /// spikes switch it off to run faster; the network's activity does not depend on it.</summary>
    public bool RecordingEnabled { get; set; } = true;

    /// <summary>Left edge of the dish area neurons occupy, µm (electrode coordinates).</summary>
    public double DishMinXUm { get; }

    /// <summary>Top edge of the dish area neurons occupy, µm.</summary>
    public double DishMinYUm { get; }

    /// <summary>Width of the dish area, µm.</summary>
    public double DishWidthUm { get; }

    /// <summary>Height of the dish area, µm.</summary>
    public double DishHeightUm { get; }

    /// <summary>Soma positions, µm.</summary>
    public ReadOnlySpan<float> NeuronXUm => _xUm;

    /// <summary>Soma positions, µm.</summary>
    public ReadOnlySpan<float> NeuronYUm => _yUm;

    /// <summary>Milliseconds simulated.</summary>
    public long TimeMs => Network.TimeMs;

    /// <summary>Samples per electrode per step.</summary>
    public int SamplesPerStep => Pickup.SamplesPerStep;

    /// <summary>The last step's electrode samples in µV, electrode-major: electrode e's samples are
    /// [e × <see cref="SamplesPerStep"/>, (e + 1) × <see cref="SamplesPerStep"/>). Sample i of step k is at time
    /// k ms + i / rate. Valid until the next step; zero when recording is off.</summary>
    public ReadOnlySpan<float> LastSamplesUv => _samplesUv;

    /// <summary>Shorthand for <see cref="ElectricalStimulation.AddBiphasicPulse"/>: a pulse at the start of the next step.</summary>
    public void Stimulate(int electrode, double amplitudeUa, double phaseUs = 200) =>
        Stimulation.AddBiphasicPulse(electrode, amplitudeUa, phaseUs);

    /// <summary>Advances 1 ms.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot path: optimised from the first call, no tiering warm-up
    public void Step()
    {
        bool stimulated = Stimulation.Apply(Network.ExternalInput, RecordingEnabled ? _coupledUa : Span<float>.Empty);
        long step = Network.TimeMs;
        Network.Step();
        if (!RecordingEnabled) return;
        Pickup.Record(step, Network.Spikes, Network.SpikeHalfSteps);
        Pickup.Render(step, _samplesUv, stimulated ? _coupledUa : ReadOnlySpan<float>.Empty, (float)Settings.Stimulation.ArtifactUvPerUa);
    }

    /// <summary>Distance from neuron <paramref name="neuron"/>'s soma to the centre of <paramref name="electrode"/> in
    /// the dish plane, µm.</summary>
    public double DistanceUm(int neuron, int electrode)
    {
        Electrode e = Layout.Electrodes[electrode];
        double dx = _xUm[neuron] - e.XUm, dy = _yUm[neuron] - e.YUm;
        return Math.Sqrt(dx * dx + dy * dy);
    }

    /// <summary>Neurons whose soma lies within <paramref name="radiusUm"/> of <paramref name="electrode"/> (in the plane),
    /// nearest first.</summary>
    public int[] NeuronsNear(int electrode, double radiusUm)
    {
        var list = new List<(double D, int J)>();
        for (int j = 0; j < _xUm.Length; j++)
        {
            double d = DistanceUm(j, electrode);
            if (d <= radiusUm) list.Add((d, j));
        }
        return list.OrderBy(x => x.D).Select(x => x.J).ToArray();
    }

    /// <summary>Neurons a threshold detector on <paramref name="electrode"/> would see: those whose spike amplitude there
    /// is at least <paramref name="minAmplitudeUv"/>.</summary>
    public int[] NeuronsRecordedBy(int electrode, double minAmplitudeUv)
    {
        var list = new List<int>();
        for (int j = 0; j < _xUm.Length; j++)
            if (Pickup.AmplitudeUv(j, electrode) >= minAmplitudeUv) list.Add(j);
        return list.ToArray();
    }
}
