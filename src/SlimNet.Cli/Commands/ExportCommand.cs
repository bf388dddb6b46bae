using System.CommandLine;
using System.Globalization;
using SlimNet.Compression.Export;
using SlimNet.Format;
using SlimNet.Format.Graph;
using SlimNet.Training.Checkpoints;
using SlimNet.Training.Data;

namespace SlimNet.Cli.Commands;

/// <summary>
/// <c>slimnet export</c>: writes a checkpoint as a .slim file (dense float32 by default, <c>--fp16</c> for binary16
/// weights, <c>--sparse-above X</c> for CSR storage of tensors with more than a fraction X of zeros). The input
/// normalization of training goes into the file's metadata so that <c>slimnet run</c> prepares inputs identically.
/// </summary>
public static class ExportCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Checkpoint file written by 'slimnet train'", Required = true };
        var outPath = new Option<string>("--out") { Description = "The .slim file to write (atomically)", Required = true };
        var fp16 = new Option<bool>("--fp16") { Description = "Store weights and biases as IEEE binary16 (BatchNorm running statistics stay float32)" };
        var sparseAbove = new Option<double?>("--sparse-above") { Description = "Store a tensor in CSR when more than this fraction (0..1) of it is exactly zero" };
        var data = new Option<string?>("--data")
        {
            Description = "The dataset folder the checkpoint was trained on (needed only for MNIST-layout folders, whose normalization comes from their training split)",
        };
        var json = CommonOptions.Json();
        var cmd = new Command("export", "Export a checkpoint to a .slim file") { checkpoint, outPath, fp16, sparseAbove, data, json };
        cmd.SetAction(parse => ExitCodes.Guard(() =>
        {
            var output = new CliOutput(parse.GetValue(json));
            string path = parse.GetValue(checkpoint)!;
            string target = parse.GetValue(outPath)!;
            if (!File.Exists(path)) throw new UserInputException($"--checkpoint {path}: no such file");
            var options = new SlimExportOptions
            {
                Precision = parse.GetValue(fp16) ? ValuePrecision.Float16 : ValuePrecision.Float32,
                SparseAbove = parse.GetValue(sparseAbove),
            };
            if (options.Validate() is { } problem) throw new UserInputException($"--sparse-above: {problem}");
            TrainCommand.CheckWritable(target);

            var ckpt = Checkpoint.Load(path);
            var zoo = TrainCommand.ResolveModel(ckpt.ModelName);
            string? trainedOn = ckpt.Header["data"]?.GetValue<string>();
            var (datasetName, normalization) = ResolveNormalization(zoo.Dataset, trainedOn, parse.GetValue(data));

            var metadata = ModelMetadata.Describe(zoo, datasetName, normalization);
            if (ckpt.Header["test_accuracy"]?.GetValue<double>() is double acc)
                metadata[SlimMetadataKeys.SourceTestAccuracy] = acc.ToString("R", CultureInfo.InvariantCulture);
            if (ckpt.Header["epochs_done"]?.GetValue<int>() is int epochs)
                metadata[SlimMetadataKeys.SourceEpochs] = epochs.ToString(CultureInfo.InvariantCulture);

            var tensors = new Dictionary<string, float[]>(StringComparer.Ordinal);
            foreach (var t in ckpt.Model) tensors[t.Name] = t.Data;
            SlimModel model;
            try { model = SlimExporter.Export(zoo.Graph, tensors, options with { Metadata = metadata }); }
            catch (ArgumentException e) { throw new UserInputException($"--checkpoint {path}: {e.Message}"); }
            var report = SlimWriter.Write(model, target);

            long dense = 4 * GraphShapes.TrainableParameterCount(zoo.Graph);
            output.Result(new
            {
                model = zoo.Name,
                checkpoint = path,
                @out = target,
                method = model.Metadata[SlimMetadataKeys.Method],
                tensors = model.Tensors.Count,
                file_bytes = report.FileBytes,
                dense_fp32_bytes = dense,
                compression_ratio = (double)dense / report.FileBytes,
                source_test_accuracy = ckpt.Header["test_accuracy"]?.GetValue<double>(),
            }, console => console.MarkupLine(
                $"[green]wrote[/] {Markup.Escape(target)}: {zoo.Name}, {Markup.Escape(model.Metadata[SlimMetadataKeys.Method])}, " +
                $"{report.FileBytes:N0} bytes; dense fp32 weights and biases {dense:N0} bytes; compression ratio {(double)dense / report.FileBytes:F2}x"));
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>
    /// The dataset name and normalization the checkpoint was trained with: from <c>--data</c> when given; else the
    /// standard constants of the embedded MNIST and of CIFAR (what training used). An MNIST-layout folder has its own
    /// statistics, so a checkpoint trained on one needs <c>--data</c>.
    /// </summary>
    private static (string Name, ChannelNormalization Normalization) ResolveNormalization(DatasetKind kind, string? trainedOn, string? dataDir)
    {
        if (dataDir is not null)
        {
            if (!Directory.Exists(dataDir)) throw new UserInputException($"--data {dataDir}: no such folder");
            var splits = DataSources.Load(kind, dataDir);
            return (splits.Name, splits.Normalization);
        }
        return kind switch
        {
            DatasetKind.Mnist when trainedOn is null or "mnist" => ("mnist", ChannelNormalization.Mnist),
            DatasetKind.Mnist => throw new UserInputException(
                $"the checkpoint was trained on '{trainedOn}', whose input normalization comes from its training split; pass --data DIR with that folder"),
            DatasetKind.Cifar10 => (trainedOn ?? "cifar10", ChannelNormalization.Cifar10),
            DatasetKind.Cifar100 => (trainedOn ?? "cifar100", ChannelNormalization.Cifar100),
            _ => throw new UserInputException($"unknown dataset kind {kind}"),
        };
    }
}
