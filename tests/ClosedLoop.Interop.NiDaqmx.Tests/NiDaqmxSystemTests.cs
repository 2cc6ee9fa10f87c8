using System.Runtime.InteropServices;
using ClosedLoop.Hardware.Daq;
using ClosedLoop.Interop.NiDaqmx;

namespace ClosedLoop.Interop.NiDaqmx.Tests;

public class NiDaqmxSystemTests
{
    [Fact]
    public void Load_LibraryDoesNotExist_ThrowsInstallMessageNamingIt()
    {
        var e = Assert.Throws<NiDaqmxNotInstalledException>(() => NiDaqmxLibrary.Load(["libnidaqmx-does-not-exist.so.9"]));

        Assert.Equal(NiDaqmxErrorCodes.DriverNotInstalled, e.Code);
        Assert.Contains("libnidaqmx-does-not-exist.so.9", e.Message);
        Assert.Contains("NI-DAQmx is not installed", e.Message);
        Assert.Contains("ni.com", e.Message);
        Assert.Contains("simulated", e.Message);
        Assert.IsAssignableFrom<DaqException>(e);
    }

    [Fact]
    public void Constructor_RealDriverAbsent_ThrowsNotInstalled()
    {
        bool present = NiDaqmxLibrary.PlatformCandidates.Any(n =>
        {
            if (!NativeLibrary.TryLoad(n, out nint h)) return false;
            NativeLibrary.Free(h);
            return true;
        });
        if (present) return; // a machine with NI-DAQmx: nothing to prove here

        var e = Assert.Throws<NiDaqmxNotInstalledException>(() => new NiDaqmxSystem());

        Assert.Equal(NiDaqmxLibrary.PlatformCandidates, e.TriedLibraries);
    }

    [Fact]
    public void Constructor_DriverOlderThanMinimum_RefusedWithVersionMessage()
    {
        var api = new FakeNiDaqmxApi { MajorVersion = 9, MinorVersion = 7 };

        var e = Assert.Throws<DaqException>(() => new NiDaqmxSystem(api));

        Assert.Equal(NiDaqmxErrorCodes.DriverTooOld, e.Code);
        Assert.Contains("NI-DAQmx 9.7", e.Message);
        Assert.Contains($"{NiDaqmxSystem.MinimumMajorVersion}.0 or newer", e.Message);
    }

    [Fact]
    public void Devices_TwoBoards_ListedWithWidestRangesRatesAndChannels()
    {
        var api = new FakeNiDaqmxApi { DeviceNames = "Dev1, Dev2" };

        using var system = new NiDaqmxSystem(api);

        Assert.Equal(["Dev1", "Dev2"], system.Devices.Select(d => d.Name));
        IDaqDevice dev = system.Devices[0];
        Assert.Equal("PCIe-6363", dev.ProductType);
        Assert.Equal(new DaqRange(-10, 10), dev.AoRangeV);
        Assert.Equal(2_000_000, dev.MaxAiRateHz);
        Assert.Equal(2_860_000, dev.MaxAoRateHz);
        Assert.Contains("Dev1/ctr0", dev.PhysicalChannels);
        Assert.Contains("/Dev1/PFI0", dev.Terminals);
        Assert.Equal(23, system.DriverMajorVersion);
    }
}
