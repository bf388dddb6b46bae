using SlimNet.Compression.Pruning;
using SlimNet.Compression.Recipes;
using SlimNet.Compression.Sharing;

namespace SlimNet.Compression.Tests;

public class RecipeTests
{
    private static readonly string[] LeNet300 = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"];
    private static readonly string[] LeNet5 = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"];

    private static string RecipesDirectory()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !Directory.Exists(Path.Combine(dir.FullName, "recipes"))) dir = dir.Parent;
        return Path.Combine(dir?.FullName ?? throw new DirectoryNotFoundException("recipes/ not found above the test output"), "recipes");
    }

    // A valid prune stage; each broken recipe below changes one thing (line numbers are 1-based).
    private const string Valid = """
        name: ok
        stages:
          - method: prune
            layers:
              include: ["fc*.weight"]
            sparsity: 0.5
            schedule:
              kind: iterative
              fraction: 0.5
              every: 1
            fine-tune:
              epochs: 3
              optimizer: sgd
              lr: 0.01
          - method: kmeans
            layers:
              include: fc1
            bits: 4
        """;

    [Fact]
    public void TheValidTemplateLoads()
    {
        var recipe = RecipeLoader.Parse(Valid, "recipe.yaml");
        Assert.Equal(2, recipe.Stages.Count);
        var prune = Assert.IsType<PruneStage>(recipe.Stages[0]);
        Assert.Equal(0.5, prune.Sparsity);
        Assert.Equal(ScheduleKind.Iterative, prune.Schedule.Kind);
        Assert.Equal(3, prune.FineTune!.Epochs);
        var kmeans = Assert.IsType<KMeansStage>(recipe.Stages[1]);
        Assert.Equal(4, kmeans.Bits);
        Assert.Null(kmeans.FineTune);
        recipe.ValidateAgainst(LeNet300);
        Assert.Equal(new Dictionary<string, int> { ["fc1.weight"] = 4 }, kmeans.ResolveBits(LeNet300));
    }

    public static TheoryData<string, string, string> BrokenRecipes => new()
    {
        // name, yaml, expected message (exact, after "recipe.yaml:")
        { "sparsity out of range", Valid.Replace("sparsity: 0.5", "sparsity: 1.5"), "6: sparsity must be in [0, 1), got 1.5" },
        { "bits 0", Valid.Replace("bits: 4", "bits: 0"), "18: bits must be in [1, 16], got 0" },
        { "bits 33", Valid.Replace("bits: 4", "bits: 33"), "18: bits must be in [1, 16], got 33" },
        { "negative epochs", Valid.Replace("epochs: 3", "epochs: -1"), "12: epochs must be in [0, 100000], got -1" },
        { "negative lr", Valid.Replace("lr: 0.01", "lr: -0.1"), "14: lr must be > 0, got -0.1" },
        { "unknown method", Valid.Replace("method: kmeans", "method: quantise"), "15: unknown method 'quantise' (expected one of: prune, kmeans" },
        { "unknown key", Valid.Replace("sparsity: 0.5", "sparsty: 0.5"),
            "6: unknown key 'sparsty' in stage 1 (prune) (expected one of: method, layers, fine-tune, overrides, sparsity, q, schedule, scope, importance)" },
        { "wrong type", Valid.Replace("sparsity: 0.5", "sparsity: high"), "6: sparsity must be a number, got 'high'" },
        { "fractional epochs", Valid.Replace("epochs: 3", "epochs: 2.5"), "12: epochs must be an integer, got '2.5'" },
        { "missing layers", Valid.Replace("    layers:\n      include: fc1\n", ""), "15: stage 2 is missing the required key 'layers'" },
        { "missing target", Valid.Replace("    sparsity: 0.5\n", ""), "3: a prune stage needs 'sparsity' (target fraction) or 'q' (threshold q·std)" },
        { "malformed yaml", Valid.Replace("include: [\"fc*.weight\"]", "include: [\"fc*.weight\""), "5: malformed YAML: unterminated list, mapping or quoted value" },
        { "empty stage list", "name: x\nstages: []\n", "2: 'stages' is empty: a recipe needs at least one stage" },
        { "empty file", "", " the recipe is empty: expected a mapping with 'stages'" },
        { "unknown optimizer", Valid.Replace("optimizer: sgd", "optimizer: rmsprop"), "13: optimizer must be one of: sgd, adam; got 'rmsprop'" },
        { "schedule outlasts training", Valid.Replace("sparsity: 0.5", "sparsity: 0.9"), "8: the schedule prunes until epoch 3 but the stage fine-tunes 3 epochs" },
        { "agp end before start", Valid.Replace("kind: iterative\n      fraction: 0.5\n      every: 1", "kind: agp\n      start: 2\n      end: 1"),
            "10: end must be after start (2), got 1" },
        { "unknown schedule kind", Valid.Replace("kind: iterative", "kind: cosine"), "8: unknown schedule kind 'cosine' (expected one of: one-shot, iterative, agp, dat)" },
        { "fine-tune not a mapping", Valid.Replace("fine-tune:\n      epochs: 3\n      optimizer: sgd\n      lr: 0.01", "fine-tune: 5"),
            "11: fine-tune must be a mapping of 'key: value' lines, got '5'" },
        { "both sparsity and q", Valid.Replace("sparsity: 0.5", "sparsity: 0.5\n    q: 1.2"), "7: give either 'sparsity' or 'q', not both" },
        { "global with overrides", Valid.Replace("sparsity: 0.5", "sparsity: 0.5\n    scope: global\n    overrides:\n      - layer: fc1\n        sparsity: 0.2"),
            "9: per-layer overrides need scope 'per-layer'" },
        { "taylor from step 0", Valid.Replace("sparsity: 0.5", "sparsity: 0.5\n    importance: taylor"),
            "7: importance 'taylor' accumulates gradients first: the schedule's 'start' must be > 0" },
        { "top-level unknown key", "stage:\n  - method: prune\n", "1: unknown key 'stage' in the recipe (expected one of: name, description, stages)" },
        { "override without value", Valid.Replace("    bits: 4", "    bits: 4\n    overrides:\n      - layer: fc1"), "20: a kmeans override is missing the required key 'bits'" },
        { "dat with sparsity", Valid.Replace("kind: iterative\n      fraction: 0.5\n      every: 1", "kind: dat\n      ramp: 3"),
            "8: schedule 'dat' adapts a threshold: give the stage 'q' instead of 'sparsity'" },
    };

    [Theory]
    [MemberData(nameof(BrokenRecipes))]
    public void EachBrokenRecipeGivesItsOwnMessageWithFileAndLine(string name, string yaml, string expected)
    {
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(yaml.Replace("\r\n", "\n"), "recipe.yaml"));
        Assert.True(e.Message.StartsWith("recipe.yaml:" + expected, StringComparison.Ordinal), $"{name}: got \"{e.Message}\"");
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void LoadNamesTheFileAndReportsAMissingFile()
    {
        string path = Path.Combine(Path.GetTempPath(), $"slimnet-recipe-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, Valid.Replace("bits: 4", "bits: 0"));
        try
        {
            var e = Assert.Throws<RecipeException>(() => RecipeLoader.Load(path));
            Assert.StartsWith(path + ":18: bits", e.Message);
        }
        finally { File.Delete(path); }
        Assert.Throws<RecipeException>(() => RecipeLoader.Load(path));
    }

    [Fact]
    public void PatternsThatMatchNoLayerAreReportedWithTheirLine()
    {
        var recipe = RecipeLoader.Parse(Valid.Replace("include: fc1", "include: conv9*"), "recipe.yaml");
        var e = Assert.Throws<RecipeException>(() => recipe.ValidateAgainst(LeNet300));
        Assert.StartsWith("recipe.yaml:17: pattern 'conv9*' matches no layer", e.Message);

        var excluded = RecipeLoader.Parse(Valid.Replace("include: fc1", "include: fc1\n      exclude: [fc7]"), "recipe.yaml");
        Assert.StartsWith("recipe.yaml:18: pattern 'fc7' matches no layer", Assert.Throws<RecipeException>(() => excluded.ValidateAgainst(LeNet300)).Message);

        var overridden = RecipeLoader.Parse(Valid.Replace("bits: 4", "bits: 4\n    overrides:\n      - layer: fc2\n        bits: 8"), "recipe.yaml");
        Assert.StartsWith("recipe.yaml:20: override pattern 'fc2' matches no layer selected by this stage",
            Assert.Throws<RecipeException>(() => overridden.ValidateAgainst(LeNet300)).Message);
    }

    [Fact]
    public void GlobsMatchFullNamesAndModuleNames()
    {
        var p = new LayerPattern("features.*.weight", 1);
        Assert.True(p.Matches("features.0.weight"));
        Assert.True(p.Matches("features.10.weight"));
        Assert.False(p.Matches("features.0.bias"));
        Assert.True(new LayerPattern("conv1", 1).Matches("conv1.weight"));
        Assert.True(new LayerPattern("conv1", 1).Matches("conv1.bias"));
        Assert.False(new LayerPattern("conv1", 1).Matches("conv10.weight"));
        Assert.True(new LayerPattern("fc?.weight", 1).Matches("fc3.weight"));
    }

    [Theory]
    [InlineData("deep-compression-lenet-300-100.yaml", "lenet-300-100")]
    [InlineData("agp-lenet-300-100.yaml", "lenet-300-100")]
    [InlineData("deep-compression-lenet-5.yaml", "lenet-5")]
    [InlineData("sensitivity-guided-lenet-5.yaml", "lenet-5")]
    public void ShippedRecipesLoadAndMatchTheirModel(string file, string model)
    {
        var recipe = RecipeLoader.Load(Path.Combine(RecipesDirectory(), file));
        recipe.ValidateAgainst(model == "lenet-5" ? LeNet5 : LeNet300);
    }

    [Fact]
    public void DeepCompressionRecipesLoadWithTheirDocumentedTargets()
    {
        // The shipped recipes differ from the paper's settings on purpose (see their header comments and
        // docs/RESULTS.md): gradual pruning to fewer kept weights, fewer bits, biases shared too.
        var lenet300 = RecipeLoader.Load(Path.Combine(RecipesDirectory(), "deep-compression-lenet-300-100.yaml"));
        var prune = Assert.IsType<PruneStage>(lenet300.Stages[0]);
        var sparsity = prune.Resolve(LeNet300).ToDictionary(r => r.Parameter, r => r.Sparsity);
        Assert.Equal(new Dictionary<string, double?> { ["fc1.weight"] = 0.94, ["fc2.weight"] = 0.92, ["fc3.weight"] = 0.70 }, sparsity);
        var bits300 = Assert.IsType<KMeansStage>(lenet300.Stages[1]).ResolveBits(LeNet300);
        Assert.Equal(5, bits300["fc1.weight"]);
        Assert.Equal(5, bits300["fc2.bias"]);
        Assert.Equal(6, bits300["fc3.weight"]);

        var lenet5 = RecipeLoader.Load(Path.Combine(RecipesDirectory(), "deep-compression-lenet-5.yaml"));
        var keep = Assert.IsType<PruneStage>(lenet5.Stages[0]).Resolve(LeNet5).ToDictionary(r => r.Parameter, r => Math.Round(1 - r.Sparsity!.Value, 2));
        Assert.Equal(new Dictionary<string, double> { ["conv1.weight"] = 0.70, ["conv2.weight"] = 0.15, ["fc1.weight"] = 0.05, ["fc2.weight"] = 0.20 }, keep);
        var bits5 = Assert.IsType<KMeansStage>(lenet5.Stages[1]).ResolveBits(LeNet5);
        Assert.Equal(6, bits5["conv1.weight"]);
        Assert.Equal(6, bits5["conv2.weight"]);
        Assert.Equal(5, bits5["fc1.weight"]);
        Assert.Equal(5, bits5["fc2.weight"]);
    }

    [Fact]
    public void FactoryBuildsSessionsThatRunAStageChain()
    {
        const string yaml = """
            stages:
              - method: prune
                layers: { include: ["fc*"] }
                sparsity: 0.6
                overrides:
                  - layer: fc2
                    sparsity: 0.5
                schedule: { kind: agp, start: 0, end: 2, every: 0.5 }
                fine-tune: { epochs: 3, optimizer: sgd, lr: 0.05, momentum: 0.9 }
              - method: kmeans
                layers: { include: ["*.weight"] }
                bits: 3
                fine-tune: { epochs: 1, optimizer: adam, lr: 0.001 }
            """;
        var recipe = RecipeLoader.Parse(yaml, "chain.yaml");
        using var t = new TinyTraining(seed: 5);
        recipe.ValidateAgainst(t.Parameters.Keys);
        const int stepsPerEpoch = 4;
        using var pruner = (Pruner)CompressionStageFactory.CreateSession(recipe.Stages[0], t.Parameters, stepsPerEpoch);
        using (var sgd = t.Sgd(0.05, 0.9)) t.Train(sgd, [pruner], recipe.Stages[0].FineTune!.Epochs, stepsPerEpoch);
        Assert.Equal(MaskSelection.PruneCount(0.6, 120), pruner.Masks.PrunedCount("fc1.weight"));
        Assert.Equal(MaskSelection.PruneCount(0.5, 40), pruner.Masks.PrunedCount("fc2.weight"));
        Assert.False(pruner.Masks.Contains("fc1.bias"));

        using var sharing = (WeightSharing)CompressionStageFactory.CreateSession(recipe.Stages[1], t.Parameters, stepsPerEpoch);
        using (var adam = t.Adam(0.001)) t.Train(adam, [pruner, sharing], 1, stepsPerEpoch);
        foreach (var shared in sharing.ExportAll())
        {
            Assert.Equal(7, shared.Codebook.Length); // pruned layers keep the 8th code for 0
            Assert.Equal(pruner.Masks.ToArray(shared.ParameterName).Count(k => k), shared.Positions.Length);
            Assert.Equal(TinyTraining.Values(t.Parameters[shared.ParameterName]), shared.ToDense());
        }
    }

    [Fact]
    public void DatAndThresholdStagesBuildThresholdPruners()
    {
        const string yaml = """
            stages:
              - method: prune
                layers: { include: [fc1, fc2] }
                q: 1.0
                schedule: { kind: dat, ramp: 2 }
                fine-tune: { epochs: 3, lr: 0.05 }
            """;
        var stage = RecipeLoader.Parse(yaml, "dat.yaml").Stages[0];
        using var t = new TinyTraining();
        using var pruner = CompressionStageFactory.CreatePruner((PruneStage)stage, t.Parameters, 4);
        using (var sgd = t.Sgd(0.05, 0)) t.Train(sgd, [pruner], 3, 4);
        Assert.True(pruner.Masks.PrunedCount("fc1.weight") > 0);
    }

    private const string ImportanceRecipe = """
        name: gi
        stages:
          - method: importance-train
            layers: { include: ["*"], biases: true }
            split: [0.6, 0.5]
            bits: 2
            fine-tune: { epochs: 3, optimizer: adam, lr: 0.001 }
          - method: importance-post
            layers: { include: ["fc*"], biases: true }
            bits: [0, 4, 8]
            clustering: quantile
            fractions: [0.5, 0.3, 0.2]
            normalize: parameter-mean
        """;

    [Fact]
    public void ImportanceStagesParseWithTheirValues()
    {
        var recipe = RecipeLoader.Parse(ImportanceRecipe, "gi.yaml");
        recipe.ValidateAgainst(LeNet300);
        var train = Assert.IsType<ImportanceTrainStage>(recipe.Stages[0]);
        Assert.Equal(CompressionMethod.ImportanceTrain, train.Method);
        Assert.Equal(2, train.Bits);
        Assert.Equal(0.6, train.SplitAt(0));
        Assert.Equal(0.5, train.SplitAt(1));
        Assert.Equal(0.0, train.SplitAt(2)); // after the list: no more freezing
        Assert.False(train.Normalize);
        var post = Assert.IsType<ImportancePostStage>(recipe.Stages[1]);
        Assert.Equal([0, 4, 8], post.Bits);
        Assert.Equal(SlimNet.Compression.Importance.ImportanceClusteringKind.Quantile, post.Clustering);
        Assert.Equal([0.5, 0.3, 0.2], post.Fractions!);
        Assert.True(post.Normalize);
        var single = RecipeLoader.Parse(ImportanceRecipe.Replace("split: [0.6, 0.5]", "split: 0.7"), "gi.yaml");
        Assert.Equal(0.7, ((ImportanceTrainStage)single.Stages[0]).SplitAt(2));
    }

    public static TheoryData<string, string, string> BrokenImportanceRecipes => new()
    {
        { "split: [0.6, 0.5]", "split: 1.5", ":5: split must be in [0, 1]" },
        { "split: [0.6, 0.5]", "split: [0.5, 0.5, 0.5, 0.5]", ":5: split lists 4 epochs but the stage fine-tunes 3" },
        { "    bits: 2\n", "    bits: 17\n", ":6: bits must be in [0, 16] (0 = pruned), got 17" },
        { "bits: [0, 4, 8]", "bits: [0, 8, 4]", ":10: bits must not decrease" },
        { "fractions: [0.5, 0.3, 0.2]", "fractions: [0.5, 0.3, 0.3]", ":12: fractions must sum to 1" },
        { "fractions: [0.5, 0.3, 0.2]", "fractions: [0.5, 0.5]", ":12: fractions has 2 entries but bits has 3" },
        { "    clustering: quantile\n", "    clustering: kmeans-log\n", ":12: fractions set the cluster sizes of clustering 'quantile'" },
        { "    fractions: [0.5, 0.3, 0.2]\n", "", ":11: clustering 'quantile' needs 'fractions'" },
        { "clustering: quantile", "clustering: median", ":11: clustering must be one of: kmeans-log, quantile; got 'median'" },
        { "normalize: parameter-mean", "normalize: yes", ":13: normalize must be one of: none, parameter-mean; got 'yes'" },
        { "    fine-tune: { epochs: 3, optimizer: adam, lr: 0.001 }\n", "", ":3: an importance-train stage freezes after each training epoch" },
        { "    bits: 2\n", "    bits: 2\n    overrides: [{ layer: fc1, bits: 4 }]\n", ":7: 'importance-train' ranks all selected parameters together" },
    };

    [Theory]
    [MemberData(nameof(BrokenImportanceRecipes))]
    public void BrokenImportanceRecipeIsOneErrorNamingTheLine(string from, string to, string expected)
    {
        string yaml = ImportanceRecipe.Replace(from, to);
        Assert.NotEqual(ImportanceRecipe, yaml);
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(yaml, "gi.yaml"));
        Assert.Contains("gi.yaml" + expected, e.Message);
    }

    private const string DistillRecipe = """
        name: kd
        stages:
          - method: loss-aware
            quantizer: lata
            layers: { include: ["fc*.weight"] }
            fine-tune:
              epochs: 2
              optimizer: adam
              lr: 0.001
              distill: { temperature: 3, weight: 0.7 }
        """;

    [Fact]
    public void DistillationIsReadWithItsDefaults()
    {
        var ft = RecipeLoader.Parse(DistillRecipe, "kd.yaml").Stages[0].FineTune!;
        Assert.Equal(new Distillation(3, 0.7), ft.Distill);
        var defaults = RecipeLoader.Parse(DistillRecipe.Replace("{ temperature: 3, weight: 0.7 }", "{}"), "kd.yaml").Stages[0].FineTune!;
        Assert.Equal(new Distillation(4, 0.5), defaults.Distill);
        Assert.Null(RecipeLoader.Parse(DistillRecipe.Replace("\n      distill: { temperature: 3, weight: 0.7 }", ""), "kd.yaml").Stages[0].FineTune!.Distill);
    }

    [Theory]
    [InlineData("temperature: 3", "temperature: 0", ":10: temperature must be > 0")]
    [InlineData("weight: 0.7", "weight: 1.5", ":10: weight must be in (0, 1]")]
    [InlineData("weight: 0.7", "weight: 0", ":10: weight must be in (0, 1]")]
    [InlineData("weight: 0.7", "teacher: big.ckpt", "teacher")]
    public void BrokenDistillationIsOneErrorNamingTheLine(string from, string to, string expected)
    {
        string yaml = DistillRecipe.Replace(from, to);
        Assert.NotEqual(DistillRecipe, yaml);
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(yaml, "kd.yaml"));
        Assert.Contains(expected, e.Message);
        if (expected.StartsWith(':')) Assert.Contains("kd.yaml" + expected, e.Message);
    }

    // Parameter names of the CIFAR zoo models (from the zoo's layer lists: AlexNet conv1-5 and fc1-3 with biases; VGG-16 13
    // bias-free convs, each followed by a BatchNorm with weight and bias, then fc).
    private static readonly string[] AlexNet = Enumerable.Range(1, 5).Select(i => $"conv{i}").Concat(["fc1", "fc2", "fc3"])
        .SelectMany(n => new[] { n + ".weight", n + ".bias" }).ToArray();
    private static readonly string[] Vgg16 = Enumerable.Range(1, 13).SelectMany(i => new[] { $"conv{i}.weight", $"bn{i}.weight", $"bn{i}.bias" })
        .Concat(["fc.weight", "fc.bias"]).ToArray();

    [Theory]
    [InlineData("lenet-300-100")]
    [InlineData("lenet-5")]
    [InlineData("alexnet-cifar")]
    [InlineData("vgg16-cifar")]
    public void GradientImportanceRecipesExistForEveryModeAndMatchTheirModel(string model)
    {
        var names = model switch { "lenet-300-100" => LeNet300, "lenet-5" => LeNet5, "alexnet-cifar" => AlexNet, _ => Vgg16 };
        foreach (var mode in new[] { "post", "train", "combined" })
        {
            var recipe = RecipeLoader.Load(Path.Combine(RecipesDirectory(), $"gradient-importance-{mode}-{model}.yaml"));
            recipe.ValidateAgainst(names);
            var methods = recipe.Stages.Select(s => s.Method).ToList();
            var expected = mode switch
            {
                "post" => new[] { CompressionMethod.ImportancePost },
                "train" => [CompressionMethod.ImportanceTrain],
                _ => [CompressionMethod.ImportanceTrain, CompressionMethod.ImportancePost],
            };
            Assert.Equal(expected, methods);
            // BatchNorm scales and shifts are never quantized by these recipes.
            foreach (var stage in recipe.Stages)
                Assert.DoesNotContain(stage.Layers.Select(names, recipe.Source), n => n.StartsWith("bn", StringComparison.Ordinal));
        }
    }
}
