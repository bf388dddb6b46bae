using System.CommandLine;
using System.Globalization;
using SlimNet.Compression.Export;
using SlimNet.Compression.Hooks;
using SlimNet.Compression.Importance;
using SlimNet.Compression.Recipes;
using SlimNet.Format;
using SlimNet.Format.Graph;
using SlimNet.Training.Checkpoints;
using SlimNet.Training.Models;
using SlimNet.Training.Pipeline;
using SlimNet.Training.Trainer;

namespace SlimNet.Cli.Commands;

/// <summary>
/// <c>slimnet compress</c>: runs a recipe on a trained model (or trains the baseline first) and writes the
/// compressed .slim file, reporting accuracy before and after and the file ratio.
/// </summary>
public static class CompressCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var recipe = new Option<string>("--recipe") { Description = "Recipe YAML file (see docs/RECIPES.md and recipes/)", Required = true };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Trained checkpoint to compress" };
        var model = new Option<string?>("--model") { Description = "Zoo model to train first (with its defaults) when no checkpoint is given" };
        var baselineEpochs = new Option<int?>("--baseline-epochs") { Description = "Epochs of the baseline training with --model (default: the model's)" };
        var data = CommonOptions.Data();
        var limit = new Option<int?>("--limit") { Description = "Train and fine-tune on the first N training examples only" };
        var seed = new Option<int>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 1 };
        var outPath = new Option<string>("--out") { Description = "The .slim file to write", Required = true };
        var maxEpochs = new Option<int?>("--max-epochs") { Description = "Cap every stage's fine-tuning at N epochs (quick checks; the recipe's schedules are cut short)" };
        var json = CommonOptions.Json();
        var cmd = new Command("compress", "Compress a model with a recipe and write a .slim file")
        {
            recipe, checkpoint, model, baselineEpochs, data, limit, seed, outPath, maxEpochs, json,
        };
        var distributed = new DistributedJob();
        distributed.AddTo(cmd);
        cmd.SetAction(parse => distributed.Run(parse, parse.GetValue(seed), parallel => ExitCodes.Guard(() =>
        {
            var output = new CliOutput(parse.GetValue(json));
            string target = parse.GetValue(outPath)!;
            string? ckptPath = parse.GetValue(checkpoint);
            string? modelName = parse.GetValue(model);
            if ((ckptPath is null) == (modelName is null))
                throw new UserInputException("give exactly one of --checkpoint FILE or --model NAME");
            string recipePath = parse.GetValue(recipe)!;
            if (!File.Exists(recipePath)) throw new UserInputException($"--recipe {recipePath}: no such file");
            if (parse.GetValue(baselineEpochs) is < 1 and var be) throw new UserInputException($"--baseline-epochs must be at least 1, got {be}");

            // Everything that can be checked is checked before any work starts.
            var plan = RecipeLoader.Load(recipePath);
            if (parse.GetValue(maxEpochs) is int cap)
            {
                if (cap < 0) throw new UserInputException($"--max-epochs must be at least 0, got {cap}");
                plan = plan with
                {
                    Stages = plan.Stages.Select(st => st.FineTune is { } ft && ft.Epochs > cap ? st with { FineTune = ft with { Epochs = cap } } : st).ToList(),
                };
            }
            TrainCommand.CheckWritable(target);
            Checkpoint? ckpt = ckptPath is null ? null
                : File.Exists(ckptPath) ? Checkpoint.Load(ckptPath) : throw new UserInputException($"--checkpoint {ckptPath}: no such file");
            var zoo = TrainCommand.ResolveModel(ckpt?.ModelName ?? modelName!);
            plan.ValidateAgainst(GraphShapes.Parameters(zoo.Graph).Select(p => p.Name).Where(n => !SlimExporter.IsStatistic(n)));
            CompressionPipeline.Validate(zoo, plan);
            var splits = CommonOptions.LoadData(zoo, parse.GetValue(data), parse.GetValue(limit));
            int s = parse.GetValue(seed);
            var display = new TrainingProgressDisplay(output);

            GraphModule module;
            double baselineAccuracy;
            bool needsImportance = plan.Stages.Any(st => st is ImportanceTrainStage or ImportancePostStage);
            IReadOnlyList<HookStateArray>? importanceSeed = null;
            if (ckpt is not null)
            {
                ModelTrainer.ConfigureThreads();
                module = ModelTrainer.CreateModule(zoo, s);
                ModelTensors.Restore(module, ckpt.Model, ckptPath!);
                baselineAccuracy = Evaluator.Evaluate(module, splits.Test, splits.Normalization).Accuracy;
                importanceSeed = ImportanceSeed(ckpt);
            }
            else
            {
                var d = zoo.Defaults;
                var options = new TrainerOptions
                {
                    Epochs = parse.GetValue(baselineEpochs) ?? d.Epochs, BatchSize = d.BatchSize, LearningRate = d.LearningRate,
                    Optimizer = d.Optimizer, Schedule = d.Schedule, WeightDecay = d.WeightDecay, Momentum = d.Momentum, Seed = s,
                    Augment = zoo.Dataset != Training.Data.DatasetKind.Mnist,
                };
                string baselinePath = target + ".baseline.ckpt";
                output.Info($"training the {zoo.Name} baseline ({options.Epochs} epochs); checkpoint {baselinePath}");
                // With gradient-importance stages the baseline training accumulates |g| too (kept in its checkpoint).
                ModelTrainer.ConfigureThreads();
                module = ModelTrainer.CreateModule(zoo, options.Seed);
                using var tracker = needsImportance
                    ? new GradientImportanceTracker(module.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal))
                    : null;
                var baselineModule = module;
                var trained = display.Run(() => new ModelTrainer(zoo, options, splits, tracker is null ? null : [tracker], display, parallel)
                    .Run(baselinePath, module: baselineModule));
                baselineAccuracy = trained.TestAccuracy;
                importanceSeed = ImportanceSeed(trained.Checkpoint);
            }
            output.Info($"baseline test accuracy {baselineAccuracy:P2}; running recipe {plan.Name ?? Path.GetFileName(recipePath)} ({plan.Stages.Count} stages)");

            if (needsImportance && importanceSeed is null)
                output.Info("the checkpoint carries no gradient importance: it accumulates during the recipe's fine-tuning only");
            using var pipeline = new CompressionPipeline(zoo, plan, splits, s, display, importanceSeed) { Parallel = parallel };
            pipeline.StageStarted += (i, method, epochs) => output.Info($"stage {i + 1}/{plan.Stages.Count}: {method}, {epochs} fine-tuning epochs");
            var stages = display.Run(() => pipeline.Run(module));
            double accuracy = Evaluator.Evaluate(module, splits.Test, splits.Normalization).Accuracy;

            var values = SlimExporter.Capture(module);
            var masks = pipeline.Masks();
            var encoded = CompressedTensorEncoder.Encode(zoo.Graph, values, pipeline.SharedWeights(),
                masks.Keys.Concat(pipeline.FrozenParameters()).Distinct().ToList(), pipeline.QuantizedWeights(), pipeline.FixedPointTensors(), pipeline.LqWeights());
            var metadata = ModelMetadata.Describe(zoo, splits.Name, splits.Normalization);
            metadata[SlimMetadataKeys.Method] = $"recipe {plan.Name ?? Path.GetFileNameWithoutExtension(recipePath)}";
            metadata[SlimMetadataKeys.SourceTestAccuracy] = baselineAccuracy.ToString("R", CultureInfo.InvariantCulture);
            metadata["test_accuracy"] = accuracy.ToString("R", CultureInfo.InvariantCulture);
            var slim = SlimExporter.Export(pipeline.ExportGraph(zoo.Graph), values, new SlimExportOptions { Encoded = encoded, Metadata = metadata });
            // Data-parallel: every rank holds the same model; only rank 0 writes the file (the others measure its size in memory).
            var report = parallel is { IsRoot: false } ? SlimSizeReport.FromBytes(SlimWriter.ToBytes(slim)) : SlimWriter.Write(slim, target);
            long dense = 4 * GraphShapes.TrainableParameterCount(zoo.Graph);
            double ratio = (double)dense / report.FileBytes;
            long paramBytes = report.ParameterBytes;

            output.Result(new
            {
                model = zoo.Name,
                recipe = recipePath,
                @out = target,
                baseline_test_accuracy = baselineAccuracy,
                test_accuracy = accuracy,
                accuracy_change_pp = 100 * (accuracy - baselineAccuracy),
                file_bytes = report.FileBytes,
                dense_fp32_bytes = dense,
                compression_ratio = ratio,
                parameter_bytes = paramBytes,
                parameter_ratio = (double)dense / paramBytes,
                csr_parameter_ratio = dense * 8.0 / CsrParameterBits(slim),
                distributed = TrainCommand.DistributedSummary(parallel),
                stages = stages.Select(r => new { index = r.Index, method = r.Method, epochs = r.Epochs, test_accuracy = r.TestAccuracy, sparsity = r.Sparsity }),
                layers = report.Tensors.Select(t => new
                {
                    name = t.Name, elements = t.ElementCount, stored = t.StoredCount, sparsity = t.SparsityRatio,
                    encoding = t.Encoding.ToString().ToLowerInvariant(), layout = t.Sparsity.ToString().ToLowerInvariant(), bits = t.Bits,
                    bytes = t.TotalBytes, bits_per_stored_weight = t.BitsPerStoredWeight,
                }),
            }, console =>
            {
                var table = new Table().AddColumns("tensor", "kept", "encoding", "bits/weight", "bytes");
                foreach (var t in report.Tensors)
                    table.AddRow(t.Name, $"{1 - t.SparsityRatio:P1}", $"{t.Encoding} {t.Sparsity}".ToLowerInvariant(), $"{t.BitsPerStoredWeight:F2}", $"{t.TotalBytes:N0}");
                console.Write(table);
                console.MarkupLine($"test accuracy {baselineAccuracy:P2} → [green]{accuracy:P2}[/] ({100 * (accuracy - baselineAccuracy):+0.00;-0.00} pp); " +
                                   $"{Markup.Escape(target)}: {report.FileBytes:N0} bytes, [green]{ratio:F1}x[/] smaller than dense fp32 ({dense:N0} bytes)");
            });
            return ExitCodes.Ok;
        })));
        return cmd;
    }

    /// <summary>
    /// Bits of the parameters under plain CSR accounting, as the Gaopande thesis counts storage: per tensor, every stored
    /// value at its code width (32 for float32, 16 for float16, b for fixed point and codebook codes), a column index of
    /// ⌈log2 columns⌉ bits per stored value and rows + 1 row pointers of ⌈log2(stored + 1)⌉ bits; dense tensors need no
    /// indices. No headers, scales, codebooks or entropy coding. Only a comparison figure; the file ratio is the headline.
    /// </summary>
    public static double CsrParameterBits(SlimModel model)
    {
        double bits = 0;
        foreach (var t in model.Tensors)
        {
            bits += (double)t.StoredCount * t.Bits;
            if (t.Sparsity == SparseLayout.Dense) continue;
            bits += (double)t.StoredCount * Math.Ceiling(Math.Log2(Math.Max(2, t.Columns)));
            bits += (t.Rows + 1.0) * Math.Ceiling(Math.Log2(t.StoredCount + 2.0));
        }
        return bits;
    }

    /// <summary>The gradient importance a checkpoint carries (the tracker state saved by a training run with it), or null.</summary>
    public static IReadOnlyList<HookStateArray>? ImportanceSeed(Checkpoint checkpoint)
    {
        const string prefix = "importance/";
        var state = checkpoint.Extra.Where(a => a.Name.StartsWith(prefix, StringComparison.Ordinal))
            .Select(a => new HookStateArray(a.Name[prefix.Length..], a.Shape, a.Data)).ToList();
        return state.Count == 0 ? null : state;
    }
}
