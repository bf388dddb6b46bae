using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SlimNet.Compression.Pruning;

/// <summary>
/// First-order Taylor importance, a session: after every backward pass <c>A += |w ⊙ g|</c> per parameter
/// (the estimated loss change of removing each weight, accumulated over steps). Owns its accumulators: dispose it.
/// </summary>
public sealed class TaylorImportance : IDisposable
{
    private readonly Dictionary<string, Tensor> _sums = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _steps = new(StringComparer.Ordinal);

    /// <summary>Creates accumulators (zeros) for <paramref name="parameterNames"/> of <paramref name="parameters"/>.</summary>
    public TaylorImportance(IReadOnlyDictionary<string, Parameter> parameters, IEnumerable<string> parameterNames)
    {
        foreach (var name in parameterNames)
        {
            _sums[name] = torch.zeros_like(parameters[name], dtype: ScalarType.Float32).detach().DetachFromDisposeScope();
            _steps[name] = 0;
        }
    }

    /// <summary>Adds |w·g| of the current gradients (call after backward, before gradients are masked or stepped).</summary>
    public void Accumulate(IReadOnlyDictionary<string, Parameter> parameters)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, sum) in _sums)
        {
            var p = parameters[name];
            var g = p.grad;
            if (g is null) continue;
            using var product = p.detach() * g;
            using var magnitude = product.abs_();
            sum.add_(magnitude);
            _steps[name]++;
        }
    }

    /// <summary>Backward passes accumulated for <paramref name="parameterName"/> since its last reset.</summary>
    public long StepsOf(string parameterName) => _steps[parameterName];

    /// <summary>The accumulated importance of <paramref name="parameterName"/> (owned by this object).</summary>
    public Tensor this[string parameterName] => _sums[parameterName];

    /// <summary>Restarts accumulation for <paramref name="parameterName"/> (after the layer was pruned).</summary>
    public void Reset(string parameterName)
    {
        _sums[parameterName].zero_();
        _steps[parameterName] = 0;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var sum in _sums.Values) sum.Dispose();
        _sums.Clear();
    }
}
