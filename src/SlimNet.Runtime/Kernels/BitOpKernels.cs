using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SlimNet.Runtime.Kernels;

/// <summary>
/// Bit-operation fully connected layer for LQ-Nets (METHODS.md §7): weights and input activations are both
/// stored as bit planes, and every inner product is a handful of AND + popcount sums.
/// <para>
/// Weights: code bits e_w ∈ {−1, +1} (bit 1 → +1, bit 0 → −1), w[o, c] = Σᵢ v_w[o, i]·e_w,i[o, c], one basis
/// of K_w values per output row. Activations: code bits e_a ∈ {0, 1}, a[c] = Σⱼ v_a[j]·e_a,j[c], one basis of
/// K_a values per layer. Then
/// Σ_c w[o, c]·a[c] = Σᵢ Σⱼ v_w[o, i]·v_a[j]·Σ_c e_w,i[c]·e_a,j[c], and with e_w = 2·b_w − 1 (b_w the stored bit)
/// Σ_c (2·b_w − 1)·b_a = 2·popcount(w_i AND a_j) − popcount(a_j). Packed tails are zero, so columns past
/// <c>cols</c> contribute nothing to either popcount and no mask is needed in the inner loop.
/// </para>
/// <para>
/// Packed layout (<see cref="PackPlanes"/>): [row][plane][word], <see cref="WordsPerRow"/> 64-bit words per plane,
/// column c in bit c % 64 (LSB first) of word c / 64. .NET 10 exposes no AVX-512 VPOPCNTDQ intrinsic, so the
/// vector paths count bits with the nibble table (vpshufb), sum bytes with vpsadbw every 31 vectors, and the
/// scalar path (the reference) uses <see cref="BitOperations.PopCount(ulong)"/> (the popcnt instruction).
/// </para>
/// </summary>
public static class BitOpKernels
{
    /// <summary>64-bit words per packed plane of a row of <paramref name="cols"/> columns.</summary>
    public static int WordsPerRow(int cols) => (cols + 63) >> 6;

    /// <summary>Packs K-bit codes [rows, cols] into bit planes: <paramref name="packed"/> gets
    /// rows·planes·<see cref="WordsPerRow"/>(cols) words, [row][plane][word], bit p of code (row, c) in bit c % 64 of
    /// word c / 64 of plane p. Bits past <paramref name="cols"/> are zero. Code bits at or above
    /// <paramref name="planes"/> are ignored.</summary>
    public static void PackPlanes(ReadOnlySpan<ushort> codes, int rows, int cols, int planes, Span<ulong> packed)
    {
        KernelArgumentChecks.Positive(rows, nameof(rows));
        KernelArgumentChecks.Positive(cols, nameof(cols));
        CheckPlanes(planes, nameof(planes));
        KernelArgumentChecks.Exactly(codes.Length, (long)rows * cols, nameof(codes));
        int words = WordsPerRow(cols);
        KernelArgumentChecks.Exactly(packed.Length, (long)rows * planes * words, nameof(packed));
        packed.Clear();
        for (int r = 0; r < rows; r++)
        {
            var row = codes.Slice(r * cols, cols);
            var dst = packed.Slice(r * planes * words, planes * words);
            for (int c = 0; c < cols; c++)
            {
                uint code = row[c];
                ulong bit = 1UL << (c & 63);
                int word = c >> 6;
                for (int p = 0; p < planes; p++)
                    if (((code >> p) & 1) != 0) dst[p * words + word] |= bit;
            }
        }
    }

