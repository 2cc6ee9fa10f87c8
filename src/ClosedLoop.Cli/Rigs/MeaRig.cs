using ClosedLoop.Core;
using ClosedLoop.FirmwareSim.Culture;
using ClosedLoop.FirmwareSim.Daq;
using ClosedLoop.Hardware;
using ClosedLoop.Hardware.Daq;

namespace ClosedLoop.Cli.Rigs;

/// <summary>
/// A multi-electrode array rig behind the DAQ contracts: one continuous AI task over every electrode (channel N =
/// electrode N) read in blocks of <see cref="MeaProfile.BlockMs"/>, and one streamed AO task over every electrode
/// whose samples the rig writes one block ahead, with the biphasic pulses the interlock passed to
/// <see cref="Stimulator"/>. Each block becomes a <see cref="Frame"/>: width = electrodes, height = samples per
/// electrode, scan-interleaved, each pixel the int16 ADC code stored as its ushort bits.
/// The simulated system (a <see cref="VirtualCulture"/> on a <see cref="SimulatedMeaSystem"/>) runs on a manual
/// device clock in lock-step with the fast loop: a block is recorded only after the previous one was analysed and
/// its stimulation written, so a pulse decided on block k starts exactly at the first sample of block k + 1 — in a
/// fast dry run and in real time alike (real-time pacing waits for the host clock before each block).
/// </summary>
public sealed class MeaRig : IFrameSource, IDisposable
{
    private readonly SimulatedMeaSystem _system;
    private readonly IAnalogInputTask _ai;
    private readonly IAnalogOutputTask _ao;
    private readonly long? _frameLimit;
    private readonly bool _realtime;
    private readonly int _channels, _samplesPerBlock;
    private readonly long _samplePeriodNs, _blockNs;
    private readonly double[] _aoBlock;
    private long _acquired, _dropped;

    /// <summary>Builds the simulated rig of <paramref name="profile"/> (which has an <c>mea</c> section).</summary>
    public MeaRig(HardwareProfile profile, long? frameLimit, SimulationPacing pacing)
    {
        var mea = profile.Mea ?? throw new SettingException("mea", null, "an 'mea' section", profile.SourcePath);
        MeaLayout layout;
        try { layout = MeaLayout.Parse(mea.Layout, "mea.layout"); }
        catch (SettingException ex) { throw new SettingException(ex.Setting, ex.Value, ex.Allowed, profile.SourcePath); }
        var defaults = new CultureSettings();
        var settings = defaults with
        {
            NeuronCount = mea.CultureNeurons,
            Seed = mea.CultureSeed,
            Layout = layout,
            Pickup = defaults.Pickup with { SampleRateHz = mea.SampleRateHz },
            Stimulation = defaults.Stimulation with { MicroampsPerVolt = mea.MicroampsPerVolt },
        };
        Culture = new VirtualCulture(settings);
        _system = new SimulatedMeaSystem(Culture, new SimulatedMeaOptions { ClockMode = DaqClockMode.Manual, DeviceName = mea.Device, AmplifierGain = mea.AmplifierGain });
        Layout = layout;
        _channels = layout.Count;
        _samplesPerBlock = (int)Math.Round(mea.SampleRateHz / 1000 * mea.BlockMs);
        SampleRateHz = mea.SampleRateHz;
        _samplePeriodNs = (long)Math.Round(1e9 / mea.SampleRateHz);
        _blockNs = _samplePeriodNs * _samplesPerBlock;
        _frameLimit = frameLimit;
        _realtime = pacing == SimulationPacing.Realtime;
        int bufferSamples = _samplesPerBlock * 64;
        _ai = _system.CreateAnalogInputTask(new AnalogInputConfig("mea-record", $"{mea.Device}/ai0:{_channels - 1}", new DaqRange(-mea.AiRangeV, mea.AiRangeV),
            new DaqTiming(mea.SampleRateHz, bufferSamples)));
        _ao = _system.CreateAnalogOutputTask(new AnalogOutputConfig("mea-stimulate", $"{mea.Device}/ao0:{_channels - 1}", new DaqRange(-mea.AoRangeV, mea.AoRangeV),
            new DaqTiming(mea.SampleRateHz, bufferSamples), AllowRegeneration: false));
        MicrovoltsPerCode = _system.MicrovoltsPerCode(_ai);
        _aoBlock = new double[_channels * _samplesPerBlock];
        Stimulator = new MeaStimulator(profile.Stimulators.FirstOrDefault(s => s.Kind == StimulatorKind.Electrical)?.Name ?? "electrodes",
            _channels, mea.SampleRateHz, mea.MicroampsPerVolt, mea.AoRangeV);
    }

