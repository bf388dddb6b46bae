using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;

namespace SlimNet.Training.Data;

/// <summary>
/// A character-level text corpus (a definition: immutable): its character vocabulary and the token ids of a
/// deterministic contiguous split — the first 90% of the characters for training, the next 5% for validation,
/// the last 5% for test. The vocabulary is every distinct Unicode scalar value of the whole text, sorted by code
/// point, so every split is encodable and the ids depend on nothing but the text.
/// </summary>
public sealed class TextCorpus
{
    /// <summary>Fraction of the characters in the training split.</summary>
    public const double TrainFraction = 0.90;
    /// <summary>Fraction of the characters in the validation split (the rest after training and validation is test).</summary>
    public const double ValidationFraction = 0.05;

    /// <summary>The embedded corpus's file, under <c>data/moby-dick</c>.</summary>
    public const string DefaultFileName = "moby-dick.txt.gz";

    private TextCorpus(string name, int[] vocabulary, int[] train, int[] validation, int[] test)
    {
        Name = name;
        VocabularyCodePoints = vocabulary;
        Train = train;
        Validation = validation;
        Test = test;
        _index = new Dictionary<int, int>(vocabulary.Length);
        for (int i = 0; i < vocabulary.Length; i++) _index[vocabulary[i]] = i;
    }

    private readonly Dictionary<int, int> _index;

    /// <summary>Short name for messages and checkpoints (<c>moby-dick</c> or the file name).</summary>
    public string Name { get; }
    /// <summary>The vocabulary: code points sorted ascending; token id = position.</summary>
    public IReadOnlyList<int> VocabularyCodePoints { get; }
    /// <summary>The vocabulary as a string (the characters in id order), as stored in checkpoints and .slim metadata.</summary>
    public string Vocabulary => VocabularyText(VocabularyCodePoints);
    /// <summary>Number of distinct characters.</summary>
    public int VocabularySize => VocabularyCodePoints.Count;
    /// <summary>Token ids of the training split.</summary>
    public int[] Train { get; }
    /// <summary>Token ids of the validation split.</summary>
    public int[] Validation { get; }
    /// <summary>Token ids of the test split.</summary>
    public int[] Test { get; }

    /// <summary>
    /// The fewest characters a text needs so that its validation and test splits (5% each) hold one sequence of
    /// <paramref name="sequenceLength"/> inputs plus the target of its last one.
    /// </summary>
    public static int MinimumLength(int sequenceLength) => (int)Math.Ceiling((sequenceLength + 1) / ValidationFraction) + 1;

