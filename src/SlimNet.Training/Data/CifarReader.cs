namespace SlimNet.Training.Data;

/// <summary>
/// Reads the CIFAR-10 and CIFAR-100 "binary version" files (Krizhevsky, 2009).
/// <list type="bullet">
/// <item>CIFAR-10: records of 1 label byte (0..9) and 3072 pixel bytes (1024 red, 1024 green, 1024 blue,
/// each a 32×32 plane in row-major order); training files <c>data_batch_1.bin</c> … <c>data_batch_5.bin</c>
/// (10,000 records each), test file <c>test_batch.bin</c>.</item>
/// <item>CIFAR-100: records of 2 label bytes (coarse 0..19, fine 0..99) and the same 3072 pixel bytes;
/// files <c>train.bin</c> (50,000) and <c>test.bin</c> (10,000). The fine label is used.</item>
/// </list>
/// The pixel layout is already CHW, so records copy straight into a <see cref="Dataset"/>. The format has
/// no magic number: a file is accepted when its length is a non-zero multiple of the record size and
/// every label is in range, which also rejects most foreign files.
/// </summary>
public static class CifarReader
{
    /// <summary>Image side in pixels.</summary>
    public const int ImageSide = 32;

    /// <summary>Colour channels.</summary>
    public const int Channels = 3;

    /// <summary>Pixel bytes per record: 3 × 32 × 32.</summary>
    public const int PixelBytes = Channels * ImageSide * ImageSide;

    /// <summary>CIFAR-10 record size: 1 label byte + 3072 pixel bytes.</summary>
    public const int Cifar10RecordSize = 1 + PixelBytes;

    /// <summary>CIFAR-100 record size: 2 label bytes (coarse, fine) + 3072 pixel bytes.</summary>
    public const int Cifar100RecordSize = 2 + PixelBytes;

    /// <summary>The standard sub-folder of the CIFAR-10 binary archive.</summary>
    public const string Cifar10Folder = "cifar-10-batches-bin";

    /// <summary>The standard sub-folder of the CIFAR-100 binary archive.</summary>
    public const string Cifar100Folder = "cifar-100-binary";

