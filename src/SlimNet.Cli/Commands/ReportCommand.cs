using System.CommandLine;
using SlimNet.Cli.Reports;
using SlimNet.Training.Checkpoints;

namespace SlimNet.Cli.Commands;

/// <summary>
/// <c>slimnet report FILE.slim [FILE2.slim …] --out DIR</c>: writes DIR/report.md with sizes, ratio, accuracy and a
/// per-tensor table, plus PNG plots (per-tensor sparsity and bits, weight histograms before/after, and accuracy against
/// compression ratio when several files are given). Needs no Torch: everything is read from the files.
/// </summary>
public static class ReportCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var files = new Argument<string[]>("files") { Description = "One or more .slim files (several: a sweep)", Arity = ArgumentArity.ZeroOrMore };
        var curves = new Option<string[]>("--curves") { Description = "sweep.csv files of 'importance-sweep': plot accuracy against compression, one line per mode (tradeoff.png, tradeoff.md)" };
        var baseline = new Option<string?>("--baseline") { Description = "Checkpoint of the model before compression, for the 'before' weight histograms" };
        var outDir = new Option<string>("--out") { Description = "Folder for report.md and the PNG plots (created if missing)", Required = true };
        var json = CommonOptions.Json();
        var cmd = new Command("report", "Write a Markdown report with PNG plots for compressed .slim files") { files, baseline, outDir, curves, json };
        cmd.SetAction(parse => ExitCodes.Guard(() =>
        {
            var output = new CliOutput(parse.GetValue(json));
            var paths = parse.GetValue(files) ?? [];
            var curveFiles = parse.GetValue(curves) ?? [];
            if (paths.Length == 0 && curveFiles.Length == 0) throw new UserInputException("give one or more .slim files, or --curves sweep.csv");
            if (curveFiles.Length > 0)
            {
                foreach (var c in curveFiles) if (!File.Exists(c)) throw new UserInputException($"--curves {c}: no such file");
                var points = curveFiles.SelectMany(ImportanceSweepCommand.ReadCsv).ToList();
                string curveDir = parse.GetValue(outDir)!;
                OutputFolder.Prepare(curveDir, "--out");
                var writtenCurves = WriteCurves(curveDir, points);
                if (paths.Length == 0)
                {
                    output.Result(new { @out = curveDir, report = writtenCurves[0], plots = writtenCurves.Skip(1).ToArray(), points = points.Count },
                        console => console.MarkupLine($"wrote [green]{Markup.Escape(writtenCurves[0])}[/] and {Markup.Escape(writtenCurves[1])}"));
                    return ExitCodes.Ok;
                }
            }
            var keys = CompressionReport.Keys(paths);
            var models = paths.Select((p, i) =>
            {
                var file = SlimModelFile.Open(p);
                return new ReportedModel(p, keys[i], file, file.SizeReport());
            }).ToArray();
            string? baselinePath = parse.GetValue(baseline);
            Checkpoint? ckpt = null;
            if (baselinePath is not null)
            {
                if (!File.Exists(baselinePath)) throw new UserInputException($"--baseline {baselinePath}: no such file");
                ckpt = Checkpoint.Load(baselinePath);
                if (models.All(m => m.Model != ckpt.ModelName))
                    throw new UserInputException($"--baseline {baselinePath}: is a checkpoint of '{ckpt.ModelName}', but the files hold {string.Join(", ", models.Select(m => $"'{m.Model}'").Distinct())}");
            }
            string dir = parse.GetValue(outDir)!;
            OutputFolder.Prepare(dir, "--out");

            var written = new CompressionReport(models, ckpt, baselinePath).Write(dir);
            output.Result(new
            {
                @out = dir,
                report = written[0],
                plots = written.Skip(1).ToArray(),
                files = models.Select(m => new
                {
                    file = m.Path,
                    model = m.Model,
                    method = m.Method,
                    file_bytes = m.Size.FileBytes,
                    dense_fp32_bytes = m.DenseFp32Bytes,
                    compression_ratio = m.CompressionRatio,
                    test_accuracy = m.TestAccuracy,
                    baseline_test_accuracy = m.BaselineAccuracy,
                    sparsity = m.Size.SparsityRatio,
                }),
            }, console =>
            {
                var table = new Table().AddColumns("file", "model", "bytes", "ratio", "test accuracy");
                foreach (var m in models)
                    table.AddRow(Markup.Escape(m.Path), Markup.Escape(m.Model), $"{m.Size.FileBytes:N0}", $"{m.CompressionRatio:F1}x",
                        m.TestAccuracy is double a ? $"{a:P2}" : "n/a");
                console.Write(table);
                console.MarkupLine($"wrote [green]{Markup.Escape(written[0])}[/] and {written.Count - 1} plots in {Markup.Escape(dir)}");
            });
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>Writes DIR/tradeoff.png (one line per mode) and DIR/tradeoff.md (the points as a table); returns their paths (md first).</summary>
    public static IReadOnlyList<string> WriteCurves(string dir, IReadOnlyList<ImportanceSweepCommand.Point> points)
    {
        var byMode = points.GroupBy(p => p.Mode).Select(g => (g.Key, (IReadOnlyList<SweepPoint>)g.Select(p => new SweepPoint(p.Label, p.CompressionRatio, p.TestAccuracy)).ToList())).ToList();
        var baselines = points.Select(p => p.BaselineTestAccuracy).Where(double.IsFinite).Distinct().ToList();
        var baseline = baselines.Count == 1 ? new SweepPoint("dense", 1, baselines[0]) : null;
        string png = Path.Combine(dir, "tradeoff.png");
        SlimNet.Format.AtomicFile.WriteAllBytes(png, ReportPlots.TradeOffCurves(byMode, baseline, "Test accuracy against compression ratio"));
        var md = new System.Text.StringBuilder("# Accuracy against compression\n\n![trade-off](tradeoff.png)\n\n| mode | point | test accuracy | change (pp) | file bytes | file ratio | parameter ratio |\n|---|---|---|---|---|---|---|\n");
        foreach (var p in points.OrderBy(p => p.Mode, StringComparer.Ordinal).ThenBy(p => p.CompressionRatio))
            md.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"| {p.Mode} | {p.Label} | {100 * p.TestAccuracy:F2} % | {100 * (p.TestAccuracy - p.BaselineTestAccuracy):+0.00;-0.00} | {p.FileBytes:N0} | {p.CompressionRatio:F2}x | {p.ParameterRatio:F2}x |\n");
        string mdPath = Path.Combine(dir, "tradeoff.md");
        SlimNet.Format.AtomicFile.WriteAllBytes(mdPath, System.Text.Encoding.UTF8.GetBytes(md.ToString()));
        return [mdPath, png];
    }
}
