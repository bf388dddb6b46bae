using System.IO.Compression;
using SlimNet.Training.Data;

namespace SlimNet.Training.Tests.Data;

public class IdxReaderTests
{
    private static readonly byte[] Pixels = Enumerable.Range(0, 5 * 4 * 3).Select(i => (byte)(i * 7)).ToArray();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ImagesRoundTrip(bool gzip)
    {
        using var dir = new TempDirectory();
        var path = dir.File("images");
        SyntheticData.WriteFile(path, SyntheticData.IdxBytes([5, 4, 3], Pixels), gzip);
        var idx = IdxReader.ReadImages(path, computeSha256: true);
        Assert.Equal([5, 4, 3], idx.Dimensions);
        Assert.Equal(Pixels, idx.Data);
        var raw = SyntheticData.IdxBytes([5, 4, 3], Pixels);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(raw)), idx.Sha256);
    }

    [Fact]
    public void GzipIsDetectedByContentNotByName()
    {
        using var dir = new TempDirectory();
        var rawNamedGz = dir.File("labels.gz");
        SyntheticData.WriteFile(rawNamedGz, SyntheticData.IdxBytes([3], [1, 2, 3]), gzip: false);
        var gzNamedRaw = dir.File("labels");
        SyntheticData.WriteFile(gzNamedRaw, SyntheticData.IdxBytes([3], [4, 5, 6]), gzip: true);
        Assert.Equal([1, 2, 3], IdxReader.ReadLabels(rawNamedGz).Data);
        Assert.Equal([4, 5, 6], IdxReader.ReadLabels(gzNamedRaw).Data);
        Assert.Null(IdxReader.ReadLabels(gzNamedRaw).Sha256);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TruncatedPayloadNamesFileAndSizes(bool gzip)
    {
        using var dir = new TempDirectory();
        var path = dir.File("train-images-idx3-ubyte" + (gzip ? ".gz" : ""));
        var bytes = SyntheticData.IdxBytes([5, 4, 3], Pixels);
        SyntheticData.WriteFile(path, bytes.AsSpan(0, bytes.Length - 10), gzip);
        var e = Assert.Throws<DatasetException>(() => IdxReader.ReadImages(path));
        Assert.Equal($"{Path.GetFileName(path)}: truncated: header declares 5×4×3 = 60 bytes of pixels, file has 50", e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TrailingBytesAreRejected(bool gzip)
    {
        using var dir = new TempDirectory();
        var path = dir.File("t10k-labels-idx1-ubyte");
        SyntheticData.WriteFile(path, [.. SyntheticData.IdxBytes([3], [1, 2, 3]), 9, 9], gzip);
        var e = Assert.Throws<DatasetException>(() => IdxReader.ReadLabels(path));
        Assert.StartsWith("t10k-labels-idx1-ubyte: 2 trailing bytes after", e.Message);
    }

    [Fact]
    public void TruncatedHeaderIsRejected()
    {
        using var dir = new TempDirectory();
        var path = dir.File("images");
        SyntheticData.WriteFile(path, SyntheticData.IdxBytes([5, 4, 3], Pixels).AsSpan(0, 9), gzip: false);
        var e = Assert.Throws<DatasetException>(() => IdxReader.ReadImages(path));
        Assert.Contains("images: truncated: the header needs 16 bytes", e.Message);
    }

    [Fact]
    public void EmptyFileIsRejected()
    {
        using var dir = new TempDirectory();
        var path = dir.File("empty");
        File.WriteAllBytes(path, []);
        var e = Assert.Throws<DatasetException>(() => IdxReader.ReadLabels(path));
        Assert.Equal("empty: empty file; expected an IDX file", e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GarbageIsNotIdx(bool gzip)
    {
        using var dir = new TempDirectory();
        var path = dir.File("garbage");
        var junk = new byte[1000];
        new Random(3).NextBytes(junk);
        junk[0] = 0x47; // not 00, and not a gzip magic
        SyntheticData.WriteFile(path, junk, gzip);
        var e = Assert.Throws<DatasetException>(() => IdxReader.ReadImages(path));
        Assert.StartsWith("garbage: not an IDX file: magic 0x47", e.Message);
        Assert.Contains("expected 0x00000803", e.Message);
    }

    [Fact]
    public void TextFileIsNotIdx()
    {
        using var dir = new TempDirectory();
        var path = dir.File("README");
        File.WriteAllText(path, "hello, this is not MNIST\n");
        var e = Assert.Throws<DatasetException>(() => IdxReader.Read(path));
        Assert.StartsWith("README: not an IDX file: magic 0x68656C6C", e.Message);
    }

    [Fact]
    public void CorruptGzipIsReported()
    {
        using var dir = new TempDirectory();
        var path = dir.File("images.gz");
        using (var ms = new MemoryStream())
        {
            using (var z = new GZipStream(ms, CompressionLevel.Optimal, leaveOpen: true))
                z.Write(SyntheticData.IdxBytes([5, 4, 3], Pixels));
            var bytes = ms.ToArray();
            for (int i = 12; i < bytes.Length - 8; i++) bytes[i] ^= 0x5A;
            File.WriteAllBytes(path, bytes);
        }
        var e = Assert.Throws<DatasetException>(() => IdxReader.ReadImages(path));
        Assert.StartsWith("images.gz: ", e.Message);
    }

    [Fact]
    public void WrongMagicForTheRoleIsRejected()
    {
        using var dir = new TempDirectory();
        var path = dir.File("train-labels-idx1-ubyte");
        SyntheticData.WriteFile(path, SyntheticData.IdxBytes([3], [1, 2, 3]), gzip: false);
        var e = Assert.Throws<DatasetException>(() => IdxReader.ReadImages(path));
        Assert.Equal("train-labels-idx1-ubyte: wrong IDX magic 0x00000801 (1 dimension); expected 0x00000803 (IDX images: unsigned bytes, 3 dimensions)", e.Message);
    }

    [Fact]
    public void NonByteElementTypeIsRejected()
    {
        using var dir = new TempDirectory();
        var path = dir.File("floats");
        var bytes = SyntheticData.IdxBytes([3], [1, 2, 3]);
        bytes[2] = 0x0D;
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<DatasetException>(() => IdxReader.ReadLabels(path));
        Assert.Contains("element type 0x0D (float32) is not supported", e.Message);
    }

    [Theory]
    [InlineData(0, 4, 3, "dimension 0 has size 0")]
    [InlineData(5, -1, 3, "dimension 1 has size 4294967295")]
    public void BadDimensionsAreRejected(int n, int rows, int cols, string expected)
    {
        using var dir = new TempDirectory();
        var path = dir.File("images");
        File.WriteAllBytes(path, SyntheticData.IdxBytes([n, rows, cols], Pixels));
        var e = Assert.Throws<DatasetException>(() => IdxReader.ReadImages(path));
        Assert.Contains("bad header: " + expected, e.Message);
    }

    [Fact]
    public void ElementCountIsBounded()
    {
        using var dir = new TempDirectory();
        var path = dir.File("images");
        File.WriteAllBytes(path, SyntheticData.IdxBytes([60000, 60000, 28], Pixels));
        var e = Assert.Throws<DatasetException>(() => IdxReader.ReadImages(path));
        Assert.Contains("bad header: dimensions 60000×60000×28 exceed the limit", e.Message);
    }

    [Fact]
    public void ForgedHugeHeaderInGzipFailsAsTruncatedWithoutHugeAllocation()
    {
        using var dir = new TempDirectory();
        var path = dir.File("images.gz");
        SyntheticData.WriteFile(path, SyntheticData.IdxBytes([20000, 250, 250], Pixels), gzip: true);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<DatasetException>(() => IdxReader.ReadImages(path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("truncated: header declares 20000×250×250 = 1250000000 bytes of pixels, file has 60", e.Message);
        Assert.True(allocated < 64L << 20, $"allocated {allocated} bytes for a 60-byte payload");
    }

    [Fact]
    public void MissingFileIsADatasetException()
    {
        using var dir = new TempDirectory();
        var e = Assert.Throws<DatasetException>(() => IdxReader.Read(dir.File("nope")));
        Assert.StartsWith("nope: cannot open", e.Message);
    }
}
