using ClosedLoop.Core;

namespace ClosedLoop.Scanning.Waveforms;

/// <summary>
/// ETL command for volume imaging: <c>Planes</c> imaged frames then <c>FlybackFrames</c> blanked frames per volume.
/// Stepped: frame k holds plane k; the step to the next plane is taken at the start of frame k's slow-axis flyback,
/// so the lens settles while the beam is already blanked, and any settling left over blanks the first samples of
/// the next plane. The return to the first plane must settle within the last frame's flyback plus the flyback
/// frames. Ramped: the focus moves linearly through the volume and flies back with a cubic move.
/// Writing a frame does not allocate.
/// </summary>
public sealed class EtlVolume
{
    private readonly EtlAxis _etl;
    private readonly EtlVolumeSettings _s;
    private readonly ScanPlan _frame;
    private readonly int _flybackStartSample;
    private readonly CubicMove _rampReturn;

    /// <summary>Builds and checks the volume for frames timed by <paramref name="framePlan"/>.</summary>
    /// <exception cref="SettingException">A setting is out of range.</exception>
    /// <exception cref="ScanInfeasibleException">The lens or its AO cannot reach the planes, or cannot settle in the flyback.</exception>
    public EtlVolume(EtlAxis etl, EtlVolumeSettings settings, ScanPlan framePlan)
    {
        ArgumentNullException.ThrowIfNull(framePlan);
        Check.NotEmpty("etl.name", etl.Name);
        if (!(Math.Abs(etl.VoltsPerUm) > 0)) throw new SettingException("etl.voltsPerUm", etl.VoltsPerUm, "a finite non-zero number");
        if (!(etl.MaxZUm > etl.MinZUm)) throw new SettingException("etl.maxZUm", etl.MaxZUm, $"greater than etl.minZUm ({etl.MinZUm})");
        Check.InRange("etl.settleS", etl.SettleS, 0, 10);
        Check.InRange("etlVolume.planes", settings.Planes, 1, 1024);
        Check.InRange("etlVolume.flybackFrames", settings.FlybackFrames, 0, 1024);
        _etl = etl;
        _s = settings;
        _frame = framePlan;

        // Reachable depths: the lens range intersected with what the AO can command.
        double zA = (etl.AoMinV - etl.ZeroV) / etl.VoltsPerUm, zB = (etl.AoMaxV - etl.ZeroV) / etl.VoltsPerUm;
        double zLo = Math.Max(etl.MinZUm, Math.Min(zA, zB)), zHi = Math.Min(etl.MaxZUm, Math.Max(zA, zB));
        string why = $"{etl.Name} (focus {ScanInfeasibleException.F(zLo)}..{ScanInfeasibleException.F(zHi)} µm reachable within its range and AO {ScanInfeasibleException.F(etl.AoMinV)}..{ScanInfeasibleException.F(etl.AoMaxV)} V)";
        if (settings.FirstPlaneUm < zLo || settings.FirstPlaneUm > zHi)
            throw new ScanInfeasibleException("etlVolume.firstPlaneUm", settings.FirstPlaneUm, Math.Clamp(settings.FirstPlaneUm, zLo, zHi),
                settings.FirstPlaneUm < zLo ? "at least" : "at most", "µm", why);
        double spanPlanes = settings.Motion == EtlMotion.Ramped ? settings.Planes : settings.Planes - 1;
        double last = settings.FirstPlaneUm + spanPlanes * settings.PlaneSpacingUm;
        if (last < zLo - 1e-9 || last > zHi + 1e-9)
        {
            double room = settings.PlaneSpacingUm > 0 ? zHi - settings.FirstPlaneUm : settings.FirstPlaneUm - zLo;
            int maxPlanes = (int)Math.Floor(room / Math.Abs(settings.PlaneSpacingUm) + 1e-9) + (settings.Motion == EtlMotion.Ramped ? 0 : 1);
            throw new ScanInfeasibleException("etlVolume.planes", settings.Planes, Math.Max(1, maxPlanes), "at most", "", why);
        }

        _flybackStartSample = (int)Math.Round(framePlan.LinesPerFrame * framePlan.SamplesPerLine);
        double returnS = framePlan.FlybackS + settings.FlybackFrames * framePlan.FramePeriodS;
        if (settings.Motion == EtlMotion.Ramped && settings.FlybackFrames < 1)
            throw new ScanInfeasibleException("etlVolume.flybackFrames", settings.FlybackFrames, 1, "at least", "", $"a ramped {etl.Name} (it needs a frame to return)");
        if (settings.Planes > 1 && returnS < etl.SettleS)
        {
            int need = (int)Math.Ceiling((etl.SettleS - framePlan.FlybackS) / framePlan.FramePeriodS);
            throw new ScanInfeasibleException("etlVolume.flybackFrames", settings.FlybackFrames, need, "at least", "",
                $"{etl.Name} settling in {ScanInfeasibleException.F(etl.SettleS * 1e3)} ms after the return to the first plane (frame {ScanInfeasibleException.F(framePlan.FramePeriodS * 1e3)} ms, Y flyback {ScanInfeasibleException.F(framePlan.FlybackS * 1e3)} ms)");
        }
        SettleBlankSamples = settings.Motion == EtlMotion.Stepped && settings.Planes > 1
            ? Math.Max(0, (int)Math.Ceiling((etl.SettleS - framePlan.FlybackS) * framePlan.AoSampleRateHz))
            : 0;
        double vz = settings.PlaneSpacingUm / framePlan.FramePeriodS;
        _rampReturn = new CubicMove(last, vz, settings.FirstPlaneUm, vz, Math.Max(1, settings.FlybackFrames) * framePlan.FramePeriodS);
        var depths = new double[settings.Planes];
        for (int k = 0; k < depths.Length; k++) depths[k] = settings.FirstPlaneUm + k * settings.PlaneSpacingUm;
        PlaneDepthsUm = depths;
    }

