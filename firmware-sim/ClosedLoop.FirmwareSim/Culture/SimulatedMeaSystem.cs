using System.Globalization;
using ClosedLoop.Core;
using ClosedLoop.FirmwareSim.Daq;
using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.FirmwareSim.Culture;

/// <summary>Settings of a <see cref="SimulatedMeaSystem"/>. Read once at construction.</summary>
public sealed record SimulatedMeaOptions
{
    /// <summary>Manual (lock-step, as fast as the caller advances it) or real-time device clock.</summary>
    public DaqClockMode ClockMode { get; init; } = DaqClockMode.Manual;

    /// <summary>Delay from Start() to a task's first sample, ns.</summary>
    public long StartLatencyNs { get; init; } = 1_000_000;

    /// <summary>Device name (channels are <c>NAME/ai0</c> … and <c>NAME/ao0</c> …, one per electrode, in electrode order).</summary>
    public string DeviceName { get; init; } = "Mea1";

    /// <summary>Head-stage and amplifier gain: the ADC sees electrode volts × this (1000: 1 µV at the electrode is
    /// 1 mV at the ADC, so an AI range of ±5 V covers ±5 mV at the electrode).</summary>
    public double AmplifierGain { get; init; } = 1000;
}

/// <summary>
/// A multi-electrode array system around a <see cref="VirtualCulture"/>, behind the project's DAQ contracts
/// (<see cref="IDaqSystem"/>): one device whose AI channel <c>aiN</c> records electrode N and whose AO channel
/// <c>aoN</c> drives the stimulator of electrode N.
/// <list type="bullet">
/// <item><b>Recording.</b> An analog input task over <c>Mea1/ai0:59</c> returns raw int16 codes, interleaved by scan,
/// at the culture's pick-up rate (the task's <see cref="DaqTiming.SampleRateHz"/> must equal
/// <see cref="PickupSettings.SampleRateHz"/>). Electrode µV = code × <see cref="IAnalogInputTask.VoltsPerCode"/> / gain
/// × 10⁶ (see <see cref="MicrovoltsPerCode"/>).</item>
/// <item><b>Stimulation.</b> An analog output task on <c>Mea1/aoN</c> writes the electrode current as volts:
/// µA = V × <see cref="StimulationSettings.MicroampsPerVolt"/> (default 10 µA/V; negative = cathodic). A biphasic
/// pulse is a waveform −A, +A of one phase each (<see cref="BiphasicPulseVolts"/> builds one).</item>
/// </list>
/// The culture lives on the device's time line: its step k covers device time [k, k + 1) ms (after any steps it had
/// taken before the system was built), and it is advanced, with the AO currents sampled on its pick-up grid, whenever an
/// AI task needs samples. A task sample is the culture sample nearest its sample instant. While no AI task runs the
/// culture waits and catches up when one runs again. Manual and real-time clocks behave as in
/// <see cref="SimulatedDaqSystem"/>.
/// </summary>
public sealed class SimulatedMeaSystem : IDaqSystem
{
    private readonly SimulatedDaqSystem _daq;
    private readonly SimulatedDaqDevice _device;
    private readonly int _electrodes, _samplesPerStep;
    private readonly double _rateHz;
    private float[] _ring;       // electrode-major ring of rendered samples (µV)
    private int _ringLength;     // samples per electrode the ring holds
    private long _rendered;      // culture samples rendered since the origin

    /// <summary>Builds the system around <paramref name="culture"/> (which it then steps; do not step it elsewhere).</summary>
    public SimulatedMeaSystem(VirtualCulture culture, SimulatedMeaOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(culture);
        options ??= new SimulatedMeaOptions();
        Check.NotEmpty(nameof(SimulatedMeaOptions.DeviceName), options.DeviceName);
        Check.InRange(nameof(SimulatedMeaOptions.AmplifierGain), options.AmplifierGain, 1, 1e6);
        Culture = culture;
        AmplifierGain = options.AmplifierGain;
        _electrodes = culture.Layout.Count;
        _samplesPerStep = culture.SamplesPerStep;
        _rateHz = culture.Pickup.SampleRateHz;
        culture.RecordingEnabled = true;
        _daq = new SimulatedDaqSystem(new SimulatedDaqOptions
        {
            ClockMode = options.ClockMode,
            StartLatencyNs = options.StartLatencyNs,
            Devices =
            [
                new SimulatedDaqDeviceOptions
                {
                    Name = options.DeviceName,
                    ProductType = $"MEA, {culture.Layout.Description} (simulated culture)",
                    AiChannelCount = _electrodes,
                    AoChannelCount = _electrodes,
                    DigitalLineCount = 8,
                    CounterCount = 1,
                    PfiCount = 4,
                    MaxAiRateHz = 200_000,
                    MaxAoRateHz = 1_000_000,
                },
            ],
        });
        _device = _daq.Device(options.DeviceName);
        _ringLength = 4 * _samplesPerStep;
        _ring = new float[_electrodes * _ringLength];
        for (int e = 0; e < _electrodes; e++) _device.ConnectAnalogInput(e, new ElectrodeSignal(this, e));
    }

