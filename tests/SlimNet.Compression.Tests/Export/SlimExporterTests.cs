using SlimNet.Compression.Export;
using SlimNet.Format;
using SlimNet.Format.Graph;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Compression.Tests.Export;

public class SlimExporterTests
{
    // conv(2→3, 3×3) → bn → relu → flatten → fc(27→4): every parameter kind, BN running statistics included.
    private static ModelGraph Graph()
    {
        var b = new GraphBuilder("tiny", 2, 5, 5);
        b.Conv2d("conv", 2, 3, 3);
        b.BatchNorm("bn", 3);
        b.ReLU("relu");
        b.Flatten("flat");
        b.Linear("fc", 27, 4);
        return b.Build();
    }

    private static Dictionary<string, float[]> RandomTensors(ModelGraph graph, int seed = 1, double zeroFraction = 0)
    {
        var rng = new Random(seed);
        var result = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var (name, shape) in GraphShapes.Parameters(graph))
        {
            var v = new float[shape.Aggregate(1, (a, d) => a * d)];
            for (int i = 0; i < v.Length; i++)
                v[i] = rng.NextDouble() < zeroFraction ? 0f : (float)(rng.NextDouble() * 2 - 1) * 0.3f;
            if (name.EndsWith(".running_var", StringComparison.Ordinal))
                for (int i = 0; i < v.Length; i++) v[i] = 0.5f + (float)rng.NextDouble();
            result[name] = v;
        }
        return result;
    }

    private static SlimModel RoundTrip(SlimModel model) => SlimReader.Read(SlimWriter.ToBytes(model));

    [Fact]
    public void DenseFp32IsBitExactInGraphOrderWithMetadata()
    {
        var graph = Graph();
        var tensors = RandomTensors(graph);
        var meta = new Dictionary<string, string> { [SlimMetadataKeys.InputMean] = SlimMetadataKeys.FormatFloats([0.1307f]) };
        var model = RoundTrip(SlimExporter.Export(graph, tensors, new SlimExportOptions { Metadata = meta }));
        Assert.Equal(GraphShapes.Parameters(graph).Select(p => p.Name), model.Tensors.Select(t => t.Name));
        foreach (var t in model.Tensors)
        {
            Assert.Equal(SparseLayout.Dense, t.Sparsity);
            Assert.Equal(ValueEncoding.Float32, t.Encoding);
            Assert.Equal(tensors[t.Name], t.ToDense());
        }
        Assert.Equal("tiny", model.Metadata[SlimMetadataKeys.Model]);
        Assert.Equal("dense fp32", model.Metadata[SlimMetadataKeys.Method]);
        Assert.Equal([0.1307f], SlimMetadataKeys.ParseFloats(model.Metadata[SlimMetadataKeys.InputMean]));
    }

    [Fact]
    public void Fp16RoundsWeightsButKeepsRunningStatisticsFp32()
    {
        var graph = Graph();
        var tensors = RandomTensors(graph);
        var model = RoundTrip(SlimExporter.Export(graph, tensors, new SlimExportOptions { Precision = ValuePrecision.Float16 }));
        foreach (var t in model.Tensors)
        {
            bool stat = SlimExporter.IsStatistic(t.Name);
            Assert.Equal(stat ? ValueEncoding.Float32 : ValueEncoding.Float16, t.Encoding);
            var expected = stat ? tensors[t.Name] : tensors[t.Name].Select(v => (float)(Half)v).ToArray();
            Assert.Equal(expected, t.ToDense());
        }
        var all16 = SlimExporter.Export(graph, tensors, new SlimExportOptions { Precision = ValuePrecision.Float16, StatisticsInFloat32 = false });
        Assert.All(all16.Tensors, t => Assert.Equal(ValueEncoding.Float16, t.Encoding));
    }

    [Fact]
    public void CsrOnlyAboveTheSparsityThresholdAndLossless()
    {
        var graph = Graph();
        var tensors = RandomTensors(graph, zeroFraction: 0.8);
        tensors["fc.bias"] = [0.5f, 0.25f, 0f, 1f];               // 25 % zeros: stays dense
        var model = RoundTrip(SlimExporter.Export(graph, tensors, new SlimExportOptions { SparseAbove = 0.5 }));
        Assert.Equal(SparseLayout.Csr, model.FindTensor("fc.weight")!.Sparsity);
        Assert.Equal(SparseLayout.Csr, model.FindTensor("conv.weight")!.Sparsity);
        Assert.Equal(SparseLayout.Dense, model.FindTensor("fc.bias")!.Sparsity);
        foreach (var t in model.Tensors) Assert.Equal(tensors[t.Name], t.ToDense());
        long sparseBytes = SlimWriter.ToBytes(model).Length;
        long denseBytes = SlimWriter.ToBytes(SlimExporter.Export(graph, tensors)).Length;
        Assert.True(sparseBytes < denseBytes, $"CSR {sparseBytes} bytes, dense {denseBytes}");
    }

    [Fact]
    public void PreEncodedTensorsAreWrittenAsGiven()
    {
        var graph = Graph();
        var tensors = RandomTensors(graph);
        tensors.Remove("fc.weight");
        var codes = Enumerable.Range(0, 4 * 27).Select(i => (ushort)(i % 4)).ToArray();
        var shared = SlimTensor.Codebook("fc.weight", [4, 27], codes, [0f, 0.1f, -0.2f, 0.3f], 2, SparseLayout.Csr);
        var model = RoundTrip(SlimExporter.Export(graph, tensors, new SlimExportOptions { Encoded = new Dictionary<string, SlimTensor> { ["fc.weight"] = shared } }));
        var t = model.FindTensor("fc.weight")!;
        Assert.Equal(ValueEncoding.Codebook, t.Encoding);
        Assert.Equal(shared.ToDense(), t.ToDense());

        var wrong = SlimTensor.Dense("fc.weight", [27, 4], new float[108]);
        var e = Assert.Throws<ArgumentException>(() => SlimExporter.Export(graph, tensors,
            new SlimExportOptions { Encoded = new Dictionary<string, SlimTensor> { ["fc.weight"] = wrong } }));
        Assert.Contains("fc.weight", e.Message);
    }

    [Fact]
    public void MissingUnknownMisSizedOrNonFiniteTensorsAreErrorsNamingTheTensor()
    {
        var graph = Graph();
        var missing = RandomTensors(graph);
        missing.Remove("bn.running_var");
        Assert.Contains("'bn.running_var'", Assert.Throws<ArgumentException>(() => SlimExporter.Export(graph, missing)).Message);

        var unknown = RandomTensors(graph);
        unknown["fc2.weight"] = [1f];
        Assert.Contains("'fc2.weight'", Assert.Throws<ArgumentException>(() => SlimExporter.Export(graph, unknown)).Message);

        var sized = RandomTensors(graph);
        sized["fc.bias"] = [1f, 2f];
        Assert.Contains("'fc.bias'", Assert.Throws<ArgumentException>(() => SlimExporter.Export(graph, sized)).Message);

        var nan = RandomTensors(graph);
        nan["conv.weight"][7] = float.NaN;
        Assert.Contains("'conv.weight'", Assert.Throws<ArgumentException>(() => SlimExporter.Export(graph, nan)).Message);

        Assert.Throws<ArgumentException>(() => SlimExporter.Export(graph, RandomTensors(graph), new SlimExportOptions { SparseAbove = 1.5 }));
    }

    [Fact]
    public void CaptureTakesParametersAndFloatBuffersOfAModule()
    {
        torch.manual_seed(3);
        using var module = nn.Sequential(("fc", nn.Linear(3, 2)), ("bn", nn.BatchNorm1d(2)));
        var captured = SlimExporter.Capture(module);
        Assert.Equal(new[] { "bn.bias", "bn.running_mean", "bn.running_var", "bn.weight", "fc.bias", "fc.weight" }, captured.Keys.Order(StringComparer.Ordinal));
        using var w = module.named_parameters().First(p => p.name == "fc.weight").parameter.detach().contiguous();
        Assert.Equal(w.data<float>().ToArray(), captured["fc.weight"]);
    }

    [Fact]
    public void FloatListsRoundTripExactly()
    {
        float[] v = [0.4914f, 0.4822f, 0.4465f, 1e-7f, 3.4028235e38f];
        Assert.Equal(v, SlimMetadataKeys.ParseFloats(SlimMetadataKeys.FormatFloats(v)));
        Assert.Null(SlimMetadataKeys.ParseFloats("0.1,abc"));
        Assert.Null(SlimMetadataKeys.ParseFloats(""));
        Assert.Null(SlimMetadataKeys.ParseFloats("NaN"));
    }
}
