using System.Globalization;
using System.Text;

namespace SlimNet.Format;

/// <summary>
/// Bytes of one tensor in a .slim file, split by stream. <see cref="TotalBytes"/> is the whole tensor
/// section (framing and header included). Units: bytes unless the name says bits.
/// </summary>
/// <param name="Name">Tensor name.</param>
/// <param name="Layer">Graph node the tensor belongs to (name up to the last '.').</param>
/// <param name="ElementCount">Elements of the tensor.</param>
/// <param name="StoredCount">Stored entries (nonzeros for sparse layouts).</param>
/// <param name="Sparsity">Sparsity layout.</param>
/// <param name="Encoding">Value encoding.</param>
/// <param name="Bits">Bits of the value encoding (32, 16, m, b or K planes).</param>
/// <param name="HeaderBytes">Section framing (tag, length, CRC), name, shape, encoding fields and stream length fields.</param>
/// <param name="ValueBytes">Values, codes or bit planes.</param>
/// <param name="IndexBytes">CSR column indices or relative gaps (fillers included).</param>
/// <param name="RowPointerBytes">CSR row stream.</param>
/// <param name="CodebookBytes">Codebook floats.</param>
/// <param name="ScaleBytes">Fixed-point scales or bit-plane basis floats.</param>
public sealed record TensorSizeEntry(string Name, string Layer, int ElementCount, int StoredCount, SparseLayout Sparsity, ValueEncoding Encoding, int Bits,
    long HeaderBytes, long ValueBytes, long IndexBytes, long RowPointerBytes, long CodebookBytes, long ScaleBytes)
{
    /// <summary>All bytes of the tensor's section.</summary>
    public long TotalBytes => HeaderBytes + ValueBytes + IndexBytes + RowPointerBytes + CodebookBytes + ScaleBytes;
    /// <summary>4 × <see cref="ElementCount"/>: the tensor as dense float32.</summary>
    public long DenseFp32Bytes => 4L * ElementCount;
    /// <summary>Fraction of elements not stored.</summary>
    public double SparsityRatio => ElementCount == 0 ? 0 : 1.0 - (double)StoredCount / ElementCount;
    /// <summary>All bits of the tensor (header included) per stored entry.</summary>
    public double BitsPerStoredWeight => StoredCount == 0 ? 0 : 8.0 * TotalBytes / StoredCount;
    /// <summary>Value, codebook and scale bits per stored entry.</summary>
    public double ValueBitsPerWeight => StoredCount == 0 ? 0 : 8.0 * (ValueBytes + CodebookBytes + ScaleBytes) / StoredCount;
    /// <summary>Index and row-pointer bits per stored entry.</summary>
    public double IndexBitsPerWeight => StoredCount == 0 ? 0 : 8.0 * (IndexBytes + RowPointerBytes) / StoredCount;
    /// <summary><see cref="DenseFp32Bytes"/> / <see cref="TotalBytes"/>.</summary>
    public double Ratio => TotalBytes == 0 ? 0 : (double)DenseFp32Bytes / TotalBytes;
}

/// <summary>The tensors of one graph node (layer) with their summed sizes.</summary>
/// <param name="Layer">Node name.</param>
/// <param name="Tensors">The node's tensors, in file order.</param>
public sealed record LayerSizeEntry(string Layer, IReadOnlyList<TensorSizeEntry> Tensors)
{
    /// <summary>Bytes of all the layer's tensor sections.</summary>
    public long TotalBytes => Tensors.Sum(t => t.TotalBytes);
    /// <summary>Elements of all the layer's tensors.</summary>
    public long ElementCount => Tensors.Sum(t => (long)t.ElementCount);
    /// <summary>Stored entries of all the layer's tensors.</summary>
    public long StoredCount => Tensors.Sum(t => (long)t.StoredCount);
    /// <summary>4 × <see cref="ElementCount"/>.</summary>
    public long DenseFp32Bytes => 4 * ElementCount;
    /// <summary>Fraction of the layer's elements not stored.</summary>
    public double SparsityRatio => ElementCount == 0 ? 0 : 1.0 - (double)StoredCount / ElementCount;
    /// <summary>All bits per stored entry.</summary>
    public double BitsPerStoredWeight => StoredCount == 0 ? 0 : 8.0 * TotalBytes / StoredCount;
    /// <summary><see cref="DenseFp32Bytes"/> / <see cref="TotalBytes"/>.</summary>
    public double Ratio => TotalBytes == 0 ? 0 : (double)DenseFp32Bytes / TotalBytes;
}

/// <summary>
/// Exact size accounting of a .slim file, measured from its bytes: file header, graph, metadata and tensor
/// table sections, and every tensor split by stream. <see cref="AccountedBytes"/> always equals <see cref="FileBytes"/>.
/// </summary>
public sealed class SlimSizeReport
{
    private SlimSizeReport(SlimReader.Accounting a)
    {
        FileBytes = a.File;
        FileHeaderBytes = a.Header;
        GraphBytes = a.Graph;
        MetadataBytes = a.Metadata;
        TensorTableBytes = a.TensorTable;
        var nodes = new HashSet<string>(a.GraphObject!.Nodes.Select(n => n.Name), StringComparer.Ordinal);
        Tensors = a.Tensors.Select(t => new TensorSizeEntry(t.Name, LayerOf(t.Name, nodes), t.Elements, t.Stored, t.Layout, t.Encoding, t.Bits,
            t.Section - t.Values - t.Indices - t.RowPointers - t.Codebook - t.Scales, t.Values, t.Indices, t.RowPointers, t.Codebook, t.Scales)).ToArray();
        Layers = Tensors.GroupBy(t => t.Layer, StringComparer.Ordinal).Select(g => new LayerSizeEntry(g.Key, g.ToArray())).ToArray();
    }

