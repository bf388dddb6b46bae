using SlimNet.Compression.Pruning;
using SlimNet.Compression.Schedules;
using SlimNet.Compression.Sharing;

namespace SlimNet.Compression.Recipes;

/// <summary>The compression method of a recipe stage (YAML <c>method</c>).</summary>
public enum CompressionMethod
{
    /// <summary><c>prune</c>: unstructured pruning with a schedule.</summary>
    Prune,
    /// <summary><c>kmeans</c>: Deep Compression weight sharing.</summary>
    KMeans,
    /// <summary><c>loss-aware</c>: quantized training with shadow weights (LAB, LAT, LAQ and the straight-through baselines), optionally sparsified.</summary>
    LossAware,
    /// <summary><c>importance-train</c>: in-training gradient-importance quantization (freeze the least important share after each epoch).</summary>
    ImportanceTrain,
    /// <summary><c>importance-post</c>: post-training gradient-importance quantization (cluster A, a bit width per cluster).</summary>
    ImportancePost,
    /// <summary><c>lq-nets</c>: learned weight and activation quantizers (LQ-Nets).</summary>
    LqNets,
}

/// <summary>Optimizer of a stage's fine-tuning (YAML <c>fine-tune.optimizer</c>).</summary>
public enum OptimizerKind
{
    /// <summary>SGD with optional momentum.</summary>
    Sgd,
    /// <summary>Adam.</summary>
    Adam,
}

/// <summary>How a stage trains while (and after) it compresses.</summary>
/// <param name="Epochs">Epochs of fine-tuning (0 = none).</param>
/// <param name="Optimizer">sgd or adam.</param>
/// <param name="LearningRate">Learning rate (&gt; 0).</param>
/// <param name="BatchSize">Minibatch size (≥ 1).</param>
/// <param name="Momentum">SGD momentum in [0, 1) (0 for adam).</param>
/// <param name="WeightDecay">L2 weight decay (≥ 0).</param>
/// <param name="Line">1-based recipe line of the block.</param>
/// <param name="Schedule">Learning-rate schedule over the stage's epochs: <c>constant</c> or <c>cosine</c>.</param>
/// <param name="Distill">Knowledge distillation from the model as it entered the pipeline (null: none).</param>
public sealed record FineTuning(int Epochs, OptimizerKind Optimizer, double LearningRate, int BatchSize, double Momentum, double WeightDecay, long Line,
    string Schedule = "constant", Distillation? Distill = null)
{
    /// <summary>Optimizer steps per epoch for <paramref name="trainingExamples"/> examples (last partial batch counted).</summary>
    public long StepsPerEpoch(long trainingExamples) => Math.Max(1, (trainingExamples + BatchSize - 1) / BatchSize);
}

/// <summary>
/// Knowledge distillation during a stage's fine-tuning: the teacher is the model as it entered the pipeline (before any
/// stage changed it); the loss is (1 − <paramref name="Weight"/>)·CE(student, labels) +
/// <paramref name="Weight"/>·T²·KL(softmax(teacher/T) ‖ softmax(student/T)), T = <paramref name="Temperature"/>.
/// </summary>
public sealed record Distillation(double Temperature, double Weight);

/// <summary>Which parameters a stage acts on: those selected by an include pattern and by no exclude pattern;
/// parameters named <c>*.bias</c> only when <paramref name="Biases"/> is true.</summary>
/// <param name="Include">Include globs (at least one).</param>
/// <param name="Exclude">Exclude globs.</param>
/// <param name="Biases">Whether bias parameters may be selected.</param>
/// <param name="Line">1-based recipe line of the block.</param>
public sealed record LayerSelection(IReadOnlyList<LayerPattern> Include, IReadOnlyList<LayerPattern> Exclude, bool Biases, long Line)
{
    /// <summary>The selected names among <paramref name="parameterNames"/>, in their given order; throws when a pattern matches nothing.</summary>
    public IReadOnlyList<string> Select(IReadOnlyList<string> parameterNames, string source)
    {
        foreach (var pattern in Include.Concat(Exclude))
            if (!parameterNames.Any(pattern.Matches))
                throw new RecipeException(source, pattern.Line, $"pattern '{pattern.Glob}' matches no layer (parameters: {string.Join(", ", parameterNames)})");
        var selected = parameterNames
            .Where(n => Include.Any(p => p.Matches(n)) && !Exclude.Any(p => p.Matches(n)))
            .Where(n => Biases || !IsBias(n))
            .ToList();
        if (selected.Count == 0)
            throw new RecipeException(source, Line, "the layer selection leaves no parameter (biases are skipped unless 'biases: true')");
        return selected;
    }

