using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SlimNet.Runtime.Kernels;

/// <summary>
/// Binary or ternary weights [rows, cols] as bit masks for float activations (issue 7: BinaryConnect, BWN, LAB, TWN,
/// LAT, LAT2): w[o, c] = p_o if bit c of <see cref="Plus"/> row o is set, −m_o if bit c of <see cref="Minus"/> row o is
/// set, else 0. Binary weights (±α, no zeros) keep only the plus mask and use Σ_minus x = Σ x − Σ_plus x, so
/// y[o] = <see cref="PlusCoef"/>[o]·Σ_plus x − <see cref="MinusCoef"/>[o]·Σ_minus x + <see cref="TotalCoef"/>[o]·Σ x + bias[o]
/// with (2α, 0, −α) for binary and (α⁺, α⁻, 0) for ternary rows. Masks are rows of 64-bit words, column c in bit c % 64
/// of word c / 64, bits past the columns zero.
/// </summary>
public sealed class SignMaskWeights
{
    private SignMaskWeights(int rows, int cols, bool binary)
    {
        Rows = rows;
        Cols = cols;
        Words = (cols + 63) >> 6;
        Plus = GC.AllocateArray<ulong>(checked(rows * Words), pinned: true);
        Minus = binary ? null : GC.AllocateArray<ulong>(rows * Words, pinned: true);
        PlusCoef = GC.AllocateArray<float>(rows, pinned: true);
        MinusCoef = GC.AllocateArray<float>(rows, pinned: true);
        TotalCoef = GC.AllocateArray<float>(rows, pinned: true);
    }

    /// <summary>Output rows.</summary>
    public int Rows { get; }
    /// <summary>Input columns.</summary>
    public int Cols { get; }
    /// <summary>64-bit words per mask row.</summary>
    public int Words { get; }
    /// <summary>True when there is no minus mask (every weight is ±α).</summary>
    public bool IsBinary => Minus == null;
    internal ulong[] Plus { get; }
    internal ulong[]? Minus { get; }
    internal float[] PlusCoef { get; }
    internal float[] MinusCoef { get; }
    internal float[] TotalCoef { get; }

    /// <summary>Binary weights: w[o, c] = +α_o where <paramref name="positive"/> is true, else −α_o.</summary>
    public static SignMaskWeights Binary(ReadOnlySpan<bool> positive, ReadOnlySpan<float> alpha, int rows, int cols)
    {
        Check(positive.Length, rows, cols);
        KernelArgumentChecks.Exactly(alpha.Length, rows, nameof(alpha));
        var w = new SignMaskWeights(rows, cols, binary: true);
        for (int o = 0; o < rows; o++)
        {
            for (int c = 0; c < cols; c++)
                if (positive[o * cols + c]) w.Plus[o * w.Words + (c >> 6)] |= 1UL << (c & 63);
            w.PlusCoef[o] = 2 * alpha[o];
            w.TotalCoef[o] = -alpha[o];
        }
        return w;
    }

    /// <summary>Ternary weights: w[o, c] = +plus_o·[sign = 1] − minus_o·[sign = −1] for signs in {−1, 0, 1}.</summary>
    public static SignMaskWeights Ternary(ReadOnlySpan<sbyte> signs, ReadOnlySpan<float> plus, ReadOnlySpan<float> minus, int rows, int cols)
    {
        Check(signs.Length, rows, cols);
        KernelArgumentChecks.Exactly(plus.Length, rows, nameof(plus));
        KernelArgumentChecks.Exactly(minus.Length, rows, nameof(minus));
        var w = new SignMaskWeights(rows, cols, binary: false);
        for (int o = 0; o < rows; o++)
        {
            for (int c = 0; c < cols; c++)
            {
                sbyte s = signs[o * cols + c];
                if (s > 0) w.Plus[o * w.Words + (c >> 6)] |= 1UL << (c & 63);
                else if (s < 0) w.Minus![o * w.Words + (c >> 6)] |= 1UL << (c & 63);
            }
            w.PlusCoef[o] = plus[o];
            w.MinusCoef[o] = minus[o];
        }
        return w;
    }

