using SlimNet.Compression.Hooks;
using SlimNet.Compression.Optim;
using SlimNet.Compression.Pruning;
using SlimNet.Compression.Quantization;
using SlimNet.Compression.Recipes;
using SlimNet.Compression.Schedules;
using SlimNet.Format;
using SlimNet.Format.Graph;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Compression.Tests.Quantization;

[Collection("torch")]
public class LossAwareQuantizerTests
{
    public static IEnumerable<object[]> AllMethods() =>
        from m in Enum.GetValues<WeightProjection>()
        from perChannel in new[] { false, true }
        where !(m == WeightProjection.LaqLog && perChannel)
        from bits in m is WeightProjection.LaqLinear or WeightProjection.LaqLog or WeightProjection.Uniform ? new[] { 2, 3 } : new[] { 2 }
        select new object[] { m, perChannel, bits };

    /// <summary>Records the parameters' values right after the quantizer's start (the first ŵ, which seeds LAQ's first projection).</summary>
    private sealed class StartCapture(Dictionary<string, float[]> into, params string[] names) : ITrainingHooks
    {
        public void OnTrainingStart(TrainingContext context)
        {
            foreach (var n in names) into[n] = TinyTraining.Values(context.Parameters[n]);
        }
    }

    /// <summary>Records the gradient (w.r.t. the weights the forward pass used) and those weights, after the quantizer's AfterBackward.</summary>
    private sealed class Probe(string name) : ITrainingHooks
    {
        public float[]? UsedInForward, Gradient;
        public void BeforeForward(TrainingContext context) => UsedInForward = TinyTraining.Values(context.Parameters[name]);
        public void AfterBackward(TrainingContext context) => Gradient = TinyTraining.Values(context.Parameters[name].grad!);
    }

    [Theory]
    [MemberData(nameof(AllMethods))]
    public void ForwardUsesTheProjectionOfTheShadowWeightsWithAdamsCurvature(WeightProjection method, bool perChannel, int bits)
    {
        using var t = new TinyTraining(seed: 3);
        using var adam = new AdamOptimizer(t.Named, 0.05);
        var layers = new[] { new QuantizedLayer("fc1.weight", method, bits, perChannel), new QuantizedLayer("fc2.weight", method, bits, perChannel) };
        using var q = new LossAwareQuantizer(t.Parameters, layers);
        var probe = new Probe("fc1.weight");
        var previous = new Dictionary<string, float[]>();
        int checkedSteps = 0;
        t.Train(adam, [q, probe, new StartCapture(previous, "fc1.weight", "fc2.weight")], epochs: 2, stepsPerEpoch: 4, afterEachStep: ctx =>
        {
            foreach (var name in new[] { "fc1.weight", "fc2.weight" })
            {
                var p = t.Parameters[name];
                int rows = (int)p.shape[0];
                float[] w = q.ShadowWeights(name);
                using var vHat = adam.SecondMomentCorrected(name)!;
                float[] d = TinyTraining.Values(vHat.sqrt().add(adam.Epsilon));
                if (LossAwareQuantizer.NeedsCurvature(method)) Assert.Equal(d, q.LastCurvature(name));
                var expected = new float[w.Length];
                var codes = new sbyte[w.Length];
                int units = perChannel ? rows : 1, cols = w.Length / units;
                var scales = new float[units];
                for (int r = 0; r < units; r++)
                {
                    var ws = w.AsSpan(r * cols, cols);
                    var ds = d.AsSpan(r * cols, cols);
                    var seed = previous[name].AsSpan(r * cols, cols);
                    var res = method switch
                    {
                        WeightProjection.LaqLinear => LossAwareProjection.LaqLinear(ws, ds, bits, expected.AsSpan(r * cols, cols), codes.AsSpan(r * cols, cols), seed: seed),
                        WeightProjection.LaqLog => LossAwareProjection.LaqLog(ws, ds, bits, expected.AsSpan(r * cols, cols), codes.AsSpan(r * cols, cols), seed: seed),
                        _ => LossAwareProjection.Project(method, ws, ds, expected.AsSpan(r * cols, cols), codes.AsSpan(r * cols, cols), bits),
                    };
                    scales[r] = res.Scale;
                }
                var exported = q.Export(name);
                Assert.Equal(codes, exported.Codes);
                float[] used = TinyTraining.Values(p);
                for (int i = 0; i < w.Length; i++)
                {
                    if (LossAwareQuantizer.FormOf(method) == QuantizedForm.Linear)
                        // stored as code · (α/n): within a float rounding of the projection's α·code/n
                        Assert.True(Math.Abs(expected[i] - used[i]) <= 2e-7 * Math.Max(1, Math.Abs(expected[i])), $"{name}[{i}]: {expected[i]} vs {used[i]}");
                    else
                        Assert.Equal(expected[i], used[i]);
                }
                previous[name] = used;
            }
            checkedSteps++;
        });
        Assert.Equal(8, checkedSteps);
        // The forward pass of the last step used the ŵ written after the step before it.
        Assert.NotNull(probe.UsedInForward);
    }