    /// <summary>Frames per volume: planes plus flyback frames.</summary>
    public int FramesPerVolume => _s.Planes + _s.FlybackFrames;

    /// <summary>Imaged planes per volume.</summary>
    public int Planes => _s.Planes;

    /// <summary>Blanked frames per volume spent returning to the first plane.</summary>
    public int FlybackFrames => _s.FlybackFrames;

    /// <summary>AO samples per volume.</summary>
    public int SamplesPerVolume => FramesPerVolume * _frame.SamplesPerFrame;

    /// <summary>Volumes per second.</summary>
    public double VolumeRateHz => _frame.FrameRateHz / FramesPerVolume;

    /// <summary>Focal shift of each plane (stepped: held for the frame; ramped: at the frame's start), in µm.</summary>
    public IReadOnlyList<double> PlaneDepthsUm { get; }

    /// <summary>Samples at the start of plane frames 1..N−1 blanked because the lens is still settling after the
    /// slow-axis flyback (0 when the flyback is long enough).</summary>
    public int SettleBlankSamples { get; }

    /// <summary>True when <paramref name="frameInVolume"/> is a flyback frame (beam blanked throughout).</summary>
    public bool IsFlybackFrame(int frameInVolume) => frameInVolume >= _s.Planes;

    /// <summary>Writes the ETL command for frame <paramref name="frameInVolume"/> (0 ≤ it &lt; <see cref="FramesPerVolume"/>). No allocation.</summary>
    public void WriteFrame(int frameInVolume, Span<double> etlVolts)
    {
        int total = _frame.SamplesPerFrame;
        CheckArgs(frameInVolume, etlVolts.Length);
        var d = etlVolts[..total];
        int planes = _s.Planes;
        if (_s.Motion == EtlMotion.Stepped)
        {
            if (frameInVolume >= planes) { d.Fill(Volts(PlaneDepthsUm[0])); return; }
            int next = frameInVolume + 1 < planes ? frameInVolume + 1 : 0;
            int split = Math.Min(_flybackStartSample, total);
            d[..split].Fill(Volts(PlaneDepthsUm[frameInVolume]));
            d[split..].Fill(Volts(PlaneDepthsUm[next]));
            return;
        }
        double fs = _frame.AoSampleRateHz;
        if (frameInVolume < planes)
        {
            double z0 = PlaneDepthsUm[frameInVolume], dz = _s.PlaneSpacingUm / total;
            for (int n = 0; n < total; n++) d[n] = Volts(z0 + dz * n);
        }
        else
        {
            double t0 = (frameInVolume - planes) * _frame.FramePeriodS;
            for (int n = 0; n < total; n++) d[n] = Volts(_rampReturn.Position(t0 + n / fs));
        }
    }

    /// <summary>Writes the beam blanking for frame <paramref name="frameInVolume"/>: the frame's own turnarounds
    /// and flyback, the ETL settling window, and whole flyback frames off. No allocation.</summary>
    public void WriteBlanking(int frameInVolume, Span<double> destination, BlankingLevels levels)
    {
        int total = _frame.SamplesPerFrame;
        CheckArgs(frameInVolume, destination.Length);
        if (IsFlybackFrame(frameInVolume)) { destination[..total].Fill(levels.OffV); return; }
        _frame.WriteBlanking(destination, levels);
        bool settling = SettleBlankSamples > 0 && frameInVolume > 0;
        if (settling) destination[..Math.Min(SettleBlankSamples, total)].Fill(levels.OffV);
    }

    private double Volts(double zUm) => _etl.ZeroV + _etl.VoltsPerUm * zUm;

    private void CheckArgs(int frameInVolume, int length)
    {
        if ((uint)frameInVolume >= (uint)FramesPerVolume) throw new ArgumentOutOfRangeException(nameof(frameInVolume));
        if (length < _frame.SamplesPerFrame) throw new ArgumentException($"Need {_frame.SamplesPerFrame} samples, got {length}.");
    }
}
