using SlimNet.Compression.Recipes;
using SlimNet.Training.Checkpoints;
using SlimNet.Training.Pipeline;
using SlimNet.Training.Data;
using SlimNet.Training.Models;
using SlimNet.Training.Trainer;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Training.Tests;

[Collection("torch")]
public class DistillationTests : IClassFixture<MnistFixture>
{
    private readonly DataSplits _mnist;
    public DistillationTests(MnistFixture fixture) => _mnist = fixture.Mnist;

    // The formula of TrainerOptions.DistillWeight in plain double arithmetic, one example at a time.
    private static double Reference(float[] s, float[] t, long[] y, int classes, double temperature, double weight)
    {
        int n = y.Length;
        double ce = 0, kl = 0;
        for (int i = 0; i < n; i++)
        {
            double[] LogSoftmax(float[] z, double scale)
            {
                double max = double.NegativeInfinity;
                for (int c = 0; c < classes; c++) max = Math.Max(max, z[i * classes + c] / scale);
                double sum = 0;
                for (int c = 0; c < classes; c++) sum += Math.Exp(z[i * classes + c] / scale - max);
                var r = new double[classes];
                for (int c = 0; c < classes; c++) r[c] = z[i * classes + c] / scale - max - Math.Log(sum);
                return r;
            }
            ce -= LogSoftmax(s, 1)[y[i]];
            var logQ = LogSoftmax(s, temperature);
            var logP = LogSoftmax(t, temperature);
            for (int c = 0; c < classes; c++) kl += Math.Exp(logP[c]) * (logP[c] - logQ[c]);
        }
        return (1 - weight) * ce / n + weight * temperature * temperature * kl / n;
    }

    [Theory]
    [InlineData(1, 10, 4.0, 0.5, 1f)]
    [InlineData(7, 10, 1.0, 1.0, 3f)]
    [InlineData(33, 3, 20.0, 0.9, 0.1f)]
    [InlineData(5, 10, 2.0, 0.0, 40f)]   // weight 0: plain cross-entropy; large logits
    public void LossEqualsTheFormulaOnRandomLogits(int n, int classes, double temperature, double weight, float scale)
    {
        var rng = new Random(n * 31 + classes);
        float[] Logits() => Enumerable.Range(0, n * classes).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();
        var s = Logits();
        var t = Logits();
        var y = Enumerable.Range(0, n).Select(_ => (long)rng.Next(classes)).ToArray();
        using var loss = ModelTrainer.DistillationLoss(torch.tensor(s, [n, classes]), torch.tensor(t, [n, classes]), torch.tensor(y), temperature, weight);
        double expected = Reference(s, t, y, classes, temperature, weight);
        Assert.Equal(expected, loss.item<float>(), Math.Max(1e-5, Math.Abs(expected) * 1e-5));
    }

    [Fact]
    public void TeacherEqualToStudentLeavesOnlyTheCrossEntropyTerm()
    {
        var z = torch.randn(16, 10, generator: new torch.Generator(3));
        var y = torch.randint(0, 10, [16], generator: new torch.Generator(4));
        using var loss = ModelTrainer.DistillationLoss(z, z, y, 4.0, 0.25);
        using var ce = nn.functional.cross_entropy(z, y);
        Assert.Equal(0.75 * ce.item<float>(), loss.item<float>(), 1e-6);
    }

    private static double MeanKl(GraphModule student, GraphModule teacher, DataSplits data)
    {
        student.eval();
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        using var batch = new DataLoader(data.Test, 500, shuffle: false, seed: 0, data.Normalization).Batches(0).First();
        var logP = nn.functional.log_softmax(teacher.forward(batch.X), 1);
        var logQ = nn.functional.log_softmax(student.forward(batch.X), 1);
        return (logP.exp() * (logP - logQ)).sum(1).mean().item<float>();
    }

    [Fact]
    public void PureDistillationPullsTheStudentToTheTeacher()
    {
        // The teacher: LeNet-300-100 trained one epoch on 2,000 images. Two students from the same other seed train one
        // epoch on the same images, one on the labels only, one on the teacher's outputs only (weight 1): the distilled
        // student must end much closer to the teacher.
        var options = new TrainerOptions { Epochs = 1, BatchSize = 32, LearningRate = 1e-3, Optimizer = "adam", Seed = 5, Limit = 2000 };
        var teacher = new ModelTrainer(ModelZoo.LeNet300100(), options, _mnist).Run().Module;
        teacher.eval();
        var plain = new ModelTrainer(ModelZoo.LeNet300100(), options with { Seed = 9 }, _mnist).Run().Module;
        var distilled = new ModelTrainer(ModelZoo.LeNet300100(), options with { Seed = 9, DistillWeight = 1, DistillTemperature = 2 }, _mnist)
            { Teacher = teacher }.Run().Module;
        double klPlain = MeanKl(plain, teacher, _mnist), klDistilled = MeanKl(distilled, teacher, _mnist);
        Assert.True(klDistilled < 0.5 * klPlain, $"KL to the teacher: distilled {klDistilled:G4}, labels only {klPlain:G4}");
        // The teacher itself was not changed by serving (eval mode, no gradients).
        var again = new ModelTrainer(ModelZoo.LeNet300100(), options, _mnist).Run().Module;
        var a = ModelTensors.Capture(teacher);
        var b = ModelTensors.Capture(again);
        for (int i = 0; i < a.Count; i++) Assert.True(a[i].Data.AsSpan().SequenceEqual(b[i].Data), a[i].Name);
    }
    [Fact]
    public void ThePipelineDistilsFromTheModelAsItEnteredAndLeavesItsInputUnchangedOtherwise()
    {
        // A loss-aware stage with and without `distill` from the same trained model, seed and data: the runs must differ
        // (the teacher term is in the loss) and both must still fit the labels.
        var options = new TrainerOptions { Epochs = 1, BatchSize = 32, LearningRate = 1e-3, Optimizer = "adam", Seed = 5, Limit = 2000 };
        var trained = ModelTensors.Capture(new ModelTrainer(ModelZoo.LeNet300100(), options, _mnist).Run().Module);
        const string yaml = """
            name: kd
            stages:
              - method: loss-aware
                quantizer: lata
                layers: { include: ["fc*.weight"] }
                fine-tune: { epochs: 1, optimizer: adam, lr: 0.001, batch-size: 32, distill: { temperature: 4, weight: 0.9 } }
            """;
        List<NamedArray> Run(string text)
        {
            var module = ModelTrainer.CreateModule(ModelZoo.LeNet300100(), 1);
            ModelTensors.Restore(module, trained, "test");
            using var pipeline = new CompressionPipeline(ModelZoo.LeNet300100(), RecipeLoader.Parse(text, "kd.yaml"), _mnist.WithTrainLimit(2000), 3);
            var reports = pipeline.Run(module);
            Assert.True(reports[0].TestAccuracy > 0.8, $"accuracy {reports[0].TestAccuracy:P2}");
            return ModelTensors.Capture(module);
        }
        var distilled = Run(yaml);
        var plain = Run(yaml.Replace(", distill: { temperature: 4, weight: 0.9 }", ""));
        Assert.Contains(distilled.Zip(plain), p => !p.First.Data.AsSpan().SequenceEqual(p.Second.Data));
        Assert.Equal(distilled.Select(t => t.Name), plain.Select(t => t.Name));
    }
}
