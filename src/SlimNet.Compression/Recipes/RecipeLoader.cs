using System.Globalization;
using System.Text.RegularExpressions;
using SlimNet.Compression.Pruning;
using SlimNet.Compression.Sharing;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace SlimNet.Compression.Recipes;

/// <summary>
/// Reads and fully validates a YAML recipe (schema: docs/RECIPES.md) before any work starts. Every problem is a
/// <see cref="RecipeException"/> naming the file and line: malformed YAML, an empty stage list, an unknown method or
/// key, a value of the wrong type or out of range, a missing required key, or contradicting settings.
/// Matching layer patterns against a model is a separate step, <see cref="Recipe.ValidateAgainst"/>.
/// </summary>
public static class RecipeLoader
{
    private static readonly string[] RootKeys = ["name", "description", "stages"];
    private static readonly string[] CommonStageKeys = ["method", "layers", "fine-tune", "overrides"];
    private static readonly string[] PruneKeys = ["sparsity", "q", "schedule", "scope", "importance"];
    private static readonly string[] KMeansKeys = ["bits", "max-iterations", "centroid-update"];
    private static readonly string[] LossAwareKeys = ["quantizer", "bits", "scales", "sparsity", "schedule", "zeros"];

    /// <summary>Recipe names of the loss-aware stage's quantizers.</summary>
    public static readonly IReadOnlyList<(string Name, Quantization.WeightProjection Projection)> Quantizers =
    [
        ("lab", Quantization.WeightProjection.Lab), ("late", Quantization.WeightProjection.LatExact),
        ("lata", Quantization.WeightProjection.LatApprox), ("lat2e", Quantization.WeightProjection.Lat2Exact),
        ("lat2a", Quantization.WeightProjection.Lat2Approx), ("laq-linear", Quantization.WeightProjection.LaqLinear),
        ("laq-log", Quantization.WeightProjection.LaqLog), ("binaryconnect", Quantization.WeightProjection.BinaryConnect),
        ("bwn", Quantization.WeightProjection.Bwn), ("twn", Quantization.WeightProjection.Twn),
        ("ste-uniform", Quantization.WeightProjection.Uniform),
    ];
    private static readonly string[] ImportanceTrainKeys = ["split", "bits", "normalize"];
    private static readonly string[] ImportancePostKeys = ["bits", "clustering", "fractions", "max-iterations", "normalize"];
    private static readonly string[] LqNetsKeys = ["weight-bits", "activation-bits", "quantize-first-last"];
    private static readonly string[] LayerKeys = ["include", "exclude", "biases"];
    private static readonly string[] FineTuneKeys = ["epochs", "optimizer", "lr", "batch-size", "momentum", "weight-decay", "lr-schedule", "distill"];
    private static readonly string[] DistillKeys = ["temperature", "weight"];