    /// <summary>The culture on the array.</summary>
    public VirtualCulture Culture { get; }

    /// <summary>Gain between electrode and ADC.</summary>
    public double AmplifierGain { get; }

    /// <summary>The simulated device (for tests: injected faults, AO voltages).</summary>
    public SimulatedDaqDevice Device => _device;

    /// <summary>Manual or real time.</summary>
    public DaqClockMode ClockMode => _daq.ClockMode;

    /// <summary>Device time now, ns since the system was built.</summary>
    public long NowNs => _daq.NowNs;

    /// <inheritdoc />
    public IReadOnlyList<IDaqDevice> Devices => _daq.Devices;

    /// <summary>Manual clock: moves device time to <paramref name="timeNs"/>.</summary>
    public void AdvanceTo(long timeNs) => _daq.AdvanceTo(timeNs);

    /// <summary>Manual clock: moves device time forward by <paramref name="durationNs"/>.</summary>
    public void AdvanceBy(long durationNs) => _daq.AdvanceBy(durationNs);

    /// <summary>Electrode microvolts per raw code of <paramref name="task"/>.</summary>
    public double MicrovoltsPerCode(IAnalogInputTask task) => task.VoltsPerCode / AmplifierGain * 1e6;

    /// <summary>AO volts for a current of <paramref name="currentUa"/> µA on this system's stimulators.</summary>
    public double VoltsForCurrent(double currentUa) => currentUa / Culture.Settings.Stimulation.MicroampsPerVolt;

    /// <summary>One biphasic pulse as AO volts at <paramref name="aoRateHz"/>: <paramref name="phaseUs"/> of cathodic
    /// (−) current, the same of anodic (+), then zeros up to <paramref name="totalUs"/>.</summary>
    public double[] BiphasicPulseVolts(double amplitudeUa, double phaseUs, double aoRateHz, double totalUs)
    {
        Check.Positive(nameof(aoRateHz), aoRateHz);
        Check.Positive(nameof(phaseUs), phaseUs);
        int phase = Math.Max(1, (int)Math.Round(phaseUs * 1e-6 * aoRateHz));
        int total = Math.Max(2 * phase, (int)Math.Round(totalUs * 1e-6 * aoRateHz));
        var samples = new double[total];
        double v = VoltsForCurrent(amplitudeUa);
        for (int i = 0; i < phase; i++) { samples[i] = -v; samples[phase + i] = v; }
        return samples;
    }

