using System.CommandLine;
using System.Globalization;
using SlimNet.Cli.Reports;
using SlimNet.Compression.Recipes;
using SlimNet.Training.Checkpoints;
using SlimNet.Training.Trainer;

namespace SlimNet.Cli.Commands;

/// <summary>
/// <c>slimnet sensitivity</c>: prunes each weight tensor alone by magnitude at a range of sparsities (no retraining),
/// evaluates test accuracy on a fixed subset of the test split, and writes <c>sensitivity.csv</c>, <c>sensitivity.md</c>
/// and <c>sensitivity.png</c> with a suggested sparsity per layer.
/// </summary>
public static class SensitivityCommand
{
    /// <summary>The sparsities tested when <c>--sparsities</c> is not given.</summary>
    public const string DefaultSparsities = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95";

    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Trained checkpoint (from 'slimnet train' or FILE.baseline.ckpt of 'slimnet compress')", Required = true };
        var data = CommonOptions.Data();
        var sparsities = new Option<string>("--sparsities")
        {
            Description = "Comma-separated sparsities in (0, 1) to test per layer",
            DefaultValueFactory = _ => DefaultSparsities,
        };
        var layers = new Option<string?>("--layers") { Description = "Comma-separated globs of the weights to analyse (default: every *.weight of Linear and Conv2d layers)" };
        var testLimit = new Option<int>("--test-limit") { Description = "Evaluate on the first N test examples", DefaultValueFactory = _ => 2000 };
        var maxDrop = new Option<double>("--max-drop") { Description = "Accuracy drop allowed for the suggested sparsity, in percentage points", DefaultValueFactory = _ => 0.5 };
        var outDir = new Option<string>("--out") { Description = "Folder for sensitivity.csv, .md and .png (created if missing)", DefaultValueFactory = _ => "sensitivity" };
        var json = CommonOptions.Json();
        var cmd = new Command("sensitivity", "Prune each layer alone at several sparsities and plot the test accuracy")
        {
            checkpoint, data, sparsities, layers, testLimit, maxDrop, outDir, json,
        };
        cmd.SetAction(parse => ExitCodes.Guard(() =>
        {
            var output = new CliOutput(parse.GetValue(json));
            var levels = ParseSparsities(parse.GetValue(sparsities)!);
            int limit = parse.GetValue(testLimit);
            if (limit < 1) throw new UserInputException($"--test-limit must be at least 1, got {limit}");
            double drop = parse.GetValue(maxDrop);
            if (!(drop >= 0) || double.IsInfinity(drop)) throw new UserInputException($"--max-drop must be a number of percentage points >= 0, got {drop}");
            string path = parse.GetValue(checkpoint)!;
            if (!File.Exists(path)) throw new UserInputException($"--checkpoint {path}: no such file");
            var ckpt = Checkpoint.Load(path);
            var zoo = TrainCommand.ResolveModel(ckpt.ModelName);
            var names = SelectLayers(SensitivityAnalysis.PrunableWeights(zoo.Graph), parse.GetValue(layers));
            string dir = parse.GetValue(outDir)!;
            OutputFolder.Prepare(dir, "--out");
            var splits = CommonOptions.LoadData(zoo, parse.GetValue(data));
            var test = splits.Test.Take(limit);

            ModelTrainer.ConfigureThreads();
            using var module = ModelTrainer.CreateModule(zoo, 0);
            ModelTensors.Restore(module, ckpt.Model, path);
            output.Info($"sensitivity of {zoo.Name}: {names.Count} layers × {levels.Length} sparsities on the first {test.Count:N0} test examples of {splits.Name}");

            int total = names.Count * levels.Length;
            SensitivityResult result;
            if (output.Interactive)
            {
                // The bar is drawn here, on the calling thread, instead of inside Spectre's Progress, which runs the work on
                // a thread-pool thread: libtorch's conv2d evaluated there gave corrupted results (constant predictions).
                int done = 0;
                result = SensitivityAnalysis.Run(module, names, levels, test, splits.Normalization, drop, (layer, s, acc) =>
                {
                    done++;
                    int filled = (int)Math.Round(30.0 * done / total);
                    string line = $"[{new string('#', filled)}{new string('-', 30 - filled)}] {done}/{total} {layer} at {s:P0}: {acc:P2}";
                    int width = Math.Max(20, Console.WindowWidth - 1);
                    Console.Out.Write("\r" + (line.Length > width ? line[..width] : line.PadRight(width)));
                    if (done == total) Console.Out.WriteLine();
                });
            }
            else
            {
                result = SensitivityAnalysis.Run(module, names, levels, test, splits.Normalization, drop, (layer, s, acc) =>
                {
                    if (s == levels[^1]) output.Info($"{layer}: evaluated {levels.Length} sparsities");
                });
            }

            var (csv, md, png) = SensitivityFiles.Write(dir, result, new SensitivityFiles.Source(zoo.Name, path, splits.Name, test.Count));
            output.Result(new
            {
                model = zoo.Name,
                checkpoint = path,
                data = splits.Name,
                test_examples = test.Count,
                baseline_accuracy = result.BaselineAccuracy,
                max_drop_pp = result.MaxDropPoints,
                sparsities = levels,
                layers = result.Layers.Select(l => new
                {
                    name = l.Layer,
                    elements = l.Elements,
                    suggested_sparsity = l.SuggestedSparsity,
                    points = l.Points.Select(p => new { sparsity = p.Sparsity, accuracy = p.Accuracy }),
                }),
                csv,
                markdown = md,
                plot = png,
            }, console =>
            {
                // Redirected output has no terminal width; do not squeeze a dozen columns into 80.
                if (Console.IsOutputRedirected && console.Profile.Width < 160) console.Profile.Width = 160;
                var table = new Table().AddColumn("layer").AddColumn(new TableColumn("weights").RightAligned());
                foreach (var s in levels) table.AddColumn(new TableColumn($"{s:P0}").RightAligned());
                table.AddColumn(new TableColumn("suggested").RightAligned());
                foreach (var l in result.Layers)
                {
                    var row = new List<string> { Markup.Escape(l.Layer), $"{l.Elements:N0}" };
                    row.AddRange(l.Points.Select(p => 100 * (result.BaselineAccuracy - p.Accuracy) > drop + 1e-9 ? $"[red]{p.Accuracy:P2}[/]" : $"{p.Accuracy:P2}"));
                    row.Add($"[green]{l.SuggestedSparsity:P0}[/]");
                    table.AddRow(row.ToArray());
                }
                console.Write(table);
                console.MarkupLine($"unpruned accuracy {result.BaselineAccuracy:P2} on {test.Count:N0} test examples; " +
                                   $"wrote {Markup.Escape(csv)}, {Markup.Escape(md)}, {Markup.Escape(png)}");
            });
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>Parses <c>--sparsities</c>: comma-separated numbers in (0, 1), returned sorted without duplicates.</summary>
    public static double[] ParseSparsities(string text)
    {
        var values = new SortedSet<double>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !(v > 0 && v < 1))
                throw new UserInputException($"--sparsities: '{part}' is not a sparsity in (0, 1); expected e.g. {DefaultSparsities}");
            values.Add(v);
        }
        if (values.Count == 0) throw new UserInputException($"--sparsities: no value given; expected e.g. {DefaultSparsities}");
        return values.ToArray();
    }

    /// <summary>The prunable weights selected by <c>--layers</c> (recipe glob rules); every glob must select one.</summary>
    public static IReadOnlyList<string> SelectLayers(IReadOnlyList<string> prunable, string? globs)
    {
        if (prunable.Count == 0) throw new UserInputException("the model has no Linear or Conv2d weights to prune");
        if (string.IsNullOrWhiteSpace(globs)) return prunable;
        var patterns = globs.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(g => new LayerPattern(g, 0)).ToArray();
        foreach (var p in patterns)
            if (!prunable.Any(p.Matches))
                throw new UserInputException($"--layers: pattern '{p.Glob}' matches no prunable weight; the model has {string.Join(", ", prunable)}");
        return prunable.Where(n => patterns.Any(p => p.Matches(n))).ToArray();
    }
}
