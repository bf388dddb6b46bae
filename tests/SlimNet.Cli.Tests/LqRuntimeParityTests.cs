using SlimNet.Cli.Commands;
using SlimNet.Compression.Export;
using SlimNet.Compression.Recipes;
using SlimNet.Format;
using SlimNet.Training.Data;
using SlimNet.Training.Models;
using SlimNet.Training.Pipeline;
using SlimNet.Training.Trainer;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Cli.Tests;

/// <summary>
/// Issue 8 acceptance, small: an LQ-Nets W2/A2 LeNet-5 trained briefly through the pipeline, exported to .slim, gives the
/// same predictions and logits in the pure C# runtime (bit-operation path) as TorchSharp's fake-quantized forward — both
/// the trained module itself and its rebuild from the file. The full MNIST measurement is in docs/RESULTS.md.
/// </summary>
[Collection("torch")]
public class LqRuntimeParityTests : IDisposable
{
    private readonly string _dir = SyntheticData.CreateTempDirectory("slimnet-lq-parity");
    public void Dispose() => Directory.Delete(_dir, true);

    [Theory]
    [InlineData(2, 2)]
    [InlineData(1, 2)]
    public void RuntimeMatchesTheFakeQuantizedTorchForward(int weightBits, int activationBits)
    {
        SyntheticData.WriteMnistLayout(_dir, 96, 40, seed: 6);
        var data = DataSources.Load(DatasetKind.Mnist, _dir);
        var zoo = ModelZoo.LeNet5();
        var recipe = RecipeLoader.Parse($"stages:\n  - method: lq-nets\n    layers: {{ include: [\"*\"] }}\n    weight-bits: {weightBits}\n    activation-bits: {activationBits}\n" +
            "    fine-tune: { epochs: 2, optimizer: adam, lr: 0.001, batch-size: 16 }\n", "parity.yaml");
        using var module = ModelTrainer.CreateModule(zoo, 4);
        using var pipeline = new CompressionPipeline(zoo, recipe, data, 4);
        pipeline.Run(module);
        var values = SlimExporter.Capture(module);
        var encoded = CompressedTensorEncoder.Encode(zoo.Graph, values, pipeline.SharedWeights(), [], lq: pipeline.LqWeights());
        var path = Path.Combine(_dir, "w.slim");
        SlimWriter.Write(SlimExporter.Export(pipeline.ExportGraph(zoo.Graph), values, new SlimExportOptions { Encoded = encoded }), path);

        var slim = SlimModelFile.Open(path);
        var session = slim.CreateSession(16);
        var (agreement, maxDiff, torchAccuracy, _) = RunCommand.CompareWithTorch(slim, session, data.Test, data.Normalization, 16);
        Assert.Equal(1.0, agreement);
        Assert.True(maxDiff < 1e-3, $"largest logit difference {maxDiff}");
        // The rebuild from the file is the network that was trained and evaluated.
        Assert.Equal(Evaluator.Evaluate(module, data.Test, data.Normalization).Accuracy, torchAccuracy);
        long runtimeCorrect = RunCommand.Evaluate(session, data.Test, data.Normalization, 16);
        Assert.Equal(torchAccuracy, (double)runtimeCorrect / data.Test.Count);
    }
}
