using Xunit.Abstractions;

namespace ClosedLoop.Messaging.Tests;

/// <summary>Runs the bus benchmark and prints its figures (no timing is asserted: speed is reported, not tested).
/// Run it alone with <c>dotnet test tests/ClosedLoop.Messaging.Tests --filter Category=Benchmark --logger "console;verbosity=detailed"</c>.</summary>
public class BusBenchmarkTests(ITestOutputHelper output)
{
    [ZmqFact]
    [Trait("Category", "Benchmark")]
    public void BusBenchmark_SmallMessages_ReportsRatesAndDeliversEverythingWithoutAHighWaterMark()
    {
        int messages = int.TryParse(Environment.GetEnvironmentVariable("CLOSEDLOOP_BUS_BENCH_MESSAGES"), out int n) ? n : 50_000;
        var result = BusBenchmark.Run(new BusBenchmarkOptions { Messages = messages });
        output.WriteLine(result.ToText());
        Console.WriteLine(result.ToText());

        Assert.Equal(4, result.Scenarios.Count);
        // Without a high-water mark nothing may be lost: every message published arrives whole.
        Assert.Equal(messages, result.Scenarios[0].Received);
        Assert.Equal(messages, result.Scenarios[1].Received);
        // The never-reading subscriber lost messages, and every loss shows as a gap in seq.
        var slow = result.Scenarios[3];
        Assert.Equal(messages, slow.SlowSubscriberReceived + slow.SlowSubscriberMissed);
        Assert.True(slow.SlowSubscriberMissed > 0);
    }
}
