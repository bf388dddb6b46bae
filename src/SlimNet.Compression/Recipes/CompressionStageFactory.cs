using SlimNet.Compression.Hooks;
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
    /// <summary>The session for <paramref name="stage"/>: a <see cref="Pruner"/> or a <see cref="WeightSharing"/> (both <see cref="IDisposable"/>).</summary>
    /// <param name="stage">The stage definition.</param>
    /// <param name="parameters">The model's parameters by name (model order).</param>
    /// <param name="stepsPerEpoch">Optimizer steps per fine-tuning epoch (schedules are in epochs in the recipe).</param>
    public static ITrainingHooks CreateSession(RecipeStage stage, IReadOnlyDictionary<string, Parameter> parameters, long stepsPerEpoch) => stage switch
    {
        PruneStage prune => CreatePruner(prune, parameters, stepsPerEpoch),
        KMeansStage kmeans => CreateWeightSharing(kmeans, parameters),
        LossAwareStage lossAware => CreateLossAwareQuantizer(lossAware, parameters, stepsPerEpoch),
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
        var selected = stage.Layers.Select(parameters.Keys.ToList(), stage.Source);
        var schedule = stage.Sparsity is double s ? stage.Schedule.ToSparsitySchedule(s, stepsPerEpoch) : null;
        return new Quantization.LossAwareQuantizer(parameters,
            selected.Select(name => new Quantization.QuantizedLayer(name, stage.Quantizer, stage.Bits, stage.PerChannel, schedule)));
    }

    /// <summary>The weight-sharing session for a kmeans stage (clusters at training start, or call <see cref="WeightSharing.Cluster"/>).</summary>
    public static WeightSharing CreateWeightSharing(KMeansStage stage, IReadOnlyDictionary<string, Parameter> parameters) =>
        new(parameters, stage.ResolveBits(parameters.Keys.ToList()), stage.MaxIterations, stage.Update, stage.FineTune?.LearningRate ?? 0.0);
}
