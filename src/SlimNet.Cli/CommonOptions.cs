using System.CommandLine;
using SlimNet.Training.Data;
using SlimNet.Training.Models;

namespace SlimNet.Cli;

/// <summary>Options several commands share, with one meaning everywhere.</summary>
public static class CommonOptions
{
    /// <summary><c>--json</c>: machine-readable output on stdout.</summary>
    public static Option<bool> Json() => new("--json") { Description = "Write the result as JSON (snake_case keys) on stdout" };

    /// <summary><c>--data DIR</c>.</summary>
    public static Option<string?> Data() => new("--data")
    {
        Description = "Dataset folder (MNIST IDX layout for MNIST models, CIFAR binary for CIFAR models); default for MNIST models: the embedded MNIST",
    };

    /// <summary>Loads the data a zoo model expects from <paramref name="directory"/> (null: the default).</summary>
    public static DataSplits LoadData(ZooModel model, string? directory, int? limit = null)
    {
        if (directory is not null && !Directory.Exists(directory))
            throw new UserInputException($"--data {directory}: no such folder");
        return DataSources.Load(model.Dataset, directory, limit);
    }
}
