namespace SlimNet.Runtime.Kernels;

/// <summary>
/// Pooling over NCHW float32 tensors with square kernels, PyTorch semantics (floor mode):
/// Ho = (H + 2·pad − k) / stride + 1. Max pooling treats padding as −∞; average pooling counts the padding
/// as zeros in the divisor (count_include_pad = true), so every window divides by k·k.
/// </summary>
public static class PoolKernels
{
    /// <summary>Max pooling. <paramref name="y"/> is [n, c, Ho, Wo].</summary>
    public static void MaxPool2d(ReadOnlySpan<float> x, Span<float> y, int n, int c, int h, int w, int kernel, int stride, int pad = 0)
    {
        var (ho, wo) = Check(x.Length, y.Length, n, c, h, w, kernel, stride, pad);
        for (int plane = 0; plane < n * c; plane++)
        {
            var src = x.Slice(plane * h * w, h * w);
            var dst = y.Slice(plane * ho * wo, ho * wo);
            for (int oy = 0; oy < ho; oy++)
            {
                int y0 = Math.Max(oy * stride - pad, 0), y1 = Math.Min(oy * stride - pad + kernel, h);
                for (int ox = 0; ox < wo; ox++)
                {
                    int x0 = Math.Max(ox * stride - pad, 0), x1 = Math.Min(ox * stride - pad + kernel, w);
                    // MathF.Max is branch-free and lets NaN win, as PyTorch does; a compare-and-branch here
                    // mispredicted on real activations and cost several times more.
                    float m = float.NegativeInfinity;
                    for (int iy = y0; iy < y1; iy++)
                        for (int ix = x0; ix < x1; ix++) m = MathF.Max(m, src[iy * w + ix]);
                    dst[oy * wo + ox] = m;
                }
            }
        }
    }

    /// <summary>Average pooling with padding counted as zeros. <paramref name="y"/> is [n, c, Ho, Wo].</summary>
    public static void AvgPool2d(ReadOnlySpan<float> x, Span<float> y, int n, int c, int h, int w, int kernel, int stride, int pad = 0)
    {
        var (ho, wo) = Check(x.Length, y.Length, n, c, h, w, kernel, stride, pad);
        float inv = 1f / (kernel * kernel);
        for (int plane = 0; plane < n * c; plane++)
        {
            var src = x.Slice(plane * h * w, h * w);
            var dst = y.Slice(plane * ho * wo, ho * wo);
            for (int oy = 0; oy < ho; oy++)
            {
                int y0 = Math.Max(oy * stride - pad, 0), y1 = Math.Min(oy * stride - pad + kernel, h);
                for (int ox = 0; ox < wo; ox++)
                {
                    int x0 = Math.Max(ox * stride - pad, 0), x1 = Math.Min(ox * stride - pad + kernel, w);
                    float s = 0;
                    for (int iy = y0; iy < y1; iy++)
                        for (int ix = x0; ix < x1; ix++) s += src[iy * w + ix];
                    dst[oy * wo + ox] = s * inv;
                }
            }
        }
    }

    /// <summary>Mean over H·W: [n, c, H, W] → [n, c].</summary>
    public static void GlobalAvgPool(ReadOnlySpan<float> x, Span<float> y, int n, int c, int spatial)
    {
        KernelArgumentChecks.NonNegative(n, nameof(n));
        KernelArgumentChecks.Positive(c, nameof(c));
        KernelArgumentChecks.Positive(spatial, nameof(spatial));
        KernelArgumentChecks.AtLeast(x.Length, (long)n * c * spatial, nameof(x));
        KernelArgumentChecks.AtLeast(y.Length, (long)n * c, nameof(y));
        for (int plane = 0; plane < n * c; plane++)
            y[plane] = System.Numerics.Tensors.TensorPrimitives.Sum(x.Slice(plane * spatial, spatial)) / spatial;
    }

    private static (int Ho, int Wo) Check(int xLength, int yLength, int n, int c, int h, int w, int kernel, int stride, int pad)
    {
        KernelArgumentChecks.NonNegative(n, nameof(n));
        KernelArgumentChecks.Positive(c, nameof(c));
        KernelArgumentChecks.Positive(h, nameof(h));
        KernelArgumentChecks.Positive(w, nameof(w));
        KernelArgumentChecks.Positive(kernel, nameof(kernel));
        KernelArgumentChecks.Positive(stride, nameof(stride));
        KernelArgumentChecks.NonNegative(pad, nameof(pad));
        if (2 * pad > kernel) throw new ArgumentException($"padding {pad} is more than half the kernel {kernel}", nameof(pad));
        int ho = ConvKernels.OutputSize(h, kernel, stride, pad), wo = ConvKernels.OutputSize(w, kernel, stride, pad);
        if (ho <= 0 || wo <= 0) throw new ArgumentException($"kernel {kernel} does not fit the padded input {h + 2 * pad}x{w + 2 * pad}");
        KernelArgumentChecks.AtLeast(xLength, (long)n * c * h * w, "x");
        KernelArgumentChecks.AtLeast(yLength, (long)n * c * ho * wo, "y");
        return (ho, wo);
    }
}