    /// <summary>Loads and validates the recipe at <paramref name="path"/>; messages name the path as given.</summary>
    public static Recipe Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RecipeException(path, 0, $"cannot read the recipe: {e.Message}");
        }
        return Parse(text, path);
    }

    /// <summary>Parses and validates recipe text; <paramref name="source"/> names it in messages.</summary>
    public static Recipe Parse(string yaml, string source) => new Reader(source).ReadRecipe(yaml);

    private sealed class Reader(string source)
    {
        private RecipeException Error(YamlNode node, string problem) => new(source, node.Start.Line, problem);

        private static long LastScannableLine(string yaml)
        {
            var scanner = new Scanner(new StringReader(yaml));
            long line = 0;
            try
            {
                while (scanner.MoveNext()) line = scanner.Current?.Start.Line ?? line;
            }
            catch (Exception e) when (e is InvalidOperationException or YamlException)
            {
                // stop at the failure: the last token read is where the construct began to go wrong
            }
            return line;
        }

        public Recipe ReadRecipe(string yaml)
        {
            var stream = new YamlStream();
            try { stream.Load(new StringReader(yaml)); }
            catch (YamlException e)
            {
                string detail = Regex.Replace(e.InnerException?.Message ?? e.Message, @"^\(Line: .*?\): ", "");
                throw new RecipeException(source, e.Start.Line, $"malformed YAML: {detail}");
            }
            catch (InvalidOperationException)
            {
                // YamlDotNet's scanner fails this way on some unterminated constructs; locate the last good token.
                throw new RecipeException(source, LastScannableLine(yaml), "malformed YAML: unterminated list, mapping or quoted value");
            }
            if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
                throw new RecipeException(source, 0, "the recipe is empty: expected a mapping with 'stages'");
            if (stream.Documents.Count > 1)
                throw new RecipeException(source, stream.Documents[1].RootNode.Start.Line, "a recipe is one YAML document; found several");
            var root = Mapping(stream.Documents[0].RootNode, "the recipe");
            CheckKeys(root, RootKeys, "the recipe");
            string? name = OptionalString(root, "name");
            string? description = OptionalString(root, "description");
            var stagesNode = Required(root, "stages", "the recipe");
            if (stagesNode is not YamlSequenceNode stagesSeq)
                throw Error(stagesNode, "'stages' must be a list of stages");
            if (stagesSeq.Children.Count == 0)
                throw Error(stagesNode, "'stages' is empty: a recipe needs at least one stage");
            var stages = stagesSeq.Children.Select((s, i) => ReadStage(s, i + 1)).ToList();
            if (stages.OfType<LqNetsStage>().Skip(1).FirstOrDefault() is { } second)
                throw new RecipeException(source, second.Line, "a recipe has at most one lq-nets stage (its quantizers stay active in later stages; use overrides for per-layer bit widths)");
            return new Recipe(source, name, description, stages);
        }

        private RecipeStage ReadStage(YamlNode node, int index)
        {
            string what = $"stage {index}";
            var map = Mapping(node, what);
            var methodNode = Required(map, "method", what);
            string method = Scalar(methodNode, "method");
            string[] specific = method switch
            {
                "prune" => PruneKeys,
                "kmeans" => KMeansKeys,
                "loss-aware" => LossAwareKeys,
                "importance-train" => ImportanceTrainKeys,
                "importance-post" => ImportancePostKeys,
                "lq-nets" => LqNetsKeys,
                _ => throw Error(methodNode, $"unknown method '{method}' (expected one of: prune, kmeans, loss-aware, importance-train, importance-post, lq-nets)"),
            };
            CheckKeys(map, CommonStageKeys.Concat(specific).ToArray(), $"{what} ({method})");
            var layers = ReadLayers(Required(map, "layers", what));
            FineTuning? fineTune = Get(map, "fine-tune") is { } ft ? ReadFineTune(ft) : null;
            if (method is "importance-train" or "importance-post" && Get(map, "overrides") is { } io)
                throw Error(io, $"'{method}' ranks all selected parameters together: it takes no per-layer overrides");
            return method switch
            {
                "prune" => ReadPrune(map, node, layers, fineTune),
                "kmeans" => ReadKMeans(map, node, layers, fineTune),
                "importance-train" => ReadImportanceTrain(map, node, layers, fineTune),
                "importance-post" => ReadImportancePost(map, node, layers, fineTune),
                "lq-nets" => ReadLqNets(map, node, layers, fineTune),
                _ => ReadLossAware(map, node, layers, fineTune),
            };
        }

        private ImportanceTrainStage ReadImportanceTrain(YamlMappingNode map, YamlNode node, LayerSelection layers, FineTuning? fineTune)
        {
            if (fineTune is null || fineTune.Epochs < 1)
                throw Error(Get(map, "fine-tune") ?? node, "an importance-train stage freezes after each training epoch: it needs a 'fine-tune' block with epochs >= 1");
            var splitNode = Required(map, "split", "an importance-train stage");
            List<double> split;
            bool repeats = splitNode is YamlScalarNode;
            if (repeats) split = [Number(splitNode, "split")];
            else
            {
                split = Sequence(splitNode, "split").Select(n => Number(n, "split")).ToList();
                if (split.Count == 0) throw Error(splitNode, "split is an empty list: give a fraction per epoch, or one number for every epoch");
                if (split.Count > fineTune.Epochs)
                    throw Error(splitNode, $"split lists {split.Count} epochs but the stage fine-tunes {fineTune.Epochs}");
            }
            foreach (var (f, i) in split.Select((f, i) => (f, i)))
                if (!(f is >= 0 and <= 1))
                    throw Error(repeats ? splitNode : ((YamlSequenceNode)splitNode).Children[i], $"split must be in [0, 1] (share of the free elements frozen after an epoch), got {Format(f)}");
            int bits = 0;
            if (Get(map, "bits") is { } b)
            {
                long v = Integer(b, "bits");
                if (v is < 0 or > 16) throw Error(b, $"bits must be in [0, 16] (0 = pruned), got {v}");
                bits = (int)v;
            }
            return new ImportanceTrainStage(source, node.Start.Line, layers, fineTune, split, repeats, bits, ReadNormalize(map));
        }

        private ImportancePostStage ReadImportancePost(YamlMappingNode map, YamlNode node, LayerSelection layers, FineTuning? fineTune)
        {
            var bitsNode = Required(map, "bits", "an importance-post stage");
            var bitNodes = bitsNode is YamlScalarNode ? [bitsNode] : Sequence(bitsNode, "bits").ToList();
            if (bitNodes.Count == 0) throw Error(bitsNode, "bits is an empty list: give one width per cluster, least important first");
            if (bitNodes.Count > 16) throw Error(bitsNode, $"bits lists {bitNodes.Count} clusters; at most 16");
            var bits = new List<int>();
            foreach (var n in bitNodes)
            {
                long v = Integer(n, "bits");
                if (v is < 0 or > 16) throw Error(n, $"bits must be in [0, 16] (0 = pruned), got {v}");
                if (bits.Count > 0 && v < bits[^1])
                    throw Error(n, $"bits must not decrease (clusters go from least to most important): {v} follows {bits[^1]}");
                bits.Add((int)v);
            }
            var clustering = OptionalEnum(map, "clustering", Importance.ImportanceClusteringKind.KMeansLog,
                ("kmeans-log", Importance.ImportanceClusteringKind.KMeansLog), ("quantile", Importance.ImportanceClusteringKind.Quantile));
            List<double>? fractions = null;
            if (Get(map, "fractions") is { } fNode)
            {
                if (clustering != Importance.ImportanceClusteringKind.Quantile)
                    throw Error(fNode, "fractions set the cluster sizes of clustering 'quantile'; k-means finds its own sizes");
                var fNodes = fNode is YamlScalarNode ? [fNode] : Sequence(fNode, "fractions").ToList();
                fractions = [];
                foreach (var n in fNodes)
                {
                    double f = Number(n, "fractions");
                    if (!(f is >= 0 and <= 1)) throw Error(n, $"fractions must be in [0, 1], got {Format(f)}");
                    fractions.Add(f);
                }
                if (fractions.Count != bits.Count) throw Error(fNode, $"fractions has {fractions.Count} entries but bits has {bits.Count}: one fraction per cluster");
                double sum = fractions.Sum();
                if (Math.Abs(sum - 1) > 1e-6) throw Error(fNode, $"fractions must sum to 1, got {Format(sum)}");
            }
            else if (clustering == Importance.ImportanceClusteringKind.Quantile)
                throw Error(Get(map, "clustering")!, "clustering 'quantile' needs 'fractions' (one per cluster, summing to 1)");
            int maxIterations = 100;
            if (Get(map, "max-iterations") is { } mi)
            {
                long v = Integer(mi, "max-iterations");
                if (v < 1 || v > 100_000) throw Error(mi, $"max-iterations must be in [1, 100000], got {v}");
                maxIterations = (int)v;
            }
            return new ImportancePostStage(source, node.Start.Line, layers, fineTune, bits, clustering, fractions, maxIterations, ReadNormalize(map));
        }

        private bool ReadNormalize(YamlMappingNode map) => OptionalEnum(map, "normalize", false, ("none", false), ("parameter-mean", true));

        private LqNetsStage ReadLqNets(YamlMappingNode map, YamlNode node, LayerSelection layers, FineTuning? fineTune)
        {
            int weightBits = ReadLqBits(Required(map, "weight-bits", "an lq-nets stage"), "weight-bits");
            int activationBits = ReadLqBits(Required(map, "activation-bits", "an lq-nets stage"), "activation-bits");
            bool firstLast = Get(map, "quantize-first-last") is { } fl && Boolean(fl, "quantize-first-last");
            var overrides = new List<LqNetsOverride>();
            if (Get(map, "overrides") is { } ov)
            {
                foreach (var item in Sequence(ov, "overrides"))
                {
                    var m = Mapping(item, "an override");
                    CheckKeys(m, ["layer", "weight-bits", "activation-bits"], "an lq-nets override");
                    var layerNode = Required(m, "layer", "an override");
                    var pattern = new LayerPattern(Scalar(layerNode, "layer"), layerNode.Start.Line);
                    int? w = Get(m, "weight-bits") is { } wn ? ReadLqBits(wn, "weight-bits") : null;
                    int? a = Get(m, "activation-bits") is { } an ? ReadLqBits(an, "activation-bits") : null;
                    if (w is null && a is null) throw Error(item, $"override for '{pattern.Glob}' sets nothing (expected 'weight-bits' or 'activation-bits')");
                    overrides.Add(new LqNetsOverride(pattern, w, a, item.Start.Line));
                }
            }
            return new LqNetsStage(source, node.Start.Line, layers, fineTune, weightBits, activationBits, firstLast, overrides);
        }

        private int ReadLqBits(YamlNode node, string key)
        {
            long bits = Integer(node, key);
            if (bits is not (>= 1 and <= 4) and not LqNetsStage.FullPrecision)
                throw Error(node, $"{key} must be 1, 2, 3, 4 or 32 (full precision), got {bits}");
            return (int)bits;
        }

        private PruneStage ReadPrune(YamlMappingNode map, YamlNode node, LayerSelection layers, FineTuning? fineTune)
        {
            double? sparsity = OptionalSparsity(map, "sparsity");
            double? q = OptionalPositive(map, "q");
            if (sparsity is null && q is null) throw Error(node, "a prune stage needs 'sparsity' (target fraction) or 'q' (threshold q·std)");
            if (sparsity is not null && q is not null) throw Error(Get(map, "q")!, "give either 'sparsity' or 'q', not both");
            var scope = OptionalEnum(map, "scope", PruningScope.PerLayer, ("per-layer", PruningScope.PerLayer), ("global", PruningScope.Global));
            var importance = OptionalEnum(map, "importance", PruningImportance.Magnitude, ("magnitude", PruningImportance.Magnitude), ("taylor", PruningImportance.Taylor));
            var schedule = Get(map, "schedule") is { } s ? ReadSchedule(s, thresholdMode: q is not null) : ScheduleDefinition.OneShotAtStart(node.Start.Line);

            var overrides = new List<PruneOverride>();
            if (Get(map, "overrides") is { } ov)
            {
                foreach (var item in Sequence(ov, "overrides"))
                {
                    var m = Mapping(item, "an override");
                    CheckKeys(m, ["layer", "sparsity", "q"], "a prune override");
                    var layerNode = Required(m, "layer", "an override");
                    var pattern = new LayerPattern(Scalar(layerNode, "layer"), layerNode.Start.Line);
                    double? os = OptionalSparsity(m, "sparsity");
                    double? oq = OptionalPositive(m, "q");
                    if (q is null && oq is not null) throw Error(Get(m, "q")!, "this stage prunes to a 'sparsity'; an override cannot set 'q'");
                    if (sparsity is null && os is not null) throw Error(Get(m, "sparsity")!, "this stage prunes by threshold 'q'; an override cannot set 'sparsity'");
                    if (os is null && oq is null) throw Error(item, $"override for '{pattern.Glob}' sets nothing (expected '{(q is null ? "sparsity" : "q")}')");
                    overrides.Add(new PruneOverride(pattern, os, oq, item.Start.Line));
                }
            }

            if (scope == PruningScope.Global)
            {
                if (q is not null) throw Error(Get(map, "scope")!, "scope 'global' ranks weights to a 'sparsity'; it cannot be used with 'q'");
                if (overrides.Count > 0) throw Error(Get(map, "overrides")!, "per-layer overrides need scope 'per-layer'");
            }
            if (importance == PruningImportance.Taylor)
            {
                if (q is not null) throw Error(Get(map, "importance")!, "importance 'taylor' needs a 'sparsity' target ('q' thresholds magnitudes)");
                if (schedule.StartEpoch <= 0)
                    throw Error(Get(map, "importance")!, "importance 'taylor' accumulates gradients first: the schedule's 'start' must be > 0");
            }
            var sparsities = new[] { sparsity }.Concat(overrides.Select(o => o.Sparsity)).OfType<double>().ToList();
            double lastEvent = sparsities.Count > 0 ? sparsities.Max(s => schedule.LastEventEpoch(s)) : schedule.LastEventEpoch(null);
            int epochs = fineTune?.Epochs ?? 0;
            if (schedule.Kind == ScheduleKind.Dat && epochs < 2)
                throw Error(Get(map, "schedule")!, "schedule 'dat' prunes after each epoch from the loss: it needs fine-tune epochs >= 2");
            if (schedule.Kind != ScheduleKind.Dat && lastEvent > 0 && lastEvent >= epochs)
                throw Error(Get(map, "schedule")!, $"the schedule prunes until epoch {lastEvent.ToString(CultureInfo.InvariantCulture)} but the stage fine-tunes {epochs} epochs");
            return new PruneStage(source, node.Start.Line, layers, fineTune, sparsity, q, schedule, scope, importance, overrides);
        }

        private ScheduleDefinition ReadSchedule(YamlNode node, bool thresholdMode)
        {
            var map = Mapping(node, "schedule");
            var kindNode = Required(map, "kind", "schedule");
            var kind = Scalar(kindNode, "kind") switch
            {
                "one-shot" => ScheduleKind.OneShot,
                "iterative" => ScheduleKind.Iterative,
                "agp" => ScheduleKind.Agp,
                "dat" => ScheduleKind.Dat,
                var other => throw Error(kindNode, $"unknown schedule kind '{other}' (expected one of: one-shot, iterative, agp, dat)"),
            };
            string[] keys = kind switch
            {
                ScheduleKind.OneShot => ["kind", "start"],
                ScheduleKind.Iterative => ["kind", "start", "every", "fraction", "iterations"],
                ScheduleKind.Agp => ["kind", "start", "end", "every", "initial-sparsity"],
                _ => ["kind", "ramp", "tolerance", "backoff"],
            };
            CheckKeys(map, keys, $"schedule '{Scalar(kindNode, "kind")}'");
            if (thresholdMode && kind == ScheduleKind.Agp) throw Error(kindNode, "schedule 'agp' ramps a 'sparsity'; with 'q' use one-shot, iterative or dat");
            if (!thresholdMode && kind == ScheduleKind.Dat) throw Error(kindNode, "schedule 'dat' adapts a threshold: give the stage 'q' instead of 'sparsity'");

            double start = OptionalDouble(map, "start", 0, v => v >= 0, "must be >= 0 (epochs)");
            double every = OptionalDouble(map, "every", 1, v => v > 0, "must be > 0 (epochs)");
            double? end = null;
            double? fraction = null;
            int? iterations = null;
            double initial = 0;
            if (kind == ScheduleKind.Agp)
            {
                var endNode = Required(map, "end", "schedule 'agp'");
                end = Number(endNode, "end");
                if (!(end > start)) throw Error(endNode, $"end must be after start ({start.ToString(CultureInfo.InvariantCulture)}), got {Format(end.Value)}");
                initial = OptionalDouble(map, "initial-sparsity", 0, v => v is >= 0 and < 1, "must be in [0, 1)");
            }
            if (kind == ScheduleKind.Iterative)
            {
                if (Get(map, "fraction") is { } fNode)
                {
                    double f = Number(fNode, "fraction");
                    if (!(f is > 0 and < 1)) throw Error(fNode, $"fraction must be in (0, 1), got {Format(f)}");
                    if (thresholdMode) throw Error(fNode, "with 'q' the iterative schedule takes 'iterations' (q rises to its value over them), not 'fraction'");
                    fraction = f;
                }
                if (Get(map, "iterations") is { } iNode)
                {
                    long it = Integer(iNode, "iterations");
                    if (it < 1 || it > 1000) throw Error(iNode, $"iterations must be in [1, 1000], got {it}");
                    iterations = (int)it;
                }
                if (fraction is null == iterations is null)
                    throw Error(node, "an iterative schedule needs exactly one of 'fraction' (of the remaining weights per event) or 'iterations'");
            }
            double ramp = 1, tolerance = 0.01, backoff = 1;
            if (kind == ScheduleKind.Dat)
            {
                var rampNode = Required(map, "ramp", "schedule 'dat'");
                ramp = Number(rampNode, "ramp");
                if (!(ramp > 0)) throw Error(rampNode, $"ramp must be > 0 (epochs), got {Format(ramp)}");
                tolerance = OptionalDouble(map, "tolerance", 0.01, v => v >= 0, "must be >= 0");
                backoff = OptionalDouble(map, "backoff", 1, v => v >= 0, "must be >= 0");
            }
            return new ScheduleDefinition(kind, start, every, end, fraction, iterations, initial, ramp, tolerance, backoff, node.Start.Line);
        }

        private KMeansStage ReadKMeans(YamlMappingNode map, YamlNode node, LayerSelection layers, FineTuning? fineTune)
        {
            int bits = ReadBits(Required(map, "bits", "a kmeans stage"));
            int maxIterations = 100;
            if (Get(map, "max-iterations") is { } mi)
            {
                long v = Integer(mi, "max-iterations");
                if (v < 1 || v > 100_000) throw Error(mi, $"max-iterations must be in [1, 100000], got {v}");
                maxIterations = (int)v;
            }
            var update = OptionalEnum(map, "centroid-update", CentroidUpdate.MemberMean, ("mean", CentroidUpdate.MemberMean), ("sum", CentroidUpdate.GradientSum));
            if (update == CentroidUpdate.GradientSum && (fineTune is null || fineTune.Epochs == 0))
                throw Error(Get(map, "centroid-update")!, "centroid-update 'sum' steps centroids during fine-tuning: add a 'fine-tune' block with epochs > 0");
            var overrides = new List<KMeansOverride>();
            if (Get(map, "overrides") is { } ov)
            {
                foreach (var item in Sequence(ov, "overrides"))
                {
                    var m = Mapping(item, "an override");
                    CheckKeys(m, ["layer", "bits"], "a kmeans override");
                    var layerNode = Required(m, "layer", "an override");
                    overrides.Add(new KMeansOverride(new LayerPattern(Scalar(layerNode, "layer"), layerNode.Start.Line),
                        ReadBits(Required(m, "bits", "a kmeans override")), item.Start.Line));
                }
            }
            return new KMeansStage(source, node.Start.Line, layers, fineTune, bits, maxIterations, update, overrides);
        }

        private LossAwareStage ReadLossAware(YamlMappingNode map, YamlNode node, LayerSelection layers, FineTuning? fineTune)
        {
            var quantizerNode = Required(map, "quantizer", "a loss-aware stage");
            string quantizerName = Scalar(quantizerNode, "quantizer");
            var match = Quantizers.FirstOrDefault(q => q.Name == quantizerName);
            if (match.Name is null)
                throw Error(quantizerNode, $"unknown quantizer '{quantizerName}' (expected one of: {string.Join(", ", Quantizers.Select(q => q.Name))})");
            var projection = match.Projection;
            bool multiBit = projection is Quantization.WeightProjection.LaqLinear or Quantization.WeightProjection.LaqLog or Quantization.WeightProjection.Uniform;
            int bits = 2;
            if (Get(map, "bits") is { } bitsNode)
            {
                if (!multiBit) throw Error(bitsNode, $"quantizer '{quantizerName}' has a fixed width; 'bits' applies to laq-linear, laq-log and ste-uniform only");
                long b = Integer(bitsNode, "bits");
                if (b is < 2 or > 8) throw Error(bitsNode, $"bits must be in [2, 8] for quantizer '{quantizerName}', got {b}");
                bits = (int)b;
            }
            else if (multiBit) throw Error(quantizerNode, $"quantizer '{quantizerName}' needs 'bits' (2 to 8)");
            bool perChannel = OptionalEnum(map, "scales", false, ("layer", false), ("channel", true));
            if (perChannel && projection == Quantization.WeightProjection.LaqLog)
                throw Error(Get(map, "scales")!, "quantizer 'laq-log' is stored as one codebook per tensor: use 'scales: layer'");
            if (Quantization.LossAwareQuantizer.NeedsCurvature(projection) && fineTune is { Optimizer: not OptimizerKind.Adam })
                throw Error(quantizerNode, $"quantizer '{quantizerName}' takes its curvature from Adam's second moment: use fine-tune optimizer 'adam'");
            double? sparsity = OptionalSparsity(map, "sparsity");
            var overrides = new List<PruneOverride>();
            if (Get(map, "overrides") is { } ov)
            {
                foreach (var item in Sequence(ov, "overrides"))
                {
                    var m = Mapping(item, "an override");
                    CheckKeys(m, ["layer", "sparsity"], "a loss-aware override");
                    var layerNode = Required(m, "layer", "an override");
                    var pattern = new LayerPattern(Scalar(layerNode, "layer"), layerNode.Start.Line);
                    double os = OptionalSparsity(m, "sparsity") ?? throw Error(item, $"override for '{pattern.Glob}' sets nothing (expected 'sparsity')");
                    overrides.Add(new PruneOverride(pattern, os, null, item.Start.Line));
                }
            }
            ScheduleDefinition schedule = ScheduleDefinition.OneShotAtStart(node.Start.Line);
            if (Get(map, "schedule") is { } s)
            {
                if (sparsity is null && overrides.Count == 0) throw Error(s, "'schedule' ramps the 'sparsity' target: give the stage a 'sparsity' too");
                schedule = ReadSchedule(s, thresholdMode: false);
                int epochs = fineTune?.Epochs ?? 0;
                double lastEvent = new[] { sparsity }.Concat(overrides.Select(o => o.Sparsity)).OfType<double>().Max(v => schedule.LastEventEpoch(v));
                if (lastEvent > 0 && lastEvent >= epochs)
                    throw Error(s, $"the schedule sparsifies until epoch {lastEvent.ToString(CultureInfo.InvariantCulture)} but the stage fine-tunes {epochs} epochs");
            }
            bool zerosAtEvents = OptionalEnum(map, "zeros", false, ("every-step", false), ("fixed-after-ramp", true));
            if (zerosAtEvents && sparsity is null && overrides.Count == 0)
                throw Error(Get(map, "zeros")!, "'zeros' says when the forced zeros are chosen: give the stage a 'sparsity' too");
            return new LossAwareStage(source, node.Start.Line, layers, fineTune, projection, bits, perChannel, sparsity, schedule, overrides, zerosAtEvents);
        }

        private int ReadBits(YamlNode node)
        {
            long bits = Integer(node, "bits");
            if (bits is < 1 or > 16) throw Error(node, $"bits must be in [1, 16], got {bits}");
            return (int)bits;
        }

        private LayerSelection ReadLayers(YamlNode node)
        {
            var map = Mapping(node, "layers");
            CheckKeys(map, LayerKeys, "layers");
            var include = Patterns(Required(map, "include", "layers"), "include");
            if (include.Count == 0) throw Error(Get(map, "include")!, "include is empty: list at least one layer pattern");
            var exclude = Get(map, "exclude") is { } ex ? Patterns(ex, "exclude") : [];
            bool biases = Get(map, "biases") is { } b && Boolean(b, "biases");
            return new LayerSelection(include, exclude, biases, node.Start.Line);
        }

        private List<LayerPattern> Patterns(YamlNode node, string key)
        {
            if (node is YamlScalarNode) return [Pattern(node, key)];
            return Sequence(node, key).Select(n => Pattern(n, key)).ToList();
        }

        private LayerPattern Pattern(YamlNode node, string key)
        {
            string glob = Scalar(node, key);
            if (string.IsNullOrWhiteSpace(glob)) throw Error(node, $"{key} has an empty layer pattern");
            return new LayerPattern(glob, node.Start.Line);
        }

        private FineTuning ReadFineTune(YamlNode node)
        {
            var map = Mapping(node, "fine-tune");
            CheckKeys(map, FineTuneKeys, "fine-tune");
            var epochsNode = Required(map, "epochs", "fine-tune");
            long epochs = Integer(epochsNode, "epochs");
            if (epochs < 0 || epochs > 100_000) throw Error(epochsNode, $"epochs must be in [0, 100000], got {epochs}");
            var optimizer = OptionalEnum(map, "optimizer", OptimizerKind.Sgd, ("sgd", OptimizerKind.Sgd), ("adam", OptimizerKind.Adam));
            var lrNode = Required(map, "lr", "fine-tune");
            double lr = Number(lrNode, "lr");
            if (!(lr > 0) || double.IsInfinity(lr)) throw Error(lrNode, $"lr must be > 0, got {Format(lr)}");
            int batch = 64;
            if (Get(map, "batch-size") is { } bNode)
            {
                long b = Integer(bNode, "batch-size");
                if (b < 1 || b > 1_000_000) throw Error(bNode, $"batch-size must be in [1, 1000000], got {b}");
                batch = (int)b;
            }
            if (optimizer == OptimizerKind.Adam && Get(map, "momentum") is { } mNode)
                throw Error(mNode, "momentum applies to optimizer 'sgd' only");
            double momentum = OptionalDouble(map, "momentum", 0, v => v is >= 0 and < 1, "must be in [0, 1)");
            double decay = OptionalDouble(map, "weight-decay", 0, v => v >= 0, "must be >= 0");
            string schedule = OptionalEnum(map, "lr-schedule", "constant", ("constant", "constant"), ("cosine", "cosine"));
            Distillation? distill = null;
            if (Get(map, "distill") is { } dNode)
            {
                var dMap = Mapping(dNode, "distill");
                CheckKeys(dMap, DistillKeys, "distill");
                double t = OptionalDouble(dMap, "temperature", 4, v => v > 0 && !double.IsInfinity(v), "must be > 0");
                double w = OptionalDouble(dMap, "weight", 0.5, v => v is > 0 and <= 1, "must be in (0, 1]");
                distill = new Distillation(t, w);
            }
            return new FineTuning((int)epochs, optimizer, lr, batch, momentum, decay, node.Start.Line, schedule, distill);
        }

        // ---- typed access with line-accurate errors ----

        private YamlMappingNode Mapping(YamlNode node, string what) =>
            node as YamlMappingNode ?? throw Error(node, $"{what} must be a mapping of 'key: value' lines, got {Describe(node)}");

        private IEnumerable<YamlNode> Sequence(YamlNode node, string key) =>
            node as YamlSequenceNode ?? throw Error(node, $"{key} must be a list, got {Describe(node)}");

        private static YamlNode? Get(YamlMappingNode map, string key) =>
            map.Children.FirstOrDefault(kv => kv.Key is YamlScalarNode s && s.Value == key).Value;

        private YamlNode Required(YamlMappingNode map, string key, string what) =>
            Get(map, key) ?? throw Error(map, $"{what} is missing the required key '{key}'");

        private void CheckKeys(YamlMappingNode map, string[] allowed, string what)
        {
            foreach (var key in map.Children.Keys)
            {
                string name = key is YamlScalarNode s ? s.Value ?? "" : "";
                if (!allowed.Contains(name))
                    throw Error(key, $"unknown key '{name}' in {what} (expected one of: {string.Join(", ", allowed)})");
            }
        }

        private string Scalar(YamlNode node, string key) =>
            node is YamlScalarNode s ? s.Value ?? "" : throw Error(node, $"{key} must be a single value, got {Describe(node)}");

        private string? OptionalString(YamlMappingNode map, string key) => Get(map, key) is { } n ? Scalar(n, key) : null;

        private double Number(YamlNode node, string key)
        {
            string text = Scalar(node, key);
            if (node is YamlScalarNode { Style: ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted }
                || !double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || double.IsNaN(v))
                throw Error(node, $"{key} must be a number, got '{text}'");
            return v;
        }

        private long Integer(YamlNode node, string key)
        {
            string text = Scalar(node, key);
            if (node is YamlScalarNode { Style: ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted }
                || !long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v))
                throw Error(node, $"{key} must be an integer, got '{text}'");
            return v;
        }

        private bool Boolean(YamlNode node, string key) => Scalar(node, key) switch
        {
            "true" => true,
            "false" => false,
            var other => throw Error(node, $"{key} must be true or false, got '{other}'"),
        };

        private double OptionalDouble(YamlMappingNode map, string key, double fallback, Func<double, bool> valid, string rule)
        {
            if (Get(map, key) is not { } node) return fallback;
            double v = Number(node, key);
            return valid(v) ? v : throw Error(node, $"{key} {rule}, got {Format(v)}");
        }

        private double? OptionalSparsity(YamlMappingNode map, string key) =>
            Get(map, key) is null ? null : OptionalDouble(map, key, 0, v => v is >= 0 and < 1, "must be in [0, 1)");

        private double? OptionalPositive(YamlMappingNode map, string key) =>
            Get(map, key) is null ? null : OptionalDouble(map, key, 0, v => v > 0 && !double.IsInfinity(v), "must be > 0");

        private T OptionalEnum<T>(YamlMappingNode map, string key, T fallback, params (string Name, T Value)[] options)
        {
            if (Get(map, key) is not { } node) return fallback;
            string text = Scalar(node, key);
            foreach (var (name, value) in options) if (name == text) return value;
            throw Error(node, $"{key} must be one of: {string.Join(", ", options.Select(o => o.Name))}; got '{text}'");
        }

        private static string Describe(YamlNode node) => node switch
        {
            YamlMappingNode => "a mapping",
            YamlSequenceNode => "a list",
            YamlScalarNode s => $"'{s.Value}'",
            _ => "something else",
        };

        private static string Format(double v) => v.ToString("R", CultureInfo.InvariantCulture);
    }
}
