using System.Text.Json;
using ClosedLoop.Core;

namespace ClosedLoop.Messaging;

public sealed partial class EventBusPublisher
{
    private static readonly string[] KindNames = Enum.GetNames<RunEventKind>();

    /// <summary>One attached run as the publisher thread sees it.</summary>
    private sealed class RunState
    {
        public IDisposable? EventSubscription;

        public RunState(LiveRunInfo info, TapSubscription sub, BoundedLink<RunEvent> events, EventBusSettings s)
        {
            Info = info;
            Sub = sub;
            Events = events;
            Binning = s.FrameBinning;
            ActivityEvery = s.ActivityEvery;
            Traces = s.PublishTraces;
            Rates = s.PublishRates;
            Noise = s.PublishNoise;
            Raw = s.PublishRaw;
            RunId = JsonEncodedText.Encode(info.Context.RunId);
            var (w, h) = FrameBinning.OutputSize(info.WidthPx, info.HeightPx, Binning);
            BinBuffer = new ushort[Math.Max(w * h, 1)];
        }

        public LiveRunInfo Info { get; }
        public TapSubscription Sub { get; }
        public BoundedLink<RunEvent> Events { get; }
        public int Binning { get; }
        public int ActivityEvery { get; }
        public bool Traces { get; }
        public bool Rates { get; }
        public bool Noise { get; }
        public bool Raw { get; }
        public JsonEncodedText RunId { get; }
        public ushort[] BinBuffer { get; set; }
        public byte[] Description { get; set; } = [];
        public ManualResetEventSlim Done { get; } = new(false);
        public volatile bool DetachRequested;
        public volatile bool Detached;
        public RunResult? Result { get; set; }
        public string? Error { get; set; }
        public long FramesPublished, ActivityPublished, EventsPublished;
        public long MessagesSent, BytesSent, SendFailed;
        private long _sent0, _bytes0, _failed0;

        public void MarkStart(BusSender s) { _sent0 = s.Sent; _bytes0 = s.Bytes; _failed0 = s.Failed; }

        public void MarkEnd(BusSender s) { MessagesSent = s.Sent - _sent0; BytesSent = s.Bytes - _bytes0; SendFailed = s.Failed - _failed0; }

        public long SentSoFar(BusSender s) => s.Sent - _sent0;
    }

    private void PublishFrame(RunState run, Frame frame)
    {
        int f = run.Binning;
        var (ow, oh) = FrameBinning.OutputSize(frame.Width, frame.Height, f);
        ReadOnlySpan<ushort> payload;
        if (f == 1) payload = frame.Pixels;
        else
        {
            if (run.BinBuffer.Length != ow * oh) run.BinBuffer = new ushort[ow * oh];
            FrameBinning.Bin(frame.Pixels, frame.Width, frame.Height, f, run.BinBuffer);
            payload = run.BinBuffer;
        }
        var w = _sender.Begin(TopicId.Frame);
        w.WriteString("runId", run.RunId);
        w.WriteNumber("frameIndex", frame.FrameIndex);
        w.WriteNumber("sampleTimeNs", frame.SampleTimeNs);
        w.WriteNumber("hostNs", frame.CompletedHostNs);
        w.WriteString("dtype", "uint16");
        w.WriteStartArray("shape");
        w.WriteNumberValue(oh);
        w.WriteNumberValue(ow);
        w.WriteEndArray();
        w.WriteNumber("binning", f);
        w.WriteString("units", "counts");
        _sender.Send(payload);
        run.FramesPublished++;
    }

    private void PublishActivity(RunState run, ActivitySnapshot s)
    {
        if (run.Traces) PublishUnitArray(run, s, TopicId.Traces, s.Dff, "fraction");
        if (run.Rates) PublishUnitArray(run, s, TopicId.Rates, s.Rate, "spikes/frame");
        if (run.Noise) PublishUnitArray(run, s, TopicId.Noise, s.NoiseLevel, "nu");
        if (run.Raw) PublishUnitArray(run, s, TopicId.Raw, s.Raw, "counts");
        run.ActivityPublished++;
    }

    private void PublishUnitArray(RunState run, ActivitySnapshot s, TopicId topic, float[] values, string units)
    {
        var w = _sender.Begin(topic);
        w.WriteString("runId", run.RunId);
        w.WriteNumber("frameIndex", s.FrameIndex);
        w.WriteNumber("sampleTimeNs", s.SampleTimeNs);
        w.WriteNumber("hostNs", s.HostNs);
        w.WriteString("dtype", "float32");
        w.WriteStartArray("shape");
        w.WriteNumberValue(values.Length);
        w.WriteEndArray();
        w.WriteString("units", units);
        _sender.Send(values.AsSpan());
    }

    private void PublishEvent(RunState run, RunEvent e)
    {
        var w = _sender.Begin(Topics.ForEventId(e.Kind));
        w.WriteString("runId", run.RunId);
        w.WriteString("kind", KindNames[(int)e.Kind]);
        w.WriteNumber("sampleTimeNs", e.SampleTimeNs);
        w.WriteNumber("hostNs", e.HostNs);
        w.WriteString("source", e.Source);
        w.WriteString("message", e.Message);
        LiveJson.NumberOrNull(w, "value", e.Value);
        _sender.Send(ReadOnlySpan<byte>.Empty);
        run.EventsPublished++;
    }

