using System.Numerics.Tensors;

namespace ClosedLoop.FirmwareSim.Culture;

/// <summary>
/// Fills spans with standard-normal deviates in bulk: uniforms from <see cref="SimRandom"/>, then a vectorised
/// Box–Muller transform that keeps both members of each pair. Allocation-free once built; one owner thread.
/// Deterministic for a seed on a given machine (vectorised log/sin/cos may differ in the last bit between instruction sets).
/// </summary>
internal sealed class GaussianNoise
{
    private SimRandom _random;
    private readonly float[] _u1, _u2, _radius, _sin, _cos;

    public GaussianNoise(long seed, ulong stream, int capacity)
    {
        _random = new SimRandom(seed, stream);
        int half = (capacity + 1) / 2;
        _u1 = new float[half];
        _u2 = new float[half];
        _radius = new float[half];
        _sin = new float[half];
        _cos = new float[half];
    }

    /// <summary>Largest span <see cref="Fill"/> accepts.</summary>
    public int Capacity => _u1.Length * 2;

    /// <summary>Writes <paramref name="sd"/> × N(0, 1) into every element of <paramref name="destination"/>.</summary>
    public void Fill(Span<float> destination, float sd)
    {
        int pairs = (destination.Length + 1) / 2;
        Span<float> u1 = _u1.AsSpan(0, pairs), u2 = _u2.AsSpan(0, pairs);
        const float scale = 1f / (1 << 24);
        for (int i = 0; i < pairs; i++)
        {
            ulong bits = _random.NextUInt64();
            u1[i] = ((uint)(bits >> 40) + 1) * scale;            // (0, 1]: safe for the logarithm
            u2[i] = (uint)(bits & 0xFF_FFFF) * (scale * 2 * MathF.PI); // [0, 2π)
        }
        Span<float> r = _radius.AsSpan(0, pairs), s = _sin.AsSpan(0, pairs), c = _cos.AsSpan(0, pairs);
        TensorPrimitives.Log(u1, r);
        TensorPrimitives.Multiply(r, -2f * sd * sd, r);
        TensorPrimitives.Sqrt(r, r);
        TensorPrimitives.SinCos(u2, s, c);
        int evenPairs = destination.Length / 2;
        TensorPrimitives.Multiply(r[..evenPairs], c[..evenPairs], destination[..evenPairs]);
        TensorPrimitives.Multiply(r[..evenPairs], s[..evenPairs], destination.Slice(evenPairs, evenPairs));
        if ((destination.Length & 1) != 0) destination[^1] = r[pairs - 1] * c[pairs - 1];
    }

    /// <summary>One deviate, for scalar callers.</summary>
    public double Next() => _random.NextGaussian();
}
