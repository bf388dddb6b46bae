using SlimNet.Format;
using SlimNet.Format.Graph;

namespace SlimNet.Runtime.Tests.Engine;

public class InferenceSessionTests
{
    public static IEnumerable<object[]> AllStorages() => Enum.GetValues<WeightStorage>().Select(s => new object[] { s });

    private static void AssertMatchesReference(SlimModel model, int batch, int maxBatch, int seed)
    {
        var session = InferenceSession.Load(model, maxBatch);
        var input = TestData.Uniform(seed, batch * session.InputSize);
        var actual = new float[batch * session.OutputSize];
        session.Run(input, batch, actual);
        var expected = ReferenceForward.Run(model, input, batch);
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (!(Math.Abs(expected[i] - actual[i]) <= 1e-4 * Math.Max(1, Math.Abs(expected[i]))))
                Assert.Fail($"{model.Graph.Name} batch {batch}: output {i} is {actual[i]}, reference {expected[i]}\n" + string.Join("\n", session.Plan));
    }

    [Theory, MemberData(nameof(AllStorages))]
    public void LeNet300100_MatchesReference(WeightStorage storage)
    {
        var model = TestModels.LeNet300100(storage);
        AssertMatchesReference(model, 1, 64, 1);
        AssertMatchesReference(model, 3, 64, 2);
        AssertMatchesReference(model, 64, 64, 3);
    }

    [Theory]
    [InlineData(WeightStorage.RelativeGapsCodebook5Bit)]
    [InlineData(WeightStorage.CsrCodebook5Bit)]
    [InlineData(WeightStorage.CsrFloat32)]
    [InlineData(WeightStorage.CsrFixedPoint8BitPerRow)]
    [InlineData(WeightStorage.CsrCodebook9Bit)]
    public void PrunedLeNet300100_EqualsTheDenseRuntimeOnTheSameWeights_AtEveryBatchSize(WeightStorage storage)
    {
        // Sliced kernels below the batch threshold, CSR axpys from it on: both must give the dense model's outputs.
        var model = TestModels.LeNet300100(storage, seed: 9, softmax: true);
        var denseModel = new SlimModel(model.Graph, model.Tensors.Select(t => SlimTensor.Dense(t.Name, t.Shape, t.ToDense())).ToArray());
        var session = InferenceSession.Load(model, 16);
        var dense = InferenceSession.Load(denseModel, 16);
        var input = TestData.Uniform(4, 16 * session.InputSize);
        var rng = new Random(5);
        for (int i = 0; i < input.Length; i++)
            if (rng.NextDouble() < 0.6) input[i] = 0; // inputs with zeros, like images
        foreach (int batch in new[] { 1, 2, 3, 7, 8, 9, 16 })
        {
            var expected = dense.Run(input, batch);
            var actual = session.Run(input, batch);
            TestData.Close(expected, actual, $"{storage} batch {batch}", tolerance: 1e-5);
        }
        if (SlimNet.Runtime.Kernels.SlicedSparseKernels.IsVectorized)
            Assert.All(session.Plan.Where(p => p.Contains("Linear", StringComparison.Ordinal)), p => Assert.Contains("sliced permute kernel", p));
    }

    [Theory, MemberData(nameof(AllStorages))]
    public void SmallCnn_MatchesReference(WeightStorage storage)
    {
        var model = TestModels.SmallCnn(storage);
        AssertMatchesReference(model, 1, 8, 4);
        AssertMatchesReference(model, 5, 8, 5);
    }

    [Theory, MemberData(nameof(AllStorages))]
    public void ResidualBlock_MatchesReference(WeightStorage storage)
    {
        var model = TestModels.ResidualBlock(storage);
        AssertMatchesReference(model, 1, 4, 6);
        AssertMatchesReference(model, 4, 4, 7);
    }

