using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SlimNet.Runtime.Kernels;

// The table-lookup path of the bit-op GEMM (AVX-512 VBMI): popcount(w AND a) over 6 columns of 64 output rows is one
// vpermb. The index vector holds a 6-bit weight chunk of 64 rows (one byte per row, BitOpPackedWeights.LookupIndex);
// the table is picked by the activation's 6 bits m of the same columns: table m holds popcount(m AND x) for x = 0…63.
// So one lookup does the AND and the count of 384 weight bits, against about 4.7 vector instructions per 512 bits for
// the carry-save adder, and there is no AND, no carry-save state and no per-term horizontal work.
public static unsafe partial class BitOpPackedKernels
{
    /// <summary>Output rows per block of the table-lookup path (the bytes of a 512-bit vector).</summary>
    internal const int LookupBlockRows = 64;
    /// <summary>Columns per lookup (vpermb reads 6 index bits).</summary>
    internal const int LookupChunkBits = 6;
    /// <summary>Widest layer of the table-lookup path: 2·count − popcount(a) is formed in 16-bit lanes.</summary>
    internal const int LookupMaxCols = 32767;
    // A byte counter gains at most 6 per chunk, so 42 chunks fit before the bytes are widened to 16 bits.
    private const int LookupChunksPerFlush = 255 / LookupChunkBits;

    /// <summary>Table m (m = 0…63) at byte m·64: popcount(m AND x) for x = 0…63.</summary>
    private static readonly byte[] LookupTables = BuildLookupTables();

    private static byte[] BuildLookupTables()
    {
        var t = GC.AllocateArray<byte>(64 * 64, pinned: true);
        for (int m = 0; m < 64; m++)
            for (int x = 0; x < 64; x++)
                t[m * 64 + x] = (byte)System.Numerics.BitOperations.PopCount((uint)(m & x));
        return t;
    }

    /// <summary>Byte position of row r (0…63) of a block in the lookup layout: even bytes rows 0–31, odd bytes rows 32–63.</summary>
    internal static int LookupBytePosition(int r) => r < 32 ? 2 * r : 2 * (r - 32) + 1;

    internal static bool CanUseLookup(BitOpPackedWeights w, int ka, SimdLevel level) =>
        level >= SimdLevel.Vector512 && w.LookupIndex != null && Avx512Vbmi.IsSupported && Avx512BW.IsSupported
        && LookupScratch(w.Kw, ka, w.LookupChunks, 1, 1) <= LookupScratchBudget;

    /// <summary>
    /// Whether a layer runs on the lookup path: <paramref name="lookup"/> true forces it where it can run (tests), false
    /// forbids it, null decides by work. The lookup path pads rows to blocks of 64 and the carry-save path to groups of 8,
    /// so small layers stay on the adder: lookup when groups·words ≥ 0.6·blocks·chunks (measured on this Zen 5 at 500
    /// columns, batch 64: 64 rows 12.6 vs 20.0 µs, 40 rows 17.4 vs 12.6 µs; 1024×1024 1.7x).
    /// </summary>
    internal static bool UseLookup(BitOpPackedWeights w, int ka, SimdLevel level, bool? lookup) =>
        CanUseLookup(w, ka, level) && (lookup ?? 5L * w.Groups * w.Words >= 3L * w.LookupBlocks * w.LookupChunks);

    /// <summary>How the kernel counts for these weights at this level (for execution plans).</summary>
    internal static string DescribePath(BitOpPackedWeights w, int ka, SimdLevel level) =>
        UseLookup(w, ka, level, null) ? "vpermb table lookups, 6 columns × 64 rows each"
        : "AND + carry-save popcount" + (level == SimdLevel.Vector512 ? ", 8 rows per 512-bit vector" : "");

    // Stack scratch of a pass (table offsets of its examples and 16-bit counts), in ushorts: at most 96 KB.
    private const int LookupScratchBudget = 48 * 1024;

    private static int LookupScratch(int kw, int ka, int chunks, int examples, int blocks) =>
        examples * ka * chunks + 64 + blocks * kw * examples * ka * LookupBlockRows;