    private static bool IsBias(string name) => name == "bias" || name.EndsWith(".bias", StringComparison.Ordinal);
}

/// <summary>Kind of pruning schedule (YAML <c>schedule.kind</c>).</summary>
public enum ScheduleKind
{
    /// <summary><c>one-shot</c>: prune once at <c>start</c>.</summary>
    OneShot,
    /// <summary><c>iterative</c>: prune a fraction of what remains every <c>every</c> epochs.</summary>
    Iterative,
    /// <summary><c>agp</c>: Zhu &amp; Gupta's cubic ramp from <c>start</c> to <c>end</c>.</summary>
    Agp,
    /// <summary><c>dat</c>: dynamic adaptive threshold driven by the epoch loss.</summary>
    Dat,
}

/// <summary>A pruning schedule as written in a recipe; times in epochs (fractions allowed), converted to steps by the factory.</summary>
/// <param name="Kind">Schedule kind.</param>
/// <param name="StartEpoch">First pruning (epochs from the stage start).</param>
/// <param name="EveryEpochs">Interval between pruning events (iterative, agp).</param>
/// <param name="EndEpoch">Last AGP update (agp only).</param>
/// <param name="Fraction">Fraction of remaining weights pruned per event (iterative, sparsity mode).</param>
/// <param name="Iterations">Number of events (iterative).</param>
/// <param name="InitialSparsity">AGP's s_i.</param>
/// <param name="RampEpochs">DAT: epochs to reach the full threshold.</param>
/// <param name="Tolerance">DAT: relative loss rise tolerated.</param>
/// <param name="Backoff">DAT: growth increments taken back when the loss rises.</param>
/// <param name="Line">1-based recipe line.</param>
public sealed record ScheduleDefinition(ScheduleKind Kind, double StartEpoch, double EveryEpochs, double? EndEpoch, double? Fraction,
    int? Iterations, double InitialSparsity, double RampEpochs, double Tolerance, double Backoff, long Line)
{
    /// <summary>One-shot pruning at the start of the stage.</summary>
    public static ScheduleDefinition OneShotAtStart(long line) => new(ScheduleKind.OneShot, 0, 1, null, null, null, 0, 1, 0.01, 1, line);

    private static long Steps(double epochs, long stepsPerEpoch) => (long)Math.Round(epochs * stepsPerEpoch, MidpointRounding.AwayFromZero);

    /// <summary>The sparsity schedule (steps) that reaches <paramref name="finalSparsity"/>.</summary>
    public ISparsitySchedule ToSparsitySchedule(double finalSparsity, long stepsPerEpoch)
    {
        long start = Steps(StartEpoch, stepsPerEpoch);
        long every = Math.Max(1, Steps(EveryEpochs, stepsPerEpoch));
        return Kind switch
        {
            ScheduleKind.OneShot => new OneShotSchedule(finalSparsity, start),
            ScheduleKind.Iterative when Fraction is double f => new IterativeSchedule(finalSparsity, f, start, every),
            ScheduleKind.Iterative => IterativeSchedule.InIterations(finalSparsity, Iterations ?? 1, start, every),
            ScheduleKind.Agp => new AgpSchedule(InitialSparsity, finalSparsity, start, AgpUpdates, every),
            _ => throw new InvalidOperationException($"schedule '{Kind}' does not produce a target sparsity"),
        };
    }

    /// <summary>AGP's n: updates between start and end.</summary>
    public long AgpUpdates => Math.Max(1, (long)Math.Round(((EndEpoch ?? StartEpoch) - StartEpoch) / EveryEpochs, MidpointRounding.AwayFromZero));

    /// <summary>The threshold schedule (steps) for quality factor <paramref name="q"/>; <paramref name="dat"/> is the stage's shared DAT session for kind dat.</summary>
    public IThresholdSchedule ToThresholdSchedule(double q, long stepsPerEpoch, DynamicAdaptiveThreshold? dat)
    {
        long start = Steps(StartEpoch, stepsPerEpoch);
        long every = Math.Max(1, Steps(EveryEpochs, stepsPerEpoch));
        return Kind switch
        {
            ScheduleKind.OneShot => new StdThresholdSchedule(q, start, every, 1),
            ScheduleKind.Iterative => new StdThresholdSchedule(q, start, every, Iterations ?? 1),
            ScheduleKind.Dat => (dat ?? throw new ArgumentNullException(nameof(dat))).ForLayer(q),
            _ => throw new InvalidOperationException($"schedule '{Kind}' does not work with a q threshold"),
        };
    }

    /// <summary>Epoch (from the stage start) of the last pruning event for a layer pruned to <paramref name="sparsity"/> (null in q mode).</summary>
    public double LastEventEpoch(double? sparsity) => Kind switch
    {
        ScheduleKind.OneShot => StartEpoch,
        ScheduleKind.Agp => EndEpoch ?? StartEpoch,
        ScheduleKind.Iterative when Fraction is double f && sparsity is double s =>
            StartEpoch + EveryEpochs * Math.Max(0, Math.Ceiling(Math.Log(1 - s) / Math.Log(1 - f) - 1e-9) - 1),
        ScheduleKind.Iterative => StartEpoch + EveryEpochs * ((Iterations ?? 1) - 1),
        _ => 1,
    };
}

