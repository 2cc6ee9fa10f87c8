using System.Globalization;
using ClosedLoop.Core;
using ClosedLoop.Hardware;

namespace ClosedLoop.Control;

/// <summary>
/// The one place where stimulation limits are enforced. Every stimulator of a run is registered here by the
/// composition root, and protocols only ever get a <see cref="StimulationChannel"/> handle: a command reaches
/// the device only through <see cref="TryDeliver"/>, which refuses (and logs) anything beyond the profile's
/// limits: power, pulse width, pulses per second and duty cycle over any one-second window. A watchdog switches
/// everything off and latches the interlock when the fast loop stops making progress; so does <see cref="Trip"/>.
/// </summary>
public sealed class SafetyInterlock : IDisposable
{
    private const long WindowNs = 1_000_000_000;
    private readonly RunEventLog _events;
    private readonly List<StimulationChannel> _channels = new();
    private readonly object _gate = new();
    private Thread? _watchdog;
    private volatile bool _watchdogStop;
    private volatile string? _tripReason;
    private long _delivered;
    private long _refused;
    private long _lastDeliveryNs = long.MinValue;

    /// <summary>Creates an interlock that logs to <paramref name="events"/>.</summary>
    public SafetyInterlock(RunEventLog events) => _events = events;

    /// <summary>Commands that reached a stimulator.</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    /// <summary>Commands refused (limits, or a tripped interlock).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Sample-clock time of the latest delivered command on any channel, ns (<see cref="long.MinValue"/> before
    /// any): front ends blank stimulation artifacts after it, response-window detectors count from it.</summary>
    public long LastDeliveryNs => Volatile.Read(ref _lastDeliveryNs);

    /// <summary>True once tripped: every later command is refused for the rest of the run.</summary>
    public bool IsTripped => _tripReason is not null;

    /// <summary>Why it tripped.</summary>
    public string? TripReason => _tripReason;

    /// <summary>Raised once, on the tripping thread, after everything was switched off (e.g. to end the run).</summary>
    public event Action<string>? Tripped;

    /// <summary>The registered channels.</summary>
    public IReadOnlyList<StimulationChannel> Channels => _channels;

    /// <summary>Registers a stimulator with its limits; the returned handle is what protocols use.</summary>
    public StimulationChannel Register(StimulatorProfile limits, IStimulator stimulator)
    {
        limits.Validate($"stimulators.{limits.Name}");
        lock (_gate)
        {
            if (_channels.Any(c => c.Name == limits.Name))
                throw new SettingException("stimulators", limits.Name, "registered once");
            var channel = new StimulationChannel(limits, stimulator);
            _channels.Add(channel);
            return channel;
        }
    }

    /// <summary>The channel registered under <paramref name="name"/>; the error lists the names there are.</summary>
    public StimulationChannel Find(string name, string setting) =>
        _channels.FirstOrDefault(c => c.Name == name)
        ?? throw new SettingException(setting, name, $"one of the profile's stimulators: {string.Join(", ", _channels.Select(c => c.Name))}");