    /// <summary>
    /// Examples and row blocks per pass: enough that the activation streams (examples × K_a) and the weight index
    /// streams (blocks × K_w) form whole tiles of 4 (K = 3: 4 examples or blocks, 12 streams), within the scratch budget.
    /// </summary>
    private static int ToFour(int k) => k % 4 == 0 ? 1 : k % 2 == 0 ? 2 : 4;

    private static (int Examples, int Blocks) LookupPass(int kw, int ka, int chunks)
    {
        int examples = ToFour(ka), blocks = ToFour(kw);
        return LookupScratch(kw, ka, chunks, examples, blocks) <= LookupScratchBudget ? (examples, blocks) : (1, 1);
    }

    /// <summary>
    /// Table offsets of the activation streams: offsets[s·chunks + c] = 64·(bits 6c … 6c + 5 of stream s), for the
    /// <paramref name="streams"/> consecutive planes (each <paramref name="words"/> words) at <paramref name="planes"/>.
    /// </summary>
    private static void LookupOffsets(ulong* planes, int streams, int words, int chunks, ushort* offsets)
    {
        // 64 chunks (48 bytes) per step: vpermb spreads bytes 6t … 6t + 7 into qword t, vpmultishiftqb takes the 8 bits at
        // 6u of qword t into byte 8t + u (= chunk 8t + u), the low 6 bits are the code; widened to 16 bits and times 64.
        // A step may write up to 63 offsets past the stream's chunks (into the next stream's, written after it, or into the
        // 64 spare entries after the last); a load past the stream's words is masked (zeros: code 0).
        var spread = Vector512.Create(SpreadIndex);
        var shifts = Vector512.Create(ShiftIndex);
        var iota = Vector512.Create(ByteIota);
        int bytes = words * 8;
        for (int s = 0; s < streams; s++)
        {
            byte* a = (byte*)(planes + (nint)s * words);
            ushort* o = offsets + (nint)s * chunks;
            for (int c = 0, start = 0; c < chunks; c += 64, start += 48)
            {
                int avail = bytes - start;
                var v = avail >= 64 ? Vector512.Load(a + start)
                    : Avx512BW.MaskLoad(a + start, Vector512.LessThan(iota, Vector512.Create((byte)avail)), Vector512<byte>.Zero);
                var codes = Avx512Vbmi.MultiShift(shifts, Avx512Vbmi.PermuteVar64x8(v, spread).AsUInt64()) & Vector512.Create((byte)63);
                Vector512.ShiftLeft(Avx512BW.ConvertToVector512UInt16(codes.GetLower()), 6).Store(o + c);
                Vector512.ShiftLeft(Avx512BW.ConvertToVector512UInt16(codes.GetUpper()), 6).Store(o + c + 32);
            }
        }
    }

    /// <summary>Byte 8t + u ← byte 6t + u: qword t holds the 48 bits of chunks 8t … 8t + 7 (and 16 bits beyond).</summary>
    private static ReadOnlySpan<byte> SpreadIndex =>
    [
        0, 1, 2, 3, 4, 5, 6, 7, 6, 7, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17, 18, 19, 18, 19, 20, 21, 22, 23, 24, 25,
        24, 25, 26, 27, 28, 29, 30, 31, 30, 31, 32, 33, 34, 35, 36, 37, 36, 37, 38, 39, 40, 41, 42, 43, 42, 43, 44, 45, 46, 47, 48, 49,
    ];

    /// <summary>vpmultishiftqb control: byte u of each qword takes the bits from 6u.</summary>
    private static ReadOnlySpan<byte> ShiftIndex =>
    [
        0, 6, 12, 18, 24, 30, 36, 42, 0, 6, 12, 18, 24, 30, 36, 42, 0, 6, 12, 18, 24, 30, 36, 42, 0, 6, 12, 18, 24, 30, 36, 42,
        0, 6, 12, 18, 24, 30, 36, 42, 0, 6, 12, 18, 24, 30, 36, 42, 0, 6, 12, 18, 24, 30, 36, 42, 0, 6, 12, 18, 24, 30, 36, 42,
    ];

