using ClosedLoop.Cli;
using ClosedLoop.Imaging.Segmentation;
using ClosedLoop.Storage;

namespace ClosedLoop.IntegrationTests;

public class SegmentCommandTests
{
    private const int H = 40, W = 40;

    private static int[] Square(int r0, int c0, int side) =>
        Enumerable.Range(r0, side).SelectMany(r => Enumerable.Range(c0, side).Select(c => r * W + c)).ToArray();

    private static string WriteMasks(Harness h, string name, params int[][] masks)
    {
        string path = Path.Combine(h.Folder, name);
        new MaskSet(H, W, masks).Save(path);
        return path;
    }

    [Fact]
    public void Score_PrintsF1_AndBadInputExitsNonZero()
    {
        using var h = new Harness();
        string truth = WriteMasks(h, "truth.json", Square(0, 0, 6), Square(10, 10, 6), Square(20, 20, 6));
        string found = WriteMasks(h, "found.json", Square(0, 1, 6), Square(10, 10, 6), Square(30, 30, 5));
        Assert.Equal(ExitCodes.Ok, SegmentCommand.Score(truth, found, 0.5, verbose: true, h.Console));
        Assert.Contains("F1 = 0.667 (precision 0.667, recall 0.667) at IoU ≥ 0.5", h.Output);
        Assert.Contains("missed", h.Output); // --verbose lists the third truth mask as missed

        string other = Path.Combine(h.Folder, "other.json");
        new MaskSet(H + 1, W, new[] { Square(0, 0, 3) }).Save(other);
        Assert.Equal(ExitCodes.BadInput, SegmentCommand.Score(truth, other, 0.5, verbose: false, h.Console));
        Assert.Contains("frame size", h.Output);
        Assert.Equal(ExitCodes.BadInput, SegmentCommand.Score(truth, Path.Combine(h.Folder, "missing.json"), 0.5, false, h.Console));
    }

    /// <summary>A stand-in for the network: probability = detector counts / 1000. Enough to exercise the command's
    /// reading, batching, post-processing and writing; the real model comes from SegmentationModels.</summary>
    private sealed class BrightnessSegmenter(int heightPx, int widthPx) : IFrameSegmenter
    {
        public int HeightPx => heightPx;
        public int WidthPx => widthPx;
        public int WarmupFrames => 2;
        public string Description => "brightness / 1000 (test)";
        public void Process(ReadOnlySpan<ushort> frames, int count, Span<float> probabilities)
        {
            for (int i = 0; i < count * heightPx * widthPx; i++) probabilities[i] = Math.Min(1f, frames[i] / 1000f);
        }
        public void Reset() { }
        public void Dispose() { }
    }

    [Fact]
    public void Segment_RecordedMovie_BatchAndOnline_WriteMasksThatScorePerfectly()
    {
        using var h = new Harness();
        var neurons = new[] { Square(3, 3, 6), Square(15, 20, 7), Square(28, 8, 6) };
        string truth = WriteMasks(h, "truth.json", neurons);
        string movie = Path.Combine(h.Folder, "movie.tif");
        using (var writer = new TiffMovieWriter(movie, W, H, """{"frameRateHz": 30}"""))
        {
            var frame = new ushort[H * W];
            for (int f = 0; f < 90; f++)
            {
                Array.Fill(frame, (ushort)100);
                for (int i = 0; i < neurons.Length; i++)
                    if ((f / 10) % 3 == i) foreach (int p in neurons[i]) frame[p] = 900; // each fires 10 frames in 30
                writer.Append(frame, f / 30.0);
            }
        }
        string batchOut = Path.Combine(h.Folder, "batch.json");
        int code = SegmentCommand.Segment(new SegmentOptions(movie, batchOut, TruthPath: truth), h.Console, (_, hh, ww, _) => new BrightnessSegmenter(hh, ww));
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("30 Hz", h.Output); // frame rate from the movie's metadata
        Assert.Contains("3 ROI(s)", h.Output);
        Assert.Contains("F1 = 1.000", h.Output);
        Assert.Equal(1, SegmentationScore.Compute(MaskSet.Load(truth), MaskSet.Load(batchOut)).F1);

        string onlineOut = Path.Combine(h.Folder, "online.json");
        code = SegmentCommand.Segment(new SegmentOptions(movie, onlineOut, Online: true, TruthPath: truth, InitialS: 0.5, UpdateS: 0.2), h.Console,
            (_, hh, ww, _) => new BrightnessSegmenter(hh, ww));
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal(1, SegmentationScore.Compute(MaskSet.Load(truth), MaskSet.Load(onlineOut)).F1);
        Assert.Equal(new[] { "roi000", "roi001", "roi002" }, ClosedLoop.Imaging.RoiSet.Load(onlineOut).Names); // loadable as an ROI file

        // Movie and model disagree on the frame size: a clear error, exit 1.
        code = SegmentCommand.Segment(new SegmentOptions(movie, onlineOut), h.Console, (_, _, _, _) => new BrightnessSegmenter(64, 64));
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("the 64×64 px the model", h.Output);
    }
}
