using SlimNet.Format;
using SlimNet.Format.Graph;

namespace SlimNet.Runtime.Tests.Engine;

/// <summary>
/// Random small models in the forms the low-bit trainers write (binary / K-plane ±1 weights, ternary codebooks, LQ-Nets
/// basis quantizers on layer inputs; first and last layers float) against the scalar reference forward.
/// </summary>
public class LowBitModelTests
{
    private static ActivationQuantization Basis(Random rng, int k) =>
        new(ActivationQuantKind.Basis, k, false, Enumerable.Range(0, k).Select(j => (float)((0.25 + 0.1 * rng.NextDouble()) * (1 << j))).ToArray());

    /// <summary>Sets the input quantizer of the named nodes and re-stores the named weights.</summary>
    private static SlimModel Build(ModelGraph graph, int seed, IReadOnlyDictionary<string, int> inputBits, IReadOnlyDictionary<string, WeightStorage> storages)
    {
        var rng = new Random(seed);
        var nodes = graph.Nodes.Select(n => inputBits.TryGetValue(n.Name, out int k)
            ? n with { Attributes = n.Attributes with { ActivationQuant = Basis(rng, k) } } : n).ToList();
        var g = new ModelGraph(graph.Name, graph.InputShape.ToArray(), nodes);
        var tensors = TestModels.Parameters(g, WeightStorage.DenseFloat32, seed);
        for (int t = 0; t < tensors.Count; t++)
        {
            string node = tensors[t].Name[..tensors[t].Name.LastIndexOf('.')];
            if (tensors[t].Name.EndsWith(".weight", StringComparison.Ordinal) && storages.TryGetValue(node, out var storage))
                tensors[t] = TestModels.Weight(tensors[t].Name, tensors[t].Shape, tensors[t].ToDense(), storage, rng);
        }
        return new SlimModel(g, tensors);
    }

    public static SlimModel LqMlp(int seed, WeightStorage hidden = WeightStorage.DenseBitPlanes2)
    {
        var b = new GraphBuilder("lq-mlp", 40);
        b.Linear("fc1", 40, 65);
        b.ReLU("relu1");
        b.Linear("fc2", 65, 64);
        b.BatchNorm("bn2", 64);
        b.ReLU("relu2");
        b.Linear("fc3", 64, 63);
        b.ReLU("relu3");
        b.Linear("fc4", 63, 7);
        return Build(b.Build(), seed,
            new Dictionary<string, int> { ["fc2"] = 2, ["fc3"] = 1, ["fc4"] = 3 },
            new Dictionary<string, WeightStorage> { ["fc2"] = hidden, ["fc3"] = WeightStorage.DenseBinaryPlanes });
    }

    public static SlimModel LqCnn(int seed, WeightStorage hidden = WeightStorage.DenseBitPlanes2)
    {
        var b = new GraphBuilder("lq-cnn", 3, 9, 9);
        b.Conv2d("conv1", 3, 8, 3, padding: 1);
        b.BatchNorm("bn1", 8);
        b.ReLU("relu1");
        b.Conv2d("conv2", 8, 12, 3, stride: 2, padding: 1, bias: false);
        b.BatchNorm("bn2", 12);
        b.ReLU("relu2");
        b.Conv2d("conv3", 12, 16, 3);
        b.ReLU("relu3");
        b.Flatten("flat");
        b.Linear("fc1", 16 * 3 * 3, 20);
        b.ReLU("relu4");
        b.Linear("fc2", 20, 5);
        return Build(b.Build(), seed,
            new Dictionary<string, int> { ["conv2"] = 2, ["conv3"] = 2, ["fc1"] = 1 },
            new Dictionary<string, WeightStorage> { ["conv2"] = hidden, ["conv3"] = WeightStorage.DenseBinaryPlanes, ["fc1"] = hidden });
    }

    internal static void AssertMatchesReference(SlimModel model, int batch, int maxBatch, int seed, double tolerance = 1e-4)
    {
        var session = InferenceSession.Load(model, maxBatch);
        var input = TestData.Uniform(seed, batch * session.InputSize);
        var actual = new float[batch * session.OutputSize];
        session.Run(input, batch, actual);
        var expected = ReferenceForward.Run(model, input, batch);
        for (int i = 0; i < expected.Length; i++)
            if (!(Math.Abs(expected[i] - actual[i]) <= tolerance * Math.Max(1, Math.Abs(expected[i]))))
                Assert.Fail($"{model.Graph.Name} batch {batch}: output {i} is {actual[i]}, reference {expected[i]}\n" + string.Join("\n", session.Plan));
    }

    [Theory]
    [InlineData(WeightStorage.DenseBitPlanes2)]
    [InlineData(WeightStorage.CsrBitPlanes2)]
    [InlineData(WeightStorage.DenseTernaryCodebook)]
    [InlineData(WeightStorage.CsrTernaryCodebook)]
    [InlineData(WeightStorage.DenseFixedPoint8BitOneScale)]
    public void LqMlp_MatchesReference(WeightStorage hidden)
    {
        for (int seed = 1; seed <= 3; seed++)
        {
            var model = LqMlp(seed, hidden);
            foreach (int batch in new[] { 1, 3, 9 }) AssertMatchesReference(model, batch, 9, seed * 10 + batch);
        }
    }

