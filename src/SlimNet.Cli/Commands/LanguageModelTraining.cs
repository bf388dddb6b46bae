using System.CommandLine;
using System.Globalization;
using SlimNet.Compression.Export;
using SlimNet.Compression.Hooks;
using SlimNet.Compression.Quantization;
using SlimNet.Compression.Recipes;
using SlimNet.Format;
using SlimNet.Format.Graph;
using SlimNet.Training.Checkpoints;
using SlimNet.Training.Data;
using SlimNet.Training.Models;
using SlimNet.Training.Pipeline;
using SlimNet.Training.Trainer;

namespace SlimNet.Cli.Commands;

/// <summary>The <c>slimnet train</c> options that only character language models (<c>char-lstm</c>) take.</summary>
public sealed class LanguageModelOptionSet
{
    /// <summary><c>--hidden H</c>.</summary>
    public Option<int> Hidden { get; } = new("--hidden") { Description = "char-lstm: hidden size of each LSTM layer", DefaultValueFactory = _ => 256 };
    /// <summary><c>--layers L</c>.</summary>
    public Option<int> Layers { get; } = new("--layers") { Description = "char-lstm: LSTM layers (1 or 2)", DefaultValueFactory = _ => 1 };
    /// <summary><c>--norm none|batch|layer|weight</c>.</summary>
    public Option<string> Norm { get; } = new("--norm") { Description = "char-lstm: normalization of W_ih·x and W_hh·h: none, batch, layer or weight", DefaultValueFactory = _ => "none" };
    /// <summary><c>--bptt T</c>.</summary>
    public Option<int> Bptt { get; } = new("--bptt") { Description = "char-lstm: characters per truncated back-propagation window", DefaultValueFactory = _ => 100 };
    /// <summary><c>--clip X</c>.</summary>
    public Option<double> Clip { get; } = new("--clip") { Description = "char-lstm: clip the global gradient norm to X (0: off)", DefaultValueFactory = _ => 1.0 };
    /// <summary><c>--recipe FILE</c>.</summary>
    public Option<string?> Recipe { get; } = new("--recipe") { Description = "char-lstm: a recipe of loss-aware stages (no fine-tune block) whose quantizers train the selected weights from the start" };
    /// <summary><c>--slim FILE</c>.</summary>
    public Option<string?> Slim { get; } = new("--slim") { Description = "char-lstm: also write the trained model as a .slim file (quantized weights as codes and scales)" };

    /// <summary><c>--teacher CKPT</c>.</summary>
    public Option<string?> Teacher { get; } = new("--teacher") { Description = "char-lstm: distil from this trained char-lstm checkpoint (same characters; any size or normalization)" };
    /// <summary><c>--distill-temperature T</c>.</summary>
    public Option<double> DistillTemperature { get; } = new("--distill-temperature") { Description = "char-lstm with --teacher: softmax temperature T of the distillation term", DefaultValueFactory = _ => new TrainerOptions().DistillTemperature };
    /// <summary><c>--distill-weight A</c>.</summary>
    public Option<double> DistillWeight { get; } = new("--distill-weight") { Description = "char-lstm with --teacher: weight A in (1 - A)·CE + A·T²·KL", DefaultValueFactory = _ => new TrainerOptions().DistillWeight };

    private IEnumerable<Option> All => new Option[] { Hidden, Layers, Norm, Bptt, Clip, Recipe, Slim, Teacher, DistillTemperature, DistillWeight };

    /// <summary>Fails when a distillation option is given without <see cref="Teacher"/>.</summary>
    public void CheckDistillation(ParseResult parse) =>
        RequireWith(parse, parse.GetValue(Teacher) is not null, "--teacher (the checkpoint to distil from)", DistillTemperature, DistillWeight);

    /// <summary>Fails when one of <paramref name="options"/> was given while <paramref name="present"/> (the option they refine) is false.</summary>
    public static void RequireWith(ParseResult parse, bool present, string needed, params Option[] options)
    {
        if (present) return;
        foreach (var o in options)
            if (parse.GetResult(o) is { Implicit: false })
                throw new UserInputException($"{o.Name} needs {needed}");
    }

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (var o in All) command.Add(o);
    }

    /// <summary>Fails when one of these options was given for a model that is not a language model.</summary>
    public void RejectFor(ParseResult parse, string model)
    {
        foreach (var o in All)
            if (parse.GetResult(o) is { Implicit: false })
                throw new UserInputException($"{o.Name} applies to char-lstm only, not to {model}");
    }
}

