using ClosedLoop.Cli;
using ClosedLoop.Dashboard;
using ClosedLoop.Hardware;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace ClosedLoop.IntegrationTests;

/// <summary>The dashboard on a real closed-loop run of the simulated rig, in headless Debian chromium.</summary>
public class DashboardRunTests(ITestOutputHelper output)
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task A_browser_watches_a_real_run_changes_a_parameter_and_stops_it()
    {
        Assert.True(File.Exists(Chromium), $"chromium is missing at {Chromium}; build/setup-native.sh chromium installs it (the test project's build runs it as root)");
        using var h = new Harness();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox", "--disable-gpu"] });
        string rig = h.ProfileWithPatientWatchdog();
        var host = new RunHost(new RunOptions(rig, "builtin:stimulus-avoidance", 120, SimulationPacing.Realtime, h.RunFolder, Quiet: true),
            h.Console, null, CancellationToken.None);
        RunReport? report = null;
        host.ReportWritten += r => report = r;
        await using var server = new DashboardServer(new DashboardSettings(), host);
        await server.StartAsync();
        host.AddConsumer(server);
        var run = Task.Run(host.RunNow);

        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1600, Height = 1100 } });
        page.SetDefaultTimeout(20_000);
        await page.GotoAsync(server.Url);
        await page.WaitForFunctionAsync("() => window.dashboard.framesReceived > 0", null, new() { Timeout = 20_000 }); // a function: the page's CSP forbids eval of a string
        Assert.False(run.IsCompleted, $"the run ended early: {report?.Outcome} {report?.Fault}");
        await Expect(page.Locator("#state")).ToHaveTextAsync("Running");
        await page.WaitForFunctionAsync("() => window.dashboard.framesReceived > 5");
        string shot = Path.Combine(h.Folder, "dashboard-real-run.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });
        output.WriteLine($"screenshot: {shot}");
        Assert.True(new FileInfo(shot).Length > 10_000);

        var row = page.Locator("#param-table tr[data-name='detectors.motorResponse.thresholdDff']");
        await row.Locator("input").FillAsync("0.4");
        await row.Locator("button").ClickAsync();
        await Expect(row.Locator(".value")).ToContainTextAsync("0.4", new() { Timeout = 15_000 }); // shown once the parameter list is refreshed

        await page.Locator("#btn-stop").ClickAsync();
        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(30)));
        await Expect(page.Locator("#state")).ToHaveTextAsync("Idle");
        Assert.Contains("stopped by remote control", report!.StopReason);
        Assert.Contains(h.EventsJson(), e => e.GetProperty("message").GetString()!.Contains("thresholdDff changed from 0.15 to 0.4"));
        var dash = Assert.Single(report.Live, l => l.Name == "dashboard");
        Assert.True(dash.Counters["framesSent"] > 5, dash.Summary); // the browser saw live frames of this run
        Assert.True(dash.Counters["commands"] >= 2, dash.Summary);  // the set and the stop went through the page
        Assert.Equal(0, dash.Counters["badMessages"]);
    }
}
