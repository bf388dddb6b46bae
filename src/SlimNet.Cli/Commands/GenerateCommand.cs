using System.CommandLine;
using System.Text;
using SlimNet.Runtime;
using SlimNet.Training.Data;

namespace SlimNet.Cli.Commands;

/// <summary>
/// <c>slimnet generate FILE.slim --prompt TEXT --length N [--seed S]</c>: samples text from a character language model
/// with the pure C# runtime. The prompt is fed one character at a time from a zero state; then each next character is
/// drawn from softmax(logits / temperature) with a generator seeded by S, fed back, and so on: the same file, prompt,
/// length, temperature and seed give the same text.
/// </summary>
public static class GenerateCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "A .slim character language model (e.g. written by 'slimnet train --model char-lstm --slim FILE')" };
        var prompt = new Option<string>("--prompt") { Description = "Text to start from (every character must be in the model's vocabulary)", Required = true };
        var length = new Option<int>("--length") { Description = "Characters to generate", DefaultValueFactory = _ => 200 };
        var seed = new Option<int>("--seed") { Description = "Seed of the sampler", DefaultValueFactory = _ => 1 };
        var temperature = new Option<double>("--temperature") { Description = "Softmax temperature (> 0; lower is more conservative)", DefaultValueFactory = _ => 1.0 };
        var json = CommonOptions.Json();
        var cmd = new Command("generate", "Sample text from a character language model with the pure C# runtime") { file, prompt, length, seed, temperature, json };
        cmd.SetAction(parse => ExitCodes.Guard(() =>
        {
            var output = new CliOutput(parse.GetValue(json));
            int n = parse.GetValue(length);
            if (n < 0 || n > 10_000_000) throw new UserInputException($"--length must be in 0..10000000, got {n}");
            double t = parse.GetValue(temperature);
            if (!(t > 0) || double.IsInfinity(t)) throw new UserInputException($"--temperature must be a positive number, got {t}");
            string text = parse.GetValue(prompt)!;
            if (text.Length == 0) throw new UserInputException("--prompt must hold at least one character");
            var slim = SlimModelFile.Open(parse.GetValue(file)!);
            var vocabText = slim.Model.Metadata.GetValueOrDefault(LanguageModelTraining.VocabularyKey)
                ?? throw new UserInputException($"{slim.Path}: not a character language model (no '{LanguageModelTraining.VocabularyKey}' metadata)");
            var vocabulary = TextCorpus.ParseVocabulary(vocabText);
            if (vocabulary.Length == 0 || !vocabulary.Zip(vocabulary.Skip(1)).All(p => p.First < p.Second))
                throw new UserInputException($"{slim.Path}: metadata '{LanguageModelTraining.VocabularyKey}' is not a sorted list of distinct characters");
            var session = slim.CreateSession(1);
            if (!session.IsRecurrent || session.InputSize != vocabulary.Length || session.OutputSize != vocabulary.Length)
                throw new UserInputException($"{slim.Path}: expected a recurrent model with {vocabulary.Length} inputs and outputs (its vocabulary), " +
                                             $"it has {session.InputSize} inputs, {session.OutputSize} outputs{(session.IsRecurrent ? "" : " and no recurrent node")}");
            int[] ids;
            try { ids = TextCorpus.Encode(text, vocabulary); }
            catch (ArgumentException e) { throw new UserInputException($"--prompt: {e.Message}"); }
            var generated = Sample(session, vocabulary, ids, n, parse.GetValue(seed), t);
            output.Result(new { file = slim.Path, prompt = text, length = n, seed = parse.GetValue(seed), temperature = t, generated, text = text + generated },
                console => console.WriteLine(text + generated, Spectre.Console.Style.Plain));
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>
    /// Feeds <paramref name="prompt"/> (ids) to <paramref name="session"/> from a zero state, then samples <paramref name="length"/>
    /// characters, each from softmax(logits / <paramref name="temperature"/>) with <see cref="Random"/>(<paramref name="seed"/>).
    /// </summary>
    public static string Sample(InferenceSession session, IReadOnlyList<int> vocabulary, IReadOnlyList<int> prompt, int length, int seed, double temperature)
    {
        int v = vocabulary.Count;
        var input = new float[v];
        var logits = new float[v];
        var probabilities = new double[v];
        session.ResetState();
        foreach (int id in prompt)
        {
            Array.Clear(input);
            input[id] = 1;
            session.Run(input, 1, logits);
        }
        var rng = new Random(seed);
        var sb = new StringBuilder();
        for (int k = 0; k < length; k++)
        {
            double max = logits.Max(), sum = 0;
            for (int i = 0; i < v; i++) sum += probabilities[i] = Math.Exp((logits[i] - max) / temperature);
            double u = rng.NextDouble() * sum, acc = 0;
            int next = v - 1;
            for (int i = 0; i < v; i++)
            {
                acc += probabilities[i];
                if (u < acc) { next = i; break; }
            }
            sb.Append(char.ConvertFromUtf32(vocabulary[next]));
            Array.Clear(input);
            input[next] = 1;
            session.Run(input, 1, logits);
        }
        return sb.ToString();
    }
}
