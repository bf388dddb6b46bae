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
    /// <summary>
    /// One time step of a long short-term memory layer with its own state: input [N, in_features] → h [N, hidden],
    /// hidden = <see cref="NodeAttributes.OutFeatures"/>. Each run of the graph is one time step; (h, c) start at
    /// zero and carry over between runs until the runtime resets them. Gates (i, f, g, o) =
    /// norm_ih(W_ih·x) + norm_hh(W_hh·h) + b; c = σ(f)⊙c + σ(i)⊙tanh(g); h = σ(o)⊙tanh(c). The normalization
    /// (<see cref="LstmNormalization"/>) is stored in <see cref="NodeAttributes.KernelH"/>.
    /// </summary>
    Lstm = 11,
}

/// <summary>
/// How an <see cref="OpKind.Lstm"/> node normalizes its input-to-hidden and hidden-to-hidden products (each
/// separately). Numeric values are file ids (kept in the node's kernel_h field).
/// </summary>
public enum LstmNormalization
{
    /// <summary>No normalization.</summary>
    None = 0,
    /// <summary>Batch normalization of each product over the batch with one set of statistics shared by all time steps
    /// (inference: running mean/variance): tensors <c>{node}.norm_ih.*</c>, <c>{node}.norm_hh.*</c> (weight, bias, running_mean, running_var).</summary>
    Batch = 1,
    /// <summary>Layer normalization of each product over its 4·hidden gate pre-activations: tensors
    /// <c>{node}.norm_ih.weight/bias</c>, <c>{node}.norm_hh.weight/bias</c>.</summary>
    Layer = 2,
    /// <summary>Weight normalization: each row r of W is g_r·V_r/‖V_r‖; <c>weight_ih</c>/<c>weight_hh</c> hold V, the gains
    /// are <c>{node}.gain_ih</c>, <c>{node}.gain_hh</c> [4·hidden].</summary>
    Weight = 3,
}
