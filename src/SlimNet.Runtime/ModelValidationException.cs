namespace SlimNet.Runtime;

/// <summary>
/// A model cannot be run because its graph and its tensors disagree (a missing tensor, a tensor whose shape
/// is not what the node needs, a node whose input has the wrong shape). The message starts with the node.
/// </summary>
public sealed class ModelValidationException : Exception
{
    /// <summary>Creates the exception; the message is "node 'name': problem".</summary>
    public ModelValidationException(string nodeName, string problem)
        : base($"node '{nodeName}': {problem}")
    {
        NodeName = nodeName;
    }

    /// <summary>The graph node at fault.</summary>
    public string NodeName { get; }
}
