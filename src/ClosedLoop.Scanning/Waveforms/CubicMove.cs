namespace ClosedLoop.Scanning.Waveforms;

/// <summary>
/// A cubic move from (p0, v0) to (p1, v1) in time T: position and velocity are continuous at both ends, the
/// acceleration changes linearly. Used for flybacks (sawtooth, slow axis) and turnarounds (triangle, where it
/// reduces to a constant-acceleration parabola).
/// </summary>
internal readonly struct CubicMove
{
    private readonly double _p0, _v0, _c2, _c3;

    public CubicMove(double p0, double v0, double p1, double v1, double durationS)
    {
        double t = durationS;
        _p0 = p0;
        _v0 = v0;
        _c2 = (3 * (p1 - p0) - (2 * v0 + v1) * t) / (t * t);
        _c3 = (2 * (p0 - p1) + (v0 + v1) * t) / (t * t * t);
        DurationS = t;
    }

    public double DurationS { get; }

    public double Position(double t) => _p0 + t * (_v0 + t * (_c2 + t * _c3));

    private double Velocity(double t) => _v0 + t * (2 * _c2 + 3 * _c3 * t);

    /// <summary>Largest |acceleration| (it is linear in time, so at an end).</summary>
    public double MaxAbsAccel => Math.Max(Math.Abs(2 * _c2), Math.Abs(2 * _c2 + 6 * _c3 * DurationS));

    /// <summary>Largest |velocity| (at an end or at the vertex of the quadratic).</summary>
    public double MaxAbsVelocity
    {
        get
        {
            double m = Math.Max(Math.Abs(Velocity(0)), Math.Abs(Velocity(DurationS)));
            if (_c3 != 0)
            {
                double tv = -_c2 / (3 * _c3);
                if (tv > 0 && tv < DurationS) m = Math.Max(m, Math.Abs(Velocity(tv)));
            }
            return m;
        }
    }

    /// <summary>Largest |position| reached during the move (ends and the points where the velocity is zero).</summary>
    public double MaxAbsPosition
    {
        get
        {
            double m = Math.Max(Math.Abs(Position(0)), Math.Abs(Position(DurationS)));
            double a = 3 * _c3, b = 2 * _c2, c = _v0;
            if (Math.Abs(a) < 1e-300)
            {
                if (b != 0) Consider(-c / b, ref m);
            }
            else
            {
                double disc = b * b - 4 * a * c;
                if (disc >= 0)
                {
                    double s = Math.Sqrt(disc);
                    Consider((-b + s) / (2 * a), ref m);
                    Consider((-b - s) / (2 * a), ref m);
                }
            }
            return m;
        }
    }

    private void Consider(double t, ref double m)
    {
        if (t > 0 && t < DurationS) m = Math.Max(m, Math.Abs(Position(t)));
    }
}
