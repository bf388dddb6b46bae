using SlimNet.Format.Graph;

namespace SlimNet.Format.Tests;

public class RoundTripTests
{
    private static SlimModel Single(SlimTensor t) => new(TestModels.Mlp(), [t]);

    private static SlimTensor RoundTrip(SlimTensor t)
    {
        byte[] bytes = SlimWriter.ToBytes(Single(t));
        var back = SlimReader.Read(bytes).Tensors[0];
        Assert.Equal(bytes, SlimWriter.ToBytes(Single(back)));
        return back;
    }

    public static IEnumerable<object[]> Combinations()
    {
        foreach (var l in TestModels.Layouts)
            foreach (var e in TestModels.Encodings)
                foreach (bool h in new[] { false, true })
                    yield return [l, e, h];
    }

    [Theory]
    [MemberData(nameof(Combinations))]
    public void EveryCombinationRoundTripsExactly(SparseLayout layout, ValueEncoding enc, bool huffman)
    {
        var rng = new Random(HashCode.Combine((int)layout, (int)enc, huffman) & 0xFFFF);
        int[][] shapes = [[1], [5], [7, 12], [3, 2, 3, 3], [0], [4, 0], [1, 1], [33, 65]];
        foreach (int[] shape in shapes)
            foreach (double density in new[] { 0.0, 0.05, 0.5, 1.0 })
            {
                int gapBits = rng.Next(1, 9);
                var t = TestModels.Random(rng, "x.weight", shape, layout, enc, huffman, density, gapBits: gapBits);
                var back = RoundTrip(t);
                AssertSame(t, back);
            }
    }

    internal static void AssertSame(SlimTensor a, SlimTensor b)
    {
        Assert.Equal(a.Name, b.Name);
        Assert.Equal(a.Shape, b.Shape);
        Assert.Equal(a.Sparsity, b.Sparsity);
        Assert.Equal(a.Encoding, b.Encoding);
        Assert.Equal(a.Huffman, b.Huffman);
        Assert.Equal(a.GapBits, b.GapBits);
        Assert.Equal(a.StoredCount, b.StoredCount);
        Assert.Equal(a.RowPointers, b.RowPointers);
        Assert.Equal(a.ColumnIndices, b.ColumnIndices);
        Assert.Equal(a.FixedPointCodes, b.FixedPointCodes);
        Assert.Equal(a.CodebookCodes, b.CodebookCodes);
        Assert.Equal(a.HalfBits, b.HalfBits);
        Assert.Equal(a.PlaneBits, b.PlaneBits);
        Assert.Equal(a.PlaneRowOffsets, b.PlaneRowOffsets);
        Bits(a.Values, b.Values);
        Bits(a.Scales, b.Scales);
        Bits(a.CodebookEntries, b.CodebookEntries);
        Bits(a.Basis, b.Basis);
        Bits(a.ToDense(), b.ToDense());
    }

    private static void Bits(float[]? a, float[]? b)
    {
        Assert.Equal(a == null, b == null);
        if (a == null) return;
        Assert.Equal(a.Select(BitConverter.SingleToUInt32Bits), b!.Select(BitConverter.SingleToUInt32Bits));
    }

