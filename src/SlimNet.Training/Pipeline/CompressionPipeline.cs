using SlimNet.Compression.Export;
using SlimNet.Compression.Hooks;
using SlimNet.Compression.Importance;
using SlimNet.Compression.LqNets;
using SlimNet.Compression.Pruning;
using SlimNet.Compression.Quantization;
using SlimNet.Compression.Recipes;
using SlimNet.Compression.Sharing;
using SlimNet.Format.Graph;
using SlimNet.Training.Checkpoints;
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
    private readonly IReadOnlyList<HookStateArray>? _importanceSeed;
    private GradientImportanceTracker? _tracker;

    /// <summary>Prepares a run of <paramref name="recipe"/> on <paramref name="model"/>.</summary>
    /// <param name="model">The zoo model.</param>
    /// <param name="recipe">The stages.</param>
    /// <param name="data">Training and test data.</param>
    /// <param name="seed">Seed of the fine-tuning runs.</param>
    /// <param name="progress">Progress sink.</param>
    /// <param name="importanceSeed">Importance accumulated before the recipe (the baseline training's tracker state), added to the
    /// run's tracker when the recipe has gradient-importance stages.</param>
    public CompressionPipeline(ZooModel model, Recipe recipe, DataSplits data, int seed, ITrainingProgress? progress = null,
        IReadOnlyList<HookStateArray>? importanceSeed = null)
    {
        _importanceSeed = importanceSeed;
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
        Validate(_model, _recipe);
        var reports = new List<StageReport>();
        if (_recipe.Stages.Any(s => s is ImportanceTrainStage or ImportancePostStage) && _tracker is null)
        {
            // One tracker for the whole run, first in the chain so that it sees the raw gradients.
            _tracker = new GradientImportanceTracker(parameters);
            if (_importanceSeed is not null) _tracker.AddFrom(_importanceSeed);
            _sessions.Insert(0, _tracker);
        }
        // Distillation's teacher: the model as it entered the pipeline, a separate module no stage touches.
        using var teacher = _recipe.Stages.Any(s => s.FineTune?.Distill is not null) ? CopyOf(module) : null;
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
            if (ft?.Distill is { } kd) options = options with { DistillTemperature = kd.Temperature, DistillWeight = kd.Weight };
            long stepsPerEpoch = Math.Max(1, (_data.Train.Count + options.BatchSize - 1) / options.BatchSize);
            var importance = _tracker is null ? null : new ImportanceRun(_tracker, _sessions.Where(x => x != _tracker).ToList(), i + 1);
            if (stage is ImportancePostStage && (ft?.Epochs ?? 0) == 0 && _tracker!.Steps == 0)
                throw new RecipeException(_recipe.Source, stage.Line,
                    "importance-post needs accumulated gradients: compress a checkpoint that carries them (train with --track-importance, or --model), or give the stage fine-tune epochs");
            var session = CompressionStageFactory.CreateSession(stage, parameters, stepsPerEpoch, importance);
            _sessions.Add(session);
            if (session is LqNetsSession lq)
                foreach (var (node, quantizer) in lq.InputQuantizers) module.SetInputQuantizer(node, quantizer.Forward);
            string method = stage.Method switch { CompressionMethod.LossAware => "loss-aware", CompressionMethod.LqNets => "lq-nets", _ => stage.Method.ToString().ToLowerInvariant() };
            StageStarted?.Invoke(i, method, options.Epochs);
            var result = new ModelTrainer(_model, options, _data, _sessions, _progress, Parallel) { Teacher = ft?.Distill is null ? null : teacher }
                .Run(module: module);
            double accuracy = result.Epochs.Count > 0 ? result.TestAccuracy : Evaluator.Evaluate(module, _data.Test, _data.Normalization).Accuracy;
            reports.Add(new StageReport(i + 1, method, options.Epochs, accuracy, CurrentSparsity(parameters)));
        }
        return reports;
    }

    private GraphModule CopyOf(GraphModule module)
    {
        var copy = new GraphModule(_model.Graph);
        ModelTensors.Restore(copy, ModelTensors.Capture(module), "teacher");
        copy.eval();
        return copy;
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

    /// <summary>The LQ-quantized weights in their stored form, by parameter (after the run).</summary>
    public IReadOnlyDictionary<string, LqQuantizedWeight> LqWeights()
    {
        var result = new Dictionary<string, LqQuantizedWeight>(StringComparer.Ordinal);
        foreach (var s in _sessions.OfType<LqNetsSession>())
            foreach (var w in s.ExportWeights()) result[w.ParameterName] = w;
        return result;
    }

    /// <summary>
    /// <paramref name="graph"/> with the input-activation quantizers of the LQ-Nets stages in it: each quantized node's
    /// <see cref="NodeAttributes.ActivationQuant"/> is the Basis kind with its K basis floats (codes {0, 1}), applying to
    /// the node's input. Without lq-nets stages, the graph itself.
    /// </summary>
    public ModelGraph ExportGraph(ModelGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var quantizers = _sessions.OfType<LqNetsSession>().SelectMany(s => s.InputQuantizers).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        if (quantizers.Count == 0) return graph;
        var nodes = graph.Nodes.Select(n => quantizers.TryGetValue(n.Name, out var q)
            ? n with { Attributes = n.Attributes with { ActivationQuant = new ActivationQuantization(ActivationQuantKind.Basis, q.Bits, false, q.Basis) } }
            : n).ToList();
        return new ModelGraph(graph.Name, graph.InputShape, nodes);
    }

    /// <summary>
    /// Checks a recipe against a model before any work, beyond its layer patterns: every lq-nets stage must select at
    /// least one Linear/Conv2d weight (the first and last stay full precision by default), and every node whose input it
    /// quantizes must get that input from a ReLU (directly or through pooling or flatten), since activation codes are
    /// {0, 1}. Throws <see cref="Compression.Recipes.RecipeException"/> naming the stage.
    /// </summary>
    public static void Validate(ZooModel model, Recipe recipe)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(recipe);
        var shapes = GraphShapes.Parameters(model.Graph).Where(p => !SlimExporter.IsStatistic(p.Name)).ToList();
        var names = shapes.Select(p => p.Name).ToList();
        var rank = shapes.ToDictionary(p => p.Name, p => p.Shape.Length, StringComparer.Ordinal);
        var nodes = model.Graph.Nodes;
        foreach (var stage in recipe.Stages.OfType<LqNetsStage>())
        {
            foreach (var layer in stage.Resolve(names, n => rank[n]))
            {
                if (layer.ActivationBits is null) continue;
                int i = nodes.ToList().FindIndex(n => n.Name == layer.NodeName);
                int source = nodes[i].Inputs[0];
                while (source != ModelGraph.InputIndex && nodes[source].Op is OpKind.MaxPool2d or OpKind.AvgPool2d or OpKind.Flatten or OpKind.GlobalAvgPool)
                    source = nodes[source].Inputs[0];
                if (source == ModelGraph.InputIndex || nodes[source].Op != OpKind.ReLU)
                {
                    string from = source == ModelGraph.InputIndex ? "the network input" : $"'{nodes[source].Name}' ({nodes[source].Op})";
                    throw new RecipeException(stage.Source, stage.Line,
                        $"layer '{layer.NodeName}' gets its input from {from}, which can be negative; LQ-Nets activation codes are {{0, 1}}, " +
                        "so quantize only inputs that come from a ReLU (exclude the layer or give it 'activation-bits: 32' in an override)");
                }
            }
        }
    }

    /// <summary>The run's gradient-importance tracker (null when the recipe has no gradient-importance stage).</summary>
    public GradientImportanceTracker? ImportanceTracker => _tracker;

    /// <summary>The stored fixed-point form of every parameter quantized by an importance-post stage, or frozen whole by an
    /// importance-train stage (later stages win).</summary>
    public IReadOnlyDictionary<string, Format.SlimTensor> FixedPointTensors()
    {
        var result = new Dictionary<string, Format.SlimTensor>(StringComparer.Ordinal);
        foreach (var s in _sessions)
        {
            if (s is ImportanceFreezer f)
                foreach (var name in f.Names)
                {
                    if (f.StoredTensor(name) is { } t) result[name] = t;
                }
            else if (s is PostTrainingQuantizer q)
                foreach (var (name, t) in q.StoredTensors) result[name] = t;
        }
        return result;
    }

    /// <summary>Parameters an importance-train stage froze elements of (zeros there are pruned weights, stored sparsely).</summary>
    public IReadOnlyCollection<string> FrozenParameters() =>
        _sessions.OfType<ImportanceFreezer>().SelectMany(f => f.Names).Distinct(StringComparer.Ordinal).ToList();

    private Dictionary<string, double> CurrentSparsity(IReadOnlyDictionary<string, TorchSharp.Modules.Parameter> parameters)
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var name in FrozenParameters().Concat(_sessions.OfType<PostTrainingQuantizer>().SelectMany(q => q.Names)))
        {
            var p = parameters[name];
            using TorchSharp.Scalar zero = 0; // held alive across the native call (see AdamOptimizer)
            using var eqZero = p.detach().eq(zero);
            using var zeros = eqZero.sum();
            result[name] = (double)zeros.item<long>() / Math.Max(1, p.numel());
        }
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
