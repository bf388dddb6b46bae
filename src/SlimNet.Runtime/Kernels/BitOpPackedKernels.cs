using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SlimNet.Runtime.Quantization;

namespace SlimNet.Runtime.Kernels;

/// <summary>
/// The weights of an LQ-Nets layer (K_w planes of ±1 bits, a K_w-float basis per output row) in the layout of
/// <see cref="BitOpPackedKernels"/>: rows in groups of <see cref="GroupRows"/>, and within a group the 64-bit words of
/// the group's rows side by side, <c>Planes[((group·K_w + i)·Words + word)·8 + lane]</c> = word <c>word</c> of plane i of
/// row group·8 + lane. One 512-bit load is then the same word of 8 rows, so a broadcast activation word meets 8 rows at
/// once and every popcount lands in the lane of its own output (no horizontal sums). Column c is bit c % 64 of word
/// c / 64; bits past the columns, the words up to <see cref="Words"/> (a multiple of 4) and the rows past
/// <see cref="Rows"/> are zero, so they add nothing to any count.
/// </summary>
public sealed class BitOpPackedWeights
{
    /// <summary>Output rows per group (the 64-bit lanes of a 512-bit vector).</summary>
    public const int GroupRows = 8;

    private BitOpPackedWeights(int rows, int cols, int kw)
    {
        Rows = rows;
        Cols = cols;
        Kw = kw;
        Words = BitOpPackedKernels.PaddedWords(cols);
        Groups = (rows + GroupRows - 1) / GroupRows;
        Planes = GC.AllocateArray<ulong>(checked(Groups * kw * Words * GroupRows), pinned: true);
        Basis = GC.AllocateArray<double>(Groups * kw * GroupRows, pinned: true);
        if (cols <= BitOpPackedKernels.LookupMaxCols)
        {
            LookupBlocks = (rows + BitOpPackedKernels.LookupBlockRows - 1) / BitOpPackedKernels.LookupBlockRows;
            LookupChunks = (cols + BitOpPackedKernels.LookupChunkBits - 1) / BitOpPackedKernels.LookupChunkBits;
            LookupIndex = GC.AllocateArray<byte>(checked(LookupBlocks * kw * LookupChunks * BitOpPackedKernels.LookupBlockRows), pinned: true);
            LookupBasis = GC.AllocateArray<float>(LookupBlocks * kw * BitOpPackedKernels.LookupBlockRows, pinned: true);
        }
    }

    /// <summary>Output rows.</summary>
    public int Rows { get; }
    /// <summary>Input columns (the reduction length).</summary>
    public int Cols { get; }
    /// <summary>Weight planes K_w.</summary>
    public int Kw { get; }
    /// <summary>64-bit words per plane and row, padded to a multiple of 4.</summary>
    public int Words { get; }
    /// <summary>Row groups of <see cref="GroupRows"/>.</summary>
    public int Groups { get; }
    internal ulong[] Planes { get; }
    /// <summary>[group][plane][lane]: v_w of row group·8 + lane (0 for padding rows).</summary>
    internal double[] Basis { get; }
    /// <summary>Row blocks of 64 in the table-lookup layout (0 when <see cref="LookupIndex"/> is null).</summary>
    internal int LookupBlocks { get; }
    /// <summary>6-column chunks per row in the table-lookup layout.</summary>
    internal int LookupChunks { get; }
    /// <summary>
    /// The table-lookup layout of <see cref="BitOpPackedKernels"/> (null above <see cref="BitOpPackedKernels.LookupMaxCols"/>
    /// columns): [block][plane][chunk][64 bytes], byte p holds bits 6·chunk … 6·chunk + 5 of the plane of row
    /// block·64 + (p even ? p/2 : 32 + p/2) (rows interleaved so that the even and the odd bytes, widened to 16 bits, are
    /// rows 0–31 and 32–63 in order); padding rows and columns are 0.
    /// </summary>
    internal byte[]? LookupIndex { get; }
    /// <summary>[block][plane][row in block]: v_w as float for the table-lookup path (0 for padding rows).</summary>
    internal float[]? LookupBasis { get; }

    /// <summary>Packs K_w-bit codes [rows, cols] (bit i → plane i, 1 = +1, 0 = −1) with their basis [rows, K_w].</summary>
    public static BitOpPackedWeights FromCodes(ReadOnlySpan<ushort> codes, ReadOnlySpan<float> basis, int rows, int cols, int kw)
    {
        KernelArgumentChecks.Positive(rows, nameof(rows));
        KernelArgumentChecks.Positive(cols, nameof(cols));
        if (kw < 1 || kw > 16) throw new ArgumentOutOfRangeException(nameof(kw), kw, "kw must be 1 to 16");
        KernelArgumentChecks.Exactly(codes.Length, (long)rows * cols, nameof(codes));
        KernelArgumentChecks.Exactly(basis.Length, (long)rows * kw, nameof(basis));
        var p = new BitOpPackedWeights(rows, cols, kw);
        for (int r = 0; r < rows; r++)
        {
            int g = r / GroupRows, lane = r % GroupRows;
            for (int i = 0; i < kw; i++)
            {
                p.Basis[(g * kw + i) * GroupRows + lane] = basis[r * kw + i];
                int planeBase = (g * kw + i) * p.Words;
                for (int c = 0; c < cols; c++)
                    if (((codes[r * cols + c] >> i) & 1) != 0)
                        p.Planes[(planeBase + (c >> 6)) * GroupRows + lane] |= 1UL << (c & 63);
            }
        }
        if (p.LookupIndex != null)
        {
            const int B = BitOpPackedKernels.LookupBlockRows, C = BitOpPackedKernels.LookupChunkBits;
            for (int r = 0; r < rows; r++)
            {
                int block = r / B, inBlock = r % B, pos = BitOpPackedKernels.LookupBytePosition(inBlock);
                for (int i = 0; i < kw; i++)
                {
                    p.LookupBasis![(block * kw + i) * B + inBlock] = basis[r * kw + i];
                    int stream = (block * kw + i) * p.LookupChunks;
                    for (int c = 0; c < cols; c++)
                        if (((codes[r * cols + c] >> i) & 1) != 0)
                            p.LookupIndex[(stream + c / C) * B + pos] |= (byte)(1 << (c % C));
                }
            }
        }
        return p;
    }

