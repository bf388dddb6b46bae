using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SlimNet.Format.Graph;
using SlimNet.Training.Models;
using SlimNet.Training.Trainer;

namespace SlimNet.Cli.Commands;

/// <summary>
/// <c>slimnet lstm-sweep --out DIR</c>: trains char-lstm full precision and with each loss-aware recipe
/// (<c>recipes/char-lstm-*.yaml</c>) under each normalization, all with the same options, and writes the test
/// bits-per-character table <c>DIR/bpc.md</c> (and <c>DIR/bpc.csv</c>). Each configuration's result is kept as
/// <c>DIR/{quantizer}-{norm}.json</c> (the <c>train --json</c> result) with its checkpoint and .slim file, and an existing
/// result is reused, so an interrupted sweep continues where it stopped; <c>--table-only</c> writes the table from the
/// results present. The order puts the acceptance rows first (full precision, LAT and LAQ 2-bit with layer norm and without).
/// <c>--seeds</c> repeats the sweep for each seed in <c>DIR/seed-S/</c> and writes the mean over the seeds to <c>DIR/bpc.md</c>.
/// </summary>
public static class LstmSweepCommand
{
    /// <summary>Quantizer names in table order: <c>fp</c> (no recipe) and the recipe suffixes.</summary>
    public static readonly string[] Quantizers = ["fp", "lab", "late", "laq2", "laq3", "laq4"];
    /// <summary>Normalization names in table order.</summary>
    public static readonly string[] Norms = ["none", "batch", "layer", "weight"];

    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var outDir = new Option<string>("--out") { Description = "Folder for the results, checkpoints, .slim files and the table (created if missing)", Required = true };
        var quantizers = new Option<string>("--quantizers") { Description = "Comma-separated: fp, lab, late, laq2, laq3, laq4", DefaultValueFactory = _ => string.Join(",", Quantizers) };
        var norms = new Option<string>("--norms") { Description = "Comma-separated: none, batch, layer, weight", DefaultValueFactory = _ => string.Join(",", Norms) };
        var recipes = new Option<string>("--recipes") { Description = "Folder holding char-lstm-{quantizer}.yaml", DefaultValueFactory = _ => "recipes" };
        var data = new Option<string?>("--data") { Description = "UTF-8 text file (default: the embedded Moby Dick)" };
        var hidden = new Option<int>("--hidden") { DefaultValueFactory = _ => 128, Description = "Hidden size" };
        var layers = new Option<int>("--layers") { DefaultValueFactory = _ => 1, Description = "LSTM layers (1 or 2)" };
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 2, Description = "Epochs of every configuration" };
        var streams = new Option<int>("--batch-size") { DefaultValueFactory = _ => 32, Description = "Parallel streams" };
        var bptt = new Option<int>("--bptt") { DefaultValueFactory = _ => 50, Description = "TBPTT window" };
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => 3e-3, Description = "Adam learning rate (cosine schedule)" };
        var clip = new Option<double>("--clip") { DefaultValueFactory = _ => 1.0, Description = "Gradient norm clip" };
        var limit = new Option<int?>("--limit") { Description = "Train on the first N characters of the training split" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1, Description = "Seed of every configuration" };
        var seeds = new Option<string?>("--seeds") { Description = "Comma-separated seeds instead of --seed: every configuration with each seed (in DIR/seed-S/); DIR/bpc.md gives the mean over the seeds" };
        var distill = new Option<bool>("--distill") { Description = "Quantized rows distil from the full-precision row with the same normalization (trained first in the same --out)" };
        var distillTemperature = new Option<double>("--distill-temperature") { Description = "With --distill: softmax temperature T", DefaultValueFactory = _ => new TrainerOptions().DistillTemperature };
        var distillWeight = new Option<double>("--distill-weight") { Description = "With --distill: weight A in (1 - A)·CE + A·T²·KL", DefaultValueFactory = _ => new TrainerOptions().DistillWeight };
        var tableOnly = new Option<bool>("--table-only") { Description = "Train nothing: write the table from the results in --out" };
        var json = CommonOptions.Json();
        var cmd = new Command("lstm-sweep", "Train char-lstm full precision and quantized (LAB, LAT, LAQ 2/3/4-bit) under each normalization; write a test-BPC table")
        {
            outDir, quantizers, norms, recipes, data, hidden, layers, epochs, streams, bptt, lr, clip, limit, seed, seeds, distill, distillTemperature, distillWeight, tableOnly, json,
        };
        cmd.SetAction(parse => ExitCodes.Guard(() =>
        {
            var output = new CliOutput(parse.GetValue(json));
            var qs = Split(parse.GetValue(quantizers)!, Quantizers, "--quantizers");
            var ns = Split(parse.GetValue(norms)!, Norms, "--norms");
            string dir = parse.GetValue(outDir)!;
            bool multi = parse.GetValue(seeds) is not null;
            if (multi && parse.GetResult(seed) is { Implicit: false }) throw new UserInputException("--seed and --seeds: give one of them");
            var seedList = multi ? ParseSeeds(parse.GetValue(seeds)!) : [parse.GetValue(seed)];
            string SeedDir(int s) => multi ? Path.Combine(dir, $"seed-{s}") : dir;
            var training = new TrainerOptions
            {
                Epochs = parse.GetValue(epochs), BatchSize = parse.GetValue(streams), LearningRate = parse.GetValue(lr), Optimizer = "adam",
                Schedule = "cosine", Limit = parse.GetValue(limit), Seed = seedList[0],
                DistillTemperature = parse.GetValue(distillTemperature), DistillWeight = parse.GetValue(distillWeight),
            };
            if (training.Validate() is { } problem) throw new UserInputException(problem);
            bool distilled = parse.GetValue(distill);
            LanguageModelOptionSet.RequireWith(parse, distilled, "--distill", distillTemperature, distillWeight);
            if (distilled)
                foreach (var n in ns)
                    if (qs.Any(q => q != "fp") && !qs.Contains("fp") && seedList.Any(s => !File.Exists(Path.Combine(SeedDir(s), $"fp-{n}.ckpt"))))
                        throw new UserInputException($"--distill: the quantized rows with {n} normalization distil from the full-precision one: add fp to --quantizers");
            // Acceptance rows first: full precision and LAT/LAQ2 with layer norm and without, then the rest.
            var order = new List<(string Q, string N)>();
            foreach (var first in new[] { ("fp", "none"), ("fp", "layer"), ("laq2", "layer"), ("late", "layer"), ("late", "none"), ("laq2", "none") })
                if (qs.Contains(first.Item1) && ns.Contains(first.Item2)) order.Add(first);
            foreach (var q in qs)
                foreach (var n in ns)
                    if (!order.Contains((q, n))) order.Add((q, n));
            // Every recipe must exist before the first configuration trains (not after an hour of training).
            if (!parse.GetValue(tableOnly))
                foreach (var q in order.Select(o => o.Q).Distinct().Where(q => q != "fp"))
                {
                    string path = Path.Combine(parse.GetValue(recipes)!, $"char-lstm-{q}.yaml");
                    if (!File.Exists(path)) throw new UserInputException($"--recipes: {path}: no such file (the recipe for '{q}')");
                }
            Directory.CreateDirectory(dir); // only once the options are known to be valid
            if (!parse.GetValue(tableOnly))
                // Seed by seed, so that an interrupted multi-seed sweep has whole seeds rather than whole rows.
                foreach (int s in seedList)
                    TrainSeed(SeedDir(s), training with { Seed = s }, order, parse.GetValue(recipes)!, parse.GetValue(data), parse.GetValue(hidden),
                        parse.GetValue(layers), parse.GetValue(bptt), parse.GetValue(clip), distilled, output);
            foreach (int s in seedList)
            {
                if (!Directory.Exists(SeedDir(s))) continue;
                var table = Table(SeedDir(s), qs, ns);
                WriteTable(SeedDir(s), table.Markdown, table.Csv);
                if (!multi)
                    output.Result(new { @out = dir, table = Path.Combine(dir, "bpc.md"), rows = table.Rows },
                        console => console.WriteLine(table.Markdown, Spectre.Console.Style.Plain));
            }
            if (multi)
            {
                var table = SeedTable(dir, seedList, qs, ns);
                WriteTable(dir, table.Markdown, table.Csv);
                output.Result(new { @out = dir, table = Path.Combine(dir, "bpc.md"), seeds = seedList, rows = table.Rows },
                    console => console.WriteLine(table.Markdown, Spectre.Console.Style.Plain));
            }
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>
    /// Trains every configuration of <paramref name="order"/> with one seed into <paramref name="dir"/>, reusing a result
    /// already there when it was trained with the same options.
    /// </summary>
    private static void TrainSeed(string dir, TrainerOptions training, List<(string Q, string N)> order, string recipes, string? data, int hidden, int layers,
        int bptt, double clip, bool distilled, CliOutput output)
    {
        Directory.CreateDirectory(dir);
        // What a result depends on besides its quantizer and normalization; a result present in --out is reused only
        // when it was trained with the same options (an older result without them is reused as before).
        var options = new JsonObject
        {
            ["data"] = data is { } d ? Path.GetFullPath(d) : "moby-dick", ["hidden"] = hidden,
            ["layers"] = layers, ["epochs"] = training.Epochs, ["batch_size"] = training.BatchSize,
            ["bptt"] = bptt, ["lr"] = training.LearningRate, ["clip"] = clip,
            ["limit"] = training.Limit, ["seed"] = training.Seed,
        };
        foreach (var (q, n) in order)
        {
            string resultPath = Path.Combine(dir, $"{q}-{n}.json");
            // Distillation is part of a quantized row's options (null: trained without), not of the full-precision rows.
            var rowOptions = (JsonObject)options.DeepClone();
            if (q != "fp")
                rowOptions["distill"] = distilled
                    ? new JsonObject { ["temperature"] = training.DistillTemperature, ["weight"] = training.DistillWeight, ["teacher"] = $"fp-{n}" }
                    : null;
            if (File.Exists(resultPath))
            {
                CheckSameOptions(resultPath, rowOptions);
                output.Info($"{q}-{n}, seed {training.Seed}: result present, reused");
                continue;
            }
            string? recipe = q == "fp" ? null : Path.Combine(recipes, $"char-lstm-{q}.yaml");
            var job = new LanguageModelJob(training, bptt, clip, hidden, layers,
                CharLstmConfig.ParseNormalization(n), recipe, distilled && q != "fp" ? Path.Combine(dir, $"fp-{n}.ckpt") : null);
            var started = DateTime.UtcNow;
            var outcome = LanguageModelTraining.Train(job, data, Path.Combine(dir, $"{q}-{n}.ckpt"), Path.Combine(dir, $"{q}-{n}.slim"),
                null, null, output, new TrainingProgressDisplay(output));
            var r = outcome.Result;
            var result = new JsonObject
            {
                ["model"] = "char-lstm", ["data"] = outcome.Corpus.Name, ["hidden"] = job.Hidden, ["layers"] = job.Layers, ["normalization"] = n,
                ["method"] = outcome.Method, ["epochs"] = r.Epochs.Count, ["validation_bpc"] = r.ValidationBpc, ["test_bpc"] = r.TestBpc,
                ["slim_bytes"] = outcome.SlimBytes, ["seconds_per_epoch"] = r.Epochs.Count > 0 ? r.Epochs.Average(e => e.Seconds) : 0,
                ["seconds"] = (DateTime.UtcNow - started).TotalSeconds, ["options"] = rowOptions,
            };
            Format.AtomicFile.WriteAllBytes(resultPath, Encoding.UTF8.GetBytes(result.ToJsonString()));
            output.Info($"{q}-{n}, seed {training.Seed}: test {r.TestBpc:F4} bpc");
        }
    }

    /// <summary>Writes <c>bpc.md</c> and <c>bpc.csv</c> into <paramref name="dir"/>.</summary>
    private static void WriteTable(string dir, string markdown, string csv)
    {
        Format.AtomicFile.WriteAllBytes(Path.Combine(dir, "bpc.md"), Encoding.UTF8.GetBytes(markdown));
        Format.AtomicFile.WriteAllBytes(Path.Combine(dir, "bpc.csv"), Encoding.UTF8.GetBytes(csv));
    }

    /// <summary>A quantizer's name in the tables.</summary>
    private static string DisplayName(string q) => q == "fp" ? "full precision" : q.ToUpperInvariant().Replace("LATE", "LAT (exact)");

    /// <summary>A table cell: the BPC, with its difference to full precision in brackets when there is one.</summary>
    private static string Cell(double value, double? vsFullPrecision) => vsFullPrecision is { } g
        ? string.Format(CultureInfo.InvariantCulture, "{0:F3} ({1:+0.000;-0.000})", value, g)
        : string.Format(CultureInfo.InvariantCulture, "{0:F3}", value);

    /// <summary>Parses <c>--seeds</c>: a comma-separated list of distinct integers.</summary>
    private static List<int> ParseSeeds(string text)
    {
        var list = new List<int>();
        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(item, NumberStyles.Integer, CultureInfo.InvariantCulture, out int s)) throw new UserInputException($"--seeds: '{item}' is not an integer");
            if (list.Contains(s)) throw new UserInputException($"--seeds: {s} is given twice");
            list.Add(s);
        }
        if (list.Count == 0) throw new UserInputException("--seeds: empty list");
        return list;
    }

    /// <summary>Stops with one line when a result in the output folder was trained with other options than this run's.</summary>
    private static void CheckSameOptions(string resultPath, JsonObject options)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(resultPath)); }
        catch (JsonException e) { throw new UserInputException($"{resultPath}: not a sweep result: {e.Message}"); }
        if (node?["options"] is not JsonObject stored) return;
        var differ = options.Where(kv => !JsonNode.DeepEquals(kv.Value, stored[kv.Key]))
            .Select(kv => $"{kv.Key} {stored[kv.Key]?.ToJsonString() ?? "none"} there, {kv.Value?.ToJsonString() ?? "none"} now").ToList();
        if (differ.Count > 0)
            throw new UserInputException($"{resultPath}: trained with other options ({string.Join("; ", differ)}); use another --out or delete it");
    }

    private static List<string> Split(string text, string[] known, string option)
    {
        var items = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().ToList();
        if (items.Count == 0) throw new UserInputException($"{option}: empty list");
        foreach (var i in items)
            if (!known.Contains(i)) throw new UserInputException($"{option}: unknown '{i}' (expected some of: {string.Join(", ", known)})");
        return known.Where(items.Contains).ToList();
    }

    /// <summary>One configuration over several seeds: the test BPC per seed (null: not run) and the mean when every seed ran.</summary>
    public sealed record SeedRow(string Quantizer, string Normalization, IReadOnlyList<double?> TestBpc, double? Mean, double? MeanVsFullPrecision);

    /// <summary>
    /// The multi-seed table: the mean test BPC over the seeds (in brackets the mean difference to full precision with the same
    /// normalization and seed), then every seed's figure; a mean is shown only when every seed of the configuration ran.
    /// </summary>
    public static (string Markdown, string Csv, List<SeedRow> Rows) SeedTable(string dir, IReadOnlyList<int> seeds, IReadOnlyList<string> qs, IReadOnlyList<string> ns)
    {
        var perSeed = seeds.Select(s => Table(Path.Combine(dir, $"seed-{s}"), qs, ns).Rows).ToList();
        double? Bpc(int i, string q, string n) => perSeed[i].First(r => r.Quantizer == q && r.Normalization == n).TestBpc;
        var rows = new List<SeedRow>();
        foreach (var q in qs)
            foreach (var n in ns)
            {
                var values = seeds.Select((_, i) => Bpc(i, q, n)).ToList();
                bool all = values.All(v => v is not null);
                bool allFp = seeds.Select((_, i) => Bpc(i, "fp", n)).All(v => v is not null);
                rows.Add(new SeedRow(q, n, values, all ? values.Average() : null,
                    q != "fp" && all && allFp ? seeds.Select((_, i) => Bpc(i, q, n)!.Value - Bpc(i, "fp", n)!.Value).Average() : null));
            }
        var ci = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.Append("| weights | ").Append(string.Join(" | ", ns)).Append(" |\n|---|").Append(string.Concat(ns.Select(_ => "---|"))).Append('\n');
        foreach (var q in qs)
        {
            md.Append("| ").Append(DisplayName(q)).Append(" |");
            foreach (var n in ns)
            {
                var r = rows.First(x => x.Quantizer == q && x.Normalization == n);
                int ran = r.TestBpc.Count(v => v is not null);
                md.Append(' ').Append(r.Mean is null ? ran == 0 ? "not run" : $"{ran} of {seeds.Count} seeds"
                    : Cell(r.Mean.Value, r.MeanVsFullPrecision)).Append(" |");
            }
            md.Append('\n');
        }
        md.Append(string.Format(ci, "\nMean test bits per character over seeds {0}; in brackets the mean difference to full precision with the same normalization and seed.\n\n",
            string.Join(", ", seeds)));
        md.Append("| weights | normalization | ").Append(string.Join(" | ", seeds.Select(s => $"seed {s}"))).Append(" | mean |\n|---|---|")
          .Append(string.Concat(seeds.Select(_ => "---|"))).Append("---|\n");
        foreach (var r in rows.Where(r => r.TestBpc.Any(v => v is not null)))
        {
            md.Append("| ").Append(DisplayName(r.Quantizer)).Append(" | ").Append(r.Normalization).Append(" |");
            for (int i = 0; i < seeds.Count; i++)
            {
                var v = r.TestBpc[i];
                var fp = Bpc(i, "fp", r.Normalization);
                md.Append(' ').Append(v is null ? "not run" : Cell(v.Value, r.Quantizer != "fp" ? v - fp : null)).Append(" |");
            }
            md.Append(' ').Append(r.Mean is null ? "–" : $"**{Cell(r.Mean.Value, r.MeanVsFullPrecision)}**").Append(" |\n");
        }
        md.Append("\nTest bits per character of every seed; in brackets the difference to full precision with the same normalization and seed.\n");
        var csv = new StringBuilder("seed,quantizer,normalization,test_bpc,validation_bpc,slim_bytes,seconds_per_epoch\n");
        for (int i = 0; i < seeds.Count; i++)
            foreach (var r in perSeed[i])
                csv.Append(string.Format(ci, "{0},{1},{2},{3},{4},{5},{6}\n", seeds[i], r.Quantizer, r.Normalization, r.TestBpc?.ToString("R", ci),
                    r.ValidationBpc?.ToString("R", ci), r.SlimBytes, r.SecondsPerEpoch?.ToString("F1", ci)));
        return (md.ToString(), csv.ToString(), rows);
    }

    /// <summary>One row of the table: the test BPC of a configuration, or null when it was not run.</summary>
    public sealed record Row(string Quantizer, string Normalization, double? TestBpc, double? ValidationBpc, long? SlimBytes, double? SecondsPerEpoch);

    /// <summary>The table of test BPC: quantizers as rows, normalizations as columns, with the difference to full precision.</summary>
    public static (string Markdown, string Csv, List<Row> Rows) Table(string dir, IReadOnlyList<string> qs, IReadOnlyList<string> ns)
    {
        var rows = new List<Row>();
        foreach (var q in qs)
            foreach (var n in ns)
            {
                var path = Path.Combine(dir, $"{q}-{n}.json");
                if (!File.Exists(path)) { rows.Add(new Row(q, n, null, null, null, null)); continue; }
                JsonNode? node;
                try { node = JsonNode.Parse(File.ReadAllText(path)); }
                catch (JsonException e) { throw new UserInputException($"{path}: not a sweep result: {e.Message}"); }
                rows.Add(new Row(q, n, node?["test_bpc"]?.GetValue<double>(), node?["validation_bpc"]?.GetValue<double>(),
                    node?["slim_bytes"]?.GetValue<long?>(), node?["seconds_per_epoch"]?.GetValue<double>()));
            }
        double? Bpc(string q, string n) => rows.FirstOrDefault(r => r.Quantizer == q && r.Normalization == n)?.TestBpc;
        var ci = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        bool gap = ns.Contains("none") && ns.Count > 1;
        md.Append("| weights | ").Append(string.Join(" | ", ns)).Append(gap ? " | none − best normalized |" : " |")
          .Append("\n|---|").Append(string.Concat(ns.Select(_ => "---|"))).Append(gap ? "---|" : "").Append('\n');
        foreach (var q in qs)
        {
            md.Append("| ").Append(DisplayName(q)).Append(" |");
            foreach (var n in ns)
            {
                var v = Bpc(q, n);
                var fp = Bpc("fp", n);
                md.Append(' ').Append(v is null ? "not run" : Cell(v.Value, q != "fp" ? v - fp : null)).Append(" |");
            }
            if (gap)
            {
                var none = Bpc(q, "none");
                var best = ns.Where(n => n != "none").Select(n => Bpc(q, n)).Where(v => v is not null).Min();
                md.Append(' ').Append(none is null || best is null ? "–" : string.Format(ci, "{0:+0.000;-0.000}", none - best)).Append(" |");
            }
            md.Append('\n');
        }
        md.Append("\nTest bits per character; in brackets the difference to full precision with the same normalization");
        md.Append(gap ? "; last column: unnormalized minus the best normalized result of that row (positive: normalization helps).\n" : ".\n");
        var csv = new StringBuilder("quantizer,normalization,test_bpc,validation_bpc,slim_bytes,seconds_per_epoch\n");
        foreach (var r in rows)
            csv.Append(string.Format(ci, "{0},{1},{2},{3},{4},{5}\n", r.Quantizer, r.Normalization, r.TestBpc?.ToString("R", ci), r.ValidationBpc?.ToString("R", ci),
                r.SlimBytes, r.SecondsPerEpoch?.ToString("F1", ci)));
        return (md.ToString(), csv.ToString(), rows);
    }
}
