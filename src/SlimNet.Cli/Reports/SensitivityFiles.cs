using SlimNet.Format;
using System.Globalization;
using System.Text;

namespace SlimNet.Cli.Reports;

/// <summary>Writes the files of a sensitivity analysis: <c>sensitivity.csv</c>, <c>sensitivity.md</c> and <c>sensitivity.png</c>.</summary>
public static class SensitivityFiles
{
    /// <summary>File name of the table of points (<c>layer,sparsity,accuracy</c>; fractions).</summary>
    public const string CsvName = "sensitivity.csv";
    /// <summary>File name of the Markdown summary.</summary>
    public const string MarkdownName = "sensitivity.md";
    /// <summary>File name of the plot.</summary>
    public const string PlotName = "sensitivity.png";

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>What the analysis ran on, for the headings.</summary>
    /// <param name="Model">Zoo model name.</param>
    /// <param name="Checkpoint">Checkpoint path as given.</param>
    /// <param name="Data">Dataset name.</param>
    /// <param name="TestExamples">Number of test examples evaluated (the first ones of the test split).</param>
    public sealed record Source(string Model, string Checkpoint, string Data, int TestExamples);

    /// <summary>Writes the three files into <paramref name="directory"/> (atomically, each) and returns their paths.</summary>
    public static (string Csv, string Markdown, string Plot) Write(string directory, SensitivityResult result, Source source)
    {
        string csv = Path.Combine(directory, CsvName), md = Path.Combine(directory, MarkdownName), png = Path.Combine(directory, PlotName);
        AtomicFile.WriteAllText(csv, ToCsv(result));
        AtomicFile.WriteAllBytes(png, ReportPlots.Sensitivity(result,
            $"Pruning sensitivity of {source.Model} (one layer at a time, {source.TestExamples:N0} test examples)"));
        AtomicFile.WriteAllText(md, ToMarkdown(result, source));
        return (csv, md, png);
    }

    /// <summary>The points as CSV: header <c>layer,sparsity,accuracy</c>, one line per point, fractions with full precision.</summary>
    public static string ToCsv(SensitivityResult result)
    {
        var sb = new StringBuilder("layer,sparsity,accuracy\n");
        foreach (var layer in result.Layers)
            foreach (var p in layer.Points)
                sb.Append(layer.Layer).Append(',').Append(p.Sparsity.ToString("R", Inv)).Append(',').Append(p.Accuracy.ToString("R", Inv)).Append('\n');
        return sb.ToString();
    }

    /// <summary>A Markdown table (layers × sparsities, accuracy in %) with the suggestion per layer and a recipe snippet.</summary>
    public static string ToMarkdown(SensitivityResult result, Source source)
    {
        var sparsities = result.Layers.SelectMany(l => l.Points.Select(p => p.Sparsity)).Distinct().Order().ToArray();
        var sb = new StringBuilder();
        sb.Append($"# Pruning sensitivity of {source.Model}\n\n");
        sb.Append($"Checkpoint `{source.Checkpoint}`, data {source.Data}. Each weight tensor is pruned **alone** by magnitude ");
        sb.Append("(the smallest |w| first, `round(s·n)` weights), without retraining, and the model is evaluated on the first ");
        sb.Append($"{source.TestExamples.ToString("N0", Inv)} test examples; its weights are restored before the next tensor.\n\n");
        sb.Append($"Unpruned accuracy on these examples: **{Pct(result.BaselineAccuracy)}**. ");
        sb.Append($"Suggested sparsity: the largest tested sparsity up to which every tested sparsity stays within ");
        sb.Append($"{result.MaxDropPoints.ToString("0.###", Inv)} percentage points of the unpruned accuracy.\n\n");
        sb.Append("| layer | weights |");
        foreach (var s in sparsities) sb.Append($" {Pct(s, "0.#")} |");
        sb.Append(" suggested |\n|---|---:|");
        foreach (var _ in sparsities) sb.Append("---:|");
        sb.Append("---:|\n");
        foreach (var layer in result.Layers)
        {
            sb.Append($"| {layer.Layer} | {layer.Elements.ToString("N0", Inv)} |");
            foreach (var s in sparsities)
            {
                var p = layer.Points.FirstOrDefault(q => q.Sparsity == s);
                sb.Append(p is null ? " |" : $" {Pct(p.Accuracy)} |");
            }
            sb.Append($" {Pct(layer.SuggestedSparsity, "0.#")} |\n");
        }
        sb.Append($"\n![accuracy against sparsity, one line per layer]({PlotName})\n\n");
        sb.Append("As recipe overrides of a `prune` stage (see docs/RECIPES.md):\n\n```yaml\noverrides:\n");
        foreach (var layer in result.Layers)
            sb.Append($"  - layer: {layer.Layer}\n    sparsity: {layer.SuggestedSparsity.ToString("0.###", Inv)}\n");
        sb.Append("```\n");
        return sb.ToString();
    }

    private static string Pct(double fraction, string format = "0.00") => (100 * fraction).ToString(format, Inv) + "%";
}
