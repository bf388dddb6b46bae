using System.CommandLine;
using SlimNet.Format.Graph;
using SlimNet.Training.Checkpoints;
using SlimNet.Training.Data;
using SlimNet.Training.Models;
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

    private IEnumerable<Option> All => new Option[] { Hidden, Layers, Norm, Bptt, Clip };

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

/// <summary><c>slimnet train --model char-lstm</c>: trains a character language model on a text file.</summary>
public static class LanguageModelTraining
{
    /// <summary>Loads the corpus (<paramref name="dataFile"/> or the embedded Moby Dick) for windows of <paramref name="sequenceLength"/>.</summary>
    public static TextCorpus LoadCorpus(string? dataFile, int sequenceLength)
    {
        if (dataFile is null) return TextCorpus.LoadDefault(sequenceLength);
        if (Directory.Exists(dataFile)) throw new UserInputException($"--data {dataFile}: is a folder; char-lstm reads one UTF-8 text file");
        if (!File.Exists(dataFile)) throw new UserInputException($"--data {dataFile}: no such file");
        return TextCorpus.Load(dataFile, sequenceLength);
    }

    /// <summary>Runs the training and prints the result; returns the exit code.</summary>
    public static int Run(ParseResult parse, LanguageModelOptionSet lm, CliOutput output, TrainerOptions training, string? dataFile, string? outPath,
        string? resumePath, int? stop)
    {
        LstmNormalization norm;
        try { norm = CharLstmConfig.ParseNormalization(parse.GetValue(lm.Norm)!); }
        catch (ArgumentException e) { throw new UserInputException($"--norm: {e.Message}"); }
        var options = new LanguageModelOptions { Training = training, SequenceLength = parse.GetValue(lm.Bptt), ClipNorm = parse.GetValue(lm.Clip) };
        if (options.Validate() is { } problem) throw new UserInputException(problem);
        int hidden = parse.GetValue(lm.Hidden), layers = parse.GetValue(lm.Layers);
        if (new CharLstmConfig(1, hidden, layers, norm).Validate() is { } bad) throw new UserInputException(bad);
        string outFile = outPath ?? "char-lstm.ckpt";
        TrainCommand.CheckWritable(outFile);
        Checkpoint? resumeFrom = resumePath is { } r ? Checkpoint.Load(r) : null;
        var corpus = LoadCorpus(dataFile, options.SequenceLength);
        var config = new CharLstmConfig(corpus.VocabularySize, hidden, layers, norm);
        LanguageModelTrainer trainer;
        try { trainer = new LanguageModelTrainer(config, options, corpus); }
        catch (ArgumentException e) { throw new UserInputException(e.Message); }
        output.Info($"training char-lstm ({layers}x{hidden}, {CharLstmConfig.NormalizationName(norm)} normalization) on {corpus.Name}: " +
                    $"{corpus.VocabularySize} characters, {corpus.Train.Length:N0} train / {corpus.Validation.Length:N0} validation / {corpus.Test.Length:N0} test, " +
                    $"{training.Epochs} epochs of {trainer.WindowsPerEpoch} windows ({training.BatchSize} streams x {options.SequenceLength}), " +
                    $"{training.Optimizer} lr {training.LearningRate} ({training.Schedule}), clip {options.ClipNorm}, seed {training.Seed}");
        var display = new TrainingProgressDisplay(output);
        var result = display.Run(() => trainer.Run(outFile, resumeFrom, outFile + ".jsonl", stop));
        int epochsDone = result.Checkpoint.Header["epochs_done"]?.GetValue<int>() ?? 0;
        output.Result(new
        {
            model = "char-lstm",
            data = corpus.Name,
            hidden,
            layers,
            normalization = CharLstmConfig.NormalizationName(norm),
            epochs = epochsDone,
            train_characters = Math.Min(corpus.Train.Length, training.Limit ?? int.MaxValue),
            validation_bpc = result.ValidationBpc,
            test_bpc = result.TestBpc,
            checkpoint = outFile,
            log = outFile + ".jsonl",
            seconds_per_epoch = result.Epochs.Count > 0 ? result.Epochs.Average(e => e.Seconds) : 0,
        }, console => console.MarkupLine($"[green]done[/]: char-lstm test {result.TestBpc:F4} bits per character (validation {result.ValidationBpc:F4}) after {epochsDone} epochs; checkpoint {Spectre.Console.Markup.Escape(outFile)}"));
        return ExitCodes.Ok;
    }
}
