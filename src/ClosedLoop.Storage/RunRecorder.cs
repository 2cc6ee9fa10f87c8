using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using ClosedLoop.Core;

namespace ClosedLoop.Storage;

/// <summary>Settings of the recorder (<c>closedloop run --record</c>).</summary>
public sealed class RecordingSettings : IStageSettings
{
    /// <summary>Record every N-th frame (1 = all).</summary>
    public int FrameEvery { get; init; } = 1;

    /// <summary>Frames that may wait for the disk before new ones are dropped (and counted). At 30 Hz, 64 frames ride
    /// out a 2 s stall of the disk; they are extra buffers of the run's frame pool.</summary>
    public int QueueFrames { get; init; } = 64;

    /// <summary>Stop recording (the run goes on) once movie.tif reaches this size, in bytes; 0 = no limit
    /// besides the disk itself.</summary>
    public long MaxMovieBytes { get; init; }

    /// <summary>Write BigTIFF whatever the length. Otherwise a run of known length is classic TIFF unless it needs more
    /// than 4 GiB, and a run of unknown length (ended by its protocol or the user) is BigTIFF from the start.</summary>
    public bool BigTiff { get; init; }

    /// <summary>Frames the run plans to acquire (0 = take it from the run), to choose BigTIFF ahead of time.</summary>
    public long ExpectedFrames { get; init; }

    /// <inheritdoc />
    public void Validate()
    {
        Check.InRange("recording.frameEvery", FrameEvery, 1, 1_000_000);
        Check.InRange("recording.queueFrames", QueueFrames, 1, 1024);
        if (MaxMovieBytes < 0) throw new SettingException("recording.maxMovieBytes", MaxMovieBytes, "0 (no limit) or a size in bytes");
    }
}

/// <summary>
/// Records a run beside its report, from the live tap, on its own thread, never blocking the fast loop:
/// <list type="bullet">
/// <item><c>movie.tif</c>: raw frames, ScanImage-style (one uint16 page per frame, JSON ImageDescription with run metadata
/// on page 0 and <c>frameIndex</c>/<c>sampleTimeS</c>/<c>hostTimeNs</c> on every page; BigTIFF past 4 GiB); every complete
/// frame stays readable after a crash;</item>
/// <item><c>activity.csv</c>: per processed frame, ΔF/F of every unit (and the host time the decision was taken);</item>
/// <item><c>events.jsonl</c>: events as they happen (stimulation, detections, protocol state, faults, drops);</item>
/// <item><c>manifest.json</c>: profile, experiment, versions, clock alignment, what was recorded and what was lost.</item>
/// </list>
/// A write error (full disk, removed drive) or the size limit stops recording with a fault event naming the cause;
/// acquisition, the loop and the interlock go on, and what was written stays readable.
/// </summary>
public sealed class RunRecorder : ILiveConsumer
{
    private readonly string _directory;
    private readonly RecordingSettings _settings;
    private readonly ConcurrentQueue<RunEvent> _events = new();
    private LiveRunInfo? _run;
    private IDisposable? _eventSubscription;
    private TapSubscription? _sub;
    private Thread? _thread;
    private TiffMovieWriter? _movie;
    private StreamWriter? _activity, _eventLog;
    private volatile string? _error;
    private long _framesWritten, _framesDiscarded, _activityRows, _eventsWritten;
    private long _firstSampleNs = -1, _firstHostNs;
    private DateTime _attachedUtc;
    private long _attachedHostNs;

    /// <summary>Records into <paramref name="directory"/> (created if missing).</summary>
    public RunRecorder(string directory, RecordingSettings? settings = null)
    {
        _settings = settings ?? new RecordingSettings();
        _settings.Validate();
        _directory = directory;
    }

    /// <inheritdoc />
    public string Name => "recorder";

    /// <summary>The folder recorded into.</summary>
    public string Directory => _directory;

    /// <summary>Path of the movie.</summary>
    public string MoviePath => Path.Combine(_directory, "movie.tif");

