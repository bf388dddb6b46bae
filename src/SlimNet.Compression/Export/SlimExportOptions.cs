using SlimNet.Format;

namespace SlimNet.Compression.Export;

/// <summary>How the exporter stores the values of a tensor it encodes itself.</summary>
public enum ValuePrecision
{
    /// <summary>IEEE binary32, bit-exact: 32 bits per stored value.</summary>
    Float32,
    /// <summary>IEEE binary16 (round to nearest even): 16 bits per stored value.</summary>
    Float16,
}

/// <summary>
/// What <see cref="SlimExporter"/> writes for each tensor. An immutable definition. The default is the plain dense
/// float32 model. Compression methods that have their own stored form (codebooks, fixed point, bit planes, relative
/// gaps) encode those tensors themselves and hand them over in <see cref="Encoded"/>; the exporter only encodes the
/// rest, with <see cref="Precision"/> and <see cref="SparseAbove"/>.
/// </summary>
public sealed record SlimExportOptions
{
    /// <summary>Value precision of weights and biases (BatchNorm γ and β included) the exporter encodes.</summary>
    public ValuePrecision Precision { get; init; } = ValuePrecision.Float32;

    /// <summary>
    /// When set, a tensor whose fraction of exact zeros is strictly greater than this (0..1) is stored in CSR (only its
    /// nonzeros, with column indices and row pointers); null keeps every tensor dense.
    /// </summary>
    public double? SparseAbove { get; init; }

    /// <summary>
    /// Keeps BatchNorm running statistics in float32 whatever <see cref="Precision"/> says: they are few, and a variance
    /// rounded to binary16 can lose most of its digits next to a small epsilon. Default true.
    /// </summary>
    public bool StatisticsInFloat32 { get; init; } = true;

    /// <summary>
    /// Tensors already in their stored form, by name (e.g. a k-means codebook tensor from weight sharing). Each must
    /// be a parameter of the graph with the graph's shape; it is written as given.
    /// </summary>
    public IReadOnlyDictionary<string, SlimTensor>? Encoded { get; init; }

    /// <summary>Extra metadata entries (they override the exporter's own entries of the same key).</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }

    /// <summary>Returns null when the options are valid, else the problem.</summary>
    public string? Validate()
    {
        if (!Enum.IsDefined(Precision)) return $"unknown value precision {(int)Precision}";
        if (SparseAbove is double s && !(s >= 0 && s <= 1)) return $"the CSR sparsity threshold must be in 0..1, got {s}";
        return null;
    }
}
