using ClosedLoop.Core;
using ClosedLoop.Imaging.Segmentation;

namespace ClosedLoop.Imaging.Tests.Segmentation;

public sealed class SegmentationScoreTests
{
    private static int[] Square(int w, int r0, int c0, int side) =>
        Enumerable.Range(r0, side).SelectMany(r => Enumerable.Range(c0, side).Select(c => r * w + c)).ToArray();

    [Fact]
    public void Perfect_IsOne_Disjoint_IsZero()
    {
        var truth = TestMasks.YstOrGenerated();
        var perfect = SegmentationScore.Compute(truth, truth);
        Assert.Equal(1, perfect.Precision);
        Assert.Equal(1, perfect.Recall);
        Assert.Equal(1, perfect.F1);
        Assert.Equal(1, perfect.MeanMatchedIou, 12);

        var a = new MaskSet(20, 20, new[] { Square(20, 0, 0, 4), Square(20, 10, 10, 4) });
        var b = new MaskSet(20, 20, new[] { Square(20, 0, 5, 4), Square(20, 15, 0, 4), Square(20, 15, 15, 4) });
        var disjoint = SegmentationScore.Compute(a, b);
        Assert.Equal(0, disjoint.F1);
        Assert.Empty(disjoint.Matches);
        Assert.True(double.IsNaN(disjoint.MeanMatchedIou));
    }

    [Fact]
    public void TwoFoundMasksOnOneTruth_CountOnce()
    {
        int w = 30;
        var truth = new MaskSet(30, w, new[] { Square(w, 0, 0, 10) });
        // 9 × 10 (IoU 0.9) and 8 × 10 (IoU 0.8): both pass 0.5, only one may match; the better one does.
        var nine = Enumerable.Range(0, 9).SelectMany(r => Enumerable.Range(0, 10).Select(c => r * w + c)).ToArray();
        var eight = Enumerable.Range(2, 8).SelectMany(r => Enumerable.Range(0, 10).Select(c => r * w + c)).ToArray();
        var score = SegmentationScore.Compute(truth, new MaskSet(30, w, new[] { eight, nine }));
        var match = Assert.Single(score.Matches);
        Assert.Equal(1, match.FoundIndex);
        Assert.Equal(0.9, match.Iou, 12);
        Assert.Equal(0.5, score.Precision);
        Assert.Equal(1, score.Recall);
        Assert.Equal(2 * 0.5 / 1.5, score.F1, 12);
    }

    [Fact]
    public void LowThreshold_StillMatchesOneToOne_MaximisingMatches()
    {
        // Truth A overlaps found X (IoU 0.6) and Y (0.35); truth B overlaps only X (0.3). At threshold 0.25 greedy by IoU
        // would give A–X and leave B alone; the optimal one-to-one match is A–Y and B–X (two matches).
        var t = new[] { new[] { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, new[] { 20, 21, 22, 23 } };
        var x = new[] { 0, 1, 2, 3, 4, 5, 20, 21, 22 };  // A∩X = 6, |A∪X| = 13 → 0.46; B∩X = 3, |B∪X| = 10 → 0.3
        var y = new[] { 6, 7, 8, 9 };                       // A∩Y = 4, |A∪Y| = 10 → 0.4
        var s = SegmentationScore.Compute(t, new[] { x, y }, 30, iouThreshold: 0.25);
        Assert.Equal(2, s.Matches.Count);
        Assert.Contains(s.Matches, m => m.TruthIndex == 0 && m.FoundIndex == 1);
        Assert.Contains(s.Matches, m => m.TruthIndex == 1 && m.FoundIndex == 0);
        Assert.Single(SegmentationScore.Compute(t, new[] { x, y }, 30, iouThreshold: 0.45).Matches);
    }

    [Fact]
    public void Hungarian_MatchesBruteForce_OnSmallMatrices()
    {
        var rng = new Random(11);
        for (int trial = 0; trial < 50; trial++)
        {
            int n = rng.Next(1, 6);
            var cost = new double[n, n];
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) cost[i, j] = Math.Round(rng.NextDouble(), 3);
            var assign = SegmentationScore.Hungarian(cost);
            Assert.Equal(n, assign.Distinct().Count());
            double got = Enumerable.Range(0, n).Sum(i => cost[i, assign[i]]);
            Assert.Equal(BruteForce(cost, n), got, 9);
        }
    }