/// <summary>A per-layer override of a prune stage (exactly the mode of the stage: sparsity or q).</summary>
/// <param name="Layer">Which parameters it applies to.</param>
/// <param name="Sparsity">Target sparsity for them.</param>
/// <param name="Q">Threshold factor for them.</param>
/// <param name="Line">1-based recipe line.</param>
public sealed record PruneOverride(LayerPattern Layer, double? Sparsity, double? Q, long Line);

/// <summary>A per-layer override of a kmeans stage.</summary>
/// <param name="Layer">Which parameters it applies to.</param>
/// <param name="Bits">Code width for them.</param>
/// <param name="Line">1-based recipe line.</param>
public sealed record KMeansOverride(LayerPattern Layer, int Bits, long Line);

/// <summary>One step of a recipe: a method, the layers it acts on, and its fine-tuning.</summary>
/// <param name="Source">Recipe file, for error messages.</param>
/// <param name="Line">1-based line where the stage starts.</param>
/// <param name="Layers">Selected parameters.</param>
/// <param name="FineTune">Training during/after the stage, or null for none.</param>
public abstract record RecipeStage(string Source, long Line, LayerSelection Layers, FineTuning? FineTune)
{
    /// <summary>The stage's method.</summary>
    public abstract CompressionMethod Method { get; }

    /// <summary>Checks every pattern of the stage against the model's parameter names (throws <see cref="RecipeException"/>).</summary>
    public abstract void ValidateAgainst(IReadOnlyList<string> parameterNames);

    /// <summary>Resolves overrides: for each selected parameter, the last override whose pattern selects it, or null.</summary>
    protected IReadOnlyDictionary<string, TOverride?> ResolveOverrides<TOverride>(IReadOnlyList<string> parameterNames,
        IReadOnlyList<TOverride> overrides, Func<TOverride, LayerPattern> patternOf) where TOverride : class
    {
        var selected = Layers.Select(parameterNames, Source);
        foreach (var o in overrides)
        {
            var pattern = patternOf(o);
            if (!parameterNames.Any(pattern.Matches))
                throw new RecipeException(Source, pattern.Line, $"pattern '{pattern.Glob}' matches no layer (parameters: {string.Join(", ", parameterNames)})");
            if (!selected.Any(pattern.Matches))
                throw new RecipeException(Source, pattern.Line, $"override pattern '{pattern.Glob}' matches no layer selected by this stage ({string.Join(", ", selected)})");
        }
        var result = new Dictionary<string, TOverride?>(StringComparer.Ordinal);
        foreach (var name in selected) result[name] = overrides.LastOrDefault(o => patternOf(o).Matches(name));
        return result;
    }
}