    [Theory]
    [InlineData(WeightStorage.DenseFloat32)]
    [InlineData(WeightStorage.CsrFixedPoint8BitPerRow)]
    public void UnfoldableBatchNorm_MatchesReference(WeightStorage storage)
    {
        var model = TestModels.UnfoldableBatchNorm(storage);
        AssertMatchesReference(model, 2, 2, 8);
        Assert.Contains(InferenceSession.Load(model, 1).Plan, line => line.Contains("not foldable"));
    }

    [Fact]
    public void Softmax_AndActivationQuantization_MatchReference()
    {
        var b = new GraphBuilder("quantized-mlp", 20);
        b.Linear("fc1", 20, 16);
        b.ReLU("relu1") ;
        var graph = b.Build();
        var nodes = graph.Nodes.ToList();
        nodes[1] = nodes[1] with { Attributes = nodes[1].Attributes with { ActivationQuant = new ActivationQuantization(ActivationQuantKind.Uniform, 4, false, new[] { 0.1f }) } };
        nodes.Add(new GraphNode("fc2", OpKind.Linear, new[] { 1 }, new NodeAttributes { InFeatures = 16, OutFeatures = 6, HasBias = true }));
        nodes.Add(new GraphNode("prob", OpKind.Softmax, new[] { 2 }, new NodeAttributes()));
        var quantGraph = new ModelGraph("quantized-mlp", new[] { 20 }, nodes);
        var model = new SlimModel(quantGraph, TestModels.Parameters(quantGraph, WeightStorage.DenseFloat32, 9));
        AssertMatchesReference(model, 3, 3, 10);
    }

    [Fact]
    public void BatchNorm_IsFoldedIntoItsProducer()
    {
        var session = InferenceSession.Load(TestModels.SmallCnn(WeightStorage.CsrFixedPoint8BitPerRow), 2);
        Assert.Contains(session.Plan, line => line.StartsWith("conv1:") && line.Contains("'bn1' folded") && line.Contains("ReLU 'relu1' fused"));
        Assert.DoesNotContain(session.Plan, line => line.StartsWith("relu1"));
        Assert.Contains(session.Plan, line => line.StartsWith("fc1:") && line.Contains("'bn3' folded"));
        Assert.DoesNotContain(session.Plan, line => line.StartsWith("bn"));
        Assert.Contains(session.Plan, line => line.StartsWith("conv1:") && line.Contains("fixed point (fused)"));
    }

    [Fact]
    public void Run_AllocatesNothing_AfterLoad()
    {
        foreach (var storage in new[] { WeightStorage.DenseFloat32, WeightStorage.CsrCodebook5Bit, WeightStorage.CsrFixedPoint8BitPerRow })
            foreach (var model in new[] { TestModels.LeNet300100(storage), TestModels.SmallCnn(storage), TestModels.ResidualBlock(storage) })
            {
                var session = InferenceSession.Load(model, 16);
                var input = TestData.Uniform(1, 16 * session.InputSize);
                var output = new float[16 * session.OutputSize];
                // Warm up every batch size measured below: the first call of a code path may load types.
                for (int i = 0; i < 3; i++)
                {
                    session.Run(input, 1, output);
                    session.Run(input, 16, output);
                    session.Run(input, 7, output);
                }
                // Three windows of 5 rounds: the runtime itself (tiered JIT promotions on a busy machine) can allocate once
                // inside a window; an allocation in Run happens in every window and fails all three.
                long allocated = long.MaxValue;
                for (int window = 0; window < 3 && allocated != 0; window++)
                {
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    for (int i = 0; i < 5; i++)
                    {
                        session.Run(input, 1, output);
                        session.Run(input, 16, output);
                        session.Run(input, 7, output);
                    }
                    allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                }
                Assert.True(allocated == 0, $"{model.Graph.Name} ({storage}) allocated {allocated} bytes in Run");
            }
    }