/// <summary>One language-model training job, as the command line (or a sweep) describes it.</summary>
/// <param name="Training">Optimizer, schedule, epochs, streams, seed.</param>
/// <param name="SequenceLength">TBPTT window.</param>
/// <param name="ClipNorm">Gradient clipping.</param>
/// <param name="Hidden">Hidden size.</param>
/// <param name="Layers">LSTM layers.</param>
/// <param name="Normalization">Normalization of both products.</param>
/// <param name="RecipePath">Loss-aware recipe, or null for full precision.</param>
/// <param name="TeacherPath">char-lstm checkpoint to distil from (temperature and weight in <paramref name="Training"/>), or null.</param>
public sealed record LanguageModelJob(TrainerOptions Training, int SequenceLength, double ClipNorm, int Hidden, int Layers, LstmNormalization Normalization, string? RecipePath,
    string? TeacherPath = null);

/// <summary>What <see cref="LanguageModelTraining.Train"/> returns.</summary>
public sealed record LanguageModelOutcome(LanguageModelResult Result, TextCorpus Corpus, CharLstmConfig Config, long? SlimBytes, string Method);

/// <summary><c>slimnet train --model char-lstm</c>: trains a character language model on a text file.</summary>
public static class LanguageModelTraining
{
    /// <summary>Metadata key of a language model's vocabulary (its characters in id order) in .slim files.</summary>
    public const string VocabularyKey = "vocabulary";
    /// <summary>Metadata key of the test bits per character measured at training.</summary>
    public const string TestBpcKey = "source_test_bpc";
    /// <summary>Metadata key: the number of parallel streams the test BPC was measured with.</summary>
    public const string EvaluationStreamsKey = "evaluation_streams";
    /// <summary>Metadata key: the training window (TBPTT length); it bounds the streams of a short test split.</summary>
    public const string EvaluationWindowKey = "evaluation_window";

    /// <summary>Loads the corpus (<paramref name="dataFile"/> or the embedded Moby Dick) for windows of <paramref name="sequenceLength"/>.</summary>
    public static TextCorpus LoadCorpus(string? dataFile, int sequenceLength)
    {
        if (dataFile is null) return TextCorpus.LoadDefault(sequenceLength);
        if (Directory.Exists(dataFile)) throw new UserInputException($"--data {dataFile}: is a folder; char-lstm reads one UTF-8 text file");
        if (!File.Exists(dataFile)) throw new UserInputException($"--data {dataFile}: no such file");
        return TextCorpus.Load(dataFile, sequenceLength);
    }

    /// <summary>Reads a char-lstm recipe: loss-aware stages only, without fine-tune blocks (training options come from the command line).</summary>
    public static Recipe LoadRecipe(string path)
    {
        if (!File.Exists(path)) throw new UserInputException($"--recipe {path}: no such file");
        var recipe = RecipeLoader.Load(path);
        foreach (var stage in recipe.Stages)
        {
            if (stage is not LossAwareStage la)
                throw new RecipeException(path, stage.Line, $"char-lstm trains with loss-aware stages only, not '{stage.Method}'");
            if (la.FineTune is not null)
                throw new RecipeException(path, stage.Line, "char-lstm quantizes during training from scratch: give epochs and lr on the command line, not in a fine-tune block");
        }
        return recipe;
    }