    /// <summary>
    /// The integer part of the bit-op product: terms[((b·rows + o)·kw + i)·ka + j] = 2·popcount(w[o, i] AND a[b, j])
    /// − popcount(a[b, j]) = Σ_c e_w,i[o, c]·e_a,j[b, c] with e_w ∈ {±1}, e_a ∈ {0, 1}. Exact for any width.
    /// </summary>
    /// <param name="weightPlanes">Packed weights [rows][kw][words] from <see cref="PackPlanes"/>.</param>
    /// <param name="activationPlanes">Packed activations [batch][ka][words].</param>
    /// <param name="terms">batch·rows·kw·ka integers.</param>
    /// <param name="batch">Activation rows.</param>
    /// <param name="rows">Output features (weight rows).</param>
    /// <param name="cols">Input features.</param>
    /// <param name="kw">Weight planes (1–16).</param>
    /// <param name="ka">Activation planes (1–16).</param>
    public static void PopcountTerms(ReadOnlySpan<ulong> weightPlanes, ReadOnlySpan<ulong> activationPlanes, Span<int> terms,
        int batch, int rows, int cols, int kw, int ka) =>
        PopcountTerms(weightPlanes, activationPlanes, terms, batch, rows, cols, kw, ka, SimdSupport.Best);

    /// <summary>
    /// y[b, o] = Σᵢ Σⱼ v_w[o, i]·v_a[j]·(2·popcount(w_i AND a_j) − popcount(a_j)) + bias[o]: the float32 output of a
    /// Linear layer whose weights and inputs are LQ-quantized (see the type remarks for the ±1 mapping).
    /// </summary>
    /// <param name="weightPlanes">Packed weights [rows][kw][words].</param>
    /// <param name="weightBasis">v_w as [rows, kw].</param>
    /// <param name="activationPlanes">Packed activations [batch][ka][words].</param>
    /// <param name="activationBasis">v_a, ka values.</param>
    /// <param name="bias">rows values, or empty.</param>
    /// <param name="y">[batch, rows] output.</param>
    /// <param name="batch">Activation rows.</param>
    /// <param name="rows">Output features.</param>
    /// <param name="cols">Input features.</param>
    /// <param name="kw">Weight planes (1–16).</param>
    /// <param name="ka">Activation planes (1–16).</param>
    public static void Gemm(ReadOnlySpan<ulong> weightPlanes, ReadOnlySpan<float> weightBasis, ReadOnlySpan<ulong> activationPlanes,
        ReadOnlySpan<float> activationBasis, ReadOnlySpan<float> bias, Span<float> y, int batch, int rows, int cols, int kw, int ka) =>
        Gemm(weightPlanes, weightBasis, activationPlanes, activationBasis, bias, y, batch, rows, cols, kw, ka, SimdSupport.Best);

    internal static void PopcountTerms(ReadOnlySpan<ulong> weightPlanes, ReadOnlySpan<ulong> activationPlanes, Span<int> terms,
        int batch, int rows, int cols, int kw, int ka, SimdLevel level)
    {
        CheckShapes(weightPlanes.Length, activationPlanes.Length, batch, rows, cols, kw, ka);
        KernelArgumentChecks.Exactly(terms.Length, (long)batch * rows * kw * ka, nameof(terms));
        int words = WordsPerRow(cols);
        Span<int> activationCounts = stackalloc int[ka];
        for (int b = 0; b < batch; b++)
        {
            var a = activationPlanes.Slice(b * ka * words, ka * words);
            for (int j = 0; j < ka; j++) activationCounts[j] = PopCount(a.Slice(j * words, words));
            for (int o = 0; o < rows; o++)
            {
                var w = weightPlanes.Slice(o * kw * words, kw * words);
                var t = terms.Slice((b * rows + o) * kw * ka, kw * ka);
                for (int i = 0; i < kw; i++)
                    for (int j = 0; j < ka; j++)
                        t[i * ka + j] = 2 * AndPopCount(w.Slice(i * words, words), a.Slice(j * words, words), level) - activationCounts[j];
            }
        }
    }

