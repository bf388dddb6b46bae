using SlimNet.Format;
using SlimNet.Runtime.Kernels;

namespace SlimNet.Runtime.Planning;

/// <summary>How a layer's weight values reach the kernel.</summary>
internal enum WeightValueKind
{
    Float32,
    /// <summary>At most 32 entries: decoded by register permutes.</summary>
    SmallCodebook,
    ByteCodebook,
    UInt16Codebook,
    FixedPoint,
}

/// <summary>
/// The weights of one Linear or Conv2d layer as the kernels read them: W viewed as [Rows, Columns], either
/// dense or CSR, with values as floats, codebook codes or fixed-point integers, plus the bias. Built once
/// from a <see cref="SlimTensor"/> (copied to pinned memory); BatchNorm folding is applied here.
/// </summary>
internal sealed class LayerWeights
{
    /// <summary>Stored densities above this run faster as dense float weights than as CSR.</summary>
    private const double DensifyAbove = 0.5;

    public required int Rows { get; init; }
    public required int Columns { get; init; }
    public WeightValueKind Kind { get; private set; }
    public int[]? RowPtr { get; private set; }
    public int[]? ColIdx { get; private set; }
    public float[]? Floats { get; private set; }
    public byte[]? ByteCodes { get; private set; }
    public ushort[]? UInt16Codes { get; private set; }
    public float[]? Codebook { get; private set; }
    public short[]? FixedCodes { get; private set; }
    public float[]? Scales { get; private set; }
    public float[]? Bias { get; private set; }
    public required string Encoding { get; set; }
    public bool IsSparse => RowPtr != null;
    public int StoredCount { get; init; }

    public static LayerWeights From(string nodeName, SlimTensor weight, SlimTensor? bias)
    {
        int rows = weight.Rows, cols = weight.Columns;
        bool sparse = weight.Sparsity != SparseLayout.Dense;
        double density = weight.ElementCount == 0 ? 0 : (double)weight.StoredCount / weight.ElementCount;
        string layout = sparse ? $"{weight.Sparsity} ({density:P1} stored)" : "dense";
        LayerWeights result;
        switch (weight.Encoding)
        {
            case ValueEncoding.Float32 or ValueEncoding.Float16:
                result = new LayerWeights
                {
                    Rows = rows, Columns = cols, StoredCount = weight.StoredCount,
                    Encoding = $"{layout}, {(weight.Encoding == ValueEncoding.Float16 ? "float16 decoded at load" : "float32")}",
                    Kind = WeightValueKind.Float32, Floats = weight.Values!,
                };
                break;
            case ValueEncoding.FixedPoint:
                result = new LayerWeights
                {
                    Rows = rows, Columns = cols, StoredCount = weight.StoredCount,
                    Encoding = $"{layout}, {weight.Bits}-bit fixed point ({(weight.Scales!.Length == 1 ? "one scale" : "per-row scales")}), fused decode",
                    Kind = WeightValueKind.FixedPoint, FixedCodes = weight.FixedPointCodes!, Scales = weight.Scales,
                };
                break;
            case ValueEncoding.Codebook when !sparse && weight.CodebookEntries!.Length > SmallCodebookValues.MaxEntries:
                // Wide codebooks decode by gathers, which on the cores measured cost more than streaming the
                // float weights of a dense layer; sparse layers decode one value at a time and stay fused.
                result = new LayerWeights
                {
                    Rows = rows, Columns = cols, StoredCount = weight.StoredCount,
                    Encoding = $"{layout}, {weight.Bits}-bit codebook decoded to float32 at load",
                    Kind = WeightValueKind.Float32, Floats = weight.DecodeStoredValues(),
                };
                break;
            case ValueEncoding.Codebook:
            {
                var entries = weight.CodebookEntries!;
                var kind = entries.Length <= SmallCodebookValues.MaxEntries ? WeightValueKind.SmallCodebook
                    : weight.Bits <= 8 ? WeightValueKind.ByteCodebook : WeightValueKind.UInt16Codebook;
                bool bytes = kind != WeightValueKind.UInt16Codebook;
                result = new LayerWeights
                {
                    Rows = rows, Columns = cols, StoredCount = weight.StoredCount,
                    Encoding = $"{layout}, {weight.Bits}-bit codebook, fused decode",
                    Kind = kind,
                    ByteCodes = bytes ? weight.CodebookCodes!.Select(c => (byte)c).ToArray() : null,
                    UInt16Codes = bytes ? null : weight.CodebookCodes!,
                    // The small-codebook decoder always reads 32 entries.
                    Codebook = kind == WeightValueKind.SmallCodebook ? entries.Concat(new float[SmallCodebookValues.MaxEntries - entries.Length]).ToArray() : entries,
                };
                break;
            }
            case ValueEncoding.BitPlanes:
                // No popcount kernel yet: the planes are summed to floats once, so the layer runs as float32.
                result = new LayerWeights
                {
                    Rows = rows, Columns = cols, StoredCount = weight.StoredCount,
                    Encoding = $"{layout}, {weight.PlaneCount} bit planes decoded to float32 at load",
                    Kind = WeightValueKind.Float32, Floats = weight.DecodeStoredValues(),
                };
                break;
            default:
                throw new NotSupportedException($"node '{nodeName}': weight encoding {weight.Encoding} is not supported by this runtime");
        }
        if (sparse)
        {
            result.RowPtr = weight.RowPointers!;
            result.ColIdx = weight.ColumnIndices!;
            if (result.Kind == WeightValueKind.Float32 && density > DensifyAbove) result.Densify();
        }
        result.Bias = bias?.ToDense();
        return result;
    }

