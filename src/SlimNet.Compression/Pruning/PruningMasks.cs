using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SlimNet.Compression.Pruning;

/// <summary>
/// A session holding one 0/1 mask (float32, the parameter's shape; 1 = kept) per pruned parameter, by parameter name.
/// Owns its mask tensors: dispose it.
/// </summary>
public sealed class PruningMasks : IDisposable
{
    private readonly Dictionary<string, Tensor> _masks = new(StringComparer.Ordinal);

    /// <summary>Names of the parameters that have a mask, in insertion order.</summary>
    public IReadOnlyCollection<string> Names => _masks.Keys;

    /// <summary>The mask of <paramref name="parameterName"/> (owned by this object: do not dispose).</summary>
    public Tensor this[string parameterName] => _masks[parameterName];

    /// <summary>Whether <paramref name="parameterName"/> has a mask.</summary>
    public bool Contains(string parameterName) => _masks.ContainsKey(parameterName);

    /// <summary>Stores <paramref name="mask"/> (takes ownership) as the mask of <paramref name="parameterName"/>, disposing the old one.</summary>
    public void Set(string parameterName, Tensor mask)
    {
        if (_masks.TryGetValue(parameterName, out var old)) old.Dispose();
        // Masks live across steps: keep them out of any per-batch dispose scope of the trainer.
        _masks[parameterName] = mask.DetachFromDisposeScope();
    }

    /// <summary><c>w *= mask</c> for every masked parameter (no autograd).</summary>
    public void ApplyToWeights(IReadOnlyDictionary<string, Parameter> parameters)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, mask) in _masks) parameters[name].mul_(mask);
    }

    /// <summary><c>grad *= mask</c> for every masked parameter that has a gradient.</summary>
    public void ApplyToGradients(IReadOnlyDictionary<string, Parameter> parameters)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, mask) in _masks) parameters[name].grad?.mul_(mask);
    }

    /// <summary>Number of pruned (zero) entries of the mask of <paramref name="parameterName"/>.</summary>
    public long PrunedCount(string parameterName)
    {
        var mask = _masks[parameterName];
        using var kept = mask.sum();
        return mask.numel() - (long)Math.Round(kept.item<float>());
    }

    /// <summary>Fraction of pruned entries of <paramref name="parameterName"/>, in [0, 1].</summary>
    public double SparsityOf(string parameterName) => (double)PrunedCount(parameterName) / Math.Max(1, _masks[parameterName].numel());

    /// <summary>The mask of <paramref name="parameterName"/> flattened row-major, true = kept (for export: "strip").</summary>
    public bool[] ToArray(string parameterName)
    {
        using var flat = _masks[parameterName].flatten().contiguous();
        var values = flat.data<float>().ToArray();
        return Array.ConvertAll(values, v => v != 0f);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var mask in _masks.Values) mask.Dispose();
        _masks.Clear();
    }
}
