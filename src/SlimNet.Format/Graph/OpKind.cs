namespace SlimNet.Format.Graph;

/// <summary>
/// The operations a SlimNet network is made of. The numeric values are written to .slim files
/// (docs/FORMAT.md), so they never change meaning; new operations get new numbers.
/// </summary>
public enum OpKind : byte
{
    /// <summary>y = x·Wᵀ + b; W is [out_features, in_features]. Input [N, in_features].</summary>
    Linear = 1,
    /// <summary>2-D convolution, NCHW; W is [out_channels, in_channels, kernel_h, kernel_w]; groups = 1.</summary>
    Conv2d = 2,
    /// <summary>Batch normalization over channel dimension 1 (works on [N, C] and [N, C, H, W]) with running statistics.</summary>
    BatchNorm = 3,
    /// <summary>max(x, 0), elementwise.</summary>
    ReLU = 4,
    /// <summary>Max pooling, NCHW, no padding unless <see cref="NodeAttributes.Padding"/> is set.</summary>
    MaxPool2d = 5,
    /// <summary>Average pooling, NCHW (padding counted as zeros, like PyTorch's default count_include_pad).</summary>
    AvgPool2d = 6,
    /// <summary>Mean over H and W: [N, C, H, W] → [N, C].</summary>
    GlobalAvgPool = 7,
    /// <summary>[N, ...] → [N, product of the rest].</summary>
    Flatten = 8,
    /// <summary>Elementwise sum of its two inputs (residual connections).</summary>
    Add = 9,
    /// <summary>Softmax over the last dimension.</summary>
    Softmax = 10,
}