    /// <summary>Multiplies row r's basis by <paramref name="scale"/>[r] (a BatchNorm folded into the layer: exact, the bits stay).</summary>
    public void ScaleRows(ReadOnlySpan<float> scale)
    {
        KernelArgumentChecks.Exactly(scale.Length, Rows, nameof(scale));
        for (int r = 0; r < Rows; r++)
            for (int i = 0; i < Kw; i++)
            {
                Basis[((r / GroupRows) * Kw + i) * GroupRows + r % GroupRows] *= scale[r];
                if (LookupBasis != null)
                    LookupBasis[((r / BitOpPackedKernels.LookupBlockRows) * Kw + i) * BitOpPackedKernels.LookupBlockRows + r % BitOpPackedKernels.LookupBlockRows] *= scale[r];
            }
    }
}

/// <summary>
/// The bit-operation GEMM of LQ-Nets layers (METHODS.md §7), blocked for batches: weights as
/// <see cref="BitOpPackedWeights"/> (8 output rows per 512-bit vector), activations as K_a planes of {0, 1} bits per
/// example ([example][plane][word], <see cref="BitOpPackedWeights.Words"/> words), and
/// y[b, o] = Σᵢ Σⱼ v_w[o, i]·v_a[j]·(2·popcount(w_i AND a_j) − popcount(a_j)) + bias[o].
/// <para>
/// Each popcount(w_i AND a_j) runs over the words of a row as a carry-save (Harley–Seal) adder on whole vectors: one
/// AND per word (weight vector AND broadcast activation word), two ternary-logic instructions per word (sum and majority
/// of three), and a per-byte count of the "fours" vector only every 4 words (nibble table, vpshufb), widened by vpsadbw
/// into the 64-bit lane of each output row. .NET 10 exposes no AVX-512 VPOPCNTDQ intrinsic, so this is how the vector
/// paths count bits; the 256- and 128-bit paths run the same adder on 4 and 2 rows per vector, and the scalar path
/// (the reference) counts each word with <see cref="BitOperations.PopCount(ulong)"/>.
/// </para>
/// The weight block of one row group (K_w·Words·64 bytes) and all packed activations stay in L1 while the group runs
/// over the batch, so one weight vector is loaded once per example and used for 8 outputs.
/// <para>
/// With AVX-512 VBMI the 512-bit level takes the table-lookup path instead (BitOpPackedKernels.Lookup.cs): one vpermb
/// per 6 columns of 64 rows does the AND and the count, against about 4.7 instructions per 512 bits for the adder.
/// </para>
/// </summary>
public static unsafe partial class BitOpPackedKernels
{
    /// <summary>64-bit words per plane for <paramref name="cols"/> columns, padded to a multiple of 4 (the adder's step).</summary>
    public static int PaddedWords(int cols) => ((cols + 255) >> 8) << 2;

