using System.Text;
using SlimNet.Training.Data;

namespace SlimNet.Training.Tests.Data;

// Not run in parallel with other classes: loading the embedded corpus allocates ~50 MB, which DataLoaderTests'
// process-wide managed-heap check would count as its own growth.
[Collection("torch")]
public class TextCorpusTests
{
    [Fact]
    public void SplitIsContiguous90_5_5AndVocabularyIsSortedDistinctCharacters()
    {
        var text = string.Concat(Enumerable.Range(0, 100).Select(i => (char)('a' + i % 7))) + "é→𝄞";
        var corpus = TextCorpus.FromText("t", text, sequenceLength: 2);
        int n = text.EnumerateRunes().Count();
        Assert.Equal(103, n);
        Assert.Equal((int)(n * 0.9), corpus.Train.Length);
        Assert.Equal((int)(n * 0.95) - (int)(n * 0.9), corpus.Validation.Length);
        Assert.Equal(n - (int)(n * 0.95), corpus.Test.Length);
        Assert.Equal("abcdefgé→𝄞", corpus.Vocabulary);
        Assert.Equal(10, corpus.VocabularySize);
        // The concatenated splits decode back to the text, in order.
        var all = corpus.Train.Concat(corpus.Validation).Concat(corpus.Test).Select(i => corpus.VocabularyCodePoints[i]);
        Assert.Equal(text, TextCorpus.VocabularyText(all));
        Assert.Equal(new[] { 0, 7, 9 }, corpus.Encode("aé𝄞"));
        Assert.Contains("'z'", Assert.Throws<ArgumentException>(() => corpus.Encode("z")).Message);
        Assert.Equal(corpus.VocabularyCodePoints, TextCorpus.ParseVocabulary(corpus.Vocabulary));
    }

    [Fact]
    public void EmptyBinaryInvalidAndShortFilesGiveOneLineErrors()
    {
        using var dir = new TempDirectory();
        void Check(string name, byte[] bytes, string expected)
        {
            var path = dir.File(name);
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<DatasetException>(() => TextCorpus.Load(path, 100));
            Assert.Contains(name, e.Message);
            Assert.Contains(expected, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        Check("empty.txt", [], "empty");
        Check("bom-only.txt", [0xEF, 0xBB, 0xBF], "empty");
        Check("nul.bin", Encoding.UTF8.GetBytes(new string('a', 5000) + "\0b"), "NUL byte at offset 5,000");
        Check("latin1.txt", [.. Encoding.UTF8.GetBytes(new string('a', 3000)), 0xE9, 0x20, 0x61], "not a UTF-8 text file");
        Check("short.txt", Encoding.UTF8.GetBytes(new string('x', 2000)), "too short for one sequence of 100");
        // The boundary: exactly the minimum length loads, one character less does not.
        int min = TextCorpus.MinimumLength(100);
        File.WriteAllText(dir.File("min.txt"), new string('y', min));
        var corpus = TextCorpus.Load(dir.File("min.txt"), 100);
        Assert.True(corpus.Validation.Length >= 101 && corpus.Test.Length >= 101);
        File.WriteAllText(dir.File("min1.txt"), new string('y', min - 1));
        Assert.Throws<DatasetException>(() => TextCorpus.Load(dir.File("min1.txt"), 100));
    }

    [Fact]
    public void EmbeddedMobyDickMatchesItsChecksumAndProvenance()
    {
        var corpus = TextCorpus.LoadDefault(100);
        Assert.Equal("moby-dick", corpus.Name);
        Assert.Equal(83, corpus.VocabularySize);
        Assert.Equal(Models.ModelZoo.DefaultCorpusVocabulary, corpus.VocabularySize);
        Assert.Equal(1_190_317, corpus.Train.Length + corpus.Validation.Length + corpus.Test.Length);
        Assert.StartsWith("CHAPTER 1. Loomings.", TextCorpus.VocabularyText(corpus.Train.Take(20).Select(i => corpus.VocabularyCodePoints[i])));
    }
}
