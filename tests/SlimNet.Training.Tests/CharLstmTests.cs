using SlimNet.Format.Graph;
using SlimNet.Training.Data;
using SlimNet.Training.Models;
using SlimNet.Training.Trainer;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Training.Tests;

/// <summary>
/// A scalar LSTM reference written from the formulas of docs/FORMAT.md (op 11), in double: gates =
/// norm_ih(W_ih·x) + norm_hh(W_hh·h) + b; c = σ(f)c + σ(i)tanh(g); h = σ(o)tanh(c).
/// </summary>
internal static class ReferenceLstm
{
    public static double[] Norm(double[] z, LstmNormalization kind, Func<string, float[]> p, string which, float eps)
    {
        var r = (double[])z.Clone();
        if (kind == LstmNormalization.Layer)
        {
            double mean = z.Average(), variance = z.Select(v => (v - mean) * (v - mean)).Average();
            var g = p($"norm_{which}.weight"); var b = p($"norm_{which}.bias");
            for (int k = 0; k < z.Length; k++) r[k] = (z[k] - mean) / Math.Sqrt(variance + eps) * g[k] + b[k];
        }
        else if (kind == LstmNormalization.Batch)
        {
            var g = p($"norm_{which}.weight"); var b = p($"norm_{which}.bias");
            var m = p($"norm_{which}.running_mean"); var v = p($"norm_{which}.running_var");
            for (int k = 0; k < z.Length; k++) r[k] = (z[k] - m[k]) / Math.Sqrt(v[k] + eps) * g[k] + b[k];
        }
        return r;
    }

    /// <summary>Matrix-vector product with weight normalization applied row by row when asked.</summary>
    public static double[] MatVec(float[] w, float[]? gain, int rows, int cols, double[] x)
    {
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double dot = 0, norm = 0;
            for (int c = 0; c < cols; c++) { dot += (double)w[r * cols + c] * x[c]; norm += (double)w[r * cols + c] * w[r * cols + c]; }
            y[r] = gain is null ? dot : dot * gain[r] / Math.Sqrt(norm);
        }
        return y;
    }

    public static (double[] H, double[] C) Step(Func<string, float[]> p, LstmNormalization kind, int input, int hidden, double[] x, double[] h, double[] c, float eps = 1e-5f)
    {
        int h4 = 4 * hidden;
        bool wn = kind == LstmNormalization.Weight;
        var gx = Norm(MatVec(p("weight_ih"), wn ? p("gain_ih") : null, h4, input, x), kind, p, "ih", eps);
        var gh = Norm(MatVec(p("weight_hh"), wn ? p("gain_hh") : null, h4, hidden, h), kind, p, "hh", eps);
        var bias = p("bias");
        var hn = new double[hidden];
        var cn = new double[hidden];
        static double S(double v) => 1 / (1 + Math.Exp(-v));
        for (int j = 0; j < hidden; j++)
        {
            double i = gx[j] + gh[j] + bias[j], f = gx[hidden + j] + gh[hidden + j] + bias[hidden + j];
            double g = gx[2 * hidden + j] + gh[2 * hidden + j] + bias[2 * hidden + j], o = gx[3 * hidden + j] + gh[3 * hidden + j] + bias[3 * hidden + j];
            cn[j] = S(f) * c[j] + S(i) * Math.Tanh(g);
            hn[j] = S(o) * Math.Tanh(cn[j]);
        }
        return (hn, cn);
    }
}

[Collection("torch")]
public class CharLstmTests
{
    internal static void RandomizeNormalization(nn.Module module, int seed)
    {
        var rng = new Random(seed);
        using var noGrad = torch.no_grad();
        foreach (var (name, t) in module.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(module.named_buffers()))
        {
            if (!name.Contains("norm_") && !name.Contains("gain_")) continue;
            var values = new float[t.numel()];
            for (int i = 0; i < values.Length; i++)
                values[i] = name.EndsWith("running_var") ? 0.25f + (float)rng.NextDouble() : name.EndsWith("bias") || name.EndsWith("running_mean")
                    ? (float)(rng.NextDouble() - 0.5) * 0.4f : 0.5f + (float)rng.NextDouble();
            t.copy_(torch.tensor(values, t.shape));
        }
    }

    [Theory]
    [InlineData(LstmNormalization.None, 1)]
    [InlineData(LstmNormalization.Layer, 1)]
    [InlineData(LstmNormalization.Batch, 2)]
    [InlineData(LstmNormalization.Weight, 2)]
    public void ModuleMatchesTheScalarReference(LstmNormalization norm, int layers)
    {
        const int vocab = 7, hidden = 5, steps = 6, streams = 3;
        using var module = LanguageModelTrainer.CreateModule(new CharLstmConfig(vocab, hidden, layers, norm), 3);
        RandomizeNormalization(module, 4);
        module.eval();
        var rng = new Random(5);
        var ids = Enumerable.Range(0, steps * streams).Select(_ => (long)rng.Next(vocab)).ToArray();
        float[] logits;
        using (torch.no_grad())
        {
            var (l, _) = module.Forward(torch.tensor(ids, new long[] { steps, streams }), module.ZeroState(streams));
            logits = l.contiguous().data<float>().ToArray();
        }
        var values = module.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(module.named_buffers())
            .Where(p => p.Item2.dtype == ScalarType.Float32)
            .ToDictionary(p => p.Item1, p => p.Item2.detach().contiguous().data<float>().ToArray());
        double maxDiff = 0;
        for (int s = 0; s < streams; s++)
        {
            var h = new double[layers][]; var c = new double[layers][];
            for (int l = 0; l < layers; l++) { h[l] = new double[hidden]; c[l] = new double[hidden]; }
            for (int t = 0; t < steps; t++)
            {
                var x = new double[vocab];
                x[ids[t * streams + s]] = 1;
                for (int l = 0; l < layers; l++)
                {
                    string prefix = $"lstm{l + 1}.";
                    (h[l], c[l]) = ReferenceLstm.Step(n => values[prefix + n], norm, l == 0 ? vocab : hidden, hidden, x, h[l], c[l]);
                    x = h[l];
                }
                var y = ReferenceLstm.MatVec(values["decoder.weight"], null, vocab, hidden, x);
                for (int v = 0; v < vocab; v++)
                    maxDiff = Math.Max(maxDiff, Math.Abs(y[v] + values["decoder.bias"][v] - logits[(t * streams + s) * vocab + v]));
            }
        }
        Assert.True(maxDiff < 1e-5, $"max difference {maxDiff}");
    }

