using SlimNet.Cli.Commands;
using SlimNet.Compression.Hooks;
using SlimNet.Compression.Quantization;
using SlimNet.Format;
using SlimNet.Format.Graph;
using SlimNet.Runtime;
using SlimNet.Training.Data;
using SlimNet.Training.Models;
using SlimNet.Training.Trainer;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SlimNet.Cli.Tests;

/// <summary>
/// Acceptance (issue 10): a char-lstm trained with quantized W_ih/W_hh, written to .slim (codes and scales) and run one
/// character at a time by the pure C# runtime, gives TorchSharp's next-character distribution within 1e-4 on held-out text.
/// </summary>
[Collection("torch")]
public class LstmRuntimeParityTests(ITestOutputHelper log)
{
    private static readonly string Text = string.Concat(Enumerable.Repeat("It was the best of times, it was the worst of times; call me Ishmael. ", 60));

    [Theory]
    [InlineData(LstmNormalization.None, WeightProjection.LaqLinear, 2, 1)]
    [InlineData(LstmNormalization.Layer, WeightProjection.LaqLinear, 2, 1)]
    [InlineData(LstmNormalization.Layer, WeightProjection.LatExact, 2, 2)]
    [InlineData(LstmNormalization.Batch, WeightProjection.LaqLinear, 3, 1)]
    [InlineData(LstmNormalization.Weight, WeightProjection.Lab, 2, 2)]
    public void RuntimeNextCharacterDistributionMatchesTorchSharp(LstmNormalization norm, WeightProjection method, int bits, int layers)
    {
        var corpus = TextCorpus.FromText("dickens", Text, 16);
        var config = new CharLstmConfig(corpus.VocabularySize, 24, layers, norm);
        var options = new LanguageModelOptions { Training = new TrainerOptions { Epochs = 1, BatchSize = 8, LearningRate = 5e-3, Seed = 2 }, SequenceLength = 16 };
        using var module = LanguageModelTrainer.CreateModule(config, 2);
        var parameters = module.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        using var quantizer = new LossAwareQuantizer(parameters, parameters.Keys.Where(k => k.Contains(".weight_")).Select(k => new QuantizedLayer(k, method, bits)));
        var result = new LanguageModelTrainer(config, options, corpus, new ITrainingHooks[] { quantizer }).Run(module: module);

        var quantized = quantizer.ExportAll().ToDictionary(q => q.ParameterName, StringComparer.Ordinal);
        var bytes = SlimWriter.ToBytes(LanguageModelTraining.ToSlim(config, corpus, module, quantized, method.ToString(), result));
        var model = SlimReader.Read(bytes);
        Assert.All(model.Tensors.Where(t => t.Name.Contains(".weight_")), t => Assert.NotEqual(ValueEncoding.Float32, t.Encoding));

        // Held-out text: the test split.
        var ids = corpus.Test.Take(120).ToArray();
        float[] expected;
        module.eval();
        using (torch.no_grad())
        using (var scope = torch.NewDisposeScope())
        {
            var (logits, _) = module.Forward(torch.tensor(ids.Select(i => (long)i).ToArray(), new long[] { ids.Length, 1 }), module.ZeroState(1));
            expected = nn.functional.softmax(logits.reshape(ids.Length, -1), 1).contiguous().data<float>().ToArray();
        }

        var session = InferenceSession.Load(model, 1);
        Assert.True(session.IsRecurrent);
        int v = corpus.VocabularySize;
        var input = new float[v];
        var output = new float[v];
        double maxDiff = 0, maxProbability = 0;
        for (int rep = 0; rep < 2; rep++) // the second pass checks that ResetState really restarts the sequence
        {
            session.ResetState();
            for (int t = 0; t < ids.Length; t++)
            {
                Array.Clear(input);
                input[ids[t]] = 1;
                session.Run(input, 1, output);
                float max = output.Max();
                double sum = output.Sum(x => Math.Exp(x - max));
                for (int k = 0; k < v; k++)
                {
                    double p = Math.Exp(output[k] - max) / sum;
                    maxDiff = Math.Max(maxDiff, Math.Abs(p - expected[t * v + k]));
                    maxProbability = Math.Max(maxProbability, p);
                }
            }
        }
        log.WriteLine($"{norm}/{method}{bits}/{layers} layers: test bpc {result.TestBpc:F3}, max |Δp| {maxDiff:G3}, max p {maxProbability:F3}");
        Assert.True(maxDiff <= 1e-4, $"max probability difference {maxDiff}");
        Assert.True(maxProbability > 2.0 / v, "the distribution is near uniform: the comparison would prove little");
    }
}