    private static ReadOnlySpan<byte> ByteIota =>
    [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
        32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
    ];

    /// <summary>
    /// Counts for examples [b0, b0 + nb) against row blocks [block0, block0 + nBlocks):
    /// counts[((blk·kw + i)·(nb·ka) + e·ka + j)·64 + r] = popcount(w[row (block0 + blk)·64 + r, plane i] AND a[b0 + e, plane j]).
    /// <paramref name="offsets"/> are the examples' table offsets (<see cref="LookupOffsets"/>); counts must be zero.
    /// </summary>
    private static void LookupCounts(BitOpPackedWeights w, int block0, int nBlocks, ushort* offsets, int streams, ushort* counts, ushort* dummy)
    {
        const int B = LookupBlockRows;
        int kw = w.Kw, chunks = w.LookupChunks, entries = nBlocks * kw;
        fixed (byte* index = w.LookupIndex, tables = LookupTables)
        {
            byte* first = index + (nint)block0 * kw * chunks * B;
            int e = 0;
            for (; e + 4 <= entries; e += 4)
            {
                byte* x0 = first + (nint)e * chunks * B;
                ushort* c0 = counts + (nint)e * streams * B;
                int s = 0;
                for (; s + 4 <= streams; s += 4)
                    LookupTile4x4(x0, chunks, offsets + (nint)s * chunks, tables, c0 + s * B, streams * B);
                for (; s < streams; s += 2)
                {
                    // Two streams at a time (an odd last one runs twice; the repeat lands in the same counts, added to scratch).
                    int s1 = s + 1 < streams ? s + 1 : s;
                    for (int k = 0; k < 4; k += 2)
                        LookupTile2x2(x0 + (nint)k * chunks * B, x0 + (nint)(k + 1) * chunks * B, offsets + (nint)s * chunks, offsets + (nint)s1 * chunks, chunks, tables,
                            c0 + (k * streams + s) * B, s1 != s ? c0 + (k * streams + s1) * B : dummy,
                            c0 + ((k + 1) * streams + s) * B, s1 != s ? c0 + ((k + 1) * streams + s1) * B : dummy);
                }
            }
            for (; e < entries; e += 2)
            {
                byte* x0 = first + (nint)e * chunks * B;
                ushort* c0 = counts + (nint)e * streams * B;
                // Two (or one last) weight streams: against 4 activation streams at a time, then pairs; an odd last weight or
                // activation stream runs twice (x1 = x0 or s1 = s) with the repeat's counts added to scratch.
                bool pair = e + 1 < entries;
                byte* x1 = pair ? x0 + (nint)chunks * B : x0;
                ushort* c1 = c0 + (nint)streams * B;
                int s = 0;
                for (; s + 4 <= streams; s += 4)
                    if (pair) LookupTile2x4(x0, x1, offsets + (nint)s * chunks, chunks, tables, c0 + s * B, c1 + s * B);
                    else LookupTile1x4(x0, offsets + (nint)s * chunks, chunks, tables, c0 + s * B);
                for (; s < streams; s += 2)
                {
                    int s1 = s + 1 < streams ? s + 1 : s;
                    LookupTile2x2(x0, x1, offsets + (nint)s * chunks, offsets + (nint)s1 * chunks, chunks, tables,
                        c0 + s * B, s1 != s ? c0 + s1 * B : dummy,
                        pair ? c1 + s * B : dummy, pair && s1 != s ? c1 + s1 * B : dummy);
                }
            }
        }
    }

    /// <summary>Adds a byte counter (64 rows, interleaved as in the lookup layout) to 16-bit counts in row order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Flush(Vector512<byte> acc, ushort* c)
    {
        var v = acc.AsUInt16();
        Vector512.Store(Vector512.Load(c) + (v & Vector512.Create((ushort)0xFF)), c);
        Vector512.Store(Vector512.Load(c + 32) + Vector512.ShiftRightLogical(v, 8), c + 32);
    }

