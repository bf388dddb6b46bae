using System.Buffers.Binary;
using System.Diagnostics;
using SlimNet.Format.Codecs;
using Xunit.Abstractions;

namespace SlimNet.Format.Tests;

public class RobustnessTests(ITestOutputHelper output)
{
    private static byte[] SmallFile() => SlimWriter.ToBytes(TestModels.AllEncodings(11, huffman: true, rows: 3, cols: 5));

    [Fact]
    public void FuzzerFindsNoCrashes()
    {
        var sw = Stopwatch.StartNew();
        var r = SlimFuzzer.Run(6000, 12345);
        sw.Stop();
        output.WriteLine($"{r.Cases} cases in {sw.ElapsedMilliseconds} ms: ok {r.Ok}, rejected {r.Rejected}, crashed {r.Crashed}, slow {r.Slow}");
        foreach (var f in r.Failures) output.WriteLine(f);
        Assert.True(r.Passed, string.Join("\n", r.Failures));
        Assert.Equal(6000, r.Ok + r.Rejected);
        Assert.True(r.Ok > 0, "some mutations (e.g. in value bytes) should still read");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"fuzzing took {sw.Elapsed}");
    }

    [Fact]
    public void CutAtEveryOffsetIsRejected()
    {
        byte[] file = SmallFile();
        for (int n = 0; n < file.Length; n++)
        {
            var e = Assert.Throws<SlimFormatException>(() => SlimReader.Read(file.AsSpan(0, n)));
            Assert.False(string.IsNullOrEmpty(e.Section));
        }
        Assert.NotNull(SlimReader.Read(file));
        var extra = file.Concat(new byte[] { 0 }).ToArray();
        Assert.Contains("end of file", Assert.Throws<SlimFormatException>(() => SlimReader.Read(extra)).Message);
    }

    [Fact]
    public void BrokenChecksumNamesTheSection()
    {
        var model = TestModels.AllEncodings(11, huffman: false, rows: 3, cols: 5);
        byte[] file = SlimWriter.ToBytes(model);
        var sections = Sections(file);
        Assert.Equal(3 + model.Tensors.Count, sections.Count);
        string[] expected = ["graph", "metadata", "tensor table"];
        for (int i = 0; i < sections.Count; i++)
        {
            var (start, length) = sections[i];
            var broken = (byte[])file.Clone();
            broken[start + 8 + length / 2] ^= 0x10; // inside the payload
            var e = Assert.Throws<SlimFormatException>(() => SlimReader.Read(broken));
            Assert.Contains("checksum", e.Message);
            if (i < 3) Assert.Equal(expected[i], e.Section);
            else Assert.StartsWith($"tensor #{i - 3}", e.Section);
        }
        var header = (byte[])file.Clone();
        header[5] ^= 1;
        Assert.Equal("file header", Assert.Throws<SlimFormatException>(() => SlimReader.Read(header)).Section);
    }

    private static List<(int start, int length)> Sections(byte[] file)
    {
        var list = new List<(int, int)>();
        int pos = 16;
        while (pos < file.Length)
        {
            int len = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(pos + 4));
            list.Add((pos, len));
            pos += 12 + len;
        }
        return list;
    }

    // Rewrites a field and repairs the section checksum, so the parser behind the checksum sees it.
    private static byte[] Patch(byte[] file, int sectionIndex, int payloadOffset, ReadOnlySpan<byte> bytes)
    {
        var f = (byte[])file.Clone();
        var (start, len) = Sections(f)[sectionIndex];
        bytes.CopyTo(f.AsSpan(start + 8 + payloadOffset));
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(start + 8 + len), Crc32.Compute(f.AsSpan(start, 8 + len)));
        return f;
    }

    [Fact]
    public void SemanticErrorsBehindValidChecksumsAreNamed()
    {
        var t = SlimTensor.Codebook("fc1.weight", [2, 3], [1, 0, 2, 3, 0, 1], [0f, 1f, 2f, 3f], 2, SparseLayout.Csr);
        byte[] file = SlimWriter.ToBytes(new SlimModel(TestModels.Mlp(), [t]));
        // Tensor payload: name (2 + 10), rank (1), dims (8), layout, gap bits, encoding, huffman (4), stored (4), index count (4), bits (1).
        int afterName = 12;
        // Huge dimension: product overflows.
        var e = Assert.Throws<SlimFormatException>(() => SlimReader.Read(Patch(file, 3, afterName + 1, BitConverter.GetBytes(0x7FFFFFFF))));
        Assert.Equal("tensor 'fc1.weight'", e.Section);
        // Unknown encoding id.
        e = Assert.Throws<SlimFormatException>(() => SlimReader.Read(Patch(file, 3, afterName + 9 + 2, [9])));
        Assert.Contains("unknown value encoding", e.Message);
        // Codebook bits 0.
        e = Assert.Throws<SlimFormatException>(() => SlimReader.Read(Patch(file, 3, afterName + 9 + 4 + 8, [0])));
        Assert.Contains("bits", e.Message);
        // Huge stored count.
        e = Assert.Throws<SlimFormatException>(() => SlimReader.Read(Patch(file, 3, afterName + 9 + 4, BitConverter.GetBytes(uint.MaxValue))));
        Assert.Contains("stored count", e.Message);
        // Huge tensor count in the tensor table.
        e = Assert.Throws<SlimFormatException>(() => SlimReader.Read(Patch(file, 2, 0, BitConverter.GetBytes(uint.MaxValue))));
        Assert.Equal("tensor table", e.Section);
        // Huge node count in the graph (after name "test-mlp" and input shape).
        e = Assert.Throws<SlimFormatException>(() => SlimReader.Read(Patch(file, 0, 2 + 8 + 1 + 4, BitConverter.GetBytes(uint.MaxValue))));
        Assert.Equal("graph", e.Section);
    }

    [Fact]
    public void StreamErrorsNameTheStream()
    {
        // Column index out of range in a CSR tensor: rows 1, cols 3, entries at columns 0 and 2 (2 bits each).
        var t = SlimTensor.Dense("fc1.weight", [1, 3], [1f, 0f, 2f], SparseLayout.Csr);
        byte[] file = SlimWriter.ToBytes(new SlimModel(TestModels.Mlp(), [t]));
        // payload: name 12, rank 1, dims 8, 4 bytes kinds, stored 4, index 4 = 33; row stream: len 4 + 1 byte; col stream: len 4 + 1 byte.
        int colByte = 33 + 5 + 4;
        var e = Assert.Throws<SlimFormatException>(() => SlimReader.Read(Patch(file, 3, colByte, [0b1111])));
        Assert.Equal("tensor 'fc1.weight' column indices", e.Section);
        var e2 = Assert.Throws<SlimFormatException>(() => SlimReader.Read(Patch(file, 3, 33 + 4, [3])));
        Assert.Equal("tensor 'fc1.weight' row pointers", e2.Section);
    }

    [Fact]
    public void ReadsAMegabyteModelInMilliseconds()
    {
        var rng = new Random(1);
        var v = new float[300 * 1000];
        for (int i = 0; i < v.Length; i++) v[i] = rng.Next(10) == 0 ? (float)rng.NextDouble() : 0f;
        var codes = new ushort[v.Length];
        for (int i = 0; i < codes.Length; i++) codes[i] = (ushort)(v[i] == 0 ? 0 : rng.Next(1, 32));
        var book = Enumerable.Range(0, 32).Select(i => i * 0.1f).ToArray();
        var model = new SlimModel(TestModels.Mlp(), [
            SlimTensor.Dense("a.weight", [250, 1000], v[..250000]),
            SlimTensor.Codebook("b.weight", [300, 1000], codes, book, 5, SparseLayout.RelativeGaps, 5, HuffmanStreams.Codes | HuffmanStreams.Indices),
        ]);
        byte[] bytes = SlimWriter.ToBytes(model);
        SlimReader.Read(bytes);
        var sw = Stopwatch.StartNew();
        const int reps = 5;
        for (int i = 0; i < reps; i++) SlimReader.Read(bytes);
        double ms = sw.Elapsed.TotalMilliseconds / reps;
        output.WriteLine($"{bytes.Length} bytes read in {ms:F1} ms");
        Assert.True(ms < 200, $"reading took {ms} ms");
    }
}

