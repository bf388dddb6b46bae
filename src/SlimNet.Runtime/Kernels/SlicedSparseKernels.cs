using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SlimNet.Runtime.Kernels;

/// <summary>
/// A sparse weight matrix W ([out, in], rows = outputs) laid out for batch-1 products with AVX-512 register
/// permutes instead of loads per non-zero. Rows are cut into slices of <see cref="SliceRows"/> (one output
/// per vector lane) and columns into chunks of <see cref="ChunkColumns"/>; 31 inputs plus a zero fit the
/// 32-entry table of one two-register permute. The non-zeros of one (slice, chunk) block are dealt into
/// slots of 16 lanes: lane l of a slot holds one non-zero of row 16·slice + l, or, when that row has no
/// more non-zeros in the block, the zero entry (column <see cref="ZeroLane"/>), so padding adds exactly 0
/// whatever the inputs are. A slot is one 16-bit word per lane: bits 0–4 the column within the chunk and,
/// when <see cref="Codebook"/> is set, bits 8–12 the code of the value in a codebook of at most 32 floats;
/// otherwise <see cref="Values"/> holds the value of each lane. Built once from CSR at load; stored values
/// that are exactly zero (relative-gap fillers) are left out.
/// </summary>
public sealed class SlicedSparseMatrix
{
    /// <summary>Output rows per slice (lanes of a 512-bit float vector).</summary>
    public const int SliceRows = 16;
    /// <summary>Input columns per chunk: the permute table holds 32 entries, the last one is zero.</summary>
    public const int ChunkColumns = 31;
    /// <summary>The lane column that reads the table's zero entry (padding).</summary>
    public const int ZeroLane = 31;
    /// <summary>Largest codebook whose codes the lanes can carry (two registers of 16 floats).</summary>
    public const int MaxCodebookEntries = 32;

    private SlicedSparseMatrix(int rows, int columns, int[] blockStart, ushort[] lanes, float[]? values, float[]? codebook, int nonZeros)
    {
        Rows = rows;
        Columns = columns;
        Slices = (rows + SliceRows - 1) / SliceRows;
        Chunks = (columns + ChunkColumns - 1) / ChunkColumns;
        BlockStart = blockStart;
        Lanes = lanes;
        Values = values;
        Codebook = codebook;
        NonZeros = nonZeros;
    }

    /// <summary>Output features.</summary>
    public int Rows { get; }
    /// <summary>Input features.</summary>
    public int Columns { get; }
    /// <summary>Row slices: ⌈Rows / 16⌉.</summary>
    public int Slices { get; }
    /// <summary>Column chunks: ⌈Columns / 31⌉.</summary>
    public int Chunks { get; }
    /// <summary>Slots of block (s, c) are BlockStart[s·Chunks + c] .. BlockStart[s·Chunks + c + 1]; Slices·Chunks + 1 entries.</summary>
    public int[] BlockStart { get; }
    /// <summary>16 lane words per slot (see the type's remarks).</summary>
    public ushort[] Lanes { get; }
    /// <summary>16 values per slot (0 in padding lanes), or null when the lanes carry codebook codes.</summary>
    public float[]? Values { get; }
    /// <summary>32 floats (short codebooks padded with zeros), or null when <see cref="Values"/> is set.</summary>
    public float[]? Codebook { get; }
    /// <summary>Non-zeros stored (exact zeros left out).</summary>
    public int NonZeros { get; }
    /// <summary>Slots of 16 lanes.</summary>
    public int SlotCount => BlockStart[^1];
    /// <summary>Floats of scratch one call needs: the input chunks as 32-entry tables.</summary>
    public int ScratchFloats => Chunks * 32;

    /// <summary>From CSR with float values.</summary>
    public static SlicedSparseMatrix FromCsr(int rows, int columns, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, ReadOnlySpan<float> values)
    {
        CheckCsr(rows, columns, rowPtr, colIdx, values.Length);
        var v = values.ToArray();
        return Build(rows, columns, rowPtr, colIdx, k => v[k], codeOf: null, codebook: null);
    }

    /// <summary>From CSR whose values are byte codes into a codebook of at most <see cref="MaxCodebookEntries"/> floats.</summary>
    public static SlicedSparseMatrix FromCsr(int rows, int columns, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, ReadOnlySpan<byte> codes,
        ReadOnlySpan<float> codebook)
    {
        if (codebook.Length is 0 or > MaxCodebookEntries)
            throw new ArgumentException($"codebook has {codebook.Length} entries, expected 1..{MaxCodebookEntries}", nameof(codebook));
        int nnz = CheckCsr(rows, columns, rowPtr, colIdx, codes.Length);
        KernelArgumentChecks.Codes(codes[..nnz], codebook.Length);
        var c = codes.ToArray();
        var table = new float[MaxCodebookEntries];
        codebook.CopyTo(table);
        return Build(rows, columns, rowPtr, colIdx, k => table[c[k]], k => c[k], table);
    }