    /// <summary>
    /// Checks, before a run starts, that a protocol's stimulus could ever pass: power and width within the limits and
    /// the train alone within the pulse-rate and duty-cycle limits. Throws naming the protocol setting and the limit.
    /// </summary>
    /// <param name="channel">The stimulator the protocol will use.</param>
    /// <param name="template">One stimulus as the protocol will send it.</param>
    /// <param name="settingPrefix">Where the stimulus is set in the experiment file (e.g. <c>protocol.pulse</c>).</param>
    /// <param name="repeatRateHz">When the protocol repeats the stimulus at a steady rate, that rate: two seconds of
    /// such stimulation must pass too, else the error names <paramref name="repeatSetting"/>.</param>
    /// <param name="repeatSetting">The setting holding <paramref name="repeatRateHz"/>.</param>
    public static void CheckTemplate(StimulationChannel channel, in StimulationCommand template, string settingPrefix,
        double? repeatRateHz = null, string? repeatSetting = null)
    {
        var l = channel.Limits;
        if (ElectricalViolation(l, template) is { } electrical)
            throw new SettingException($"{settingPrefix}.{electrical.Setting}", electrical.Value, electrical.Allowed);
        if (!(template.PowerMw >= 0) || template.PowerMw > l.MaxPowerMw)
            throw new SettingException($"{settingPrefix}.powerMw", template.PowerMw, $"between 0 and {F(l.MaxPowerMw)} (stimulator '{l.Name}' maxPowerMw)");
        if (!(template.PulseWidthMs > 0) || template.PulseWidthMs > l.MaxPulseWidthMs)
            throw new SettingException($"{settingPrefix}.widthMs", template.PulseWidthMs, $"> 0 and at most {F(l.MaxPulseWidthMs)} (stimulator '{l.Name}' maxPulseWidthMs)");
        if (template.PulseCount < 1)
            throw new SettingException($"{settingPrefix}.count", template.PulseCount, "at least 1");
        if (template.PulseCount > 1 && !(template.PulseRateHz > 0))
            throw new SettingException($"{settingPrefix}.rateHz", template.PulseRateHz, "> 0 for a train of several pulses");
        if (template.PulseCount > 1 && template.PulseWidthMs >= 1000.0 / template.PulseRateHz)
            throw new SettingException($"{settingPrefix}.widthMs", template.PulseWidthMs, $"shorter than the pulse period ({F(1000.0 / template.PulseRateHz)} ms at {F(template.PulseRateHz)} Hz)");
        var probe = new PulseHistory(64);
        string? reason = Violation(l, probe, template);
        if (reason is not null) throw new SettingException(settingPrefix, $"{template.PulseCount} pulses of {F(template.PulseWidthMs)} ms at {F(template.PulseRateHz)} Hz", reason);
        if (repeatRateHz is not double rate || !(rate > 0)) return;
        long intervalNs = (long)Math.Round(1e9 / rate);
        int repeats = (int)Math.Min(Math.Ceiling(2e9 / intervalNs) + 1, 10_000);
        var steady = new PulseHistory(Math.Max(64, repeats * template.PulseCount));
        for (int k = 0; k < repeats; k++)
        {
            var next = template with { SampleTimeNs = template.SampleTimeNs + k * intervalNs };
            reason = Violation(l, steady, next);
            if (reason is not null)
                throw new SettingException(repeatSetting ?? settingPrefix, rate, $"a rate at which the stimulus stays within the limits when repeated ({reason})");
            steady.Add(next);
        }
    }

    /// <summary>
    /// Delivers <paramref name="command"/> if it stays within every limit, else refuses it and logs why. Runs on the
    /// fast loop's thread; allocates only when it logs.
    /// </summary>
    public bool TryDeliver(StimulationChannel channel, in StimulationCommand command)
    {
        string? reason;
        lock (_gate)
        {
            reason = _tripReason is not null ? $"interlock tripped: {_tripReason}" : Violation(channel.Limits, channel.History, command);
            if (reason is null)
            {
                channel.History.Add(command);
                channel.Stimulator.Deliver(command);
                channel.Delivered++;
                channel.LastDeliveryNs = command.SampleTimeNs;
                Volatile.Write(ref _lastDeliveryNs, Math.Max(_lastDeliveryNs, command.SampleTimeNs));
            }
        }
        if (reason is null)
        {
            Interlocked.Increment(ref _delivered);
            _events.Add(new RunEvent(RunEventKind.Stimulation, command.SampleTimeNs, MonotonicClock.NowNs(), channel.Name,
                command.IsElectrical
                    ? $"{command.PulseCount}× biphasic {F(command.AmplitudeUa)} µA × {F(command.PhaseWidthUs)} µs at {F(command.PulseRateHz)} Hz on {command.Targets.Count} electrodes ({command.Targets.Name})"
                    : $"{command.PulseCount}×{F(command.PulseWidthMs)} ms at {F(command.PulseRateHz)} Hz, {F(command.PowerMw)} mW on {command.Targets.Count} targets ({command.Targets.Name})",
                command.IsElectrical ? command.AmplitudeUa : command.PowerMw));
            return true;
        }
        Interlocked.Increment(ref _refused);
        _events.Add(new RunEvent(RunEventKind.StimulationRefused, command.SampleTimeNs, MonotonicClock.NowNs(), channel.Name, reason, command.PowerMw));
        return false;
    }

    /// <summary>Stops any ongoing train on one channel (a protocol ending its stimulation early). Never refused.</summary>
    public void Stop(StimulationChannel channel) => channel.Stimulator.AllOff();

    /// <summary>Switches every stimulator off and refuses all later commands. Safe from any thread, any number of times.</summary>
    public void Trip(string reason)
    {
        bool first;
        lock (_gate)
        {
            first = _tripReason is null;
            _tripReason ??= reason;
        }
        AllOffQuietly();
        if (!first) return;
        _events.Add(new RunEvent(RunEventKind.SafetyOff, 0, MonotonicClock.NowNs(), "interlock", $"tripped: {reason}"));
        Tripped?.Invoke(reason);
    }

