using SlimNet.Compression.Hooks;
using SlimNet.Compression.Schedules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SlimNet.Compression.Pruning;

/// <summary>
/// Unstructured pruning session (hooks for the trainer). Before each forward pass it asks its schedules whether the
/// masks change at this step and, if so, recomputes them (masks only shrink: a pruned weight never returns). After
/// backward it masks the gradients (<c>g *= mask</c>), after the optimizer step it masks the weights (<c>w *= mask</c>).
/// <para>
/// Optimizer state: the trainer's <see cref="Optim.ParameterOptimizer"/> exposes it, so the pruner multiplies every
/// state tensor of a pruned parameter (SGD momentum buffer, Adam's m and v) by the mask whenever masks change and
/// after every optimizer step. With gradients masked too, a pruned weight has no stale momentum that could revive
/// it; re-masking the weights after each step makes that hold even for an optimizer whose state is not reachable.
/// </para>
/// Weights that are exactly zero when the pruner is created count as already pruned (so a chain of pruning stages
/// keeps what earlier stages removed).
/// </summary>
public sealed class Pruner : ITrainingHooks, IDisposable
{
    private readonly IReadOnlyDictionary<string, Parameter> _parameters;
    private readonly IReadOnlyList<PrunedLayer> _layers;
    private readonly ISparsitySchedule? _globalSchedule;
    private readonly Dictionary<string, double> _appliedSparsity = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _lastThresholdStep = new(StringComparer.Ordinal);
    private readonly TaylorImportance? _taylor;
    private double _appliedGlobalSparsity;