    private static int CheckCsr(int rows, int columns, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, int valueCount)
    {
        KernelArgumentChecks.Positive(rows, nameof(rows));
        KernelArgumentChecks.Positive(columns, nameof(columns));
        return KernelArgumentChecks.Csr(rowPtr, colIdx, valueCount, rows, columns);
    }

    private static SlicedSparseMatrix Build(int rows, int columns, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, Func<int, float> valueOf,
        Func<int, byte>? codeOf, float[]? codebook)
    {
        int slices = (rows + SliceRows - 1) / SliceRows, chunks = (columns + ChunkColumns - 1) / ChunkColumns;
        var blockStart = new int[slices * chunks + 1];
        var lanes = new List<ushort>();
        var values = codeOf == null ? new List<float>() : null;
        // cursor[r]: the next CSR entry of row r not yet dealt; columns ascend within a row, so a block's
        // entries of row r are a run starting at the cursor.
        var cursor = new int[rows];
        for (int r = 0; r < rows; r++) cursor[r] = rowPtr[r];
        int slots = 0, nonZeros = 0;
        Span<ushort> slotLanes = stackalloc ushort[SliceRows];
        Span<float> slotValues = stackalloc float[SliceRows];
        for (int s = 0; s < slices; s++)
            for (int c = 0; c < chunks; c++)
            {
                blockStart[s * chunks + c] = slots;
                int first = c * ChunkColumns, limit = Math.Min(columns, first + ChunkColumns);
                while (true)
                {
                    bool any = false;
                    for (int l = 0; l < SliceRows; l++)
                    {
                        slotLanes[l] = ZeroLane;
                        slotValues[l] = 0;
                        int r = s * SliceRows + l;
                        if (r >= rows) continue;
                        // Skip exact zeros (relative-gap fillers): they add nothing.
                        while (cursor[r] < rowPtr[r + 1] && colIdx[cursor[r]] < limit && valueOf(cursor[r]) == 0f) cursor[r]++;
                        if (cursor[r] < rowPtr[r + 1] && colIdx[cursor[r]] < limit)
                        {
                            int k = cursor[r]++;
                            slotLanes[l] = (ushort)((colIdx[k] - first) | (codeOf == null ? 0 : codeOf(k) << 8));
                            slotValues[l] = valueOf(k);
                            nonZeros++;
                            any = true;
                        }
                    }
                    if (!any) break;
                    foreach (var lane in slotLanes) lanes.Add(lane);
                    if (values != null) foreach (var v in slotValues) values.Add(v);
                    slots++;
                }
            }
        blockStart[^1] = slots;
        return new SlicedSparseMatrix(rows, columns, Pinned(blockStart), Pinned(lanes), values == null ? null : Pinned(values),
            codebook == null ? null : Pinned(codebook), nonZeros);
    }

    /// <summary>A copy on the pinned object heap (the kernels keep raw pointers); at least one element, so the address is valid.</summary>
    private static T[] Pinned<T>(IReadOnlyList<T> source) where T : unmanaged
    {
        var a = GC.AllocateArray<T>(Math.Max(source.Count, 1), pinned: true);
        for (int i = 0; i < source.Count; i++) a[i] = source[i];
        return a;
    }
}

/// <summary>
/// y[b] = W·x[b] + bias for a <see cref="SlicedSparseMatrix"/>, one example at a time (the layout is for
/// batch 1 and small batches; large batches run faster as CSR axpys across the batch). Per call, each
/// chunk of x is copied once into a 32-entry table (31 inputs and a zero). With AVX-512, a slot then costs
/// one 32-byte load, two permutes (inputs; codebook values when the lanes carry codes) and one FMA for 16
/// lanes, and each slice's 16 sums stay in one register: no per-non-zero loads and no horizontal sums.
/// The scalar path is the reference and runs the same layout one lane at a time.
/// </summary>
public static unsafe class SlicedSparseKernels
{
    /// <summary>Whether this machine runs the vector path (AVX-512F); otherwise only the scalar path runs.</summary>
    public static bool IsVectorized => SimdSupport.Has512;

