using SlimNet.Compression.Hooks;
using SlimNet.Compression.Importance;
using SlimNet.Compression.LqNets;
using SlimNet.Compression.Pruning;
using SlimNet.Compression.Schedules;
using SlimNet.Compression.Sharing;
using TorchSharp.Modules;

namespace SlimNet.Compression.Recipes;

/// <summary>
/// Turns a recipe stage (definition) and the model's parameters into the hook session that carries it out during the
/// stage's fine-tuning. The caller registers the session with the trainer, runs the stage's <see cref="FineTuning"/>
/// (calling at least <c>OnTrainingStart</c> and <c>OnTrainingEnd</c> even for 0 epochs), reads the results
/// (<see cref="Pruner.Masks"/>, <see cref="WeightSharing.ExportAll"/>) and disposes the session.
/// Sessions of earlier stages may stay registered in later stages so that their constraints keep holding.
/// </summary>
public static class CompressionStageFactory
{
    /// <summary>The session for <paramref name="stage"/>: a <see cref="Pruner"/>, a <see cref="WeightSharing"/>, a
    /// <see cref="Quantization.LossAwareQuantizer"/> or an <see cref="LqNetsSession"/> (all <see cref="IDisposable"/>).</summary>
    /// <param name="stage">The stage definition.</param>
    /// <param name="parameters">The model's parameters by name (model order).</param>
    /// <param name="stepsPerEpoch">Optimizer steps per fine-tuning epoch (schedules are in epochs in the recipe).</param>
    /// <param name="importance">The run's importance tracker and earlier sessions (needed by the gradient-importance stages).</param>
    public static ITrainingHooks CreateSession(RecipeStage stage, IReadOnlyDictionary<string, Parameter> parameters, long stepsPerEpoch,
        ImportanceRun? importance = null) => stage switch
    {
        PruneStage prune => CreatePruner(prune, parameters, stepsPerEpoch),
        KMeansStage kmeans => CreateWeightSharing(kmeans, parameters),
        LossAwareStage lossAware => CreateLossAwareQuantizer(lossAware, parameters, stepsPerEpoch),
        ImportanceTrainStage train => CreateFreezer(train, parameters, importance ?? throw new ArgumentNullException(nameof(importance), "importance-train needs the run's importance tracker")),
        ImportancePostStage post => CreatePostQuantizer(post, parameters, importance ?? throw new ArgumentNullException(nameof(importance), "importance-post needs the run's importance tracker")),
        LqNetsStage lq => CreateLqNets(lq, parameters),
        _ => throw new ArgumentException($"no session for method {stage.Method}", nameof(stage)),
    };