    [Fact]
    public void ShadowWeightsStayInTheUnitIntervalAndTheGradientAtWHatStepsThem()
    {
        using var t = new TinyTraining(seed: 5);
        // Scale the weights up so that clipping matters from the start.
        using (torch.no_grad()) t.Parameters["fc1.weight"].mul_(4);
        const double lr = 0.3;
        using var sgd = new SgdOptimizer(t.Named, lr, momentum: 0);
        using var q = new LossAwareQuantizer(t.Parameters, [new QuantizedLayer("fc1.weight", WeightProjection.BinaryConnect)]);
        var probe = new Probe("fc1.weight");
        float[]? shadowBefore = null;
        var context = new TrainingContext(t.Model, sgd, 1, 1);
        q.OnTrainingStart(context);
        shadowBefore = q.ShadowWeights("fc1.weight");
        Assert.All(shadowBefore, v => Assert.InRange(v, -1f, 1f));
        Assert.Contains(shadowBefore, v => Math.Abs(v) == 1f);
        int steps = 0;
        t.Train(sgd, [q, probe], epochs: 1, stepsPerEpoch: 6, afterEachStep: _ =>
        {
            float[] shadow = q.ShadowWeights("fc1.weight");
            Assert.All(shadow, v => Assert.InRange(v, -1f, 1f));
            // BinaryConnect forwards with sign(w) exactly.
            Assert.All(probe.UsedInForward!, v => Assert.True(v is 1f or -1f));
            // Straight-through: w ← clip(w − lr·g), g the gradient at ŵ.
            for (int i = 0; i < shadow.Length; i++)
            {
                float expected = Math.Clamp(shadowBefore![i] - (float)lr * probe.Gradient![i], -1f, 1f);
                Assert.True(Math.Abs(expected - shadow[i]) <= 1e-6f, $"[{i}] {expected} vs {shadow[i]}");
            }
            shadowBefore = shadow;
            float[] now = TinyTraining.Values(t.Parameters["fc1.weight"]);
            for (int i = 0; i < shadow.Length; i++) Assert.Equal(shadow[i] < 0 ? -1f : 1f, now[i]);
            steps++;
        });
        Assert.Equal(6, steps);
    }

    [Theory]
    [InlineData(WeightProjection.Lab, false, 0.75)]
    [InlineData(WeightProjection.Lab, true, 0.5)]
    [InlineData(WeightProjection.LaqLinear, false, 0.9)]
    [InlineData(WeightProjection.Bwn, true, 0.3)]
    public void SparsificationZeroesExactlyTheTargetCountOfSmallestDw2(WeightProjection method, bool perChannel, double sparsity)
    {
        using var t = new TinyTraining(seed: 7);
        using var adam = new AdamOptimizer(t.Named, 0.02);
        // AGP from 0 to the target over steps 0..4, then constant.
        var schedule = new AgpSchedule(0, sparsity, 0, 4, 1);
        using var q = new LossAwareQuantizer(t.Parameters, [new QuantizedLayer("fc1.weight", method, 3, perChannel, schedule)]);
        int n = (int)t.Parameters["fc1.weight"].numel();
        t.Train(adam, [q], epochs: 1, stepsPerEpoch: 7, afterEachStep: ctx =>
        {
            long target = MaskSelection.PruneCount(schedule.TargetAt(ctx.Step), n);
            Assert.Equal(target, q.ForcedZeros("fc1.weight"));
            float[] w = q.ShadowWeights("fc1.weight");
            float[] d = q.LastCurvature("fc1.weight");
            var importance = new float[n];
            for (int i = 0; i < n; i++) importance[i] = d[i] * w[i] * w[i];
            bool[] keep = MaskSelection.KeepFlags(importance, [], target);
            float[] used = TinyTraining.Values(t.Parameters["fc1.weight"]);
            for (int i = 0; i < n; i++) if (!keep[i]) Assert.Equal(0f, used[i]);
            // Binary methods keep every other weight non-zero: the zero count is exactly the target.
            if (LossAwareQuantizer.FormOf(method) == QuantizedForm.Binary) Assert.Equal(target, used.Count(v => v == 0f));
        });
        Assert.Equal(MaskSelection.PruneCount(sparsity, n), q.ForcedZeros("fc1.weight"));
    }

