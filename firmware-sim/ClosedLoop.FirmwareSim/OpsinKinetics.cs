using ClosedLoop.Hardware;

namespace ClosedLoop.FirmwareSim;

/// <summary>
/// Photostimulation of one neuron by one rectangular light pulse, with two-state opsin kinetics. During a pulse of
/// power P the open fraction relaxes toward O∞ = k·τa with time constant τa = 1/(k + 1/τoff), k = (1/τon)·P/(P + Psat);
/// afterwards it closes with τoff. The neuron fires its first spike when the integrated hazard h·∫O² dt crosses an
/// Exp(1) threshold (a threshold-like, cooperative response), at most once per pulse; h is set so that one
/// isolated <see cref="OpsinProfile.ReferencePulseMs"/> ms pulse at the half-activation power fires with probability
/// 1 − 1/e. So the spike probability rises with power, pulse width and (through channels still open from the
/// previous pulse) pulse rate. All times in ms. Pure arithmetic, allocation-free.
/// </summary>
internal readonly struct OpsinKinetics
{
    private readonly double _onMs, _offMs, _saturationPowerMw, _hazardScale;

    public OpsinKinetics(OpsinProfile profile)
    {
        var model = profile.ResolveModel();
        _onMs = model.OnMs;
        _offMs = model.OffMs;
        _saturationPowerMw = profile.SaturationPowerMw;
        _hazardScale = 1;
        double reference = Integral(profile.HalfActivationPowerMw, OpsinProfile.ReferencePulseMs, 0, double.PositiveInfinity, out _);
        _hazardScale = 1 / reference;
    }

    /// <summary>Deactivation time constant, in ms.</summary>
    public double OffMs => _offMs;

    /// <summary>Open fraction <paramref name="open"/> after <paramref name="darkMs"/> ms without light.</summary>
    public double Decay(double open, double darkMs) => darkMs <= 0 ? open : open * Math.Exp(-darkMs / _offMs);

    /// <summary>
    /// One pulse of <paramref name="powerMw"/> for <paramref name="widthMs"/> starting with open fraction
    /// <paramref name="open0"/>; the dark time until the next pulse of the train is <paramref name="gapMs"/>
    /// (infinity for the last). Returns the time of the hazard's crossing of <paramref name="threshold"/> (an Exp(1)
    /// draw) from the pulse onset in ms, or a negative number when it never crosses; <paramref name="openEnd"/> is the
    /// open fraction at the end of the pulse.
    /// </summary>
    public double Crossing(double powerMw, double widthMs, double open0, double gapMs, double threshold, out double openEnd)
    {
        double pulse = PulseIntegral(powerMw, widthMs, open0, out openEnd) * _hazardScale;
        if (pulse >= threshold)
        {
            double lo = 0, hi = widthMs;
            for (int i = 0; i < 40; i++)
            {
                double mid = 0.5 * (lo + hi);
                if (PulseIntegral(powerMw, mid, open0, out _) * _hazardScale >= threshold) hi = mid; else lo = mid;
            }
            return hi;
        }
        // After the pulse: h·Oe²·(τoff/2)·(1 − e^(−2s/τoff)) more, up to the next pulse.
        double tailMax = _hazardScale * openEnd * openEnd * _offMs / 2;
        double tail = double.IsPositiveInfinity(gapMs) ? tailMax : tailMax * (1 - Math.Exp(-2 * gapMs / _offMs));
        if (pulse + tail < threshold || tailMax <= 0) return -1;
        double s = -_offMs / 2 * Math.Log(1 - (threshold - pulse) / tailMax);
        return widthMs + s;
    }

    private double Integral(double powerMw, double widthMs, double open0, double gapMs, out double openEnd)
    {
        double pulse = PulseIntegral(powerMw, widthMs, open0, out openEnd);
        double tailMax = openEnd * openEnd * _offMs / 2;
        return pulse + (double.IsPositiveInfinity(gapMs) ? tailMax : tailMax * (1 - Math.Exp(-2 * gapMs / _offMs)));
    }

    /// <summary>∫₀^t O(u)² du during a pulse (unscaled) and O(t).</summary>
    private double PulseIntegral(double powerMw, double t, double open0, out double openEnd)
    {
        double k = powerMw <= 0 ? 0 : powerMw / (powerMw + _saturationPowerMw) / _onMs;
        double tauA = 1 / (k + 1 / _offMs);
        double openInf = k * tauA;
        double d = open0 - openInf;
        double e1 = Math.Exp(-t / tauA);
        openEnd = openInf + d * e1;
        return openInf * openInf * t + 2 * openInf * d * tauA * (1 - e1) + d * d * tauA / 2 * (1 - e1 * e1);
    }
}
