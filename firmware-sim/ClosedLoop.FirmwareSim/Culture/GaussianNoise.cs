using System.Runtime.CompilerServices;
namespace ClosedLoop.FirmwareSim.Culture;

/// <summary>
/// Fills spans with Gaussian deviates in bulk from a <see cref="SimRandom"/> stream. Allocation-free; one owner
/// thread; deterministic for a seed.
/// </summary>
internal sealed class GaussianNoise
{
    private SimRandom _random;

    public GaussianNoise(long seed, ulong stream) => _random = new SimRandom(seed, stream);

    /// <summary>Writes <paramref name="sd"/> × N(0, 1) into every element of <paramref name="destination"/>
    /// (Marsaglia's polar method: exact Gaussian deviates, one logarithm and one square root per pair).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot path: optimised from the first call, no tiering warm-up
    public void Fill(Span<float> destination, float sd)
    {
        const float scale = 2f / (1 << 24);
        int i = 0;
        while (i < destination.Length)
        {
            ulong bits = _random.NextUInt64();
            float x = (uint)(bits >> 40) * scale - 1f;          // [−1, 1)
            float y = (uint)(bits & 0xFF_FFFF) * scale - 1f;
            float r2 = x * x + y * y;
            if (r2 >= 1f || r2 == 0f) continue;
            float f = sd * MathF.Sqrt(-2f * MathF.Log(r2) / r2);
            destination[i++] = x * f;
            if (i < destination.Length) destination[i++] = y * f;
        }
    }
}
