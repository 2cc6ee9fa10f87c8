using ClosedLoop.Models.Layers;

namespace ClosedLoop.Models;

/// <summary>Ready-made networks for the two uses in ClosedLoop: segmentation of SNR frames and spike rates from ΔF/F windows.</summary>
public static class Architectures
{
    /// <summary>
    /// A shallow U-Net in the manner of SUNS (Bao et al. 2021): at each depth <paramref name="convsPerLevel"/> 3×3
    /// convolutions with <paramref name="activation"/>, 2×2 max pooling between depths, nearest 2× upsampling and a
    /// channel concatenation with the encoder's output of the same depth on the way back, then a 1×1 convolution and a
    /// sigmoid: one probability per pixel. The default depths 4, 8, 16 give about 7.5k parameters.
    /// </summary>
    /// <param name="height">Frame height in pixels; divisible by 2^(depths − 1).</param>
    /// <param name="width">Frame width in pixels; divisible by 2^(depths − 1).</param>
    /// <param name="channels">Channels per depth, shallowest first (default 4, 8, 16).</param>
    /// <param name="inputChannels">Channels of the input frame (1 for an SNR frame).</param>
    /// <param name="activation">Hidden activation (SUNS uses ELU).</param>
    /// <param name="convsPerLevel">Convolutions per depth on each side (1 or 2).</param>
    /// <param name="seed">Seed of the He initialisation.</param>
    public static Network ShallowUNet(int height, int width, int[]? channels = null, int inputChannels = 1,
        ActivationKind activation = ActivationKind.Elu, int convsPerLevel = 2, int seed = 0)
    {
        channels ??= [4, 8, 16];
        if (channels.Length is < 1 or > 6) throw new ArgumentOutOfRangeException(nameof(channels), channels.Length, "a U-Net needs 1 to 6 depths");
        if (convsPerLevel is < 1 or > 3) throw new ArgumentOutOfRangeException(nameof(convsPerLevel), convsPerLevel, "convsPerLevel must be between 1 and 3");
        int factor = 1 << (channels.Length - 1);
        if (height % factor != 0 || width % factor != 0)
            throw new ArgumentException($"a {channels.Length}-depth U-Net needs height and width divisible by {factor}; got {height}×{width}. Crop or pad the frame.", nameof(height));
        var g = new NetworkBuilder(inputChannels, height, width);
        var skips = new int[channels.Length];
        int inCh = inputChannels;
        for (int d = 0; d < channels.Length; d++)
        {
            if (d > 0) g.Add(MaxPool.TwoD());
            for (int c = 0; c < convsPerLevel; c++)
            {
                g.Add(new Conv2d(c == 0 ? inCh : channels[d], channels[d], 3));
                g.Add(new Activation(activation));
            }
            skips[d] = g.Last;
            inCh = channels[d];
        }
        for (int d = channels.Length - 2; d >= 0; d--)
        {
            int up = g.Add(Upsample.TwoD());
            g.Add(new Concat(), up, skips[d]);
            for (int c = 0; c < convsPerLevel; c++)
            {
                g.Add(new Conv2d(c == 0 ? channels[d + 1] + channels[d] : channels[d], channels[d], 3));
                g.Add(new Activation(activation));
            }
        }
        g.Add(new Conv2d(channels[0], 1, 1));
        g.Add(new Activation(ActivationKind.Sigmoid));
        return g.Build(seed: seed);
    }

    /// <summary>
    /// Positions the last convolution of <see cref="SpikeCnn"/> leaves for a window of <paramref name="window"/> samples
    /// (each valid convolution takes K − 1 off, each pooling halves), or 0 and the reason when the window does not fit:
    /// an odd length before a pooling, or no position left.
    /// </summary>
    public static (int Length, string? Problem) SpikeCnnLastLength(int window, IReadOnlyList<int> kernels, ConvPadding padding)
    {
        int length = window;
        for (int i = 0; i < kernels.Count; i++)
        {
            if (padding == ConvPadding.Valid) length -= kernels[i] - 1;
            bool pools = i < kernels.Count - 1;
            if (length < 1 || (pools && length % 2 != 0))
            {
                string rule = padding == ConvPadding.Same
                    ? $"a positive multiple of {1 << (kernels.Count - 1)}"
                    : "such that the length before each pooling (window minus the kernel spans so far, halved at each pooling) is even and the last convolution leaves at least one sample";
                return (0, $"window = {window} is not allowed with kernels {string.Join(", ", kernels)} and {padding.ToString().ToLowerInvariant()} padding; it must be {rule}.");
            }
            if (pools) length /= 2;
        }
        return (length, null);
    }

    /// <summary>
    /// A CASCADE-like 1-D CNN for spike inference: a window of <paramref name="window"/> ΔF/F samples centred on the
    /// time point (so half the window is look-ahead latency) through 1-D convolutions with ReLU, max pooling by 2
    /// after all but the last, a dense hidden layer and one softplus output, the spike rate at the centre.
    /// </summary>
    /// <param name="window">Samples per input window. With same padding divisible by 2^(convolutions − 1); with valid
    /// padding the length before each pooling (the window minus the kernels' spans so far, halved at each pooling) must
    /// be even and the last convolution must leave at least one position.</param>
    /// <param name="filters">Filters per convolution (default 8, 8, 8).</param>
    /// <param name="kernels">Kernel length per convolution, odd (default 9, 5, 3).</param>
    /// <param name="hidden">Units of the dense hidden layer.</param>
    /// <param name="seed">Seed of the He initialisation.</param>
    /// <param name="padding">Same (zero padding at the window's edges) or valid (no padding: every position of every
    /// layer depends on real samples only, so a streamed evaluation never recomputes a position).</param>
    public static Network SpikeCnn(int window = 64, int[]? filters = null, int[]? kernels = null, int hidden = 16, int seed = 0,
        ConvPadding padding = ConvPadding.Same)
    {
        filters ??= [8, 8, 8];
        kernels ??= [9, 5, 3];
        if (filters.Length != kernels.Length || filters.Length == 0)
            throw new ArgumentException($"filters ({filters.Length}) and kernels ({kernels.Length}) must list the same, non-zero number of convolutions.", nameof(kernels));
        var (_, problem) = SpikeCnnLastLength(window, kernels, padding);
        if (problem is not null) throw new ArgumentException(problem, nameof(window));
        var g = new NetworkBuilder(1, window);
        int inCh = 1;
        for (int i = 0; i < filters.Length; i++)
        {
            g.Add(new Conv1d(inCh, filters[i], kernels[i], padding: padding));
            g.Add(new Activation(ActivationKind.Relu));
            if (i < filters.Length - 1) g.Add(MaxPool.OneD());
            inCh = filters[i];
        }
        g.Add(new Flatten());
        g.Add(new Dense(hidden));
        g.Add(new Activation(ActivationKind.Relu));
        g.Add(new Dense(1));
        g.Add(new Activation(ActivationKind.Softplus));
        return g.Build(seed: seed);
    }
}