    [Fact]
    public void FixedZerosFollowTheProjectionDuringTheRampAndAreKeptAfterIt()
    {
        using var t = new TinyTraining(seed: 11);
        using var adam = new AdamOptimizer(t.Named, 0.05);
        // AGP to 60 % in 2 updates, one every 3 steps: the target changes at steps 0, 3 and 6 (the final one), then holds.
        var schedule = new AgpSchedule(0, 0.6, 0, 2, 3);
        using var q = new LossAwareQuantizer(t.Parameters, [new QuantizedLayer("fc1.weight", WeightProjection.Lab, Sparsity: schedule, FixZerosAfterRamp: true)]);
        int n = (int)t.Parameters["fc1.weight"].numel();
        bool[]? fixedSet = null;
        int chosen = 0, kept = 0, perStepWouldDiffer = 0;
        t.Train(adam, [q], epochs: 1, stepsPerEpoch: 12, afterEachStep: ctx =>
        {
            long target = MaskSelection.PruneCount(schedule.TargetAt(ctx.Step), n);
            Assert.Equal(target, q.ForcedZeros("fc1.weight"));
            float[] used = TinyTraining.Values(t.Parameters["fc1.weight"]);
            bool[] zero = used.Select(v => v == 0f).ToArray();
            Assert.Equal(target, zero.Count(z => z)); // LAB: the forced zeros are the only zeros
            float[] w = q.ShadowWeights("fc1.weight");
            float[] d = q.LastCurvature("fc1.weight");
            var importance = new float[n];
            for (int i = 0; i < n; i++) importance[i] = d[i] * w[i] * w[i];
            bool[] perStep = MaskSelection.KeepFlags(importance, [], target).Select(k => !k).ToArray();
            if (fixedSet is null)
            {
                Assert.Equal(perStep, zero); // during the ramp and at the step that reaches the final target: the projection's choice
                chosen++;
                if (target == MaskSelection.PruneCount(0.6, n)) fixedSet = zero;
            }
            else
            {
                Assert.Equal(fixedSet, zero); // after it: the same set, whatever d·w² says now
                kept++;
                if (!perStep.SequenceEqual(zero)) perStepWouldDiffer++;
            }
        });
        Assert.Equal(12, chosen + kept);
        Assert.True(chosen >= 3 && kept >= 5, $"{chosen} steps chosen, {kept} kept"); // the ramp's three events, then the fixed set
        // The test means something only if the per-step choice would have moved at some later step.
        Assert.True(perStepWouldDiffer > 0, "d·w² ranking never changed after the ramp; pick a livelier seed or learning rate");
    }

    [Fact]
    public void ZerosOptionNeedsASparsityTarget()
    {
        var dir = Directory.CreateTempSubdirectory("slimnet-zeros-");
        try
        {
            string path = Path.Combine(dir.FullName, "r.yaml");
            File.WriteAllText(path, "name: z\nstages:\n  - method: loss-aware\n    quantizer: lab\n    layers: { include: [\"fc*.weight\"] }\n    zeros: fixed-after-ramp\n    fine-tune: { epochs: 1, optimizer: adam, lr: 0.001 }\n");
            var e = Assert.ThrowsAny<Exception>(() => RecipeLoader.Load(path));
            Assert.Contains("r.yaml:6:", e.Message);
            Assert.Contains("'zeros'", e.Message);
            File.WriteAllText(path, "name: z\nstages:\n  - method: loss-aware\n    quantizer: lab\n    layers: { include: [\"fc*.weight\"] }\n    sparsity: 0.5\n    zeros: sometimes\n    fine-tune: { epochs: 1, optimizer: adam, lr: 0.001 }\n");
            e = Assert.ThrowsAny<Exception>(() => RecipeLoader.Load(path));
            Assert.Contains("r.yaml:7:", e.Message);
            File.WriteAllText(path, "name: z\nstages:\n  - method: loss-aware\n    quantizer: lab\n    layers: { include: [\"fc*.weight\"] }\n    sparsity: 0.5\n    zeros: fixed-after-ramp\n    fine-tune: { epochs: 1, optimizer: adam, lr: 0.001 }\n");
            Assert.True(Assert.IsType<LossAwareStage>(RecipeLoader.Load(path).Stages[0]).FixZerosAfterRamp);
        }
        finally { dir.Delete(true); }
    }

