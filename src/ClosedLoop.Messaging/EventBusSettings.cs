using ClosedLoop.Core;
using ClosedLoop.Messaging.Zmq;

namespace ClosedLoop.Messaging;

/// <summary>Settings of the <see cref="EventBusPublisher"/>; read once when the publisher is created, except where
/// a setting says it is read at each run's attach.</summary>
public sealed class EventBusSettings : IStageSettings
{
    /// <summary>Where to publish. Loopback by default; any address other machines can reach needs CURVE keys.</summary>
    public string Endpoint { get; set; } = BusEndpoint.DefaultPublish;

    /// <summary>Publish every N-th frame (0 = no frames). Read at each attach.</summary>
    public int FrameEvery { get; set; } = 1;

    /// <summary>Integer binning factor of published frames (1 = full size, 2 = half width and height, …). Read at each attach.</summary>
    public int FrameBinning { get; set; } = 1;

    /// <summary>Frames the tap may queue for the publisher before it drops (and counts) new ones. Read at each attach.</summary>
    public int FrameQueue { get; set; } = 4;

    /// <summary>Publish the activity (traces, rates, …) of every N-th frame (0 = none). Read at each attach.</summary>
    public int ActivityEvery { get; set; } = 1;

    /// <summary>Activity snapshots the tap may queue before it drops (and counts) new ones. Read at each attach.</summary>
    public int ActivityQueue { get; set; } = 256;

    /// <summary>Publish ΔF/F per unit on <c>traces</c>.</summary>
    public bool PublishTraces { get; set; } = true;

    /// <summary>Publish inferred rates per unit on <c>rates</c>.</summary>
    public bool PublishRates { get; set; } = true;

    /// <summary>Publish the noise level ν per unit on <c>noise</c>.</summary>
    public bool PublishNoise { get; set; }

    /// <summary>Publish the raw signal per unit on <c>raw</c>.</summary>
    public bool PublishRaw { get; set; }

    /// <summary>Run events queued for the publisher before new ones are dropped (and counted).</summary>
    public int EventQueue { get; set; } = 4096;

    /// <summary>Messages libzmq queues per subscriber (ZMQ_SNDHWM); beyond it a slow subscriber loses messages.</summary>
    public int SendHighWaterMark { get; set; } = 2000;

    /// <summary>Period of <c>status</c> messages, s.</summary>
    public double StatusPeriodS { get; set; } = 1.0;

    /// <summary>Period of <c>run.info</c> repeats of the run description for late subscribers, s (0 = only <c>run.start</c>).</summary>
    public double RunInfoPeriodS { get; set; } = 5.0;

    /// <summary>CURVE secret key file of the server (see docs/messaging.md); required for a non-loopback endpoint.</summary>
    public string? CurveSecretKeyFile { get; set; }

    /// <summary>CURVE server keys given directly (wins over <see cref="CurveSecretKeyFile"/>).</summary>
    public CurveKeyPair? CurveKeys { get; set; }

    /// <inheritdoc />
    public void Validate()
    {
        BusEndpoint.Validate("bus.publish.endpoint", Endpoint);
        Check.InRange("bus.frameEvery", FrameEvery, 0, 1_000_000);
        Check.InRange("bus.frameBinning", FrameBinning, 1, 64);
        Check.InRange("bus.frameQueue", FrameQueue, 1, 1024);
        Check.InRange("bus.activityEvery", ActivityEvery, 0, 1_000_000);
        Check.InRange("bus.activityQueue", ActivityQueue, 1, 1 << 16);
        Check.InRange("bus.eventQueue", EventQueue, 1, 1 << 20);
        Check.InRange("bus.sendHighWaterMark", SendHighWaterMark, 1, 10_000_000);
        Check.InRange("bus.statusPeriodS", StatusPeriodS, 0.01, 3600);
        Check.InRange("bus.runInfoPeriodS", RunInfoPeriodS, 0, 3600);
        if (!BusEndpoint.IsLocal(Endpoint) && CurveKeys is null && string.IsNullOrWhiteSpace(CurveSecretKeyFile))
            throw new SettingException("bus.publish.endpoint", Endpoint,
                "a loopback endpoint (tcp://127.0.0.1:PORT) unless CURVE keys are given (bus.curveSecretKeyFile): a non-loopback publisher would show the run to anyone on the network");
    }
}
