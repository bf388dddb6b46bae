using System.Buffers.Binary;
using SlimNet.Format.Codecs;
using SlimNet.Format.Graph;

namespace SlimNet.Format.Tests;

public class LstmGraphTests
{
    private static ModelGraph Graph(LstmNormalization norm)
    {
        var b = new GraphBuilder("lm", 5);
        b.Lstm("lstm1", 5, 3, norm);
        b.Lstm("lstm2", 3, 3, norm);
        b.Linear("decoder", 3, 5);
        return b.Build();
    }

    private static SlimModel Model(LstmNormalization norm)
    {
        var g = Graph(norm);
        var rng = new Random(1);
        var tensors = GraphShapes.Parameters(g).Select(p =>
        {
            var v = new float[p.Shape.Aggregate(1, (a, d) => a * d)];
            for (int i = 0; i < v.Length; i++) v[i] = (float)rng.NextDouble();
            return SlimTensor.Dense(p.Name, p.Shape, v);
        }).ToList();
        return new SlimModel(g, tensors);
    }

    [Theory]
    [InlineData(LstmNormalization.None, 3)]
    [InlineData(LstmNormalization.Batch, 11)]
    [InlineData(LstmNormalization.Layer, 7)]
    [InlineData(LstmNormalization.Weight, 5)]
    public void LstmNodesRoundTripWithTheirTensors(LstmNormalization norm, int tensorsPerLayer)
    {
        var g = Graph(norm);
        var ps = GraphShapes.Parameters(g);
        Assert.Equal(2 * tensorsPerLayer + 2, ps.Count);
        Assert.Equal(new[] { 12, 5 }, ps.Single(p => p.Name == "lstm1.weight_ih").Shape);
        Assert.Equal(new[] { 12, 3 }, ps.Single(p => p.Name == "lstm2.weight_hh").Shape);
        Assert.Equal(new[] { 3 }, GraphShapes.Infer(g)[0]);
        Assert.Equal(4L * 3 * (5 + 3) + 4L * 3 * (3 + 3) + 15, GraphShapes.MultiplyAccumulates(g));
        var back = SlimReader.Read(SlimWriter.ToBytes(Model(norm)));
        Assert.Equal(OpKind.Lstm, back.Graph.Nodes[0].Op);
        Assert.Equal(norm, back.Graph.Nodes[1].Attributes.LstmNormalization);
        Assert.Equal(3, back.Graph.Nodes[1].Attributes.OutFeatures);
    }

    [Fact]
    public void BadLstmNodesAreRejected()
    {
        Assert.Contains("unknown normalization id 9", Assert.Throws<ArgumentException>(() => new ModelGraph("g", [4],
            [new GraphNode("l", OpKind.Lstm, [-1], new NodeAttributes { InFeatures = 4, OutFeatures = 2, KernelH = 9, HasBias = true })])).Message);
        Assert.Contains("always has a bias", Assert.Throws<ArgumentException>(() => new ModelGraph("g", [4],
            [new GraphNode("l", OpKind.Lstm, [-1], new NodeAttributes { InFeatures = 4, OutFeatures = 2 })])).Message);
        Assert.Contains("must be positive", Assert.Throws<ArgumentException>(() => new ModelGraph("g", [4],
            [new GraphNode("l", OpKind.Lstm, [-1], new NodeAttributes { InFeatures = 4, OutFeatures = 0, HasBias = true })])).Message);

        // In a file: set lstm1's normalization field (kernel_h) to 4 and repair the graph section's CRC; the reader must reject it.
        var bytes = SlimWriter.ToBytes(Model(LstmNormalization.Layer));
        int graphStart = 16, payloadLength = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(graphStart + 4));
        var pattern = new byte[16];
        BinaryPrimitives.WriteInt32LittleEndian(pattern.AsSpan(0), 5);
        BinaryPrimitives.WriteInt32LittleEndian(pattern.AsSpan(4), 3);
        BinaryPrimitives.WriteInt32LittleEndian(pattern.AsSpan(8), (int)LstmNormalization.Layer);
        int at = bytes.AsSpan(graphStart, payloadLength + 8).IndexOf(pattern) + graphStart;
        Assert.True(at > graphStart);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at + 8), 4);
        uint crc = Crc32.Compute(bytes.AsSpan(graphStart, 8 + payloadLength));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(graphStart + 8 + payloadLength), crc);
        var e = Assert.Throws<SlimFormatException>(() => SlimReader.Read(bytes));
        Assert.Contains("unknown normalization id 4", e.Message);
    }
}
