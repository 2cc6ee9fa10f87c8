using ClosedLoop.Messaging.Zmq;

namespace ClosedLoop.Messaging.Tests;

public class BusSenderTests
{
    [ZmqFact]
    public void Send_SteadyState_AllocatesNothingPerMessage()
    {
        using var ctx = new ZmqContext();
        using var pub = ctx.CreateSocket(ZmqSocketType.Pub);
        pub.Bind("inproc://sender-alloc");
        var sender = new BusSender(pub);
        var payload = new float[16];
        void SendOne(int i)
        {
            var w = sender.Begin(TopicId.Traces);
            w.WriteString("runId", "r");
            w.WriteNumber("frameIndex", i);
            w.WriteStartArray("shape");
            w.WriteNumberValue(payload.Length);
            w.WriteEndArray();
            sender.Send(payload);
        }
        for (int i = 0; i < 1000; i++) SendOne(i); // warm-up
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++) SendOne(i);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 1_000, $"{allocated} bytes allocated for 10,000 messages");
        Assert.Equal(11_000, sender.Sent);
    }
}
