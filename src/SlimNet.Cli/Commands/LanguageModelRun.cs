using System.Diagnostics;
using System.Globalization;
using SlimNet.Compression.Export;
using SlimNet.Runtime;
using SlimNet.Training.Data;
using SlimNet.Training.Trainer;

namespace SlimNet.Cli.Commands;

/// <summary>
/// <c>slimnet run FILE.slim</c> for a character language model: the test bits per character of the corpus's test split,
/// measured by the pure C# runtime the way training measured it with TorchSharp (the same contiguous streams, state carried
/// over each whole stream), so the two figures can be compared directly.
/// </summary>
public static class LanguageModelRun
{
    /// <summary>Measures and prints the runtime's test BPC; returns the exit code.</summary>
    public static int Run(SlimModelFile slim, string? dataFile, int? streamsOption, CliOutput output)
    {
        var meta = slim.Model.Metadata;
        var vocabulary = meta[LanguageModelTraining.VocabularyKey];
        int window = ReadInt(slim, meta, LanguageModelTraining.EvaluationWindowKey) ?? 1;
        int streams = streamsOption ?? ReadInt(slim, meta, LanguageModelTraining.EvaluationStreamsKey) ?? 32;
        var corpus = LanguageModelTraining.LoadCorpus(dataFile, window);
        if (corpus.Vocabulary != vocabulary)
            throw new UserInputException($"{slim.Path}: the model's {TextCorpus.ParseVocabulary(vocabulary).Length} characters are not those of {corpus.Name} " +
                                         $"({corpus.VocabularySize}): measure it on the text it was trained on (--data FILE)");
        var ids = corpus.Test;
        int streamLength;
        (streams, streamLength) = LanguageModelTrainer.EvaluationLayout(ids.Length, streams, window); // as training measured it
        if (streamLength < 1) throw new UserInputException($"{corpus.Name}: {ids.Length} test characters are too few to evaluate");
        var session = slim.CreateSession(streams);
        if (!session.IsRecurrent || session.InputSize != corpus.VocabularySize || session.OutputSize != corpus.VocabularySize)
            throw new UserInputException($"{slim.Path}: expected a recurrent model with {corpus.VocabularySize} inputs and outputs");
        var sw = Stopwatch.StartNew();
        var (bpc, accuracy) = RunCommand.Progress(output, $"running {slim.Model.Graph.Name} on {corpus.Name}", streamLength,
            report => Evaluate(session, ids, streams, streamLength, report));
        sw.Stop();
        double? source = double.TryParse(meta.GetValueOrDefault(LanguageModelTraining.TestBpcKey), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) ? s : null;
        long characters = (long)streams * streamLength;
        output.Result(new
        {
            file = slim.Path,
            model = slim.Model.Graph.Name,
            data = corpus.Name,
            test_characters = characters,
            streams,
            test_bpc = bpc,
            test_accuracy = accuracy,
            source_test_bpc = source,
            bpc_difference = bpc - source,
            seconds = sw.Elapsed.TotalSeconds,
            characters_per_second = characters / Math.Max(sw.Elapsed.TotalSeconds, 1e-9),
        }, console => console.MarkupLine(
            $"{Spectre.Console.Markup.Escape(slim.Model.Graph.Name)} on {Spectre.Console.Markup.Escape(corpus.Name)} (pure C# runtime): test [green]{bpc:F4}[/] bits per character " +
            $"({characters:N0} characters in {streams} streams, next character right {accuracy:P1}, {characters / Math.Max(sw.Elapsed.TotalSeconds, 1e-9):N0} characters/s)" +
            (source is double t ? $"; TorchSharp measured {t:F4} at training (absolute difference {Math.Abs(bpc - t):G2})" : "")));
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Bits per character of the runtime on <paramref name="ids"/> cut into <paramref name="streams"/> contiguous streams of
    /// <paramref name="streamLength"/> characters (<see cref="LanguageModelTrainer.EvaluationLayout"/>), all read in one batch
    /// from a zero state, every character but the first of each stream predicted once (log-softmax in double). Also returns
    /// the arg-max accuracy.
    /// </summary>
    public static (double Bpc, double Accuracy) Evaluate(InferenceSession session, int[] ids, int streams, int streamLength, Action<int>? report = null)
    {
        int v = session.InputSize;
        var input = new float[streams * v];
        var logits = new float[streams * v];
        double nats = 0;
        long correct = 0;
        session.ResetState();
        for (int t = 0; t < streamLength; t++)
        {
            Array.Clear(input);
            for (int s = 0; s < streams; s++) input[s * v + ids[s * streamLength + t]] = 1;
            session.Run(input, streams, logits);
            for (int s = 0; s < streams; s++)
            {
                var row = logits.AsSpan(s * v, v);
                int target = ids[s * streamLength + t + 1], best = 0;
                double max = row[0];
                for (int k = 1; k < v; k++)
                    if (row[k] > max) { max = row[k]; best = k; }
                double sum = 0;
                for (int k = 0; k < v; k++) sum += Math.Exp(row[k] - max);
                nats += Math.Log(sum) + max - row[target];
                if (best == target) correct++;
            }
            if ((t & 63) == 0) report?.Invoke(t + 1);
        }
        report?.Invoke(streamLength);
        long total = (long)streams * streamLength;
        return (nats / total / Math.Log(2), (double)correct / total);
    }

    private static int? ReadInt(SlimModelFile slim, IReadOnlyDictionary<string, string> meta, string key)
    {
        if (!meta.TryGetValue(key, out var text)) return null;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) || value < 1)
            throw new UserInputException($"{slim.Path}: metadata '{key}' is '{text}', not a positive integer");
        return value;
    }
}