    /// <summary>Runs the training and prints the result; returns the exit code.</summary>
    public static int Run(ParseResult parse, LanguageModelOptionSet lm, CliOutput output, TrainerOptions training, string? dataFile, string? outPath,
        string? resumePath, int? stop)
    {
        LstmNormalization norm;
        try { norm = CharLstmConfig.ParseNormalization(parse.GetValue(lm.Norm)!); }
        catch (ArgumentException e) { throw new UserInputException($"--norm: {e.Message}"); }
        lm.CheckDistillation(parse);
        training = training with { DistillTemperature = parse.GetValue(lm.DistillTemperature), DistillWeight = parse.GetValue(lm.DistillWeight) };
        var job = new LanguageModelJob(training, parse.GetValue(lm.Bptt), parse.GetValue(lm.Clip), parse.GetValue(lm.Hidden), parse.GetValue(lm.Layers), norm, parse.GetValue(lm.Recipe),
            parse.GetValue(lm.Teacher));
        string outFile = outPath ?? "char-lstm.ckpt";
        var slim = parse.GetValue(lm.Slim);
        if (resumePath is not null && job.RecipePath is not null)
            throw new UserInputException("--resume with --recipe is not supported: checkpoints keep the quantized weights, not the shadow weights quantized training continues from");
        var display = new TrainingProgressDisplay(output);
        var outcome = Train(job, dataFile, outFile, slim, resumePath is { } r ? Checkpoint.Load(r) : null, stop, output, display);
        var result = outcome.Result;
        int epochsDone = result.Checkpoint.Header["epochs_done"]?.GetValue<int>() ?? 0;
        output.Result(new
        {
            model = "char-lstm",
            data = outcome.Corpus.Name,
            hidden = job.Hidden,
            layers = job.Layers,
            normalization = CharLstmConfig.NormalizationName(norm),
            method = outcome.Method,
            epochs = epochsDone,
            train_characters = Math.Min(outcome.Corpus.Train.Length, training.Limit ?? int.MaxValue),
            validation_bpc = result.ValidationBpc,
            test_bpc = result.TestBpc,
            checkpoint = outFile,
            log = outFile + ".jsonl",
            slim,
            slim_bytes = outcome.SlimBytes,
            seconds_per_epoch = result.Epochs.Count > 0 ? result.Epochs.Average(e => e.Seconds) : 0,
        }, console => console.MarkupLine($"[green]done[/]: char-lstm ({Spectre.Console.Markup.Escape(outcome.Method)}) test {result.TestBpc:F4} bits per character (validation {result.ValidationBpc:F4}) after {epochsDone} epochs; checkpoint {Spectre.Console.Markup.Escape(outFile)}"));
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Trains one job: validates everything first, builds the network, registers the recipe's quantizers as hooks,
    /// trains, and writes the checkpoint and (when <paramref name="slimPath"/> is given) the .slim file.
    /// </summary>
    public static LanguageModelOutcome Train(LanguageModelJob job, string? dataFile, string outFile, string? slimPath, Checkpoint? resumeFrom, int? stop,
        CliOutput output, ITrainingProgress progress)
    {
        var options = new LanguageModelOptions { Training = job.Training, SequenceLength = job.SequenceLength, ClipNorm = job.ClipNorm };
        if (options.Validate() is { } problem) throw new UserInputException(problem);
        if (new CharLstmConfig(1, job.Hidden, job.Layers, job.Normalization).Validate() is { } bad) throw new UserInputException(bad);
        TrainCommand.CheckWritable(outFile);
        if (slimPath is not null) TrainCommand.CheckWritable(slimPath);
        if (job.TeacherPath is { } tp0)
        {
            if (Directory.Exists(tp0)) throw new UserInputException($"--teacher {tp0}: is a folder, not a checkpoint");
            if (!File.Exists(tp0)) throw new UserInputException($"--teacher {tp0}: no such file");
        }
        var recipe = job.RecipePath is { } rp ? LoadRecipe(rp) : null;
        var corpus = LoadCorpus(dataFile, options.SequenceLength);
        var config = new CharLstmConfig(corpus.VocabularySize, job.Hidden, job.Layers, job.Normalization);
        using var teacher = job.TeacherPath is { } tp ? LoadTeacher(tp, corpus) : null;
        LanguageModelTrainer trainer;
        try { trainer = new LanguageModelTrainer(config, options, corpus); }
        catch (ArgumentException e) { throw new UserInputException(e.Message); }

        using var module = LanguageModelTrainer.CreateModule(config, job.Training.Seed);
        var parameters = module.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        recipe?.ValidateAgainst(parameters.Keys);
        var quantizers = recipe?.Stages.Cast<LossAwareStage>()
            .Select(s => CompressionStageFactory.CreateLossAwareQuantizer(s, parameters, trainer.WindowsPerEpoch)).ToList() ?? new List<LossAwareQuantizer>();
        try
        {
            if (quantizers.Count > 0 && job.Training.Optimizer != "adam" && quantizers.Any(q => q.Layers.Any(l => l.IsLossAware)))
                throw new UserInputException("loss-aware quantizers take their curvature from Adam's second moment: use --optimizer adam");
            string method = recipe is null ? "full precision" : recipe.Name ?? Path.GetFileNameWithoutExtension(job.RecipePath!);
            if (teacher is not null) method += $", distilled from {Path.GetFileName(job.TeacherPath)} (T {job.Training.DistillTemperature.ToString(CultureInfo.InvariantCulture)}, weight {job.Training.DistillWeight.ToString(CultureInfo.InvariantCulture)})";
            trainer = new LanguageModelTrainer(config, options, corpus, quantizers.Cast<ITrainingHooks>().ToList(), progress) { Teacher = teacher };
            output.Info($"training char-lstm ({job.Layers}x{job.Hidden}, {CharLstmConfig.NormalizationName(job.Normalization)} normalization, {method}) on {corpus.Name}: " +
                        $"{corpus.VocabularySize} characters, {corpus.Train.Length:N0} train / {corpus.Validation.Length:N0} validation / {corpus.Test.Length:N0} test, " +
                        $"{job.Training.Epochs} epochs of {trainer.WindowsPerEpoch} windows ({job.Training.BatchSize} streams x {options.SequenceLength}), " +
                        $"{job.Training.Optimizer} lr {job.Training.LearningRate} ({job.Training.Schedule}), clip {options.ClipNorm}, seed {job.Training.Seed}");
            var result = progress is TrainingProgressDisplay d
                ? d.Run(() => trainer.Run(outFile, resumeFrom, outFile + ".jsonl", stop, module))
                : trainer.Run(outFile, resumeFrom, outFile + ".jsonl", stop, module);
            long? slimBytes = null;
            if (slimPath is not null)
            {
                var quantized = quantizers.SelectMany(q => q.ExportAll()).ToDictionary(w => w.ParameterName, StringComparer.Ordinal);
                var model = ToSlim(config, corpus, module, quantized, method, result, options);
                slimBytes = SlimWriter.Write(model, slimPath).FileBytes;
            }
            return new LanguageModelOutcome(result, corpus, config, slimBytes, method);
        }
        finally
        {
            foreach (var q in quantizers) q.Dispose();
        }
    }

    /// <summary>
    /// Loads a distillation teacher: a char-lstm checkpoint trained on the same characters (same vocabulary in the same
    /// order), of any size and normalization.
    /// </summary>
    public static CharLstmModule LoadTeacher(string path, TextCorpus corpus)
    {
        Checkpoint checkpoint;
        try { checkpoint = Checkpoint.Load(path); }
        catch (CheckpointException e) { throw new UserInputException($"--teacher {e.Message}"); }
        if (checkpoint.ModelName != LanguageModelTrainer.ModelName)
            throw new UserInputException($"--teacher {path}: a checkpoint of '{checkpoint.ModelName}', not of char-lstm");
        CharLstmConfig config;
        try
        {
            config = LanguageModelTrainer.ConfigOf(checkpoint);
            if (LanguageModelTrainer.VocabularyOf(checkpoint) != corpus.Vocabulary)
                throw new UserInputException($"--teacher {path}: trained on other characters than {corpus.Name} ({config.VocabularySize} vs {corpus.VocabularySize}, or another order)");
        }
        catch (CheckpointException e) { throw new UserInputException($"--teacher {path}: {e.Message}"); }
        var module = new CharLstmModule(config);
        try { ModelTensors.Restore(module, checkpoint.Model, "teacher checkpoint"); }
        catch
        {
            module.Dispose();
            throw;
        }
        module.eval();
        return module;
    }

    /// <summary>The .slim model of a trained char-lstm: quantized weights as their smallest exact stored form, the rest float32.</summary>
    public static SlimModel ToSlim(CharLstmConfig config, TextCorpus corpus, CharLstmModule module, IReadOnlyDictionary<string, QuantizedWeights> quantized,
        string method, LanguageModelResult result, LanguageModelOptions? options = null)
    {
        var graph = config.Graph();
        var values = SlimExporter.Capture(module);
        var encoded = CompressedTensorEncoder.Encode(graph, values, new Dictionary<string, Compression.Sharing.SharedWeights>(), Array.Empty<string>(), quantized);
        foreach (var name in encoded.Keys) values.Remove(name);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [SlimMetadataKeys.Dataset] = corpus.Name,
            [SlimMetadataKeys.DatasetKind] = "text",
            [VocabularyKey] = corpus.Vocabulary,
            [SlimMetadataKeys.SourceEpochs] = result.Epochs.Count.ToString(CultureInfo.InvariantCulture),
            [TestBpcKey] = result.TestBpc.ToString("R", CultureInfo.InvariantCulture),
            ["normalization"] = CharLstmConfig.NormalizationName(config.Normalization),
            ["training"] = method,
        };
        if (options is not null)
        {
            // How the test BPC above was measured, so that `slimnet run` can measure it the same way with the runtime.
            metadata[EvaluationStreamsKey] = options.Training.BatchSize.ToString(CultureInfo.InvariantCulture);
            metadata[EvaluationWindowKey] = options.SequenceLength.ToString(CultureInfo.InvariantCulture);
        }
        var model = SlimExporter.Export(graph, values, new SlimExportOptions { Encoded = encoded, Metadata = metadata });
        return model;
    }
}
