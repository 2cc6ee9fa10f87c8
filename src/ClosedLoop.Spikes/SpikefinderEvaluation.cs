using ClosedLoop.Core;

namespace ClosedLoop.Spikes;

/// <summary>Spike-inference methods that can be run on Spikefinder tables.</summary>
public enum SpikeMethod
{
    /// <summary>OASIS deconvolution with parameters estimated per neuron from its own trace.</summary>
    Oasis,

    /// <summary>Trivial baseline: the trace's first difference, clipped at 0.</summary>
    Derivative,
}

/// <summary>Scores of one method on one Spikefinder dataset.</summary>
/// <param name="Dataset">Dataset name as in the file names, e.g. <c>4.test</c>.</param>
/// <param name="Scores">Per-neuron correlations, mean and median.</param>
public sealed record SpikefinderDatasetResult(string Dataset, SpikefinderScores Scores);

/// <summary>Runs spike inference on Spikefinder calcium tables and scores it against their ground truth.</summary>
public static class SpikefinderEvaluation
{
    /// <summary>Infers spikes for every column of <paramref name="calcium"/>; each output column is as long as its input
    /// column, NaN where the input is NaN. OASIS uses per-neuron estimated parameters (no ground truth).</summary>
    public static SpikefinderTable Predict(SpikefinderTable calcium, SpikeMethod method, OasisSettings? settings = null)
    {
        settings ??= new OasisSettings();
        settings.Validate();
        var columns = new double[calcium.Count][];
        Parallel.For(0, calcium.Count, j =>
        {
            var x = calcium.Columns[j];
            var trace = new float[x.Length];
            for (int t = 0; t < x.Length; t++) trace[t] = (float)x[t];
            var output = new double[x.Length];
            switch (method)
            {
                case SpikeMethod.Oasis:
                    var r = OasisDeconvolver.Infer(trace, calcium.SamplingRateHz, settings);
                    for (int t = 0; t < x.Length; t++) output[t] = r.Spikes[t];
                    break;
                case SpikeMethod.Derivative:
                    output[0] = 0;
                    for (int t = 1; t < x.Length; t++) output[t] = Math.Max(0, x[t] - x[t - 1]);
                    break;
                default:
                    throw new SettingException("method", method.ToString(), "oasis or derivative");
            }
            for (int t = 0; t < x.Length; t++) if (double.IsNaN(x[t])) output[t] = double.NaN;
            columns[j] = output;
        });
        return new SpikefinderTable(calcium.Names, columns, calcium.SamplingRateHz);
    }

    /// <summary>Finds every <c>NAME.calcium.csv</c> with a matching <c>NAME.spikes.csv</c> in <paramref name="dataFolder"/>
    /// (sorted by name), infers spikes with <paramref name="method"/> and scores them. Throws when there are none.</summary>
    public static IReadOnlyList<SpikefinderDatasetResult> Run(string dataFolder, SpikeMethod method, OasisSettings? settings = null,
        double samplingRateHz = SpikefinderCsv.DefaultRateHz, Func<string, bool>? include = null)
    {
        if (!Directory.Exists(dataFolder)) throw new SettingException("--data", dataFolder, "an existing folder with Spikefinder N.{train,test}.{calcium,spikes}.csv files");
        var results = new List<SpikefinderDatasetResult>();
        foreach (var calciumPath in Directory.GetFiles(dataFolder, "*.calcium.csv").Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(calciumPath)[..^".calcium.csv".Length];
            string spikesPath = Path.Combine(dataFolder, name + ".spikes.csv");
            if (!File.Exists(spikesPath) || (include is not null && !include(name))) continue;
            var calcium = SpikefinderCsv.Read(calciumPath, samplingRateHz);
            var truth = SpikefinderCsv.Read(spikesPath, samplingRateHz);
            var predicted = Predict(calcium, method, settings);
            results.Add(new SpikefinderDatasetResult(name, SpikefinderScore.Score(truth, predicted)));
        }
        if (results.Count == 0) throw new SettingException("--data", dataFolder, "a folder holding at least one NAME.calcium.csv with its NAME.spikes.csv");
        return results;
    }
}