    /// <summary>y[b, :] = W·x[b, :] + bias for b &lt; batch (x: [batch, Columns], y: [batch, Rows], bias empty or Rows floats).</summary>
    public static void Gemm(ReadOnlySpan<float> x, SlicedSparseMatrix w, ReadOnlySpan<float> bias, Span<float> y, int batch) =>
        Gemm(x, w, bias, y, batch, SimdSupport.Best);

    internal static void Gemm(ReadOnlySpan<float> x, SlicedSparseMatrix w, ReadOnlySpan<float> bias, Span<float> y, int batch, SimdLevel level)
    {
        ArgumentNullException.ThrowIfNull(w);
        KernelArgumentChecks.NonNegative(batch, nameof(batch));
        KernelArgumentChecks.AtLeast(x.Length, (long)batch * w.Columns, "x");
        KernelArgumentChecks.Bias(bias.Length, w.Rows);
        KernelArgumentChecks.AtLeast(y.Length, (long)batch * w.Rows, "y");
        var pinned = Pin(w);
        float[] rented = ArrayPool<float>.Shared.Rent(w.ScratchFloats);
        try
        {
            fixed (float* px = x, pb = bias, py = y, table = rented)
                Run(pinned, px, bias.IsEmpty ? null : pb, py, batch, table, level);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
            GC.KeepAlive(w);
        }
    }

