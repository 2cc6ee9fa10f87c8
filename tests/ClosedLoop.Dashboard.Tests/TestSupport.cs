using System.Buffers.Binary;
using System.IO.Compression;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.Playwright;

namespace ClosedLoop.Dashboard.Tests;

/// <summary>A browser test: skipped, with the reason, when Debian chromium is not installed.</summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public const string ChromiumPath = "/usr/bin/chromium";

    public BrowserFactAttribute()
    {
        if (!File.Exists(ChromiumPath))
            Skip = $"chromium is not installed at {ChromiumPath}; `build/setup-native.sh chromium` (run by this project's build as root) installs it";
    }
}

/// <summary>One headless chromium for all browser tests of a class.</summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    private IPlaywright? _playwright;

    public IBrowser? Browser { get; private set; }

    public async Task InitializeAsync()
    {
        if (!File.Exists(BrowserFactAttribute.ChromiumPath)) return;
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = BrowserFactAttribute.ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu"],
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.DisposeAsync();
        _playwright?.Dispose();
    }

    public async Task<IPage> OpenAsync(string url)
    {
        var page = await Browser!.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1600, Height = 1100 }, DeviceScaleFactor = 1 });
        page.SetDefaultTimeout(15_000);
        await page.GotoAsync(url);
        return page;
    }
}

/// <summary>A WebSocket client for protocol tests: reads replies, skips everything else.</summary>
internal sealed class TestSocket : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();

    public ClientWebSocket Socket => _socket;

    public static async Task<TestSocket> ConnectAsync(DashboardServer server)
    {
        var s = new TestSocket();
        await s._socket.ConnectAsync(new Uri(server.WebSocketUrl), CancellationToken.None);
        return s;
    }

    public Task SendTextAsync(string text) => _socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>Reads messages until one of type <paramref name="type"/> arrives; binary frames are counted and skipped.</summary>
    public async Task<JsonElement> ReadUntilAsync(string type, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var buffer = new byte[1 << 20];
        while (true)
        {
            int length = 0;
            ValueWebSocketReceiveResult r;
            do
            {
                r = await _socket.ReceiveAsync(buffer.AsMemory(length), cts.Token);
                length += r.Count;
            }
            while (!r.EndOfMessage);
            if (r.MessageType == WebSocketMessageType.Binary) { FramesReceived++; LastFrame = buffer.AsSpan(0, length).ToArray(); continue; }
            var doc = JsonDocument.Parse(buffer.AsMemory(0, length));
            if (doc.RootElement.GetProperty("type").GetString() == type) return doc.RootElement.Clone();
        }
    }

    public int FramesReceived { get; private set; }

    public byte[]? LastFrame { get; private set; }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            if (_socket.State == WebSocketState.Open) await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "test done", cts.Token);
        }
        catch (Exception) { _socket.Abort(); }
        _socket.Dispose();
    }
}

internal static class Wait
{
    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes (then fails with <paramref name="what"/>).</summary>
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }
}

/// <summary>Reads the 8-bit RGB/RGBA, non-interlaced PNGs chromium writes, to look at screenshot pixels.</summary>
internal sealed class PngImage
{
    private PngImage(int width, int height, byte[] rgba)
    {
        Width = width;
        Height = height;
        Rgba = rgba;
    }

    public int Width { get; }
    public int Height { get; }
    public byte[] Rgba { get; }

    public (int R, int G, int B) Pixel(int x, int y)
    {
        int i = (y * Width + x) * 4;
        return (Rgba[i], Rgba[i + 1], Rgba[i + 2]);
    }

    public static PngImage Decode(byte[] png)
    {
        int pos = 8, width = 0, height = 0, colourType = 0;
        using var idat = new MemoryStream();
        while (pos < png.Length)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            string type = Encoding.ASCII.GetString(png, pos + 4, 4);
            var data = png.AsSpan(pos + 8, length);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data.Slice(4));
                if (data[8] != 8 || data[12] != 0) throw new NotSupportedException("only 8-bit non-interlaced PNGs");
                colourType = data[9];
            }
            else if (type == "IDAT") idat.Write(data);
            else if (type == "IEND") break;
            pos += 12 + length;
        }
        int channels = colourType switch { 2 => 3, 6 => 4, _ => throw new NotSupportedException($"PNG colour type {colourType}") };
        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        using var raw = new MemoryStream();
        z.CopyTo(raw);
        var bytes = raw.ToArray();
        int stride = width * channels;
        var image = new byte[height * stride];
        for (int y = 0; y < height; y++)
        {
            int filter = bytes[y * (stride + 1)];
            for (int x = 0; x < stride; x++)
            {
                int a = x >= channels ? image[y * stride + x - channels] : 0;
                int b = y > 0 ? image[(y - 1) * stride + x] : 0;
                int c = x >= channels && y > 0 ? image[(y - 1) * stride + x - channels] : 0;
                int v = bytes[y * (stride + 1) + 1 + x];
                image[y * stride + x] = (byte)(filter switch
                {
                    0 => v,
                    1 => v + a,
                    2 => v + b,
                    3 => v + (a + b) / 2,
                    4 => v + Paeth(a, b, c),
                    _ => throw new NotSupportedException($"PNG filter {filter}"),
                });
            }
        }
        var rgba = new byte[width * height * 4];
        for (int i = 0; i < width * height; i++)
        {
            rgba[i * 4] = image[i * channels];
            rgba[i * 4 + 1] = image[i * channels + 1];
            rgba[i * 4 + 2] = image[i * channels + 2];
            rgba[i * 4 + 3] = channels == 4 ? image[i * channels + 3] : (byte)255;
        }
        return new PngImage(width, height, rgba);
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}
