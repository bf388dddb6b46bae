using System.Diagnostics;
using SlimNet.Training.Data;

namespace SlimNet.Training.Tests.Data;

/// <summary>The real embedded MNIST, loaded once for the class (about a second: 11 MB of gzip and 55 MB hashed).</summary>
public sealed class EmbeddedMnistFixture
{
    public EmbeddedMnistFixture()
    {
        var clock = Stopwatch.StartNew();
        Splits = DefaultData.LoadMnist();
        LoadTime = clock.Elapsed;
    }

    public DataSplits Splits { get; }

    public TimeSpan LoadTime { get; }
}

public class DefaultDataTests : IClassFixture<EmbeddedMnistFixture>
{
    private readonly EmbeddedMnistFixture _mnist;

    public DefaultDataTests(EmbeddedMnistFixture mnist) => _mnist = mnist;

    [Fact]
    public void EmbeddedMnistIsCopiedBesideTheTests()
    {
        // The build copies data/mnist into every output folder that references SlimNet.Training.
        var beside = Path.Combine(AppContext.BaseDirectory, "data", "mnist");
        Assert.Equal(Path.GetFullPath(beside), Path.GetFullPath(DefaultData.MnistDirectory()));
        foreach (var name in MnistLayout.StandardNames)
            Assert.True(File.Exists(Path.Combine(beside, name + ".gz")), name);
        Assert.True(File.Exists(Path.Combine(beside, "SHA256SUMS")));
        Assert.True(File.Exists(Path.Combine(beside, "PROVENANCE.md")));
    }

    [Fact]
    public void EmbeddedMnistLoadsFullSplitsWithVerifiedChecksums()
    {
        var s = _mnist.Splits;
        Assert.Equal("mnist", s.Name);
        Assert.Equal(60000, s.Train.Count);
        Assert.Equal(10000, s.Test.Count);
        Assert.Equal([1, 28, 28], s.Train.Shape);
        Assert.Equal(10, s.Train.ClassCount);
        Assert.Equal(ChannelNormalization.Mnist, s.Normalization);
        // Well-known facts of MNIST: the first training labels, and the class balance of the test set.
        Assert.Equal([5, 0, 4, 1, 9, 2, 1, 3, 1, 4], s.Train.Labels[..10].ToArray());
        Assert.Equal(7, s.Test.Label(0));
        Assert.Equal(1135, s.Test.Labels.ToArray().Count(l => l == 1));
        Assert.True(_mnist.LoadTime < TimeSpan.FromSeconds(20), $"loading took {_mnist.LoadTime}");
    }

    [Fact]
    public void ComputedStatisticsMatchTheStandardConstants()
    {
        var computed = _mnist.Splits.Train.ComputeNormalization();
        Assert.Equal(0.1307, computed.Mean[0], 4);
        Assert.Equal(0.3081, computed.Std[0], 4);
    }

    [Fact]
    public void DataSourcesDefaultsToTheEmbeddedCopy()
    {
        // Same loader path as --data omitted (loads again, verifying the sums), with --limit.
        var s = DataSources.Load(DatasetKind.Mnist, null, limit: 1000);
        Assert.Equal(1000, s.Train.Count);
        Assert.Equal(10000, s.Test.Count);
        Assert.Equal(_mnist.Splits.Train.Pixels[..(1000 * 784)].ToArray(), s.Train.Pixels.ToArray());
    }

    [Fact]
    public void ChecksumListParses()
    {
        var sums = DefaultData.ReadChecksums(Path.Combine(DefaultData.MnistDirectory(), DefaultData.ChecksumFileName));
        Assert.Equal("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", sums["train-images-idx3-ubyte"]);
        Assert.Equal(8, sums.Count);
    }

    [Fact]
    public void MalformedChecksumListIsReported()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("SHA256SUMS"), "# comment\nnot-a-sum  file\n");
        var e = Assert.Throws<DatasetException>(() => DefaultData.ReadChecksums(dir.File("SHA256SUMS")));
        Assert.Equal("SHA256SUMS: line 2 is not '<64 hex digits>  <file name>'", e.Message);
    }
}