/// <summary>A <c>prune</c> stage: either a target <paramref name="Sparsity"/> (ranked by importance) or a Deep Compression threshold <paramref name="Q"/>.</summary>
/// <param name="Source">Recipe file.</param>
/// <param name="Line">1-based line.</param>
/// <param name="Layers">Selected parameters.</param>
/// <param name="FineTune">Fine-tuning during pruning.</param>
/// <param name="Sparsity">Default target sparsity in [0, 1), or null in q mode.</param>
/// <param name="Q">Default threshold factor (&gt; 0), or null in sparsity mode.</param>
/// <param name="Schedule">When to prune.</param>
/// <param name="Scope">Per-layer or global ranking.</param>
/// <param name="Importance">Magnitude or Taylor.</param>
/// <param name="Overrides">Per-layer overrides (they beat the defaults; the last matching one wins).</param>
public sealed record PruneStage(string Source, long Line, LayerSelection Layers, FineTuning? FineTune, double? Sparsity, double? Q,
    ScheduleDefinition Schedule, PruningScope Scope, PruningImportance Importance, IReadOnlyList<PruneOverride> Overrides)
    : RecipeStage(Source, Line, Layers, FineTune)
{
    /// <inheritdoc />
    public override CompressionMethod Method => CompressionMethod.Prune;

    /// <inheritdoc />
    public override void ValidateAgainst(IReadOnlyList<string> parameterNames) => Resolve(parameterNames);

    /// <summary>Per selected parameter: its target sparsity or q after overrides.</summary>
    public IReadOnlyList<(string Parameter, double? Sparsity, double? Q)> Resolve(IReadOnlyList<string> parameterNames) =>
        ResolveOverrides(parameterNames, Overrides, o => o.Layer)
            .Select(kv => (kv.Key, kv.Value?.Sparsity ?? Sparsity, kv.Value?.Q ?? Q)).ToList();
}

/// <summary>A <c>kmeans</c> stage: Deep Compression weight sharing with <paramref name="Bits"/>-bit codes.</summary>
/// <param name="Source">Recipe file.</param>
/// <param name="Line">1-based line.</param>
/// <param name="Layers">Selected parameters.</param>
/// <param name="FineTune">Centroid fine-tuning, or null for none.</param>
/// <param name="Bits">Default code width in [1, 16].</param>
/// <param name="MaxIterations">Lloyd iteration cap.</param>
/// <param name="Update">Centroid learning rule.</param>
/// <param name="Overrides">Per-layer bit widths (the last matching one wins).</param>
public sealed record KMeansStage(string Source, long Line, LayerSelection Layers, FineTuning? FineTune, int Bits, int MaxIterations,
    CentroidUpdate Update, IReadOnlyList<KMeansOverride> Overrides) : RecipeStage(Source, Line, Layers, FineTune)
{
    /// <inheritdoc />
    public override CompressionMethod Method => CompressionMethod.KMeans;

    /// <inheritdoc />
    public override void ValidateAgainst(IReadOnlyList<string> parameterNames) => ResolveBits(parameterNames);

    /// <summary>Code width per selected parameter after overrides.</summary>
    public IReadOnlyDictionary<string, int> ResolveBits(IReadOnlyList<string> parameterNames) =>
        ResolveOverrides(parameterNames, Overrides, o => o.Layer).ToDictionary(kv => kv.Key, kv => kv.Value?.Bits ?? Bits, StringComparer.Ordinal);
}

/// <summary>
/// A <c>loss-aware</c> stage: the selected parameters are trained quantized with <paramref name="Quantizer"/> (shadow weights
/// clipped to [−1, 1], docs/METHODS.md), optionally with simultaneous sparsification to <paramref name="Sparsity"/>.
/// </summary>
/// <param name="Source">Recipe file.</param>
/// <param name="Line">1-based line.</param>
/// <param name="Layers">Selected parameters.</param>
/// <param name="FineTune">The quantized training (Adam for the loss-aware quantizers), or null for a one-off projection.</param>
/// <param name="Quantizer">The projection.</param>
/// <param name="Bits">m of the m-bit quantizers (LAQ, uniform); 2 otherwise (unused).</param>
/// <param name="PerChannel">One scale per output channel instead of one per layer.</param>
/// <param name="Sparsity">Target fraction of weights forced to exactly 0, or null.</param>
/// <param name="Schedule">When the sparsity target is reached (one-shot, iterative or agp).</param>
/// <param name="Overrides">Per-layer sparsity targets (the last matching one wins).</param>
/// <param name="FixZerosAfterRamp">Recipe <c>zeros: fixed-after-ramp</c>: once the schedule reaches its final target the
/// forced zeros chosen then are kept for the rest of the stage (default <c>every-step</c>).</param>
public sealed record LossAwareStage(string Source, long Line, LayerSelection Layers, FineTuning? FineTune, Quantization.WeightProjection Quantizer,
    int Bits, bool PerChannel, double? Sparsity, ScheduleDefinition Schedule, IReadOnlyList<PruneOverride> Overrides, bool FixZerosAfterRamp = false)
    : RecipeStage(Source, Line, Layers, FineTune)
{
    /// <inheritdoc />
    public override CompressionMethod Method => CompressionMethod.LossAware;

    /// <inheritdoc />
    public override void ValidateAgainst(IReadOnlyList<string> parameterNames) => ResolveSparsity(parameterNames);

    /// <summary>Per selected parameter: its target sparsity after overrides (null: not sparsified).</summary>
    public IReadOnlyList<(string Parameter, double? Sparsity)> ResolveSparsity(IReadOnlyList<string> parameterNames) =>
        ResolveOverrides(parameterNames, Overrides, o => o.Layer).Select(kv => (kv.Key, kv.Value?.Sparsity ?? Sparsity)).ToList();
}