    [Theory]
    [InlineData(1, 100, 30)]
    [InlineData(2, 1000, 999)]
    [InlineData(3, 17, 0)]
    [InlineData(4, 64, 64)]
    [InlineData(5, 50000, 47500)]
    [InlineData(6, 1, 1)]
    public void SmallestImportanceRanksAsMaskSelectionWithTies(int seed, int n, int count)
    {
        var rng = new Random(seed);
        // Few distinct values so that ties are common; continuous values spanning many exponents for the large case.
        var w = Enumerable.Range(0, n).Select(_ => n > 10000 ? (float)((rng.NextDouble() - 0.5) * Math.Pow(10, -rng.Next(0, 8))) : (float)(rng.Next(-4, 5) / 4.0)).ToArray();
        var d = Enumerable.Range(0, n).Select(_ => rng.Next(2) == 0 ? 1f : 2f).ToArray();
        var importance = w.Select((v, i) => d[i] * v * v).ToArray();
        bool[] keep = MaskSelection.KeepFlags(importance, [], count);
        bool[] pruned = LossAwareQuantizer.SmallestImportance(w, d, count);
        Assert.Equal(keep.Select(k => !k), pruned);
    }

    private static ModelGraph TinyGraph()
    {
        var b = new GraphBuilder("tiny", 12);
        b.Linear("fc1", 12, 10);
        b.ReLU("relu");
        b.Linear("fc2", 10, 4);
        return b.Build();
    }

    [Theory]
    [MemberData(nameof(AllMethods))]
    public void EveryStorageCandidateRoundTripsTheTrainedValuesExactly(WeightProjection method, bool perChannel, int bits)
    {
        foreach (double sparsity in new[] { 0.0, 0.6 })
        {
            using var t = new TinyTraining(seed: 11);
            using var adam = new AdamOptimizer(t.Named, 0.05);
            var schedule = sparsity > 0 ? new OneShotSchedule(sparsity, 0) : null;
            using var q = new LossAwareQuantizer(t.Parameters, [new QuantizedLayer("fc1.weight", method, bits, perChannel, schedule)]);
            t.Train(adam, [q], epochs: 1, stepsPerEpoch: 3);
            float[] trained = TinyTraining.Values(t.Parameters["fc1.weight"]);
            var exported = q.Export("fc1.weight");
            Assert.Equal(trained, exported.Decode());
            int candidates = 0;
            foreach (var tensor in exported.StorageCandidates())
            {
                var model = new SlimModel(TinyGraph(), [tensor]);
                var back = SlimReader.Read(SlimWriter.ToBytes(model)).Tensors.Single();
                float[] decoded = back.ToDense();
                for (int i = 0; i < trained.Length; i++)
                    Assert.True(BitConverter.SingleToInt32Bits(trained[i] == 0 ? 0f : trained[i]) == BitConverter.SingleToInt32Bits(decoded[i] == 0 ? 0f : decoded[i]),
                        $"{tensor.Encoding} {tensor.Sparsity}: [{i}] {trained[i]} vs {decoded[i]}");
                candidates++;
            }
            Assert.True(candidates >= 1);
        }
    }

    [Fact]
    public void LossAwareMethodsRefuseAnOptimizerWithoutASecondMoment()
    {
        using var t = new TinyTraining();
        using var sgd = new SgdOptimizer(t.Named, 0.1);
        using var q = new LossAwareQuantizer(t.Parameters, [new QuantizedLayer("fc1.weight", WeightProjection.Lab)]);
        var e = Assert.Throws<InvalidOperationException>(() => q.Start(sgd));
        Assert.Contains("Adam", e.Message);
    }