    /// <summary>Switches every stimulator off at the end of a run (logged, does not latch).</summary>
    public void AllOff(string reason)
    {
        AllOffQuietly();
        _events.Add(new RunEvent(RunEventKind.SafetyOff, 0, MonotonicClock.NowNs(), "interlock", reason));
    }

    /// <summary>Starts a watchdog thread that trips the interlock when <paramref name="lastProgressHostNs"/> is older
    /// than the smallest <c>watchdogTimeoutMs</c> of the registered stimulators.</summary>
    public void StartWatchdog(Func<long> lastProgressHostNs)
    {
        if (_channels.Count == 0 || _watchdog is not null) return;
        double timeoutMs = _channels.Min(c => c.Limits.WatchdogTimeoutMs);
        long timeoutNs = (long)(timeoutMs * 1e6);
        int pollMs = Math.Max(1, (int)(timeoutMs / 5));
        _watchdog = new Thread(() =>
        {
            ThreadScheduling.RaiseCurrentThread(ThreadRole.Watchdog);
            while (!_watchdogStop)
            {
                Thread.Sleep(pollMs);
                long last = lastProgressHostNs();
                long stalledNs = MonotonicClock.NowNs() - last;
                if (last != 0 && stalledNs > timeoutNs && !IsTripped)
                    Trip($"fast loop stalled: no frame finished for {F(stalledNs / 1e6)} ms (watchdog limit {F(timeoutMs)} ms)");
            }
        }) { Name = "stimulation-watchdog", IsBackground = true, Priority = ThreadPriority.AboveNormal };
        _watchdog.Start();
    }

    /// <summary>Stops the watchdog thread.</summary>
    public void StopWatchdog()
    {
        _watchdogStop = true;
        _watchdog?.Join();
        _watchdog = null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        StopWatchdog();
        AllOffQuietly();
    }

    private void AllOffQuietly()
    {
        foreach (var c in _channels)
        {
            try { c.Stimulator.AllOff(); }
            catch (Exception ex) { _events.Add(new RunEvent(RunEventKind.Fault, 0, MonotonicClock.NowNs(), c.Name, $"could not switch off: {ex.Message}")); }
        }
    }

    /// <summary>Why <paramref name="command"/> may not be delivered on top of <paramref name="history"/>, or null.</summary>
    private static string? Violation(StimulationLimits l, PulseHistory history, in StimulationCommand command)
    {
        if (ElectricalViolation(l, command) is { } e) return e.Message;
        if (!(command.PowerMw >= 0) || command.PowerMw > l.MaxPowerMw)
            return $"power {F(command.PowerMw)} mW exceeds maxPowerMw {F(l.MaxPowerMw)} of '{l.Name}'";
        if (!(command.PulseWidthMs > 0) || command.PulseWidthMs > l.MaxPulseWidthMs)
            return $"pulse width {F(command.PulseWidthMs)} ms is outside (0, {F(l.MaxPulseWidthMs)}] ms of '{l.Name}'";
        if (command.PulseCount < 1 || (command.PulseCount > 1 && !(command.PulseRateHz > 0)))
            return $"train of {command.PulseCount} pulses at {F(command.PulseRateHz)} Hz is not a valid train";
        long widthNs = (long)(command.PulseWidthMs * 1e6);
        long periodNs = command.PulseCount > 1 ? (long)(1e9 / command.PulseRateHz) : 0;
        // Check the one-second window that ends at each new pulse: pulses and on-time from the past and from this train.
        for (int k = 0; k < command.PulseCount; k++)
        {
            long t = command.SampleTimeNs + k * periodNs;
            long from = t - WindowNs;
            int pulses = k + 1;
            long onNs = (k + 1) * widthNs;
            for (int j = 0; j < k; j++)
                if (command.SampleTimeNs + j * periodNs <= from) { pulses--; onNs -= widthNs; }
            history.CountSince(from, t, out int pastPulses, out long pastOnNs);
            pulses += pastPulses;
            onNs += pastOnNs;
            if (pulses > l.MaxPulseRateHz)
                return $"{pulses} pulses within one second exceed maxPulseRateHz {F(l.MaxPulseRateHz)} of '{l.Name}'";
            if (onNs > l.MaxDutyCycle * WindowNs)
                return $"output on for {F(onNs / 1e6)} ms within one second exceeds maxDutyCycle {F(l.MaxDutyCycle)} of '{l.Name}'";
        }
        return null;
    }

