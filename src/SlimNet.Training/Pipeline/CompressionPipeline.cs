using SlimNet.Compression.Hooks;
using SlimNet.Compression.Pruning;
using SlimNet.Compression.Quantization;
using SlimNet.Compression.Recipes;
using SlimNet.Compression.Sharing;
using SlimNet.Training.Data;
using SlimNet.Training.Models;
using SlimNet.Training.Trainer;

namespace SlimNet.Training.Pipeline;

/// <summary>What one recipe stage did: its method, fine-tuning epochs and the test accuracy after it.</summary>
public sealed record StageReport(int Index, string Method, int Epochs, double TestAccuracy, IReadOnlyDictionary<string, double> Sparsity);

/// <summary>
/// Runs a recipe's stages on a trained module (a session). Each stage adds its compression session to the chain
/// and fine-tunes with every session so far registered, so later stages keep what earlier ones did (a pruned
/// weight stays exactly zero through weight sharing and fine-tuning).
/// </summary>
public sealed class CompressionPipeline : IDisposable
{
    private readonly ZooModel _model;
    private readonly Recipe _recipe;
    private readonly DataSplits _data;
    private readonly int _seed;
    private readonly ITrainingProgress _progress;
    private readonly List<ITrainingHooks> _sessions = new();

    /// <summary>Prepares a run of <paramref name="recipe"/> on <paramref name="model"/>.</summary>
    public CompressionPipeline(ZooModel model, Recipe recipe, DataSplits data, int seed, ITrainingProgress? progress = null)
    {
        _model = model;
        _recipe = recipe;
        _data = data;
        _seed = seed;
        _progress = progress ?? SilentProgress.Instance;
    }

    /// <summary>When set, every fine-tuning run is one rank of a data-parallel job (see <see cref="Distributed.DataParallel"/>).</summary>
    public Distributed.DataParallel? Parallel { get; init; }

    /// <summary>The compression sessions, in stage order (pruners, weight sharing, loss-aware quantizers, …).</summary>
    public IReadOnlyList<ITrainingHooks> Sessions => _sessions;

    /// <summary>Raised when a stage starts (index from 0, method name, fine-tuning epochs).</summary>
    public event Action<int, string, int>? StageStarted;

    /// <summary>Runs every stage on <paramref name="module"/> (changed in place) and reports each.</summary>
    public IReadOnlyList<StageReport> Run(GraphModule module)
    {
        var parameters = module.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        _recipe.ValidateAgainst(parameters.Keys);
        var reports = new List<StageReport>();
        for (int i = 0; i < _recipe.Stages.Count; i++)
        {
            var stage = _recipe.Stages[i];
            var ft = stage.FineTune;
            var options = new TrainerOptions
            {
                Epochs = ft?.Epochs ?? 0,
                BatchSize = ft?.BatchSize ?? 64,
                LearningRate = ft?.LearningRate ?? 1e-3,
                Optimizer = (ft?.Optimizer ?? OptimizerKind.Adam) == OptimizerKind.Sgd ? "sgd" : "adam",
                Momentum = ft?.Momentum ?? 0,
                WeightDecay = ft?.WeightDecay ?? 0,
                Schedule = ft?.Schedule ?? "constant",
                Seed = _seed + 1000 * (i + 1),
                Augment = _model.Dataset != DatasetKind.Mnist,
            };
            long stepsPerEpoch = Math.Max(1, (_data.Train.Count + options.BatchSize - 1) / options.BatchSize);
            _sessions.Add(CompressionStageFactory.CreateSession(stage, parameters, stepsPerEpoch));
            string method = stage.Method == CompressionMethod.LossAware ? "loss-aware" : stage.Method.ToString().ToLowerInvariant();
            StageStarted?.Invoke(i, method, options.Epochs);
            var result = new ModelTrainer(_model, options, _data, _sessions, _progress, Parallel).Run(module: module);
            double accuracy = result.Epochs.Count > 0 ? result.TestAccuracy : Evaluator.Evaluate(module, _data.Test, _data.Normalization).Accuracy;
            reports.Add(new StageReport(i + 1, method, options.Epochs, accuracy, CurrentSparsity()));
        }
        return reports;
    }

    /// <summary>The final pruning masks by parameter (the union over pruning sessions; later sessions win).</summary>
    public IReadOnlyDictionary<string, bool[]> Masks()
    {
        var masks = new Dictionary<string, bool[]>(StringComparer.Ordinal);
        foreach (var p in _sessions.OfType<Pruner>())
            foreach (var name in p.Masks.Names) masks[name] = p.Masks.ToArray(name);
        return masks;
    }

    /// <summary>The weight-shared parameters (last k-means stage that covers a parameter wins).</summary>
    public IReadOnlyDictionary<string, SharedWeights> SharedWeights()
    {
        var shared = new Dictionary<string, SharedWeights>(StringComparer.Ordinal);
        foreach (var s in _sessions.OfType<WeightSharing>())
            foreach (var w in s.ExportAll()) shared[w.ParameterName] = w;
        return shared;
    }

    /// <summary>The parameters trained quantized, in their storable form (last loss-aware stage that covers a parameter wins).</summary>
    public IReadOnlyDictionary<string, QuantizedWeights> QuantizedWeights()
    {
        var quantized = new Dictionary<string, QuantizedWeights>(StringComparer.Ordinal);
        foreach (var q in _sessions.OfType<LossAwareQuantizer>())
            foreach (var w in q.ExportAll()) quantized[w.ParameterName] = w;
        return quantized;
    }

    private Dictionary<string, double> CurrentSparsity()
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var p in _sessions.OfType<Pruner>())
            foreach (var name in p.Masks.Names) result[name] = p.Masks.SparsityOf(name);
        foreach (var q in _sessions.OfType<LossAwareQuantizer>())
            foreach (var w in q.ExportAll().Where(w => w.Codes.Any(c => c == 0))) result[w.ParameterName] = w.Sparsity;
        return result;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var s in _sessions) (s as IDisposable)?.Dispose();
        _sessions.Clear();
    }
}