    private Pruner(IReadOnlyDictionary<string, Parameter> parameters, IReadOnlyList<PrunedLayer> layers,
        PruningImportance importance, PruningScope scope, ISparsitySchedule? globalSchedule)
    {
        _parameters = parameters;
        _layers = layers;
        _globalSchedule = globalSchedule;
        Importance = importance;
        Scope = scope;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var layer in layers)
        {
            if (!parameters.ContainsKey(layer.ParameterName))
                throw new ArgumentException($"no parameter named '{layer.ParameterName}'", nameof(layers));
            if (!seen.Add(layer.ParameterName))
                throw new ArgumentException($"parameter '{layer.ParameterName}' listed twice", nameof(layers));
            if (scope == PruningScope.PerLayer && (layer.Sparsity is null) == (layer.Threshold is null))
                throw new ArgumentException($"layer '{layer.ParameterName}' needs exactly one of a sparsity or a threshold schedule", nameof(layers));
            if (layer.Threshold is not null && importance != PruningImportance.Magnitude)
                throw new ArgumentException("threshold pruning (q·std) ranks by magnitude only", nameof(importance));
        }
        Masks = new PruningMasks();
        foreach (var layer in layers)
        {
            using var noGrad = torch.no_grad();
            using Scalar zero = 0; // held alive across the native call (see AdamOptimizer)
            using var nonzero = parameters[layer.ParameterName].detach().ne(zero);
            Masks.Set(layer.ParameterName, nonzero.to_type(ScalarType.Float32));
            _appliedSparsity[layer.ParameterName] = 0.0;
            _lastThresholdStep[layer.ParameterName] = -1;
        }
        if (importance == PruningImportance.Taylor)
            _taylor = new TaylorImportance(parameters, layers.Select(l => l.ParameterName));
    }

    /// <summary>A pruner where each layer follows its own schedule.</summary>
    public static Pruner PerLayer(IReadOnlyDictionary<string, Parameter> parameters, IReadOnlyList<PrunedLayer> layers,
        PruningImportance importance = PruningImportance.Magnitude) =>
        new(parameters, layers, importance, PruningScope.PerLayer, null);

    /// <summary>A pruner that ranks all of <paramref name="parameterNames"/> together and prunes the overall sparsity <paramref name="schedule"/> asks for.</summary>
    public static Pruner Global(IReadOnlyDictionary<string, Parameter> parameters, IReadOnlyList<string> parameterNames,
        ISparsitySchedule schedule, PruningImportance importance = PruningImportance.Magnitude) =>
        new(parameters, parameterNames.Select(n => new PrunedLayer(n)).ToList(), importance, PruningScope.Global, schedule);

    /// <summary>The current masks (owned by the pruner).</summary>
    public PruningMasks Masks { get; }
    /// <summary>How weights are ranked.</summary>
    public PruningImportance Importance { get; }
    /// <summary>Per-layer or global ranking.</summary>
    public PruningScope Scope { get; }
    /// <summary>The pruned parameters, in ranking order.</summary>
    public IReadOnlyList<string> ParameterNames => _layers.Select(l => l.ParameterName).ToList();

    /// <summary>Recomputes the masks that the schedules change at <paramref name="step"/> and applies all masks to the weights.</summary>
    public void UpdateMasks(long step)
    {
        if (Scope == PruningScope.Global)
        {
            double target = _globalSchedule!.TargetAt(step);
            if (target > _appliedGlobalSparsity)
            {
                PruneGlobally(target);
                _appliedGlobalSparsity = target;
            }
        }
        else
        {
            foreach (var layer in _layers)
            {
                string name = layer.ParameterName;
                if (layer.Sparsity is { } schedule)
                {
                    double target = schedule.TargetAt(step);
                    if (target > _appliedSparsity[name])
                    {
                        PruneLayerToSparsity(name, target);
                        _appliedSparsity[name] = target;
                    }
                }
                else if (layer.Threshold!.ScaleAt(step) is double q && _lastThresholdStep[name] != step)
                {
                    PruneLayerByThreshold(name, q);
                    _lastThresholdStep[name] = step;
                }
            }
        }
        Masks.ApplyToWeights(_parameters);
    }

    /// <summary>Prunes <paramref name="parameterName"/> now to exactly round(sparsity·n) zeros (or keeps more zeros if it already has them).</summary>
    public void PruneLayerToSparsity(string parameterName, double sparsity)
    {
        var importance = ImportanceOf(parameterName);
        var pruned = PrunedFlags(parameterName);
        var keep = MaskSelection.KeepFlags(importance, pruned, MaskSelection.PruneCount(sparsity, importance.Length));
        SetMask(parameterName, keep);
        _taylor?.Reset(parameterName);
    }

    /// <summary>Prunes the weights of <paramref name="parameterName"/> with |w| &lt; q·std(W) (Deep Compression).</summary>
    public void PruneLayerByThreshold(string parameterName, double q)
    {
        var p = _parameters[parameterName];
        double threshold;
        {
            using var noGrad = torch.no_grad();
            using var masked = p.detach() * Masks[parameterName];
            threshold = new StdThreshold(q).ThresholdFor(masked);
        }
        var magnitude = MagnitudeOf(parameterName);
        var pruned = PrunedFlags(parameterName);
        var keep = new bool[magnitude.Length];
        for (int i = 0; i < keep.Length; i++) keep[i] = !pruned[i] && magnitude[i] >= threshold;
        SetMask(parameterName, keep);
    }

    private void PruneGlobally(double sparsity)
    {
        var importances = _layers.Select(l => ImportanceOf(l.ParameterName)).ToList();
        var pruneds = _layers.Select(l => PrunedFlags(l.ParameterName)).ToList();
        int total = importances.Sum(a => a.Length);
        var allImportance = new float[total];
        var allPruned = new bool[total];
        int offset = 0;
        for (int i = 0; i < importances.Count; i++)
        {
            importances[i].CopyTo(allImportance, offset);
            pruneds[i].CopyTo(allPruned, offset);
            offset += importances[i].Length;
        }
        var keep = MaskSelection.KeepFlags(allImportance, allPruned, MaskSelection.PruneCount(sparsity, total));
        offset = 0;
        for (int i = 0; i < _layers.Count; i++)
        {
            string name = _layers[i].ParameterName;
            SetMask(name, keep.AsSpan(offset, importances[i].Length).ToArray());
            offset += importances[i].Length;
            _taylor?.Reset(name);
        }
    }

    private float[] ImportanceOf(string parameterName)
    {
        if (_taylor is null) return MagnitudeOf(parameterName);
        if (_taylor.StepsOf(parameterName) == 0)
            throw new InvalidOperationException(
                $"Taylor importance of '{parameterName}' has no accumulated gradients yet: start the pruning schedule after at least one training step");
        return FlatValues(_taylor[parameterName]);
    }

    private float[] MagnitudeOf(string parameterName)
    {
        using var noGrad = torch.no_grad();
        using var magnitude = _parameters[parameterName].detach().abs();
        return FlatValues(magnitude);
    }

    private bool[] PrunedFlags(string parameterName) => Array.ConvertAll(Masks.ToArray(parameterName), kept => !kept);

    private void SetMask(string parameterName, bool[] keep)
    {
        var shape = _parameters[parameterName].shape;
        var values = Array.ConvertAll(keep, k => k ? 1f : 0f);
        using var flat = torch.tensor(values, dtype: ScalarType.Float32);
        Masks.Set(parameterName, flat.reshape(shape));
    }

    private static float[] FlatValues(Tensor tensor)
    {
        using var flat = tensor.detach().flatten().to_type(ScalarType.Float32).contiguous();
        return flat.data<float>().ToArray();
    }

    /// <inheritdoc />
    public void OnTrainingStart(TrainingContext context)
    {
        UpdateMasks(context.Step);
        MaskOptimizerState(context.Optimizer);
    }

    /// <inheritdoc />
    public void BeforeForward(TrainingContext context)
    {
        UpdateMasks(context.Step);
        MaskOptimizerState(context.Optimizer);
    }

    /// <inheritdoc />
    public void AfterBackward(TrainingContext context)
    {
        _taylor?.Accumulate(_parameters);
        Masks.ApplyToGradients(_parameters);
    }

    /// <inheritdoc />
    public void AfterOptimizerStep(TrainingContext context)
    {
        Masks.ApplyToWeights(_parameters);
        MaskOptimizerState(context.Optimizer);
    }

    /// <summary>Zeroes the optimizer state (momentum, Adam moments) of every pruned weight.</summary>
    public void MaskOptimizerState(Optim.ParameterOptimizer optimizer)
    {
        foreach (var name in Masks.Names) optimizer.MaskState(name, Masks[name]);
    }

    /// <inheritdoc />
    public void OnEpochEnd(TrainingContext context)
    {
        var rules = _layers.Where(l => l.Threshold is not null)
            .Select(l => DynamicAdaptiveThreshold.OwnerOf(l.Threshold!))
            .OfType<DynamicAdaptiveThreshold>().Distinct();
        foreach (var rule in rules) rule.Observe(context.Step, context.EpochLoss);
    }

    /// <inheritdoc />
    public void OnTrainingEnd(TrainingContext context) => Masks.ApplyToWeights(_parameters);

    /// <inheritdoc />
    public void Dispose()
    {
        Masks.Dispose();
        _taylor?.Dispose();
    }
}
