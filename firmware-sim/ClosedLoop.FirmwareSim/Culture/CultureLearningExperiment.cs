using System.Diagnostics;
using ClosedLoop.Core;

namespace ClosedLoop.FirmwareSim.Culture;

/// <summary>Whether stimulation stops when the culture responds.</summary>
public enum LearningCondition
{
    /// <summary>Causal coupling: each trial stimulates until the output electrode responds, then stops.</summary>
    ClosedLoop,

    /// <summary>Control: each trial stimulates for the whole trial, whatever the output does; the response time is
    /// still measured (first response), but it does not stop anything.</summary>
    Control,
}

/// <summary>
/// Learning by stimulation avoidance on the virtual culture (Shahaf &amp; Marom 2001; Sinapayen, Masumori &amp; Ikegami
/// 2017). Each trial stimulates the input electrodes with biphasic pulses at <see cref="StimulusRateHz"/>; the output
/// electrode responds when at least <see cref="ResponseSpikes"/> spikes it records fall in the response window
/// [<see cref="ResponseWindowStartMs"/>, <see cref="ResponseWindowEndMs"/>) after one pulse. Read once per run.
/// </summary>
public sealed record LearningSettings
{
    /// <summary>The culture (neurons, plasticity, array, seed).</summary>
    public CultureSettings Culture { get; init; } = new();

    /// <summary>Electrodes that stimulate (names as in <see cref="MeaLayout"/>).</summary>
    public IReadOnlyList<string> InputElectrodes { get; init; } = ["22", "23", "32", "33"];

    /// <summary>Electrodes whose response stops the stimulation (their spikes are counted together).</summary>
    public IReadOnlyList<string> OutputElectrodes { get; init; } = ["34", "43", "44"];

    /// <summary>Pulse rate during a trial, Hz (rounded to a whole number of ms between pulses).</summary>
    public double StimulusRateHz { get; init; } = 100;

    /// <summary>Pulse amplitude per phase, µA.</summary>
    public double PulseAmplitudeUa { get; init; } = 15;

    /// <summary>Duration of each phase, µs.</summary>
    public double PulsePhaseUs { get; init; } = 200;

    /// <summary>Start of the response window after each pulse, ms.</summary>
    public double ResponseWindowStartMs { get; init; } = 2;

    /// <summary>End of the response window after each pulse, ms.</summary>
    public double ResponseWindowEndMs { get; init; } = 20;

    /// <summary>Spikes on the output electrode within one pulse's window that count as a response.</summary>
    public int ResponseSpikes { get; init; } = 1;

    /// <summary>The output electrode records a neuron's spikes when their amplitude there is at least this (a
    /// threshold detector at 5 × the noise), µV.</summary>
    public double DetectionThresholdUv { get; init; } = 25;

    /// <summary>Longest trial, s: without a response the trial ends (a time-out) and counts as this long.</summary>
    public double MaxTrialS { get; init; } = 1;

    /// <summary>Shortest pause between trials (no stimulation), s.</summary>
    public double PauseMinS { get; init; } = 0.5;

    /// <summary>Longest pause between trials, s (uniform between the two).</summary>
    public double PauseMaxS { get; init; } = 1;

    /// <summary>Trials per run.</summary>
    public int Trials { get; init; } = 200;

    /// <summary>Spontaneous activity before the first trial, s.</summary>
    public double WarmUpS { get; init; } = 5;

