using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SlimNet.Runtime.Kernels;

/// <summary>
/// Where a kernel reads weight values from: plain floats, codebook indices or fixed-point integers. The
/// kernels decode inside their inner loops (no float copy of the weights); a per-row scale is applied to
/// the accumulated sum once per output, which is why fixed-point values come back unscaled.
/// </summary>
internal unsafe interface IWeightValues
{
    /// <summary>Unscaled weight value at flat position <paramref name="k"/>.</summary>
    float Value(nint k);
    Vector512<float> Load512(nint k);
    Vector256<float> Load256(nint k);
    Vector128<float> Load128(nint k);
    /// <summary>Factor applied to the dot product of output <paramref name="row"/>.</summary>
    float RowScale(int row);
}

/// <summary>Plain float32 weights.</summary>
internal readonly unsafe struct DenseValues(float* values) : IWeightValues
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float Value(nint k) => values[k];
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public Vector512<float> Load512(nint k) => Vector512.Load(values + k);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public Vector256<float> Load256(nint k) => Vector256.Load(values + k);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public Vector128<float> Load128(nint k) => Vector128.Load(values + k);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float RowScale(int row) => 1f;
}

/// <summary>
/// Weights stored as byte indices into a float codebook (weight sharing). Vectors are assembled from scalar
/// table lookups: on the Zen core this was tuned on, that beats AVX2 gathers.
/// </summary>
internal readonly unsafe struct ByteCodebookValues(byte* codes, float* codebook) : IWeightValues
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float Value(nint k) => codebook[codes[k]];
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Load512(nint k) => Vector512.Create(Load256(k), Load256(k + 8));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Load256(nint k) => Vector256.Create(Load128(k), Load128(k + 4));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Load128(nint k) =>
        Vector128.Create(codebook[codes[k]], codebook[codes[k + 1]], codebook[codes[k + 2]], codebook[codes[k + 3]]);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float RowScale(int row) => 1f;
}

/// <summary>Weights stored as 16-bit indices into a float codebook (codebooks above 256 entries), assembled like <see cref="ByteCodebookValues"/>.</summary>
internal readonly unsafe struct UInt16CodebookValues(ushort* codes, float* codebook) : IWeightValues
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float Value(nint k) => codebook[codes[k]];
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Load512(nint k) => Vector512.Create(Load256(k), Load256(k + 8));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Load256(nint k) => Vector256.Create(Load128(k), Load128(k + 4));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Load128(nint k) =>
        Vector128.Create(codebook[codes[k]], codebook[codes[k + 1]], codebook[codes[k + 2]], codebook[codes[k + 3]]);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float RowScale(int row) => 1f;
}

/// <summary>Weights stored as 16-bit integers q with w = q·scale (one scale, or one per output row).</summary>
internal readonly unsafe struct FixedPointValues(short* q, float* scales, bool perRow) : IWeightValues
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float Value(nint k) => q[k];
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Load512(nint k) => Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector256.Load(q + k)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Load256(nint k) => Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q + k));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Load128(nint k) => Vector128.Create((float)q[k], q[k + 1], q[k + 2], q[k + 3]);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float RowScale(int row) => perRow ? scales[row] : scales[0];
}

/// <summary>
/// Byte codes into a codebook of at most 32 entries (≤ 5-bit weight sharing). With AVX-512 the whole codebook
/// sits in two registers and 16 codes decode with one two-table permute instead of a gather.
/// </summary>
internal readonly unsafe struct SmallCodebookValues : IWeightValues
{
    /// <summary>Largest codebook this decoder takes.</summary>
    public const int MaxEntries = 32;

    private readonly byte* _codes;
    private readonly float* _codebook;
    private readonly Vector512<float> _low, _high;

    /// <param name="codes">One code per weight.</param>
    /// <param name="codebook">At least <see cref="MaxEntries"/> readable floats (pad short codebooks).</param>
    public SmallCodebookValues(byte* codes, float* codebook)
    {
        _codes = codes;
        _codebook = codebook;
        _low = Vector512.Load(codebook);
        _high = Vector512.Load(codebook + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float Value(nint k) => _codebook[_codes[k]];
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Load512(nint k) =>
        Avx512F.PermuteVar16x32x2(_low, Avx512F.ConvertToVector512Int32(Vector128.Load(_codes + k)), _high);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Load256(nint k) =>
        Avx512F.IsSupported
            // Eight codes (an 8-byte read) index the same two-register table; the upper half is discarded.
            ? Avx512F.PermuteVar16x32x2(_low, Vector512.Create(Avx2.ConvertToVector256Int32(_codes + k), Vector256<int>.Zero), _high).GetLower()
            : Vector256.Create(Load128(k), Load128(k + 4));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<float> Load128(nint k) =>
        Vector128.Create(_codebook[_codes[k]], _codebook[_codes[k + 1]], _codebook[_codes[k + 2]], _codebook[_codes[k + 3]]);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float RowScale(int row) => 1f;
}

/// <summary>Which columns each weight row has entries in, for kernels that serve dense and CSR weights alike.</summary>
internal interface IRowPattern
{
    /// <summary>Index of the row's first entry in the value arrays.</summary>
    int Start(int row);
    /// <summary>One past the row's last entry.</summary>
    int End(int row);
    /// <summary>Column of entry <paramref name="k"/> of a row that starts at <paramref name="start"/>.</summary>
    int Column(nint k, int start);
}

/// <summary>CSR rows: entries rowPtr[r]..rowPtr[r+1] at columns colIdx[k].</summary>
internal readonly unsafe struct CsrPattern(int* rowPtr, int* colIdx) : IRowPattern
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public int Start(int row) => rowPtr[row];
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public int End(int row) => rowPtr[row + 1];
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public int Column(nint k, int start) => colIdx[k];
}

/// <summary>Dense rows of <paramref name="columns"/> entries: entry k of row r is column k − r·columns.</summary>
internal readonly struct DenseRowPattern(int columns) : IRowPattern
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public int Start(int row) => row * columns;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public int End(int row) => (row + 1) * columns;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public int Column(nint k, int start) => (int)(k - start);
}
