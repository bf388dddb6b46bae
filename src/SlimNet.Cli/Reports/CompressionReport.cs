using System.Globalization;
using System.Text;
using SlimNet.Compression.Export;
using SlimNet.Format;
using SlimNet.Training.Checkpoints;

namespace SlimNet.Cli.Reports;

/// <summary>What the report says about one .slim file (a definition: read from the file, never changed).</summary>
/// <param name="Path">The file as given.</param>
/// <param name="Key">Short unique name used in the plot file names (the file name without .slim).</param>
/// <param name="File">The opened file.</param>
/// <param name="Size">Its exact size accounting.</param>
public sealed record ReportedModel(string Path, string Key, SlimModelFile File, SlimSizeReport Size)
{
    /// <summary>Zoo model name (graph name).</summary>
    public string Model => File.Model.Graph.Name;
    /// <summary>The <c>method</c> metadata (e.g. <c>recipe deep-compression-lenet-300-100</c>), or null.</summary>
    public string? Method => File.Model.Metadata.GetValueOrDefault(SlimMetadataKeys.Method);
    /// <summary>The <c>test_accuracy</c> metadata written by <c>slimnet compress</c> (fraction), or null.</summary>
    public double? TestAccuracy => Number("test_accuracy");
    /// <summary>The <c>source_test_accuracy</c> metadata: the accuracy of the model before compression (fraction), or null.</summary>
    public double? BaselineAccuracy => Number(SlimMetadataKeys.SourceTestAccuracy);
    /// <summary>4 bytes × every weight and bias (BatchNorm running statistics excluded), as <c>slimnet inspect</c> counts.</summary>
    public long DenseFp32Bytes => 4L * Size.Tensors.Where(t => !SlimExporter.IsStatistic(t.Name)).Sum(t => (long)t.ElementCount);
    /// <summary><see cref="DenseFp32Bytes"/> / file bytes.</summary>
    public double CompressionRatio => Size.FileBytes == 0 ? 0 : (double)DenseFp32Bytes / Size.FileBytes;

    /// <summary>Weight tensors (rank ≥ 2: Linear and Conv2d kernels), in file order.</summary>
    public IReadOnlyList<TensorSizeEntry> WeightTensors => Size.Tensors.Where(t => Shape(t.Name).Length >= 2).ToArray();

    /// <summary>The shape of tensor <paramref name="name"/>.</summary>
    public int[] Shape(string name) => File.Model.FindTensor(name)?.Shape ?? Array.Empty<int>();

    private double? Number(string key) =>
        File.Model.Metadata.TryGetValue(key, out var text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : null;
}

/// <summary>
/// <c>slimnet report</c>: a Markdown report (<c>report.md</c>) with PNG plots for one or more .slim files: sizes, ratio,
/// accuracy, a per-tensor table with bytes per stream, per-tensor sparsity and bits, weight histograms before (from a
/// baseline checkpoint) and after, and accuracy against compression ratio when several files are given.
/// </summary>
public sealed class CompressionReport
{
    /// <summary>File name of the Markdown report.</summary>
    public const string MarkdownName = "report.md";
    /// <summary>File name of the sweep plot (written when several files are given).</summary>
    public const string SweepPlotName = "accuracy-vs-ratio.png";
    /// <summary>How many of the largest weight tensors of each file get a histogram.</summary>
    public const int HistogramTensors = 4;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private readonly IReadOnlyList<ReportedModel> _models;
    private readonly Checkpoint? _baseline;
    private readonly string? _baselinePath;

    /// <summary>Creates a report over <paramref name="models"/>; <paramref name="baseline"/> gives the weights before compression.</summary>
    public CompressionReport(IReadOnlyList<ReportedModel> models, Checkpoint? baseline, string? baselinePath)
    {
        _models = models;
        _baseline = baseline;
        _baselinePath = baselinePath;
    }