    /// <summary>Packs K_a-bit activation codes [batch, cols] (bit j → plane j, 1 = 1, 0 = 0) into
    /// <paramref name="planes"/> [batch][ka][<see cref="PaddedWords"/>(cols)] and counts the set bits of each plane.</summary>
    public static void PackActivationCodes(ReadOnlySpan<ushort> codes, int batch, int cols, int ka, Span<ulong> planes, Span<int> counts)
    {
        KernelArgumentChecks.Positive(batch, nameof(batch));
        KernelArgumentChecks.Positive(cols, nameof(cols));
        if (ka < 1 || ka > 16) throw new ArgumentOutOfRangeException(nameof(ka), ka, "ka must be 1 to 16");
        KernelArgumentChecks.Exactly(codes.Length, (long)batch * cols, nameof(codes));
        int words = PaddedWords(cols);
        KernelArgumentChecks.Exactly(planes.Length, (long)batch * ka * words, nameof(planes));
        KernelArgumentChecks.Exactly(counts.Length, (long)batch * ka, nameof(counts));
        planes.Clear();
        counts.Clear();
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < cols; c++)
            {
                int code = codes[b * cols + c];
                for (int j = 0; j < ka; j++)
                    if (((code >> j) & 1) != 0)
                    {
                        planes[(b * ka + j) * words + (c >> 6)] |= 1UL << (c & 63);
                        counts[b * ka + j]++;
                    }
            }
    }

    /// <summary>
    /// Quantizes float activations [batch, cols] with an LQ-Nets {0,1} basis quantizer and packs the codes as
    /// <see cref="PackActivationCodes"/> does (16 columns per step: one compare per level midpoint, bit masks combined
    /// into the planes). <paramref name="planes"/> holds batch·ka·<see cref="PaddedWords"/>(cols) words.
    /// </summary>
    internal static void QuantizeAndPack(float* x, int batch, int cols, ActivationQuantizer q, ulong* planes, int* counts)
    {
        int ka = q.Spec.Bits, words = PaddedWords(cols), levels = 1 << ka;
        var codes = q.LevelCodes!;
        var thresholds = q.Thresholds!;
        // planeOfLevel[j] = bit mask over levels whose code has bit j set.
        Span<uint> levelMaskOfPlane = stackalloc uint[ka];
        for (int j = 0; j < ka; j++)
            for (int l = 0; l < levels; l++)
                if (((codes[l] >> j) & 1) != 0) levelMaskOfPlane[j] |= 1u << l;
        new Span<ulong>(planes, batch * ka * words).Clear();
        Span<ulong> above = stackalloc ulong[levels];  // above[t] = columns with x ≥ threshold t−1 (above[0] = all)
        for (int b = 0; b < batch; b++)
        {
            float* xb = x + (nint)b * cols;
            ulong* pb = planes + (nint)b * ka * words;
            for (int word = 0; word * 64 < cols; word++)
            {
                int start = word * 64, n = Math.Min(64, cols - start);
                ulong valid = n == 64 ? ulong.MaxValue : (1UL << n) - 1;
                above[0] = valid;
                for (int t = 0; t < thresholds.Length; t++) above[t + 1] = GreaterOrEqualMask(xb + start, n, thresholds[t]);
                for (int j = 0; j < ka; j++)
                {
                    ulong bits = 0;
                    uint mask = levelMaskOfPlane[j];
                    for (int l = 0; l < levels; l++)
                        if (((mask >> l) & 1) != 0)
                            bits |= above[l] & ~(l + 1 < levels ? above[l + 1] : 0);
                    pb[j * words + word] = bits;
                }
            }
            for (int j = 0; j < ka; j++)
            {
                int s = 0;
                for (int word = 0; word < words; word++) s += BitOperations.PopCount(pb[j * words + word]);
                counts[b * ka + j] = s;
            }
        }
    }

    /// <summary>
    /// Quantizes one image [C, H, W] with an LQ-Nets {0,1} basis quantizer and unfolds it for a convolution: pixel p's
    /// activation planes (<paramref name="planes"/> [pixels][ka][<see cref="PaddedWords"/>(C·kh·kw)]) hold the code bits of
    /// its patch in im2col order (column (ci·kh + ky)·kw + kx); padding is 0, i.e. code 0 (the input is quantized before it
    /// is padded, as in the trained network). <paramref name="rowBits"/> is <see cref="RowBitsSize"/> words of scratch.
    /// </summary>
    internal static void QuantizeIm2ColAndPack(float* x, in ConvKernels.Geometry g, ActivationQuantizer q, ulong* rowBits, ulong* planes, int* counts)
    {
        int ka = q.Spec.Bits, patch = g.PatchSize, words = PaddedWords(patch), rowWords = RowWords(g.W);
        // 1. Each input row of each channel quantized into ka bit strings (the packing of QuantizeAndPack, 64 columns at a time),
        //    with one zero word after the row so the extraction below may read past its end.
        for (int ci = 0; ci < g.C; ci++)
            for (int iy = 0; iy < g.H; iy++)
                QuantizeRow(x + ((nint)ci * g.H + iy) * g.W, g.W, q, rowBits + (((nint)ci * g.H + iy) * ka) * rowWords, rowWords);
        // 2. Pixel p's patch = for each (ci, ky), kw consecutive bits of row iy starting at column ox·s − pad, shifted into
        //    place at column (ci·kh + ky)·kw of the patch (whole bit fields, not one bit at a time).
        new Span<ulong>(planes, g.Pixels * ka * words).Clear();
        ulong fieldMask = g.Kw == 64 ? ulong.MaxValue : (1UL << g.Kw) - 1;
        for (int oy = 0, p = 0; oy < g.Ho; oy++)
            for (int ox = 0; ox < g.Wo; ox++, p++)
            {
                ulong* pp = planes + (nint)p * ka * words;
                int ix0 = ox * g.Stride - g.Pad;
                for (int ci = 0; ci < g.C; ci++)
                    for (int ky = 0; ky < g.Kh; ky++)
                    {
                        int iy = oy * g.Stride - g.Pad + ky;
                        if ((uint)iy >= (uint)g.H || ix0 >= g.W || ix0 + g.Kw <= 0) continue;
                        int c0 = (ci * g.Kh + ky) * g.Kw;
                        ulong* rb = rowBits + (((nint)ci * g.H + iy) * ka) * rowWords;
                        for (int j = 0; j < ka; j++)
                        {
                            ulong field = ExtractField(rb + (nint)j * rowWords, ix0, g.Kw) & fieldMask;
                            if (field == 0) continue;
                            ulong* dst = pp + (nint)j * words;
                            int sh = c0 & 63;
                            dst[c0 >> 6] |= field << sh;
                            if (sh != 0 && sh + g.Kw > 64) dst[(c0 >> 6) + 1] |= field >> (64 - sh);
                        }
                    }
                for (int j = 0; j < ka; j++)
                {
                    int n = 0;
                    for (int word = 0; word < words; word++) n += BitOperations.PopCount(pp[j * words + word]);
                    counts[p * ka + j] = n;
                }
            }
    }

    /// <summary>Words per quantized input row: the row's bits plus one zero word.</summary>
    internal static int RowWords(int width) => ((width + 63) >> 6) + 1;

    /// <summary>ulongs of row-bit scratch <see cref="QuantizeIm2ColAndPack"/> needs for one image.</summary>
    internal static int RowBitsSize(in ConvKernels.Geometry g, int ka) => checked(g.C * g.H * ka * RowWords(g.W));

    /// <summary>Bits start..start+len−1 (len ≤ 64) of a bit string that is zero outside [0, its width); start may be negative.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ExtractField(ulong* bits, int start, int len)
    {
        if (start < 0)
            return -start >= 64 ? 0 : ExtractField(bits, 0, len) << -start;
        int word = start >> 6, sh = start & 63;
        ulong v = bits[word] >> sh;
        if (sh != 0 && sh + len > 64) v |= bits[word + 1] << (64 - sh);
        return v;
    }

    /// <summary>One row of n floats quantized and packed into ka bit strings of rowWords words (the last word zero).</summary>
    private static void QuantizeRow(float* x, int n, ActivationQuantizer q, ulong* dst, int rowWords)
    {
        int ka = q.Spec.Bits, levels = 1 << ka;
        var codes = q.LevelCodes!;
        var thresholds = q.Thresholds!;
        Span<ulong> above = stackalloc ulong[levels];
        for (int j = 0; j < ka; j++) dst[(nint)j * rowWords + rowWords - 1] = 0;
        for (int word = 0; word * 64 < n; word++)
        {
            int start = word * 64, m = Math.Min(64, n - start);
            above[0] = m == 64 ? ulong.MaxValue : (1UL << m) - 1;
            for (int t = 0; t < thresholds.Length; t++) above[t + 1] = GreaterOrEqualMask(x + start, m, thresholds[t]);
            for (int j = 0; j < ka; j++)
            {
                ulong bits = 0;
                for (int l = 0; l < levels; l++)
                    if (((codes[l] >> j) & 1) != 0)
                        bits |= above[l] & ~(l + 1 < levels ? above[l + 1] : 0);
                dst[(nint)j * rowWords + word] = bits;
            }
        }
    }

    /// <summary>Bit k set when x[k] ≥ t, for the first n ≤ 64 values (NaN: not set).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong GreaterOrEqualMask(float* x, int n, float t)
    {
        ulong bits = 0;
        int k = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var tv = Vector512.Create(t);
            for (; k + 16 <= n; k += 16) bits |= (ulong)Vector512.GreaterThanOrEqual(Vector512.Load(x + k), tv).ExtractMostSignificantBits() << k;
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var tv = Vector256.Create(t);
            for (; k + 8 <= n; k += 8) bits |= (ulong)Vector256.GreaterThanOrEqual(Vector256.Load(x + k), tv).ExtractMostSignificantBits() << k;
        }
        for (; k < n; k++) if (x[k] >= t) bits |= 1UL << k;
        return bits;
    }

    /// <summary>
    /// The integer part: terms[((b·rows + o)·kw + i)·ka + j] = 2·popcount(w[o, i] AND a[b, j]) − popcount(a[b, j])
    /// = Σ_c e_w·e_a with e_w ∈ {±1}, e_a ∈ {0, 1}; exact.
    /// </summary>
    public static void Terms(BitOpPackedWeights w, ReadOnlySpan<ulong> activationPlanes, ReadOnlySpan<int> activationCounts, int batch, int ka, Span<int> terms) =>
        Terms(w, activationPlanes, activationCounts, batch, ka, terms, SimdSupport.Best);

    internal static void Terms(BitOpPackedWeights w, ReadOnlySpan<ulong> activationPlanes, ReadOnlySpan<int> activationCounts, int batch, int ka, Span<int> terms,
        SimdLevel level, bool? lookup = null)
    {
        ArgumentNullException.ThrowIfNull(w);
        CheckActivations(w, activationPlanes.Length, activationCounts.Length, batch, ka);
        KernelArgumentChecks.Exactly(terms.Length, (long)batch * w.Rows * w.Kw * ka, nameof(terms));
        int kw = w.Kw, pairs = kw * ka;
        if (UseLookup(w, ka, level, lookup))
        {
            fixed (ulong* pa = activationPlanes)
            fixed (int* pc = activationCounts, pt = terms)
                TermsLookup(w, pa, pc, batch, ka, pt);
            return;
        }
        Span<long> counts = stackalloc long[pairs * BitOpPackedWeights.GroupRows];
        fixed (ulong* pw = w.Planes, pa = activationPlanes)
            for (int g = 0; g < w.Groups; g++)
                for (int b = 0; b < batch; b++)
                {
                    fixed (long* pc = counts) Count(pw, pa, g, b, kw, ka, w.Words, pc, level);
                    for (int lane = 0; lane < BitOpPackedWeights.GroupRows; lane++)
                    {
                        int o = g * BitOpPackedWeights.GroupRows + lane;
                        if (o >= w.Rows) break;
                        for (int p = 0; p < pairs; p++)
                            terms[(b * w.Rows + o) * pairs + p] = (int)(2 * counts[p * BitOpPackedWeights.GroupRows + lane] - activationCounts[b * ka + p % ka]);
                    }
                }
    }

    /// <summary>
    /// y[b, o] = Σᵢ Σⱼ v_w[o, i]·v_a[j]·(2·popcount(w_i AND a_j) − popcount(a_j)) + bias[o], y as [batch, rows].
    /// </summary>
    /// <param name="w">Packed weights.</param>
    /// <param name="activationPlanes">[batch][ka][Words] activation bits (<see cref="PackActivationCodes"/>).</param>
    /// <param name="activationCounts">[batch][ka] set bits per plane.</param>
    /// <param name="activationBasis">v_a, ka values.</param>
    /// <param name="bias">rows values, or empty.</param>
    /// <param name="y">[batch, rows] output.</param>
    /// <param name="batch">Examples.</param>
    /// <param name="ka">Activation planes.</param>
    public static void Gemm(BitOpPackedWeights w, ReadOnlySpan<ulong> activationPlanes, ReadOnlySpan<int> activationCounts, ReadOnlySpan<float> activationBasis,
        ReadOnlySpan<float> bias, Span<float> y, int batch, int ka) =>
        Gemm(w, activationPlanes, activationCounts, activationBasis, bias, y, batch, ka, SimdSupport.Best);

    internal static void Gemm(BitOpPackedWeights w, ReadOnlySpan<ulong> activationPlanes, ReadOnlySpan<int> activationCounts, ReadOnlySpan<float> activationBasis,
        ReadOnlySpan<float> bias, Span<float> y, int batch, int ka, SimdLevel level, bool? lookup = null)
    {
        ArgumentNullException.ThrowIfNull(w);
        CheckActivations(w, activationPlanes.Length, activationCounts.Length, batch, ka);
        KernelArgumentChecks.Exactly(activationBasis.Length, ka, nameof(activationBasis));
        KernelArgumentChecks.Bias(bias.Length, w.Rows);
        KernelArgumentChecks.AtLeast(y.Length, (long)batch * w.Rows, nameof(y));
        fixed (ulong* pa = activationPlanes)
        fixed (int* pc = activationCounts)
        fixed (float* pv = activationBasis, pb = bias, py = y)
            Run(w, pa, pc, pv, ka, bias.IsEmpty ? null : pb, py, batch, w.Rows, 1, level, lookup);
    }

    private static void CheckActivations(BitOpPackedWeights w, int planesLength, int countsLength, int batch, int ka)
    {
        KernelArgumentChecks.Positive(batch, nameof(batch));
        if (ka < 1 || ka > 16) throw new ArgumentOutOfRangeException(nameof(ka), ka, "ka must be 1 to 16");
        KernelArgumentChecks.Exactly(planesLength, (long)batch * ka * w.Words, "activationPlanes");
        KernelArgumentChecks.Exactly(countsLength, (long)batch * ka, "activationCounts");
    }

    /// <summary>Unchecked entry for the engine: output (b, o) goes to y[b·strideB + o·strideO] (Linear: rows, 1; convolution
    /// pixels as examples: 1, pixels).</summary>
    internal static void Run(BitOpPackedWeights w, ulong* aPlanes, int* aCounts, float* aBasis, int ka, float* bias, float* y,
        int batch, nint strideB, nint strideO, SimdLevel level, bool? lookup = null)
    {
        if (UseLookup(w, ka, level, lookup))
        {
            RunLookup(w, aPlanes, aCounts, aBasis, ka, bias, y, batch, strideB, strideO);
            return;
        }
        const int G = BitOpPackedWeights.GroupRows;
        int kw = w.Kw, pairs = kw * ka;
        long* counts = stackalloc long[pairs * G];
        double* sumW = stackalloc double[G];
        double* biasLanes = stackalloc double[G];
        fixed (ulong* pw = w.Planes)
        fixed (double* basis = w.Basis)
            for (int g = 0; g < w.Groups; g++)
            {
                double* vw = basis + (nint)g * kw * G;
                for (int lane = 0; lane < G; lane++)
                {
                    double s = 0;
                    for (int i = 0; i < kw; i++) s += vw[i * G + lane];
                    sumW[lane] = s;
                }
                int lanes = Math.Min(G, w.Rows - g * G);
                if (level >= SimdLevel.Vector512 && Avx512BW.IsSupported && Avx512DQ.IsSupported)
                {
                    var sw = Vector512.Load(sumW);
                    var bv = Vector512<double>.Zero;
                    if (bias != null)
                    {
                        for (int lane = 0; lane < G; lane++) biasLanes[lane] = lane < lanes ? bias[g * G + lane] : 0;
                        bv = Vector512.Load(biasLanes);
                    }
                    ulong* wg = pw + (nint)g * kw * w.Words * G;
                    int b = 0;
                    for (; b + 1 < batch; b += 2)
                    {
                        var (r0, r1) = Group512x2(wg, aPlanes + (nint)b * ka * w.Words, aPlanes + (nint)(b + 1) * ka * w.Words, kw, ka, w.Words, vw, aBasis);
                        StoreGroup(r0, sw, bv, ActivationSum(aBasis, aCounts + b * ka, ka), y + b * strideB + (nint)g * G * strideO, strideO, lanes);
                        StoreGroup(r1, sw, bv, ActivationSum(aBasis, aCounts + (b + 1) * ka, ka), y + (b + 1) * strideB + (nint)g * G * strideO, strideO, lanes);
                    }
                    if (b < batch)
                    {
                        var (r0, _) = Group512x2(wg, aPlanes + (nint)b * ka * w.Words, aPlanes + (nint)b * ka * w.Words, kw, ka, w.Words, vw, aBasis);
                        StoreGroup(r0, sw, bv, ActivationSum(aBasis, aCounts + b * ka, ka), y + b * strideB + (nint)g * G * strideO, strideO, lanes);
                    }
                    continue;
                }
                for (int b = 0; b < batch; b++)
                {
                    Count(pw, aPlanes, g, b, kw, ka, w.Words, counts, level);
                    // Σᵢ Σⱼ v_w,i·v_a,j·(2·count − pa_j) = 2·Σᵢ v_w,i·Σⱼ v_a,j·count_ij − (Σᵢ v_w,i)·(Σⱼ v_a,j·pa_j).
                    double pa = 0;
                    for (int j = 0; j < ka; j++) pa += (double)aBasis[j] * aCounts[b * ka + j];
                    float* yb = y + b * strideB + (nint)g * G * strideO;
                    for (int lane = 0; lane < lanes; lane++)
                    {
                        double s = 0;
                        for (int i = 0; i < kw; i++)
                        {
                            double inner = 0;
                            for (int j = 0; j < ka; j++) inner += (double)aBasis[j] * counts[(i * ka + j) * G + lane];
                            s += vw[i * G + lane] * inner;
                        }
                        double v = 2 * s - sumW[lane] * pa;
                        if (bias != null) v += bias[g * G + lane];
                        yb[lane * strideO] = (float)v;
                    }
                }
            }
    }

    /// <summary>Σⱼ v_a,j·popcount(a_j) of one example.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double ActivationSum(float* aBasis, int* counts, int ka)
    {
        double pa = 0;
        for (int j = 0; j < ka; j++) pa += (double)aBasis[j] * counts[j];
        return pa;
    }

    /// <summary>y = 2·r − Σᵢv_w,i·pa + bias for the 8 rows of a group, stored as floats (contiguous or strided).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreGroup(Vector512<double> r, Vector512<double> sumW, Vector512<double> bias, double pa, float* y, nint strideO, int lanes)
    {
        var v = Vector512.FusedMultiplyAdd(sumW, Vector512.Create(-pa), r + r) + bias;
        var f = Avx512F.ConvertToVector256Single(v);
        if (strideO == 1 && lanes == BitOpPackedWeights.GroupRows)
        {
            f.Store(y);
            return;
        }
        for (int lane = 0; lane < lanes; lane++) y[lane * strideO] = f.GetElement(lane);
    }

    /// <summary>Σᵢ v_w,i·Σⱼ v_a,j·popcount(w_i AND a_j) for the 8 rows of a group and two examples (one weight load serves both).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (Vector512<double>, Vector512<double>) Group512x2(ulong* wg, ulong* a0, ulong* a1, int kw, int ka, int words, double* vw, float* aBasis)
    {
        const int G = BitOpPackedWeights.GroupRows;
        var table = Vector512.Create(Vector128.Create(Bits512.NibbleTable));
        var low = Vector512.Create((byte)0x0F).AsUInt64();
        var r0 = Vector512<double>.Zero;
        var r1 = Vector512<double>.Zero;
        for (int i = 0; i < kw; i++)
        {
            ulong* wi = wg + (nint)i * words * G;
            var inner0 = Vector512<double>.Zero;
            var inner1 = Vector512<double>.Zero;
            for (int j = 0; j < ka; j++)
            {
                var (c0, c1) = Stream512x2(wi, a0 + (nint)j * words, a1 + (nint)j * words, words, table, low);
                var va = Vector512.Create((double)aBasis[j]);
                inner0 = Vector512.FusedMultiplyAdd(Vector512.ConvertToDouble(c0), va, inner0);
                inner1 = Vector512.FusedMultiplyAdd(Vector512.ConvertToDouble(c1), va, inner1);
            }
            var v = Vector512.Load(vw + i * G);
            r0 = Vector512.FusedMultiplyAdd(v, inner0, r0);
            r1 = Vector512.FusedMultiplyAdd(v, inner1, r1);
        }
        return (r0, r1);
    }

    /// <summary>The carry-save count of <see cref="Stream{TVec, TOps}"/> for two activation rows against the same weight words.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<ulong>, Vector512<ulong>) Stream512x2(ulong* w, ulong* a0, ulong* a1, int words, Vector512<byte> table, Vector512<ulong> low)
    {
        const int G = BitOpPackedWeights.GroupRows;
        Vector512<ulong> onesA = default, twosA = default, bytesA = default, foursA = default;
        Vector512<ulong> onesB = default, twosB = default, bytesB = default, foursB = default;
        int steps = 0;
        ulong* end = a0 + words;
        // Pointers step by 4 words, so the loop body has no index arithmetic besides three adds.
        for (; a0 < end; a0 += 4, a1 += 4, w += 4 * G)
        {
            var w0 = Vector512.Load(w);
            var w1 = Vector512.Load(w + G);
            var w2 = Vector512.Load(w + 2 * G);
            var w3 = Vector512.Load(w + 3 * G);
            Step(ref onesA, ref twosA, ref bytesA, w0 & Vector512.Create(a0[0]), w1 & Vector512.Create(a0[1]),
                w2 & Vector512.Create(a0[2]), w3 & Vector512.Create(a0[3]), table, low);
            Step(ref onesB, ref twosB, ref bytesB, w0 & Vector512.Create(a1[0]), w1 & Vector512.Create(a1[1]),
                w2 & Vector512.Create(a1[2]), w3 & Vector512.Create(a1[3]), table, low);
            if (++steps == StepsPerByteSum)
            {
                foursA += Avx512BW.SumAbsoluteDifferences(bytesA.AsByte(), Vector512<byte>.Zero).AsUInt64();
                foursB += Avx512BW.SumAbsoluteDifferences(bytesB.AsByte(), Vector512<byte>.Zero).AsUInt64();
                bytesA = default;
                bytesB = default;
                steps = 0;
            }
        }
        return (Finish(onesA, twosA, bytesA, foursA, table, low), Finish(onesB, twosB, bytesB, foursB, table, low));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step(ref Vector512<ulong> ones, ref Vector512<ulong> twos, ref Vector512<ulong> fourBytes,
        Vector512<ulong> x0, Vector512<ulong> x1, Vector512<ulong> x2, Vector512<ulong> x3, Vector512<byte> table, Vector512<ulong> low)
    {
        var s0 = Avx512F.TernaryLogic(ones, x0, x1, 0x96);
        var c0 = Avx512F.TernaryLogic(ones, x0, x1, 0xE8);
        ones = Avx512F.TernaryLogic(s0, x2, x3, 0x96);
        var c1 = Avx512F.TernaryLogic(s0, x2, x3, 0xE8);
        var four = Avx512F.TernaryLogic(twos, c0, c1, 0xE8);
        twos = Avx512F.TernaryLogic(twos, c0, c1, 0x96);
        fourBytes = (fourBytes.AsByte() + ByteCounts(four, table, low)).AsUInt64();
    }

    /// <summary>
    /// Popcount of each byte. With AVX-512 VBMI, vpermb reads only the low 6 bits of each index byte, so no masking is
    /// needed: a 64-entry table counts bits 0–5 of x, and a second one counts bits 4–5 of (x >> 2), i.e. bits 6–7 of x
    /// (the neighbour bits the 16-bit shift brings into positions 6–7 are ignored). Otherwise the nibble table (vpshufb).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> ByteCounts(Vector512<ulong> x, Vector512<byte> table, Vector512<ulong> low)
    {
        if (Avx512Vbmi.IsSupported)
        {
            var low6 = Vector512.Create(Bits512.SixBitTable);
            var top2 = Vector512.Create(Bits512.TopTwoBitsTable);
            return Avx512Vbmi.PermuteVar64x8(low6, x.AsByte()) + Avx512Vbmi.PermuteVar64x8(top2, Vector512.ShiftRightLogical(x, 2).AsByte());
        }
        return Avx512BW.Shuffle(table, (x & low).AsByte()) + Avx512BW.Shuffle(table, (Vector512.ShiftRightLogical(x, 4) & low).AsByte());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Finish(Vector512<ulong> ones, Vector512<ulong> twos, Vector512<ulong> fourBytes, Vector512<ulong> fours,
        Vector512<byte> table, Vector512<ulong> low)
    {
        fours += Avx512BW.SumAbsoluteDifferences(fourBytes.AsByte(), Vector512<byte>.Zero).AsUInt64();
        var t = ByteCounts(twos, table, low);
        var lowBytes = ByteCounts(ones, table, low) + t + t;
        return Vector512.ShiftLeft(fours, 2) + Avx512BW.SumAbsoluteDifferences(lowBytes, Vector512<byte>.Zero).AsUInt64();
    }

    /// <summary>counts[(i·ka + j)·8 + lane] = popcount(w[group row lane, plane i] AND a[b, plane j]).</summary>
    private static void Count(ulong* pw, ulong* pa, int g, int b, int kw, int ka, int words, long* counts, SimdLevel level)
    {
        const int G = BitOpPackedWeights.GroupRows;
        ulong* wg = pw + (nint)g * kw * words * G;
        ulong* ab = pa + (nint)b * ka * words;
        for (int i = 0; i < kw; i++)
            for (int j = 0; j < ka; j++)
            {
                ulong* wi = wg + (nint)i * words * G;
                ulong* aj = ab + (nint)j * words;
                long* c = counts + (i * ka + j) * G;
                if (level >= SimdLevel.Vector512 && Avx512BW.IsSupported)
                    Stream<Vector512<ulong>, Bits512>(wi, aj, words, c);
                else if (level >= SimdLevel.Vector256 && Avx2.IsSupported)
                {
                    Stream<Vector256<ulong>, Bits256>(wi, aj, words, c);
                    Stream<Vector256<ulong>, Bits256>(wi + 4, aj, words, c + 4);
                }
                else if (level >= SimdLevel.Vector128 && Ssse3.IsSupported)
                    for (int half = 0; half < G; half += 2) Stream<Vector128<ulong>, Bits128>(wi + half, aj, words, c + half);
                else
                    for (int lane = 0; lane < G; lane++)
                    {
                        long s = 0;
                        for (int k = 0; k < words; k++) s += BitOperations.PopCount(wi[k * G + lane] & aj[k]);
                        c[lane] = s;
                    }
            }
    }

    // A byte of the "fours" count gains at most 8 per step of 4 words, so 31 steps fit before vpsadbw widens them.
    private const int StepsPerByteSum = 31;

    /// <summary>Harley–Seal carry-save count of popcount(w[k] AND broadcast(a[k])) over the words, per 64-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Stream<TVec, TOps>(ulong* w, ulong* a, int words, long* counts)
        where TVec : struct where TOps : IBitOps<TVec>
    {
        const int G = BitOpPackedWeights.GroupRows;
        TVec ones = TOps.Zero, twos = TOps.Zero, fourBytes = TOps.Zero, fours = TOps.Zero;
        int steps = 0;
        for (int k = 0; k < words; k += 4)
        {
            var x0 = TOps.And(TOps.Load(w + (nint)k * G), TOps.Broadcast(a[k]));
            var x1 = TOps.And(TOps.Load(w + (nint)(k + 1) * G), TOps.Broadcast(a[k + 1]));
            var x2 = TOps.And(TOps.Load(w + (nint)(k + 2) * G), TOps.Broadcast(a[k + 2]));
            var x3 = TOps.And(TOps.Load(w + (nint)(k + 3) * G), TOps.Broadcast(a[k + 3]));
            var s0 = TOps.Xor3(ones, x0, x1);
            var c0 = TOps.Majority(ones, x0, x1);
            ones = TOps.Xor3(s0, x2, x3);
            var c1 = TOps.Majority(s0, x2, x3);
            var four = TOps.Majority(twos, c0, c1);
            twos = TOps.Xor3(twos, c0, c1);
            fourBytes = TOps.AddBytes(fourBytes, TOps.ByteCounts(four));
            if (++steps == StepsPerByteSum)
            {
                fours = TOps.AddLanes(fours, TOps.SumBytes(fourBytes));
                fourBytes = TOps.Zero;
                steps = 0;
            }
        }
        fours = TOps.AddLanes(fours, TOps.SumBytes(fourBytes));
        // total = 4·fours + 2·popcount(twos) + popcount(ones); the two counts share one byte sum (≤ 8 + 16 per byte).
        var low = TOps.AddBytes(TOps.ByteCounts(ones), TOps.AddBytes(TOps.ByteCounts(twos), TOps.ByteCounts(twos)));
        TOps.Store(TOps.AddLanes(TOps.ShiftLeftLanes(fours, 2), TOps.SumBytes(low)), counts);
    }
}

/// <summary>The bit operations the carry-save popcount needs from one vector width (64-bit lanes).</summary>
internal unsafe interface IBitOps<TVec> where TVec : struct
{
    static abstract TVec Zero { get; }
    /// <summary>Loads this width's lanes from <paramref name="p"/> (lanes are 8 ulongs apart in the packed weights: consecutive).</summary>
    static abstract TVec Load(ulong* p);
    static abstract TVec Broadcast(ulong v);
    static abstract TVec And(TVec a, TVec b);
    static abstract TVec Xor3(TVec a, TVec b, TVec c);
    static abstract TVec Majority(TVec a, TVec b, TVec c);
    /// <summary>Popcount of each byte (nibble table).</summary>
    static abstract TVec ByteCounts(TVec x);
    static abstract TVec AddBytes(TVec a, TVec b);
    /// <summary>Sum of the 8 bytes of each 64-bit lane (vpsadbw against zero).</summary>
    static abstract TVec SumBytes(TVec bytes);
    static abstract TVec AddLanes(TVec a, TVec b);
    static abstract TVec ShiftLeftLanes(TVec a, byte n);
    /// <summary>Stores the lanes as longs.</summary>
    static abstract void Store(TVec v, long* p);
}

internal unsafe struct Bits512 : IBitOps<Vector512<ulong>>
{
    private static ReadOnlySpan<byte> Nibbles => [0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4];
    /// <summary>Popcount of 0–63.</summary>
    public static ReadOnlySpan<byte> SixBitTable =>
    [
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 1, 2, 2, 3, 2, 3, 3, 4, 2, 3, 3, 4, 3, 4, 4, 5,
        1, 2, 2, 3, 2, 3, 3, 4, 2, 3, 3, 4, 3, 4, 4, 5, 2, 3, 3, 4, 3, 4, 4, 5, 3, 4, 4, 5, 4, 5, 5, 6,
    ];
    /// <summary>Popcount of bits 4–5 of 0–63.</summary>
    public static ReadOnlySpan<byte> TopTwoBitsTable =>
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    ];
    /// <summary>Popcount of each nibble value 0–15.</summary>
    public static ReadOnlySpan<byte> NibbleTable => Nibbles;
    public static Vector512<ulong> Zero => Vector512<ulong>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<ulong> Load(ulong* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<ulong> Broadcast(ulong v) => Vector512.Create(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<ulong> And(Vector512<ulong> a, Vector512<ulong> b) => a & b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<ulong> Xor3(Vector512<ulong> a, Vector512<ulong> b, Vector512<ulong> c) => Avx512F.TernaryLogic(a, b, c, 0x96);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<ulong> Majority(Vector512<ulong> a, Vector512<ulong> b, Vector512<ulong> c) => Avx512F.TernaryLogic(a, b, c, 0xE8);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<ulong> ByteCounts(Vector512<ulong> x)
    {
        var table = Vector512.Create(Vector128.Create(Nibbles));
        var low = Vector512.Create((byte)0x0F);
        var bytes = x.AsByte();
        return (Avx512BW.Shuffle(table, bytes & low) + Avx512BW.Shuffle(table, Avx512BW.ShiftRightLogical(x.AsUInt16(), 4).AsByte() & low)).AsUInt64();
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<ulong> AddBytes(Vector512<ulong> a, Vector512<ulong> b) => (a.AsByte() + b.AsByte()).AsUInt64();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<ulong> SumBytes(Vector512<ulong> bytes) => Avx512BW.SumAbsoluteDifferences(bytes.AsByte(), Vector512<byte>.Zero).AsUInt64();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<ulong> AddLanes(Vector512<ulong> a, Vector512<ulong> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<ulong> ShiftLeftLanes(Vector512<ulong> a, byte n) => Vector512.ShiftLeft(a, n);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<ulong> v, long* p) => v.AsInt64().Store(p);
}

internal unsafe struct Bits256 : IBitOps<Vector256<ulong>>
{
    private static ReadOnlySpan<byte> Nibbles => [0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4];
    public static Vector256<ulong> Zero => Vector256<ulong>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<ulong> Load(ulong* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<ulong> Broadcast(ulong v) => Vector256.Create(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<ulong> And(Vector256<ulong> a, Vector256<ulong> b) => a & b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<ulong> Xor3(Vector256<ulong> a, Vector256<ulong> b, Vector256<ulong> c) => a ^ b ^ c;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ulong> Majority(Vector256<ulong> a, Vector256<ulong> b, Vector256<ulong> c) => (a & b) | (c & (a ^ b));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ulong> ByteCounts(Vector256<ulong> x)
    {
        var table = Vector256.Create(Vector128.Create(Nibbles));
        var low = Vector256.Create((byte)0x0F);
        return (Avx2.Shuffle(table, x.AsByte() & low) + Avx2.Shuffle(table, Avx2.ShiftRightLogical(x.AsUInt16(), 4).AsByte() & low)).AsUInt64();
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<ulong> AddBytes(Vector256<ulong> a, Vector256<ulong> b) => (a.AsByte() + b.AsByte()).AsUInt64();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ulong> SumBytes(Vector256<ulong> bytes) => Avx2.SumAbsoluteDifferences(bytes.AsByte(), Vector256<byte>.Zero).AsUInt64();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<ulong> AddLanes(Vector256<ulong> a, Vector256<ulong> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<ulong> ShiftLeftLanes(Vector256<ulong> a, byte n) => Vector256.ShiftLeft(a, n);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<ulong> v, long* p) => v.AsInt64().Store(p);
}

internal unsafe struct Bits128 : IBitOps<Vector128<ulong>>
{
    private static ReadOnlySpan<byte> Nibbles => [0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4];
    public static Vector128<ulong> Zero => Vector128<ulong>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<ulong> Load(ulong* p) => Vector128.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<ulong> Broadcast(ulong v) => Vector128.Create(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<ulong> And(Vector128<ulong> a, Vector128<ulong> b) => a & b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<ulong> Xor3(Vector128<ulong> a, Vector128<ulong> b, Vector128<ulong> c) => a ^ b ^ c;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<ulong> Majority(Vector128<ulong> a, Vector128<ulong> b, Vector128<ulong> c) => (a & b) | (c & (a ^ b));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<ulong> ByteCounts(Vector128<ulong> x)
    {
        var table = Vector128.Create(Nibbles);
        var low = Vector128.Create((byte)0x0F);
        return (Ssse3.Shuffle(table, x.AsByte() & low) + Ssse3.Shuffle(table, Sse2.ShiftRightLogical(x.AsUInt16(), 4).AsByte() & low)).AsUInt64();
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<ulong> AddBytes(Vector128<ulong> a, Vector128<ulong> b) => (a.AsByte() + b.AsByte()).AsUInt64();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<ulong> SumBytes(Vector128<ulong> bytes) => Sse2.SumAbsoluteDifferences(bytes.AsByte(), Vector128<byte>.Zero).AsUInt64();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<ulong> AddLanes(Vector128<ulong> a, Vector128<ulong> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<ulong> ShiftLeftLanes(Vector128<ulong> a, byte n) => Vector128.ShiftLeft(a, n);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector128<ulong> v, long* p) => v.AsInt64().Store(p);
}
