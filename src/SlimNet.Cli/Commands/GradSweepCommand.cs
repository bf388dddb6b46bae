using System.CommandLine;
using System.Globalization;
using System.Text;
using SlimNet.Compression.Hooks;
using SlimNet.Compression.Quantization;
using SlimNet.Distributed;
using SlimNet.Format;
using SlimNet.Format.Graph;
using SlimNet.Training.Distributed;
using SlimNet.Training.Models;
using SlimNet.Training.Trainer;

namespace SlimNet.Cli.Commands;

/// <summary>
/// <c>slimnet grad-sweep</c>: under <c>mpirun</c>, trains a zoo model from scratch once per (weight quantizer, gradient
/// codec) pair with data-parallel SGD over the ranks and writes the table of test accuracy, gradient bytes per rank
/// per step and step time (compute, codec, communication). Weight quantizers: <c>fp</c> (none) and the loss-aware
/// projections of every Linear/Conv2d weight (biases stay fp32): <c>laqM</c> (LAQ linear, M bits), <c>lat</c>
/// (exact loss-aware ternarization), <c>lab</c> (loss-aware binarization).
/// </summary>
public static class GradSweepCommand
{
    /// <summary>One cell of the table.</summary>
    public sealed record Cell(string Weights, string Codec, double TestAccuracy, double GradientBytesPerStep, double Fp32BytesPerStep,
        double RingModelBytesPerStep, long Steps, double ComputeMsPerStep, double CodecMsPerStep, double CommunicationMsPerStep, double Seconds);

    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Zoo model", DefaultValueFactory = _ => "lenet-300-100" };
        var data = CommonOptions.Data();
        var epochs = new Option<int?>("--epochs") { Description = "Epochs per cell (default: the model's)" };
        var batch = new Option<int?>("--batch-size") { Description = "Global minibatch size, split over the ranks (default: the model's)" };
        var lr = new Option<double?>("--lr") { Description = "Learning rate (default: the model's)" };
        var limit = new Option<int?>("--limit") { Description = "Train on the first N training examples only" };
        var seed = new Option<int>("--seed") { Description = "Random seed (same initial weights and data order in every cell)", DefaultValueFactory = _ => 1 };
        var weights = new Option<string>("--weights") { Description = "Weight quantizers, comma-separated: fp, laqM (M = 2..8), lat, lab", DefaultValueFactory = _ => "fp,laq3,lat,lab" };
        var codecs = new Option<string>("--codecs") { Description = "Gradient codecs, comma-separated (see train --grad-codec)", DefaultValueFactory = _ => "fp32,q8,q4,q3,q2,q2-clip" };
        var outDir = new Option<string>("--out") { Description = "Folder for grad-sweep.md and grad-sweep.json (rewritten after every cell)", Required = true };
        var json = CommonOptions.Json();
        var cmd = new Command("grad-sweep", "Weight quantizer × gradient codec table of data-parallel training (run under mpirun)")
        {
            model, data, epochs, batch, lr, limit, seed, weights, codecs, outDir, json,
        };
        cmd.SetAction(parse => ExitCodes.Guard(() =>
        {
            var output = new CliOutput(parse.GetValue(json));
            var zoo = TrainCommand.ResolveModel(parse.GetValue(model)!);
            if (zoo.Dataset == Training.Data.DatasetKind.Text) throw new UserInputException("grad-sweep trains the image models");
            var weightNames = Split(parse.GetValue(weights)!, "--weights");
            foreach (var w in weightNames) _ = Projection(w);
            var codecList = Split(parse.GetValue(codecs)!, "--codecs").Select(c =>
            {
                try { return GradientCodec.Parse(c); }
                catch (ArgumentException e) { throw new UserInputException($"--codecs: {e.Message}"); }
            }).ToList();
            var d = zoo.Defaults;
            var options = new TrainerOptions
            {
                Epochs = parse.GetValue(epochs) ?? d.Epochs, BatchSize = parse.GetValue(batch) ?? d.BatchSize, LearningRate = parse.GetValue(lr) ?? d.LearningRate,
                Optimizer = d.Optimizer, Schedule = d.Schedule, WeightDecay = d.WeightDecay, Momentum = d.Momentum,
                Limit = parse.GetValue(limit), Seed = parse.GetValue(seed), Augment = zoo.Dataset != Training.Data.DatasetKind.Mnist,
            };
            if (options.Validate() is { } problem) throw new UserInputException(problem);
            if (options.Epochs < 1) throw new UserInputException($"--epochs must be at least 1, got {options.Epochs}");
            if (weightNames.Any(w => w != "fp") && options.Optimizer != "adam")
                throw new UserInputException($"the loss-aware weight quantizers take their curvature from Adam; {zoo.Name} trains with {options.Optimizer}");
            string dir = parse.GetValue(outDir)!;
            var splits = CommonOptions.LoadData(zoo, parse.GetValue(data), options.Limit);

            MpiCommunicator world;
            try { world = MpiCommunicator.InitializeWorld(); }
            catch (MpiException e) { throw new UserInputException($"grad-sweep: {e.Message}"); }
            CliOutput.Silent = !world.IsRoot;
            if (world.IsRoot) Directory.CreateDirectory(dir);
            output.Info($"grad-sweep: {zoo.Name} on {splits.Name}, {world.Size} ranks, {options.Epochs} epochs per cell, batch {options.BatchSize}, " +
                        $"{weightNames.Count} weight quantizers × {codecList.Count} gradient codecs");
            var cells = new List<Cell>();
            int code = ExitCodes.Ok;
            try
            {
                foreach (var w in weightNames)
                    foreach (var codec in codecList)
                    {
                        var cell = RunCell(zoo, options, splits, w, codec, world, parse.GetValue(seed));
                        cells.Add(cell);
                        output.Info($"{w} × {codec.Name}: test accuracy {cell.TestAccuracy:P2}, {cell.GradientBytesPerStep:N0} gradient bytes per rank per step " +
                                    $"({cell.Fp32BytesPerStep / cell.GradientBytesPerStep:F1}x fewer than fp32), per step: compute {cell.ComputeMsPerStep:F1} ms, " +
                                    $"codec {cell.CodecMsPerStep:F1} ms, communication {cell.CommunicationMsPerStep:F1} ms");
                        if (world.IsRoot) Write(dir, zoo.Name, world.Size, options, weightNames, codecList, cells);
                    }
            }
            catch (Exception e)
            {
                var (c, message) = ExitCodes.Classify(e);
                Console.Error.WriteLine($"error: {message}");
                Console.Error.WriteLine($"error: rank {world.Rank} of {world.Size} failed; ending the whole job");
                world.Abort(c);
                code = c;
            }
            output.Result(new { model = zoo.Name, ranks = world.Size, epochs = options.Epochs, cells }, c =>
                c.MarkupLine($"[green]done[/]: {cells.Count} cells; table in {Markup.Escape(Path.Combine(dir, "grad-sweep.md"))}"));
            world.Dispose();
            return code;
        }));
        return cmd;
    }

    private static List<string> Split(string list, string option)
    {
        var items = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => s.ToLowerInvariant()).ToList();
        if (items.Count == 0) throw new UserInputException($"{option} is empty");
        if (items.Distinct().Count() != items.Count) throw new UserInputException($"{option} lists a value twice");
        return items;
    }

    /// <summary>The projection and bits of a weight quantizer name (null projection for <c>fp</c>).</summary>
    public static (WeightProjection? Method, int Bits) Projection(string name) => name switch
    {
        "fp" => (null, 32),
        "lab" => (WeightProjection.Lab, 1),
        "lat" => (WeightProjection.LatExact, 2),
        _ when name.StartsWith("laq", StringComparison.Ordinal) && int.TryParse(name[3..], NumberStyles.None, CultureInfo.InvariantCulture, out int m) && m is >= 2 and <= 8
            => (WeightProjection.LaqLinear, m),
        _ => throw new UserInputException($"--weights: unknown weight quantizer '{name}' (expected fp, laqM with M in 2..8, lat or lab)"),
    };

    private static Cell RunCell(ZooModel zoo, TrainerOptions options, Training.Data.DataSplits splits, string weights, GradientCodec codec, MpiCommunicator world, int seed)
    {
        var (method, bits) = Projection(weights);
        using var module = ModelTrainer.CreateModule(zoo, options.Seed);
        var parameters = module.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        var hooks = new List<ITrainingHooks>();
        LossAwareQuantizer? quantizer = null;
        if (method is { } m)
        {
            var layers = GraphShapes.Parameters(zoo.Graph).Where(p => p.Shape.Length >= 2 && !Compression.Export.SlimExporter.IsStatistic(p.Name))
                .Select(p => new QuantizedLayer(p.Name, m, Math.Max(bits, 2))).ToList();
            hooks.Add(quantizer = new LossAwareQuantizer(parameters, layers));
        }
        try
        {
            using var parallel = new DataParallel(world, codec, seed);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var result = new ModelTrainer(zoo, options, splits, hooks, null, parallel).Run(module: module);
            var s = parallel.Stats;
            double perStep(double x) => s.Steps == 0 ? 0 : 1000 * x / s.Steps;
            return new Cell(weights, codec.Name, result.TestAccuracy, s.GradientBytesPerStep, 4.0 * parallel.GradientValues,
                s.Steps == 0 ? 0 : s.GradientRingModelBytes / s.Steps, s.Steps, perStep(s.ComputeSeconds), perStep(s.CodecSeconds), perStep(s.CommunicationSeconds),
                clock.Elapsed.TotalSeconds);
        }
        finally
        {
            quantizer?.Dispose();
        }
    }

    private static void Write(string dir, string model, int ranks, TrainerOptions options, List<string> weights, List<GradientCodec> codecs, List<Cell> cells)
    {
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine(inv, $"# grad-sweep: {model}, {ranks} ranks, {options.Epochs} epochs, global batch {options.BatchSize}, seed {options.Seed}");
        md.AppendLine();
        md.AppendLine("Test accuracy (%) after the last epoch; rows: weight quantizer, columns: gradient codec.");
        md.AppendLine();
        md.AppendLine("| weights | " + string.Join(" | ", codecs.Select(c => c.Name)) + " |");
        md.AppendLine("|---|" + string.Concat(codecs.Select(_ => "---:|")));
        foreach (var w in weights)
            md.AppendLine($"| {w} | " + string.Join(" | ", codecs.Select(c => cells.FirstOrDefault(x => x.Weights == w && x.Codec == c.Name) is { } x
                ? (100 * x.TestAccuracy).ToString("F2", inv) : "")) + " |");
        md.AppendLine();
        md.AppendLine("Gradient bytes each rank hands to MPI per step (counted at the binding), ratio to fp32, and the ring-model bytes; " +
                      "time per step on rank 0 (ms): compute (forward, backward, optimizer, weight projection), codec (encode + decode), communication (inside MPI).");
        md.AppendLine();
        md.AppendLine("| weights | codec | test acc % | bytes/step | fp32/codec | ring-model bytes/step | compute ms | codec ms | comm ms | steps | wall s |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var x in cells)
            md.AppendLine(string.Create(inv, $"| {x.Weights} | {x.Codec} | {100 * x.TestAccuracy:F2} | {x.GradientBytesPerStep:F0} | {x.Fp32BytesPerStep / x.GradientBytesPerStep:F2} | {x.RingModelBytesPerStep:F0} | {x.ComputeMsPerStep:F2} | {x.CodecMsPerStep:F2} | {x.CommunicationMsPerStep:F2} | {x.Steps} | {x.Seconds:F0} |"));
        AtomicFile.WriteAllText(Path.Combine(dir, "grad-sweep.md"), md.ToString());
        AtomicFile.WriteAllText(Path.Combine(dir, "grad-sweep.json"), CliOutput.ToJson(new { model, ranks, epochs = options.Epochs, batch_size = options.BatchSize, seed = options.Seed, cells }));
    }
}