    /// <summary>Writes report.md and the plots into <paramref name="directory"/>; returns every written path (report first).</summary>
    public IReadOnlyList<string> Write(string directory, Action<string>? wrote = null)
    {
        var written = new List<string>();
        var md = new StringBuilder();
        md.Append("# SlimNet compression report\n\n");
        if (_models.Count > 1) WriteSummary(md);
        foreach (var m in _models) WriteModel(directory, m, md, written, wrote);
        if (_models.Count > 1)
        {
            var points = new List<SweepPoint>();
            foreach (var m in _models)
                if (m.TestAccuracy is double acc) points.Add(new SweepPoint(m.Key, m.CompressionRatio, acc));
            var dense = _models.Select(m => m.BaselineAccuracy).FirstOrDefault(a => a is not null);
            var baseline = dense is double d ? new SweepPoint("dense", 1, d) : null;
            if (points.Count > 0)
            {
                string path = Path.Combine(directory, SweepPlotName);
                string models = string.Join(", ", _models.Select(m => m.Model).Distinct());
                AtomicFile.WriteAllBytes(path, ReportPlots.AccuracyVersusRatio(points, baseline, $"Test accuracy against compression ratio ({models})"));
                Record(path, written, wrote);
                md.Append("## Accuracy against compression\n\n").Append($"![test accuracy against compression ratio]({SweepPlotName})\n\n");
            }
            else
            {
                md.Append("## Accuracy against compression\n\nNo file carries `test_accuracy` metadata, so there is nothing to plot.\n\n");
            }
        }
        string report = Path.Combine(directory, MarkdownName);
        AtomicFile.WriteAllText(report, md.ToString());
        written.Insert(0, report);
        wrote?.Invoke(report);
        return written;
    }

    private void WriteSummary(StringBuilder md)
    {
        md.Append("| file | model | method | file bytes | dense fp32 bytes | ratio | test accuracy | baseline accuracy |\n");
        md.Append("|---|---|---|---:|---:|---:|---:|---:|\n");
        foreach (var m in _models)
            md.Append($"| `{m.Path}` | {m.Model} | {m.Method ?? "?"} | {N(m.Size.FileBytes)} | {N(m.DenseFp32Bytes)} | {m.CompressionRatio.ToString("0.0", Inv)}x | {Pct(m.TestAccuracy)} | {Pct(m.BaselineAccuracy)} |\n");
        md.Append('\n');
    }

