namespace ClosedLoop.Hardware.Tests;

/// <summary>A small valid profile whose line numbers the tests rely on, and a temporary folder for files.</summary>
internal static class TestProfiles
{
    public const string Source = "rig.yaml";

    // Line numbers matter: tests assert them.
    public const string Minimal =
        "name: test-rig\n" +                        // 1
        "daq:\n" +                                  // 2
        "  backend: simulated\n" +                  // 3
        "imaging:\n" +                              // 4
        "  widthPx: 64\n" +                         // 5
        "  heightPx: 64\n" +                        // 6
        "  frameRateHz: 30\n" +                     // 7
        "simulation:\n" +                           // 8
        "  tissue:\n" +                             // 9
        "    footprints: generated\n" +             // 10
        "    generatedNeuronCount: 20\n" +          // 11
        "    pathways:\n" +                         // 12
        "      - from: [1, 2]\n" +                  // 13
        "        to: [3]\n" +                       // 14
        "      - from: [4]\n" +                     // 15
        "        to: [5]\n" +                       // 16
        "        probability: 0.5\n" +              // 17
        "stimulators:\n" +                          // 18
        "  - name: laser\n" +                       // 19
        "    maxPowerMw: 10\n";                     // 20

    public static string ShippedFile(string name) => Path.Combine(AppContext.BaseDirectory, "hardware-profiles", name);
}

/// <summary>A fresh temporary folder, deleted afterwards.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "closedloop-hw-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Write(string name, string text)
    {
        string file = System.IO.Path.Combine(Path, name);
        File.WriteAllText(file, text);
        return file;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