    [Fact]
    public void Float32IsBitExactIncludingSpecialValues()
    {
        float[] v = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, float.Epsilon, float.MaxValue, float.MinValue, 1.17549435e-38f, BitConverter.UInt32BitsToSingle(0x7FC00123)];
        var back = RoundTrip(SlimTensor.Dense("a.weight", [v.Length], v));
        Assert.Equal(v.Select(BitConverter.SingleToUInt32Bits), back.ToDense().Select(BitConverter.SingleToUInt32Bits));
    }

    [Fact]
    public void DecodesToExpectedFloats()
    {
        // Fixed point per channel, both modes, extreme codes.
        short[] q = [-8, 7, 0, -1, 1, 3];
        foreach (var mode in new[] { FixedPointMode.TwosComplement, FixedPointMode.Offset })
        {
            var t = RoundTrip(SlimTensor.FixedPoint("f.weight", [2, 3], q, [0.5f, 2f], 4, mode, SparseLayout.Csr));
            Assert.Equal(new[] { -4f, 3.5f, 0f, -2f, 2f, 6f }, t.ToDense());
            Assert.Equal(new short[] { -8, 7, -1, 1, 3 }, t.FixedPointCodes);
            Assert.Equal(new[] { 0, 2, 5 }, t.RowPointers);
            Assert.Equal(new[] { 0, 1, 0, 1, 2 }, t.ColumnIndices);
        }
        // Codebook.
        var c = RoundTrip(SlimTensor.Codebook("c.weight", [4], [0, 1, 2, 3], [0f, -1f, 0.25f, 8f], 2, SparseLayout.RelativeGaps, 1));
        Assert.Equal(new[] { 0f, -1f, 0.25f, 8f }, c.ToDense());
        Assert.Equal(new[] { 0, 0, 0 }, c.ColumnIndices); // rank 1: rows = shape[0], one column
        Assert.Equal(new[] { 0, 0, 1, 2, 3 }, c.RowPointers);
        // Bit planes {-1,+1}: basis per row [1, 2]; code 0b01 → +1 − 2 = −1, 0b11 → 3, 0b00 → −3, 0b10 → 1.
        var p = RoundTrip(SlimTensor.BitPlanes("p.weight", [2, 2], [1, 3, 0, 2], [1f, 2f, 0.5f, 1f], 2));
        Assert.Equal(new[] { -1f, 3f, -1.5f, 0.5f }, p.ToDense());
        Assert.Equal(new ushort[] { 1, 3, 0, 2 }, p.PlaneCodes());
    }

    [Fact]
    public void RelativeGapsExpandToCsrAcrossRows()
    {
        var v = new float[3 * 100];
        v[5] = 1; v[150] = 2; v[299] = 3;
        var t = RoundTrip(SlimTensor.Dense("g.weight", [3, 100], v, SparseLayout.RelativeGaps, 2, HuffmanStreams.Indices));
        Assert.Equal(new[] { 0, 1, 2, 3 }, t.RowPointers);
        Assert.Equal(new[] { 5, 50, 99 }, t.ColumnIndices);
        Assert.Equal(v, t.ToDense());
    }

    [Fact]
    public void GraphAndMetadataRoundTrip()
    {
        var g = new GraphBuilder("lenet5", 1, 28, 28);
        g.Conv2d("conv1", 1, 6, 5, padding: 2);
        g.BatchNorm("bn1", 6, 1e-3f);
        g.ReLU("relu1");
        g.MaxPool2d("pool1", 2, 2);
        g.AvgPool2d("pool2", 2, 2);
        int a = g.GlobalAvgPool("gap");
        g.Flatten("flat");
        int b = g.Linear("fc", 6, 6, bias: false);
        g.AddNodes("add", a, b);
        g.Softmax("sm");
        var graph = g.Build();
        var nodes = graph.Nodes.ToList();
        nodes[2] = nodes[2] with { Attributes = nodes[2].Attributes with { ActivationQuant = new ActivationQuantization(ActivationQuantKind.Basis, 2, false, [0.3f, 0.6f]) } };
        nodes[7] = nodes[7] with { Attributes = nodes[7].Attributes with { ActivationQuant = new ActivationQuantization(ActivationQuantKind.Uniform, 8, true, [0.05f]) } };
        graph = new ModelGraph(graph.Name, graph.InputShape, nodes);
        var meta = new Dictionary<string, string> { ["z"] = "last", ["accuracy"] = "99.1", ["method"] = "LQ-Nets W2/A2", ["empty"] = "" };
        var model = new SlimModel(graph, [], meta);
        var back = SlimReader.Read(SlimWriter.ToBytes(model));
        Assert.Equal(graph.Name, back.Graph.Name);
        Assert.Equal(graph.InputShape, back.Graph.InputShape);
        Assert.Equal(graph.Nodes.Count, back.Graph.Nodes.Count);
        for (int i = 0; i < nodes.Count; i++)
        {
            Assert.Equal(graph.Nodes[i].Name, back.Graph.Nodes[i].Name);
            Assert.Equal(graph.Nodes[i].Op, back.Graph.Nodes[i].Op);
            Assert.Equal(graph.Nodes[i].Inputs, back.Graph.Nodes[i].Inputs);
            var x = graph.Nodes[i].Attributes;
            var y = back.Graph.Nodes[i].Attributes;
            Assert.Equal(x with { ActivationQuant = null }, y with { ActivationQuant = null });
            Assert.Equal(x.ActivationQuant?.Kind, y.ActivationQuant?.Kind);
            Assert.Equal(x.ActivationQuant?.Bits, y.ActivationQuant?.Bits);
            Assert.Equal(x.ActivationQuant?.Signed, y.ActivationQuant?.Signed);
            Assert.Equal(x.ActivationQuant?.Parameters, y.ActivationQuant?.Parameters);
        }
        Assert.Equal(meta.OrderBy(p => p.Key, StringComparer.Ordinal), back.Metadata);
    }

    [Fact]
    public void WriterIsDeterministicAndIgnoresMetadataInsertionOrder()
    {
        var m1 = TestModels.AllEncodings(9);
        var meta = m1.Metadata.Reverse().ToDictionary(p => p.Key, p => p.Value);
        var m2 = new SlimModel(m1.Graph, m1.Tensors, meta);
        Assert.Equal(SlimWriter.ToBytes(m1), SlimWriter.ToBytes(m2));
        Assert.Equal(SlimWriter.ToBytes(m1), SlimWriter.ToBytes(TestModels.AllEncodings(9)));
    }

    [Fact]
    public void AtomicWriteLeavesNoTemporaryFiles()
    {
        string dir = Path.Combine(Path.GetTempPath(), "slim-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string path = Path.Combine(dir, "m.slim");
            var model = TestModels.AllEncodings(3);
            SlimWriter.Write(model, path);
            SlimWriter.Write(model, path); // overwrite
            Assert.Equal(new[] { "m.slim" }, Directory.GetFiles(dir).Select(Path.GetFileName));
            Assert.Equal(SlimWriter.ToBytes(model), File.ReadAllBytes(path));
            Assert.Equal(model.Tensors.Count, SlimReader.Read(path).Tensors.Count);
            Assert.ThrowsAny<IOException>(() => SlimWriter.Write(model, Path.Combine(dir, "missing", "x.slim")));
            Assert.Equal(new[] { "m.slim" }, Directory.GetFiles(dir).Select(Path.GetFileName));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void FactoriesRejectInvalidInput()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SlimTensor.FixedPoint("a", [2], [8, 0], [1f], 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => SlimTensor.FixedPoint("a", [2], [0, 0], [1f], 17));
        Assert.Throws<ArgumentException>(() => SlimTensor.FixedPoint("a", [2, 1], [0, 0], [1f, 1f, 1f], 4));
        Assert.Throws<ArgumentException>(() => SlimTensor.Codebook("a", [2], [0, 1], [0f, 1f, 2f], 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => SlimTensor.Codebook("a", [2], [0, 4], [0f, 1f, 2f, 3f], 2));
        Assert.Throws<ArgumentException>(() => SlimTensor.Dense("a", [3], [1f, 2f]));
        Assert.Throws<ArgumentException>(() => SlimTensor.Dense("a", [65536, 65536], []));
        Assert.Throws<ArgumentException>(() => SlimTensor.Dense("a", [2], [1f, 2f], huffman: HuffmanStreams.Codes));
        Assert.Throws<ArgumentException>(() => SlimTensor.Dense("a", [2], [1f, 2f], SparseLayout.Dense, huffman: HuffmanStreams.Indices));
        Assert.ThrowsAny<ArgumentException>(() => SlimTensor.Dense("a", [2], [1f, 2f], SparseLayout.RelativeGaps, 17));
        Assert.Throws<ArgumentOutOfRangeException>(() => SlimTensor.BitPlanes("a", [1, 2], [0, 4], [1f, 1f], 2));
        Assert.Throws<ArgumentException>(() => new SlimModel(TestModels.Mlp(), [SlimTensor.Dense("a", [1], [1f]), SlimTensor.Dense("a", [1], [1f])]));
    }
}

public class SpecExampleTests
{
    [Fact]
    public void FormatMdExampleBytes()
    {
        var g = new SlimNet.Format.Graph.GraphBuilder("g", 2);
        g.Linear("fc", 2, 1, bias: false);
        var model = new SlimModel(g.Build(), [SlimTensor.Dense("fc.weight", [1, 2], [0.5f, -1f])]);
        byte[] f = SlimWriter.ToBytes(model);
        Assert.Equal(168, f.Length);
        Assert.Equal(Convert.FromHexString("534C494D010000000000000" + "0"), f[..12]);
        Assert.Equal(Convert.FromHexString("010067" + "0102000000" + "01000000" + "02006663" + "01" + "01" + "FFFFFFFF"
            + "02000000" + "01000000" + "00000000" + "00000000" + "01000000" + "00000000" + "00" + "ACC52737" + "00"), f[(16 + 8)..(16 + 8 + 52)]);
        int t = 16 + 64 + 16 + 16;
        Assert.Equal(Convert.FromHexString("544E53522C000000" + "0900" + "66632E776569676874" + "02" + "01000000" + "02000000"
            + "00000100" + "02000000" + "00000000" + "08000000" + "0000003F" + "000080BF"), f[t..(t + 52)]);
    }
}
