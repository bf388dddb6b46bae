using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using SlimNet.Compression.Export;
using SlimNet.Compression.Importance;
using SlimNet.Format;
using SlimNet.Format.Graph;
using SlimNet.Training.Checkpoints;
using SlimNet.Training.Models;
using SlimNet.Training.Pipeline;
using SlimNet.Training.Trainer;

namespace SlimNet.Cli.Commands;

/// <summary>
/// <c>slimnet importance-sweep</c>: post-training gradient-importance quantization of one checkpoint (which carries the
/// importances of its training, <c>train --track-importance</c>) at several cluster/bit assignments; each point is
/// quantized, evaluated and stored exactly as <c>compress</c> stores it, and its file ratio measured. Points of other
/// modes (in-training, combined) are added from <c>compress --json</c> outputs. Writes DIR/sweep.csv and DIR/sweep.json,
/// the input of <c>report --curves</c>.
/// </summary>
public static class ImportanceSweepCommand
{
    /// <summary>One point of an accuracy-versus-compression curve.</summary>
    public sealed record Point(string Mode, string Label, double TestAccuracy, double BaselineTestAccuracy, long FileBytes, double CompressionRatio, double ParameterRatio);

    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Trained checkpoint carrying gradient importance (train --track-importance)", Required = true };
        var data = CommonOptions.Data();
        var bits = new Option<string>("--bits") { Description = "Bit assignments separated by ';', each a list of widths per cluster, least important first: \"0,4;0,3,6\"", Required = true };
        var fractions = new Option<string?>("--fractions") { Description = "With quantile clustering: one fraction list per assignment, \"0.2,0.8;0.3,0.4,0.3\"" };
        var clustering = new Option<string>("--clustering") { Description = "quantile or kmeans-log", DefaultValueFactory = _ => "quantile" };
        var add = new Option<string[]>("--add") { Description = "MODE=FILE.json: a 'compress --json' result to add as a point of MODE (repeatable)", AllowMultipleArgumentsPerToken = false };
        var outDir = new Option<string>("--out") { Description = "Folder for sweep.csv and sweep.json (created if missing)", Required = true };
        var json = CommonOptions.Json();
        var cmd = new Command("importance-sweep", "Sweep post-training gradient-importance quantization over bit assignments and write the accuracy-vs-ratio curve")
        {
            checkpoint, data, bits, fractions, clustering, add, outDir, json,
        };
        cmd.SetAction(parse => ExitCodes.Guard(() =>
        {
            var output = new CliOutput(parse.GetValue(json));
            string ckptPath = parse.GetValue(checkpoint)!;
            if (!File.Exists(ckptPath)) throw new UserInputException($"--checkpoint {ckptPath}: no such file");
            var kind = parse.GetValue(clustering) switch
            {
                "quantile" => ImportanceClusteringKind.Quantile,
                "kmeans-log" => ImportanceClusteringKind.KMeansLog,
                var other => throw new UserInputException($"--clustering must be quantile or kmeans-log, got '{other}'"),
            };
            var assignments = ParseLists(parse.GetValue(bits)!, "--bits", s => int.Parse(s, CultureInfo.InvariantCulture))
                .Select(b => b.Select(v => v is >= 0 and <= 16 ? v : throw new UserInputException($"--bits: widths must be in [0, 16], got {v}")).ToList()).ToList();
            foreach (var b in assignments)
                if (b.Zip(b.Skip(1)).Any(p => p.Second < p.First)) throw new UserInputException($"--bits: widths must not decrease (least important first): {string.Join(",", b)}");
            List<List<double>>? fractionLists = null;
            if (kind == ImportanceClusteringKind.Quantile)
            {
                var f = parse.GetValue(fractions) ?? throw new UserInputException("--clustering quantile needs --fractions (one list per --bits assignment)");
                fractionLists = ParseLists(f, "--fractions", s => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture));
                if (fractionLists.Count != assignments.Count) throw new UserInputException($"--fractions has {fractionLists.Count} lists, --bits {assignments.Count}");
                for (int i = 0; i < assignments.Count; i++)
                {
                    if (fractionLists[i].Count != assignments[i].Count) throw new UserInputException($"--fractions list {i + 1} has {fractionLists[i].Count} entries, its bits {assignments[i].Count}");
                    if (fractionLists[i].Any(x => !(x is >= 0 and <= 1)) || Math.Abs(fractionLists[i].Sum() - 1) > 1e-6)
                        throw new UserInputException($"--fractions list {i + 1} must hold fractions in [0, 1] summing to 1");
                }
            }
            else if (parse.GetValue(fractions) is not null) throw new UserInputException("--fractions applies to --clustering quantile only");
            var added = (parse.GetValue(add) ?? []).Select(ReadCompressResult).ToList();
            string dir = parse.GetValue(outDir)!;

            var ckpt = Checkpoint.Load(ckptPath);
            var seed = CompressCommand.ImportanceSeed(ckpt) ?? throw new UserInputException($"--checkpoint {ckptPath}: carries no gradient importance (train it with --track-importance)");
            var zoo = TrainCommand.ResolveModel(ckpt.ModelName);
            var splits = CommonOptions.LoadData(zoo, parse.GetValue(data));
            Reports.OutputFolder.Prepare(dir, "--out");
            ModelTrainer.ConfigureThreads();
            long dense = 4 * GraphShapes.TrainableParameterCount(zoo.Graph);
            var quantizable = zoo.Graph.Nodes.Where(n => n.Op is OpKind.Linear or OpKind.Conv2d)
                .SelectMany(n => new[] { n.Name + ".weight", n.Name + ".bias" }).ToHashSet(StringComparer.Ordinal);

            var points = new List<Point>();
            double baseline = double.NaN;
            for (int i = 0; i < assignments.Count; i++)
            {
                using var module = ModelTrainer.CreateModule(zoo, 1);
                ModelTensors.Restore(module, ckpt.Model, ckptPath);
                if (double.IsNaN(baseline)) baseline = Evaluator.Evaluate(module, splits.Test, splits.Normalization).Accuracy;
                var parameters = module.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
                using var tracker = new GradientImportanceTracker(parameters);
                tracker.AddFrom(seed);
                var names = parameters.Keys.Where(quantizable.Contains).ToList();
                using var post = new PostTrainingQuantizer(tracker, parameters, names, assignments[i], kind, fractionLists?[i]);
                post.Quantize();
                double accuracy = Evaluator.Evaluate(module, splits.Test, splits.Normalization).Accuracy;
                var values = SlimExporter.Capture(module);
                var encoded = CompressedTensorEncoder.Encode(zoo.Graph, values, new Dictionary<string, Compression.Sharing.SharedWeights>(), [], null, post.StoredTensors);
                var metadata = ModelMetadata.Describe(zoo, splits.Name, splits.Normalization);
                var bytes = SlimWriter.ToBytes(SlimExporter.Export(zoo.Graph, values, new SlimExportOptions { Encoded = encoded, Metadata = metadata }));
                var size = SlimSizeReport.FromBytes(bytes);
                string label = $"bits {string.Join(",", assignments[i])}" + (fractionLists is null ? " kmeans-log" : $" at {string.Join(",", fractionLists[i].Select(x => x.ToString("0.###", CultureInfo.InvariantCulture)))}");
                points.Add(new Point("post-training", label, accuracy, baseline, bytes.LongLength, (double)dense / bytes.LongLength, (double)dense / size.ParameterBytes));
                output.Info($"{label}: test accuracy {accuracy:P2}, {bytes.LongLength:N0} bytes, {(double)dense / bytes.LongLength:F2}x");
            }
            points.AddRange(added);
            WriteFiles(dir, points);
            output.Result(new
            {
                @out = dir,
                model = zoo.Name,
                points = points.Select(p => new
                {
                    mode = p.Mode, label = p.Label, test_accuracy = p.TestAccuracy, baseline_test_accuracy = p.BaselineTestAccuracy,
                    file_bytes = p.FileBytes, compression_ratio = p.CompressionRatio, parameter_ratio = p.ParameterRatio,
                }),
            }, console =>
            {
                var table = new Table().AddColumns("mode", "point", "test accuracy", "file ratio", "parameter ratio");
                foreach (var p in points) table.AddRow(p.Mode, Markup.Escape(p.Label), $"{p.TestAccuracy:P2}", $"{p.CompressionRatio:F2}x", $"{p.ParameterRatio:F2}x");
                console.Write(table);
            });
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    private static List<List<T>> ParseLists<T>(string text, string option, Func<string, T> parse)
    {
        try
        {
            var lists = text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(l => l.Split(',', StringSplitOptions.TrimEntries).Select(parse).ToList()).ToList();
            if (lists.Count == 0 || lists.Any(l => l.Count == 0 || l.Count > 16)) throw new FormatException();
            return lists;
        }
        catch (FormatException) { throw new UserInputException($"{option}: expected lists of 1..16 numbers separated by ',' and ';', got '{text}'"); }
        catch (OverflowException) { throw new UserInputException($"{option}: number out of range in '{text}'"); }
    }

    private static Point ReadCompressResult(string spec)
    {
        int eq = spec.IndexOf('=');
        if (eq <= 0) throw new UserInputException($"--add expects MODE=FILE.json, got '{spec}'");
        string mode = spec[..eq], path = spec[(eq + 1)..];
        if (!File.Exists(path)) throw new UserInputException($"--add {spec}: no such file");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var r = doc.RootElement;
            return new Point(mode, Path.GetFileNameWithoutExtension(r.GetProperty("recipe").GetString() ?? path),
                r.GetProperty("test_accuracy").GetDouble(), r.GetProperty("baseline_test_accuracy").GetDouble(), r.GetProperty("file_bytes").GetInt64(),
                r.GetProperty("compression_ratio").GetDouble(), r.GetProperty("parameter_ratio").GetDouble());
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new UserInputException($"--add {spec}: not a 'compress --json' result ({e.Message})");
        }
    }

    /// <summary>Writes sweep.csv (<c>mode,label,test_accuracy,baseline_test_accuracy,file_bytes,compression_ratio,parameter_ratio</c>) and sweep.json.</summary>
    public static void WriteFiles(string dir, IReadOnlyList<Point> points)
    {
        var csv = new StringBuilder("mode,label,test_accuracy,baseline_test_accuracy,file_bytes,compression_ratio,parameter_ratio\n");
        foreach (var p in points)
            csv.Append(CultureInfo.InvariantCulture, $"{p.Mode},\"{p.Label}\",{p.TestAccuracy:R},{p.BaselineTestAccuracy:R},{p.FileBytes},{p.CompressionRatio:R},{p.ParameterRatio:R}\n");
        AtomicFile.WriteAllBytes(Path.Combine(dir, "sweep.csv"), Encoding.UTF8.GetBytes(csv.ToString()));
        var json = JsonSerializer.Serialize(points.Select(p => new
        {
            mode = p.Mode, label = p.Label, test_accuracy = p.TestAccuracy, baseline_test_accuracy = p.BaselineTestAccuracy,
            file_bytes = p.FileBytes, compression_ratio = p.CompressionRatio, parameter_ratio = p.ParameterRatio,
        }), new JsonSerializerOptions { WriteIndented = true });
        AtomicFile.WriteAllBytes(Path.Combine(dir, "sweep.json"), Encoding.UTF8.GetBytes(json));
    }

    /// <summary>Reads a sweep.csv written by <see cref="WriteFiles"/>.</summary>
    public static List<Point> ReadCsv(string path)
    {
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || !lines[0].StartsWith("mode,label,test_accuracy", StringComparison.Ordinal))
            throw new UserInputException($"{path}: not a sweep.csv (expected the header 'mode,label,test_accuracy,…')");
        var points = new List<Point>();
        for (int i = 1; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            int q1 = lines[i].IndexOf(",\"", StringComparison.Ordinal), q2 = lines[i].IndexOf("\",", q1 + 2, StringComparison.Ordinal);
            if (q1 < 0 || q2 < 0) throw new UserInputException($"{path}:{i + 1}: malformed row");
            var rest = lines[i][(q2 + 2)..].Split(',');
            if (rest.Length != 5) throw new UserInputException($"{path}:{i + 1}: expected 7 columns");
            try
            {
                points.Add(new Point(lines[i][..q1], lines[i][(q1 + 2)..q2], double.Parse(rest[0], CultureInfo.InvariantCulture), double.Parse(rest[1], CultureInfo.InvariantCulture),
                    long.Parse(rest[2], CultureInfo.InvariantCulture), double.Parse(rest[3], CultureInfo.InvariantCulture), double.Parse(rest[4], CultureInfo.InvariantCulture)));
            }
            catch (FormatException) { throw new UserInputException($"{path}:{i + 1}: a number does not parse"); }
        }
        return points;
    }
}
