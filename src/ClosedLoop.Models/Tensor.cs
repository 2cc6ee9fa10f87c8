namespace ClosedLoop.Models;

/// <summary>
/// A float32 tensor laid out row-major with the batch first: NCHW for images, NCL for traces, NF for features.
/// The buffer is preallocated for a batch capacity and reused: <see cref="SetBatch"/> only reallocates when the
/// batch grows past the capacity, so a loop that keeps its batch size allocates nothing after the first call.
/// </summary>
public sealed class Tensor
{
    private float[] _data;

    /// <summary>Creates a tensor of <paramref name="batch"/> samples of <paramref name="sampleShape"/> (e.g. [C, H, W]), zero-filled.</summary>
    public Tensor(int batch, params int[] sampleShape)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        SampleShape = ShapeMath.Validate(sampleShape, nameof(sampleShape));
        SampleSize = ShapeMath.Product(SampleShape);
        _data = new float[checked(Math.Max(batch, 1) * SampleSize)];
        Batch = batch;
    }

    /// <summary>Shape of one sample, without the batch dimension.</summary>
    public int[] SampleShape { get; }

    /// <summary>Floats per sample (product of <see cref="SampleShape"/>).</summary>
    public int SampleSize { get; }

    /// <summary>Samples currently held.</summary>
    public int Batch { get; private set; }

    /// <summary>Samples the buffer holds without reallocating.</summary>
    public int Capacity => _data.Length / SampleSize;

    /// <summary>All samples, <see cref="Batch"/> × <see cref="SampleSize"/> floats.</summary>
    public Span<float> Span => _data.AsSpan(0, Batch * SampleSize);

    /// <summary>The backing array (its length is the capacity, not the batch).</summary>
    public float[] Buffer => _data;

    /// <summary>Full shape including the batch: [N, ...<see cref="SampleShape"/>].</summary>
    public int[] Shape => [Batch, .. SampleShape];

    /// <summary>One sample's floats.</summary>
    public Span<float> Sample(int index)
    {
        if ((uint)index >= (uint)Batch) throw new ArgumentOutOfRangeException(nameof(index), index, $"sample index must be below the batch of {Batch}");
        return _data.AsSpan(index * SampleSize, SampleSize);
    }

    /// <summary>Sets the batch size, growing the buffer only when needed (contents are kept up to the old size when it grows).</summary>
    public void SetBatch(int batch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        if (batch * (long)SampleSize > _data.Length) Array.Resize(ref _data, checked(batch * SampleSize));
        Batch = batch;
    }

    /// <summary>Text such as <c>[N=4, 1, 120, 88]</c>.</summary>
    public override string ToString() => $"[N={Batch}, {string.Join(", ", SampleShape)}]";
}

/// <summary>Helpers for shapes given as dimension arrays.</summary>
public static class ShapeMath
{
    /// <summary>Product of the dimensions (1 for an empty shape).</summary>
    public static int Product(ReadOnlySpan<int> shape)
    {
        long p = 1;
        foreach (int d in shape) p *= d;
        return checked((int)p);
    }

    /// <summary>Text such as <c>[1, 120, 88]</c>.</summary>
    public static string Format(ReadOnlySpan<int> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    /// <summary>Checks that every dimension is positive; returns a copy.</summary>
    public static int[] Validate(int[] shape, string name)
    {
        ArgumentNullException.ThrowIfNull(shape, name);
        foreach (int d in shape)
            if (d <= 0) throw new ArgumentException($"{name} {Format(shape)} has a dimension ≤ 0; every dimension must be ≥ 1.", name);
        return (int[])shape.Clone();
    }
}