    /// <summary>Checks every setting, naming the first bad one.</summary>
    public LearningSettings Validate()
    {
        if (Culture is null) throw new SettingException(nameof(Culture), null, "culture settings");
        Culture.Validate();
        if (InputElectrodes is null || InputElectrodes.Count == 0)
            throw new SettingException(nameof(InputElectrodes), null, "at least one electrode name");
        foreach (string e in InputElectrodes) Culture.Layout.IndexOf(e, nameof(InputElectrodes));
        if (OutputElectrodes is null || OutputElectrodes.Count == 0)
            throw new SettingException(nameof(OutputElectrodes), null, "at least one electrode name");
        foreach (string e in OutputElectrodes)
        {
            int output = Culture.Layout.IndexOf(e, nameof(OutputElectrodes));
            if (InputElectrodes.Any(i => Culture.Layout.IndexOf(i) == output))
                throw new SettingException(nameof(OutputElectrodes), e, "an electrode that is not also an input electrode");
        }
        Check.InRange(nameof(StimulusRateHz), StimulusRateHz, 0.1, 500);
        Check.InRange(nameof(PulseAmplitudeUa), PulseAmplitudeUa, 0, 1000);
        Check.InRange(nameof(PulsePhaseUs), PulsePhaseUs, 1000.0 / (Culture.Pickup.SampleRateHz / 1000), 500);
        Check.InRange(nameof(ResponseWindowStartMs), ResponseWindowStartMs, 0, 1000);
        Check.InRange(nameof(ResponseWindowEndMs), ResponseWindowEndMs, ResponseWindowStartMs + 1, 1000);
        Check.InRange(nameof(ResponseSpikes), ResponseSpikes, 1, 1000);
        Check.InRange(nameof(DetectionThresholdUv), DetectionThresholdUv, 0, 10_000);
        Check.InRange(nameof(MaxTrialS), MaxTrialS, 0.01, 3600);
        Check.InRange(nameof(PauseMinS), PauseMinS, 0, 3600);
        Check.InRange(nameof(PauseMaxS), PauseMaxS, PauseMinS, 3600);
        Check.InRange(nameof(Trials), Trials, 5, 100_000);
        Check.InRange(nameof(WarmUpS), WarmUpS, 0, 3600);
        return this;
    }
}

/// <summary>One trial.</summary>
/// <param name="Index">Trial number from 1.</param>
/// <param name="StartS">Culture time of the trial's first pulse, s.</param>
/// <param name="ResponseTimeMs">From the first pulse to the response, ms; null for a time-out.</param>
/// <param name="Pulses">Pulses delivered per input electrode.</param>
public readonly record struct LearningTrial(int Index, double StartS, double? ResponseTimeMs, int Pulses);

/// <summary>The trials of one condition and their summary.</summary>
/// <param name="Condition">Closed loop or control.</param>
/// <param name="Trials">Every trial in order.</param>
/// <param name="MaxTrialMs">Time-outs count as this long in the means.</param>
/// <param name="OutputNeurons">Neurons the output electrode records.</param>
/// <param name="InputNeuronsDriven">Neurons within 50 µm of an input electrode.</param>
/// <param name="PathwayWeightStart">Mean weight of the synapses from input neurons (within 50 µm of an input
/// electrode) onto output neurons before the first trial (mV).</param>
/// <param name="PathwayWeightEnd">The same after the last trial.</param>
/// <param name="PathwaySynapses">Number of those synapses.</param>
/// <param name="SimulatedS">Culture time simulated, s.</param>
/// <param name="WallS">Wall-clock time the run took, s.</param>
public sealed record LearningRun(LearningCondition Condition, IReadOnlyList<LearningTrial> Trials, double MaxTrialMs,
    int OutputNeurons, int InputNeuronsDriven, double PathwayWeightStart, double PathwayWeightEnd, int PathwaySynapses,
    double SimulatedS, double WallS)
{
    /// <summary>Response time of each trial with time-outs counted as <see cref="MaxTrialMs"/>.</summary>
    public double[] ResponseTimesMs => Trials.Select(t => t.ResponseTimeMs ?? MaxTrialMs).ToArray();

    /// <summary>Trials in the first (and last) fifth.</summary>
    public int FifthLength => Math.Max(1, Trials.Count / 5);

    /// <summary>Mean response time of the first fifth of the trials, ms.</summary>
    public double FirstFifthMeanMs => ResponseTimesMs.Take(FifthLength).Average();

    /// <summary>Mean response time of the last fifth of the trials, ms.</summary>
    public double LastFifthMeanMs => ResponseTimesMs.TakeLast(FifthLength).Average();

    /// <summary>(last − first) / first: −0.3 is a 30 % fall.</summary>
    public double RelativeChange => (LastFifthMeanMs - FirstFifthMeanMs) / FirstFifthMeanMs;

    /// <summary>One-sided Mann–Whitney p-value that last-fifth response times are shorter than first-fifth ones.</summary>
    public double PValueFaster => LearningStatistics.MannWhitneyLessP(ResponseTimesMs.TakeLast(FifthLength).ToArray(), ResponseTimesMs.Take(FifthLength).ToArray());

    /// <summary>Trials that timed out.</summary>
    public int TimeOuts => Trials.Count(t => t.ResponseTimeMs is null);

    /// <summary>Simulated seconds per wall-clock second.</summary>
    public double SpeedFactor => WallS > 0 ? SimulatedS / WallS : double.PositiveInfinity;
}