    private static double BruteForce(double[,] cost, int n)
    {
        double best = double.PositiveInfinity;
        void Go(int row, bool[] used, double sum)
        {
            if (row == n) { best = Math.Min(best, sum); return; }
            for (int j = 0; j < n; j++)
                if (!used[j]) { used[j] = true; Go(row + 1, used, sum + cost[row, j]); used[j] = false; }
        }
        Go(0, new bool[n], 0);
        return best;
    }

    [Fact]
    public void PerturbedYstMasks_ScoreAsAnIndependentCount()
    {
        var truth = TestMasks.YstOrGenerated("12");
        int w = truth.WidthPx, h = truth.HeightPx;
        var rng = new Random(3);
        // Shift each mask right by 0–4 px (clipping at the edge), drop every 7th, add 5 blobs in empty corners.
        var found = new List<int[]>();
        var shifts = new List<(int Truth, int Found)>();
        for (int i = 0; i < truth.Count; i++)
        {
            if (i % 7 == 3) continue;
            int s = rng.Next(0, 5);
            var moved = truth.Masks[i].Where(p => p % w + s < w).Select(p => p + s).ToArray();
            if (moved.Length == 0) continue;
            shifts.Add((i, found.Count));
            found.Add(moved);
        }
        for (int b = 0; b < 5; b++) found.Add(new[] { b, b + w });
        var score = SegmentationScore.Compute(truth, new MaskSet(h, w, found));

        // Independent computation: the dense IoU matrix by hash sets, then a greedy one-to-one match by descending IoU
        // (equivalent to the optimal one at threshold 0.5). Labelled masks overlap, so a shifted mask may match a neighbour.
        var pairs = new List<(int T, int F, double Iou)>();
        for (int t = 0; t < truth.Count; t++)
            for (int f = 0; f < found.Count; f++)
            {
                double iou = TestMasks.Iou(truth.Masks[t], found[f]);
                if (iou >= 0.5) pairs.Add((t, f, iou));
            }
        var usedT = new HashSet<int>();
        var usedF = new HashSet<int>();
        var greedy = new List<(int T, int F, double Iou)>();
        foreach (var p in pairs.OrderByDescending(p => p.Iou))
            if (!usedT.Contains(p.T) && !usedF.Contains(p.F))
            {
                usedT.Add(p.T);
                usedF.Add(p.F);
                greedy.Add(p);
            }

        int expected = greedy.Count;
        Assert.Equal(expected, score.Matches.Count);
        Assert.InRange(expected, truth.Count / 3, truth.Count - 1); // the perturbation is neither trivial nor total
        Assert.Equal((double)expected / found.Count, score.Precision, 12);
        Assert.Equal((double)expected / truth.Count, score.Recall, 12);
        Assert.Equal(greedy.Average(p => p.Iou), score.MeanMatchedIou, 12);
    }

    [Fact]
    public void OtherFrameSize_IsAClearError()
    {
        var a = new MaskSet(88, 120, new[] { new[] { 1, 2 } }, sourceName: "truth.json");
        var b = new MaskSet(512, 512, new[] { new[] { 1, 2 } }, sourceName: "found.json");
        var ex = Assert.Throws<SettingException>(() => SegmentationScore.Compute(a, b));
        Assert.Contains("512×512", ex.Message);
        Assert.Contains("120×88", ex.Message);
        Assert.Contains("found.json", ex.Message);
    }
}