    /// <inheritdoc />
    public IAnalogInputTask CreateAnalogInputTask(AnalogInputConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Timing is not null && Math.Abs(config.Timing.SampleRateHz - _rateHz) > 1e-6 * _rateHz)
            throw new DaqException(DaqErrorCodes.InvalidAttributeValue, _device.Name, string.Create(CultureInfo.InvariantCulture,
                $"Timing.SampleRateHz = {config.Timing.SampleRateHz} Hz is not allowed: the simulated MEA records at {_rateHz} Hz (CultureSettings.Pickup.SampleRateHz). Use that rate."),
                config.Name);
        return _daq.CreateAnalogInputTask(config);
    }

    /// <inheritdoc />
    public IAnalogOutputTask CreateAnalogOutputTask(AnalogOutputConfig config) => _daq.CreateAnalogOutputTask(config);

    /// <inheritdoc />
    public IDigitalOutputTask CreateDigitalOutputTask(DigitalOutputConfig config) => _daq.CreateDigitalOutputTask(config);

    /// <inheritdoc />
    public ICounterInputTask CreateCounterInputTask(CounterInputConfig config) => _daq.CreateCounterInputTask(config);

    /// <inheritdoc />
    public void Dispose() => _daq.Dispose();

    /// <summary>Culture sample index (since the origin) of device time <paramref name="timeNs"/>.</summary>
    private long CultureSample(double timeNs) => (long)Math.Round(timeNs * 1e-9 * _rateHz);

    /// <summary>Under the DAQ lock: renders culture samples until sample <paramref name="lastNeeded"/> is available,
    /// keeping samples from <paramref name="firstNeeded"/> on.</summary>
    private void EnsureRendered(long firstNeeded, long lastNeeded)
    {
        long span = lastNeeded - firstNeeded + 1 + 2L * _samplesPerStep;
        if (span > _ringLength) GrowRing(span);
        while (_rendered <= lastNeeded)
        {
            long step = _rendered / _samplesPerStep;
            ApplyAnalogOutputs(step);
            Culture.Step();
            ReadOnlySpan<float> samples = Culture.LastSamplesUv;
            int slot = (int)(_rendered % _ringLength);
            for (int e = 0; e < _electrodes; e++)
            {
                ReadOnlySpan<float> source = samples.Slice(e * _samplesPerStep, _samplesPerStep);
                Span<float> row = _ring.AsSpan(e * _ringLength, _ringLength);
                int first = Math.Min(_samplesPerStep, _ringLength - slot);
                source[..first].CopyTo(row[slot..]);
                source[first..].CopyTo(row);
            }
            _rendered += _samplesPerStep;
        }
    }

    private void GrowRing(long needed)
    {
        int length = _ringLength;
        while (length < needed) length = checked(length * 2);
        var ring = new float[checked(_electrodes * length)];
        long from = Math.Max(0, _rendered - _ringLength);
        for (long m = from; m < _rendered; m++)
            for (int e = 0; e < _electrodes; e++)
                ring[e * length + (int)(m % length)] = _ring[e * _ringLength + (int)(m % _ringLength)];
        _ring = ring;
        _ringLength = length;
    }

    /// <summary>Samples every driven AO channel on the pick-up grid of culture step <paramref name="step"/> and hands the
    /// currents to the culture's stimulation.</summary>
    private void ApplyAnalogOutputs(long step)
    {
        foreach (SimTask task in _daq.TasksOn(_device))
        {
            if (task is not SimAnalogOutputTask ao || !ao.HasStarted) continue;
            double microampsPerVolt = Culture.Settings.Stimulation.MicroampsPerVolt;
            for (int c = 0; c < ao.PhysicalChannels.Count; c++)
            {
                int electrode = ao.PhysicalChannels[c].Index;
                for (int i = 0; i < _samplesPerStep; i++)
                {
                    double timeNs = (step * _samplesPerStep + i) * 1e9 / _rateHz;
                    double volts = ao.ValueAt(c, timeNs);
                    if (volts != 0) Culture.Stimulation.SetCurrent(electrode, i, (float)(volts * microampsPerVolt));
                }
            }
        }
    }

    /// <summary>The AI source of one electrode: copies rendered culture samples, as ADC codes.</summary>
    private sealed class ElectrodeSignal(SimulatedMeaSystem owner, int electrode) : IAnalogSignal
    {
        public void Fill(in AnalogSignalBlock block, Span<short> destination)
        {
            if (destination.IsEmpty) return;
            long first = owner.CultureSample(block.SampleTimeNs(block.FirstSampleIndex));
            long last = owner.CultureSample(block.SampleTimeNs(block.FirstSampleIndex + destination.Length - 1));
            owner.EnsureRendered(first, last);
            double voltsPerUv = owner.AmplifierGain * 1e-6;
            ReadOnlySpan<float> row = owner._ring.AsSpan(electrode * owner._ringLength, owner._ringLength);
            for (int i = 0; i < destination.Length; i++)
            {
                long m = owner.CultureSample(block.SampleTimeNs(block.FirstSampleIndex + i));
                destination[i] = block.ToCode(row[(int)(m % owner._ringLength)] * voltsPerUv);
            }
        }
    }
}
