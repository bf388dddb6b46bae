using SlimNet.Format.Graph;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Training.Models;

/// <summary>
/// A TorchSharp module that runs a <see cref="ModelGraph"/>. Each parameterised node becomes a child module
/// named after the node, so parameter names are <c>{node}.weight</c>, <c>{node}.bias</c> (and BatchNorm's
/// <c>running_mean</c>/<c>running_var</c> buffers) — the same names the .slim file and recipes use.
/// </summary>
public sealed class GraphModule : nn.Module<Tensor, Tensor>
{
    private readonly ModelGraph _graph;
    private readonly nn.Module<Tensor, Tensor>?[] _layers;
    private readonly bool[] _im2col;
    private readonly Func<Tensor, bool, Tensor>?[] _inputQuantizers;

    /// <summary>Builds the module for <paramref name="graph"/> with PyTorch's default initialisation (seed with torch.manual_seed first).</summary>
    public GraphModule(ModelGraph graph) : base(graph.Name)
    {
        _graph = graph;
        var shapes = GraphShapes.Infer(graph);
        _layers = new nn.Module<Tensor, Tensor>?[graph.Nodes.Count];
        _im2col = new bool[graph.Nodes.Count];
        _inputQuantizers = new Func<Tensor, bool, Tensor>?[graph.Nodes.Count];
        for (int i = 0; i < graph.Nodes.Count; i++)
        {
            var n = graph.Nodes[i];
            var a = n.Attributes;
            nn.Module<Tensor, Tensor>? layer = n.Op switch
            {
                OpKind.Linear => nn.Linear(a.InFeatures, a.OutFeatures, hasBias: a.HasBias),
                OpKind.Conv2d => nn.Conv2d(a.InFeatures, a.OutFeatures, (a.KernelH, a.KernelW), stride: (a.Stride, a.Stride),
                    padding: (a.Padding, a.Padding), bias: a.HasBias),
                OpKind.BatchNorm => shapes[i].Length == 1
                    ? nn.BatchNorm1d(a.InFeatures, eps: a.Epsilon)
                    : nn.BatchNorm2d(a.InFeatures, eps: a.Epsilon),
                _ => null,
            };
            if (layer is not null)
            {
                register_module(n.Name, layer);
                _layers[i] = layer;
            }
            if (n.Op == OpKind.Conv2d)
            {
                var inShape = n.Inputs[0] == ModelGraph.InputIndex ? graph.InputShape.ToArray() : shapes[n.Inputs[0]];
                _im2col[i] = !Conv2dSelfCheck.NativeConvolutionIsCorrect(a, inShape);
            }
        }
    }

    /// <summary>Names of the Conv2d nodes that run as im2col + matrix product because libtorch's own convolution
    /// failed the self-check for their shape on this machine (see <see cref="Conv2dSelfCheck"/>).</summary>
    public IReadOnlyList<string> Im2ColNodes => _graph.Nodes.Where((n, i) => _im2col[i]).Select(n => n.Name).ToList();

    /// <summary>
    /// Makes node <paramref name="nodeName"/> see <c>quantizer(input, training)</c> instead of its input (null removes
    /// it): the input-activation quantizers of LQ-Nets. The quantizer must keep the input's shape.
    /// </summary>
    /// <exception cref="ArgumentException">No node of that name.</exception>
    public void SetInputQuantizer(string nodeName, Func<Tensor, bool, Tensor>? quantizer)
    {
        int i = _graph.Nodes.ToList().FindIndex(n => n.Name == nodeName);
        if (i < 0) throw new ArgumentException($"model '{_graph.Name}' has no node '{nodeName}'", nameof(nodeName));
        _inputQuantizers[i] = quantizer;
    }

    /// <summary>The graph this module runs.</summary>
    public ModelGraph Graph => _graph;

    /// <summary>Runs the network on a batch [N, ...input shape] and returns the output of the last node.</summary>
    public override Tensor forward(Tensor input)
    {
        var nodes = _graph.Nodes;
        var outputs = new Tensor[nodes.Count];
        Tensor In(int idx) => idx == ModelGraph.InputIndex ? input : outputs[idx];
        for (int i = 0; i < nodes.Count; i++)
        {
            var n = nodes[i];
            var a = n.Attributes;
            var x = In(n.Inputs[0]);
            if (_inputQuantizers[i] is { } quantize) x = quantize(x, training);
            outputs[i] = n.Op switch
            {
                OpKind.Conv2d when _im2col[i] => Conv2dSelfCheck.Im2ColConvolution(x, (TorchSharp.Modules.Conv2d)_layers[i]!, a),
                OpKind.Linear or OpKind.Conv2d or OpKind.BatchNorm => _layers[i]!.forward(x),
                OpKind.ReLU => nn.functional.relu(x),
                OpKind.MaxPool2d => nn.functional.max_pool2d(x, new long[] { a.KernelH, a.KernelW }, new long[] { a.Stride, a.Stride }, new long[] { a.Padding, a.Padding }),
                OpKind.AvgPool2d => nn.functional.avg_pool2d(x, new long[] { a.KernelH, a.KernelW }, new long[] { a.Stride, a.Stride }, new long[] { a.Padding, a.Padding }),
                OpKind.GlobalAvgPool => x.mean(new long[] { 2, 3 }),
                OpKind.Flatten => x.flatten(1),
                OpKind.Add => x + In(n.Inputs[1]),
                OpKind.Softmax => nn.functional.softmax(x, -1),
                _ => throw new InvalidOperationException($"node '{n.Name}': unsupported operation {n.Op}"),
            };
        }
        return outputs[^1];
    }
}
