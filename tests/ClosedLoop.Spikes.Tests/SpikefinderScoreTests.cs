using System.Diagnostics;
using System.Globalization;

namespace ClosedLoop.Spikes.Tests;

public class SpikefinderScoreTests
{
    [Fact]
    public void Correlate_PredictionEqualToTruthWithinEachBin_ScoresOne()
    {
        // Spikes moved within their 40 ms bin (4 samples) do not change the binned counts.
        double[] truth = [1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, 0, 0];
        double[] pred = [0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];

        Assert.Equal(1.0, SpikefinderScore.Correlate(truth, pred, 100), 12);
    }

    [Fact]
    public void Correlate_NaNRows_DroppedPairwiseBeforeBinning()
    {
        double[] truth = [1, double.NaN, 0, 0, 0, 0, 0, 0, 2];
        double[] pred = [1, 5, 0, 0, 0, 0, 0, 0, 2];
        double[] truthClean = [1, 0, 0, 0, 0, 0, 0, 2];
        double[] predClean = [1, 0, 0, 0, 0, 0, 0, 2];

        Assert.Equal(SpikefinderScore.Correlate(truthClean, predClean, 100), SpikefinderScore.Correlate(truth, pred, 100));
    }

    [Fact]
    public void Correlate_ConstantPrediction_ScoresZero()
    {
        Assert.Equal(0, SpikefinderScore.Correlate([1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0], 100));
    }

    [Fact]
    public void Correlate_AtTwiceTheRate_BinsByTime()
    {
        // At 200 Hz a 40 ms bin is 8 samples: doubling every sample gives the same binned series as 100 Hz.
        var rng = new Random(3);
        var t100 = Enumerable.Range(0, 400).Select(_ => (double)rng.Next(0, 2)).ToArray();
        var p100 = Enumerable.Range(0, 400).Select(_ => rng.NextDouble()).ToArray();
        double[] Twice(double[] x) => x.SelectMany(v => new[] { v / 2, v / 2 }).ToArray();

        Assert.Equal(SpikefinderScore.Correlate(t100, p100, 100), SpikefinderScore.Correlate(Twice(t100), Twice(p100), 200), 9);
    }

    [SharedDataFact(needsPython: true)]
    public void Score_Dataset4Test_AgreesWithReferenceScorerTo1e9()
    {
        string data = SharedData.Spikefinder;
        string truthPath = Path.Combine(data, "4.test.spikes.csv");
        var calcium = SpikefinderCsv.Read(Path.Combine(data, "4.test.calcium.csv"));
        var truth = SpikefinderCsv.Read(truthPath);
        string predPath = Path.Combine(Path.GetTempPath(), $"spk-score-{Environment.ProcessId}.csv");
        try
        {
            // Predictions with NaN holes too, so the pairwise dropping is exercised.
            var predicted = SpikefinderEvaluation.Predict(calcium, SpikeMethod.Derivative);
            for (int j = 0; j < predicted.Count; j++)
                for (int t = 7; t < predicted.Columns[j].Length; t += 997) predicted.Columns[j][t] = double.NaN;
            SpikefinderCsv.Write(predPath, predicted);

            var ours = SpikefinderScore.Score(truth, SpikefinderCsv.Read(predPath));
            var reference = RunReference(truthPath, predPath);

            Assert.Equal(reference.Count, ours.PerNeuron.Count);
            for (int j = 0; j < reference.Count; j++) Assert.InRange(ours.PerNeuron[j] - reference[j], -1e-9, 1e-9);
        }
        finally
        {
            File.Delete(predPath);
        }
    }

    private static List<double> RunReference(string truthPath, string predPath)
    {
        string code = "import sys; sys.path.insert(0, sys.argv[1]); import spikefinder_score as s; "
            + "print(' '.join(repr(x) for x in s.score(s.load(sys.argv[2]), s.load(sys.argv[3]))))";
        var psi = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-c", code, Path.GetDirectoryName(SharedData.Scorer)!, truthPath, predPath }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, "reference scorer failed: " + stderr);
        return stdout.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToList();
    }
}
