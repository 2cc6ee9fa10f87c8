using System.Text.Json;
using ClosedLoop.Core;
using ClosedLoop.Storage;
using Xunit;

namespace ClosedLoop.Storage.Tests;

public sealed class RecorderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("closedloop-rec-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private sealed class FakeRun
    {
        public readonly RunEventLog Events = new();
        public readonly PopulationActivity Activity = new(2, new[] { "a", "b" });
        public readonly LiveTap Tap;
        public readonly FramePool Pool;
        public readonly LiveRunInfo Info;

        public FakeRun(params ILiveConsumer[] consumers)
        {
            var context = new RunContext("run-1", 30, Events, new CancellationTokenSource());
            Info = new LiveRunInfo(context, "rig.yaml", "exp.yaml", 8, 6,
                new[] { new LiveUnit("a", new[] { 0, 1, 8 }, 0.3, 0.3), new LiveUnit("b", new[] { 20, 21 }, 4.5, 2) },
                new[] { new LiveGroup("g", new[] { 0, 1 }, "stimulated") }, new ParameterBoard(), () => null!,
                new Dictionary<string, string> { ["profileName"] = "rig" });
            Tap = new LiveTap(Activity);
            foreach (var c in consumers) c.Attach(Info, Tap);
            Pool = new FramePool(8, 6, 2 + Tap.FramesHeldMax);
            Tap.Start(context);
        }

        public void Frames(int n, long skipIndex = -1)
        {
            for (long i = 0; i < n; i++)
            {
                if (i == skipIndex) continue; // a frame lost upstream
                Assert.True(Pool.TryRent(out var f));
                f.FrameIndex = i;
                f.SampleTimeNs = i * 33_333_333;
                f.AcquiredHostNs = 1_000 + i;
                for (int p = 0; p < f.Span.Length; p++) f.Span[p] = (ushort)(100 * i + p);
                Activity.FrameIndex = i;
                Activity.SampleTimeNs = f.SampleTimeNs;
                Activity.Dff[0] = i / 10f;
                if (i == 3) Events.Add(new RunEvent(RunEventKind.Stimulation, f.SampleTimeNs, 0, "photostim", "pulse", 8));
                Tap.Process(f);
                f.Release();
                Thread.Sleep(1);
            }
            Tap.Stop();
        }
    }

    private static RunResult Done => new(RunOutcome.Completed, null, null, null, 1);

    [Fact]
    public void A_recording_holds_every_frame_with_its_index_and_time_the_activity_the_events_and_a_manifest()
    {
        var rec = new RunRecorder(_dir);
        var run = new FakeRun(rec);
        run.Frames(10, skipIndex: 4);
        var report = rec.Detach(Done);
        Assert.Null(report.Error);
        Assert.Equal(9, report.Counters["framesWritten"]);
        Assert.Equal(0, run.Pool.Outstanding);

        using (var movie = new TiffMovieReader(rec.MoviePath, requireComplete: true))
        {
            Assert.Equal(9, movie.FrameCount);
            Assert.True(movie.IsBigTiff); // a run of unknown length may pass 4 GiB
            var px = new ushort[48];
            movie.ReadFrame(4, px); // page 4 is frame 5: frame 4 never arrived
            Assert.Equal(500, px[0]);
            using var d4 = JsonDocument.Parse(movie.GetDescription(4));
            Assert.Equal(5, d4.RootElement.GetProperty("frameIndex").GetInt64());
            Assert.Equal(1_005, d4.RootElement.GetProperty("hostTimeNs").GetInt64());
            using var d0 = JsonDocument.Parse(movie.GetDescription(0));
            Assert.Equal(30, d0.RootElement.GetProperty("frameRateHz").GetDouble());
            Assert.Equal("run-1", d0.RootElement.GetProperty("runId").GetString());
        }

        var activity = File.ReadAllLines(Path.Combine(_dir, "activity.csv"));
        Assert.Equal("frameIndex,sampleTimeS,decisionHostNs,a,b", activity[0]);
        Assert.Equal(10, activity.Length); // header + 9 frames
        Assert.StartsWith("9,0.3,", activity[^1]);
        Assert.EndsWith(",0.9,0", activity[^1]);

        var ev = JsonDocument.Parse(Assert.Single(File.ReadAllLines(Path.Combine(_dir, "events.jsonl")))).RootElement;
        Assert.Equal("stimulation", ev.GetProperty("kind").GetString());

        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "manifest.json"))).RootElement;
        Assert.True(manifest.GetProperty("complete").GetBoolean());
        Assert.Equal(9, manifest.GetProperty("framesWritten").GetInt64());
        Assert.Equal(1_000, manifest.GetProperty("clock").GetProperty("firstFrameHostNs").GetInt64());
        var rois = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "rois.json"))).RootElement;
        Assert.Equal(new[] { 20, 21 }, rois.GetProperty("masks")[1].EnumerateArray().Select(e => e.GetInt32()));
    }

    [Fact]
    public void A_write_error_stops_recording_with_a_fault_event_keeps_what_was_written_and_releases_every_frame()
    {
        if (!File.Exists("/dev/full")) return; // the full-disk device is Linux-only
        File.CreateSymbolicLink(Path.Combine(_dir, "movie.tif"), "/dev/full");
        var rec = new RunRecorder(_dir);
        var run = new FakeRun(rec);
        run.Frames(20);
        var report = rec.Detach(Done);
        Assert.NotNull(report.Error);
        Assert.Contains("movie.tif", report.Error);
        Assert.Contains("the run goes on", report.Error);
        Assert.Equal(0, report.Counters["framesWritten"]);
        Assert.Contains(run.Events.Snapshot(), e => e.Kind == RunEventKind.Fault && e.Source == "recorder");
        Assert.Equal(0, run.Pool.Outstanding);
        // The rest of the recording is still there and readable.
        Assert.StartsWith("frameIndex,", File.ReadAllLines(Path.Combine(_dir, "activity.csv"))[0]);
        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "manifest.json"))).RootElement;
        Assert.Contains("movie.tif", manifest.GetProperty("error").GetString());
    }

    [Fact]
    public void The_size_limit_stops_recording_at_a_complete_frame()
    {
        var rec = new RunRecorder(_dir, new RecordingSettings { MaxMovieBytes = 3000 });
        var run = new FakeRun(rec);
        run.Frames(20);
        var report = rec.Detach(Done);
        Assert.Contains("size limit", report.Error);
        using var movie = new TiffMovieReader(rec.MoviePath, requireComplete: true);
        Assert.InRange(movie.FrameCount, 1, 19);
        Assert.True(new FileInfo(rec.MoviePath).Length <= 3000);
        Assert.Equal(movie.FrameCount, report.Counters["framesWritten"]);
    }

    [Fact]
    public void Bad_recording_settings_name_the_setting()
    {
        var ex = Assert.Throws<SettingException>(() => new RunRecorder(_dir, new RecordingSettings { FrameEvery = 0 }));
        Assert.Contains("recording.frameEvery", ex.Message);
    }
}

