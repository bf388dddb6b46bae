namespace SlimNet.Training.Data;

/// <summary>
/// The four files of a dataset in the MNIST IDX layout inside one folder, found by their standard names
/// (<c>train-images-idx3-ubyte</c>, <c>train-labels-idx1-ubyte</c>, <c>t10k-images-idx3-ubyte</c>,
/// <c>t10k-labels-idx1-ubyte</c>), each raw or with <c>.gz</c>. Fashion-MNIST and KMNIST ship under the
/// same names, so any of them loads from its folder. The dot-separated variant
/// (<c>train-images.idx3-ubyte</c>) is accepted too.
/// </summary>
/// <param name="Directory">The folder searched.</param>
/// <param name="TrainImages">Path of the training images file.</param>
/// <param name="TrainLabels">Path of the training labels file.</param>
/// <param name="TestImages">Path of the test images file.</param>
/// <param name="TestLabels">Path of the test labels file.</param>
public sealed record MnistLayout(string Directory, string TrainImages, string TrainLabels, string TestImages, string TestLabels)
{
    /// <summary>Standard (decompressed) file names: train images, train labels, test images, test labels.</summary>
    public static IReadOnlyList<string> StandardNames { get; } =
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    /// <summary>Number of classes in MNIST-layout datasets (digits, Fashion-MNIST articles, KMNIST).</summary>
    public const int ClassCount = 10;

    /// <summary>Finds the four files in <paramref name="directory"/>.</summary>
    /// <exception cref="DatasetException">The folder or one of the files is missing; the message lists the names looked for.</exception>
    public static MnistLayout Find(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!System.IO.Directory.Exists(directory))
            throw new DatasetException($"{directory}: no such folder; expected a folder holding {string.Join(", ", StandardNames)} (each optionally .gz)");
        var found = new string[4];
        for (int i = 0; i < 4; i++)
        {
            found[i] = FindOne(directory, StandardNames[i])
                ?? throw new DatasetException($"{directory}: no {StandardNames[i]} or {StandardNames[i]}.gz; an MNIST-layout folder holds {string.Join(", ", StandardNames)} (each optionally .gz)");
        }
        return new MnistLayout(directory, found[0], found[1], found[2], found[3]);
    }

    /// <summary>
    /// Reads the four files and checks they agree: rank-3 images and rank-1 labels, the same number of
    /// images as labels in each split, the same image size in both splits, labels below 10.
    /// </summary>
    /// <param name="name">Dataset name for messages and reports.</param>
    /// <param name="expectedSha256">When given, SHA-256 (lower-case hex) of each decompressed file by its
    /// standard name; a mismatch throws. Used for the embedded MNIST copy.</param>
    /// <exception cref="DatasetException">A file is invalid, the files disagree, or a checksum differs.</exception>
    public DataSplits Load(string name, IReadOnlyDictionary<string, string>? expectedSha256 = null)
    {
        bool hash = expectedSha256 is not null;
        // The two big image files are independent: decompress them in parallel.
        var trainImagesTask = Task.Run(() => IdxReader.ReadImages(TrainImages, hash));
        IdxArray testImages, trainLabels, testLabels;
        try
        {
            testImages = IdxReader.ReadImages(TestImages, hash);
            trainLabels = IdxReader.ReadLabels(TrainLabels, hash);
            testLabels = IdxReader.ReadLabels(TestLabels, hash);
        }
        catch
        {
            // Do not leave the other read running (or its failure unobserved) behind the first error.
            try { trainImagesTask.Wait(); } catch (AggregateException) { }
            throw;
        }
        var trainImages = trainImagesTask.GetAwaiter().GetResult();

        if (expectedSha256 is not null)
        {
            Check(expectedSha256, StandardNames[0], trainImages);
            Check(expectedSha256, StandardNames[1], trainLabels);
            Check(expectedSha256, StandardNames[2], testImages);
            Check(expectedSha256, StandardNames[3], testLabels);
        }

        if (trainImages.Dimensions[1] != testImages.Dimensions[1] || trainImages.Dimensions[2] != testImages.Dimensions[2])
            throw new DatasetException($"{Directory}: training images are {trainImages.Dimensions[1]}×{trainImages.Dimensions[2]} but test images are {testImages.Dimensions[1]}×{testImages.Dimensions[2]}");
        var train = Build($"{name}/train", trainImages, trainLabels);
        var test = Build($"{name}/test", testImages, testLabels);
        return new DataSplits(name, train, test, train.ComputeNormalization());
    }

    private static Dataset Build(string name, IdxArray images, IdxArray labels)
    {
        int n = images.Dimensions[0];
        if (labels.Dimensions[0] != n)
            throw new DatasetException($"{images.FileName} holds {n} images but {labels.FileName} holds {labels.Dimensions[0]} labels; they must be equal");
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            byte label = labels.Data[i];
            if (label >= ClassCount)
                throw new DatasetException($"{labels.FileName}: label {label} of example {i} is outside 0..{ClassCount - 1}");
            y[i] = label;
        }
        return new Dataset(name, images.Data, y, 1, images.Dimensions[1], images.Dimensions[2], ClassCount);
    }

    private static void Check(IReadOnlyDictionary<string, string> sums, string standardName, IdxArray file)
    {
        if (!sums.TryGetValue(standardName, out var want))
            throw new DatasetException($"{file.FileName}: no SHA-256 listed for {standardName}");
        if (!string.Equals(want, file.Sha256, StringComparison.OrdinalIgnoreCase))
            throw new DatasetException($"{file.FileName}: SHA-256 of the decompressed content is {file.Sha256}, expected {want}; the file is damaged or not the shipped copy");
    }

    private static string? FindOne(string directory, string standardName)
    {
        // Also the "train-images.idx3-ubyte" spelling some mirrors use.
        int dash = standardName.IndexOf("-idx", StringComparison.Ordinal);
        string dotted = standardName[..dash] + "." + standardName[(dash + 1)..];
        foreach (var candidate in new[] { standardName, standardName + ".gz", dotted, dotted + ".gz" })
        {
            var path = Path.Combine(directory, candidate);
            if (File.Exists(path)) return path;
        }
        return null;
    }
}