    [Fact]
    public void ParameterNamesAreTheGraphTensors()
    {
        foreach (var norm in Enum.GetValues<LstmNormalization>())
        {
            var config = new CharLstmConfig(11, 4, 2, norm);
            using var module = new CharLstmModule(config);
            var torchNames = module.named_parameters().Select(p => p.name)
                .Concat(module.named_buffers().Where(b => b.buffer.dtype == ScalarType.Float32).Select(b => b.name)).Order().ToArray();
            var graphNames = GraphShapes.Parameters(config.Graph()).Select(p => p.Name).Order().ToArray();
            Assert.Equal(graphNames, torchNames);
        }
    }

    [Fact]
    public void TrainingLowersBitsPerCharacterAndIsDeterministic()
    {
        var text = string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 400));
        var corpus = TextCorpus.FromText("cats", text, 20);
        var options = new LanguageModelOptions
        {
            Training = new TrainerOptions { Epochs = 2, BatchSize = 8, LearningRate = 1e-2, Seed = 3 },
            SequenceLength = 20,
        };
        var config = new CharLstmConfig(corpus.VocabularySize, 16, 1, LstmNormalization.Layer);
        var a = new LanguageModelTrainer(config, options, corpus).Run();
        var b = new LanguageModelTrainer(config, options, corpus).Run();
        double uniform = Math.Log2(corpus.VocabularySize);
        Assert.True(a.TestBpc < 0.5 * uniform, $"test bpc {a.TestBpc} vs uniform {uniform}");
        Assert.True(a.Epochs[1].TrainBpc < a.Epochs[0].TrainBpc);
        Assert.Equal(a.TestBpc, b.TestBpc);
        Assert.Equal(a.Checkpoint.ToBytes(), b.Checkpoint.ToBytes());
        a.Module.Dispose(); b.Module.Dispose();
    }

    /// <summary>Mean KL(teacher ‖ student) per character over <paramref name="ids"/> read as one stream from a zero state.</summary>
    private static double KlToTeacher(CharLstmModule teacher, CharLstmModule student, int[] ids)
    {
        teacher.eval(); student.eval();
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var x = torch.tensor(ids.Select(i => (long)i).ToArray(), new long[] { ids.Length, 1 });
        var (t, _) = teacher.Forward(x, teacher.ZeroState(1));
        var (s, _) = student.Forward(x, student.ZeroState(1));
        var logP = nn.functional.log_softmax(t.reshape(ids.Length, -1), 1);
        var logQ = nn.functional.log_softmax(s.reshape(ids.Length, -1), 1);
        return (logP.exp() * (logP - logQ)).sum(1).mean().item<float>();
    }

    [Fact]
    public void DistillationPullsTheStudentTowardsTheTeacher()
    {
        // The teacher learns another text over the same characters, so a student that ignored it would not follow it.
        var corpus = TextCorpus.FromText("cats", string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 400)), 20);
        var other = TextCorpus.FromText("mats", string.Concat(Enumerable.Repeat("to the cat sat a man. ", 400)), 20);
        Assert.Equal(corpus.Vocabulary, other.Vocabulary);
        var options = new LanguageModelOptions
        {
            Training = new TrainerOptions { Epochs = 2, BatchSize = 8, LearningRate = 1e-2, Seed = 3, DistillTemperature = 1, DistillWeight = 1 },
            SequenceLength = 20,
        };
        var config = new CharLstmConfig(corpus.VocabularySize, 16, 1, LstmNormalization.Layer);
        using var teacher = new LanguageModelTrainer(config, options, other).Run().Module;
        using var plain = new LanguageModelTrainer(config, options, corpus).Run().Module;
        var distilled = new LanguageModelTrainer(config, options, corpus) { Teacher = teacher }.Run();
        var again = new LanguageModelTrainer(config, options, corpus) { Teacher = teacher }.Run();
        double klPlain = KlToTeacher(teacher, plain, corpus.Validation);
        double klDistilled = KlToTeacher(teacher, distilled.Module, corpus.Validation);
        Assert.True(klDistilled < 0.3 * klPlain, $"KL to the teacher: distilled {klDistilled}, plain {klPlain}");
        // Deterministic with a teacher too, and the checkpoint says how it was trained.
        Assert.Equal(distilled.Checkpoint.ToBytes(), again.Checkpoint.ToBytes());
        Assert.Equal(1.0, distilled.Checkpoint.Header["distillation"]!["weight"]!.GetValue<double>());
        // A teacher over other characters is refused.
        var wider = TextCorpus.FromText("dogs", string.Concat(Enumerable.Repeat("the dog sat on the log! ", 400)), 20);
        using var stranger = new CharLstmModule(config with { VocabularySize = wider.VocabularySize });
        Assert.NotEqual(corpus.VocabularySize, wider.VocabularySize);
        Assert.Throws<ArgumentException>(() => new LanguageModelTrainer(config, options, corpus) { Teacher = stranger }.Run());
        distilled.Module.Dispose(); again.Module.Dispose();
    }
}