    /// <summary>Multiplies row r by <paramref name="scale"/>[r] (a folded BatchNorm).</summary>
    public void ScaleRows(ReadOnlySpan<float> scale)
    {
        KernelArgumentChecks.Exactly(scale.Length, Rows, nameof(scale));
        for (int o = 0; o < Rows; o++)
        {
            PlusCoef[o] *= scale[o];
            MinusCoef[o] *= scale[o];
            TotalCoef[o] *= scale[o];
        }
    }

    /// <summary>The weights as floats [rows, cols] (for tests and fallbacks).</summary>
    public float[] ToDense()
    {
        var d = new float[Rows * Cols];
        for (int o = 0; o < Rows; o++)
            for (int c = 0; c < Cols; c++)
            {
                bool p = ((Plus[o * Words + (c >> 6)] >> (c & 63)) & 1) != 0;
                bool m = Minus != null && ((Minus[o * Words + (c >> 6)] >> (c & 63)) & 1) != 0;
                d[o * Cols + c] = (p ? PlusCoef[o] : 0) - (m ? MinusCoef[o] : 0) + TotalCoef[o];
            }
        return d;
    }

    private static void Check(int length, int rows, int cols)
    {
        KernelArgumentChecks.Positive(rows, nameof(rows));
        KernelArgumentChecks.Positive(cols, nameof(cols));
        KernelArgumentChecks.Exactly(length, (long)rows * cols, "weights");
    }
}

/// <summary>
/// Float-activation kernels for <see cref="SignMaskWeights"/>: no multiplications inside the sums, only additions of
/// the inputs the masks select (issue 7 item 4).
/// <list type="bullet">
/// <item>Per example (batches below <see cref="TransposeFromBatch"/>): 16 columns at a time, the 16 mask bits become a
/// lane mask (broadcast, AND with 1, 2, 4, …, compare) and select the inputs into the plus and minus accumulators
/// (Vector512; 8 columns with Vector256); a tail is one overlapping load with the already-summed lanes masked off.</item>
/// <item>Transposed (larger batches, and convolutions after im2col): inputs as [cols][n] with n examples or pixels
/// contiguous; for every set bit c of a mask row, x[c, 0..n) is added to the row's accumulators (registers, 64 lanes at
/// a time) — an add of whole vectors per selected input, walking the set bits with tzcnt.</item>
/// </list>
/// The scalar path is the reference.
/// </summary>
public static unsafe class SignMaskKernels
{
    /// <summary>Linear layers switch to the transposed kernel from this batch size.</summary>
    public const int TransposeFromBatch = 4;

    /// <summary>Floats of scratch <see cref="Gemm(SignMaskWeights, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, int, Span{float})"/>
    /// needs for a batch (the transposed inputs and outputs; 0 below <see cref="TransposeFromBatch"/>).</summary>
    public static int ScratchSize(int batch, int cols, int rows) => batch < TransposeFromBatch ? 0 : checked(PaddedCount(batch) * (cols + rows + 1));

    /// <summary>y [batch, rows] = x [batch, cols]·Wᵀ + bias.</summary>
    public static void Gemm(SignMaskWeights w, ReadOnlySpan<float> x, ReadOnlySpan<float> bias, Span<float> y, int batch, Span<float> scratch) =>
        Gemm(w, x, bias, y, batch, scratch, SimdSupport.Best);

    internal static void Gemm(SignMaskWeights w, ReadOnlySpan<float> x, ReadOnlySpan<float> bias, Span<float> y, int batch, Span<float> scratch, SimdLevel level)
    {
        ArgumentNullException.ThrowIfNull(w);
        KernelArgumentChecks.NonNegative(batch, nameof(batch));
        KernelArgumentChecks.AtLeast(x.Length, (long)batch * w.Cols, nameof(x));
        KernelArgumentChecks.Bias(bias.Length, w.Rows);
        KernelArgumentChecks.AtLeast(y.Length, (long)batch * w.Rows, nameof(y));
        KernelArgumentChecks.AtLeast(scratch.Length, ScratchSize(batch, w.Cols, w.Rows), nameof(scratch));
        fixed (float* px = x, pb = bias, py = y, ps = scratch)
            RunLinear(w, px, bias.IsEmpty ? null : pb, py, batch, ps, level);
    }

    internal static int PaddedCount(int n) => (n + 15) & ~15;

