using SlimNet.Compression.LqNets;
using SlimNet.Format;
using SlimNet.Format.Graph;
using SlimNet.Training.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Training.Pipeline;

/// <summary>
/// The TorchSharp forward of a .slim model, to check the runtime against: a <see cref="GraphModule"/> of the file's graph
/// holding the decoded tensors, with every LQ-Nets input quantizer (Basis kind, codes {0, 1}) applied to its node's input
/// in evaluation mode (nearest level, no basis update) — the fake-quantized network that training evaluated.
/// </summary>
public static class SlimTorchReference
{
    /// <summary>Builds the module (eval mode); the caller disposes it.</summary>
    /// <exception cref="NotSupportedException">A node has an activation quantizer other than an unsigned basis.</exception>
    public static GraphModule Build(SlimModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var module = new GraphModule(model.Graph);
        using (torch.no_grad())
        {
            foreach (var (name, p) in module.named_parameters()) Load(model, name, p);
            foreach (var (name, b) in module.named_buffers())
                if (b.dtype == ScalarType.Float32) Load(model, name, b);
        }
        foreach (var node in model.Graph.Nodes)
        {
            if (node.Attributes.ActivationQuant is not { } aq) continue;
            if (aq.Kind != ActivationQuantKind.Basis || aq.Signed)
                throw new NotSupportedException($"node '{node.Name}': only unsigned basis (LQ-Nets) input quantizers are rebuilt in TorchSharp");
            var quantizer = new LqActivationQuantizer(node.Name, aq.Parameters.ToArray());
            module.SetInputQuantizer(node.Name, (x, _) => quantizer.Forward(x, training: false));
        }
        module.eval();
        return module;
    }

    private static void Load(SlimModel model, string name, Tensor target)
    {
        var t = model.FindTensor(name) ?? throw new ArgumentException($"the .slim file has no tensor '{name}'");
        using var values = torch.tensor(t.ToDense(), target.shape);
        target.copy_(values);
    }
}