/// <summary>
/// Runs the learning experiment on a fresh <see cref="VirtualCulture"/> (the network directly, without the DAQ layer,
/// recording switched off for speed): warm-up, then trials separated by random pauses. In the closed loop a trial's
/// stimulation stops at the response; in the control it runs for the whole <see cref="LearningSettings.MaxTrialS"/>.
/// Both conditions build the same culture from the same seed and draw the same pauses, so they differ only in whether
/// stimulation is contingent on the response.
/// </summary>
public static class CultureLearningExperiment
{
    /// <summary>Runs one condition; <paramref name="progress"/> hears the number of trials done.</summary>
    /// <exception cref="SettingException">A setting is out of range; the message names it.</exception>
    public static LearningRun Run(LearningSettings settings, LearningCondition condition, Action<int>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        var clock = Stopwatch.StartNew();
        var culture = new VirtualCulture(settings.Culture) { RecordingEnabled = false };
        MeaLayout layout = culture.Layout;
        int[] inputs = settings.InputElectrodes.Select(e => layout.IndexOf(e, nameof(settings.InputElectrodes))).ToArray();
        int[] outputNeurons = settings.OutputElectrodes
            .SelectMany(e => culture.NeuronsRecordedBy(layout.IndexOf(e, nameof(settings.OutputElectrodes)), settings.DetectionThresholdUv))
            .Distinct().ToArray();
        var isOutput = new bool[culture.Network.NeuronCount];
        foreach (int j in outputNeurons) isOutput[j] = true;
        int[] driven = inputs.SelectMany(e => culture.NeuronsNear(e, 50)).Distinct().ToArray();
        IzhikevichNetwork network = culture.Network;
        int[] pathway = driven.Where(j => j < network.ExcitatoryCount)
            .SelectMany(j => Enumerable.Range(network.OutgoingOf(j).Start.Value, network.OutgoingOf(j).End.Value - network.OutgoingOf(j).Start.Value))
            .Where(s => isOutput[network.PostOf(s)]).ToArray();
        double PathwayWeight() => pathway.Length == 0 ? 0 : pathway.Average(s => (double)network.Weights[s]);

        int periodMs = Math.Max(1, (int)Math.Round(1000 / settings.StimulusRateHz));
        int maxTrialMs = (int)Math.Round(settings.MaxTrialS * 1000);
        int windowStart = (int)Math.Round(settings.ResponseWindowStartMs), windowEnd = (int)Math.Round(settings.ResponseWindowEndMs);
        var pauses = new SimRandom(settings.Culture.Seed, 401);

        for (long ms = (long)Math.Round(settings.WarmUpS * 1000); ms > 0; ms--) culture.Step();
        double pathwayStart = PathwayWeight();

        // Spike counts in the window of each recent pulse (a ring indexed by pulse number).
        int inFlight = windowEnd / periodMs + 2;
        var pulseTime = new long[inFlight];
        var pulseCount = new int[inFlight];
        var trials = new List<LearningTrial>(settings.Trials);
        for (int trial = 1; trial <= settings.Trials; trial++)
        {
            cancel.ThrowIfCancellationRequested();
            long start = culture.TimeMs;
            int pulses = 0;
            long? responseAt = null;
            for (long t = start; t < start + maxTrialMs; t++)
            {
                if ((t - start) % periodMs == 0)
                {
                    foreach (int e in inputs) culture.Stimulate(e, settings.PulseAmplitudeUa, settings.PulsePhaseUs);
                    pulseTime[pulses % inFlight] = t;
                    pulseCount[pulses % inFlight] = 0;
                    pulses++;
                }
                culture.Step();
                if (responseAt is not null) continue;
                foreach (int j in culture.Network.Spikes)
                {
                    if (!isOutput[j]) continue;
                    for (int p = Math.Max(0, pulses - inFlight); p < pulses; p++)
                    {
                        long lag = t - pulseTime[p % inFlight];
                        if (lag < windowStart || lag >= windowEnd) continue;
                        if (++pulseCount[p % inFlight] >= settings.ResponseSpikes && responseAt is null) responseAt = t;
                    }
                }
                if (responseAt is not null && condition == LearningCondition.ClosedLoop) break;
            }
            trials.Add(new LearningTrial(trial, start / 1000.0, responseAt is long r ? r - start + 1 : null, pulses));
            double pauseS = settings.PauseMinS + pauses.NextDouble() * (settings.PauseMaxS - settings.PauseMinS);
            for (long ms = (long)Math.Round(pauseS * 1000); ms > 0; ms--) culture.Step();
            progress?.Invoke(trial);
        }
        return new LearningRun(condition, trials, maxTrialMs, outputNeurons.Length, driven.Length, pathwayStart, PathwayWeight(), pathway.Length,
            culture.TimeMs / 1000.0, clock.Elapsed.TotalSeconds);
    }
}