    /// <summary>Unchecked Linear entry for the engine.</summary>
    internal static void RunLinear(SignMaskWeights w, float* x, float* bias, float* y, int batch, float* scratch, SimdLevel level)
    {
        if (batch == 0) return;
        if (batch < TransposeFromBatch)
        {
            for (int b = 0; b < batch; b++) RowMasked(w, x + (nint)b * w.Cols, bias, y + (nint)b * w.Rows, level);
            return;
        }
        // xT [cols][ld] with zero padding, then yT [rows][ld], then y = yTᵀ.
        int ld = PaddedCount(batch);
        float* xT = scratch, yT = scratch + (nint)ld * w.Cols, sums = yT + (nint)ld * w.Rows;
        for (int c = 0; c < w.Cols; c++)
        {
            float* row = xT + (nint)c * ld;
            for (int b = 0; b < batch; b++) row[b] = x[(nint)b * w.Cols + c];
            for (int b = batch; b < ld; b++) row[b] = 0;
        }
        Transposed(w, xT, ld, bias, yT, ld, sums, level);
        for (int o = 0; o < w.Rows; o++)
        {
            float* src = yT + (nint)o * ld;
            for (int b = 0; b < batch; b++) y[(nint)b * w.Rows + o] = src[b];
        }
    }

    /// <summary>
    /// y[o, 0..ld) = Σ_c w[o, c]·xT[c, 0..ld) + bias[o] for inputs [cols][ld] (ld a multiple of 16, padding zero), written
    /// to y + o·ldy. <paramref name="sums"/> is ld floats of scratch (Σ_c xT[c, ·], needed by binary rows).
    /// </summary>
    internal static void Transposed(SignMaskWeights w, float* xT, int ld, float* bias, float* y, nint ldy, float* sums, SimdLevel level)
    {
        switch (level)
        {
            case SimdLevel.Vector512 when Vector512.IsHardwareAccelerated:
                Transposed<Vector512<float>, Vector512Ops>(w, xT, ld, bias, y, ldy, sums);
                break;
            case SimdLevel.Vector512 or SimdLevel.Vector256 when Vector256.IsHardwareAccelerated:
                Transposed<Vector256<float>, Vector256Ops>(w, xT, ld, bias, y, ldy, sums);
                break;
            case SimdLevel.Vector512 or SimdLevel.Vector256 or SimdLevel.Vector128 when Vector128.IsHardwareAccelerated:
                Transposed<Vector128<float>, Vector128Ops>(w, xT, ld, bias, y, ldy, sums);
                break;
            default:
                TransposedScalar(w, xT, ld, bias, y, ldy, sums);
                break;
        }
    }

    private static void TransposedScalar(SignMaskWeights w, float* xT, int ld, float* bias, float* y, nint ldy, float* sums)
    {
        if (w.IsBinary) ColumnSums(xT, w.Cols, ld, sums);
        fixed (ulong* plus = w.Plus, minus = w.Minus)
            for (int o = 0; o < w.Rows; o++)
                for (int n = 0; n < ld; n++)
                {
                    float p = 0, m = 0;
                    for (int c = 0; c < w.Cols; c++)
                    {
                        if (((plus[(nint)o * w.Words + (c >> 6)] >> (c & 63)) & 1) != 0) p += xT[(nint)c * ld + n];
                        if (minus != null && ((minus[(nint)o * w.Words + (c >> 6)] >> (c & 63)) & 1) != 0) m += xT[(nint)c * ld + n];
                    }
                    float v = w.PlusCoef[o] * p - w.MinusCoef[o] * m + (bias == null ? 0 : bias[o]);
                    if (w.IsBinary) v += w.TotalCoef[o] * sums[n];
                    y[o * ldy + n] = v;
                }
    }