    /// <summary>The culture on the array.</summary>
    public VirtualCulture Culture { get; }

    /// <summary>The electrodes (index = AI/AO channel = unit index).</summary>
    public MeaLayout Layout { get; }

    /// <summary>The stimulator writing through the AO task (register it with the interlock).</summary>
    public MeaStimulator Stimulator { get; }

    /// <summary>Electrode µV per ADC code.</summary>
    public double MicrovoltsPerCode { get; }

    /// <summary>Sampling rate per electrode, Hz.</summary>
    public double SampleRateHz { get; }

    /// <summary>Samples per electrode per block.</summary>
    public int SamplesPerBlock => _samplesPerBlock;

    /// <inheritdoc />
    public int WidthPx => _channels;

    /// <inheritdoc />
    public int HeightPx => _samplesPerBlock;

    /// <inheritdoc />
    public double FrameRateHz => 1e9 / _blockNs;

    /// <inheritdoc />
    public long FramesAcquired => Interlocked.Read(ref _acquired);

    /// <inheritdoc />
    public long FramesDroppedAtSource => Interlocked.Read(ref _dropped);

    /// <inheritdoc />
    public void Run(FramePool pool, BoundedLink<Frame> output, CancellationToken cancellationToken)
    {
        var read = new short[_channels * _samplesPerBlock];
        long startDeviceNs = _system.NowNs;
        Stimulator.RenderBlock(0, _samplesPerBlock, _aoBlock);
        _ao.Write(_aoBlock);
        _ai.Start();
        _ao.Start();
        long firstSampleNs = startDeviceNs + new SimulatedMeaOptions().StartLatencyNs;
        long hostStart = MonotonicClock.NowNs();
        try
        {
            for (long k = 0; _frameLimit is null || k < _frameLimit; k++)
            {
                if (cancellationToken.IsCancellationRequested) return;
                long firstIndex = k * _samplesPerBlock;
                if (k > 0)
                {
                    Stimulator.RenderBlock(firstIndex, _samplesPerBlock, _aoBlock);
                    _ao.Write(_aoBlock);
                }
                if (_realtime) MonotonicClock.WaitUntil(hostStart + (k + 1) * _blockNs, cancellationToken);
                _system.AdvanceTo(firstSampleNs + (firstIndex + _samplesPerBlock - 1) * _samplePeriodNs);
                int got = 0;
                while (got < _samplesPerBlock)
                {
                    int n = _ai.Read(read.AsSpan(got * _channels), TimeSpan.Zero, out _, cancellationToken);
                    if (n == 0) throw new IOException($"MEA block {k}: the AI task delivered {got} of {_samplesPerBlock} samples");
                    got += n;
                }
                long completed = MonotonicClock.NowNs();
                Interlocked.Increment(ref _acquired);
                if (!pool.TryRent(out var frame)) { Interlocked.Increment(ref _dropped); continue; }
                MemoryMarshalCopy(read, frame.Pixels);
                frame.FrameIndex = k;
                frame.SampleTimeNs = firstIndex * _samplePeriodNs;
                frame.FramePeriodNs = _blockNs;
                frame.AcquiredHostNs = _realtime ? hostStart + k * _blockNs : completed;
                frame.CompletedHostNs = completed;
                if (!output.TryWrite(frame) && output.FullMode == LinkFullMode.Wait && !output.IsCompleted)
                {
                    frame.Release();
                    Interlocked.Increment(ref _dropped);
                    continue;
                }
                // Lock-step: the culture must not run ahead of the loop's decision on this block.
                while (!pool.WaitUntilProcessed(k, TimeSpan.FromMilliseconds(200), cancellationToken) && !output.IsCompleted) { }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // the normal end of a run
        }
        finally
        {
            _ao.Stop();
            _ai.Stop();
        }
    }

    private static void MemoryMarshalCopy(short[] from, ushort[] to) =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<short, ushort>(from).CopyTo(to);

    /// <inheritdoc />
    public void Dispose()
    {
        _ai.Dispose();
        _ao.Dispose();
        _system.Dispose();
    }
}

/// <summary>
/// Electrical stimulator of an MEA rig: the interlock hands it biphasic pulse commands, which it queues (up to a
/// fixed number, allocation-free) until the rig renders them into the AO stream of the block they start in.
/// A pulse whose start is already past is started at the first sample still to be written. Thread-safe.
/// </summary>
public sealed class MeaStimulator : IStimulator
{
    private const int Capacity = 4096;
    private readonly object _gate = new();
    private readonly int _channels;
    private readonly double _rateHz, _microampsPerVolt, _maxVolts;
    private readonly long[] _start = new long[Capacity];
    private readonly int[] _electrode = new int[Capacity];
    private readonly int[] _phase1 = new int[Capacity], _phase2 = new int[Capacity];
    private readonly double[] _v1 = new double[Capacity], _v2 = new double[Capacity];
    private readonly bool[] _written = new bool[Capacity];
    private int _count;
    private long _pulses, _late;

