namespace SlimNet.Format.Graph;

/// <summary>
/// A network as a list of nodes in execution order (a DAG: each node reads earlier nodes or the input).
/// The output of the network is the output of the last node. Immutable: a definition, not a session.
/// </summary>
public sealed class ModelGraph
{
    /// <summary>The value of <see cref="GraphNode.Inputs"/> entries that refer to the network input.</summary>
    public const int InputIndex = -1;

    /// <summary>Creates a graph and validates its structure.</summary>
    /// <param name="name">Model name (for example <c>lenet-300-100</c>).</param>
    /// <param name="inputShape">Shape of one input example without the batch dimension ([C, H, W] or [features]).</param>
    /// <param name="nodes">Nodes in execution order.</param>
    /// <exception cref="ArgumentException">A node reads a later node, names repeat, or an Add does not have two inputs.</exception>
    public ModelGraph(string name, IReadOnlyList<int> inputShape, IReadOnlyList<GraphNode> nodes)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (inputShape.Count == 0 || inputShape.Any(d => d <= 0))
            throw new ArgumentException("input shape must have at least one dimension, all positive", nameof(inputShape));
        if (nodes.Count == 0) throw new ArgumentException("a graph needs at least one node", nameof(nodes));
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < nodes.Count; i++)
        {
            var n = nodes[i];
            if (!names.Add(n.Name)) throw new ArgumentException($"node name '{n.Name}' appears twice", nameof(nodes));
            int expectedInputs = n.Op == OpKind.Add ? 2 : 1;
            if (n.Inputs.Count != expectedInputs)
                throw new ArgumentException($"node '{n.Name}' ({n.Op}) needs {expectedInputs} input(s), has {n.Inputs.Count}", nameof(nodes));
            if (n.Op == OpKind.Lstm && LstmProblem(n.Attributes) is { } problem)
                throw new ArgumentException($"node '{n.Name}' (Lstm): {problem}", nameof(nodes));
            foreach (int src in n.Inputs)
                if (src < InputIndex || src >= i)
                    throw new ArgumentException($"node '{n.Name}' reads node {src}, which is not an earlier node", nameof(nodes));
        }
        Name = name;
        InputShape = inputShape.ToArray();
        Nodes = nodes.ToArray();
    }

    private static string? LstmProblem(NodeAttributes a)
    {
        if (a.InFeatures < 1 || a.OutFeatures < 1) return $"input size {a.InFeatures} and hidden size {a.OutFeatures} must be positive";
        if (a.OutFeatures > (1 << 26)) return $"hidden size {a.OutFeatures} is too large";
        if (!Enum.IsDefined(a.LstmNormalization)) return $"unknown normalization id {a.KernelH}";
        if (a.KernelW != 0 || a.Padding != 0) return "kernel width and padding must be 0";
        if (!a.HasBias) return "an LSTM node always has a bias";
        if (a.LstmNormalization is LstmNormalization.Batch or LstmNormalization.Layer && !(a.Epsilon > 0 && float.IsFinite(a.Epsilon)))
            return $"epsilon {a.Epsilon} must be positive";
        return null;
    }

    /// <summary>Model name.</summary>
    public string Name { get; }
    /// <summary>Shape of one input example, without the batch dimension.</summary>
    public IReadOnlyList<int> InputShape { get; }
    /// <summary>Nodes in execution order.</summary>
    public IReadOnlyList<GraphNode> Nodes { get; }
}
