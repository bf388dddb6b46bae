namespace SlimNet.Training.Data;

/// <summary>
/// The embedded default dataset: full MNIST (60,000 training and 10,000 test images), shipped as gzip
/// IDX under <c>data/mnist</c> with <c>SHA256SUMS</c> (sums of the decompressed files). It is used when
/// <c>--data</c> is omitted for an MNIST model. Its SHA-256 sums are verified on every load; nothing is
/// cached on disk.
/// </summary>
public static class DefaultData
{
    /// <summary>The checksum list beside the embedded files.</summary>
    public const string ChecksumFileName = "SHA256SUMS";

    /// <summary>
    /// The folder holding the embedded MNIST: first <c>data/mnist</c> beside the application (the build
    /// copies it into every output folder that references SlimNet.Training), then <c>data/mnist</c> in
    /// the current directory or any of its parents (a source checkout).
    /// </summary>
    /// <exception cref="DatasetException">Neither place has it.</exception>
    public static string MnistDirectory()
    {
        var beside = Path.Combine(AppContext.BaseDirectory, "data", "mnist");
        if (HasMnist(beside)) return beside;
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "data", "mnist");
            if (HasMnist(candidate)) return candidate;
        }
        throw new DatasetException($"the embedded MNIST (data/mnist with {ChecksumFileName}) is neither beside the application nor in the current folder or its parents; pass --data DIR");
    }

    /// <summary>Loads the embedded MNIST and verifies every decompressed file against <c>SHA256SUMS</c>.</summary>
    /// <exception cref="DatasetException">The copy is missing, malformed or does not match its checksums.</exception>
    public static DataSplits LoadMnist()
    {
        var dir = MnistDirectory();
        var sums = ReadChecksums(Path.Combine(dir, ChecksumFileName));
        var splits = MnistLayout.Find(dir).Load("mnist", sums);
        return splits with { Normalization = ChannelNormalization.Mnist };
    }

    /// <summary>
    /// Reads a <c>sha256sum</c>-style list (<c>hex  name</c> per line, <c>#</c> comments, an optional
    /// <c>*</c> before binary names) into a map from file name to lower-case hex.
    /// </summary>
    /// <exception cref="DatasetException">The file is missing or a line is malformed.</exception>
    public static IReadOnlyDictionary<string, string> ReadChecksums(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DatasetException($"{Path.GetFileName(path)}: cannot read ({e.Message})", e);
        }
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            int space = line.IndexOfAny([' ', '\t']);
            var hex = space == 64 ? line[..64] : "";
            if (hex.Length != 64 || !hex.All(Uri.IsHexDigit))
                throw DatasetException.For(path, $"line {i + 1} is not '<64 hex digits>  <file name>'");
            var name = line[space..].Trim().TrimStart('*');
            map[name] = hex.ToLowerInvariant();
        }
        return map;
    }

    private static bool HasMnist(string dir) =>
        File.Exists(Path.Combine(dir, ChecksumFileName)) && File.Exists(Path.Combine(dir, "train-images-idx3-ubyte.gz"));
}
