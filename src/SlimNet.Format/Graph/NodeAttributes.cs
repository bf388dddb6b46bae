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
    /// <summary>Lstm: the normalization of its two products (kept in <see cref="KernelH"/>).</summary>
    public LstmNormalization LstmNormalization => (LstmNormalization)KernelH;
    /// <summary>Optional activation quantizer (null: full precision). On Linear and Conv2d it quantizes the node's input
    /// (the activations its weights multiply); on every other node, its output (docs/FORMAT.md §3).</summary>
    public ActivationQuantization? ActivationQuant { get; init; }
}