    /// <summary>
    /// Four weight index streams (<paramref name="x"/>, consecutive, <paramref name="chunks"/>·64 bytes apart) × four
    /// activation streams (offsets: 4 rows of <paramref name="chunks"/>): 16 byte counters; counts of index stream k and
    /// activation stream t at c + k·<paramref name="entryStride"/> + t·64.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LookupTile4x4(byte* x, int chunks, ushort* o, byte* tables, ushort* c, int entryStride)
    {
        const int B = LookupBlockRows;
        byte* x1 = x + (nint)chunks * B, x2 = x1 + (nint)chunks * B, x3 = x2 + (nint)chunks * B;
        ushort* o1 = o + chunks, o2 = o1 + chunks, o3 = o2 + chunks;
        for (int start = 0; start < chunks; start += LookupChunksPerFlush)
        {
            int end = Math.Min(chunks, start + LookupChunksPerFlush);
            Vector512<byte> a00 = default, a01 = default, a02 = default, a03 = default;
            Vector512<byte> a10 = default, a11 = default, a12 = default, a13 = default;
            Vector512<byte> a20 = default, a21 = default, a22 = default, a23 = default;
            Vector512<byte> a30 = default, a31 = default, a32 = default, a33 = default;
            for (int k = start; k < end; k++)
            {
                var t0 = Vector512.Load(tables + o[k]);
                var t1 = Vector512.Load(tables + o1[k]);
                var t2 = Vector512.Load(tables + o2[k]);
                var t3 = Vector512.Load(tables + o3[k]);
                var i0 = Vector512.Load(x + (nint)k * B);
                a00 += Avx512Vbmi.PermuteVar64x8(t0, i0);
                a01 += Avx512Vbmi.PermuteVar64x8(t1, i0);
                a02 += Avx512Vbmi.PermuteVar64x8(t2, i0);
                a03 += Avx512Vbmi.PermuteVar64x8(t3, i0);
                var i1 = Vector512.Load(x1 + (nint)k * B);
                a10 += Avx512Vbmi.PermuteVar64x8(t0, i1);
                a11 += Avx512Vbmi.PermuteVar64x8(t1, i1);
                a12 += Avx512Vbmi.PermuteVar64x8(t2, i1);
                a13 += Avx512Vbmi.PermuteVar64x8(t3, i1);
                var i2 = Vector512.Load(x2 + (nint)k * B);
                a20 += Avx512Vbmi.PermuteVar64x8(t0, i2);
                a21 += Avx512Vbmi.PermuteVar64x8(t1, i2);
                a22 += Avx512Vbmi.PermuteVar64x8(t2, i2);
                a23 += Avx512Vbmi.PermuteVar64x8(t3, i2);
                var i3 = Vector512.Load(x3 + (nint)k * B);
                a30 += Avx512Vbmi.PermuteVar64x8(t0, i3);
                a31 += Avx512Vbmi.PermuteVar64x8(t1, i3);
                a32 += Avx512Vbmi.PermuteVar64x8(t2, i3);
                a33 += Avx512Vbmi.PermuteVar64x8(t3, i3);
            }
            ushort* c1 = c + entryStride, c2 = c1 + entryStride, c3 = c2 + entryStride;
            Flush(a00, c); Flush(a01, c + B); Flush(a02, c + 2 * B); Flush(a03, c + 3 * B);
            Flush(a10, c1); Flush(a11, c1 + B); Flush(a12, c1 + 2 * B); Flush(a13, c1 + 3 * B);
            Flush(a20, c2); Flush(a21, c2 + B); Flush(a22, c2 + 2 * B); Flush(a23, c2 + 3 * B);
            Flush(a30, c3); Flush(a31, c3 + B); Flush(a32, c3 + 2 * B); Flush(a33, c3 + 3 * B);
        }
    }