    /// <summary>Pointers into a matrix's arrays, which live on the pinned object heap and never move.</summary>
    internal readonly struct Pinned(SlicedSparseMatrix w)
    {
        public readonly int Rows = w.Rows, Columns = w.Columns, Slices = w.Slices, Chunks = w.Chunks;
        public readonly int* BlockStart = AddressOf(w.BlockStart);
        public readonly ushort* Lanes = AddressOf(w.Lanes);
        public readonly float* Values = w.Values == null ? null : AddressOf(w.Values);
        public readonly float* Codebook = w.Codebook == null ? null : AddressOf(w.Codebook);
        /// <summary>Keeps the arrays reachable while only the pointers are used.</summary>
        public readonly SlicedSparseMatrix Matrix = w;

        private static T* AddressOf<T>(T[] pinnedArray) where T : unmanaged =>
            (T*)Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(pinnedArray));
    }

    internal static Pinned Pin(SlicedSparseMatrix w) => new(w);

    /// <summary>Unchecked entry (the engine): <paramref name="table"/> holds <see cref="SlicedSparseMatrix.ScratchFloats"/> floats.</summary>
    internal static void Run(in Pinned w, float* x, float* bias, float* y, int batch, float* table, SimdLevel level)
    {
        bool vector = level == SimdLevel.Vector512 && SimdSupport.Has512;
        for (int b = 0; b < batch; b++)
        {
            float* xb = x + (nint)b * w.Columns, yb = y + (nint)b * w.Rows;
            FillTables(xb, w.Columns, w.Chunks, table, vector);
            if (!vector) Scalar(w, table, bias, yb);
            else if (w.Codebook != null) Codes512(w, table, bias, yb);
            else Values512(w, table, bias, yb);
        }
    }

    /// <summary>table[32c + j] = x[31c + j] for j &lt; 31 inside x, 0 otherwise.</summary>
    private static void FillTables(float* x, int columns, int chunks, float* table, bool vector)
    {
        int c = 0;
        if (vector)
            for (; c < chunks && c * SlicedSparseMatrix.ChunkColumns + 32 <= columns; c++)
            {
                float* t = table + c * 32, src = x + c * SlicedSparseMatrix.ChunkColumns;
                Vector512.Store(Vector512.Load(src), t);
                Vector512.Store(Vector512.Load(src + 16), t + 16);
                t[SlicedSparseMatrix.ZeroLane] = 0;
            }
        for (; c < chunks; c++)
        {
            float* t = table + c * 32;
            int first = c * SlicedSparseMatrix.ChunkColumns;
            for (int j = 0; j < 32; j++) t[j] = j < SlicedSparseMatrix.ChunkColumns && first + j < columns ? x[first + j] : 0f;
        }
    }

    /// <summary>The reference path over the same layout.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scalar(in Pinned w, float* table, float* bias, float* y)
    {
        for (int s = 0; s < w.Slices; s++)
        {
            int lanes = Math.Min(SlicedSparseMatrix.SliceRows, w.Rows - s * SlicedSparseMatrix.SliceRows);
            for (int l = 0; l < lanes; l++)
            {
                int row = s * SlicedSparseMatrix.SliceRows + l;
                float sum = 0;
                for (int c = 0; c < w.Chunks; c++)
                {
                    float* t = table + c * 32;
                    for (nint k = w.BlockStart[s * w.Chunks + c], e = w.BlockStart[s * w.Chunks + c + 1]; k < e; k++)
                    {
                        int lane = w.Lanes[k * SlicedSparseMatrix.SliceRows + l];
                        float v = w.Codebook != null ? w.Codebook[(lane >> 8) & 31] : w.Values[k * SlicedSparseMatrix.SliceRows + l];
                        sum += v * t[lane & 31];
                    }
                }
                y[row] = sum + (bias == null ? 0f : bias[row]);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Codes512(in Pinned w, float* table, float* bias, float* y)
    {
        var cbLow = Vector512.Load(w.Codebook);
        var cbHigh = Vector512.Load(w.Codebook + 16);
        int chunks = w.Chunks;
        for (int s = 0; s < w.Slices; s++)
        {
            // Two sums so that consecutive FMAs do not wait on each other.
            Vector512<float> a0 = Vector512<float>.Zero, a1 = Vector512<float>.Zero;
            int* blocks = w.BlockStart + s * chunks;
            for (int c = 0; c < chunks; c++)
            {
                nint k = blocks[c], end = blocks[c + 1];
                if (k == end) continue;
                var tLow = Vector512.Load(table + c * 32);
                var tHigh = Vector512.Load(table + c * 32 + 16);
                ushort* p = w.Lanes + k * 16;
                for (; k + 2 <= end; k += 2, p += 32)
                {
                    // The permutes read only bits 0–4 of each index: the column for the inputs, the code after the shift.
                    var d0 = Avx512F.ConvertToVector512Int32(Vector256.Load(p));
                    var d1 = Avx512F.ConvertToVector512Int32(Vector256.Load(p + 16));
                    a0 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32x2(tLow, d0, tHigh),
                        Avx512F.PermuteVar16x32x2(cbLow, Vector512.ShiftRightLogical(d0, 8), cbHigh), a0);
                    a1 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32x2(tLow, d1, tHigh),
                        Avx512F.PermuteVar16x32x2(cbLow, Vector512.ShiftRightLogical(d1, 8), cbHigh), a1);
                }
                if (k < end)
                {
                    var d0 = Avx512F.ConvertToVector512Int32(Vector256.Load(p));
                    a0 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32x2(tLow, d0, tHigh),
                        Avx512F.PermuteVar16x32x2(cbLow, Vector512.ShiftRightLogical(d0, 8), cbHigh), a0);
                }
            }
            StoreSlice(a0 + a1, bias, y, s, w.Rows);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Values512(in Pinned w, float* table, float* bias, float* y)
    {
        int chunks = w.Chunks;
        for (int s = 0; s < w.Slices; s++)
        {
            Vector512<float> a0 = Vector512<float>.Zero, a1 = Vector512<float>.Zero;
            int* blocks = w.BlockStart + s * chunks;
            for (int c = 0; c < chunks; c++)
            {
                nint k = blocks[c], end = blocks[c + 1];
                if (k == end) continue;
                var tLow = Vector512.Load(table + c * 32);
                var tHigh = Vector512.Load(table + c * 32 + 16);
                ushort* p = w.Lanes + k * 16;
                float* v = w.Values + k * 16;
                for (; k + 2 <= end; k += 2, p += 32, v += 32)
                {
                    a0 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32x2(tLow, Avx512F.ConvertToVector512Int32(Vector256.Load(p)), tHigh),
                        Vector512.Load(v), a0);
                    a1 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32x2(tLow, Avx512F.ConvertToVector512Int32(Vector256.Load(p + 16)), tHigh),
                        Vector512.Load(v + 16), a1);
                }
                if (k < end)
                    a0 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32x2(tLow, Avx512F.ConvertToVector512Int32(Vector256.Load(p)), tHigh),
                        Vector512.Load(v), a0);
            }
            StoreSlice(a0 + a1, bias, y, s, w.Rows);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreSlice(Vector512<float> sums, float* bias, float* y, int slice, int rows)
    {
        int first = slice * SlicedSparseMatrix.SliceRows, lanes = Math.Min(SlicedSparseMatrix.SliceRows, rows - first);
        if (lanes == SlicedSparseMatrix.SliceRows)
        {
            if (bias != null) sums += Vector512.Load(bias + first);
            sums.Store(y + first);
            return;
        }
        for (int l = 0; l < lanes; l++) y[first + l] = sums.GetElement(l) + (bias == null ? 0f : bias[first + l]);
    }
}
