using ClosedLoop.Core;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace ClosedLoop.Dashboard.Tests;

/// <summary>The page in headless chromium, driven by a synthetic run and a fake run control.</summary>
public sealed class DashboardPageTests : IClassFixture<BrowserFixture>
{
    private readonly BrowserFixture _browser;
    private readonly ITestOutputHelper _output;

    public DashboardPageTests(BrowserFixture browser, ITestOutputHelper output)
    {
        _browser = browser;
        _output = output;
    }

    private static async Task<DashboardServer> StartAsync(IRunControl? control, DashboardSettings? settings = null)
    {
        var server = new DashboardServer(settings ?? new DashboardSettings(), control);
        await server.StartAsync();
        return server;
    }

    /// <summary>Pushes frames (as a 30 Hz run would) until the page's condition holds.</summary>
    private static async Task FeedUntilAsync(SyntheticRun run, IPage page, string condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!await page.EvaluateAsync<bool>($"() => !!({condition})"))
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"the page never reached: {condition}");
            run.Push(1);
            await Task.Delay(33);
        }
    }

    private static Task NextPaintAsync(IPage page) =>
        page.EvaluateAsync("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))");

    private static void Finish(DashboardServer server, SyntheticRun run)
    {
        run.Tap.Stop();
        server.Detach(new RunResult(RunOutcome.Completed, null, null, null, 1));
    }

    [BrowserFact]
    public async Task Page_RunAttached_ScreenshotShowsFrameWithRoiOutlinesAndTargets()
    {
        var run = new SyntheticRun();
        await using var server = await StartAsync(new FakeRunControl(run));
        server.Attach(run.Info, run.Tap);
        run.Start();
        var page = await _browser.OpenAsync(server.Url);
        await FeedUntilAsync(run, page, "window.dashboard.run && window.dashboard.run.active && window.dashboard.framesReceived > 2");
        await NextPaintAsync(page);

        string path = Path.Combine(AppContext.BaseDirectory, "artifacts", "dashboard-frame.png");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var image = PngImage.Decode(await page.Locator("#frame-canvas").ScreenshotAsync(new LocatorScreenshotOptions { Path = path }));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Path.GetDirectoryName(path)!, "dashboard-page.png"), FullPage = true });
        _output.WriteLine($"screenshot of the live frame: {path}");
        _output.WriteLine($"screenshot of the whole page: {Path.Combine(Path.GetDirectoryName(path)!, "dashboard-page.png")}");

        double scale = image.Width / (double)run.WidthPx;
        (int R, int G, int B) At(double x, double y) => image.Pixel((int)((x + 0.5) * scale), (int)((y + 0.5) * scale));
        var (c0, c1, c2) = (SyntheticRun.RoiCorners[0], SyntheticRun.RoiCorners[1], SyntheticRun.RoiCorners[2]);

        var plain = At(c0.X, c0.Y + 5); // left edge of ROI 0: a plain ROI, yellow
        Assert.True(plain.R > 200 && plain.G > 170 && plain.B < 80, $"ROI 0's outline should be yellow, got {plain}");
        var target = At(c1.X + 5, c1.Y); // top edge of ROI 1: a stimulation target, magenta
        Assert.True(target.R > 200 && target.G < 80 && target.B > 200, $"the stimulation target's outline should be magenta, got {target}");
        var detected = At(c2.X + SyntheticRun.RoiSizePx - 1, c2.Y + 5); // right edge of ROI 2: detector group, cyan
        Assert.True(detected.R < 80 && detected.G > 180 && detected.B > 200, $"the detector group's outline should be cyan, got {detected}");
        var inside = At(c0.X + 5, c0.Y + 5);
        var background = At(5, 5);
        Assert.True(inside.R > 180 && inside.R == inside.G && inside.G == inside.B, $"ROI pixels are bright grey in the frame, got {inside}");
        Assert.True(background.R < 60, $"background is dark, got {background}");

        await Expect(page.Locator("#protocol-state")).ToHaveTextAsync("stimulating");
        await Expect(page.Locator("#c-latency")).ToHaveTextAsync("120 / 480");
        Finish(server, run);
        await Expect(page.Locator("#idle-note")).ToBeVisibleAsync();
    }

    [BrowserFact]
    public async Task StartStopButtons_BetweenRunsAndDuringOne_RoundTripToRunControlAndShowState()
    {
        var control = new FakeRunControl(null, HostState.Idle);
        await using var server = await StartAsync(control);
        var page = await _browser.OpenAsync(server.Url);
        await Expect(page.Locator("#state")).ToHaveTextAsync("Idle");
        await Expect(page.Locator("#idle-note")).ToBeVisibleAsync();
        await Expect(page.Locator("#btn-stop")).ToBeDisabledAsync();

        await page.Locator("#btn-start").ClickAsync(); // no run attached yet: start goes to the host
        await Expect(page.Locator("#state")).ToHaveTextAsync("Running");
        Assert.Equal(1, control.StartCalls);
        await Expect(page.Locator("#command-result")).ToHaveTextAsync("start: ok");

        var run = new SyntheticRun(runId: "run-42");
        control.Run = run;
        server.Attach(run.Info, run.Tap); // what the host does when the run starts
        run.Start();
        await Expect(page.Locator("#run-id")).ToHaveTextAsync("run-42");
        await Expect(page.Locator("#btn-start")).ToBeDisabledAsync();

        await page.Locator("#btn-stop").ClickAsync();
        await Expect(page.Locator("#state")).ToHaveTextAsync("Idle");
        Assert.Equal(1, control.StopCalls);
        Assert.Equal("stopped from the dashboard", control.LastStopReason);
        await Expect(page.Locator("#command-result")).ToHaveTextAsync("stop: ok");
        Finish(server, run);
        await Expect(page.Locator("#btn-start")).ToBeEnabledAsync();
    }

    [BrowserFact]
    public async Task SetParameter_InRangeAndOutOfRange_AppliesOrShowsTheError()
    {
        var run = new SyntheticRun();
        var control = new FakeRunControl(run);
        await using var server = await StartAsync(control);
        server.Attach(run.Info, run.Tap);
        run.Start();
        var page = await _browser.OpenAsync(server.Url);
        var row = page.Locator("#param-table tr[data-name='detector.thresholdDff']");
        await Expect(row.Locator(".value")).ToHaveTextAsync("0.3 fraction");

        await row.Locator("input").FillAsync("0.5");
        await row.Locator("button").ClickAsync();
        await Expect(row.Locator(".value")).ToHaveTextAsync("0.5 fraction");
        Assert.Equal(new[] { ("detector.thresholdDff", 0.5) }, control.Sets);
        await Expect(page.Locator("#param-error")).ToHaveTextAsync("");

        await row.Locator("input").FillAsync("7");
        await row.Locator("button").ClickAsync();
        await Expect(page.Locator("#param-error")).ToContainTextAsync("out-of-range");
        await Expect(page.Locator("#param-error")).ToContainTextAsync("between 0.05 and 2");
        await Expect(row.Locator(".row-error")).ToContainTextAsync("out-of-range");

        await row.Locator("input").FillAsync("lots");
        await row.Locator("button").ClickAsync();
        await Expect(page.Locator("#param-error")).ToContainTextAsync("bad-request");
        Assert.Single(control.Sets);
        run.Push(1); // the fast loop applies the accepted change between frames
        Assert.Equal(0.5, run.Threshold);
        Finish(server, run);
    }

    [BrowserFact]
    public async Task SelectRoi_ClickOnFrameAndOnList_ShowsItsTraces()
    {
        var run = new SyntheticRun();
        await using var server = await StartAsync(new FakeRunControl(run));
        server.Attach(run.Info, run.Tap);
        run.Start();
        var page = await _browser.OpenAsync(server.Url);
        await FeedUntilAsync(run, page, "window.dashboard.framesReceived > 0");
        run.Push(60);

        var canvas = page.Locator("#frame-canvas");
        var box = (await canvas.BoundingBoxAsync())!;
        double scale = box.Width / run.WidthPx;
        var roi3 = run.Units[3];
        await canvas.ClickAsync(new LocatorClickOptions { Position = new Position { X = (float)((roi3.CentroidXPx + 0.5) * scale), Y = (float)((roi3.CentroidYPx + 0.5) * scale) } });
        await page.WaitForFunctionAsync("() => { const s = window.dashboard.traces.units.get(3); return s && s.dff.length >= 60; }");

        var frames = await page.EvaluateAsync<long[]>("() => window.dashboard.traces.frames");
        var dff = await page.EvaluateAsync<float[]>("() => window.dashboard.traces.units.get(3).dff");
        Assert.Equal(frames.Length, dff.Length);
        for (int i = 0; i < frames.Length; i++) Assert.Equal(SyntheticRun.DffAt(3, frames[i]), dff[i], 4);
        await Expect(page.Locator("#unit-list button[data-unit='3']")).ToHaveClassAsync("selected");

        // The trace is drawn in the first palette colour (#4fc3f7).
        await page.WaitForFunctionAsync(@"() => {
            const c = document.getElementById('trace-canvas'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] === 79 && d[i + 1] === 195 && d[i + 2] === 247) n++;
            return n > 50; }");

        await page.Locator("#unit-list button[data-unit='1']").ClickAsync();
        await page.WaitForFunctionAsync("() => window.dashboard.selection.length === 2 && window.dashboard.traces.units.has(1)");
        run.Push(10);
        await page.WaitForFunctionAsync("() => window.dashboard.traces.units.get(1).rate.length >= 70");
        Finish(server, run);
    }

    [BrowserFact]
    public async Task Events_StimulationDetectionsAndTrials_ShowInRasterLogAndLearningCurve()
    {
        var run = new SyntheticRun();
        await using var server = await StartAsync(new FakeRunControl(run));
        server.Attach(run.Info, run.Tap);
        run.Start();
        var page = await _browser.OpenAsync(server.Url);
        await FeedUntilAsync(run, page, "window.dashboard.framesReceived > 0");

        foreach (double t in new[] { 1.0, 2.0, 3.0 }) run.Event(RunEventKind.Stimulation, t, "laser", "spiral on roi1", 12);
        foreach (double t in new[] { 1.5, 2.5 }) run.Event(RunEventKind.Detection, t, "motor-response", "2 of 1 units active");
        double[] responseTimesS = [2.0, 1.5, 0.8];
        for (int i = 0; i < responseTimesS.Length; i++) run.Event(RunEventKind.TrialEnded, 3.5 + i, "lsa", $"trial {i + 1} met the criterion", responseTimesS[i]);

        await page.WaitForFunctionAsync("() => window.dashboard.curvePoints === 3 && window.dashboard.rasterMarks === 8");
        Assert.Equal(responseTimesS, await page.EvaluateAsync<double[]>("() => window.dashboard.trials"));
        await Expect(page.Locator("#event-log li.Stimulation")).ToHaveCountAsync(3);
        await Expect(page.Locator("#event-log li.Detection")).ToHaveCountAsync(2);
        // Raster ticks in the stimulation colour (#ff4fd8) are drawn.
        Assert.True(await page.EvaluateAsync<int>(@"() => {
            const c = document.getElementById('raster-canvas'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] === 255 && d[i + 1] === 79 && d[i + 2] === 216) n++;
            return n; }") > 30);

        // A browser that connects later gets the same history.
        var late = await _browser.OpenAsync(server.Url);
        await late.WaitForFunctionAsync("() => window.dashboard.curvePoints === 3 && window.dashboard.events.length === 8");
        Finish(server, run);
    }
}
