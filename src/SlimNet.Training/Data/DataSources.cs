namespace SlimNet.Training.Data;

/// <summary>The dataset families SlimNet reads.</summary>
public enum DatasetKind
{
    /// <summary>MNIST IDX layout, 1×28×28, 10 classes (MNIST, Fashion-MNIST, KMNIST, …). The embedded MNIST is the default.</summary>
    Mnist,

    /// <summary>CIFAR-10 binary version, 3×32×32, 10 classes.</summary>
    Cifar10,

    /// <summary>CIFAR-100 binary version, 3×32×32, 100 fine classes.</summary>
    Cifar100,

    /// <summary>A UTF-8 text file for character language models (<see cref="TextCorpus"/>); the embedded Moby Dick is the default.</summary>
    Text,
}

/// <summary>
/// Resolves <c>--data</c> for a dataset kind: the one place the command line and the trainer turn a
/// kind and an optional folder into <see cref="DataSplits"/>.
/// </summary>
public static class DataSources
{
    /// <summary>
    /// Loads the splits of <paramref name="kind"/> from <paramref name="directory"/>; for
    /// <see cref="DatasetKind.Mnist"/> a null folder means the embedded MNIST (checksums verified).
    /// <paramref name="limit"/> (<c>--limit N</c>) keeps the first N training examples.
    /// </summary>
    /// <exception cref="DatasetException">The data is missing or malformed; the message is one line for the user.</exception>
    public static DataSplits Load(DatasetKind kind, string? directory, int? limit = null)
    {
        if (limit is <= 0)
            throw new DatasetException($"--limit {limit}: the limit must be a positive number of training examples");
        DataSplits splits = kind switch
        {
            DatasetKind.Mnist when directory is null => DefaultData.LoadMnist(),
            DatasetKind.Mnist => MnistLayout.Find(directory).Load(FolderName(directory)),
            DatasetKind.Cifar10 => CifarReader.LoadCifar10(directory ?? throw NoDefault("CIFAR-10", CifarReader.Cifar10Folder)),
            DatasetKind.Cifar100 => CifarReader.LoadCifar100(directory ?? throw NoDefault("CIFAR-100", CifarReader.Cifar100Folder)),
            DatasetKind.Text => throw new DatasetException("text corpora are not image datasets: a language model is trained with 'slimnet train --model char-lstm [--data FILE]' and sampled with 'slimnet generate'"),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        return splits.WithTrainLimit(limit);
    }

    private static DatasetException NoDefault(string what, string folder) =>
        new($"{what} is not shipped with SlimNet; pass --data DIR pointing at its binary version (the folder holding the .bin files, or the folder that contains {folder}/)");

    private static string FolderName(string directory)
    {
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)));
        return string.IsNullOrEmpty(name) ? "mnist-layout" : name;
    }
}
