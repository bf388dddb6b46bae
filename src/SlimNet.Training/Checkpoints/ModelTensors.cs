using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Training.Checkpoints;

/// <summary>Copies a module's parameters and float buffers to managed arrays and back.</summary>
public static class ModelTensors
{
    /// <summary>Parameters and float32 buffers of <paramref name="module"/>, by name, in the module's order.</summary>
    public static List<NamedArray> Capture(nn.Module module)
    {
        var list = new List<NamedArray>();
        foreach (var (name, p) in module.named_parameters()) list.Add(ToArray(name, p));
        foreach (var (name, b) in module.named_buffers())
            if (b.dtype == ScalarType.Float32) list.Add(ToArray(name, b));
        return list;
    }

    /// <summary>A tensor as a named managed array.</summary>
    public static NamedArray ToArray(string name, Tensor t)
    {
        using var c = t.detach().cpu().contiguous();
        return new NamedArray(name, c.shape.ToArray(), c.data<float>().ToArray());
    }

    /// <summary>
    /// Copies saved values into <paramref name="module"/>. Every float tensor of the module must be present
    /// with the same shape; names the module does not have are an error too.
    /// </summary>
    /// <exception cref="CheckpointException">A name is missing, unknown, or has another shape.</exception>
    public static void Restore(nn.Module module, IReadOnlyList<NamedArray> saved, string source)
    {
        var targets = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, p) in module.named_parameters()) targets[name] = p;
        foreach (var (name, b) in module.named_buffers()) if (b.dtype == ScalarType.Float32) targets[name] = b;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        using var noGrad = torch.no_grad();
        foreach (var s in saved)
        {
            if (!targets.TryGetValue(s.Name, out var t))
                throw new CheckpointException($"{source}: tensor '{s.Name}' does not belong to this model");
            if (!t.shape.SequenceEqual(s.Shape))
                throw new CheckpointException($"{source}: tensor '{s.Name}' has shape [{string.Join(", ", s.Shape)}], the model expects [{string.Join(", ", t.shape)}]");
            using var src = torch.tensor(s.Data, s.Shape);
            t.copy_(src);
            seen.Add(s.Name);
        }
        var missing = targets.Keys.Where(k => !seen.Contains(k)).ToList();
        if (missing.Count > 0) throw new CheckpointException($"{source}: checkpoint lacks {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? ", …" : "")}");
    }
}
