using System.Numerics.Tensors;

namespace SlimNet.Runtime.Kernels;

/// <summary>Activations, in place, over float32 spans.</summary>
public static class ActivationKernels
{
    /// <summary>x = max(x, 0); NaN stays NaN, as in PyTorch.</summary>
    public static void Relu(Span<float> x) => TensorPrimitives.Max(x, 0f, x);

    /// <summary>Softmax over each of <paramref name="rows"/> rows of <paramref name="cols"/> values. The row maximum
    /// is subtracted first so that large logits do not overflow exp.</summary>
    public static void SoftmaxRows(Span<float> x, int rows, int cols)
    {
        KernelArgumentChecks.NonNegative(rows, nameof(rows));
        KernelArgumentChecks.Positive(cols, nameof(cols));
        KernelArgumentChecks.AtLeast(x.Length, (long)rows * cols, nameof(x));
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * cols, cols);
            float max = TensorPrimitives.Max(row);
            TensorPrimitives.Subtract(row, max, row);
            TensorPrimitives.Exp(row, row);
            TensorPrimitives.Divide(row, TensorPrimitives.Sum(row), row);
        }
    }
}

/// <summary>Elementwise operations over float32 spans.</summary>
public static class ElementwiseKernels
{
    /// <summary>y = a + b (y may alias a or b).</summary>
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        KernelArgumentChecks.Exactly(b.Length, a.Length, nameof(b));
        KernelArgumentChecks.AtLeast(y.Length, a.Length, nameof(y));
        TensorPrimitives.Add(a, b, y[..a.Length]);
    }
}