    [Fact]
    public void ZeroEpochsStillQuantizesAndExports()
    {
        using var t = new TinyTraining();
        using var adam = new AdamOptimizer(t.Named, 0.01);
        using var q = new LossAwareQuantizer(t.Parameters, [new QuantizedLayer("fc2.weight", WeightProjection.LatExact)]);
        t.Train(adam, [q], epochs: 0, stepsPerEpoch: 1);
        float[] values = TinyTraining.Values(t.Parameters["fc2.weight"]);
        Assert.True(values.Distinct().Count() <= 3);
        Assert.Equal(values, q.Export("fc2.weight").Decode());
    }

    private const string Stage = "stages:\n  - method: loss-aware\n    layers:\n      include: [\"fc*.weight\"]\n";

    public static TheoryData<string, string> BadRecipes => new()
    {
        { Stage + "    quantizer: lat3\n", "recipe.yaml:5: unknown quantizer 'lat3' (expected one of: lab, late, lata, lat2e, lat2a, laq-linear, laq-log, binaryconnect, bwn, twn, ste-uniform)" },
        { Stage, "recipe.yaml:2: a loss-aware stage is missing the required key 'quantizer'" },
        { Stage + "    quantizer: laq-linear\n", "recipe.yaml:5: quantizer 'laq-linear' needs 'bits' (2 to 8)" },
        { Stage + "    quantizer: laq-linear\n    bits: 9\n", "recipe.yaml:6: bits must be in [2, 8] for quantizer 'laq-linear', got 9" },
        { Stage + "    quantizer: lab\n    bits: 2\n", "recipe.yaml:6: quantizer 'lab' has a fixed width; 'bits' applies to laq-linear, laq-log and ste-uniform only" },
        { Stage + "    quantizer: lab\n    scales: row\n", "recipe.yaml:6: scales must be one of: layer, channel; got 'row'" },
        { Stage + "    quantizer: laq-log\n    bits: 3\n    scales: channel\n", "recipe.yaml:7: quantizer 'laq-log' is stored as one codebook per tensor: use 'scales: layer'" },
        { Stage + "    quantizer: lata\n    fine-tune: { epochs: 1, optimizer: sgd, lr: 0.1 }\n", "recipe.yaml:5: quantizer 'lata' takes its curvature from Adam's second moment: use fine-tune optimizer 'adam'" },
        { Stage + "    quantizer: late\n    sparsity: 1.2\n", "recipe.yaml:6: sparsity must be in [0, 1), got 1.2" },
        { Stage + "    quantizer: late\n    schedule: { kind: agp, end: 2 }\n", "recipe.yaml:6: 'schedule' ramps the 'sparsity' target: give the stage a 'sparsity' too" },
        { Stage + "    quantizer: late\n    sparsity: 0.9\n    schedule: { kind: agp, end: 4 }\n    fine-tune: { epochs: 3, optimizer: adam, lr: 0.001 }\n",
            "recipe.yaml:7: the schedule sparsifies until epoch 4 but the stage fine-tunes 3 epochs" },
        { Stage + "    quantizer: lab\n    overrides:\n      - layer: fc1\n", "recipe.yaml:7: override for 'fc1' sets nothing (expected 'sparsity')" },
        { Stage + "    quantizer: lab\n    overrides:\n      - layer: fc1\n        bits: 3\n", "recipe.yaml:8: unknown key 'bits' in a loss-aware override" },
        { Stage + "    quantizer: lab\n    fine-tune: { epochs: 1, optimizer: adam, lr: 0.001, lr-schedule: step }\n", "recipe.yaml:6: lr-schedule must be one of: constant, cosine; got 'step'" },
    };

