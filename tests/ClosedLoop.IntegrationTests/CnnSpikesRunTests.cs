using System.Globalization;
using System.Text.RegularExpressions;
using ClosedLoop.Cli;

namespace ClosedLoop.IntegrationTests;

public class CnnSpikesRunTests
{
    private const string OasisSection = "spikes:                       # online spike inference (OASIS AR(1)) on every ROI's ΔF/F, in the fast loop\n  model: ar1\n  estimate: true              # decay, noise and baseline fitted from the data as the run goes\n";

    private static string WithSpikes(Harness h, string section, string name = "experiment.yaml") =>
        h.Experiment(t =>
        {
            Assert.Contains(OasisSection, t);
            return t.Replace(OasisSection, section).Replace("trials: 10", "trials: 3");
        }, name);

    [Fact]
    public void Run_WithMethodCnn_RunsTheStreamingEnsembleAndReportsIt()
    {
        using var h = new Harness();
        string experiment = WithSpikes(h, "spikes:\n  method: cnn\n  refitPeriodS: 2\n");
        var (code, report) = h.Run("builtin:sim-two-photon", experiment);

        Assert.Equal(ExitCodes.Ok, code);
        Assert.NotNull(report);
        var stages = report.Latency.Select(s => s.Name).ToList();
        Assert.Contains("spikes-cnn", stages);
        Assert.DoesNotContain("spikes", stages);
        Assert.True(stages.IndexOf("dff") < stages.IndexOf("spikes-cnn"));
        Assert.NotNull(report.SpikesCnn);
        Assert.Contains("spikes-cnn: 5 models", h.Output);
        // Rates came out of the network on most frames, and they are spike rates (positive, well below 1 per frame).
        var m = Regex.Match(report.SpikesCnn!, @"rates on (\d+) frames, mean ([0-9.]+) spikes");
        Assert.True(m.Success, report.SpikesCnn);
        long rateFrames = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        double mean = double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        Assert.True(rateFrames > report.Frames.Processed / 2, $"rates on {rateFrames} of {report.Frames.Processed} frames");
        Assert.True(mean > 1e-4 && mean < 1, report.SpikesCnn);
        Assert.Matches(@"up to 4 per frame \(ceil\(100 / 30 Hz\) = 4\)", report.SpikesCnn);
        Assert.Matches(@"[1-9]\d* normalisation hand-overs", report.SpikesCnn);
    }

    [Fact]
    public void Run_WithAnUnknownMethodOrAMissingModel_NamesTheKey()
    {
        using var h = new Harness();
        var (code, _) = h.Run("builtin:sim-two-photon", WithSpikes(h, "spikes:\n  method: deep\n", "a.yaml"));
        Assert.True(code == ExitCodes.BadInput, h.Output);
        Assert.True(Regex.IsMatch(h.Output, @"a\.yaml:\d+: spikes\.method = 'deep'.*oasis \(default\) or cnn"), h.Output);

        (code, _) = h.Run("builtin:sim-two-photon", WithSpikes(h, "spikes:\n  method: cnn\n  models: [missing.onnx]\n", "b.yaml"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Matches(@"spikes\.models\[0\] = .*missing\.onnx", h.Output);

        (code, _) = h.Run("builtin:sim-two-photon", WithSpikes(h, "spikes:\n  method: cnn\n  normWindowS: 1\n", "c.yaml"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Matches(@"c\.yaml:\d+: spikes\.normWindowS = 1", h.Output);

        (code, _) = h.Run("builtin:sim-two-photon", WithSpikes(h, "spikes:\n  method: cnn\n  decayS: 0.5\n", "d.yaml"));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("decayS", h.Output);
    }
}
