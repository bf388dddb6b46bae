using SlimNet.Training.Data;

namespace SlimNet.Training.Tests.Data;

public class MnistLayoutTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FolderRoundTrips(bool gzip)
    {
        using var dir = new TempDirectory();
        var (train, test) = SyntheticData.WriteMnistLayout(dir.Path, 50, 20, seed: 4, gzip: gzip);
        var splits = MnistLayout.Find(dir.Path).Load("synthetic");
        Assert.Equal("synthetic", splits.Name);
        Assert.Equal(50, splits.Train.Count);
        Assert.Equal(20, splits.Test.Count);
        Assert.Equal([1, 28, 28], splits.Train.Shape);
        Assert.Equal(10, splits.Train.ClassCount);
        Assert.Equal(train.Pixels, splits.Train.Pixels.ToArray());
        Assert.Equal(train.Labels, splits.Train.Labels.ToArray());
        Assert.Equal(test.Pixels, splits.Test.Pixels.ToArray());
        Assert.Equal(test.Labels, splits.Test.Labels.ToArray());
        Assert.Equal("synthetic/train", splits.Train.Name);
    }

    [Fact]
    public void FashionStyleFolderLoadsThroughDataSourcesNamedAfterFolder()
    {
        using var dir = new TempDirectory();
        var folder = Path.Combine(dir.Path, "fashion-mnist");
        SyntheticData.WriteMnistLayout(folder, 40, 10, gzip: true);
        var splits = DataSources.Load(DatasetKind.Mnist, folder);
        Assert.Equal("fashion-mnist", splits.Name);
        Assert.Equal(40, splits.Train.Count);
        // Statistics come from that folder's training split, not MNIST's constants.
        var own = splits.Train.ComputeNormalization();
        Assert.Equal(own, splits.Normalization);
    }

    [Fact]
    public void DottedNamesAreAccepted()
    {
        using var dir = new TempDirectory();
        SyntheticData.WriteMnistLayout(dir.Path, 10, 5);
        foreach (var name in MnistLayout.StandardNames)
        {
            int dash = name.IndexOf("-idx", StringComparison.Ordinal);
            File.Move(dir.File(name), dir.File(name[..dash] + "." + name[(dash + 1)..]));
        }
        var layout = MnistLayout.Find(dir.Path);
        Assert.EndsWith("train-images.idx3-ubyte", layout.TrainImages);
        Assert.Equal(10, layout.Load("x").Train.Count);
    }

    [Fact]
    public void MissingFileNamesTheExpectedNames()
    {
        using var dir = new TempDirectory();
        SyntheticData.WriteMnistLayout(dir.Path, 10, 5);
        File.Delete(dir.File("t10k-labels-idx1-ubyte"));
        var e = Assert.Throws<DatasetException>(() => MnistLayout.Find(dir.Path));
        Assert.Contains("no t10k-labels-idx1-ubyte or t10k-labels-idx1-ubyte.gz", e.Message);
        Assert.Contains("train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte", e.Message);
    }

    [Fact]
    public void MissingFolderIsReported()
    {
        using var dir = new TempDirectory();
        var e = Assert.Throws<DatasetException>(() => DataSources.Load(DatasetKind.Mnist, dir.File("absent")));
        Assert.Contains("absent: no such folder", e.Message);
    }

    [Fact]
    public void ImageAndLabelCountsMustAgree()
    {
        using var dir = new TempDirectory();
        SyntheticData.WriteMnistLayout(dir.Path, 10, 5);
        SyntheticData.WriteFile(dir.File("train-labels-idx1-ubyte"), SyntheticData.IdxBytes([9], new byte[9]), gzip: false);
        var e = Assert.Throws<DatasetException>(() => MnistLayout.Find(dir.Path).Load("x"));
        Assert.Equal("train-images-idx3-ubyte holds 10 images but train-labels-idx1-ubyte holds 9 labels; they must be equal", e.Message);
    }

    [Fact]
    public void LabelOutOfRangeIsReported()
    {
        using var dir = new TempDirectory();
        SyntheticData.WriteMnistLayout(dir.Path, 10, 5);
        var labels = new byte[5];
        labels[3] = 10;
        SyntheticData.WriteFile(dir.File("t10k-labels-idx1-ubyte"), SyntheticData.IdxBytes([5], labels), gzip: false);
        var e = Assert.Throws<DatasetException>(() => MnistLayout.Find(dir.Path).Load("x"));
        Assert.Equal("t10k-labels-idx1-ubyte: label 10 of example 3 is outside 0..9", e.Message);
    }

    [Fact]
    public void SplitsWithDifferentImageSizesAreRejected()
    {
        using var dir = new TempDirectory();
        SyntheticData.WriteMnistLayout(dir.Path, 10, 5);
        SyntheticData.WriteFile(dir.File("t10k-images-idx3-ubyte"), SyntheticData.IdxBytes([5, 32, 32], new byte[5 * 32 * 32]), gzip: false);
        var e = Assert.Throws<DatasetException>(() => MnistLayout.Find(dir.Path).Load("x"));
        Assert.Contains("training images are 28×28 but test images are 32×32", e.Message);
    }

    [Fact]
    public void ABrokenFileInsideTheFolderIsNamed()
    {
        using var dir = new TempDirectory();
        SyntheticData.WriteMnistLayout(dir.Path, 10, 5, gzip: true);
        var bytes = SyntheticData.IdxBytes([10, 28, 28], new byte[10 * 28 * 28]);
        SyntheticData.WriteFile(dir.File("train-images-idx3-ubyte.gz"), bytes.AsSpan(0, 1000), gzip: true);
        var e = Assert.Throws<DatasetException>(() => MnistLayout.Find(dir.Path).Load("x"));
        Assert.Equal("train-images-idx3-ubyte.gz: truncated: header declares 10×28×28 = 7840 bytes of pixels, file has 984", e.Message);
    }

    [Fact]
    public void ChecksumMismatchIsReported()
    {
        using var dir = new TempDirectory();
        SyntheticData.WriteMnistLayout(dir.Path, 10, 5);
        var sums = MnistLayout.StandardNames.ToDictionary(n => n, _ => new string('0', 64));
        var e = Assert.Throws<DatasetException>(() => MnistLayout.Find(dir.Path).Load("x", sums));
        Assert.Contains("SHA-256 of the decompressed content is", e.Message);
        Assert.Contains("expected 0000", e.Message);
    }

    [Fact]
    public void LimitKeepsTheFirstTrainingExamples()
    {
        using var dir = new TempDirectory();
        var (train, _) = SyntheticData.WriteMnistLayout(dir.Path, 30, 7);
        var splits = DataSources.Load(DatasetKind.Mnist, dir.Path, limit: 12);
        Assert.Equal(12, splits.Train.Count);
        Assert.Equal(7, splits.Test.Count);
        Assert.Equal(train.Labels.Take(12), splits.Train.Labels.ToArray());
        Assert.Equal(train.Pixels.Take(12 * 784), splits.Train.Pixels.ToArray());
        Assert.Same(splits.Train, splits.Train.Take(100));
        var e = Assert.Throws<DatasetException>(() => DataSources.Load(DatasetKind.Mnist, dir.Path, limit: 0));
        Assert.Contains("--limit 0", e.Message);
    }
}