/// <summary>Small statistics for learning curves.</summary>
public static class LearningStatistics
{
    /// <summary>
    /// One-sided Mann–Whitney U test that values in <paramref name="a"/> tend to be smaller than those in
    /// <paramref name="b"/>: the normal approximation with a tie correction and a continuity correction. Returns the
    /// p-value (1 when either sample is empty).
    /// </summary>
    public static double MannWhitneyLessP(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        int n1 = a.Count, n2 = b.Count;
        if (n1 == 0 || n2 == 0) return 1;
        var all = a.Select(v => (V: v, A: true)).Concat(b.Select(v => (V: v, A: false))).OrderBy(x => x.V).ToArray();
        int n = all.Length;
        double rankSumA = 0, tieTerm = 0;
        for (int i = 0; i < n;)
        {
            int j = i;
            while (j + 1 < n && all[j + 1].V == all[i].V) j++;
            double rank = (i + j) / 2.0 + 1;
            int ties = j - i + 1;
            tieTerm += (double)ties * ties * ties - ties;
            for (int k = i; k <= j; k++) if (all[k].A) rankSumA += rank;
            i = j + 1;
        }
        double u = rankSumA - n1 * (n1 + 1) / 2.0;
        double mean = n1 * (double)n2 / 2;
        double variance = n1 * (double)n2 / 12 * (n + 1 - tieTerm / ((double)n * (n - 1)));
        if (variance <= 0) return u < mean ? 0 : 1;
        double z = (u - mean + 0.5) / Math.Sqrt(variance);
        return NormalCdf(z);
    }

    /// <summary>One-sided Mann–Whitney U test that values in <paramref name="a"/> tend to be larger than those in
    /// <paramref name="b"/> (<see cref="MannWhitneyLessP"/> on the negated values); 1 when either sample is empty.</summary>
    public static double MannWhitneyGreaterP(IReadOnlyList<double> a, IReadOnlyList<double> b) =>
        MannWhitneyLessP(a.Select(v => -v).ToArray(), b.Select(v => -v).ToArray());

    /// <summary>
    /// Common-language effect size (Vargha–Delaney A, = U / (n₁ n₂)): the probability that a value drawn from
    /// <paramref name="a"/> is larger than one drawn from <paramref name="b"/>, ties counting half. 0.5 = no effect,
    /// 1 = every a larger than every b; rank-biserial r = 2 A − 1. NaN when either sample is empty.
    /// </summary>
    public static double ProbabilityOfSuperiority(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count == 0 || b.Count == 0) return double.NaN;
        double wins = 0;
        foreach (double x in a)
            foreach (double y in b)
                wins += x > y ? 1 : x == y ? 0.5 : 0;
        return wins / ((double)a.Count * b.Count);
    }

    /// <summary>Standard normal cumulative distribution (Abramowitz–Stegun 7.1.26 erf, |error| &lt; 1.5e−7).</summary>
    public static double NormalCdf(double z)
    {
        double x = Math.Abs(z) / Math.Sqrt(2);
        double t = 1 / (1 + 0.3275911 * x);
        double erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.Exp(-x * x);
        return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
    }
}
