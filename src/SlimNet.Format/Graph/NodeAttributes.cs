namespace SlimNet.Format.Graph;

/// <summary>
/// Hyper-parameters of one graph node. Only the fields that matter for the node's <see cref="OpKind"/> are
/// used; the others stay 0. Sizes are element counts, not bytes.
/// </summary>
public sealed record NodeAttributes
{
    /// <summary>Linear: input features. Conv2d/BatchNorm: input channels (BatchNorm: its channel count).</summary>
    public int InFeatures { get; init; }
    /// <summary>Linear: output features. Conv2d: output channels.</summary>
    public int OutFeatures { get; init; }
    /// <summary>Conv2d/pooling: kernel height.</summary>
    public int KernelH { get; init; }
    /// <summary>Conv2d/pooling: kernel width.</summary>
    public int KernelW { get; init; }
    /// <summary>Conv2d/pooling: stride (same in both directions).</summary>
    public int Stride { get; init; } = 1;
    /// <summary>Conv2d/pooling: zero padding on every side.</summary>
    public int Padding { get; init; }
    /// <summary>Linear/Conv2d: whether the node has a bias tensor.</summary>
    public bool HasBias { get; init; }
    /// <summary>BatchNorm: the epsilon added to the variance.</summary>
    public float Epsilon { get; init; } = 1e-5f;
    /// <summary>Optional quantizer of this node's output activations (null: full precision).</summary>
    public ActivationQuantization? ActivationQuant { get; init; }
}
