using System.Globalization;
using System.Text.Json;
using ClosedLoop.Core;

namespace ClosedLoop.Storage;

/// <summary>
/// A recorded TIFF movie (ours, a ScanImage file, or any 16-bit grayscale multi-page TIFF) as the frame source of a
/// run, so a recording goes through exactly the online pipeline again. Paced at the movie's own frame rate (as it was
/// acquired), or lock-step (each frame once the fast loop has finished the previous one: as fast as the pipeline goes,
/// nothing dropped). Frame indices and sample times come from the pages' metadata when present (a recording's dropped
/// frames stay gaps), otherwise page i is frame i at i / frame rate.
/// </summary>
public sealed class TiffReplaySource : IFrameSource, IDisposable
{
    private readonly TiffMovieReader _reader;
    private readonly bool _realtime;
    private readonly int _firstPage, _pageCount;
    private long _acquired, _dropped;

    /// <summary>Opens <paramref name="path"/> for replay.</summary>
    /// <param name="path">The movie.</param>
    /// <param name="frameRateHz">Frame rate to use; null: read it from the movie's metadata (ours: <c>frameRateHz</c>;
    /// ScanImage: <c>scanFrameRate</c> or <c>frameRate</c>), which must then be there.</param>
    /// <param name="realtime">Pace frames on the host clock at the frame rate; false: lock-step, as fast as the loop goes.</param>
    /// <param name="firstFrame">First page to replay.</param>
    /// <param name="frameCount">Pages to replay (null: to the end).</param>
    /// <exception cref="SettingException">The file is not a readable movie, or the frame rate is missing or out of range.</exception>
    public TiffReplaySource(string path, double? frameRateHz = null, bool realtime = true, int firstFrame = 0, int? frameCount = null)
    {
        if (!File.Exists(path)) throw new SettingException("replay", path, "an existing TIFF movie");
        _reader = new TiffMovieReader(path);
        try
        {
            if (_reader.FrameCount == 0) throw new SettingException("replay", path, "a TIFF movie with at least one complete frame");
            Path = path;
            _realtime = realtime;
            _firstPage = Check.InRange("replay.firstFrame", firstFrame, 0, _reader.FrameCount - 1);
            _pageCount = frameCount is int n ? Check.InRange("replay.frames", n, 1, _reader.FrameCount - firstFrame) : _reader.FrameCount - firstFrame;
            double? found = FrameRateFromMetadata(_reader.GetDescription(0));
            FrameRateHz = frameRateHz is double r
                ? Check.InRange("replay.frameRateHz", r, 0.01, 10_000)
                : found is double f && f > 0 && f <= 10_000 ? f
                : throw new SettingException("replay.frameRateHz", null, $"given (--frame-rate-hz): {path} does not say its frame rate in its ImageDescription");
        }
        catch
        {
            _reader.Dispose();
            throw;
        }
    }

    /// <summary>The movie.</summary>
    public string Path { get; }

    /// <summary>Pages that will be replayed.</summary>
    public int FrameCount => _pageCount;

    /// <summary>Null for a complete file; otherwise what was cut off at its end (only the complete frames are replayed).</summary>
    public string? TruncationNote => _reader.TruncationNote;

    /// <summary>True when the movie holds signed pixels (ScanImage); negative values are replayed as 0.</summary>
    public bool IsSigned => _reader.IsSigned;

    /// <inheritdoc />
    public int WidthPx => _reader.WidthPx;

    /// <inheritdoc />
    public int HeightPx => _reader.HeightPx;

    /// <inheritdoc />
    public double FrameRateHz { get; }

    /// <inheritdoc />
    public long FramesAcquired => Interlocked.Read(ref _acquired);

    /// <inheritdoc />
    public long FramesDroppedAtSource => Interlocked.Read(ref _dropped);