    private static string LayerOf(string tensor, HashSet<string> nodes)
    {
        // The longest prefix that names a node: Lstm tensors such as "lstm1.norm_ih.weight" belong to node "lstm1".
        for (int at = tensor.LastIndexOf('.'); at > 0; at = tensor.LastIndexOf('.', at - 1))
            if (nodes.Contains(tensor[..at])) return tensor[..at];
        int dot = tensor.LastIndexOf('.');
        string prefix = dot > 0 ? tensor[..dot] : tensor;
        return nodes.Contains(prefix) || dot > 0 ? prefix : tensor;
    }

    /// <summary>Measures the .slim file in <paramref name="data"/>.</summary>
    /// <exception cref="SlimFormatException">The bytes are not a valid .slim file.</exception>
    public static SlimSizeReport FromBytes(ReadOnlySpan<byte> data)
    {
        var a = new SlimReader.Accounting();
        SlimReader.Parse(data, a);
        return new SlimSizeReport(a);
    }

    /// <summary>Measures the .slim file at <paramref name="path"/>.</summary>
    public static SlimSizeReport FromFile(string path) => FromBytes(File.ReadAllBytes(path));

    /// <summary>Length of the file.</summary>
    public long FileBytes { get; }
    /// <summary>The fixed file header (16).</summary>
    public long FileHeaderBytes { get; }
    /// <summary>The graph section, framing included.</summary>
    public long GraphBytes { get; }
    /// <summary>The metadata section, framing included.</summary>
    public long MetadataBytes { get; }
    /// <summary>The tensor table section (tensor count), framing included.</summary>
    public long TensorTableBytes { get; }
    /// <summary>Every tensor, in file order.</summary>
    public IReadOnlyList<TensorSizeEntry> Tensors { get; }
    /// <summary>Tensors grouped by layer (graph node), in order of first appearance.</summary>
    public IReadOnlyList<LayerSizeEntry> Layers { get; }

    /// <summary>Bytes of all tensor sections: the stored parameter size.</summary>
    public long ParameterBytes => Tensors.Sum(t => t.TotalBytes);
    /// <summary>Header + graph + metadata + tensor table + all tensors; equals <see cref="FileBytes"/>.</summary>
    public long AccountedBytes => FileHeaderBytes + GraphBytes + MetadataBytes + TensorTableBytes + ParameterBytes;
    /// <summary>4 × the element count of all tensors: the model as dense float32.</summary>
    public long DenseFp32Bytes => Tensors.Sum(t => t.DenseFp32Bytes);
    /// <summary>Elements of all tensors.</summary>
    public long ElementCount => Tensors.Sum(t => (long)t.ElementCount);
    /// <summary>Stored entries of all tensors.</summary>
    public long StoredCount => Tensors.Sum(t => (long)t.StoredCount);
    /// <summary>Fraction of all elements not stored.</summary>
    public double SparsityRatio => ElementCount == 0 ? 0 : 1.0 - (double)StoredCount / ElementCount;
    /// <summary>Dense size / stored parameter bytes.</summary>
    public double ParameterRatio => ParameterBytes == 0 ? 0 : (double)DenseFp32Bytes / ParameterBytes;
    /// <summary>Dense size / file bytes: the honest headline ratio.</summary>
    public double FileRatio => FileBytes == 0 ? 0 : (double)DenseFp32Bytes / FileBytes;

    /// <summary>A plain-text table of the report (one line per tensor, then totals).</summary>
    public string ToText()
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(string.Format(ci, "{0,-28} {1,-12} {2,-10} {3,9} {4,7} {5,8} {6,8} {7,8} {8,8} {9,8} {10,8} {11,6} {12,7}",
            "tensor", "layout", "encoding", "elements", "sparse", "header", "values", "indices", "rowptr", "codebook", "scales", "bits/w", "ratio"));
        foreach (var t in Tensors)
            sb.AppendLine(string.Format(ci, "{0,-28} {1,-12} {2,-10} {3,9} {4,7:P1} {5,8} {6,8} {7,8} {8,8} {9,8} {10,8} {11,6:F2} {12,7:F2}",
                t.Name, t.Sparsity, t.Encoding, t.ElementCount, t.SparsityRatio, t.HeaderBytes, t.ValueBytes, t.IndexBytes, t.RowPointerBytes,
                t.CodebookBytes, t.ScaleBytes, t.BitsPerStoredWeight, t.Ratio));
        sb.AppendLine(string.Format(ci, "file header {0} + graph {1} + metadata {2} + tensor table {3} + tensors {4} = {5} bytes (file {6})",
            FileHeaderBytes, GraphBytes, MetadataBytes, TensorTableBytes, ParameterBytes, AccountedBytes, FileBytes));
        sb.AppendLine(string.Format(ci, "dense fp32 {0} bytes; sparsity {1:P2}; parameter ratio {2:F2}x; file ratio {3:F2}x",
            DenseFp32Bytes, SparsityRatio, ParameterRatio, FileRatio));
        return sb.ToString();
    }
}
