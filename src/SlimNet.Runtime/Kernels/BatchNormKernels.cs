namespace SlimNet.Runtime.Kernels;

/// <summary>
/// Folds an inference-mode batch normalization into the Linear or Conv2d before it:
/// BN(Wx + b) = s·(Wx + b − μ) + β with s = γ / √(σ² + ε), so W'[o, :] = s[o]·W[o, :] and
/// b'[o] = s[o]·(b[o] − μ[o]) + β[o]. The fold removes a whole pass over the activations at run time.
/// </summary>
public static class BatchNormFolding
{
    /// <summary>Folds in place. <paramref name="weight"/> is [O, rest] (rest = in features or C·kh·kw);
    /// <paramref name="bias"/> is [O] (pass zeros if the layer had none).</summary>
    public static void FoldIntoPreceding(Span<float> weight, Span<float> bias, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        ReadOnlySpan<float> runningMean, ReadOnlySpan<float> runningVar, float eps)
    {
        int o = bias.Length;
        KernelArgumentChecks.Positive(o, nameof(bias));
        KernelArgumentChecks.Exactly(gamma.Length, o, nameof(gamma));
        KernelArgumentChecks.Exactly(beta.Length, o, nameof(beta));
        KernelArgumentChecks.Exactly(runningMean.Length, o, nameof(runningMean));
        KernelArgumentChecks.Exactly(runningVar.Length, o, nameof(runningVar));
        if (weight.Length % o != 0)
            throw new ArgumentException($"weight has {weight.Length} elements, not a multiple of the {o} output channels", nameof(weight));
        int rest = weight.Length / o;
        for (int r = 0; r < o; r++)
        {
            float s = gamma[r] / MathF.Sqrt(runningVar[r] + eps);
            System.Numerics.Tensors.TensorPrimitives.Multiply(weight.Slice(r * rest, rest), s, weight.Slice(r * rest, rest));
            bias[r] = s * (bias[r] - runningMean[r]) + beta[r];
        }
    }
}

/// <summary>
/// Inference-mode batch normalization that follows no Linear/Conv2d (so cannot be folded):
/// y = γ·(x − μ)/√(σ² + ε) + β per channel, on [N, C] or [N, C, spatial] data.
/// </summary>
public static class BatchNormKernels
{
    /// <summary>Applies BN in place on <paramref name="x"/> laid out [n, channels, spatial] (spatial = 1 for [N, C]).</summary>
    public static void Apply(Span<float> x, int n, int channels, int spatial, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        ReadOnlySpan<float> runningMean, ReadOnlySpan<float> runningVar, float eps)
    {
        KernelArgumentChecks.Exactly(gamma.Length, channels, nameof(gamma));
        KernelArgumentChecks.Exactly(beta.Length, channels, nameof(beta));
        KernelArgumentChecks.Exactly(runningMean.Length, channels, nameof(runningMean));
        KernelArgumentChecks.Exactly(runningVar.Length, channels, nameof(runningVar));
        Span<float> scale = channels <= 1024 ? stackalloc float[channels] : new float[channels];
        Span<float> shift = channels <= 1024 ? stackalloc float[channels] : new float[channels];
        ScaleShift(gamma, beta, runningMean, runningVar, eps, scale, shift);
        ApplyScaleShift(x, n, channels, spatial, scale, shift);
    }

    /// <summary>The per-channel affine form of BN: scale = γ/√(σ² + ε), shift = β − μ·scale.</summary>
    public static void ScaleShift(ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, ReadOnlySpan<float> runningMean,
        ReadOnlySpan<float> runningVar, float eps, Span<float> scale, Span<float> shift)
    {
        for (int ch = 0; ch < gamma.Length; ch++)
        {
            scale[ch] = gamma[ch] / MathF.Sqrt(runningVar[ch] + eps);
            shift[ch] = beta[ch] - runningMean[ch] * scale[ch];
        }
    }

    /// <summary>x = x·scale[c] + shift[c] in place, for precomputed <see cref="ScaleShift"/> values.</summary>
    public static void ApplyScaleShift(Span<float> x, int n, int channels, int spatial, ReadOnlySpan<float> scale, ReadOnlySpan<float> shift)
    {
        KernelArgumentChecks.NonNegative(n, nameof(n));
        KernelArgumentChecks.Positive(channels, nameof(channels));
        KernelArgumentChecks.Positive(spatial, nameof(spatial));
        KernelArgumentChecks.AtLeast(x.Length, (long)n * channels * spatial, nameof(x));
        KernelArgumentChecks.AtLeast(scale.Length, channels, nameof(scale));
        KernelArgumentChecks.AtLeast(shift.Length, channels, nameof(shift));
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < channels; ch++)
            {
                var plane = x.Slice((b * channels + ch) * spatial, spatial);
                System.Numerics.Tensors.TensorPrimitives.Multiply(plane, scale[ch], plane);
                System.Numerics.Tensors.TensorPrimitives.Add(plane, shift[ch], plane);
            }
    }
}