    private void WriteModel(string directory, ReportedModel m, StringBuilder md, List<string> written, Action<string>? wrote)
    {
        md.Append($"## `{m.Path}`\n\n");
        md.Append($"- model: **{m.Model}**, input [{string.Join(", ", m.File.Model.Graph.InputShape)}]\n");
        md.Append($"- method: {m.Method ?? "not recorded"}\n");
        if (m.File.Model.Metadata.GetValueOrDefault(SlimMetadataKeys.Dataset) is { } data) md.Append($"- data: {data}\n");
        md.Append($"- file: {N(m.Size.FileBytes)} bytes; dense fp32 weights and biases: {N(m.DenseFp32Bytes)} bytes; ");
        md.Append($"compression ratio **{m.CompressionRatio.ToString("0.00", Inv)}x**\n");
        md.Append($"- test accuracy: {Pct(m.TestAccuracy)}");
        if (m.BaselineAccuracy is double b)
        {
            md.Append($" (baseline before compression {Pct(b)}");
            if (m.TestAccuracy is double a) md.Append($", {(100 * (a - b)).ToString("+0.00;-0.00", Inv)} pp");
            md.Append(')');
        }
        md.Append("\n\n");

        md.Append("| tensor | shape | layout | encoding | bits | kept | bits/stored weight | header B | values B | indices B | row ptr B | codebook B | scales B | total B |\n");
        md.Append("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var t in m.Size.Tensors)
            md.Append($"| {t.Name} | {string.Join("×", m.Shape(t.Name))} | {Layout(t.Sparsity)} | {Lower(t.Encoding)} | {t.Bits} | {Pct(1 - t.SparsityRatio, "0.0")} | ")
              .Append($"{t.BitsPerStoredWeight.ToString("0.00", Inv)} | {N(t.HeaderBytes)} | {N(t.ValueBytes)} | {N(t.IndexBytes)} | {N(t.RowPointerBytes)} | ")
              .Append($"{N(t.CodebookBytes)} | {N(t.ScaleBytes)} | {N(t.TotalBytes)} |\n");
        long headers = m.Size.FileHeaderBytes + m.Size.MetadataBytes + m.Size.TensorTableBytes;
        md.Append($"\nFile header, metadata and tensor table: {N(headers)} bytes; graph: {N(m.Size.GraphBytes)} bytes; tensors: {N(m.Size.ParameterBytes)} bytes.\n\n");

        var weights = m.WeightTensors;
        if (weights.Count == 0) return;
        string sparsity = $"{m.Key}-sparsity.png", bits = $"{m.Key}-bits.png";
        AtomicFile.WriteAllBytes(Path.Combine(directory, sparsity),
            ReportPlots.Sparsity(weights.Select(t => (t.Name, t.SparsityRatio)).ToArray(), $"Pruned weights per tensor ({m.Key})"));
        Record(Path.Combine(directory, sparsity), written, wrote);
        AtomicFile.WriteAllBytes(Path.Combine(directory, bits), ReportPlots.Bits(weights.Select(t => new TensorBits(t.Name,
                t.StoredCount == 0 ? 0 : 8.0 * (t.ValueBytes + t.CodebookBytes + t.ScaleBytes) / t.StoredCount,
                t.StoredCount == 0 ? 0 : 8.0 * (t.IndexBytes + t.RowPointerBytes) / t.StoredCount,
                t.StoredCount == 0 ? 0 : 8.0 * t.HeaderBytes / t.StoredCount)).ToArray(),
            $"Storage cost per stored weight ({m.Key})"));
        Record(Path.Combine(directory, bits), written, wrote);
        md.Append($"![pruned weights per tensor]({sparsity})\n\n![bits per stored weight]({bits})\n\n");

        var before = _baseline is not null && _baseline.ModelName == m.Model
            ? _baseline.Model.ToDictionary(a => a.Name, a => a.Data, StringComparer.Ordinal) : null;
        var largest = weights.OrderByDescending(t => t.ElementCount).Take(HistogramTensors).ToArray();
        md.Append(before is null
            ? "Weight histograms of the nonzero weights stored in the file (give `--baseline CHECKPOINT` to compare with the weights before compression):\n\n"
            : $"Weight histograms before (all weights of `{_baselinePath}`) and after compression (the nonzero weights stored in the file):\n\n");
        foreach (var t in weights.Where(largest.Contains))
        {
            var tensor = m.File.Model.FindTensor(t.Name)!;
            var after = tensor.ToDense().Where(v => v != 0).ToArray();
            float[]? prior = before?.GetValueOrDefault(t.Name);
            if (prior is not null && prior.Length != tensor.ElementCount) prior = null;
            string file = $"{m.Key}-weights-{Safe(t.Name)}.png";
            AtomicFile.WriteAllBytes(Path.Combine(directory, file), ReportPlots.WeightHistogram(t.Name, prior, after, $"Weights of {t.Name} ({m.Key})"));
            Record(Path.Combine(directory, file), written, wrote);
            md.Append($"![weight histogram of {t.Name}]({file})\n");
        }
        md.Append('\n');
    }

    private static void Record(string path, List<string> written, Action<string>? wrote)
    {
        written.Add(path);
        wrote?.Invoke(path);
    }

    private static string Safe(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
    private static string Layout(SparseLayout layout) => layout switch
    {
        SparseLayout.RelativeGaps => "relative-gaps",
        _ => Lower(layout),
    };
    private static string Lower<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();
    private static string N(long v) => v.ToString("N0", Inv);
    private static string Pct(double? fraction, string format = "0.00") => fraction is double f ? (100 * f).ToString(format, Inv) + "%" : "n/a";

    /// <summary>Unique plot-name keys for the given paths: the file name without extension, numbered when two collide.</summary>
    public static IReadOnlyList<string> Keys(IReadOnlyList<string> paths)
    {
        var keys = new List<string>();
        foreach (var p in paths)
        {
            string stem = Safe(System.IO.Path.GetFileNameWithoutExtension(p));
            if (stem.Length == 0) stem = "model";
            string key = stem;
            for (int i = 2; keys.Contains(key); i++) key = $"{stem}-{i}";
            keys.Add(key);
        }
        return keys;
    }
}
