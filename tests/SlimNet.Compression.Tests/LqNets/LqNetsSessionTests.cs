using SlimNet.Compression.Hooks;
using SlimNet.Compression.LqNets;
using SlimNet.Compression.Optim;
using SlimNet.Compression.Recipes;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Compression.Tests.LqNets;

public class LqNetsSessionTests
{
    [Fact]
    public void ForwardSeesQuantizedWeightsAndTheGradientStepsTheMasterCopy()
    {
        using var t = new TinyTraining(seed: 3);
        using var session = new LqNetsSession(t.Parameters, [new LqLayer("fc1.weight", 2, null)]);
        var master = TinyTraining.Values(t.Parameters["fc1.weight"]);
        var initialBasis = session.WeightQuantizer("fc1.weight").Basis;
        using var optimizer = new SgdOptimizer(t.Named, 0.1, 0);
        var context = new TrainingContext(t.Model, optimizer, 1, 1);
        session.OnTrainingStart(context);

        session.BeforeForward(context);
        // The weights are the nearest levels of the initial bases (one basis per output row).
        var q = TinyTraining.Values(t.Parameters["fc1.weight"]);
        int cols = 12;
        var reference = new LqQuantizerState(10, 2, LqDomain.PlusMinusOne, initialBasis);
        using (var m = torch.tensor(master, new long[] { 10, cols }))
        {
            var (values, codes) = reference.Encode(m);
            Assert.Equal(values.data<float>().ToArray(), q);
            codes.Dispose();
            values.Dispose();
        }
        Assert.NotEqual(initialBasis, session.WeightQuantizer("fc1.weight").Basis);   // one QEM step was taken

        optimizer.ZeroGrad();
        var loss = nn.functional.cross_entropy(t.Model.forward(t.Inputs), t.Labels);
        loss.backward();
        var grad = TinyTraining.Values(t.Parameters["fc1.weight"].grad!);
        session.AfterBackward(context);
        Assert.Equal(master, TinyTraining.Values(t.Parameters["fc1.weight"]));   // master restored, gradient kept
        Assert.Equal(grad, TinyTraining.Values(t.Parameters["fc1.weight"].grad!));
        optimizer.Step();
        session.AfterOptimizerStep(context);
        var stepped = session.MasterValues("fc1.weight");
        for (int i = 0; i < master.Length; i++)
            Assert.True(Math.Abs(stepped[i] - (master[i] - 0.1f * grad[i])) <= 1e-6f, $"weight {i}: {stepped[i]} vs {master[i] - 0.1f * grad[i]}");

        session.OnEpochEnd(context);
        // Left quantized: the parameter is exactly the stored form's decoded values.
        var exported = session.ExportWeights().Single();
        Assert.Equal(exported.ToDense(), TinyTraining.Values(t.Parameters["fc1.weight"]));
        Assert.Equal([10, 12], exported.Shape);
        Assert.All(exported.Codes, c => Assert.InRange(c, 0, 3));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void TrainingEndsWithAtMostTwoToTheKLevelsPerRowEqualToTheExport(int bits)
    {
        using var t = new TinyTraining(seed: bits);
        using var session = new LqNetsSession(t.Parameters, [new LqLayer("fc1.weight", bits, null), new LqLayer("fc2.weight", bits, null)]);
        using var opt = t.Adam(0.01);
        t.Train(opt, [session], epochs: 3, stepsPerEpoch: 5);
        foreach (var w in session.ExportWeights())
        {
            var values = TinyTraining.Values(t.Parameters[w.ParameterName]);
            Assert.Equal(w.ToDense(), values);
            int rows = w.Shape[0], cols = values.Length / rows;
            for (int r = 0; r < rows; r++)
                Assert.True(values.Skip(r * cols).Take(cols).Distinct().Count() <= 1 << bits);
        }
    }

    [Fact]
    public void SameSeedSameBasesAndCodes()
    {
        IReadOnlyList<LqQuantizedWeight> Run()
        {
            using var t = new TinyTraining(seed: 5);
            using var session = new LqNetsSession(t.Parameters, [new LqLayer("fc1.weight", 2, null)]);
            using var opt = t.Sgd();
            t.Train(opt, [session], epochs: 2, stepsPerEpoch: 4);
            return session.ExportWeights();
        }
        var a = Run().Single();
        var b = Run().Single();
        Assert.Equal(a.Basis, b.Basis);
        Assert.Equal(a.Codes, b.Codes);
    }

    [Fact]
    public void RejectsBiasesAndUnknownParameters()
    {
        using var t = new TinyTraining();
        Assert.Throws<ArgumentException>(() => new LqNetsSession(t.Parameters, [new LqLayer("fc1.bias", 2, null)]));
        Assert.Throws<ArgumentException>(() => new LqNetsSession(t.Parameters, [new LqLayer("fc9.weight", 2, null)]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LqNetsSession(t.Parameters, [new LqLayer("fc1.weight", 9, null)]));
    }
}

public class LqNetsRecipeTests
{
    private static readonly string[] LeNet5 = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"];
    private static int Rank(string name) => name.EndsWith(".bias", StringComparison.Ordinal) ? 1 : name.StartsWith("conv", StringComparison.Ordinal) ? 4 : 2;

    private const string Stage = """
        stages:
          - method: lq-nets
            layers:
              include: ["*"]

        """;

    [Fact]
    public void FirstAndLastLayersStayFullPrecisionByDefault()
    {
        var recipe = RecipeLoader.Parse(Stage + "    weight-bits: 2\n    activation-bits: 2\n    fine-tune: { epochs: 3, optimizer: adam, lr: 0.001 }\n", "r.yaml");
        var stage = Assert.IsType<LqNetsStage>(recipe.Stages.Single());
        Assert.Equal(CompressionMethod.LqNets, stage.Method);
        recipe.ValidateAgainst(LeNet5);
        var layers = stage.Resolve(LeNet5, Rank);
        Assert.Equal([new LqLayer("conv2.weight", 2, 2), new LqLayer("fc1.weight", 2, 2)], layers);

        var all = (LqNetsStage)RecipeLoader.Parse(Stage + "    weight-bits: 1\n    activation-bits: 32\n    quantize-first-last: true\n", "r.yaml").Stages[0];
        Assert.Equal(["conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"], all.Resolve(LeNet5, Rank).Select(l => l.Parameter));
        Assert.All(all.Resolve(LeNet5, Rank), l => Assert.Null(l.ActivationBits));

        var fp = (LqNetsStage)RecipeLoader.Parse(Stage + "    weight-bits: 32\n    activation-bits: 32\n", "r.yaml").Stages[0];
        Assert.Empty(fp.Resolve(LeNet5, Rank));
    }

    [Fact]
    public void OverridesSetBitsPerLayer()
    {
        var recipe = RecipeLoader.Parse(Stage + "    weight-bits: 2\n    activation-bits: 2\n    overrides:\n      - layer: fc1\n        weight-bits: 1\n      - layer: conv2\n        activation-bits: 32\n", "r.yaml");
        var layers = ((LqNetsStage)recipe.Stages[0]).Resolve(LeNet5, Rank);
        Assert.Equal([new LqLayer("conv2.weight", 2, null), new LqLayer("fc1.weight", 1, 2)], layers);
    }

    public static TheoryData<string, string> Broken => new()
    {
        { Stage + "    weight-bits: 5\n    activation-bits: 2\n", "r.yaml:5: weight-bits must be 1, 2, 3, 4 or 32 (full precision), got 5" },
        { Stage + "    weight-bits: 2\n    activation-bits: 0\n", "r.yaml:6: activation-bits must be 1, 2, 3, 4 or 32 (full precision), got 0" },
        { Stage + "    weight-bits: two\n    activation-bits: 2\n", "r.yaml:5: weight-bits must be an integer, got 'two'" },
        { Stage + "    activation-bits: 2\n", "r.yaml:2: an lq-nets stage is missing the required key 'weight-bits'" },
        { Stage + "    weight-bits: 2\n    activation-bits: 2\n    bits: 2\n", "r.yaml:7: unknown key 'bits' in stage 1 (lq-nets)" },
        { Stage + "    weight-bits: 2\n    activation-bits: 2\n    quantize-first-last: maybe\n", "r.yaml:7: quantize-first-last must be true or false, got 'maybe'" },
        { Stage + "    weight-bits: 2\n    activation-bits: 2\n    overrides:\n      - layer: fc1\n", "r.yaml:8: override for 'fc1' sets nothing" },
        { Stage + "    weight-bits: 2\n    activation-bits: 2\n  - method: lq-nets\n    layers: { include: fc1 }\n    weight-bits: 1\n    activation-bits: 2\n",
            "r.yaml:7: a recipe has at most one lq-nets stage" },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public void BadValuesAreOneLineNamingTheLine(string yaml, string expected)
    {
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(yaml, "r.yaml"));
        Assert.StartsWith(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void NothingLeftToQuantizeIsAnError()
    {
        var recipe = RecipeLoader.Parse("stages:\n  - method: lq-nets\n    layers:\n      include: [conv1, fc2]\n    weight-bits: 2\n    activation-bits: 2\n", "r.yaml");
        var e = Assert.Throws<RecipeException>(() => ((LqNetsStage)recipe.Stages[0]).Resolve(LeNet5, Rank));
        Assert.StartsWith("r.yaml:2: the lq-nets stage selects no Linear or Conv2d weight to quantize", e.Message);
    }
}