    /// <summary>The pruner for a prune stage; throws <see cref="RecipeException"/> when a pattern matches no parameter.</summary>
    public static Pruner CreatePruner(PruneStage stage, IReadOnlyDictionary<string, Parameter> parameters, long stepsPerEpoch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stepsPerEpoch, 1);
        var resolved = stage.Resolve(parameters.Keys.ToList());
        if (stage.Scope == PruningScope.Global)
            return Pruner.Global(parameters, resolved.Select(r => r.Parameter).ToList(),
                stage.Schedule.ToSparsitySchedule(stage.Sparsity!.Value, stepsPerEpoch), stage.Importance);
        var dat = stage.Schedule.Kind == ScheduleKind.Dat
            ? new DynamicAdaptiveThreshold(stage.Schedule.RampEpochs, stage.Schedule.Tolerance, stage.Schedule.Backoff)
            : null;
        var layers = resolved.Select(r => r.Sparsity is double s
            ? new PrunedLayer(r.Parameter, Sparsity: stage.Schedule.ToSparsitySchedule(s, stepsPerEpoch))
            : new PrunedLayer(r.Parameter, Threshold: stage.Schedule.ToThresholdSchedule(r.Q!.Value, stepsPerEpoch, dat))).ToList();
        return Pruner.PerLayer(parameters, layers, stage.Importance);
    }

    /// <summary>The quantized-training session for a loss-aware stage (its sparsity schedule converted to steps).</summary>
    public static Quantization.LossAwareQuantizer CreateLossAwareQuantizer(LossAwareStage stage, IReadOnlyDictionary<string, Parameter> parameters, long stepsPerEpoch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stepsPerEpoch, 1);
        var resolved = stage.ResolveSparsity(parameters.Keys.ToList());
        return new Quantization.LossAwareQuantizer(parameters, resolved.Select(r => new Quantization.QuantizedLayer(r.Parameter, stage.Quantizer,
            stage.Bits, stage.PerChannel, r.Sparsity is double s ? stage.Schedule.ToSparsitySchedule(s, stepsPerEpoch) : null, stage.FixZerosAfterRamp)));
    }

    /// <summary>The in-training freezer of an importance-train stage (checkpoint key <c>stage{N}.freezer</c>).</summary>
    public static ImportanceFreezer CreateFreezer(ImportanceTrainStage stage, IReadOnlyDictionary<string, Parameter> parameters, ImportanceRun importance)
    {
        ArgumentNullException.ThrowIfNull(importance);
        var names = stage.Layers.Select(parameters.Keys.ToList(), stage.Source);
        return new ImportanceFreezer(importance.Tracker, parameters, stage.SplitAt, stage.Bits, names) { StateKey = $"stage{importance.StageNumber}.freezer", RelativePerParameter = stage.Normalize };
    }

    /// <summary>The post-training quantizer of an importance-post stage; elements frozen by earlier importance-train stages keep their width.</summary>
    public static PostTrainingQuantizer CreatePostQuantizer(ImportancePostStage stage, IReadOnlyDictionary<string, Parameter> parameters, ImportanceRun importance)
    {
        ArgumentNullException.ThrowIfNull(importance);
        var names = stage.Layers.Select(parameters.Keys.ToList(), stage.Source);
        return new PostTrainingQuantizer(importance.Tracker, parameters, names, stage.Bits, stage.Clustering, stage.Fractions,
            importance.EarlierSessions.OfType<ImportanceFreezer>().ToList(), stage.MaxIterations) { RelativePerParameter = stage.Normalize };
    }

    /// <summary>The weight-sharing session for a kmeans stage (clusters at training start, or call <see cref="WeightSharing.Cluster"/>).</summary>
    public static WeightSharing CreateWeightSharing(KMeansStage stage, IReadOnlyDictionary<string, Parameter> parameters) =>
        new(parameters, stage.ResolveBits(parameters.Keys.ToList()), stage.MaxIterations, stage.Update, stage.FineTune?.LearningRate ?? 0.0);

    /// <summary>
    /// The LQ-Nets session for an lq-nets stage (see <see cref="LqNetsStage.Resolve"/>). Its
    /// <see cref="LqNetsSession.InputQuantizers"/> must be applied to the inputs of their nodes by the network.
    /// </summary>
    public static LqNetsSession CreateLqNets(LqNetsStage stage, IReadOnlyDictionary<string, Parameter> parameters) =>
        new(parameters, stage.Resolve(parameters.Keys.ToList(), n => (int)parameters[n].dim()));
}

/// <summary>What the gradient-importance stages of a run share: one tracker over all parameters (registered before every
/// other session, so it sees raw gradients) and the sessions of earlier stages.</summary>
/// <param name="Tracker">Accumulates |∂L/∂w| over every step of every stage (and may be seeded from the baseline training).</param>
/// <param name="EarlierSessions">Sessions of the stages before this one, in order.</param>
/// <param name="StageNumber">1-based number of the stage being created (names its checkpoint state).</param>
public sealed record ImportanceRun(GradientImportanceTracker Tracker, IReadOnlyList<ITrainingHooks> EarlierSessions, int StageNumber);