/// <summary>
/// An <c>importance-train</c> stage: after each fine-tuning epoch e the share <c>SplitAt(e)</c> of the still-free selected
/// elements with the lowest accumulated |gradient| is quantized to <paramref name="Bits"/> and frozen (Gaopande's
/// in-training mode).
/// </summary>
/// <param name="Source">Recipe file.</param>
/// <param name="Line">1-based line.</param>
/// <param name="Layers">Selected parameters (ranked together).</param>
/// <param name="FineTune">Training during which the freezing happens (required, epochs ≥ 1).</param>
/// <param name="Split">Split fraction per epoch: one value for every epoch, or a list (epoch e uses entry e; none after the list).</param>
/// <param name="SplitRepeats">True when <paramref name="Split"/> was a single number (it applies to every epoch).</param>
/// <param name="Bits">Width of the frozen group, 0..16 (0 = pruned).</param>
/// <param name="Normalize">Rank each parameter's importance relative to its mean (<c>normalize: parameter-mean</c>) instead of raw.</param>
public sealed record ImportanceTrainStage(string Source, long Line, LayerSelection Layers, FineTuning? FineTune, IReadOnlyList<double> Split,
    bool SplitRepeats, int Bits, bool Normalize = false) : RecipeStage(Source, Line, Layers, FineTune)
{
    /// <inheritdoc />
    public override CompressionMethod Method => CompressionMethod.ImportanceTrain;

    /// <inheritdoc />
    public override void ValidateAgainst(IReadOnlyList<string> parameterNames) => Layers.Select(parameterNames, Source);

    /// <summary>The share of free elements frozen at the end of zero-based epoch <paramref name="epoch"/>.</summary>
    public double SplitAt(int epoch) => SplitRepeats ? Split[0] : epoch >= 0 && epoch < Split.Count ? Split[epoch] : 0;
}

/// <summary>
/// An <c>importance-post</c> stage: at the end of its (optional) fine-tuning, the accumulated importances of all still-free
/// selected elements are clustered and cluster j is quantized to <c>Bits[j]</c> (least important first; 0 = pruned).
/// </summary>
/// <param name="Source">Recipe file.</param>
/// <param name="Line">1-based line.</param>
/// <param name="Layers">Selected parameters (clustered together).</param>
/// <param name="FineTune">Training before the quantization (importance keeps accumulating), or null.</param>
/// <param name="Bits">Width per cluster, non-decreasing, each 0..16.</param>
/// <param name="Clustering">kmeans-log or quantile.</param>
/// <param name="Fractions">Quantile fractions (same count as bits, summing to 1), or null for k-means.</param>
/// <param name="MaxIterations">k-means Lloyd iteration cap.</param>
/// <param name="Normalize">Cluster each parameter's importance relative to its mean (<c>normalize: parameter-mean</c>) instead of raw.</param>
public sealed record ImportancePostStage(string Source, long Line, LayerSelection Layers, FineTuning? FineTune, IReadOnlyList<int> Bits,
    Importance.ImportanceClusteringKind Clustering, IReadOnlyList<double>? Fractions, int MaxIterations, bool Normalize = false) : RecipeStage(Source, Line, Layers, FineTune)
{
    /// <inheritdoc />
    public override CompressionMethod Method => CompressionMethod.ImportancePost;

    /// <inheritdoc />
    public override void ValidateAgainst(IReadOnlyList<string> parameterNames) => Layers.Select(parameterNames, Source);
}

/// <summary>A per-layer override of an lq-nets stage (null: the stage's value).</summary>
/// <param name="Layer">Which parameters it applies to.</param>
/// <param name="WeightBits">Weight basis size K (1..4) or 32 (full precision).</param>
/// <param name="ActivationBits">Input-activation basis size K (1..4) or 32 (full precision).</param>
/// <param name="Line">1-based recipe line.</param>
public sealed record LqNetsOverride(LayerPattern Layer, int? WeightBits, int? ActivationBits, long Line);

