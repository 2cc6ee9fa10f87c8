using ClosedLoop.Core;
using ClosedLoop.Hardware.Yaml;

namespace ClosedLoop.Hardware;

/// <summary>Readers for the sections that describe a real scanning rig: DAQ devices and channels, scanners, ETL,
/// optics, laser and detectors.</summary>
public static partial class HardwareProfileLoader
{
    private static DaqDeviceProfile ReadDevice(YamlSection s)
    {
        var d = new DaqDeviceProfile();
        d.Name = s.OptionalString("name", d.Name)!;
        d.ProductType = s.OptionalString("productType", d.ProductType);
        d.AoRangeV = OptionalRange(s, "aoRangeV");
        d.AiRangeV = OptionalRange(s, "aiRangeV");
        if (s.Has("maxAoRateHz")) d.MaxAoRateHz = s.Double("maxAoRateHz");
        if (s.Has("maxAiRateHz")) d.MaxAiRateHz = s.Double("maxAiRateHz");
        s.RejectUnknownKeys();
        return d;
    }

    private static TimebaseProfile ReadTimebase(YamlSection s)
    {
        var t = new TimebaseProfile();
        t.Source = s.OptionalString("source", t.Source)!;
        t.RateHz = s.Double("rateHz", t.RateHz);
        s.RejectUnknownKeys();
        return t;
    }

    private static StartTriggerProfile ReadStartTrigger(YamlSection s)
    {
        var t = new StartTriggerProfile();
        t.Terminal = s.OptionalString("terminal", t.Terminal)!;
        t.Edge = s.Enum("edge", t.Edge);
        s.RejectUnknownKeys();
        return t;
    }

    private static DaqChannelProfile ReadChannel(YamlSection s)
    {
        var c = new DaqChannelProfile();
        c.Device = s.OptionalString("device", c.Device);
        c.Physical = s.OptionalString("physical", c.Physical)!;
        c.Kind = s.Enum<ChannelKind>("kind");
        c.RangeV = OptionalRange(s, "rangeV");
        c.Terminal = s.OptionalString("terminal", c.Terminal);
        s.RejectUnknownKeys();
        return c;
    }

    private static ScannersProfile ReadScanners(YamlSection s)
    {
        var m = new ScannersProfile();
        m.Mode = s.Enum("mode", m.Mode);
        if (s.Section("resonant") is { } resonant) m.Resonant = ReadResonant(resonant);
        if (s.Section("galvoX") is { } x) m.GalvoX = ReadGalvo(x);
        if (s.Section("galvoY") is { } y) m.GalvoY = ReadGalvo(y);
        s.RejectUnknownKeys();
        return m;
    }

    private static ResonantScannerProfile ReadResonant(YamlSection s)
    {
        var r = new ResonantScannerProfile();
        r.FrequencyHz = s.Double("frequencyHz", r.FrequencyHz);
        r.MaxScanAngleDeg = s.Double("maxScanAngleDeg", r.MaxScanAngleDeg);
        r.Bidirectional = s.Bool("bidirectional", r.Bidirectional);
        r.TemporalFillFraction = s.Double("temporalFillFraction", r.TemporalFillFraction);
        r.LineClockChannel = s.OptionalString("lineClockChannel", r.LineClockChannel);
        r.AngleControlChannel = s.OptionalString("angleControlChannel", r.AngleControlChannel);
        s.RejectUnknownKeys();
        return r;
    }

    private static GalvoProfile ReadGalvo(YamlSection s)
    {
        var g = new GalvoProfile();
        g.Channel = s.OptionalString("channel", g.Channel)!;
        g.VoltsPerDeg = s.Double("voltsPerDeg", g.VoltsPerDeg);
        g.MaxAngleDeg = s.Double("maxAngleDeg", g.MaxAngleDeg);
        g.MaxSlewDegPerS = s.Double("maxSlewDegPerS", g.MaxSlewDegPerS);
        g.MaxAccelDegPerS2 = s.Double("maxAccelDegPerS2", g.MaxAccelDegPerS2);
        g.SettleTimeUs = s.Double("settleTimeUs", g.SettleTimeUs);
        s.RejectUnknownKeys();
        return g;
    }

    private static EtlProfile ReadEtl(YamlSection s)
    {
        var e = new EtlProfile();
        e.Channel = s.OptionalString("channel", e.Channel)!;
        e.DiopterPerVolt = s.Double("diopterPerVolt", e.DiopterPerVolt);
        e.OffsetDiopter = s.Double("offsetDiopter", e.OffsetDiopter);
        e.MinDiopter = s.Double("minDiopter", e.MinDiopter);
        e.MaxDiopter = s.Double("maxDiopter", e.MaxDiopter);
        e.SettleTimeMs = s.Double("settleTimeMs", e.SettleTimeMs);
        s.RejectUnknownKeys();
        return e;
    }

    private static OpticsProfile ReadOptics(YamlSection s)
    {
        var o = new OpticsProfile();
        o.ScanLensFocalLengthMm = OptionalDouble(s, "scanLensFocalLengthMm");
        o.TubeLensFocalLengthMm = OptionalDouble(s, "tubeLensFocalLengthMm");
        o.ObjectiveMagnification = OptionalDouble(s, "objectiveMagnification");
        o.ObjectiveNa = OptionalDouble(s, "objectiveNa");
        o.TubeLensStandardMm = s.Double("tubeLensStandardMm", o.TubeLensStandardMm);
        o.MirrorDiameterMm = OptionalDouble(s, "mirrorDiameterMm");
        if (s.Section("relays") is { } relays)
        {
            var r = new RelaysProfile();
            r.R1Mm = relays.Double("r1Mm");
            r.R2Mm = relays.Double("r2Mm");
            r.R3Mm = relays.Double("r3Mm");
            r.R4Mm = relays.Double("r4Mm");
            relays.RejectUnknownKeys();
            o.Relays = r;
        }
        s.RejectUnknownKeys();
        return o;
    }

    private static LaserProfile ReadLaser(YamlSection s)
    {
        var l = new LaserProfile();
        l.WavelengthNm = s.Double("wavelengthNm", l.WavelengthNm);
        l.MaxPowerMw = s.Double("maxPowerMw", l.MaxPowerMw);
        l.PowerControlChannel = s.OptionalString("powerControlChannel", l.PowerControlChannel);
        l.ShutterChannel = s.OptionalString("shutterChannel", l.ShutterChannel);
        s.RejectUnknownKeys();
        return l;
    }

    private static PmtProfile ReadPmt(YamlSection s)
    {
        var p = new PmtProfile();
        p.Name = s.OptionalString("name", p.Name)!;
        p.Channel = s.OptionalString("channel", p.Channel)!;
        p.GainV = OptionalDouble(s, "gainV");
        s.RejectUnknownKeys();
        return p;
    }

    private static double? OptionalDouble(YamlSection s, string key) => s.Has(key) ? s.Double(key) : null;

    /// <summary>A <c>[min, max]</c> pair in volts, or null when the key is absent.</summary>
    private static VoltageRange? OptionalRange(YamlSection s, string key)
    {
        if (!s.Has(key)) return null;
        var values = s.DoubleList(key);
        if (values.Count != 2)
            throw new SettingException(s.PathOf(key), $"{values.Count} number(s)", "two numbers [min, max] in volts, e.g. [-10, 10]", s.LocationOf(key));
        return new VoltageRange(values[0], values[1]);
    }
}