    [Fact]
    public void Load_FromAWrittenFile_RunsLikeTheInMemoryModel()
    {
        var model = TestModels.LeNet300100(WeightStorage.CsrFixedPoint8BitPerRow);
        string path = Path.Combine(Path.GetTempPath(), $"slimnet-runtime-{Guid.NewGuid():N}.slim");
        try
        {
            SlimWriter.Write(model, path);
            var input = TestData.Uniform(5, 2 * 784);
            var fromFile = InferenceSession.Load(path, 2).Run(input, 2);
            var inMemory = InferenceSession.Load(model, 2).Run(input, 2);
            Assert.Equal(inMemory, fromFile);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Shapes_AreReported()
    {
        var session = InferenceSession.Load(TestModels.SmallCnn(WeightStorage.DenseFloat32), 4);
        Assert.Equal(new[] { 2, 12, 12 }, session.InputShape);
        Assert.Equal(new[] { 10 }, session.OutputShape);
        Assert.Equal(288, session.InputSize);
        Assert.Equal(4, session.MaxBatch);
    }

    [Fact]
    public void MissingTensor_NamesTheNode()
    {
        var model = TestModels.LeNet300100(WeightStorage.DenseFloat32);
        var broken = new SlimModel(model.Graph, model.Tensors.Where(t => t.Name != "fc2.bias").ToList());
        var e = Assert.Throws<ModelValidationException>(() => InferenceSession.Load(broken, 1));
        Assert.Equal("fc2", e.NodeName);
        Assert.Contains("fc2.bias", e.Message);
    }

    [Fact]
    public void WrongTensorShape_NamesTheNode()
    {
        var model = TestModels.LeNet300100(WeightStorage.DenseFloat32);
        var tensors = model.Tensors.Select(t => t.Name == "fc3.weight" ? SlimTensor.Dense("fc3.weight", new[] { 10, 99 }, new float[990]) : t).ToList();
        var e = Assert.Throws<ModelValidationException>(() => InferenceSession.Load(new SlimModel(model.Graph, tensors), 1));
        Assert.Equal("fc3", e.NodeName);
        Assert.Contains("[10, 99]", e.Message);
        Assert.Contains("[10, 100]", e.Message);
    }

    [Fact]
    public void WrongInputShapeOfANode_NamesTheNode()
    {
        var b = new GraphBuilder("bad", 10);
        b.Linear("fc1", 10, 5);
        b.Linear("fc2", 6, 2);
        var graph = b.Build();
        var e = Assert.Throws<ModelValidationException>(() => InferenceSession.Load(new SlimModel(graph, TestModels.Parameters(graph, WeightStorage.DenseFloat32, 1)), 1));
        Assert.Equal("fc2", e.NodeName);
    }

    [Fact]
    public void Run_RejectsBadArguments()
    {
        var session = InferenceSession.Load(TestModels.LeNet300100(WeightStorage.DenseFloat32), 2);
        Assert.Throws<ArgumentOutOfRangeException>(() => session.Run(new float[3 * 784], 3, new float[30]));
        Assert.Throws<ArgumentOutOfRangeException>(() => session.Run(new float[784], 0, new float[10]));
        Assert.Throws<ArgumentException>(() => session.Run(new float[783], 1, new float[10]));
        Assert.Throws<ArgumentException>(() => session.Run(new float[784], 1, new float[9]));
    }

    [Fact]
    public void Run_WithFewerRowsThanMaxBatch_LeavesResultsIndependentOfBatch()
    {
        var session = InferenceSession.Load(TestModels.LeNet300100(WeightStorage.CsrFloat32), 64);
        var input = TestData.Uniform(3, 64 * 784);
        var all = session.Run(input, 64);
        for (int b = 0; b < 64; b += 21)
        {
            var one = session.Run(input.AsSpan(b * 784, 784), 1);
            TestData.Close(all.AsSpan(b * 10, 10), one, $"row {b}", 1e-5);
        }
    }
}