    /// <summary>Creates the stimulator for <paramref name="channels"/> electrodes.</summary>
    public MeaStimulator(string name, int channels, double sampleRateHz, double microampsPerVolt, double maxVolts)
    {
        Name = name;
        _channels = channels;
        _rateHz = sampleRateHz;
        _microampsPerVolt = microampsPerVolt;
        _maxVolts = maxVolts;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>Electrode pulses rendered into the AO stream.</summary>
    public long PulsesRendered => Interlocked.Read(ref _pulses);

    /// <summary>Pulses that started later than commanded (their time was already written).</summary>
    public long LatePulses => Interlocked.Read(ref _late);

    /// <inheritdoc />
    public bool IsActive { get { lock (_gate) return _count > 0; } }

    /// <inheritdoc />
    public void Deliver(in StimulationCommand command)
    {
        int[] electrodes = command.Targets.Electrodes ?? throw new InvalidOperationException($"'{Name}' stimulates electrodes; targets '{command.Targets.Name}' have none");
        lock (_gate)
        {
            long period = command.PulseCount > 1 ? (long)Math.Round(_rateHz / command.PulseRateHz) : 0;
            long first = (long)Math.Round(command.SampleTimeNs * 1e-9 * _rateHz);
            for (int p = 0; p < command.PulseCount; p++)
                foreach (int e in electrodes)
                {
                    if (_count == Capacity || (uint)e >= (uint)_channels) continue;
                    _start[_count] = first + p * period;
                    _electrode[_count] = e;
                    _phase1[_count] = Math.Max(1, (int)Math.Round(command.PhaseWidthUs * 1e-6 * _rateHz));
                    _phase2[_count] = (int)Math.Round(command.BalancePhaseWidthUs * 1e-6 * _rateHz);
                    _v1[_count] = -Math.Min(_maxVolts, command.AmplitudeUa / _microampsPerVolt);
                    _v2[_count] = Math.Min(_maxVolts, command.BalanceAmplitudeUa / _microampsPerVolt);
                    _written[_count] = false;
                    _count++;
                }
        }
    }

    /// <inheritdoc />
    public void AllOff()
    {
        lock (_gate) _count = 0;
    }

    /// <summary>Writes AO samples [<paramref name="firstIndex"/>, + <paramref name="samples"/>) of every electrode,
    /// scan-interleaved, into <paramref name="block"/>: zeros plus the queued pulses that fall there.</summary>
    public void RenderBlock(long firstIndex, int samples, double[] block)
    {
        Array.Clear(block);
        long end = firstIndex + samples;
        lock (_gate)
        {
            int kept = 0;
            for (int i = 0; i < _count; i++)
            {
                if (!_written[i] && _start[i] < firstIndex)
                {
                    Interlocked.Increment(ref _late);
                    _start[i] = firstIndex;
                }
                long s0 = _start[i];
                int total = _phase1[i] + _phase2[i];
                for (long t = Math.Max(s0, firstIndex); t < Math.Min(s0 + total, end); t++)
                    block[(t - firstIndex) * _channels + _electrode[i]] = t - s0 < _phase1[i] ? _v1[i] : _v2[i];
                if (s0 < end && !_written[i]) { _written[i] = true; Interlocked.Increment(ref _pulses); }
                if (s0 + total > end) Copy(i, kept++);
            }
            _count = kept;
        }
    }

    private void Copy(int from, int to)
    {
        _start[to] = _start[from]; _electrode[to] = _electrode[from]; _phase1[to] = _phase1[from]; _phase2[to] = _phase2[from];
        _v1[to] = _v1[from]; _v2[to] = _v2[from]; _written[to] = _written[from];
    }
}