    internal static void Gemm(ReadOnlySpan<ulong> weightPlanes, ReadOnlySpan<float> weightBasis, ReadOnlySpan<ulong> activationPlanes,
        ReadOnlySpan<float> activationBasis, ReadOnlySpan<float> bias, Span<float> y, int batch, int rows, int cols, int kw, int ka, SimdLevel level)
    {
        CheckShapes(weightPlanes.Length, activationPlanes.Length, batch, rows, cols, kw, ka);
        KernelArgumentChecks.Exactly(weightBasis.Length, (long)rows * kw, nameof(weightBasis));
        KernelArgumentChecks.Exactly(activationBasis.Length, ka, nameof(activationBasis));
        KernelArgumentChecks.Bias(bias.Length, rows);
        KernelArgumentChecks.Exactly(y.Length, (long)batch * rows, nameof(y));
        int words = WordsPerRow(cols);
        Span<int> activationCounts = stackalloc int[ka];
        for (int b = 0; b < batch; b++)
        {
            var a = activationPlanes.Slice(b * ka * words, ka * words);
            for (int j = 0; j < ka; j++) activationCounts[j] = PopCount(a.Slice(j * words, words));
            var yRow = y.Slice(b * rows, rows);
            for (int o = 0; o < rows; o++)
            {
                var w = weightPlanes.Slice(o * kw * words, kw * words);
                var vw = weightBasis.Slice(o * kw, kw);
                // Double sums: the integer terms reach ±cols and the bases can cancel each other.
                double sum = 0;
                for (int i = 0; i < kw; i++)
                {
                    var wi = w.Slice(i * words, words);
                    double inner = 0;
                    for (int j = 0; j < ka; j++)
                        inner += (double)activationBasis[j] * (2 * AndPopCount(wi, a.Slice(j * words, words), level) - activationCounts[j]);
                    sum += vw[i] * inner;
                }
                yRow[o] = (float)(sum + (bias.IsEmpty ? 0 : bias[o]));
            }
        }
    }

    private static int PopCount(ReadOnlySpan<ulong> words)
    {
        int n = 0;
        foreach (ulong w in words) n += BitOperations.PopCount(w);
        return n;
    }

    /// <summary>popcount(w AND a) over equal-length word spans on the requested path.</summary>
    internal static int AndPopCount(ReadOnlySpan<ulong> w, ReadOnlySpan<ulong> a, SimdLevel level)
    {
        if (level >= SimdLevel.Vector512 && Avx512BW.IsSupported && w.Length >= 8) return AndPopCount512(w, a);
        if (level >= SimdLevel.Vector256 && Avx2.IsSupported && w.Length >= 4) return AndPopCount256(w, a);
        if (level >= SimdLevel.Vector128 && Ssse3.IsSupported && w.Length >= 2) return AndPopCount128(w, a);
        return AndPopCountScalar(w, a, 0);
    }

    private static int AndPopCountScalar(ReadOnlySpan<ulong> w, ReadOnlySpan<ulong> a, int start)
    {
        // Two accumulators so consecutive popcnts do not wait on one add chain.
        int n0 = 0, n1 = 0, k = start;
        for (; k + 1 < w.Length; k += 2)
        {
            n0 += BitOperations.PopCount(w[k] & a[k]);
            n1 += BitOperations.PopCount(w[k + 1] & a[k + 1]);
        }
        if (k < w.Length) n0 += BitOperations.PopCount(w[k] & a[k]);
        return n0 + n1;
    }

    // Each byte of a nibble-table count holds at most 8 per vector, so 31 vectors fit in a byte (248) before
    // vpsadbw widens the sums into 64-bit lanes.
    private const int VectorsPerByteSum = 31;

    private static ReadOnlySpan<byte> NibbleCounts => [0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4];

    private static int AndPopCount512(ReadOnlySpan<ulong> w, ReadOnlySpan<ulong> a)
    {
        var table = Vector512.Create(Vector128.Create(NibbleCounts));
        var low = Vector512.Create((byte)0x0F);
        ref ulong pw = ref Unsafe.AsRef(in w[0]);
        ref ulong pa = ref Unsafe.AsRef(in a[0]);
        int vectors = w.Length / 8;
        var total = Vector512<ulong>.Zero;
        for (int v = 0; v < vectors;)
        {
            int end = Math.Min(vectors, v + VectorsPerByteSum);
            var bytes = Vector512<byte>.Zero;
            for (; v < end; v++)
            {
                var x = (Vector512.LoadUnsafe(ref pw, (nuint)(v * 8)) & Vector512.LoadUnsafe(ref pa, (nuint)(v * 8))).AsByte();
                bytes += Avx512BW.Shuffle(table, x & low) + Avx512BW.Shuffle(table, Avx512BW.ShiftRightLogical(x.AsUInt16(), 4).AsByte() & low);
            }
            total += Avx512BW.SumAbsoluteDifferences(bytes, Vector512<byte>.Zero).AsUInt64();
        }
        return (int)Vector512.Sum(total) + AndPopCountScalar(w, a, vectors * 8);
    }