    /// <summary>Two weight index streams × four activation streams: 8 byte counters, counts of activation stream t at c0/c1 + t·64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LookupTile2x4(byte* x0, byte* x1, ushort* o, int chunks, byte* tables, ushort* c0, ushort* c1)
    {
        const int B = LookupBlockRows;
        ushort* o1 = o + chunks, o2 = o1 + chunks, o3 = o2 + chunks;
        for (int start = 0; start < chunks; start += LookupChunksPerFlush)
        {
            int end = Math.Min(chunks, start + LookupChunksPerFlush);
            Vector512<byte> a00 = default, a01 = default, a02 = default, a03 = default;
            Vector512<byte> a10 = default, a11 = default, a12 = default, a13 = default;
            for (int k = start; k < end; k++)
            {
                var t0 = Vector512.Load(tables + o[k]);
                var t1 = Vector512.Load(tables + o1[k]);
                var t2 = Vector512.Load(tables + o2[k]);
                var t3 = Vector512.Load(tables + o3[k]);
                var i0 = Vector512.Load(x0 + (nint)k * B);
                var i1 = Vector512.Load(x1 + (nint)k * B);
                a00 += Avx512Vbmi.PermuteVar64x8(t0, i0);
                a01 += Avx512Vbmi.PermuteVar64x8(t1, i0);
                a02 += Avx512Vbmi.PermuteVar64x8(t2, i0);
                a03 += Avx512Vbmi.PermuteVar64x8(t3, i0);
                a10 += Avx512Vbmi.PermuteVar64x8(t0, i1);
                a11 += Avx512Vbmi.PermuteVar64x8(t1, i1);
                a12 += Avx512Vbmi.PermuteVar64x8(t2, i1);
                a13 += Avx512Vbmi.PermuteVar64x8(t3, i1);
            }
            Flush(a00, c0); Flush(a01, c0 + B); Flush(a02, c0 + 2 * B); Flush(a03, c0 + 3 * B);
            Flush(a10, c1); Flush(a11, c1 + B); Flush(a12, c1 + 2 * B); Flush(a13, c1 + 3 * B);
        }
    }

