using System.CommandLine;
using SlimNet.Training.Checkpoints;
using SlimNet.Training.Trainer;

namespace SlimNet.Cli.Commands;

/// <summary><c>slimnet eval</c>: test accuracy of a checkpoint with TorchSharp.</summary>
public static class EvalCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Checkpoint file written by 'slimnet train'", Required = true };
        var data = CommonOptions.Data();
        var json = CommonOptions.Json();
        var cmd = new Command("eval", "Evaluate a checkpoint on the test split") { checkpoint, data, json };
        cmd.SetAction(parse => ExitCodes.Guard(() =>
        {
            var output = new CliOutput(parse.GetValue(json));
            string path = parse.GetValue(checkpoint)!;
            if (!File.Exists(path)) throw new UserInputException($"--checkpoint {path}: no such file");
            var ckpt = Checkpoint.Load(path);
            var zoo = TrainCommand.ResolveModel(ckpt.ModelName);
            var splits = CommonOptions.LoadData(zoo, parse.GetValue(data));
            ModelTrainer.ConfigureThreads();
            using var module = ModelTrainer.CreateModule(zoo, 0);
            ModelTensors.Restore(module, ckpt.Model, path);
            var (acc, loss) = Evaluator.Evaluate(module, splits.Test, splits.Normalization);
            output.Result(new { model = zoo.Name, data = splits.Name, test_examples = splits.Test.Count, test_accuracy = acc, test_loss = loss },
                console => console.MarkupLine($"{zoo.Name} on {Spectre.Console.Markup.Escape(splits.Name)}: test accuracy [green]{acc:P2}[/] (loss {loss:F4}, {splits.Test.Count} examples)"));
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}