    /// <summary>The first electrical limit <paramref name="c"/> breaks (kind, amplitude, phase width, charge per phase,
    /// charge balance), or null.</summary>
    private static ElectricalProblem? ElectricalViolation(StimulationLimits l, in StimulationCommand c)
    {
        bool electricalChannel = l.Kind == StimulatorKind.Electrical;
        if (c.IsElectrical != electricalChannel)
            return new("amplitudeUa", c.AmplitudeUa, electricalChannel
                    ? $"a current pulse (amplitudeUa and phaseUs > 0): '{l.Name}' is an electrical stimulator"
                    : $"no current: '{l.Name}' is a light stimulator (set powerMw instead)",
                electricalChannel ? $"'{l.Name}' is electrical: the command has no current pulse" : $"'{l.Name}' is a light stimulator: the command is a current pulse");
        if (!electricalChannel) return null;
        if (c.Targets.Electrodes is null)
            return new("targets", c.Targets.Name, "a group of electrodes", $"'{l.Name}' stimulates electrodes: targets '{c.Targets.Name}' are not electrodes");
        double a1 = c.AmplitudeUa, a2 = c.BalanceAmplitudeUa, w1 = c.PhaseWidthUs, w2 = c.BalancePhaseWidthUs;
        if (!(a1 > 0) || a1 > l.MaxAmplitudeUa || a2 < 0 || a2 > l.MaxAmplitudeUa)
        {
            double bad = !(a1 > 0) || a1 > l.MaxAmplitudeUa ? a1 : a2;
            return new("amplitudeUa", bad, $"> 0 and at most {F(l.MaxAmplitudeUa)} µA (stimulator '{l.Name}' maxAmplitudeUa)",
                $"amplitude {F(bad)} µA exceeds maxAmplitudeUa {F(l.MaxAmplitudeUa)} of '{l.Name}'");
        }
        if (!(w1 > 0) || w1 > l.MaxPhaseWidthUs || w2 < 0 || w2 > l.MaxPhaseWidthUs)
        {
            double bad = !(w1 > 0) || w1 > l.MaxPhaseWidthUs ? w1 : w2;
            return new("phaseUs", bad, $"> 0 and at most {F(l.MaxPhaseWidthUs)} µs (stimulator '{l.Name}' maxPhaseWidthUs)",
                $"phase width {F(bad)} µs exceeds maxPhaseWidthUs {F(l.MaxPhaseWidthUs)} of '{l.Name}'");
        }
        double q1 = a1 * w1 / 1000, q2 = a2 * w2 / 1000;
        if (Math.Max(q1, q2) > l.MaxChargePerPhaseNc)
            return new("amplitudeUa", a1, $"a current × phase width within maxChargePerPhaseNc {F(l.MaxChargePerPhaseNc)} nC of '{l.Name}' (this pulse: {F(Math.Max(q1, q2))} nC per phase)",
                $"charge per phase {F(Math.Max(q1, q2))} nC exceeds maxChargePerPhaseNc {F(l.MaxChargePerPhaseNc)} of '{l.Name}'");
        if (l.ChargeBalanceRequired && Math.Abs(q1 - q2) > 0.01 * Math.Max(q1, q2))
            return new("balance", $"{F(q1)} nC then {F(q2)} nC", $"equal and opposite phases: '{l.Name}' requires charge balance (chargeBalanceRequired)",
                $"pulse not charge-balanced ({F(q1)} nC cathodic, {F(q2)} nC anodic): '{l.Name}' requires chargeBalanceRequired");
        if ((w1 + w2) / 1000 > l.MaxPulseWidthMs + 1e-9)
            return new("phaseUs", w1, $"phases together within maxPulseWidthMs {F(l.MaxPulseWidthMs)} ms of '{l.Name}'",
                $"pulse of {F((w1 + w2) / 1000)} ms exceeds maxPulseWidthMs {F(l.MaxPulseWidthMs)} of '{l.Name}'");
        return null;
    }

    private sealed record ElectricalProblem(string Setting, object Value, string Allowed, string Message);

    internal static string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
}

/// <summary>A registered stimulator as protocols see it: a name and its limits, never the device itself.</summary>
public sealed class StimulationChannel
{
    internal StimulationChannel(StimulatorProfile limits, IStimulator stimulator)
    {
        Limits = StimulationLimits.From(limits);
        Stimulator = stimulator;
        History = new PulseHistory(HistoryCapacity(Limits));
    }