    /// <inheritdoc />
    public void Run(FramePool pool, BoundedLink<Frame> output, CancellationToken cancellationToken)
    {
        if (pool.Width != WidthPx || pool.Height != HeightPx)
            throw new SettingException("framePool size", $"{pool.Width}×{pool.Height} px", $"the movie's {WidthPx}×{HeightPx} px");
        long periodNs = (long)Math.Round(1e9 / FrameRateHz);
        long startHostNs = MonotonicClock.NowNs();
        long firstSampleNs = -1;
        try
        {
            for (int k = 0; k < _pageCount; k++)
            {
                if (cancellationToken.IsCancellationRequested) return;
                int page = _firstPage + k;
                var (index, sampleNs) = Timing(_reader.GetDescription(page), k, periodNs);
                if (firstSampleNs < 0) firstSampleNs = sampleNs;
                long relativeNs = sampleNs - firstSampleNs;
                long acquiredHostNs = startHostNs + relativeNs;
                if (_realtime) MonotonicClock.WaitUntil(acquiredHostNs + periodNs, cancellationToken);
                else acquiredHostNs = MonotonicClock.NowNs();

                Interlocked.Increment(ref _acquired);
                if (!pool.TryRent(out var frame)) { Interlocked.Increment(ref _dropped); continue; }
                try { _reader.ReadFrame(page, frame.Span); }
                catch { frame.Release(); throw; }
                frame.FrameIndex = index;
                frame.SampleTimeNs = sampleNs;
                frame.FramePeriodNs = periodNs;
                frame.AcquiredHostNs = acquiredHostNs;
                frame.CompletedHostNs = MonotonicClock.NowNs();
                output.TryWrite(frame);
                if (!_realtime)
                    while (!pool.WaitUntilProcessed(index, TimeSpan.FromMilliseconds(200), cancellationToken) && frame.References > 0 && !output.IsCompleted) { }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Cancellation is the normal way a run ends.
        }
    }

    /// <inheritdoc />
    public void Dispose() => _reader.Dispose();

    /// <summary>Frame index and sample time of a page: from its JSON description (ours) when there, else from its place.</summary>
    private (long Index, long SampleNs) Timing(string description, int k, long periodNs)
    {
        long index = k, sampleNs = k * periodNs;
        if (description.Length > 0 && description[0] == '{')
        {
            try
            {
                using var doc = JsonDocument.Parse(description);
                var root = doc.RootElement;
                if (root.TryGetProperty("frameIndex", out var fi) && fi.TryGetInt64(out long i) && i >= 0) index = i;
                if (root.TryGetProperty("sampleTimeS", out var st) && st.TryGetDouble(out double t) && double.IsFinite(t)) sampleNs = (long)Math.Round(t * 1e9);
            }
            catch (JsonException) { }
        }
        return (index, sampleNs);
    }

    /// <summary>The frame rate a movie's first ImageDescription states, if any: a JSON <c>frameRateHz</c> (ours), or a
    /// ScanImage-style <c>key = value</c> line ending in <c>scanFrameRate</c> or <c>frameRate</c>.</summary>
    public static double? FrameRateFromMetadata(string description)
    {
        if (string.IsNullOrWhiteSpace(description)) return null;
        if (description.TrimStart().StartsWith('{'))
        {
            try
            {
                using var doc = JsonDocument.Parse(description);
                if (doc.RootElement.TryGetProperty("frameRateHz", out var r) && r.TryGetDouble(out double hz)) return hz;
            }
            catch (JsonException) { }
            return null;
        }
        foreach (var raw in description.Split('\n'))
        {
            int eq = raw.IndexOf('=');
            if (eq <= 0) continue;
            string key = raw[..eq].Trim();
            if (!(key.EndsWith("scanFrameRate", StringComparison.Ordinal) || key.EndsWith(".frameRate", StringComparison.Ordinal) || key == "frameRate")) continue;
            if (double.TryParse(raw[(eq + 1)..].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double hz)) return hz;
        }
        return null;
    }
}