    [Theory]
    [InlineData(WeightStorage.DenseBitPlanes2)]
    [InlineData(WeightStorage.CsrBitPlanes2)]
    [InlineData(WeightStorage.DenseTernaryCodebook)]
    public void LqCnn_MatchesReference(WeightStorage hidden)
    {
        for (int seed = 1; seed <= 2; seed++)
        {
            var model = LqCnn(seed, hidden);
            foreach (int batch in new[] { 1, 4 }) AssertMatchesReference(model, batch, 4, seed * 10 + batch);
        }
    }

    [Fact]
    public void InputQuantizer_IsListedInThePlan_AndBatchNormStillFolds()
    {
        var session = InferenceSession.Load(LqMlp(1, WeightStorage.DenseTernaryCodebook), 2);
        Assert.Contains(session.Plan, l => l.StartsWith("fc2: input quantized to the 2-bit LQ basis", StringComparison.Ordinal));
        Assert.Contains(session.Plan, l => l.StartsWith("fc2: Linear", StringComparison.Ordinal) && l.Contains("'bn2' folded"));
        Assert.Contains(session.Plan, l => l.StartsWith("fc4: input quantized to the 3-bit LQ basis", StringComparison.Ordinal));
    }

    [Fact]
    public void LqLayers_RunOnTheBitOpKernel()
    {
        var mlp = InferenceSession.Load(LqMlp(1), 2).Plan;
        Assert.Contains(mlp, l => l.StartsWith("fc2: Linear", StringComparison.Ordinal) && l.Contains("bit-op kernel") && l.Contains("W2 bit planes")
                                  && l.Contains("'bn2' folded into the weight basis") && l.Contains("ReLU 'relu2' fused"));
        Assert.Contains(mlp, l => l.StartsWith("fc3: Linear", StringComparison.Ordinal) && l.Contains("bit-op kernel") && l.Contains("W1 bit planes"));
        Assert.DoesNotContain(mlp, l => l.StartsWith("fc2: input", StringComparison.Ordinal) || l.StartsWith("fc3: input", StringComparison.Ordinal));
        var cnn = InferenceSession.Load(LqCnn(1), 2).Plan;
        Assert.Contains(cnn, l => l.StartsWith("conv2: Conv2d", StringComparison.Ordinal) && l.Contains("bit-op kernel") && l.Contains("im2col"));
        Assert.Contains(cnn, l => l.StartsWith("conv3: Conv2d", StringComparison.Ordinal) && l.Contains("bit-op kernel"));
        // Binary and ternary weights with float (or uniform-quantized) inputs: the sign-mask kernel.
        var ternary = InferenceSession.Load(LqMlp(1, WeightStorage.DenseTernaryCodebook), 2).Plan;
        Assert.Contains(ternary, l => l.StartsWith("fc2: Linear", StringComparison.Ordinal) && l.Contains("sign-mask kernel") && l.Contains("ternary"));
        var binary = InferenceSession.Load(TestModels.LeNet300100(WeightStorage.DenseBinaryPlanes), 2).Plan;
        Assert.All(binary.Where(l => l.Contains("Linear", StringComparison.Ordinal)), l => Assert.Contains("sign-mask kernel", l));
        var cnn8 = InferenceSession.Load(TestModels.SmallCnn(WeightStorage.CsrTernaryCodebook), 2).Plan;
        Assert.Contains(cnn8, l => l.StartsWith("conv1: Conv2d", StringComparison.Ordinal) && l.Contains("sign-mask kernel") && l.Contains("folded into the row scales"));
        var fixed8 = InferenceSession.Load(TestModels.LeNet300100(WeightStorage.DenseFixedPoint8BitOneScale), 2).Plan;
        Assert.DoesNotContain(fixed8, l => l.Contains("sign-mask", StringComparison.Ordinal));
        // CSR bit planes have no bit-op form: decoded to float32, input quantized by its own step.
        var csr = InferenceSession.Load(LqMlp(1, WeightStorage.CsrBitPlanes2), 2).Plan;
        Assert.Contains(csr, l => l.StartsWith("fc2: input quantized", StringComparison.Ordinal));
    }

    [Fact]
    public void Run_AllocatesNothing_OnLowBitModels()
    {
        foreach (var model in new[] { LqMlp(2), LqCnn(2), LqMlp(2, WeightStorage.DenseTernaryCodebook) })
        {
            var session = InferenceSession.Load(model, 8);
            var input = TestData.Uniform(1, 8 * session.InputSize);
            var output = new float[8 * session.OutputSize];
            for (int i = 0; i < 3; i++)
            {
                session.Run(input, 1, output);
                session.Run(input, 8, output);
                session.Run(input, 5, output);
            }
            // As in InferenceSessionTests: three windows, so a one-off allocation by the runtime (JIT tiering) is not blamed on Run.
            long allocated = long.MaxValue;
            for (int window = 0; window < 3 && allocated != 0; window++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                session.Run(input, 1, output);
                session.Run(input, 8, output);
                session.Run(input, 5, output);
                allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            }
            Assert.Equal(0, allocated);
        }
    }

    [Fact]
    public void BadBasisQuantizer_IsAModelValidationError()
    {
        var model = LqMlp(1);
        var nodes = model.Graph.Nodes.Select(n => n.Name == "fc3"
            ? n with { Attributes = n.Attributes with { ActivationQuant = new ActivationQuantization(ActivationQuantKind.Basis, 2, false, [0.5f, float.NaN]) } } : n).ToList();
        var bad = new SlimModel(new ModelGraph("bad", model.Graph.InputShape.ToArray(), nodes), model.Tensors.ToList());
        var e = Assert.Throws<ModelValidationException>(() => InferenceSession.Load(bad, 1));
        Assert.Contains("fc3", e.Message);
    }
}
