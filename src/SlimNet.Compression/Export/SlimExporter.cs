using SlimNet.Format;
using SlimNet.Format.Graph;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Compression.Export;

/// <summary>
/// Turns a trained network — its <see cref="ModelGraph"/> and its named float tensors (parameters and BatchNorm
/// running statistics, named <c>{node}.weight</c>, <c>{node}.bias</c>, <c>{node}.running_mean</c>,
/// <c>{node}.running_var</c>) — into a <see cref="SlimModel"/> ready for <see cref="SlimWriter"/>. Tensors are
/// written in graph order (<see cref="GraphShapes.Parameters"/>). By default every tensor is dense float32, so
/// the file is 4 bytes per parameter plus a few kilobytes; see <see cref="SlimExportOptions"/> for the others.
/// </summary>
public static class SlimExporter
{
    /// <summary>The value of the <see cref="SlimMetadataKeys.Exporter"/> entry.</summary>
    public const string ExporterName = "slimnet";

    /// <summary>Builds the .slim model of <paramref name="graph"/> from <paramref name="tensors"/> (row-major floats by name).</summary>
    /// <param name="graph">The network.</param>
    /// <param name="tensors">Every parameter the graph needs, by name; no others.</param>
    /// <param name="options">Encodings and metadata (null: dense float32, no extra metadata).</param>
    /// <exception cref="ArgumentException">A tensor is missing, unknown, of the wrong size or not finite, a
    /// pre-encoded tensor has the wrong shape, or the options are invalid (the message names the tensor).</exception>
    public static SlimModel Export(ModelGraph graph, IReadOnlyDictionary<string, float[]> tensors, SlimExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(tensors);
        options ??= new SlimExportOptions();
        if (options.Validate() is { } problem) throw new ArgumentException(problem);
        var encoded = options.Encoded ?? new Dictionary<string, SlimTensor>();
        var expected = GraphShapes.Parameters(graph);
        var expectedNames = new HashSet<string>(expected.Select(p => p.Name), StringComparer.Ordinal);
        foreach (var name in tensors.Keys.Concat(encoded.Keys))
            if (!expectedNames.Contains(name))
                throw new ArgumentException($"tensor '{name}' is not a parameter of model '{graph.Name}'");

        var result = new List<SlimTensor>(expected.Count);
        foreach (var (name, shape) in expected)
        {
            if (encoded.TryGetValue(name, out var pre))
            {
                if (!pre.Shape.AsSpan().SequenceEqual(shape))
                    throw new ArgumentException($"encoded tensor '{name}' has shape {ShapeText(pre.Shape)}, the graph needs {ShapeText(shape)}");
                if (pre.Name != name) throw new ArgumentException($"encoded tensor given for '{name}' is named '{pre.Name}'");
                result.Add(pre);
                continue;
            }
            if (!tensors.TryGetValue(name, out var values))
                throw new ArgumentException($"tensor '{name}' of model '{graph.Name}' is missing");
            long count = shape.Aggregate(1L, (a, d) => a * d);
            if (values.Length != count)
                throw new ArgumentException($"tensor '{name}' has {values.Length} values, shape {ShapeText(shape)} needs {count}");
            int bad = Array.FindIndex(values, v => !float.IsFinite(v));
            if (bad >= 0) throw new ArgumentException($"tensor '{name}' holds a non-finite value ({values[bad]}) at index {bad}");
            result.Add(Encode(name, shape, values, options, IsStatistic(name)));
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [SlimMetadataKeys.Model] = graph.Name,
            [SlimMetadataKeys.Exporter] = ExporterName,
            [SlimMetadataKeys.Method] = Describe(options),
        };
        if (options.Metadata != null)
            foreach (var (k, v) in options.Metadata) metadata[k] = v;
        return new SlimModel(graph, result, metadata);
    }

    /// <summary>Builds the .slim model of <paramref name="graph"/> from the parameters and float buffers of <paramref name="module"/>.</summary>
    /// <exception cref="ArgumentException">As <see cref="Export(ModelGraph, IReadOnlyDictionary{string, float[]}, SlimExportOptions?)"/>.</exception>
    public static SlimModel Export(ModelGraph graph, nn.Module module, SlimExportOptions? options = null) =>
        Export(graph, Capture(module), options);

    /// <summary>
    /// The float32 parameters and buffers of <paramref name="module"/> as managed arrays, by name (BatchNorm's
    /// integer <c>num_batches_tracked</c> is not a float and is left out).
    /// </summary>
    public static Dictionary<string, float[]> Capture(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        var result = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var (name, p) in module.named_parameters()) result[name] = ToArray(p);
        foreach (var (name, b) in module.named_buffers())
            if (b.dtype == ScalarType.Float32) result[name] = ToArray(b);
        return result;
    }

    /// <summary>
    /// Encodes one tensor as the options say: values in <see cref="SlimExportOptions.Precision"/> (running statistics in
    /// float32 when <see cref="SlimExportOptions.StatisticsInFloat32"/>), CSR when its zero fraction exceeds
    /// <see cref="SlimExportOptions.SparseAbove"/>, else dense.
    /// </summary>
    public static SlimTensor Encode(string name, int[] shape, float[] values, SlimExportOptions options, bool isStatistic)
    {
        ArgumentNullException.ThrowIfNull(options);
        var layout = SparseLayout.Dense;
        if (options.SparseAbove is double threshold && values.Length > 0)
        {
            int zeros = 0;
            foreach (float v in values) if (v == 0f) zeros++;
            if ((double)zeros / values.Length > threshold) layout = SparseLayout.Csr;
        }
        bool half = options.Precision == ValuePrecision.Float16 && !(isStatistic && options.StatisticsInFloat32);
        return half ? SlimTensor.Float16(name, shape, values, layout) : SlimTensor.Dense(name, shape, values, layout);
    }

    /// <summary>True for BatchNorm running statistics (<c>.running_mean</c>, <c>.running_var</c>).</summary>
    public static bool IsStatistic(string name) =>
        name.EndsWith(".running_mean", StringComparison.Ordinal) || name.EndsWith(".running_var", StringComparison.Ordinal);

    private static string Describe(SlimExportOptions o)
    {
        string values = o.Precision == ValuePrecision.Float16 ? "fp16" : "fp32";
        string layout = o.SparseAbove is double s ? $"csr above {s:0.###} sparsity" : "dense";
        return o.Encoded is { Count: > 0 } ? $"{layout} {values} + {o.Encoded.Count} pre-encoded" : $"{layout} {values}";
    }

    private static float[] ToArray(Tensor t)
    {
        using var c = t.detach().cpu().contiguous();
        return c.data<float>().ToArray();
    }

    private static string ShapeText(int[] shape) => "[" + string.Join(", ", shape) + "]";
}
