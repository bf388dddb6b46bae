using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using SlimNet.Compression.Export;
using SlimNet.Format;

namespace SlimNet.Cli.Commands;

/// <summary>
/// <c>slimnet inspect FILE.slim</c>: where every byte of a .slim file goes, per layer and per stream, measured from
/// the file itself (<see cref="SlimSizeReport"/>).
/// <para>
/// Accounting (also in the JSON): <c>file_bytes = header_bytes + graph_bytes + Σ layers[].bytes</c> exactly, where
/// <c>header_bytes</c> is the fixed file header plus the metadata and tensor-table sections and each layer's bytes are
/// its tensor sections (framing, tensor headers and streams). <c>dense_fp32_bytes</c> is 4 bytes × every weight and
/// bias (BatchNorm γ and β included — the parameter count of <c>slimnet models</c>); BatchNorm running statistics are
/// not weights and are not counted there, although the file stores them (they are folded away at inference), so
/// <c>compression_ratio = dense_fp32_bytes / file_bytes</c> never flatters the file.
/// </para>
/// </summary>
public static class InspectCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "The .slim file" };
        var json = CommonOptions.Json();
        var cmd = new Command("inspect", "Show the layers, encodings and exact byte accounting of a .slim file") { file, json };
        cmd.SetAction(parse => ExitCodes.Guard(() =>
        {
            var output = new CliOutput(parse.GetValue(json));
            var slim = SlimModelFile.Open(parse.GetValue(file)!);
            var report = slim.SizeReport();
            var layers = report.Layers.Select(l => LayerSummary.From(l, slim.Model)).ToList();
            long headerBytes = report.FileHeaderBytes + report.MetadataBytes + report.TensorTableBytes;
            long dense = layers.Sum(l => 4 * l.WeightElements);
            long weights = layers.Sum(l => l.WeightElements);
            long storedWeights = layers.Sum(l => l.StoredWeights);
            if (headerBytes + report.GraphBytes + layers.Sum(l => l.Bytes) != report.FileBytes)
                throw new InvalidOperationException("size accounting does not add up to the file length");

            if (output.Json)
            {
                var metadata = new JsonObject();
                foreach (var (k, v) in slim.Model.Metadata) metadata[k] = v;
                output.Result(new
                {
                    file = slim.Path,
                    model = slim.Model.Graph.Name,
                    method = slim.Model.Metadata.GetValueOrDefault(SlimMetadataKeys.Method),
                    file_bytes = report.FileBytes,
                    header_bytes = headerBytes,
                    graph_bytes = report.GraphBytes,
                    header = new { file_header_bytes = report.FileHeaderBytes, metadata_bytes = report.MetadataBytes, tensor_table_bytes = report.TensorTableBytes },
                    tensor_bytes = report.ParameterBytes,
                    parameters = weights,
                    stored_parameters = storedWeights,
                    sparsity = weights == 0 ? 0 : 1.0 - (double)storedWeights / weights,
                    statistics_elements = report.ElementCount - weights,
                    dense_fp32_bytes = dense,
                    compression_ratio = (double)dense / report.FileBytes,
                    bits_per_parameter = weights == 0 ? 0 : 8.0 * report.FileBytes / weights,
                    metadata,
                    layers = layers.Select(l => l.ToJson()).ToArray(),
                }, _ => { });
                return ExitCodes.Ok;
            }

            var c = output.Human;
            // Redirected output has no terminal width; do not squeeze thirteen columns into 80.
            if (Console.IsOutputRedirected && c.Profile.Width < 160) c.Profile.Width = 160;
            c.MarkupLine($"[bold]{Markup.Escape(slim.Path)}[/]: model {Markup.Escape(slim.Model.Graph.Name)}, " +
                         $"input [[{string.Join(", ", slim.Model.Graph.InputShape)}]], {slim.Model.Graph.Nodes.Count} nodes, {slim.Model.Tensors.Count} tensors");
            if (slim.Model.Metadata.Count > 0)
                c.MarkupLine("metadata: " + Markup.Escape(string.Join("; ", slim.Model.Metadata.Select(p => $"{p.Key}={p.Value}"))));
            var table = new Table().Border(TableBorder.Rounded);
            foreach (var h in new[] { "layer", "op", "shape", "encoding", "sparsity", "bits/w", "header", "values", "indices", "rowptr", "codebook", "scales", "bytes" })
                table.AddColumn(new TableColumn(h) { Alignment = h is "layer" or "op" or "shape" or "encoding" ? Justify.Left : Justify.Right });
            foreach (var l in layers)
                table.AddRow(Markup.Escape(l.Name), l.Op, Markup.Escape(l.Shape), Markup.Escape(l.Encoding), $"{l.Sparsity:P1}", $"{l.BitsPerWeight:F2}",
                    N(l.HeaderBytes), N(l.ValueBytes), N(l.IndexBytes), N(l.RowPointerBytes), N(l.CodebookBytes), N(l.ScaleBytes), N(l.Bytes));
            table.AddEmptyRow();
            table.AddRow("header (file, metadata, tensor table)", "", "", "", "", "", "", "", "", "", "", "", N(headerBytes));
            table.AddRow("graph", "", "", "", "", "", "", "", "", "", "", "", N(report.GraphBytes));
            table.AddRow("[bold]total[/]", "", $"{weights:N0} params", "", $"{(weights == 0 ? 0 : 1.0 - (double)storedWeights / weights):P1}",
                $"{(weights == 0 ? 0 : 8.0 * report.FileBytes / weights):F2}", N(layers.Sum(l => l.HeaderBytes)), N(layers.Sum(l => l.ValueBytes)),
                N(layers.Sum(l => l.IndexBytes)), N(layers.Sum(l => l.RowPointerBytes)), N(layers.Sum(l => l.CodebookBytes)), N(layers.Sum(l => l.ScaleBytes)),
                $"[bold]{report.FileBytes:N0}[/]");
            c.Write(table);
            c.MarkupLine($"file {report.FileBytes:N0} bytes; dense fp32 weights and biases {dense:N0} bytes; compression ratio [green]{(double)dense / report.FileBytes:F2}x[/]");
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    private static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>One layer's tensors summed; weight elements exclude BatchNorm running statistics.</summary>
    private sealed record LayerSummary(string Name, string Op, string Shape, string Encoding, long WeightElements, long StoredWeights,
        long HeaderBytes, long ValueBytes, long IndexBytes, long RowPointerBytes, long CodebookBytes, long ScaleBytes, IReadOnlyList<TensorSizeEntry> Tensors,
        IReadOnlyList<int[]> Shapes)
    {
        public long Bytes => HeaderBytes + ValueBytes + IndexBytes + RowPointerBytes + CodebookBytes + ScaleBytes;
        public double Sparsity => WeightElements == 0 ? 0 : 1.0 - (double)StoredWeights / WeightElements;
        public double BitsPerWeight => WeightElements == 0 ? 0 : 8.0 * Bytes / WeightElements;

        public static LayerSummary From(LayerSizeEntry l, SlimModel model)
        {
            var node = model.Graph.Nodes.FirstOrDefault(n => n.Name == l.Layer);
            var weights = l.Tensors.Where(t => !SlimExporter.IsStatistic(t.Name)).ToList();
            // The layer's own weight (an Lstm node's is weight_ih; its normalization tensors also end in ".weight").
            var main = l.Tensors.FirstOrDefault(t => t.Name == l.Layer + ".weight") ?? l.Tensors.FirstOrDefault(t => t.Name == l.Layer + ".weight_ih")
                ?? l.Tensors.FirstOrDefault(t => t.Name.EndsWith(".weight", StringComparison.Ordinal)) ?? l.Tensors[0];
            var shapes = l.Tensors.Select(t => model.FindTensor(t.Name)?.Shape ?? []).ToArray();
            var mainShape = model.FindTensor(main.Name)?.Shape ?? [];
            return new LayerSummary(l.Layer, node?.Op.ToString() ?? "?", "[" + string.Join("×", mainShape) + "]", Describe(main),
                weights.Sum(t => (long)t.ElementCount), weights.Sum(t => (long)t.StoredCount),
                l.Tensors.Sum(t => t.HeaderBytes), l.Tensors.Sum(t => t.ValueBytes), l.Tensors.Sum(t => t.IndexBytes),
                l.Tensors.Sum(t => t.RowPointerBytes), l.Tensors.Sum(t => t.CodebookBytes), l.Tensors.Sum(t => t.ScaleBytes), l.Tensors, shapes);
        }

        public object ToJson() => new
        {
            name = Name,
            op = Op,
            bytes = Bytes,
            encoding = Encoding,
            parameters = WeightElements,
            stored_parameters = StoredWeights,
            sparsity = Sparsity,
            bits_per_weight = BitsPerWeight,
            dense_fp32_bytes = 4 * WeightElements,
            streams = new
            {
                header_bytes = HeaderBytes, value_bytes = ValueBytes, index_bytes = IndexBytes, row_pointer_bytes = RowPointerBytes,
                codebook_bytes = CodebookBytes, scale_bytes = ScaleBytes,
            },
            tensors = Tensors.Select((t, i) => new
            {
                name = t.Name,
                shape = Shapes[i],
                layout = t.Sparsity.ToString().ToLowerInvariant(),
                encoding = t.Encoding.ToString().ToLowerInvariant(),
                bits = t.Bits,
                elements = t.ElementCount,
                stored = t.StoredCount,
                sparsity = t.SparsityRatio,
                bytes = t.TotalBytes,
                header_bytes = t.HeaderBytes,
                value_bytes = t.ValueBytes,
                index_bytes = t.IndexBytes,
                row_pointer_bytes = t.RowPointerBytes,
                codebook_bytes = t.CodebookBytes,
                scale_bytes = t.ScaleBytes,
                bits_per_weight = t.ElementCount == 0 ? 0 : 8.0 * t.TotalBytes / t.ElementCount,
            }).ToArray(),
        };
    }

    /// <summary>"dense fp32", "csr fp16", "relative-gaps(5b) codebook 4b", "csr fixed 8b +huffman".</summary>
    private static string Describe(TensorSizeEntry t)
    {
        string layout = t.Sparsity switch
        {
            SparseLayout.Dense => "dense",
            SparseLayout.Csr => "csr",
            _ => "relative-gaps",
        };
        string values = t.Encoding switch
        {
            ValueEncoding.Float32 => "fp32",
            ValueEncoding.Float16 => "fp16",
            ValueEncoding.FixedPoint => $"fixed {t.Bits}b",
            ValueEncoding.Codebook => $"codebook {t.Bits}b",
            ValueEncoding.BitPlanes => $"{t.Bits} bit planes",
            _ => t.Encoding.ToString(),
        };
        return $"{layout} {values}";
    }
}
