using SlimNet.Training.Data;

namespace SlimNet.Training.Tests.Data;

public class CifarReaderTests
{
    [Fact]
    public void Cifar10RoundTrips()
    {
        using var dir = new TempDirectory();
        var (train, test) = SyntheticData.WriteCifar10(dir.Path, perTrainFile: 6, testCount: 4, seed: 2);
        var splits = CifarReader.LoadCifar10(dir.Path);
        Assert.Equal(30, splits.Train.Count);
        Assert.Equal(4, splits.Test.Count);
        Assert.Equal([3, 32, 32], splits.Train.Shape);
        Assert.Equal(10, splits.Train.ClassCount);
        Assert.Equal(train.Pixels, splits.Train.Pixels.ToArray());
        Assert.Equal(train.Labels, splits.Train.Labels.ToArray());
        Assert.Equal(test.Pixels, splits.Test.Pixels.ToArray());
        Assert.Equal(test.Labels, splits.Test.Labels.ToArray());
        Assert.Equal(ChannelNormalization.Cifar10, splits.Normalization);
    }

    [Fact]
    public void Cifar10RecordLayoutIsLabelThenRedGreenBluePlanes()
    {
        using var dir = new TempDirectory();
        var record = new byte[CifarReader.Cifar10RecordSize];
        record[0] = 7;
        record[1] = 11;              // red (0,0)
        record[1 + 1024] = 22;       // green (0,0)
        record[1 + 2048 + 33] = 33;  // blue (1,1)
        var path = dir.File("one.bin");
        File.WriteAllBytes(path, record);
        var data = CifarReader.ReadCifar10File(path, "one");
        Assert.Equal(7, data.Label(0));
        var image = data.Image(0);
        Assert.Equal(11, image[0]);
        Assert.Equal(22, image[1024]);
        Assert.Equal(33, image[2048 + 32 + 1]);
    }

    [Fact]
    public void Cifar100RoundTripsWithFineLabels()
    {
        using var dir = new TempDirectory();
        var (train, test) = SyntheticData.WriteCifar100(dir.Path, 25, 5, seed: 3);
        var splits = DataSources.Load(DatasetKind.Cifar100, dir.Path);
        Assert.Equal(100, splits.Train.ClassCount);
        Assert.Equal(train.Labels, splits.Train.Labels.ToArray());
        Assert.Equal(train.Pixels, splits.Train.Pixels.ToArray());
        Assert.Equal(test.Labels, splits.Test.Labels.ToArray());
        Assert.Contains(splits.Train.Labels.ToArray(), l => l >= 20); // fine, not coarse
    }

    [Fact]
    public void StandardSubfoldersAreFound()
    {
        using var dir = new TempDirectory();
        SyntheticData.WriteCifar10(Path.Combine(dir.Path, "cifar-10-batches-bin"), 2, 2);
        SyntheticData.WriteCifar100(Path.Combine(dir.Path, "cifar-100-binary"), 3, 2);
        Assert.Equal(10, DataSources.Load(DatasetKind.Cifar10, dir.Path).Train.Count);
        Assert.Equal(3, DataSources.Load(DatasetKind.Cifar100, dir.Path, limit: 5).Train.Count);
        Assert.Equal(1, DataSources.Load(DatasetKind.Cifar100, dir.Path, limit: 1).Train.Count);
    }

    [Fact]
    public void MissingFilesAreListed()
    {
        using var dir = new TempDirectory();
        SyntheticData.WriteCifar10(dir.Path, 2, 2);
        File.Delete(dir.File("data_batch_3.bin"));
        var e = Assert.Throws<DatasetException>(() => CifarReader.LoadCifar10(dir.Path));
        Assert.Contains("missing data_batch_3.bin", e.Message);
        Assert.Contains("cifar-10-batches-bin/", e.Message);
    }

    [Fact]
    public void NoDefaultForCifar()
    {
        var e = Assert.Throws<DatasetException>(() => DataSources.Load(DatasetKind.Cifar10, null));
        Assert.Contains("CIFAR-10 is not shipped", e.Message);
        Assert.Contains("--data DIR", e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TruncatedFileIsRejected(bool hundred)
    {
        using var dir = new TempDirectory();
        var path = dir.File("test.bin");
        int size = hundred ? CifarReader.Cifar100RecordSize : CifarReader.Cifar10RecordSize;
        File.WriteAllBytes(path, new byte[3 * size - 100]);
        var e = Assert.Throws<DatasetException>(() => hundred ? CifarReader.ReadCifar100File(path, "t") : CifarReader.ReadCifar10File(path, "t"));
        Assert.Equal($"test.bin: length {3 * size - 100} is not a multiple of the {(hundred ? "CIFAR-100" : "CIFAR-10")} record size {size} (2 whole records and {size - 100} bytes over); the file is truncated or not in that format", e.Message);
    }

    [Fact]
    public void EmptyFileIsRejected()
    {
        using var dir = new TempDirectory();
        var path = dir.File("test_batch.bin");
        File.WriteAllBytes(path, []);
        var e = Assert.Throws<DatasetException>(() => CifarReader.ReadCifar10File(path, "t"));
        Assert.StartsWith("test_batch.bin: empty file", e.Message);
    }

    [Fact]
    public void GarbageWithTheRightLengthFailsOnLabels()
    {
        using var dir = new TempDirectory();
        var path = dir.File("data_batch_1.bin");
        var junk = new byte[4 * CifarReader.Cifar10RecordSize];
        new Random(5).NextBytes(junk);
        junk[0] = 3;
        junk[CifarReader.Cifar10RecordSize] = 200;
        File.WriteAllBytes(path, junk);
        var e = Assert.Throws<DatasetException>(() => CifarReader.ReadCifar10File(path, "t"));
        Assert.Equal("data_batch_1.bin: record 1: label 200 is outside 0..9; the file is damaged or not in CIFAR-10 format", e.Message);
    }

    [Fact]
    public void Cifar10FileIsNotMistakenForCifar100()
    {
        // A CIFAR-10 file read as CIFAR-100 has the wrong record size (3073 vs 3074) for most counts.
        using var dir = new TempDirectory();
        SyntheticData.WriteCifar10(dir.Path, 5, 2);
        var e = Assert.Throws<DatasetException>(() => CifarReader.ReadCifar100File(dir.File("data_batch_1.bin"), "t"));
        Assert.Contains("not a multiple of the CIFAR-100 record size 3074", e.Message);
    }

    [Fact]
    public void Cifar100LabelsOutOfRangeAreRejected()
    {
        using var dir = new TempDirectory();
        var path = dir.File("train.bin");
        var records = new byte[2 * CifarReader.Cifar100RecordSize];
        records[CifarReader.Cifar100RecordSize + 1] = 100;
        File.WriteAllBytes(path, records);
        var e = Assert.Throws<DatasetException>(() => CifarReader.ReadCifar100File(path, "t"));
        Assert.Equal("train.bin: record 1: fine label 100 is outside 0..99; the file is damaged or not in CIFAR-100 format", e.Message);
        records[CifarReader.Cifar100RecordSize + 1] = 5;
        records[0] = 20;
        File.WriteAllBytes(path, records);
        e = Assert.Throws<DatasetException>(() => CifarReader.ReadCifar100File(path, "t"));
        Assert.Contains("record 0: coarse label 20 is outside 0..19", e.Message);
    }
}