public sealed class ReplayTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("closedloop-replay-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Movie(string? metadata, int frames = 6)
    {
        string path = Path.Combine(_dir, "m.tif");
        using var w = new TiffMovieWriter(path, 4, 3, metadata);
        var px = new ushort[12];
        for (int i = 0; i < frames; i++)
        {
            Array.Fill(px, (ushort)(i + 1));
            w.Append(px, i / 20.0, frameIndex: i < 3 ? i : i + 2, hostTimeNs: -1); // frames 3 and 4 were lost when recording
        }
        return path;
    }

    [Fact]
    public void Replay_lock_step_delivers_every_page_with_the_recorded_indices_and_times()
    {
        using var src = new TiffReplaySource(Movie("""{"frameRateHz": 20}"""), realtime: false);
        Assert.Equal(20, src.FrameRateHz);
        var pool = new FramePool(4, 3, 4);
        var link = new BoundedLink<Frame>("l", 4, LinkFullMode.Wait);
        var got = new List<(long, long, ushort)>();
        var reader = new Thread(() =>
        {
            while (link.TryTake(out var f, CancellationToken.None))
            {
                got.Add((f.FrameIndex, f.SampleTimeNs, f.Span[0]));
                pool.MarkProcessed(f.FrameIndex);
                f.Release();
            }
        });
        reader.Start();
        src.Run(pool, link, CancellationToken.None);
        link.Complete();
        reader.Join();
        Assert.Equal(new long[] { 0, 1, 2, 5, 6, 7 }, got.Select(g => g.Item1));
        Assert.Equal(250_000_000, got[5].Item2);
        Assert.Equal(new ushort[] { 1, 2, 3, 4, 5, 6 }, got.Select(g => g.Item3));
        Assert.Equal(6, src.FramesAcquired);
    }

    [Fact]
    public void A_movie_without_a_frame_rate_needs_one_and_the_error_says_so()
    {
        string path = Movie(null);
        var ex = Assert.Throws<SettingException>(() => new TiffReplaySource(path));
        Assert.Contains("replay.frameRateHz", ex.Message);
        Assert.Contains("--frame-rate-hz", ex.Message);
        using var ok = new TiffReplaySource(path, frameRateHz: 15);
        Assert.Equal(15, ok.FrameRateHz);
        Assert.Throws<SettingException>(() => new TiffReplaySource(path, frameRateHz: -1));
        Assert.Throws<SettingException>(() => new TiffReplaySource(Path.Combine(_dir, "none.tif")));
    }

    [Theory]
    [InlineData("SI.hRoiManager.scanFrameRate = 29.98\nSI.hRoiManager.linesPerFrame = 512", 29.98)]
    [InlineData("state.acq.frameRate=15.5", 15.5)]
    [InlineData("""{"frameRateHz": 7.5, "frameIndex": 0}""", 7.5)]
    [InlineData("no rate here", null)]
    public void The_frame_rate_is_read_from_ScanImage_and_our_own_descriptions(string description, double? expected) =>
        Assert.Equal(expected, TiffReplaySource.FrameRateFromMetadata(description));

    [Fact]
    public void Signed_pixels_as_ScanImage_writes_them_are_read_with_negative_values_clipped_to_zero()
    {
        string path = Path.Combine(_dir, "si.tif");
        using (var w = new TiffMovieWriter(path, 2, 2))
            w.Append(new ushort[] { 5, unchecked((ushort)(short)-20), 300, 0 }, 0);
        // Turn SampleFormat (tag 339, SHORT, 1 value) from 1 (unsigned) into 2 (signed), as a ScanImage file has it.
        var bytes = File.ReadAllBytes(path);
        int patched = 0;
        for (int i = 0; i + 12 <= bytes.Length; i += 2)
            if (bytes[i] == 0x53 && bytes[i + 1] == 0x01 && bytes[i + 2] == 3 && bytes[i + 3] == 0 && bytes[i + 4] == 1 && bytes[i + 8] == 1) { bytes[i + 8] = 2; patched++; }
        Assert.Equal(1, patched);
        File.WriteAllBytes(path, bytes);
        using var r = new TiffMovieReader(path);
        Assert.True(r.IsSigned);
        var px = new ushort[4];
        r.ReadFrame(0, px);
        Assert.Equal(new ushort[] { 5, 0, 300, 0 }, px);
    }
}