    /// <summary>One weight index stream × four activation streams: 4 byte counters, counts of activation stream t at c + t·64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LookupTile1x4(byte* x, ushort* o, int chunks, byte* tables, ushort* c)
    {
        const int B = LookupBlockRows;
        ushort* o1 = o + chunks, o2 = o1 + chunks, o3 = o2 + chunks;
        for (int start = 0; start < chunks; start += LookupChunksPerFlush)
        {
            int end = Math.Min(chunks, start + LookupChunksPerFlush);
            Vector512<byte> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int k = start; k < end; k++)
            {
                var i0 = Vector512.Load(x + (nint)k * B);
                a0 += Avx512Vbmi.PermuteVar64x8(Vector512.Load(tables + o[k]), i0);
                a1 += Avx512Vbmi.PermuteVar64x8(Vector512.Load(tables + o1[k]), i0);
                a2 += Avx512Vbmi.PermuteVar64x8(Vector512.Load(tables + o2[k]), i0);
                a3 += Avx512Vbmi.PermuteVar64x8(Vector512.Load(tables + o3[k]), i0);
            }
            Flush(a0, c); Flush(a1, c + B); Flush(a2, c + 2 * B); Flush(a3, c + 3 * B);
        }
    }

    /// <summary>Two weight index streams × two activation streams: 4 byte counters, counts c(index stream)(activation stream).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LookupTile2x2(byte* x0, byte* x1, ushort* o0, ushort* o1, int chunks, byte* tables, ushort* c00, ushort* c01, ushort* c10, ushort* c11)
    {
        const int B = LookupBlockRows;
        for (int start = 0; start < chunks; start += LookupChunksPerFlush)
        {
            int end = Math.Min(chunks, start + LookupChunksPerFlush);
            Vector512<byte> a00 = default, a01 = default, a10 = default, a11 = default;
            for (int k = start; k < end; k++)
            {
                var i0 = Vector512.Load(x0 + (nint)k * B);
                var i1 = Vector512.Load(x1 + (nint)k * B);
                var t0 = Vector512.Load(tables + o0[k]);
                var t1 = Vector512.Load(tables + o1[k]);
                a00 += Avx512Vbmi.PermuteVar64x8(t0, i0);
                a01 += Avx512Vbmi.PermuteVar64x8(t1, i0);
                a10 += Avx512Vbmi.PermuteVar64x8(t0, i1);
                a11 += Avx512Vbmi.PermuteVar64x8(t1, i1);
            }
            Flush(a00, c00); Flush(a01, c01);
            Flush(a10, c10); Flush(a11, c11);
        }
    }

    /// <summary>The table-lookup <see cref="Run"/>: y[b, o] = Σᵢ v_w,i·Σⱼ v_a,j·(2·count_ij − popcount(a_j)) + bias in float.</summary>
    private static void RunLookup(BitOpPackedWeights w, ulong* aPlanes, int* aCounts, float* aBasis, int ka, float* bias, float* y,
        int batch, nint strideB, nint strideO)
    {
        const int B = LookupBlockRows;
        int kw = w.Kw, chunks = w.LookupChunks;
        var (perPass, blocksPerPass) = LookupPass(kw, ka, chunks);
        int countsLength = blocksPerPass * kw * perPass * ka * B;
        ushort* offsets = stackalloc ushort[perPass * ka * chunks + 64];
        ushort* counts = stackalloc ushort[countsLength];
        ushort* dummy = stackalloc ushort[B];
        float* rowScratch = stackalloc float[B];
        fixed (float* vwAll = w.LookupBasis)
            for (int b0 = 0; b0 < batch; b0 += perPass)
            {
                int nb = Math.Min(perPass, batch - b0), streams = nb * ka;
                LookupOffsets(aPlanes + (nint)b0 * ka * w.Words, streams, w.Words, chunks, offsets);
                for (int block0 = 0; block0 < w.LookupBlocks; block0 += blocksPerPass)
                {
                    int nBlocks = Math.Min(blocksPerPass, w.LookupBlocks - block0);
                    new Span<ushort>(counts, countsLength).Clear();
                    LookupCounts(w, block0, nBlocks, offsets, streams, counts, dummy);
                    for (int blk = 0; blk < nBlocks; blk++)
                    {
                        int row0 = (block0 + blk) * B;
                        for (int e = 0; e < nb; e++)
                        {
                            LookupStoreBlock(counts + ((nint)blk * kw * streams + e * ka) * B, (nint)streams * B, kw, ka, aCounts + (b0 + e) * ka, aBasis,
                                vwAll + (nint)(block0 + blk) * kw * B, bias == null ? null : bias + row0, w.Rows - row0,
                                y + (b0 + e) * strideB + row0 * strideO, strideO, rowScratch);
                        }
                    }
                }
            }
    }

    /// <summary>
    /// y[r·strideO] = Σᵢ v_w,i[r]·Σⱼ v_a,j·(2·count_ij[r] − popcount(a_j)) + bias[r] for the 64 rows of a block (the first
    /// <paramref name="rows"/> stored): counts of plane i at c + i·<paramref name="entryStride"/> + j·64. The integer term is
    /// formed exactly in 16-bit lanes (|term| ≤ columns ≤ 32767), then one float multiply-add per (i, j).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LookupStoreBlock(ushort* c, nint entryStride, int kw, int ka, int* pa, float* aBasis, float* vw, float* bias, int rows,
        float* y, nint strideO, float* scratch)
    {
        const int B = LookupBlockRows;
        Vector512<float> y0 = default, y1 = default, y2 = default, y3 = default;
        // Rows past the layer's (a last, partial block) are computed on zero padding and not stored; bias loads are masked.
        var iota = Vector512.Create(0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        Vector512<float> m0 = Vector512<float>.AllBitsSet, m1 = m0, m2 = m0, m3 = m0;
        if (rows < B)
        {
            m0 = Vector512.LessThan(iota, Vector512.Create((float)rows));
            m1 = Vector512.LessThan(iota, Vector512.Create((float)(rows - 16)));
            m2 = Vector512.LessThan(iota, Vector512.Create((float)(rows - 32)));
            m3 = Vector512.LessThan(iota, Vector512.Create((float)(rows - 48)));
        }
        if (bias != null)
        {
            y0 = Avx512F.MaskLoad(bias, m0, Vector512<float>.Zero);
            y1 = Avx512F.MaskLoad(bias + 16, m1, Vector512<float>.Zero);
            y2 = Avx512F.MaskLoad(bias + 32, m2, Vector512<float>.Zero);
            y3 = Avx512F.MaskLoad(bias + 48, m3, Vector512<float>.Zero);
        }
        for (int i = 0; i < kw; i++)
        {
            Vector512<float> in0 = default, in1 = default, in2 = default, in3 = default;
            short* ci = (short*)(c + i * entryStride);
            for (int j = 0; j < ka; j++)
            {
                var p = Vector512.Create((short)pa[j]);
                var va = Vector512.Create(aBasis[j]);
                var n0 = Vector512.Load(ci + j * B);
                var n1 = Vector512.Load(ci + j * B + 32);
                var t0 = n0 + n0 - p;
                var t1 = n1 + n1 - p;
                in0 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Avx512F.ConvertToVector512Int32(t0.GetLower())), va, in0);
                in1 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Avx512F.ConvertToVector512Int32(t0.GetUpper())), va, in1);
                in2 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Avx512F.ConvertToVector512Int32(t1.GetLower())), va, in2);
                in3 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Avx512F.ConvertToVector512Int32(t1.GetUpper())), va, in3);
            }
            float* v = vw + i * B;
            y0 = Vector512.FusedMultiplyAdd(Vector512.Load(v), in0, y0);
            y1 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 16), in1, y1);
            y2 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 32), in2, y2);
            y3 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 48), in3, y3);
        }
        if (strideO == 1)
        {
            Avx512F.MaskStore(y, m0, y0);
            Avx512F.MaskStore(y + 16, m1, y1);
            Avx512F.MaskStore(y + 32, m2, y2);
            Avx512F.MaskStore(y + 48, m3, y3);
            return;
        }
        y0.Store(scratch);
        y1.Store(scratch + 16);
        y2.Store(scratch + 32);
        y3.Store(scratch + 48);
        for (int r = 0, n = Math.Min(rows, B); r < n; r++) y[r * strideO] = scratch[r];
    }

    /// <summary>The table-lookup path of <c>Terms</c>: 2·count − popcount(a_j) per (example, row, i, j).</summary>
    private static void TermsLookup(BitOpPackedWeights w, ulong* aPlanes, int* aCounts, int batch, int ka, int* terms)
    {
        const int B = LookupBlockRows;
        int kw = w.Kw, chunks = w.LookupChunks, pairs = kw * ka;
        var (perPass, blocksPerPass) = LookupPass(kw, ka, chunks);
        int countsLength = blocksPerPass * kw * perPass * ka * B;
        var offsets = new ushort[perPass * ka * chunks + 64];
        var counts = new ushort[countsLength];
        var dummy = new ushort[B];
        fixed (ushort* po = offsets, pc = counts, pd = dummy)
            for (int b0 = 0; b0 < batch; b0 += perPass)
            {
                int nb = Math.Min(perPass, batch - b0), streams = nb * ka;
                LookupOffsets(aPlanes + (nint)b0 * ka * w.Words, streams, w.Words, chunks, po);
                for (int block0 = 0; block0 < w.LookupBlocks; block0 += blocksPerPass)
                {
                    int nBlocks = Math.Min(blocksPerPass, w.LookupBlocks - block0);
                    Array.Clear(counts);
                    LookupCounts(w, block0, nBlocks, po, streams, pc, pd);
                    for (int blk = 0; blk < nBlocks; blk++)
                        for (int r = 0; r < B; r++)
                        {
                            int o = (block0 + blk) * B + r;
                            if (o >= w.Rows) break;
                            for (int e = 0; e < nb; e++)
                                for (int i = 0; i < kw; i++)
                                    for (int j = 0; j < ka; j++)
                                        terms[((nint)(b0 + e) * w.Rows + o) * pairs + i * ka + j] =
                                            2 * pc[((nint)(blk * kw + i) * streams + e * ka + j) * B + r] - aCounts[(b0 + e) * ka + j];
                        }
                }
            }
    }
}