    /// <summary>Folds y = BN(Wx + b) = s·(Wx + b) + t into the weights (s = γ/√(σ²+ε), t = β − μ·s).</summary>
    public void FoldBatchNorm(ReadOnlySpan<float> scale, ReadOnlySpan<float> shift)
    {
        var bias = Bias ?? new float[Rows];
        for (int r = 0; r < Rows; r++) bias[r] = bias[r] * scale[r] + shift[r];
        Bias = bias;
        if (Kind == WeightValueKind.FixedPoint)
        {
            // The row scale absorbs the BN scale, so the integer codes stay as they are.
            var scales = new float[Rows];
            for (int r = 0; r < Rows; r++) scales[r] = Scales![Scales.Length == 1 ? 0 : r] * scale[r];
            Scales = scales;
            return;
        }
        if (Kind is WeightValueKind.SmallCodebook or WeightValueKind.ByteCodebook or WeightValueKind.UInt16Codebook)
        {
            Encoding = Encoding.Replace(", fused decode", "", StringComparison.Ordinal) + ", decoded to float32 at load to fold BatchNorm";
            // A shared codebook cannot take one factor per row, so this layer falls back to float values.
            Floats = ByteCodes != null ? ByteCodes.Select(c => Codebook![c]).ToArray() : UInt16Codes!.Select(c => Codebook![c]).ToArray();
            ByteCodes = null;
            UInt16Codes = null;
            Codebook = null;
            Kind = WeightValueKind.Float32;
        }
        var values = (float[])Floats!.Clone();
        for (int r = 0; r < Rows; r++)
        {
            int start = IsSparse ? RowPtr![r] : r * Columns, end = IsSparse ? RowPtr![r + 1] : start + Columns;
            for (int k = start; k < end; k++) values[k] *= scale[r];
        }
        Floats = values;
    }

    /// <summary>This sparse layer as a <see cref="SlicedSparseMatrix"/>: codes stay codes for codebooks of at most 32 entries,
    /// every other encoding is decoded to float values (the layouts are small).</summary>
    public SlicedSparseMatrix ToSliced()
    {
        if (!IsSparse) throw new InvalidOperationException("only sparse layers have a sliced form");
        if (Kind == WeightValueKind.SmallCodebook)
            return SlicedSparseMatrix.FromCsr(Rows, Columns, RowPtr, ColIdx!, ByteCodes!, Codebook!);
        int count = RowPtr![Rows];
        var values = new float[count];
        for (int r = 0; r < Rows; r++)
            for (int k = RowPtr[r]; k < RowPtr[r + 1]; k++)
                values[k] = Kind switch
                {
                    WeightValueKind.Float32 => Floats![k],
                    WeightValueKind.ByteCodebook => Codebook![ByteCodes![k]],
                    WeightValueKind.UInt16Codebook => Codebook![UInt16Codes![k]],
                    WeightValueKind.FixedPoint => FixedCodes![k] * Scales![Scales.Length == 1 ? 0 : r],
                    _ => throw new NotSupportedException($"weight kind {Kind}"),
                };
        return SlicedSparseMatrix.FromCsr(Rows, Columns, RowPtr, ColIdx!, values);
    }

    private void Densify()
    {
        var dense = new float[Rows * Columns];
        for (int r = 0; r < Rows; r++)
            for (int k = RowPtr![r]; k < RowPtr[r + 1]; k++) dense[r * Columns + ColIdx![k]] = Floats![k];
        Floats = dense;
        RowPtr = null;
        ColIdx = null;
    }

    public string KernelName => (IsSparse ? "CSR " : "dense ") + Kind switch
    {
        WeightValueKind.Float32 => "float32",
        WeightValueKind.FixedPoint => "fixed point (fused)",
        _ => "codebook (fused)",
    };
}