    private static int AndPopCount256(ReadOnlySpan<ulong> w, ReadOnlySpan<ulong> a)
    {
        var table = Vector256.Create(Vector128.Create(NibbleCounts));
        var low = Vector256.Create((byte)0x0F);
        ref ulong pw = ref Unsafe.AsRef(in w[0]);
        ref ulong pa = ref Unsafe.AsRef(in a[0]);
        int vectors = w.Length / 4;
        var total = Vector256<ulong>.Zero;
        for (int v = 0; v < vectors;)
        {
            int end = Math.Min(vectors, v + VectorsPerByteSum);
            var bytes = Vector256<byte>.Zero;
            for (; v < end; v++)
            {
                var x = (Vector256.LoadUnsafe(ref pw, (nuint)(v * 4)) & Vector256.LoadUnsafe(ref pa, (nuint)(v * 4))).AsByte();
                bytes += Avx2.Shuffle(table, x & low) + Avx2.Shuffle(table, Avx2.ShiftRightLogical(x.AsUInt16(), 4).AsByte() & low);
            }
            total += Avx2.SumAbsoluteDifferences(bytes, Vector256<byte>.Zero).AsUInt64();
        }
        return (int)Vector256.Sum(total) + AndPopCountScalar(w, a, vectors * 4);
    }

    private static int AndPopCount128(ReadOnlySpan<ulong> w, ReadOnlySpan<ulong> a)
    {
        var table = Vector128.Create(NibbleCounts);
        var low = Vector128.Create((byte)0x0F);
        ref ulong pw = ref Unsafe.AsRef(in w[0]);
        ref ulong pa = ref Unsafe.AsRef(in a[0]);
        int vectors = w.Length / 2;
        var total = Vector128<ulong>.Zero;
        for (int v = 0; v < vectors;)
        {
            int end = Math.Min(vectors, v + VectorsPerByteSum);
            var bytes = Vector128<byte>.Zero;
            for (; v < end; v++)
            {
                var x = (Vector128.LoadUnsafe(ref pw, (nuint)(v * 2)) & Vector128.LoadUnsafe(ref pa, (nuint)(v * 2))).AsByte();
                bytes += Ssse3.Shuffle(table, x & low) + Ssse3.Shuffle(table, Sse2.ShiftRightLogical(x.AsUInt16(), 4).AsByte() & low);
            }
            total += Sse2.SumAbsoluteDifferences(bytes, Vector128<byte>.Zero).AsUInt64();
        }
        return (int)Vector128.Sum(total) + AndPopCountScalar(w, a, vectors * 2);
    }

    private static void CheckPlanes(int planes, string name)
    {
        if (planes < 1 || planes > 16) throw new ArgumentOutOfRangeException(name, planes, $"{name} must be 1 to 16");
    }

    private static void CheckShapes(int weightLength, int activationLength, int batch, int rows, int cols, int kw, int ka)
    {
        KernelArgumentChecks.Positive(batch, nameof(batch));
        KernelArgumentChecks.Positive(rows, nameof(rows));
        KernelArgumentChecks.Positive(cols, nameof(cols));
        CheckPlanes(kw, nameof(kw));
        CheckPlanes(ka, nameof(ka));
        int words = WordsPerRow(cols);
        KernelArgumentChecks.Exactly(weightLength, (long)rows * kw * words, "weightPlanes");
        KernelArgumentChecks.Exactly(activationLength, (long)batch * ka * words, "activationPlanes");
    }
}
