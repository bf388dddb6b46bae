using SlimNet.Compression.Hooks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SlimNet.Compression.Importance;

/// <summary>
/// Gradient importance (Gaopande), a session: after every backward pass it adds the absolute gradient of each
/// selected parameter (weights and biases) to a float32 accumulator of the same shape, <c>A_i = Σ_steps |∂L/∂w_i|</c>
/// (units: loss per unit of weight, summed over minibatches). Register it before hooks that mask gradients if the raw
/// gradients should count. Owns its accumulators (outside any dispose scope): dispose it.
/// </summary>
public sealed class GradientImportanceTracker : ITrainingHooks, ICheckpointedHooks, IDisposable
{
    private readonly IReadOnlyDictionary<string, Parameter> _parameters;
    private readonly Dictionary<string, Tensor> _sums = new(StringComparer.Ordinal);
    private readonly List<string> _names;

    /// <summary>Creates zero accumulators for <paramref name="names"/> (default: every parameter, in dictionary order).</summary>
    /// <exception cref="ArgumentException">A name is unknown or listed twice.</exception>
    public GradientImportanceTracker(IReadOnlyDictionary<string, Parameter> parameters, IEnumerable<string>? names = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _parameters = parameters;
        _names = (names ?? parameters.Keys).ToList();
        foreach (var name in _names)
        {
            if (!parameters.TryGetValue(name, out var p)) throw new ArgumentException($"no parameter named '{name}'", nameof(names));
            if (_sums.ContainsKey(name)) throw new ArgumentException($"parameter '{name}' listed twice", nameof(names));
            using var noGrad = torch.no_grad();
            _sums[name] = torch.zeros(p.shape, dtype: ScalarType.Float32).DetachFromDisposeScope();
        }
    }

    /// <summary>The tracked parameters, in the order given.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>Backward passes accumulated so far (restored by <see cref="Import"/>).</summary>
    public long Steps { get; private set; }

    /// <summary>The accumulator of <paramref name="name"/> (owned by the tracker; do not dispose or modify).</summary>
    public Tensor Accumulator(string name) => _sums[name];

    /// <summary>The accumulated importance of <paramref name="name"/>, row-major (a copy).</summary>
    public float[] Importance(string name)
    {
        using var flat = _sums[name].flatten().contiguous();
        return flat.data<float>().ToArray();
    }

    /// <summary>
    /// The accumulated importance of <paramref name="name"/> divided by its mean over the parameter (a copy), so that
    /// parameters with different gradient scales can be ranked together by their relative importance; all zeros stay zeros.
    /// </summary>
    public float[] RelativeImportance(string name)
    {
        var a = Importance(name);
        double mean = 0;
        foreach (float v in a) mean += v;
        mean /= Math.Max(1, a.Length);
        if (mean > 0)
            for (int i = 0; i < a.Length; i++) a[i] = (float)(a[i] / mean);
        return a;
    }

    /// <summary>Adds |g| of the current gradients (a parameter without a gradient adds nothing).</summary>
    public void Accumulate()
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, sum) in _sums)
        {
            var g = _parameters[name].grad;
            if (g is null) continue;
            using var magnitude = g.abs();
            using var asFloat = magnitude.to_type(ScalarType.Float32);
            sum.add_(asFloat);
        }
        Steps++;
    }

    /// <inheritdoc />
    public void AfterBackward(TrainingContext context) => Accumulate();

    /// <summary>The accumulators as plain arrays, for checkpoints.</summary>
    public IReadOnlyList<ImportanceSnapshot> Export() =>
        _names.Select(n => new ImportanceSnapshot(n, _sums[n].shape.ToArray(), Importance(n))).ToList();

    /// <summary>Restores accumulators saved by <see cref="Export"/> (every tracked name must be present, with its shape).</summary>
    /// <exception cref="InvalidOperationException">A snapshot is missing, unknown, or has the wrong shape or length.</exception>
    public void Import(IEnumerable<ImportanceSnapshot> snapshots, long steps)
    {
        ArgumentNullException.ThrowIfNull(snapshots);
        var byName = new Dictionary<string, ImportanceSnapshot>(StringComparer.Ordinal);
        foreach (var s in snapshots)
        {
            if (!_sums.TryGetValue(s.Name, out var sum))
                throw new InvalidOperationException($"importance snapshot names '{s.Name}', which is not tracked");
            if (!sum.shape.SequenceEqual(s.Shape) || s.Values.Length != sum.numel())
                throw new InvalidOperationException($"importance of '{s.Name}' has shape [{string.Join(",", s.Shape)}] and {s.Values.Length} values, expected [{string.Join(",", sum.shape)}]");
            byName[s.Name] = s;
        }
        foreach (var name in _names)
            if (!byName.ContainsKey(name)) throw new InvalidOperationException($"importance snapshot lacks '{name}'");
        using var noGrad = torch.no_grad();
        foreach (var (name, s) in byName)
        {
            using var values = torch.tensor(s.Values, dtype: ScalarType.Float32);
            using var shaped = values.reshape(s.Shape);
            _sums[name].copy_(shaped);
        }
        Steps = steps;
    }

    /// <summary>Checkpoint prefix of the accumulators (default <c>importance</c>).</summary>
    public string StateKey { get; init; } = "importance";

    /// <summary>Name of the step counter among the checkpointed arrays (not a parameter name: it has no dot and a '#').</summary>
    public const string StepsStateName = "#steps";

    /// <inheritdoc />
    public IReadOnlyList<HookStateArray> SaveState() =>
        Export().Select(s => new HookStateArray(s.Name, s.Shape, s.Values)).Append(HookStateArray.Count(StepsStateName, Steps)).ToList();

    /// <inheritdoc />
    public void LoadState(IReadOnlyList<HookStateArray> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var steps = state.FirstOrDefault(s => s.Name == StepsStateName)
            ?? throw new InvalidOperationException($"importance state lacks '{StepsStateName}'");
        Import(state.Where(s => s.Name != StepsStateName).Select(s => new ImportanceSnapshot(s.Name, s.Shape, s.Values)), steps.AsCount());
    }

    /// <summary>
    /// Adds saved accumulators (e.g. from the baseline training's checkpoint) to the tracked ones that they name;
    /// names not tracked are ignored, shapes must match. Returns how many parameters were seeded.
    /// </summary>
    public int AddFrom(IEnumerable<HookStateArray> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        int seeded = 0;
        using var noGrad = torch.no_grad();
        foreach (var s in state)
        {
            if (s.Name == StepsStateName) { Steps += s.AsCount(); continue; }
            if (!_sums.TryGetValue(s.Name, out var sum)) continue;
            if (!sum.shape.SequenceEqual(s.Shape) || s.Values.Length != sum.numel())
                throw new InvalidOperationException($"importance of '{s.Name}' has shape [{string.Join(",", s.Shape)}], the model's is [{string.Join(",", sum.shape)}]");
            using var values = torch.tensor(s.Values, dtype: ScalarType.Float32);
            using var shaped = values.reshape(s.Shape);
            sum.add_(shaped);
            seeded++;
        }
        return seeded;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var sum in _sums.Values) sum.Dispose();
        _sums.Clear();
    }
}

/// <summary>One parameter's accumulated importance as plain data (checkpoint form).</summary>
/// <param name="Name">Parameter name, e.g. <c>fc1.weight</c>.</param>
/// <param name="Shape">Tensor dimensions.</param>
/// <param name="Values">Row-major accumulated |gradient| sums.</param>
public sealed record ImportanceSnapshot(string Name, long[] Shape, float[] Values);
