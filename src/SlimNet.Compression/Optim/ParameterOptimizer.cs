using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Compression.Optim;

/// <summary>
/// Base of SlimNet's optimizers. They are written here (a few tensor operations per parameter and step) rather
/// than taken from TorchSharp so that compression methods can read and edit the per-weight state (the
/// loss-aware quantizers need Adam's second moment; pruning zeroes the momentum of pruned weights) and so
/// that checkpoints can save and restore that state exactly (resume equals an uninterrupted run).
/// Semantics follow PyTorch's <c>torch.optim.SGD</c> and <c>torch.optim.Adam</c>.
/// </summary>
public abstract class ParameterOptimizer : IDisposable
{
    private readonly Dictionary<string, Dictionary<string, Tensor>> _state = new(StringComparer.Ordinal);

    /// <summary>Creates an optimizer over named parameters.</summary>
    protected ParameterOptimizer(IEnumerable<(string Name, TorchSharp.Modules.Parameter Parameter)> parameters, double learningRate)
    {
        Parameters = parameters.ToList();
        if (Parameters.Count == 0) throw new ArgumentException("no parameters to optimize", nameof(parameters));
        LearningRate = learningRate;
    }

    /// <summary>The parameters this optimizer updates, by name.</summary>
    public IReadOnlyList<(string Name, TorchSharp.Modules.Parameter Parameter)> Parameters { get; }

    /// <summary>Current learning rate (schedules set it before each epoch).</summary>
    public double LearningRate { get; set; }

    /// <summary>Number of steps taken so far.</summary>
    public long StepCount { get; protected set; }

    /// <summary>Short name, e.g. <c>sgd</c> or <c>adam</c>.</summary>
    public abstract string Kind { get; }

    /// <summary>Applies one update from the current gradients.</summary>
    public void Step()
    {
        using var noGrad = torch.no_grad();
        StepCount++;
        foreach (var (name, p) in Parameters)
        {
            var g = p.grad;
            if (g is null) continue;
            Update(name, p, g);
        }
    }

    /// <summary>Sets every gradient to zero.</summary>
    public void ZeroGrad()
    {
        foreach (var (_, p) in Parameters)
        {
            var g = p.grad;
            if (g is not null) g.zero_();
        }
    }

    /// <summary>Updates one parameter in place; runs under no_grad.</summary>
    protected abstract void Update(string name, Tensor parameter, Tensor gradient);

    /// <summary>The state tensor <paramref name="key"/> of a parameter, created zero-filled on first use.</summary>
    protected Tensor State(string name, string key, Tensor like)
    {
        if (!_state.TryGetValue(name, out var perParam)) _state[name] = perParam = new(StringComparer.Ordinal);
        if (!perParam.TryGetValue(key, out var t)) perParam[key] = t = torch.zeros_like(like).DetachFromDisposeScope();
        return t;
    }

    /// <summary>The state tensor of a parameter if it exists (e.g. Adam's <c>exp_avg_sq</c>), else null.</summary>
    public Tensor? TryGetState(string parameterName, string key) =>
        _state.TryGetValue(parameterName, out var s) && s.TryGetValue(key, out var t) ? t : null;

    /// <summary>Every state tensor as (parameter name, key, tensor), in a stable order, for checkpoints.</summary>
    public IEnumerable<(string Parameter, string Key, Tensor Value)> StateTensors() =>
        _state.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .SelectMany(kv => kv.Value.OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => (kv.Key, x.Key, x.Value)));

    /// <summary>Restores state saved by <see cref="StateTensors"/> (copies the values).</summary>
    public void LoadState(IEnumerable<(string Parameter, string Key, Tensor Value)> state, long stepCount)
    {
        var byName = Parameters.ToDictionary(p => p.Name, p => p.Parameter, StringComparer.Ordinal);
        foreach (var (param, key, value) in state)
        {
            if (!byName.TryGetValue(param, out var p))
                throw new InvalidOperationException($"optimizer state names parameter '{param}', which the model does not have");
            var t = State(param, key, p);
            if (!t.shape.SequenceEqual(value.shape))
                throw new InvalidOperationException($"optimizer state '{param}/{key}' has shape [{string.Join(",", value.shape)}], expected [{string.Join(",", t.shape)}]");
            using var noGrad = torch.no_grad();
            t.copy_(value);
        }
        StepCount = stepCount;
    }

    /// <summary>Multiplies every state tensor of <paramref name="parameterName"/> by <paramref name="mask"/> (0/1), so
    /// that pruned weights keep no momentum.</summary>
    public void MaskState(string parameterName, Tensor mask)
    {
        if (!_state.TryGetValue(parameterName, out var s)) return;
        using var noGrad = torch.no_grad();
        foreach (var t in s.Values) t.mul_(mask);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var s in _state.Values)
            foreach (var t in s.Values) t.Dispose();
        _state.Clear();
        GC.SuppressFinalize(this);
    }
}
