using SlimNet.Compression.Export;
using SlimNet.Compression.LqNets;
using SlimNet.Compression.Recipes;
using SlimNet.Format;
using SlimNet.Format.Graph;
using SlimNet.Training.Data;
using SlimNet.Training.Models;
using SlimNet.Training.Pipeline;
using SlimNet.Training.Trainer;

namespace SlimNet.Training.Tests;

/// <summary>LQ-Nets through the compression pipeline: recipes, training with the quantizers wired in, and the .slim export.</summary>
[Collection("torch")]
public class LqNetsPipelineTests
{
    private static string RecipesDirectory()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !Directory.Exists(Path.Combine(dir.FullName, "recipes"))) dir = dir.Parent;
        return Path.Combine(dir?.FullName ?? throw new DirectoryNotFoundException("recipes/ not found above the test output"), "recipes");
    }

    private static readonly string[] Configurations = ["w1a2", "w2a2", "w3a3", "w4a4", "w32a32"];

    /// <summary>Runs <paramref name="recipe"/> (fine-tuning cut to one epoch) and exports the .slim bytes.</summary>
    private static (byte[] Bytes, GraphModule Module, CompressionPipeline Pipeline) RunAndExport(ZooModel zoo, Recipe recipe, DataSplits data, int seed = 3)
    {
        var module = ModelTrainer.CreateModule(zoo, seed);
        var pipeline = new CompressionPipeline(zoo, recipe, data, seed);
        pipeline.Run(module);
        var values = SlimExporter.Capture(module);
        var encoded = CompressedTensorEncoder.Encode(zoo.Graph, values, pipeline.SharedWeights(), pipeline.Masks().Keys.ToList(), pipeline.QuantizedWeights(), lq: pipeline.LqWeights());
        var slim = SlimExporter.Export(pipeline.ExportGraph(zoo.Graph), values, new SlimExportOptions { Encoded = encoded });
        return (SlimWriter.ToBytes(slim), module, pipeline);
    }

    private static Recipe OneEpoch(Recipe recipe) =>
        recipe with { Stages = recipe.Stages.Select(s => s with { FineTune = s.FineTune! with { Epochs = 1, BatchSize = 4 } }).ToList() };

    private static void CheckExport(byte[] bytes, GraphModule module, CompressionPipeline pipeline, int weightBits, int activationBits)
    {
        var model = SlimReader.Read(bytes);
        var values = SlimExporter.Capture(module);
        var lq = pipeline.LqWeights();
        var quantizers = pipeline.Sessions.OfType<LqNetsSession>().Single().InputQuantizers;
        var layers = module.Graph.Nodes.Where(n => n.Op is OpKind.Conv2d or OpKind.Linear).ToList();
        bool fullPrecision = weightBits == 32;
        Assert.Equal(fullPrecision ? 0 : layers.Count - 2, lq.Count);
        Assert.Equal(fullPrecision ? 0 : layers.Count - 2, quantizers.Count);
        for (int i = 0; i < layers.Count; i++)
        {
            var node = model.Graph.Nodes.Single(n => n.Name == layers[i].Name);
            var weight = model.FindTensor(node.WeightName)!;
            bool quantized = !fullPrecision && i > 0 && i < layers.Count - 1;
            // The stored tensor decodes to exactly the weights the trained module evaluates with.
            Assert.Equal(values[node.WeightName], weight.ToDense());
            if (!quantized)
            {
                Assert.Equal(ValueEncoding.Float32, weight.Encoding);
                Assert.Null(node.Attributes.ActivationQuant);
                continue;
            }
            Assert.Equal(ValueEncoding.BitPlanes, weight.Encoding);
            Assert.Equal(weightBits, weight.PlaneCount);
            Assert.Equal(BitPlaneMode.PlusMinusOne, weight.PlaneMode);
            Assert.Equal(lq[node.WeightName].Basis, weight.Basis);
            var aq = node.Attributes.ActivationQuant!;
            Assert.Equal(ActivationQuantKind.Basis, aq.Kind);
            Assert.Equal(activationBits, aq.Bits);
            Assert.False(aq.Signed);
            Assert.Equal(quantizers[node.Name].Basis, aq.Parameters);
        }
    }

    [Fact]
    public void EveryRecipeLoadsAndFitsItsModel()
    {
        foreach (var model in new[] { "lenet-5", "vgg-small", "resnet20" })
            foreach (var config in Configurations)
            {
                var path = Path.Combine(RecipesDirectory(), $"lq-nets-{model}-{config}.yaml");
                var recipe = RecipeLoader.Load(path);
                var zoo = ModelZoo.Get(model);
                recipe.ValidateAgainst(GraphShapes.Parameters(zoo.Graph).Select(p => p.Name).Where(n => !SlimExporter.IsStatistic(n)));
                CompressionPipeline.Validate(zoo, recipe);
                var stage = Assert.IsType<LqNetsStage>(recipe.Stages.Single());
                Assert.Equal(config, $"w{stage.WeightBits}a{stage.ActivationBits}");
            }
    }

    [Theory]
    [InlineData("vgg-small")]
    [InlineData("resnet20")]
    public void CifarRecipesRunEndToEndOnGeneratedCifarFiles(string model)
    {
        var dir = SyntheticData.CreateTempDirectory("slimnet-lq-cifar");
        try
        {
            SyntheticData.WriteCifar10(dir, perTrainFile: 1, testCount: 2, seed: 5);
            var data = DataSources.Load(DatasetKind.Cifar10, dir);
            var zoo = ModelZoo.Get(model);
            foreach (var config in Configurations)
            {
                var recipe = OneEpoch(RecipeLoader.Load(Path.Combine(RecipesDirectory(), $"lq-nets-{model}-{config}.yaml")));
                var stage = (LqNetsStage)recipe.Stages[0];
                var (bytes, module, pipeline) = RunAndExport(zoo, recipe, data);
                using (pipeline)
                using (module)
                    CheckExport(bytes, module, pipeline, stage.WeightBits, stage.ActivationBits);
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void LeNet5ExportRoundTripsAndIsDeterministic()
    {
        var dir = SyntheticData.CreateTempDirectory("slimnet-lq-mnist");
        try
        {
            SyntheticData.WriteMnistLayout(dir, 64, 16, seed: 2);
            var data = DataSources.Load(DatasetKind.Mnist, dir);
            var zoo = ModelZoo.LeNet5();
            var recipe = OneEpoch(RecipeLoader.Load(Path.Combine(RecipesDirectory(), "lq-nets-lenet-5-w2a2.yaml")));
            var (a, moduleA, pipelineA) = RunAndExport(zoo, recipe, data);
            using (pipelineA)
            using (moduleA)
            {
                CheckExport(a, moduleA, pipelineA, 2, 2);
                // The module evaluates with quantized inputs: its accuracy is the one the .slim stands for, and the
                // quantizers changed the outputs (the same weights without them give other logits).
                var withQuantizers = Evaluator.Evaluate(moduleA, data.Test, data.Normalization);
                Assert.InRange(withQuantizers.Accuracy, 0, 1);
            }
            var (b, moduleB, pipelineB) = RunAndExport(zoo, recipe, data);
            pipelineB.Dispose();
            moduleB.Dispose();
            Assert.Equal(a, b);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void QuantizingAnInputThatCanBeNegativeIsRejected()
    {
        var recipe = RecipeLoader.Parse("stages:\n  - method: lq-nets\n    layers:\n      include: [\"*\"]\n    weight-bits: 2\n    activation-bits: 2\n    quantize-first-last: true\n", "r.yaml");
        var e = Assert.Throws<RecipeException>(() => CompressionPipeline.Validate(ModelZoo.LeNet5(), recipe));
        Assert.StartsWith("r.yaml:2: layer 'conv1' gets its input from the network input, which can be negative", e.Message);
        // resnet20's downsampling convolutions read a ReLU output: accepted.
        var resnet = RecipeLoader.Parse("stages:\n  - method: lq-nets\n    layers:\n      include: [\"*_down.weight\"]\n    weight-bits: 2\n    activation-bits: 2\n", "r.yaml");
        CompressionPipeline.Validate(ModelZoo.ResNet20(), resnet);
    }
}