public class SizeReportTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(1, true)]
    [InlineData(2, false)]
    public void EverythingSumsToTheFileLength(int seed, bool huffman)
    {
        var model = TestModels.AllEncodings(seed, huffman, rows: 9, cols: 40);
        byte[] bytes = SlimWriter.ToBytes(model);
        var r = SlimSizeReport.FromBytes(bytes);
        output.WriteLine(r.ToText());
        Assert.Equal(bytes.Length, r.FileBytes);
        Assert.Equal(r.FileBytes, r.AccountedBytes);
        Assert.Equal(16, r.FileHeaderBytes);
        Assert.Equal(model.Tensors.Count, r.Tensors.Count);
        Assert.Equal(4L * model.Tensors.Sum(t => (long)t.ElementCount), r.DenseFp32Bytes);
        Assert.Equal(r.ParameterBytes, r.Layers.Sum(l => l.TotalBytes));
        foreach (var (t, e) in model.Tensors.Zip(r.Tensors))
        {
            Assert.Equal(t.Name, e.Name);
            Assert.Equal(t.StoredCount, e.StoredCount);
            Assert.True(e.HeaderBytes > 12);
            Assert.Equal(t.Sparsity == SparseLayout.Csr, e.RowPointerBytes > 0);
            Assert.Equal(t.Encoding == ValueEncoding.Codebook, e.CodebookBytes > 0);
            Assert.Equal(t.Encoding is ValueEncoding.FixedPoint or ValueEncoding.BitPlanes, e.ScaleBytes > 0);
            if (t.Encoding == ValueEncoding.Codebook) Assert.Equal(4L << t.Bits, e.CodebookBytes);
            if (t.Encoding == ValueEncoding.Float32) Assert.Equal(4L * t.StoredCount, e.ValueBytes);
        }
    }

    [Fact]
    public void WriterReturnsTheReportOfTheFile()
    {
        string path = Path.Combine(Path.GetTempPath(), "slim-report-" + Guid.NewGuid().ToString("N") + ".slim");
        try
        {
            var r = SlimWriter.Write(TestModels.AllEncodings(4), path);
            Assert.Equal(new FileInfo(path).Length, r.FileBytes);
            Assert.Equal(r.FileBytes, r.AccountedBytes);
            Assert.Equal(r.FileBytes, SlimSizeReport.FromFile(path).AccountedBytes);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void LayersGroupByGraphNode()
    {
        var model = new SlimModel(TestModels.Mlp(), [
            SlimTensor.Dense("fc1.weight", [7, 12], new float[84]),
            SlimTensor.Dense("fc1.bias", [7], new float[7]),
            SlimTensor.Dense("fc2.weight", [5, 7], new float[35], SparseLayout.Csr),
        ]);
        var r = SlimSizeReport.FromBytes(SlimWriter.ToBytes(model));
        Assert.Equal(new[] { "fc1", "fc2" }, r.Layers.Select(l => l.Layer));
        Assert.Equal(2, r.Layers[0].Tensors.Count);
        Assert.Equal(1.0, r.Layers[1].SparsityRatio);
        Assert.Equal(0, r.Tensors[2].StoredCount);
    }
}