    /// <summary>Frames written to movie.tif so far.</summary>
    public long FramesWritten => Interlocked.Read(ref _framesWritten);

    /// <summary>Why recording stopped early, if it did.</summary>
    public string? Error => _error;

    /// <inheritdoc />
    public void Attach(LiveRunInfo run, LiveTap tap)
    {
        _run = run;
        System.IO.Directory.CreateDirectory(_directory);
        _sub = tap.Subscribe(Name, _settings.QueueFrames, _settings.FrameEvery, activityCapacity: 1024);
        _attachedUtc = DateTime.UtcNow;
        _attachedHostNs = MonotonicClock.NowNs();
        _eventSubscription = run.Context.Events.Subscribe(_events.Enqueue);
        try
        {
            WriteManifest(null);
            _eventLog = new StreamWriter(Path.Combine(_directory, "events.jsonl"), append: false, new UTF8Encoding(false));
            _activity = new StreamWriter(Path.Combine(_directory, "activity.csv"), append: false, new UTF8Encoding(false));
            _activity.Write("frameIndex,sampleTimeS,decisionHostNs");
            foreach (var u in run.Units) _activity.Write("," + Csv(u.Name));
            _activity.WriteLine();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Fail($"could not create the recording in {_directory}: {ex.Message}");
        }
        _thread = new Thread(Work) { Name = "recorder", IsBackground = true, Priority = ThreadPriority.BelowNormal };
        _thread.Start();
    }