    private void PublishRunInfo(RunState run, TopicId topic)
    {
        var info = run.Info;
        if (run.Description.Length == 0) run.Description = DescribeUnits(info);
        var (ow, oh) = FrameBinning.OutputSize(info.WidthPx, info.HeightPx, run.Binning);
        var w = _sender.Begin(topic);
        w.WriteString("runId", run.RunId);
        w.WriteNumber("hostNs", MonotonicClock.NowNs());
        w.WriteString("profile", info.Profile);
        w.WriteString("experiment", info.Experiment);
        w.WriteNumber("widthPx", info.WidthPx);
        w.WriteNumber("heightPx", info.HeightPx);
        w.WriteNumber("frameRateHz", info.Context.FrameRateHz);
        w.WriteNumber("unitCount", info.Units.Count);
        w.WriteNumber("groupCount", info.Groups.Count);
        w.WriteNumber("frameEvery", run.Sub.FrameEvery);
        w.WriteNumber("frameBinning", run.Binning);
        w.WriteStartArray("frameShape");
        w.WriteNumberValue(oh);
        w.WriteNumberValue(ow);
        w.WriteEndArray();
        w.WriteNumber("activityEvery", run.Sub.Activity is null ? 0 : run.ActivityEvery);
        w.WriteStartArray("topics");
        if (run.Sub.FrameEvery > 0) w.WriteStringValue(Topics.Frame);
        if (run.Sub.Activity is not null)
        {
            if (run.Traces) w.WriteStringValue(Topics.Traces);
            if (run.Rates) w.WriteStringValue(Topics.Rates);
            if (run.Noise) w.WriteStringValue(Topics.Noise);
            if (run.Raw) w.WriteStringValue(Topics.Raw);
        }
        w.WriteEndArray();
        w.WriteString("dtype", "json");
        _sender.Send(run.Description);
    }

    /// <summary>The payload of run.start / run.info: units, groups, live parameters and metadata as UTF-8 JSON.</summary>
    private static byte[] DescribeUnits(LiveRunInfo info)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartArray("units");
            foreach (var u in info.Units)
            {
                w.WriteStartObject();
                w.WriteString("name", u.Name);
                LiveJson.NumberOrNull(w, "centroidXPx", u.CentroidXPx);
                LiveJson.NumberOrNull(w, "centroidYPx", u.CentroidYPx);
                w.WriteStartArray("pixels");
                foreach (var p in u.Pixels) w.WriteNumberValue(p);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            LiveJson.WriteGroups(w, info.Groups);
            w.WritePropertyName("parameters");
            ControlJson.WriteParameters(w, info.Parameters.List());
            w.WriteStartObject("metadata");
            foreach (var (k, v) in info.Metadata) w.WriteString(k, v);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private void PublishRunEnd(RunState run)
    {
        var r = run.Result;
        var tap = run.Sub.Snapshot();
        var w = _sender.Begin(TopicId.RunEnd);
        w.WriteString("runId", run.RunId);
        w.WriteNumber("hostNs", MonotonicClock.NowNs());
        w.WriteString("outcome", r is null ? "detached" : r.Outcome.ToString().ToLowerInvariant());
        if (r?.FaultMessage is { } fault) w.WriteString("faultMessage", fault); else w.WriteNull("faultMessage");
        if (r?.StopReason is { } reason) w.WriteString("stopReason", reason); else w.WriteNull("stopReason");
        LiveJson.NumberOrNull(w, "wallSeconds", r?.WallSeconds ?? double.NaN);
        w.WriteNumber("framesPublished", run.FramesPublished);
        w.WriteNumber("activityPublished", run.ActivityPublished);
        w.WriteNumber("eventsPublished", run.EventsPublished);
        w.WriteNumber("framesDroppedByTap", tap.FramesDropped);
        w.WriteNumber("activityDroppedByTap", tap.ActivityDropped);
        w.WriteNumber("eventsDropped", run.Events.Dropped);
        _sender.Send(ReadOnlySpan<byte>.Empty);
    }

    private void PublishStatus()
    {
        var run = _current;
        LiveStatus? status = null;
        try { status = run is not null ? run.Info.Status() : _idleStatus?.Invoke(); }
        catch (Exception) { status = null; } // a failing status source must not stop the bus
        var w = _sender.Begin(TopicId.Status);
        w.WriteString("runId", status?.RunId ?? (run is null ? _lastRunId : run.Info.Context.RunId));
        w.WriteNumber("hostNs", MonotonicClock.NowNs());
        if (status is not null) ControlJson.WriteStatusFields(w, status);
        else w.WriteString("state", run is null ? "idle" : "running");
        w.WriteStartObject("bus");
        w.WriteNumber("messagesSent", _sender.Sent);
        w.WriteNumber("sendFailed", _sender.Failed);
        w.WriteNumber("statusPublished", ++_statusPublished);
        if (run is not null)
        {
            var tap = run.Sub.Snapshot();
            w.WriteNumber("framesPublished", run.FramesPublished);
            w.WriteNumber("activityPublished", run.ActivityPublished);
            w.WriteNumber("eventsPublished", run.EventsPublished);
            w.WriteNumber("framesDroppedByTap", tap.FramesDropped);
            w.WriteNumber("activityDroppedByTap", tap.ActivityDropped);
            w.WriteNumber("eventsDropped", run.Events.Dropped);
        }
        w.WriteEndObject();
        _sender.Send(ReadOnlySpan<byte>.Empty);
    }
}