    /// <summary>
    /// Pulses the history must hold: every pulse of the last second is needed to check the rate and duty limits, and
    /// at most <see cref="StimulatorProfile.MaxPulseRateHz"/> of them were accepted. A fixed size smaller than that
    /// forgets pulses still inside the window, and a fast stimulator could then exceed its limit unnoticed.
    /// The margin covers commands that arrive slightly out of sample-time order.
    /// </summary>
    internal static int HistoryCapacity(StimulationLimits limits) =>
        Math.Max(4096, 2 * (int)Math.Ceiling(Math.Min(limits.MaxPulseRateHz, 1_000_000)) + 64);

    /// <summary>Stimulator name.</summary>
    public string Name => Limits.Name;

    /// <summary>The limits the interlock enforces on this channel.</summary>
    public StimulationLimits Limits { get; }

    /// <summary>Commands delivered on this channel.</summary>
    public long Delivered { get; internal set; }

    /// <summary>Sample-clock time of the latest command delivered on this channel, ns (<see cref="long.MinValue"/> before any).</summary>
    public long LastDeliveryNs { get; internal set; } = long.MinValue;

    internal IStimulator Stimulator { get; }

    internal PulseHistory History { get; }
}

/// <summary>Start times and widths of recent pulses (ring buffer; pulses older than the checks need fall out).</summary>
internal sealed class PulseHistory(int capacity)
{
    private readonly long[] _startNs = new long[capacity];
    private readonly long[] _widthNs = new long[capacity];
    private int _next;
    private int _count;

    public void Add(in StimulationCommand c)
    {
        long widthNs = (long)(c.PulseWidthMs * 1e6);
        long periodNs = c.PulseCount > 1 ? (long)(1e9 / c.PulseRateHz) : 0;
        for (int k = 0; k < c.PulseCount; k++)
        {
            _startNs[_next] = c.SampleTimeNs + k * periodNs;
            _widthNs[_next] = widthNs;
            _next = (_next + 1) % _startNs.Length;
            if (_count < _startNs.Length) _count++;
        }
    }

    /// <summary>Pulses starting in (<paramref name="fromNs"/>, <paramref name="toNs"/>] and their summed width.</summary>
    public void CountSince(long fromNs, long toNs, out int pulses, out long onNs)
    {
        pulses = 0; onNs = 0;
        for (int i = 0; i < _count; i++)
        {
            long s = _startNs[i];
            if (s > fromNs && s <= toNs) { pulses++; onNs += _widthNs[i]; }
        }
    }
}

/// <summary>The limits a channel enforces, copied from the hardware profile when the stimulator is registered, so
/// nothing that holds the channel (or edits the profile object later) can change them during a run.</summary>
/// <param name="Name">Stimulator name.</param>
/// <param name="MaxPowerMw">Highest power per spot, mW.</param>
/// <param name="MaxPulseWidthMs">Longest pulse, ms.</param>
/// <param name="MaxPulseRateHz">Most pulses in any one-second window.</param>
/// <param name="MaxDutyCycle">Highest on-fraction over any one-second window.</param>
/// <param name="WatchdogTimeoutMs">Stall time after which everything is switched off, ms.</param>
/// <param name="Kind">Light or current.</param>
/// <param name="MaxAmplitudeUa">Electrical: highest current of either phase, µA.</param>
/// <param name="MaxPhaseWidthUs">Electrical: longest phase, µs.</param>
/// <param name="MaxChargePerPhaseNc">Electrical: most charge per phase, nC.</param>
/// <param name="ChargeBalanceRequired">Electrical: both phases must carry the same charge (within 1 %).</param>
public sealed record StimulationLimits(string Name, double MaxPowerMw, double MaxPulseWidthMs, double MaxPulseRateHz,
    double MaxDutyCycle, double WatchdogTimeoutMs, StimulatorKind Kind = StimulatorKind.Optogenetic,
    double MaxAmplitudeUa = 0, double MaxPhaseWidthUs = 0, double MaxChargePerPhaseNc = 0, bool ChargeBalanceRequired = true)
{
    /// <summary>Copies the limits of a stimulator profile.</summary>
    public static StimulationLimits From(StimulatorProfile p) =>
        new(p.Name, p.MaxPowerMw, p.MaxPulseWidthMs, p.MaxPulseRateHz, p.MaxDutyCycle, p.WatchdogTimeoutMs,
            p.Kind, p.MaxAmplitudeUa, p.MaxPhaseWidthUs, p.MaxChargePerPhaseNc, p.ChargeBalanceRequired);
}