    /// <inheritdoc />
    public LiveConsumerReport Detach(RunResult result)
    {
        _thread?.Join();
        _eventSubscription?.Dispose();
        DrainEvents();
        Close();
        var tapStats = _sub?.Snapshot();
        try { WriteManifest(result); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { _error ??= $"manifest not written: {ex.Message}"; }
        var counters = new Dictionary<string, long>
        {
            ["framesWritten"] = FramesWritten,
            ["framesDroppedAtTap"] = tapStats?.FramesDropped ?? 0,
            ["framesNotWrittenAfterError"] = Interlocked.Read(ref _framesDiscarded),
            ["activityRows"] = Interlocked.Read(ref _activityRows),
            ["activityDroppedAtTap"] = tapStats?.ActivityDropped ?? 0,
            ["events"] = Interlocked.Read(ref _eventsWritten),
        };
        string summary = $"{FramesWritten} frames in {MoviePath}" + (counters["framesDroppedAtTap"] > 0 ? $", {counters["framesDroppedAtTap"]} dropped (disk too slow)" : "");
        return new LiveConsumerReport(Name, summary, _error, counters);
    }

    private void Work()
    {
        var sub = _sub!;
        try
        {
            while (true)
            {
                bool ended = sub.Ended;
                bool any = false;
                while (sub.Frames is { } link && link.TryTakeNow(out var frame))
                {
                    any = true;
                    try { WriteFrame(frame); }
                    finally { frame.Release(); }
                }
                while (sub.Activity is { } ring && ring.TryPeek(out var snap))
                {
                    any = true;
                    try { WriteActivity(snap); }
                    finally { ring.Advance(); }
                }
                DrainEvents();
                if (ended && !any) break;
                // Polled, never woken by the tap (see ActivityRing): the disk sees batches of frames every 10 ms.
                if (!any) Thread.Sleep(10);
            }
        }
        catch (Exception ex)
        {
            Fail($"recorder failed: {ex.Message}");
            if (sub.Frames is { } link) link.Drain();
        }
        finally
        {
            try { _activity?.Flush(); _eventLog?.Flush(); } catch (IOException) { }
        }
    }

    private void WriteFrame(Frame frame)
    {
        if (_error is not null) { Interlocked.Increment(ref _framesDiscarded); return; }
        try
        {
            if (_firstSampleNs < 0) { _firstSampleNs = frame.SampleTimeNs; _firstHostNs = frame.AcquiredHostNs; }
            if (_movie is null)
            {
                // A run of unknown length may pass 4 GiB: BigTIFF from the start (tifffile, suite2p and ScanImage read it).
                long planned = _settings.ExpectedFrames > 0 ? _settings.ExpectedFrames : _run!.PlannedFrames ?? 0;
                _movie = new TiffMovieWriter(MoviePath, frame.Width, frame.Height, MovieMetadata(), _settings.BigTiff || planned == 0, planned / _settings.FrameEvery);
            }
            long limit = _settings.MaxMovieBytes;
            if (limit > 0 && _movie.Length + frame.Width * frame.Height * 2L + 512 > limit)
            {
                Fail($"recording stopped at {_movie.FrameCount} frames: movie.tif reached the size limit of {limit} bytes (recording.maxMovieBytes); the run goes on");
                Interlocked.Increment(ref _framesDiscarded);
                return;
            }
            _movie.Append(frame.Span, frame.SampleTimeNs / 1e9, frame.FrameIndex, frame.AcquiredHostNs);
            Interlocked.Increment(ref _framesWritten);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Fail($"recording stopped after {FramesWritten} frames: writing {MoviePath} failed ({ex.Message}); the run goes on, frames up to the last complete one stay readable");
            Interlocked.Increment(ref _framesDiscarded);
        }
    }

    private void WriteActivity(ActivitySnapshot s)
    {
        if (_activity is null || _error is not null) return;
        try
        {
            var w = _activity;
            w.Write(s.FrameIndex.ToString(CultureInfo.InvariantCulture));
            w.Write(',');
            w.Write((s.SampleTimeNs / 1e9).ToString("0.######", CultureInfo.InvariantCulture));
            w.Write(',');
            w.Write(s.HostNs.ToString(CultureInfo.InvariantCulture));
            foreach (float v in s.Dff)
            {
                w.Write(',');
                w.Write(v.ToString("G6", CultureInfo.InvariantCulture));
            }
            w.WriteLine();
            if (Interlocked.Increment(ref _activityRows) % 32 == 0) w.Flush();
        }
        catch (IOException ex)
        {
            Fail($"recording stopped: writing activity.csv failed ({ex.Message}); the run goes on");
        }
    }

    private void DrainEvents()
    {
        bool wrote = false;
        while (_events.TryDequeue(out var e))
        {
            if (_eventLog is null) continue;
            try
            {
                _eventLog.WriteLine(RunEventJson.ToLine(e));
                Interlocked.Increment(ref _eventsWritten);
                wrote = true;
            }
            catch (IOException ex)
            {
                _eventLog = null;
                Fail($"recording stopped: writing events.jsonl failed ({ex.Message}); the run goes on");
            }
        }
        if (wrote) { try { _eventLog?.Flush(); } catch (IOException) { } }
    }

    private void Fail(string message)
    {
        if (_error is not null) return;
        _error = message;
        // The event log hands this to listeners too (the bus, the dashboard) and to the report.
        _run?.Context.Events.Add(new RunEvent(RunEventKind.Fault, 0, MonotonicClock.NowNs(), Name, message));
    }

    private void Close()
    {
        try { _movie?.Dispose(); } catch (IOException ex) { _error ??= $"closing movie.tif failed: {ex.Message}"; }
        try { _activity?.Dispose(); } catch (IOException ex) { _error ??= $"closing activity.csv failed: {ex.Message}"; }
        try { _eventLog?.Dispose(); } catch (IOException ex) { _error ??= $"closing events.jsonl failed: {ex.Message}"; }
        _movie = null;
        _activity = null;
        _eventLog = null;
    }

    private string MovieMetadata()
    {
        var run = _run!;
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, RunEventJson.Readable))
        {
            w.WriteStartObject();
            w.WriteString("software", "ClosedLoop " + Version());
            w.WriteString("runId", run.Context.RunId);
            w.WriteString("profile", run.Profile);
            w.WriteString("experiment", run.Experiment);
            w.WriteNumber("frameRateHz", run.Context.FrameRateHz / _settings.FrameEvery);
            w.WriteNumber("frameEvery", _settings.FrameEvery);
            w.WriteNumber("widthPx", run.WidthPx);
            w.WriteNumber("heightPx", run.HeightPx);
            w.WriteString("startedUtc", _attachedUtc.ToString("O", CultureInfo.InvariantCulture));
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private void WriteManifest(RunResult? result)
    {
        var run = _run!;
        var o = new Dictionary<string, object?>
        {
            ["format"] = "closedloop-recording/1",
            ["runId"] = run.Context.RunId,
            ["profile"] = run.Profile,
            ["experiment"] = run.Experiment,
            ["widthPx"] = run.WidthPx,
            ["heightPx"] = run.HeightPx,
            ["frameRateHz"] = run.Context.FrameRateHz,
            ["versions"] = new Dictionary<string, string>
            {
                ["closedloop"] = Version(),
                ["dotnet"] = RuntimeInformation.FrameworkDescription,
                ["os"] = RuntimeInformation.OSDescription,
            },
            ["clock"] = new Dictionary<string, object?>
            {
                ["hostClock"] = "monotonic ns (Stopwatch)",
                ["attachedUtc"] = _attachedUtc.ToString("O", CultureInfo.InvariantCulture),
                ["attachedHostNs"] = _attachedHostNs,
                ["firstFrameSampleTimeNs"] = _firstSampleNs < 0 ? null : _firstSampleNs,
                ["firstFrameHostNs"] = _firstSampleNs < 0 ? null : _firstHostNs,
                ["note"] = "UTC of host time h = attachedUtc + (h - attachedHostNs) ns; sample-clock time s maps to host time firstFrameHostNs + (s - firstFrameSampleTimeNs) ns at the device's nominal rate",
            },
            ["files"] = new Dictionary<string, string>
            {
                ["movie"] = "movie.tif",
                ["activity"] = "activity.csv",
                ["events"] = "events.jsonl",
                ["rois"] = "rois.json",
            },
            ["frameEvery"] = _settings.FrameEvery,
            ["units"] = run.Units.Select(u => u.Name).ToArray(),
            ["groups"] = run.Groups.ToDictionary(g => g.Name, g => (object)new { role = g.Role, units = g.Units }),
            ["metadata"] = run.Metadata,
            ["complete"] = result is not null,
            ["outcome"] = result?.Outcome.ToString().ToLowerInvariant(),
            ["framesWritten"] = FramesWritten,
            ["framesDroppedAtTap"] = _sub?.Snapshot().FramesDropped ?? 0,
            ["error"] = _error,
        };
        string json = JsonSerializer.Serialize(o, new JsonSerializerOptions { WriteIndented = true, Encoder = RunEventJson.Readable.Encoder });
        string path = Path.Combine(_directory, "manifest.json");
        File.WriteAllText(path + ".tmp", json);
        File.Move(path + ".tmp", path, overwrite: true);
        WriteRois(run);
    }

    private void WriteRois(LiveRunInfo run)
    {
        string path = Path.Combine(_directory, "rois.json");
        // A run whose ROIs were found while imaging records its final masks (the units whose ROI exists at the end).
        var units = run.CurrentUnits is { } current ? current().Units.Where(u => u.Pixels.Length > 0).ToList() : run.Units;
        if (File.Exists(path) || units.Count == 0 || units.All(u => u.Pixels.Length == 0)) return;
        var o = new Dictionary<string, object>
        {
            ["height"] = run.HeightPx,
            ["width"] = run.WidthPx,
            ["pixel_index"] = "row*width+col",
            ["names"] = units.Select(u => u.Name).ToArray(),
            ["masks"] = units.Select(u => u.Pixels).ToArray(),
        };
        if (run.CurrentUnits is not null) o["source"] = $"online segmentation during run {run.Context.RunId} (final masks; names are unit names in activity.csv)";
        File.WriteAllText(path, JsonSerializer.Serialize(o));
    }

    private static string Version() =>
        typeof(RunRecorder).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "dev";

    private static string Csv(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