    /// <summary>CIFAR-10 training file names, in order.</summary>
    public static IReadOnlyList<string> Cifar10TrainFiles { get; } =
        ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];

    /// <summary>CIFAR-10 test file name.</summary>
    public const string Cifar10TestFile = "test_batch.bin";

    /// <summary>CIFAR-100 training file name.</summary>
    public const string Cifar100TrainFile = "train.bin";

    /// <summary>CIFAR-100 test file name.</summary>
    public const string Cifar100TestFile = "test.bin";

    /// <summary>
    /// Loads CIFAR-10 from <paramref name="directory"/>, which holds the <c>.bin</c> files itself or in its
    /// <c>cifar-10-batches-bin</c> sub-folder. Normalisation: <see cref="ChannelNormalization.Cifar10"/>.
    /// </summary>
    /// <exception cref="DatasetException">A file is missing or malformed.</exception>
    public static DataSplits LoadCifar10(string directory)
    {
        var dir = Locate(directory, Cifar10Folder, [.. Cifar10TrainFiles, Cifar10TestFile], "CIFAR-10");
        var train = ReadFiles("cifar10/train", Cifar10TrainFiles.Select(f => Path.Combine(dir, f)).ToArray(), hundred: false);
        var test = ReadFiles("cifar10/test", [Path.Combine(dir, Cifar10TestFile)], hundred: false);
        return new DataSplits("cifar10", train, test, ChannelNormalization.Cifar10);
    }

    /// <summary>
    /// Loads CIFAR-100 (fine labels) from <paramref name="directory"/>, which holds <c>train.bin</c> and
    /// <c>test.bin</c> itself or in its <c>cifar-100-binary</c> sub-folder. Normalisation:
    /// <see cref="ChannelNormalization.Cifar100"/>.
    /// </summary>
    /// <exception cref="DatasetException">A file is missing or malformed.</exception>
    public static DataSplits LoadCifar100(string directory)
    {
        var dir = Locate(directory, Cifar100Folder, [Cifar100TrainFile, Cifar100TestFile], "CIFAR-100");
        var train = ReadFiles("cifar100/train", [Path.Combine(dir, Cifar100TrainFile)], hundred: true);
        var test = ReadFiles("cifar100/test", [Path.Combine(dir, Cifar100TestFile)], hundred: true);
        return new DataSplits("cifar100", train, test, ChannelNormalization.Cifar100);
    }

    /// <summary>Reads one CIFAR-10 binary file into a dataset named <paramref name="name"/>.</summary>
    /// <exception cref="DatasetException">The file is missing, empty, not a whole number of records, or has a label above 9.</exception>
    public static Dataset ReadCifar10File(string path, string name) => ReadFiles(name, [path], hundred: false);

    /// <summary>Reads one CIFAR-100 binary file (fine labels) into a dataset named <paramref name="name"/>.</summary>
    /// <exception cref="DatasetException">The file is missing, empty, not a whole number of records, or has a label out of range.</exception>
    public static Dataset ReadCifar100File(string path, string name) => ReadFiles(name, [path], hundred: true);

    private static string Locate(string directory, string subFolder, string[] files, string what)
    {
        ArgumentNullException.ThrowIfNull(directory);
        foreach (var dir in new[] { directory, Path.Combine(directory, subFolder) })
        {
            if (files.All(f => File.Exists(Path.Combine(dir, f)))) return dir;
        }
        if (!Directory.Exists(directory))
            throw new DatasetException($"{directory}: no such folder; expected the {what} binary files ({string.Join(", ", files)})");
        var dirForMessage = Directory.Exists(Path.Combine(directory, subFolder)) ? Path.Combine(directory, subFolder) : directory;
        var missing = files.Where(f => !File.Exists(Path.Combine(dirForMessage, f)));
        throw new DatasetException($"{directory}: missing {string.Join(", ", missing)}; a {what} folder holds {string.Join(", ", files)} (directly or in {subFolder}/)");
    }

    private static Dataset ReadFiles(string name, string[] paths, bool hundred)
    {
        int recordSize = hundred ? Cifar100RecordSize : Cifar10RecordSize;
        int classes = hundred ? 100 : 10;
        var lengths = new long[paths.Length];
        long records = 0;
        for (int f = 0; f < paths.Length; f++)
        {
            var info = new FileInfo(paths[f]);
            if (!info.Exists)
                throw DatasetException.For(paths[f], "no such file");
            long length = info.Length;
            if (length == 0)
                throw DatasetException.For(paths[f], $"empty file; expected {(hundred ? "CIFAR-100" : "CIFAR-10")} records of {recordSize} bytes");
            if (length % recordSize != 0)
                throw DatasetException.For(paths[f], $"length {length} is not a multiple of the {(hundred ? "CIFAR-100" : "CIFAR-10")} record size {recordSize} ({length / recordSize} whole records and {length % recordSize} bytes over); the file is truncated or not in that format");
            lengths[f] = length;
            records += length / recordSize;
        }
        if (records * PixelBytes > Array.MaxLength)
            throw new DatasetException($"{name}: {records} records are too many to hold in memory");

        int n = (int)records;
        var pixels = new byte[n * PixelBytes];
        var labels = new int[n];
        var record = new byte[recordSize];
        int index = 0;
        for (int f = 0; f < paths.Length; f++)
        {
            using var stream = new FileStream(paths[f], FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            long count = lengths[f] / recordSize;
            for (long r = 0; r < count; r++, index++)
            {
                stream.ReadExactly(record);
                int label = hundred ? record[1] : record[0];
                if (label >= classes)
                    throw DatasetException.For(paths[f], $"record {r}: {(hundred ? "fine " : "")}label {label} is outside 0..{classes - 1}; the file is damaged or not in {(hundred ? "CIFAR-100" : "CIFAR-10")} format");
                if (hundred && record[0] >= 20)
                    throw DatasetException.For(paths[f], $"record {r}: coarse label {record[0]} is outside 0..19; the file is damaged or not in CIFAR-100 format");
                labels[index] = label;
                record.AsSpan(recordSize - PixelBytes).CopyTo(pixels.AsSpan(index * PixelBytes, PixelBytes));
            }
        }
        return new Dataset(name, pixels, labels, Channels, ImageSide, ImageSide, classes);
    }
}
