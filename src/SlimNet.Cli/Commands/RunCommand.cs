using System.CommandLine;
using System.Diagnostics;
using SlimNet.Compression.Export;
using SlimNet.Training.Data;

namespace SlimNet.Cli.Commands;

/// <summary>
/// <c>slimnet run FILE.slim</c>: test accuracy of a .slim model with the pure C# runtime (no TorchSharp). Inputs are
/// normalized with the mean and std stored in the file at export, exactly as the trainer's data loader does. A character
/// language model is measured in test bits per character instead (<see cref="LanguageModelRun"/>).
/// </summary>
public static class RunCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "The .slim file" };
        var data = CommonOptions.Data();
        data.Description += "; for a language model: a UTF-8 text file (default: the embedded Moby Dick)";
        var batchSize = new Option<int>("--batch-size") { Description = "Examples per runtime batch (language models: parallel test streams, default the number training measured with)", DefaultValueFactory = _ => 100 };
        var json = CommonOptions.Json();
        var torchCheck = new Option<bool>("--torch-check")
        {
            Description = "Also run the file's network in TorchSharp (decoded weights, LQ-Nets input quantizers applied) and report the share of equal predictions and the largest logit difference",
        };
        var cmd = new Command("run", "Measure the test accuracy of a .slim file with the pure C# runtime") { file, data, batchSize, torchCheck, json };
        cmd.SetAction(parse => ExitCodes.Guard(() =>
        {
            var output = new CliOutput(parse.GetValue(json));
            int batch = parse.GetValue(batchSize);
            if (batch < 1 || batch > 65536) throw new UserInputException($"--batch-size must be in 1..65536, got {batch}");
            var slim = SlimModelFile.Open(parse.GetValue(file)!);
            if (slim.Model.Metadata.ContainsKey(LanguageModelTraining.VocabularyKey))
            {
                if (parse.GetValue(torchCheck))
                    throw new UserInputException("--torch-check is for image models; a language model's file stores the test BPC TorchSharp measured at training, and run compares with it");
                return LanguageModelRun.Run(slim, parse.GetValue(data), parse.GetResult(batchSize) is { Implicit: false } ? batch : null, output);
            }
            var session = slim.CreateSession(batch);
            var kind = slim.DatasetKind(session.OutputSize);
            string? dataDir = parse.GetValue(data);
            if (dataDir is not null && !Directory.Exists(dataDir)) throw new UserInputException($"--data {dataDir}: no such folder");
            var splits = DataSources.Load(kind, dataDir);
            var normalization = slim.Normalization();
            if (normalization is null)
            {
                normalization = splits.Normalization;
                output.Info($"note: {slim.Path} stores no input normalization; using the data's ({normalization})");
            }
            var test = splits.Test;
            if (test.ExampleSize != session.InputSize)
                throw new UserInputException($"{slim.Path}: the model takes {session.InputSize} floats per example, the test data has {test.ExampleSize} ({test.Channels}×{test.Height}×{test.Width})");
            if (normalization.Channels != test.Channels)
                throw new UserInputException($"{slim.Path}: stored normalization has {normalization.Channels} channels, the data has {test.Channels}");
            if (session.OutputSize < test.ClassCount)
                throw new UserInputException($"{slim.Path}: the model has {session.OutputSize} outputs, the data has {test.ClassCount} classes");

            var sw = Stopwatch.StartNew();
            long correct = Progress(output, $"running {slim.Model.Graph.Name}", test.Count, report => Evaluate(session, test, normalization, batch, report));
            sw.Stop();
            double accuracy = (double)correct / test.Count;
            (double Agreement, double MaxLogitDifference, double Accuracy, int Over)? torch = null;
            if (parse.GetValue(torchCheck))
                torch = Progress(output, "running TorchSharp on the same inputs", test.Count, report => CompareWithTorch(slim, session, test, normalization, batch, report));
            double? source = double.TryParse(slim.Model.Metadata.GetValueOrDefault(SlimMetadataKeys.SourceTestAccuracy),
                System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var s) ? s : null;
            output.Result(new
            {
                file = slim.Path,
                model = slim.Model.Graph.Name,
                data = splits.Name,
                test_examples = test.Count,
                test_accuracy = accuracy,
                source_test_accuracy = source,
                seconds = sw.Elapsed.TotalSeconds,
                examples_per_second = test.Count / Math.Max(sw.Elapsed.TotalSeconds, 1e-9),
                torch_test_accuracy = torch?.Accuracy,
                torch_agreement = torch?.Agreement,
                torch_max_logit_difference = torch?.MaxLogitDifference,
                torch_examples_logits_over_1e4 = torch?.Over,
            }, console => console.MarkupLine(
                (torch is { } tc ? $"TorchSharp on the same inputs: accuracy {tc.Accuracy:P2}, same prediction on {tc.Agreement:P2}, largest logit difference {tc.MaxLogitDifference:G3} ({tc.Over} examples with a logit difference above 1e-4)\n" : "") +
                $"{Markup.Escape(slim.Model.Graph.Name)} on {Markup.Escape(splits.Name)} (pure C# runtime): test accuracy [green]{accuracy:P2}[/] " +
                $"({test.Count} examples, {test.Count / Math.Max(sw.Elapsed.TotalSeconds, 1e-9):N0} ex/s)" +
                (source is double a ? $"; checkpoint reported {a:P2}" : "")));
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>
    /// Runs the runtime and the TorchSharp rebuild of the file (<see cref="Training.Pipeline.SlimTorchReference"/>) on the same
    /// normalized inputs: the share of examples with the same top-1 class, the largest |logit difference|, TorchSharp's accuracy
    /// and the number of examples with a logit difference above 1e-4.
    /// </summary>
    public static (double Agreement, double MaxLogitDifference, double Accuracy, int Over) CompareWithTorch(SlimModelFile slim, Runtime.InferenceSession session,
        Dataset data, ChannelNormalization normalization, int batch, Action<int>? report = null)
    {
        using var module = Training.Pipeline.SlimTorchReference.Build(slim.Model);
        float[] table = normalization.BuildLookupTable();
        int size = data.ExampleSize, plane = data.Height * data.Width, outputs = session.OutputSize;
        var input = new float[batch * size];
        var logits = new float[batch * outputs];
        long same = 0, correct = 0;
        int over = 0;
        double maxDiff = 0;
        var shape = new long[] { 0 }.Concat(slim.Model.Graph.InputShape.Select(d => (long)d)).ToArray();
        for (int start = 0; start < data.Count; start += batch)
        {
            int n = Math.Min(batch, data.Count - start);
            NormalizeBatch(data, table, start, n, input);
            session.Run(input, n, logits);
            shape[0] = n;
            float[] reference;
            using (var scope = TorchSharp.torch.NewDisposeScope())
            using (TorchSharp.torch.no_grad())
            {
                var x = TorchSharp.torch.tensor(input.AsSpan(0, n * size).ToArray(), shape);
                reference = module.forward(x).contiguous().data<float>().ToArray();
            }
            for (int k = 0; k < n; k++)
            {
                var row = logits.AsSpan(k * outputs, outputs);
                var trow = reference.AsSpan(k * outputs, outputs);
                int best = 0, tbest = 0;
                double rowDiff = 0;
                for (int j = 0; j < outputs; j++)
                {
                    if (row[j] > row[best]) best = j;
                    if (trow[j] > trow[tbest]) tbest = j;
                    rowDiff = Math.Max(rowDiff, Math.Abs((double)row[j] - trow[j]));
                }
                maxDiff = Math.Max(maxDiff, rowDiff);
                if (rowDiff > 1e-4) over++;
                if (best == tbest) same++;
                if (tbest == data.Label(start + k)) correct++;
            }
            report?.Invoke(start + n);
        }
        return ((double)same / data.Count, maxDiff, (double)correct / data.Count, over);
    }

    /// <summary>Writes examples [start, start + n) of <paramref name="data"/> into <paramref name="input"/>, each pixel
    /// mapped through its channel's 256-entry normalization table (<see cref="ChannelNormalization.BuildLookupTable"/>).</summary>
    private static void NormalizeBatch(Dataset data, float[] table, int start, int n, float[] input)
    {
        int size = data.ExampleSize, plane = data.Height * data.Width;
        for (int k = 0; k < n; k++)
        {
            var pixels = data.Image(start + k);
            var dst = input.AsSpan(k * size, size);
            for (int c = 0; c < data.Channels; c++)
            {
                var t = table.AsSpan(c * 256, 256);
                var src = pixels.Slice(c * plane, plane);
                var d = dst.Slice(c * plane, plane);
                for (int p = 0; p < plane; p++) d[p] = t[src[p]];
            }
        }
    }

    /// <summary>Counts correct top-1 predictions over <paramref name="data"/>, in batches of up to <paramref name="batch"/>.</summary>
    public static long Evaluate(Runtime.InferenceSession session, Dataset data, ChannelNormalization normalization, int batch, Action<int>? report = null)
    {
        float[] table = normalization.BuildLookupTable();
        int size = data.ExampleSize, plane = data.Height * data.Width, outputs = session.OutputSize;
        var input = new float[batch * size];
        var logits = new float[batch * outputs];
        long correct = 0;
        for (int start = 0; start < data.Count; start += batch)
        {
            int n = Math.Min(batch, data.Count - start);
            NormalizeBatch(data, table, start, n, input);
            session.Run(input, n, logits);
            for (int k = 0; k < n; k++)
            {
                var row = logits.AsSpan(k * outputs, outputs);
                int best = 0;
                for (int j = 1; j < row.Length; j++) if (row[j] > row[best]) best = j;
                if (best == data.Label(start + k)) correct++;
            }
            report?.Invoke(start + n);
        }
        return correct;
    }

    /// <summary>Runs <paramref name="body"/> with a progress bar over <paramref name="total"/> units on an interactive terminal.</summary>
    public static T Progress<T>(CliOutput output, string description, int total, Func<Action<int>, T> body)
    {
        if (!output.Interactive) return body(_ => { });
        return output.Human.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(description), maxValue: Math.Max(total, 1));
                var result = body(done => task.Value = done);
                task.Value = task.MaxValue;
                return result;
            });
    }
}
