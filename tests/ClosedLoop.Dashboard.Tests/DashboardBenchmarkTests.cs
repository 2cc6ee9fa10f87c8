using Xunit.Abstractions;

namespace ClosedLoop.Dashboard.Tests;

/// <summary>Runs the dashboard benchmark and prints its figures. Speed is reported, never asserted:
/// <c>dotnet test tests/ClosedLoop.Dashboard.Tests --filter Category=Benchmark --logger "console;verbosity=detailed"</c>
/// (CLOSEDLOOP_BENCH_SECONDS sets the seconds per phase; 3 by default).</summary>
public sealed class DashboardBenchmarkTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "Benchmark")]
    public async Task DashboardBenchmark_512x512At60Hz_PrintsDeliveredFrameRateAndTapCost()
    {
        double seconds = double.TryParse(Environment.GetEnvironmentVariable("CLOSEDLOOP_BENCH_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out var s) ? s : 3;
        var result = await DashboardBenchmark.RunAsync(new DashboardBenchmarkOptions { SecondsPerPhase = seconds });
        output.WriteLine(result.Format());
        Console.WriteLine(result.Format());
        Assert.True(result.FramesDelivered > 0, "the client received frames");
        Assert.Equal(result.Without.Frames, result.With.Frames);
    }
}
