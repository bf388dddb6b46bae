namespace SlimNet.Format.Graph;

/// <summary>
/// Appends nodes to a graph one after the other; each method returns the index of the node it added, and by
/// default reads the previously added node (or the network input for the first one).
/// </summary>
public sealed class GraphBuilder
{
    private readonly List<GraphNode> _nodes = new();
    private readonly string _name;
    private readonly int[] _inputShape;

    /// <summary>Starts a graph named <paramref name="name"/> whose examples have shape <paramref name="inputShape"/>.</summary>
    public GraphBuilder(string name, params int[] inputShape)
    {
        _name = name;
        _inputShape = inputShape;
    }

    /// <summary>Index of the last node added, or <see cref="ModelGraph.InputIndex"/> before any.</summary>
    public int Last => _nodes.Count - 1;

    private int Add(string name, OpKind op, NodeAttributes attrs, params int[] inputs)
    {
        _nodes.Add(new GraphNode(name, op, inputs, attrs));
        return _nodes.Count - 1;
    }

    /// <summary>Adds a fully connected layer.</summary>
    public int Linear(string name, int inFeatures, int outFeatures, bool bias = true, int? input = null) =>
        Add(name, OpKind.Linear, new NodeAttributes { InFeatures = inFeatures, OutFeatures = outFeatures, HasBias = bias }, input ?? Last);

    /// <summary>Adds a square-kernel convolution.</summary>
    public int Conv2d(string name, int inChannels, int outChannels, int kernel, int stride = 1, int padding = 0, bool bias = true, int? input = null) =>
        Add(name, OpKind.Conv2d, new NodeAttributes
        {
            InFeatures = inChannels, OutFeatures = outChannels, KernelH = kernel, KernelW = kernel,
            Stride = stride, Padding = padding, HasBias = bias,
        }, input ?? Last);

    /// <summary>Adds batch normalization over <paramref name="channels"/> channels.</summary>
    public int BatchNorm(string name, int channels, float epsilon = 1e-5f, int? input = null) =>
        Add(name, OpKind.BatchNorm, new NodeAttributes { InFeatures = channels, OutFeatures = channels, Epsilon = epsilon }, input ?? Last);

    /// <summary>Adds a ReLU.</summary>
    public int ReLU(string name, int? input = null) => Add(name, OpKind.ReLU, new NodeAttributes(), input ?? Last);

    /// <summary>Adds max pooling with a square kernel.</summary>
    public int MaxPool2d(string name, int kernel, int stride, int padding = 0, int? input = null) =>
        Add(name, OpKind.MaxPool2d, new NodeAttributes { KernelH = kernel, KernelW = kernel, Stride = stride, Padding = padding }, input ?? Last);

    /// <summary>Adds average pooling with a square kernel.</summary>
    public int AvgPool2d(string name, int kernel, int stride, int padding = 0, int? input = null) =>
        Add(name, OpKind.AvgPool2d, new NodeAttributes { KernelH = kernel, KernelW = kernel, Stride = stride, Padding = padding }, input ?? Last);

    /// <summary>Adds a global average pool ([N, C, H, W] → [N, C]).</summary>
    public int GlobalAvgPool(string name, int? input = null) => Add(name, OpKind.GlobalAvgPool, new NodeAttributes(), input ?? Last);

    /// <summary>Adds a flatten ([N, ...] → [N, rest]).</summary>
    public int Flatten(string name, int? input = null) => Add(name, OpKind.Flatten, new NodeAttributes(), input ?? Last);

    /// <summary>Adds the elementwise sum of two earlier nodes.</summary>
    public int AddNodes(string name, int a, int b) => Add(name, OpKind.Add, new NodeAttributes(), a, b);

    /// <summary>Adds a softmax over the last dimension.</summary>
    public int Softmax(string name, int? input = null) => Add(name, OpKind.Softmax, new NodeAttributes(), input ?? Last);

    /// <summary>Adds one LSTM layer (one time step per run; see <see cref="OpKind.Lstm"/>).</summary>
    public int Lstm(string name, int inFeatures, int hidden, LstmNormalization normalization = LstmNormalization.None, float epsilon = 1e-5f, int? input = null) =>
        Add(name, OpKind.Lstm, new NodeAttributes
        {
            InFeatures = inFeatures, OutFeatures = hidden, KernelH = (int)normalization, HasBias = true, Epsilon = epsilon,
        }, input ?? Last);

    /// <summary>Validates and returns the graph.</summary>
    public ModelGraph Build() => new(_name, _inputShape, _nodes);
}