    private static void ColumnSums(float* xT, int cols, int ld, float* sums)
    {
        new Span<float>(sums, ld).Clear();
        for (int c = 0; c < cols; c++)
        {
            float* row = xT + (nint)c * ld;
            for (int n = 0; n < ld; n++) sums[n] += row[n];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Transposed<TVec, TOps>(SignMaskWeights w, float* xT, int ld, float* bias, float* y, nint ldy, float* sums)
        where TVec : struct where TOps : IVectorOps<TVec>
    {
        int vc = TOps.Count;
        if (w.IsBinary)
        {
            for (int n = 0; n < ld; n += vc) TOps.Store(TOps.Zero, sums + n);
            for (int c = 0; c < w.Cols; c++)
                for (int n = 0; n < ld; n += vc) TOps.Store(TOps.Add(TOps.Load(sums + n), TOps.Load(xT + (nint)c * ld + n)), sums + n);
        }
        fixed (ulong* plus = w.Plus, minus = w.Minus)
            for (int o = 0; o < w.Rows; o++)
            {
                ulong* pRow = plus + (nint)o * w.Words;
                ulong* mRow = minus == null ? null : minus + (nint)o * w.Words;
                var pc = TOps.Broadcast(w.PlusCoef[o]);
                var mc = TOps.Broadcast(-w.MinusCoef[o]);
                var tc = TOps.Broadcast(w.TotalCoef[o]);
                var bv = TOps.Broadcast(bias == null ? 0 : bias[o]);
                float* yo = y + o * ldy;
                int n = 0;
                // Four vectors of examples per pass keep the accumulators in registers.
                for (; n + 4 * vc <= ld; n += 4 * vc)
                {
                    float* xn = xT + n;
                    TVec p0 = TOps.Zero, p1 = TOps.Zero, p2 = TOps.Zero, p3 = TOps.Zero;
                    SumSelected<TVec, TOps>(pRow, w.Words, xn, ld, vc, ref p0, ref p1, ref p2, ref p3);
                    TVec m0 = TOps.Zero, m1 = TOps.Zero, m2 = TOps.Zero, m3 = TOps.Zero;
                    if (mRow != null) SumSelected<TVec, TOps>(mRow, w.Words, xn, ld, vc, ref m0, ref m1, ref m2, ref m3);
                    Finish<TVec, TOps>(p0, m0, sums + n, pc, mc, tc, bv, yo + n, w.IsBinary);
                    Finish<TVec, TOps>(p1, m1, sums + n + vc, pc, mc, tc, bv, yo + n + vc, w.IsBinary);
                    Finish<TVec, TOps>(p2, m2, sums + n + 2 * vc, pc, mc, tc, bv, yo + n + 2 * vc, w.IsBinary);
                    Finish<TVec, TOps>(p3, m3, sums + n + 3 * vc, pc, mc, tc, bv, yo + n + 3 * vc, w.IsBinary);
                }
                for (; n < ld; n += vc)
                {
                    TVec p = TOps.Zero, m = TOps.Zero;
                    for (int k = 0; k < w.Words; k++)
                    {
                        for (ulong bits = pRow[k]; bits != 0; bits &= bits - 1)
                            p = TOps.Add(p, TOps.Load(xT + (nint)((k << 6) + BitOperations.TrailingZeroCount(bits)) * ld + n));
                        if (mRow != null)
                            for (ulong bits = mRow[k]; bits != 0; bits &= bits - 1)
                                m = TOps.Add(m, TOps.Load(xT + (nint)((k << 6) + BitOperations.TrailingZeroCount(bits)) * ld + n));
                    }
                    Finish<TVec, TOps>(p, m, sums + n, pc, mc, tc, bv, yo + n, w.IsBinary);
                }
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SumSelected<TVec, TOps>(ulong* mask, int words, float* xn, int ld, int vc, ref TVec a0, ref TVec a1, ref TVec a2, ref TVec a3)
        where TVec : struct where TOps : IVectorOps<TVec>
    {
        // Two set bits per iteration into two sets of accumulators, so each add waits on an add two bits back, not one.
        TVec b0 = TOps.Zero, b1 = TOps.Zero, b2 = TOps.Zero, b3 = TOps.Zero;
        for (int k = 0; k < words; k++)
        {
            ulong bits = mask[k];
            float* row = xn + (nint)(k << 6) * ld;
            while (bits != 0)
            {
                float* r = row + (nint)BitOperations.TrailingZeroCount(bits) * ld;
                bits &= bits - 1;
                a0 = TOps.Add(a0, TOps.Load(r));
                a1 = TOps.Add(a1, TOps.Load(r + vc));
                a2 = TOps.Add(a2, TOps.Load(r + 2 * vc));
                a3 = TOps.Add(a3, TOps.Load(r + 3 * vc));
                if (bits == 0) break;
                r = row + (nint)BitOperations.TrailingZeroCount(bits) * ld;
                bits &= bits - 1;
                b0 = TOps.Add(b0, TOps.Load(r));
                b1 = TOps.Add(b1, TOps.Load(r + vc));
                b2 = TOps.Add(b2, TOps.Load(r + 2 * vc));
                b3 = TOps.Add(b3, TOps.Load(r + 3 * vc));
            }
        }
        a0 = TOps.Add(a0, b0);
        a1 = TOps.Add(a1, b1);
        a2 = TOps.Add(a2, b2);
        a3 = TOps.Add(a3, b3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish<TVec, TOps>(TVec p, TVec m, float* sums, TVec pc, TVec mc, TVec tc, TVec bias, float* y, bool binary)
        where TVec : struct where TOps : IVectorOps<TVec>
    {
        var v = TOps.MultiplyAdd(pc, p, TOps.MultiplyAdd(mc, m, bias));
        if (binary) v = TOps.MultiplyAdd(tc, TOps.Load(sums), v);
        TOps.Store(v, y);
    }

    /// <summary>Floats of scratch <see cref="RunConv"/> needs: the unfolded image [patch][ld], the outputs [O][ld] and ld sums.</summary>
    internal static int ConvScratchSize(in ConvKernels.Geometry g)
    {
        int ld = PaddedCount(g.Pixels);
        return checked(ld * (g.PatchSize + g.O + 1));
    }

    /// <summary>A convolution: per image, im2col into [C·kh·kw][ld] (ld = pixels padded to 16, zeros), the transposed kernel
    /// with the pixels as examples, and the first <c>pixels</c> outputs of each channel copied to y (NCHW).</summary>
    internal static void RunConv(SignMaskWeights w, float* x, float* bias, float* y, float* scratch, in ConvKernels.Geometry g, SimdLevel level)
    {
        int p = g.Pixels, ld = PaddedCount(p);
        float* cols = scratch, outs = scratch + (nint)ld * g.PatchSize, sums = outs + (nint)ld * g.O;
        for (int img = 0; img < g.N; img++)
        {
            Im2Col(x + (nint)img * g.C * g.H * g.W, cols, ld, g);
            Transposed(w, cols, ld, bias, outs, ld, sums, level);
            float* yi = y + (nint)img * g.O * p;
            for (int o = 0; o < g.O; o++) new ReadOnlySpan<float>(outs + (nint)o * ld, p).CopyTo(new Span<float>(yi + (nint)o * p, p));
        }
    }

    /// <summary>rows[(ci·kh + ky)·kw + kx, p] = x[ci, oy·s − pad + ky, ox·s − pad + kx] (0 outside and in the padding columns p ≥ pixels).</summary>
    private static void Im2Col(float* x, float* rows, int ld, in ConvKernels.Geometry g)
    {
        for (int ci = 0, r = 0; ci < g.C; ci++)
            for (int ky = 0; ky < g.Kh; ky++)
                for (int kx = 0; kx < g.Kw; kx++, r++)
                {
                    float* dst = rows + (nint)r * ld;
                    int p = 0;
                    for (int oy = 0; oy < g.Ho; oy++)
                    {
                        int iy = oy * g.Stride - g.Pad + ky;
                        for (int ox = 0; ox < g.Wo; ox++, p++)
                        {
                            int ix = ox * g.Stride - g.Pad + kx;
                            dst[p] = (uint)iy < (uint)g.H && (uint)ix < (uint)g.W ? x[((nint)ci * g.H + iy) * g.W + ix] : 0f;
                        }
                    }
                    for (; p < ld; p++) dst[p] = 0f;
                }
    }

    /// <summary>One example: y[o] = p_o·Σ_plus x − m_o·Σ_minus x + t_o·Σ x + bias[o].</summary>
    private static void RowMasked(SignMaskWeights w, float* x, float* bias, float* y, SimdLevel level)
    {
        int cols = w.Cols;
        float total = 0;
        if (w.IsBinary)
            for (int c = 0; c < cols; c++) total += x[c];
        fixed (ulong* plus = w.Plus, minus = w.Minus)
            for (int o = 0; o < w.Rows; o++)
            {
                ulong* pRow = plus + (nint)o * w.Words;
                ulong* mRow = minus == null ? null : minus + (nint)o * w.Words;
                float p, m;
                if (level >= SimdLevel.Vector512 && Avx512F.IsSupported && cols >= 16)
                {
                    p = MaskedSum512(pRow, x, cols);
                    m = mRow == null ? 0 : MaskedSum512(mRow, x, cols);
                }
                else if (level >= SimdLevel.Vector256 && Avx2.IsSupported && cols >= 8)
                {
                    p = MaskedSum256(pRow, x, cols);
                    m = mRow == null ? 0 : MaskedSum256(mRow, x, cols);
                }
                else
                {
                    p = MaskedSumScalar(pRow, x, cols);
                    m = mRow == null ? 0 : MaskedSumScalar(mRow, x, cols);
                }
                y[o] = w.PlusCoef[o] * p - w.MinusCoef[o] * m + w.TotalCoef[o] * total + (bias == null ? 0 : bias[o]);
            }
    }

    private static float MaskedSumScalar(ulong* mask, float* x, int cols)
    {
        float s = 0;
        for (int c = 0; c < cols; c++)
            if (((mask[c >> 6] >> (c & 63)) & 1) != 0) s += x[c];
        return s;
    }

    /// <summary>The 16 mask bits of columns start..start+15 (start may be any column; bits past the row are zero).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Bits16(ulong* mask, int start)
    {
        int word = start >> 6, shift = start & 63;
        ulong v = mask[word] >> shift;
        if (shift > 48) v |= mask[word + 1] << (64 - shift);
        return (uint)v & 0xFFFF;
    }

    private static float MaskedSum512(ulong* mask, float* x, int cols)
    {
        var lanes = Vector512.Create(1u, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768);
        var a0 = Vector512<float>.Zero;
        var a1 = Vector512<float>.Zero;
        int c = 0;
        for (; c + 32 <= cols; c += 32)
        {
            ulong bits = (mask[c >> 6] >> (c & 63)) & 0xFFFF_FFFF;
            var m0 = Vector512.Equals(Vector512.Create((uint)bits) & lanes, lanes).AsSingle();
            var m1 = Vector512.Equals(Vector512.Create((uint)(bits >> 16)) & lanes, lanes).AsSingle();
            // ConditionalSelect on a compare result: the JIT emits a masked add (AVX-512 k register), no mask vector.
            a0 = Vector512.ConditionalSelect(m0, a0 + Vector512.Load(x + c), a0);
            a1 = Vector512.ConditionalSelect(m1, a1 + Vector512.Load(x + c + 16), a1);
        }
        for (; c + 16 <= cols; c += 16)
            a0 += Vector512.Load(x + c) & Vector512.Equals(Vector512.Create(Bits16(mask, c)) & lanes, lanes).AsSingle();
        if (c < cols)
        {
            // Overlapping tail: columns cols−16..cols−1, with the ones already summed (below c) masked off.
            int start = cols - 16;
            uint bits = Bits16(mask, start) & ~((1u << (c - start)) - 1);
            a0 += Vector512.Load(x + start) & Vector512.Equals(Vector512.Create(bits) & lanes, lanes).AsSingle();
        }
        return Vector512.Sum(a0 + a1);
    }

    private static float MaskedSum256(ulong* mask, float* x, int cols)
    {
        var lanes = Vector256.Create(1u, 2, 4, 8, 16, 32, 64, 128);
        var a0 = Vector256<float>.Zero;
        var a1 = Vector256<float>.Zero;
        int c = 0;
        for (; c + 16 <= cols; c += 16)
        {
            uint bits = Bits16(mask, c);
            a0 += Vector256.Load(x + c) & Vector256.Equals(Vector256.Create(bits) & lanes, lanes).AsSingle();
            a1 += Vector256.Load(x + c + 8) & Vector256.Equals(Vector256.Create(bits >> 8) & lanes, lanes).AsSingle();
        }
        for (; c + 8 <= cols; c += 8)
            a0 += Vector256.Load(x + c) & Vector256.Equals(Vector256.Create(Bits16(mask, c)) & lanes, lanes).AsSingle();
        if (c < cols)
        {
            int start = cols - 8;
            uint bits = Bits16(mask, start) & 0xFF & ~((1u << (c - start)) - 1);
            a0 += Vector256.Load(x + start) & Vector256.Equals(Vector256.Create(bits) & lanes, lanes).AsSingle();
        }
        return Vector256.Sum(a0 + a1);
    }
}