    [Theory]
    [MemberData(nameof(BadRecipes))]
    public void BadLossAwareRecipesGiveOneLineNamingTheLine(string yaml, string expected)
    {
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(yaml, "recipe.yaml"));
        Assert.StartsWith(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void ARecipeStageBuildsTheQuantizerWithItsSettings()
    {
        var recipe = RecipeLoader.Parse(Stage + "    quantizer: laq-linear\n    bits: 3\n    scales: channel\n    sparsity: 0.5\n" +
                                        "    schedule: { kind: agp, start: 0, end: 1 }\n    fine-tune: { epochs: 2, optimizer: adam, lr: 0.001, lr-schedule: cosine }\n" +
                                        "    overrides:\n      - layer: fc2\n        sparsity: 0.8\n", "recipe.yaml");
        var stage = Assert.IsType<LossAwareStage>(recipe.Stages[0]);
        Assert.Equal("cosine", stage.FineTune!.Schedule);
        using var t = new TinyTraining();
        using var q = (LossAwareQuantizer)CompressionStageFactory.CreateSession(stage, t.Parameters, 10);
        Assert.Equal(["fc1.weight", "fc2.weight"], q.ParameterNames);
        Assert.All(q.Layers, l =>
        {
            Assert.Equal(WeightProjection.LaqLinear, l.Method);
            Assert.Equal(3, l.Bits);
            Assert.True(l.PerChannel);
            Assert.Equal(l.ParameterName == "fc2.weight" ? 0.8 : 0.5, l.Sparsity!.TargetAt(10));
            Assert.True(l.Sparsity.TargetAt(5) < l.Sparsity.TargetAt(10));
        });
    }

    public static IEnumerable<object[]> ShippedRecipes()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !Directory.Exists(Path.Combine(dir.FullName, "recipes"))) dir = dir.Parent;
        var folder = Path.Combine(dir?.FullName ?? throw new DirectoryNotFoundException("recipes/ not found"), "recipes", "loss-aware");
        return Directory.GetFiles(folder, "*.yaml").Order(StringComparer.Ordinal).Select(f => new object[] { f });
    }

    [Theory]
    [MemberData(nameof(ShippedRecipes))]
    public void ShippedLossAwareRecipesLoadAndMatchTheirModel(string path)
    {
        string[] names = Path.GetFileName(path) switch
        {
            var f when f.StartsWith("mlp-2048x3-bn-") => ["fc1.weight", "fc1.bias", "bn1.weight", "bn1.bias", "fc2.weight", "fc2.bias", "bn2.weight", "bn2.bias",
                "fc3.weight", "fc3.bias", "bn3.weight", "bn3.bias", "fc4.weight", "fc4.bias"],
            var f when f.StartsWith("lenet-5-") => ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"],
            _ => ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"],
        };
        var recipe = RecipeLoader.Load(path);
        recipe.ValidateAgainst(names);
        if (Path.GetFileName(path).EndsWith("-fp-distilled.yaml", StringComparison.Ordinal))
        {
            // The full-precision control of the distilled recipes: the same fine-tuning, nothing removed or quantized.
            var control = Assert.IsType<PruneStage>(Assert.Single(recipe.Stages));
            Assert.Equal(0, control.Sparsity);
            Assert.NotNull(control.FineTune?.Distill);
            return;
        }
        Assert.All(recipe.Stages, s => Assert.IsType<LossAwareStage>(s));
    }

    [Fact]
    public void ALaterStageKeepsTheShadowWeightsAndTheReachedSparsityAndUsesItsOwnOptimizer()
    {
        using var t = new TinyTraining(seed: 13);
        var schedule = new AgpSchedule(0, 0.5, 0, 3, 1);
        using var q = new LossAwareQuantizer(t.Parameters, [new QuantizedLayer("fc1.weight", WeightProjection.Lab, Sparsity: schedule)]);
        using (var first = new AdamOptimizer(t.Named, 0.02)) t.Train(first, [q], epochs: 1, stepsPerEpoch: 5);
        long reached = q.ForcedZeros("fc1.weight");
        Assert.Equal(MaskSelection.PruneCount(0.5, 120), reached);
        float[] shadow = q.ShadowWeights("fc1.weight");
        using var second = new AdamOptimizer(t.Named, 0.02);
        var context = new TrainingContext(t.Model, second, 1, 1);
        q.OnTrainingStart(context);
        Assert.Equal(shadow, q.ShadowWeights("fc1.weight"));
        t.Train(second, [q], epochs: 1, stepsPerEpoch: 2);
        Assert.Equal(reached, q.ForcedZeros("fc1.weight"));
        // d now comes from the second optimizer's moments.
        using var vHat = second.SecondMomentCorrected("fc1.weight")!;
        Assert.Equal(TinyTraining.Values(vHat.sqrt().add(second.Epsilon)), q.LastCurvature("fc1.weight"));
    }
}