/// <summary>
/// An <c>lq-nets</c> stage: learned quantizers for the selected Linear/Conv2d weights (K-bit basis per output channel)
/// and for their inputs (K-bit basis per layer), trained during the stage's fine-tuning. Bit widths of 32 mean full
/// precision. Unless <paramref name="QuantizeFirstLast"/>, the model's first and last weight layers stay full precision.
/// </summary>
/// <param name="Source">Recipe file.</param>
/// <param name="Line">1-based line.</param>
/// <param name="Layers">Selected parameters (only weights of rank ≥ 2 are quantized).</param>
/// <param name="FineTune">Training with the quantizers.</param>
/// <param name="WeightBits">Default weight basis size (1..4, or 32).</param>
/// <param name="ActivationBits">Default input-activation basis size (1..4, or 32).</param>
/// <param name="QuantizeFirstLast">Whether the first and last weight layers may be quantized too.</param>
/// <param name="Overrides">Per-layer bit widths (the last matching one wins).</param>
public sealed record LqNetsStage(string Source, long Line, LayerSelection Layers, FineTuning? FineTune, int WeightBits, int ActivationBits,
    bool QuantizeFirstLast, IReadOnlyList<LqNetsOverride> Overrides) : RecipeStage(Source, Line, Layers, FineTune)
{
    /// <summary>The bit width that means "full precision" in a recipe.</summary>
    public const int FullPrecision = 32;

    /// <inheritdoc />
    public override CompressionMethod Method => CompressionMethod.LqNets;

    /// <inheritdoc />
    public override void ValidateAgainst(IReadOnlyList<string> parameterNames) => ResolveOverrides(parameterNames, Overrides, o => o.Layer);

    /// <summary>
    /// The layers this stage quantizes, in model order: the selected parameters of rank ≥ 2 (<paramref name="rankOf"/>),
    /// without the model's first and last such parameter unless <see cref="QuantizeFirstLast"/>, with their bit widths
    /// after overrides (32 → null, full precision); layers left fully full precision are dropped. Throws
    /// <see cref="RecipeException"/> when nothing is left to quantize.
    /// </summary>
    /// <param name="parameterNames">All parameter names of the model, in model order.</param>
    /// <param name="rankOf">The rank of a parameter.</param>
    public IReadOnlyList<LqNets.LqLayer> Resolve(IReadOnlyList<string> parameterNames, Func<string, int> rankOf)
    {
        var resolved = ResolveOverrides(parameterNames, Overrides, o => o.Layer);
        var matrices = parameterNames.Where(n => rankOf(n) >= 2).ToList();
        var firstLast = QuantizeFirstLast || matrices.Count == 0 ? new HashSet<string>() : new HashSet<string> { matrices[0], matrices[^1] };
        var layers = new List<LqNets.LqLayer>();
        foreach (var name in parameterNames)
        {
            if (!resolved.TryGetValue(name, out var o) || rankOf(name) < 2 || firstLast.Contains(name)) continue;
            int w = o?.WeightBits ?? WeightBits, a = o?.ActivationBits ?? ActivationBits;
            if (w == FullPrecision && a == FullPrecision) continue;
            layers.Add(new LqNets.LqLayer(name, w == FullPrecision ? null : w, a == FullPrecision ? null : a));
        }
        if (layers.Count == 0 && !(WeightBits == FullPrecision && ActivationBits == FullPrecision))
            throw new RecipeException(Source, Line, "the lq-nets stage selects no Linear or Conv2d weight to quantize" +
                (QuantizeFirstLast ? "" : $" (the first and last weight layers, {string.Join(" and ", firstLast)}, stay full precision unless 'quantize-first-last: true')"));
        return layers;
    }
}

/// <summary>An immutable compression recipe: stages run in order, each with its own fine-tuning (docs/RECIPES.md).</summary>
/// <param name="Source">File it was loaded from (as given), for messages.</param>
/// <param name="Name">Optional name.</param>
/// <param name="Description">Optional description.</param>
/// <param name="Stages">At least one stage.</param>
public sealed record Recipe(string Source, string? Name, string? Description, IReadOnlyList<RecipeStage> Stages)
{
    /// <summary>Checks every layer pattern of every stage against the model's parameter names; throws <see cref="RecipeException"/> on the first problem.</summary>
    public void ValidateAgainst(IEnumerable<string> parameterNames)
    {
        var names = parameterNames.ToList();
        foreach (var stage in Stages) stage.ValidateAgainst(names);
    }
}
