namespace SlimNet.Format.Graph;

/// <summary>
/// One operation of a <see cref="ModelGraph"/>. <see cref="Inputs"/> holds indices of earlier nodes, or
/// <see cref="ModelGraph.InputIndex"/> (-1) for the network input. Parameters are found by name in the
/// tensor table: <c>{Name}.weight</c>, <c>{Name}.bias</c>, and for BatchNorm also
/// <c>{Name}.running_mean</c> and <c>{Name}.running_var</c> (weight = γ, bias = β).
/// </summary>
public sealed record GraphNode(string Name, OpKind Op, IReadOnlyList<int> Inputs, NodeAttributes Attributes)
{
    /// <summary>Name of the weight tensor of this node.</summary>
    public string WeightName => Name + ".weight";
    /// <summary>Name of the bias tensor of this node.</summary>
    public string BiasName => Name + ".bias";
    /// <summary>Name of the BatchNorm running mean tensor of this node.</summary>
    public string RunningMeanName => Name + ".running_mean";
    /// <summary>Name of the BatchNorm running variance tensor of this node.</summary>
    public string RunningVarName => Name + ".running_var";
}