    /// <summary>
    /// Builds the corpus of <paramref name="text"/>.
    /// </summary>
    /// <exception cref="DatasetException">The text is empty or too short for one sequence of <paramref name="sequenceLength"/>.</exception>
    public static TextCorpus FromText(string name, string text, int sequenceLength)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 1);
        var codePoints = new List<int>(text.Length);
        foreach (var r in text.EnumerateRunes()) codePoints.Add(r.Value);
        if (codePoints.Count == 0) throw new DatasetException($"{name}: the text is empty");
        int needed = MinimumLength(sequenceLength);
        if (codePoints.Count < needed)
            throw new DatasetException($"{name}: {codePoints.Count:N0} characters is too short for one sequence of {sequenceLength}: " +
                                       $"the validation and test splits (5% each) need {sequenceLength + 1} characters, so the text needs at least {needed:N0}");
        var vocabulary = codePoints.Distinct().Order().ToArray();
        var index = new Dictionary<int, int>(vocabulary.Length);
        for (int i = 0; i < vocabulary.Length; i++) index[vocabulary[i]] = i;
        var ids = codePoints.Select(c => index[c]).ToArray();
        int trainEnd = (int)(ids.Length * TrainFraction);
        int validEnd = (int)(ids.Length * (TrainFraction + ValidationFraction));
        return new TextCorpus(name, vocabulary, ids[..trainEnd], ids[trainEnd..validEnd], ids[validEnd..]);
    }

    /// <summary>
    /// Reads a UTF-8 text file (a leading byte-order mark is skipped) and builds its corpus.
    /// </summary>
    /// <exception cref="DatasetException">Missing, unreadable, empty, binary (NUL bytes or invalid UTF-8) or too short; one line naming the file.</exception>
    public static TextCorpus Load(string path, int sequenceLength)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DatasetException($"{path}: cannot read ({e.Message})", e);
        }
        return FromText(Path.GetFileName(path), Decode(bytes, path), sequenceLength);
    }

    /// <summary>
    /// Loads the embedded Moby Dick (<c>data/moby-dick</c>), checking the decompressed text against <c>SHA256SUMS</c>.
    /// </summary>
    /// <exception cref="DatasetException">The copy is missing or does not match its checksum.</exception>
    public static TextCorpus LoadDefault(int sequenceLength)
    {
        var dir = DefaultDirectory();
        var sums = DefaultData.ReadChecksums(Path.Combine(dir, DefaultData.ChecksumFileName));
        var plainName = Path.GetFileNameWithoutExtension(DefaultFileName);
        if (!sums.TryGetValue(plainName, out var expected))
            throw new DatasetException($"{DefaultData.ChecksumFileName} in {dir} has no sum for {plainName}");
        byte[] bytes;
        try
        {
            using var file = File.OpenRead(Path.Combine(dir, DefaultFileName));
            using var gz = new GZipStream(file, CompressionMode.Decompress);
            using var ms = new MemoryStream();
            gz.CopyTo(ms);
            bytes = ms.ToArray();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new DatasetException($"{DefaultFileName}: cannot read ({e.Message})", e);
        }
        var actual = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (actual != expected)
            throw new DatasetException($"{DefaultFileName}: SHA-256 of the text is {actual}, {DefaultData.ChecksumFileName} says {expected}");
        return FromText("moby-dick", Decode(bytes, DefaultFileName), sequenceLength);
    }

    /// <summary>The folder of the embedded corpus: beside the application, else <c>data/moby-dick</c> in the current folder or a parent.</summary>
    /// <exception cref="DatasetException">Neither place has it.</exception>
    public static string DefaultDirectory()
    {
        var beside = Path.Combine(AppContext.BaseDirectory, "data", "moby-dick");
        if (File.Exists(Path.Combine(beside, DefaultFileName))) return beside;
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "data", "moby-dick");
            if (File.Exists(Path.Combine(candidate, DefaultFileName))) return candidate;
        }
        throw new DatasetException("the embedded corpus (data/moby-dick) is neither beside the application nor in the current folder or its parents; pass --data FILE");
    }

    /// <summary>Strict UTF-8 decoding: NUL bytes and invalid sequences are errors (binary files are not text).</summary>
    /// <exception cref="DatasetException">The bytes are empty, hold a NUL byte or are not valid UTF-8.</exception>
    public static string Decode(ReadOnlySpan<byte> bytes, string source)
    {
        if (bytes.IsEmpty) throw new DatasetException($"{Path.GetFileName(source)}: the file is empty");
        int nul = bytes.IndexOf((byte)0);
        if (nul >= 0) throw new DatasetException($"{Path.GetFileName(source)}: not a text file (NUL byte at offset {nul:N0})");
        if (bytes.StartsWith("\uFEFF"u8)) bytes = bytes[3..];
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new DatasetException($"{Path.GetFileName(source)}: not a UTF-8 text file (invalid byte sequence at offset {e.Index:N0})");
        }
    }

    /// <summary>The id of each character of <paramref name="text"/>.</summary>
    /// <exception cref="ArgumentException">A character is not in the vocabulary (the message names it).</exception>
    public int[] Encode(string text) => Encode(text, VocabularyCodePoints);

    /// <summary>The ids of each character of <paramref name="text"/> in <paramref name="vocabulary"/> (code points sorted ascending).</summary>
    /// <exception cref="ArgumentException">A character is not in the vocabulary.</exception>
    public static int[] Encode(string text, IReadOnlyList<int> vocabulary)
    {
        var ids = new List<int>(text.Length);
        var list = vocabulary as int[] ?? vocabulary.ToArray();
        foreach (var r in text.EnumerateRunes())
        {
            int at = Array.BinarySearch(list, r.Value);
            if (at < 0) throw new ArgumentException($"character '{r}' (U+{r.Value:X4}) is not in the model's vocabulary");
            ids.Add(at);
        }
        return ids.ToArray();
    }

    /// <summary>The code points of a vocabulary string (as <see cref="Vocabulary"/> writes it).</summary>
    public static int[] ParseVocabulary(string vocabulary) => vocabulary.EnumerateRunes().Select(r => r.Value).ToArray();

    /// <summary>The vocabulary as a string of its characters in id order.</summary>
    public static string VocabularyText(IEnumerable<int> codePoints)
    {
        var sb = new StringBuilder();
        foreach (int c in codePoints) sb.Append(new Rune(c).ToString());
        return sb.ToString();
    }
}
