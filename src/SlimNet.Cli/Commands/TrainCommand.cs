using System.CommandLine;
using SlimNet.Training.Checkpoints;
using SlimNet.Training.Models;
using SlimNet.Training.Trainer;

using SlimNet.Compression.Importance;

namespace SlimNet.Cli.Commands;

/// <summary><c>slimnet train</c>: trains a zoo model and writes a checkpoint.</summary>
public static class TrainCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Zoo model name (see 'slimnet models')", Required = true };
        var data = CommonOptions.Data();
        var epochs = new Option<int?>("--epochs") { Description = "Epochs (default: the model's)" };
        var batch = new Option<int?>("--batch-size") { Description = "Minibatch size (default: the model's)" };
        var lr = new Option<double?>("--lr") { Description = "Initial learning rate (default: the model's)" };
        var optimizer = new Option<string?>("--optimizer") { Description = "sgd or adam (default: the model's)" };
        var schedule = new Option<string?>("--schedule") { Description = "constant, step, multistep or cosine (default: the model's)" };
        var weightDecay = new Option<double?>("--weight-decay") { Description = "L2 weight decay (default: the model's)" };
        var limit = new Option<int?>("--limit") { Description = "Train on the first N training examples only" };
        var seed = new Option<int>("--seed") { Description = "Random seed (weights, data order, augmentation)", DefaultValueFactory = _ => 1 };
        var outPath = new Option<string?>("--out") { Description = "Checkpoint file to write (default: MODEL.ckpt)" };
        var resume = new Option<string?>("--resume") { Description = "Checkpoint to continue from (same options; --epochs is the total)" };
        var stopAfter = new Option<int?>("--stop-after-epoch") { Description = "End the run after this many epochs in total (resume later with --resume)" };
        var trackImportance = new Option<bool>("--track-importance")
        {
            Description = "Accumulate |gradient| of every weight and bias over training and keep it in the checkpoint (for gradient-importance recipes)",
        };
        var json = CommonOptions.Json();
        var lm = new LanguageModelOptionSet();
        var cmd = new Command("train", "Train a zoo model and write a checkpoint")
        {
            model, data, epochs, batch, lr, optimizer, schedule, weightDecay, limit, seed, outPath, resume, stopAfter, trackImportance, json,
        };
        lm.AddTo(cmd);
        var distributed = new DistributedJob();
        distributed.AddTo(cmd);
        cmd.SetAction(parse => distributed.Run(parse, parse.GetValue(seed), parallel => ExitCodes.Guard(() =>
        {
            var output = new CliOutput(parse.GetValue(json));
            var zoo = ResolveModel(parse.GetValue(model)!);
            var d = zoo.Defaults;
            var options = new TrainerOptions
            {
                Epochs = parse.GetValue(epochs) ?? d.Epochs,
                BatchSize = parse.GetValue(batch) ?? d.BatchSize,
                LearningRate = parse.GetValue(lr) ?? d.LearningRate,
                Optimizer = parse.GetValue(optimizer) ?? d.Optimizer,
                Schedule = parse.GetValue(schedule) ?? d.Schedule,
                WeightDecay = parse.GetValue(weightDecay) ?? d.WeightDecay,
                Momentum = d.Momentum,
                Limit = parse.GetValue(limit),
                Seed = parse.GetValue(seed),
                Augment = zoo.Dataset != Training.Data.DatasetKind.Mnist,
            };
            if (options.Validate() is { } problem) throw new UserInputException(problem);
            if (options.Epochs < 1) throw new UserInputException($"--epochs must be at least 1, got {options.Epochs}");
            var stop = parse.GetValue(stopAfter);
            if (stop is < 1) throw new UserInputException($"--stop-after-epoch must be at least 1, got {stop}");
            if (zoo.Dataset == Training.Data.DatasetKind.Text && parallel is not null)
                throw new UserInputException($"--distributed trains the image models; '{zoo.Name}' (a language model) trains on one process");
            if (zoo.Dataset == Training.Data.DatasetKind.Text)
                return LanguageModelTraining.Run(parse, lm, output, options, parse.GetValue(data), parse.GetValue(outPath), parse.GetValue(resume), stop);
            lm.RejectFor(parse, zoo.Name);
            string outFile = parse.GetValue(outPath) ?? $"{zoo.Name}.ckpt";
            CheckWritable(outFile);
            Checkpoint? resumeFrom = parse.GetValue(resume) is { } r ? Checkpoint.Load(r) : null;

            var splits = CommonOptions.LoadData(zoo, parse.GetValue(data), options.Limit);
            output.Info($"training {zoo.Name} on {splits.Name}: {splits.Train.Count} train / {splits.Test.Count} test examples, " +
                        $"{options.Epochs} epochs, {options.Optimizer} lr {options.LearningRate} ({options.Schedule}), batch {options.BatchSize}, seed {options.Seed}");
            var display = new TrainingProgressDisplay(output);
            if (parallel is not null)
                output.Info($"data-parallel over {parallel.Communicator.Size} MPI ranks, gradients as {parallel.Codec.Name}");
            ModelTrainer.ConfigureThreads();
            using var module = ModelTrainer.CreateModule(zoo, options.Seed);
            using var tracker = parse.GetValue(trackImportance) ? new GradientImportanceTracker(module.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal)) : null;
            var trainer = new ModelTrainer(zoo, options, splits, tracker is null ? null : [tracker], display, parallel);
            var result = display.Run(() => trainer.Run(outFile, resumeFrom, outFile + ".jsonl", stop, module));
            int epochsDone = result.Checkpoint.Header["epochs_done"]?.GetValue<int>() ?? 0;
            output.Result(new
            {
                model = zoo.Name,
                data = splits.Name,
                epochs = epochsDone,
                train_examples = splits.Train.Count,
                test_accuracy = result.TestAccuracy,
                checkpoint = outFile,
                log = outFile + ".jsonl",
                seconds_per_epoch = result.Epochs.Count > 0 ? result.Epochs.Average(e => e.Seconds) : 0,
                distributed = DistributedSummary(parallel),
            }, console =>
            {
                console.MarkupLine($"[green]done[/]: {zoo.Name} test accuracy {result.TestAccuracy:P2} after {epochsDone} epochs; checkpoint {Spectre.Console.Markup.Escape(outFile)}");
                if (parallel is not null) console.MarkupLine(Spectre.Console.Markup.Escape(DistributedLine(parallel)));
            });
            return ExitCodes.Ok;
        })));
        return cmd;
    }

    /// <summary>The JSON figures of a data-parallel run (rank 0's view), or null when not distributed.</summary>
    public static object? DistributedSummary(Training.Distributed.DataParallel? parallel)
    {
        if (parallel is null) return null;
        var s = parallel.Stats;
        return new
        {
            ranks = parallel.Communicator.Size,
            grad_codec = parallel.Codec.Name,
            steps = s.Steps,
            gradient_bytes_per_step = s.GradientBytesPerStep,
            fp32_gradient_bytes_per_step = 4.0 * parallel.GradientValues,
            gradient_ring_model_bytes_per_step = s.Steps == 0 ? 0 : s.GradientRingModelBytes / s.Steps,
            total_bytes_sent = s.TotalBytes,
            compute_seconds = s.ComputeSeconds,
            codec_seconds = s.CodecSeconds,
            communication_seconds = s.CommunicationSeconds,
        };
    }

    /// <summary>One human line with the figures of a data-parallel run.</summary>
    public static string DistributedLine(Training.Distributed.DataParallel parallel)
    {
        var s = parallel.Stats;
        return $"{parallel.Communicator.Size} ranks, gradients {parallel.Codec.Name}: {s.GradientBytesPerStep:N0} bytes sent per rank per step " +
               $"(fp32 {4.0 * parallel.GradientValues:N0}); compute {s.ComputeSeconds:F1}s, codec {s.CodecSeconds:F1}s, communication {s.CommunicationSeconds:F1}s (rank 0)";
    }

    /// <summary>The zoo model of that name, or a user error listing the names.</summary>
    public static ZooModel ResolveModel(string name)
    {
        try { return ModelZoo.Get(name); }
        catch (ArgumentException e) { throw new UserInputException(e.Message); }
    }

    /// <summary>Fails early (before any work) when <paramref name="path"/> cannot be written.</summary>
    public static void CheckWritable(string path)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new UserInputException($"--out {path}: folder '{dir}' does not exist");
        if (Directory.Exists(full)) throw new UserInputException($"--out {path}: is a folder, expected a file name");
        var probe = Path.Combine(dir, $".slimnet-write-test-{Environment.ProcessId}");
        try
        {
            File.WriteAllBytes(probe, Array.Empty<byte>());
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserInputException($"--out {path}: cannot write in '{dir}': {e.Message}");
        }
    }
}
