using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SlimNet.Runtime.Kernels;

/// <summary>
/// Fully connected layers over row-major float32 spans: y[b, o] = Σᵢ x[b, i]·w[o, i] + bias[o], with W
/// stored as PyTorch stores it ([out, in]). Batch 1 runs as a GEMV that streams each weight row once
/// against four output rows at a time; larger batches use 4×4 register tiles (four input rows × four
/// weight rows) so every weight vector loaded is used four times. The fused variants decode codebook or
/// fixed-point weights inside the inner loop, without a float copy of W.
/// </summary>
public static unsafe class DenseKernels
{
    /// <summary>Dense float32 layer: x [batch, inFeatures], w [outFeatures, inFeatures], bias [outFeatures] or
    /// empty, y [batch, outFeatures].</summary>
    public static void Gemm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y,
        int batch, int inFeatures, int outFeatures) =>
        Gemm(x, w, bias, y, batch, inFeatures, outFeatures, SimdSupport.Best);

    /// <summary>Dense layer with W given as byte codes into <paramref name="codebook"/>: w[o, i] = codebook[codes[o·in + i]].</summary>
    public static void GemmCodebook(ReadOnlySpan<float> x, ReadOnlySpan<byte> codes, ReadOnlySpan<float> codebook,
        ReadOnlySpan<float> bias, Span<float> y, int batch, int inFeatures, int outFeatures) =>
        GemmCodebook(x, codes, codebook, bias, y, batch, inFeatures, outFeatures, SimdSupport.Best);

    /// <summary>Dense layer with W given as 16-bit codes into <paramref name="codebook"/>.</summary>
    public static void GemmCodebook(ReadOnlySpan<float> x, ReadOnlySpan<ushort> codes, ReadOnlySpan<float> codebook,
        ReadOnlySpan<float> bias, Span<float> y, int batch, int inFeatures, int outFeatures) =>
        GemmCodebook(x, codes, codebook, bias, y, batch, inFeatures, outFeatures, SimdSupport.Best);

    /// <summary>Dense layer with fixed-point weights: w[o, i] = q[o·in + i]·scale, where the scale is
    /// <paramref name="rowScales"/>[0] (length 1) or <paramref name="rowScales"/>[o] (length outFeatures).</summary>
    public static void GemmFixedPoint(ReadOnlySpan<float> x, ReadOnlySpan<short> q, ReadOnlySpan<float> rowScales,
        ReadOnlySpan<float> bias, Span<float> y, int batch, int inFeatures, int outFeatures) =>
        GemmFixedPoint(x, q, rowScales, bias, y, batch, inFeatures, outFeatures, SimdSupport.Best);

    internal static void Gemm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y,
        int batch, int inFeatures, int outFeatures, SimdLevel level)
    {
        CheckShapes(x.Length, w.Length, bias.Length, y.Length, batch, inFeatures, outFeatures);
        fixed (float* px = x, pw = w, pb = bias, py = y)
            Run(new DenseValues(pw), px, bias.IsEmpty ? null : pb, py, batch, inFeatures, outFeatures, level);
    }

    internal static void GemmCodebook(ReadOnlySpan<float> x, ReadOnlySpan<byte> codes, ReadOnlySpan<float> codebook,
        ReadOnlySpan<float> bias, Span<float> y, int batch, int inFeatures, int outFeatures, SimdLevel level)
    {
        CheckShapes(x.Length, codes.Length, bias.Length, y.Length, batch, inFeatures, outFeatures);
        KernelArgumentChecks.Codes(codes, codebook.Length);
        if (codebook.Length <= SmallCodebookValues.MaxEntries)
        {
            // The small-codebook decoder reads a full 32-entry table.
            Span<float> padded = stackalloc float[SmallCodebookValues.MaxEntries];
            padded.Clear();
            codebook.CopyTo(padded);
            fixed (float* px = x, pc = padded, pb = bias, py = y)
            fixed (byte* pq = codes)
                Run(new SmallCodebookValues(pq, pc), px, bias.IsEmpty ? null : pb, py, batch, inFeatures, outFeatures, level);
            return;
        }
        fixed (float* px = x, pc = codebook, pb = bias, py = y)
        fixed (byte* pq = codes)
            Run(new ByteCodebookValues(pq, pc), px, bias.IsEmpty ? null : pb, py, batch, inFeatures, outFeatures, level);
    }

    internal static void GemmCodebook(ReadOnlySpan<float> x, ReadOnlySpan<ushort> codes, ReadOnlySpan<float> codebook,
        ReadOnlySpan<float> bias, Span<float> y, int batch, int inFeatures, int outFeatures, SimdLevel level)
    {
        CheckShapes(x.Length, codes.Length, bias.Length, y.Length, batch, inFeatures, outFeatures);
        KernelArgumentChecks.Codes(codes, codebook.Length);
        fixed (float* px = x, pc = codebook, pb = bias, py = y)
        fixed (ushort* pq = codes)
            Run(new UInt16CodebookValues(pq, pc), px, bias.IsEmpty ? null : pb, py, batch, inFeatures, outFeatures, level);
    }

    internal static void GemmFixedPoint(ReadOnlySpan<float> x, ReadOnlySpan<short> q, ReadOnlySpan<float> rowScales,
        ReadOnlySpan<float> bias, Span<float> y, int batch, int inFeatures, int outFeatures, SimdLevel level)
    {
        CheckShapes(x.Length, q.Length, bias.Length, y.Length, batch, inFeatures, outFeatures);
        KernelArgumentChecks.RowScales(rowScales.Length, outFeatures);
        fixed (float* px = x, ps = rowScales, pb = bias, py = y)
        fixed (short* pq = q)
            Run(new FixedPointValues(pq, ps, rowScales.Length > 1), px, bias.IsEmpty ? null : pb, py, batch, inFeatures, outFeatures, level);
    }

    private static void CheckShapes(int xLength, int wLength, int biasLength, int yLength, int batch, int inFeatures, int outFeatures)
    {
        KernelArgumentChecks.NonNegative(batch, nameof(batch));
        KernelArgumentChecks.Positive(inFeatures, nameof(inFeatures));
        KernelArgumentChecks.Positive(outFeatures, nameof(outFeatures));
        KernelArgumentChecks.AtLeast(xLength, (long)batch * inFeatures, "x");
        KernelArgumentChecks.AtLeast(wLength, (long)outFeatures * inFeatures, "w");
        KernelArgumentChecks.Bias(biasLength, outFeatures);
        KernelArgumentChecks.AtLeast(yLength, (long)batch * outFeatures, "y");
    }

    /// <summary>Unchecked entry for callers that validated once (the engine, convolution).</summary>
    internal static void Run<TW>(TW w, float* x, float* bias, float* y, int batch, int inFeatures, int outFeatures, SimdLevel level)
        where TW : struct, IWeightValues
    {
        switch (level)
        {
            case SimdLevel.Vector512 when inFeatures >= Vector512<float>.Count:
                Vectorized<Vector512<float>, Vector512Ops, TW>(w, x, bias, y, batch, inFeatures, outFeatures);
                break;
            case SimdLevel.Vector512 or SimdLevel.Vector256 when inFeatures >= Vector256<float>.Count:
                Vectorized<Vector256<float>, Vector256Ops, TW>(w, x, bias, y, batch, inFeatures, outFeatures);
                break;
            case SimdLevel.Vector512 or SimdLevel.Vector256 or SimdLevel.Vector128 when inFeatures >= Vector128<float>.Count:
                Vectorized<Vector128<float>, Vector128Ops, TW>(w, x, bias, y, batch, inFeatures, outFeatures);
                break;
            default:
                Scalar(w, x, bias, y, batch, inFeatures, outFeatures);
                break;
        }
    }

    /// <summary>The reference path: one plain dot product per output.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Scalar<TW>(TW w, float* x, float* bias, float* y, int batch, int inFeatures, int outFeatures)
        where TW : struct, IWeightValues
    {
        for (int b = 0; b < batch; b++)
            for (int o = 0; o < outFeatures; o++)
            {
                float sum = 0;
                nint row = (nint)o * inFeatures;
                for (int i = 0; i < inFeatures; i++) sum += x[(nint)b * inFeatures + i] * w.Value(row + i);
                y[(nint)b * outFeatures + o] = sum * w.RowScale(o) + (bias == null ? 0f : bias[o]);
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Vectorized<TVec, TOps, TW>(TW w, float* x, float* bias, float* y, int batch, int n, int m)
        where TVec : struct where TOps : struct, IVectorOps<TVec> where TW : struct, IWeightValues
    {
        int o = 0;
        for (; o + 4 <= m; o += 4)
        {
            int b = 0;
            for (; b + 4 <= batch; b += 4)
                Tile4x4<TVec, TOps, TW>(w, x + (nint)b * n, bias, y + (nint)b * m, n, m, o);
            for (; b < batch; b++)
                Tile1x4<TVec, TOps, TW>(w, x + (nint)b * n, bias, y + (nint)b * m, n, o);
        }
        for (; o < m; o++)
            for (int b = 0; b < batch; b++)
                y[(nint)b * m + o] = Dot<TVec, TOps, TW>(w, x + (nint)b * n, n, o) * w.RowScale(o) + (bias == null ? 0f : bias[o]);
    }

    // n >= TOps.Count here, so a tail shorter than a vector is done by one overlapping load of the last
    // full vector with the already-summed lanes masked out of the product.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot<TVec, TOps, TW>(in TW w, float* x, int n, int o)
        where TVec : struct where TOps : struct, IVectorOps<TVec> where TW : struct, IWeightValues
    {
        nint c = TOps.Count, row = (nint)o * n, i = 0;
        TVec a0 = TOps.Zero, a1 = TOps.Zero;
        for (; i + 2 * c <= n; i += 2 * c)
        {
            a0 = TOps.MultiplyAdd(TOps.Load(x + i), TOps.LoadWeights(w, row + i), a0);
            a1 = TOps.MultiplyAdd(TOps.Load(x + i + c), TOps.LoadWeights(w, row + i + c), a1);
        }
        for (; i + c <= n; i += c)
            a0 = TOps.MultiplyAdd(TOps.Load(x + i), TOps.LoadWeights(w, row + i), a0);
        if (i < n)
        {
            TVec mask = TOps.TailMask((int)(n - i));
            i = n - c;
            a1 = TOps.Add(a1, TOps.And(TOps.Multiply(TOps.Load(x + i), TOps.LoadWeights(w, row + i)), mask));
        }
        return TOps.Sum(TOps.Add(a0, a1));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile1x4<TVec, TOps, TW>(in TW w, float* x, float* bias, float* y, int n, int o)
        where TVec : struct where TOps : struct, IVectorOps<TVec> where TW : struct, IWeightValues
    {
        nint c = TOps.Count, r0 = (nint)o * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n, i = 0;
        TVec a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero;
        for (; i + c <= n; i += c)
        {
            TVec xv = TOps.Load(x + i);
            a0 = TOps.MultiplyAdd(xv, TOps.LoadWeights(w, r0 + i), a0);
            a1 = TOps.MultiplyAdd(xv, TOps.LoadWeights(w, r1 + i), a1);
            a2 = TOps.MultiplyAdd(xv, TOps.LoadWeights(w, r2 + i), a2);
            a3 = TOps.MultiplyAdd(xv, TOps.LoadWeights(w, r3 + i), a3);
        }
        if (i < n)
        {
            TVec mask = TOps.TailMask((int)(n - i));
            i = n - c;
            TVec xv = TOps.Load(x + i);
            a0 = TOps.Add(a0, TOps.And(TOps.Multiply(xv, TOps.LoadWeights(w, r0 + i)), mask));
            a1 = TOps.Add(a1, TOps.And(TOps.Multiply(xv, TOps.LoadWeights(w, r1 + i)), mask));
            a2 = TOps.Add(a2, TOps.And(TOps.Multiply(xv, TOps.LoadWeights(w, r2 + i)), mask));
            a3 = TOps.Add(a3, TOps.And(TOps.Multiply(xv, TOps.LoadWeights(w, r3 + i)), mask));
        }
        Finish(w, bias, y, o, TOps.Sum(a0), TOps.Sum(a1), TOps.Sum(a2), TOps.Sum(a3));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x4<TVec, TOps, TW>(in TW w, float* x, float* bias, float* y, int n, int m, int o)
        where TVec : struct where TOps : struct, IVectorOps<TVec> where TW : struct, IWeightValues
    {
        nint c = TOps.Count, r0 = (nint)o * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n, i = 0;
        float* x0 = x, x1 = x + n, x2 = x1 + n, x3 = x2 + n;
        TVec a00 = TOps.Zero, a01 = TOps.Zero, a02 = TOps.Zero, a03 = TOps.Zero;
        TVec a10 = TOps.Zero, a11 = TOps.Zero, a12 = TOps.Zero, a13 = TOps.Zero;
        TVec a20 = TOps.Zero, a21 = TOps.Zero, a22 = TOps.Zero, a23 = TOps.Zero;
        TVec a30 = TOps.Zero, a31 = TOps.Zero, a32 = TOps.Zero, a33 = TOps.Zero;
        for (; i + c <= n; i += c)
        {
            TVec w0 = TOps.LoadWeights(w, r0 + i), w1 = TOps.LoadWeights(w, r1 + i);
            TVec w2 = TOps.LoadWeights(w, r2 + i), w3 = TOps.LoadWeights(w, r3 + i);
            TVec xv = TOps.Load(x0 + i);
            a00 = TOps.MultiplyAdd(xv, w0, a00); a01 = TOps.MultiplyAdd(xv, w1, a01);
            a02 = TOps.MultiplyAdd(xv, w2, a02); a03 = TOps.MultiplyAdd(xv, w3, a03);
            xv = TOps.Load(x1 + i);
            a10 = TOps.MultiplyAdd(xv, w0, a10); a11 = TOps.MultiplyAdd(xv, w1, a11);
            a12 = TOps.MultiplyAdd(xv, w2, a12); a13 = TOps.MultiplyAdd(xv, w3, a13);
            xv = TOps.Load(x2 + i);
            a20 = TOps.MultiplyAdd(xv, w0, a20); a21 = TOps.MultiplyAdd(xv, w1, a21);
            a22 = TOps.MultiplyAdd(xv, w2, a22); a23 = TOps.MultiplyAdd(xv, w3, a23);
            xv = TOps.Load(x3 + i);
            a30 = TOps.MultiplyAdd(xv, w0, a30); a31 = TOps.MultiplyAdd(xv, w1, a31);
            a32 = TOps.MultiplyAdd(xv, w2, a32); a33 = TOps.MultiplyAdd(xv, w3, a33);
        }
        if (i < n)
        {
            TVec mask = TOps.TailMask((int)(n - i));
            i = n - c;
            TVec w0 = TOps.And(TOps.LoadWeights(w, r0 + i), mask), w1 = TOps.And(TOps.LoadWeights(w, r1 + i), mask);
            TVec w2 = TOps.And(TOps.LoadWeights(w, r2 + i), mask), w3 = TOps.And(TOps.LoadWeights(w, r3 + i), mask);
            // Masking the weights is enough here only if the inputs in the overlapped lanes are finite, so
            // mask the inputs too: 0·∞ would otherwise bring a NaN into lanes that were already summed.
            TVec xv = TOps.And(TOps.Load(x0 + i), mask);
            a00 = TOps.MultiplyAdd(xv, w0, a00); a01 = TOps.MultiplyAdd(xv, w1, a01);
            a02 = TOps.MultiplyAdd(xv, w2, a02); a03 = TOps.MultiplyAdd(xv, w3, a03);
            xv = TOps.And(TOps.Load(x1 + i), mask);
            a10 = TOps.MultiplyAdd(xv, w0, a10); a11 = TOps.MultiplyAdd(xv, w1, a11);
            a12 = TOps.MultiplyAdd(xv, w2, a12); a13 = TOps.MultiplyAdd(xv, w3, a13);
            xv = TOps.And(TOps.Load(x2 + i), mask);
            a20 = TOps.MultiplyAdd(xv, w0, a20); a21 = TOps.MultiplyAdd(xv, w1, a21);
            a22 = TOps.MultiplyAdd(xv, w2, a22); a23 = TOps.MultiplyAdd(xv, w3, a23);
            xv = TOps.And(TOps.Load(x3 + i), mask);
            a30 = TOps.MultiplyAdd(xv, w0, a30); a31 = TOps.MultiplyAdd(xv, w1, a31);
            a32 = TOps.MultiplyAdd(xv, w2, a32); a33 = TOps.MultiplyAdd(xv, w3, a33);
        }
        Finish(w, bias, y, o, TOps.Sum(a00), TOps.Sum(a01), TOps.Sum(a02), TOps.Sum(a03));
        Finish(w, bias, y + m, o, TOps.Sum(a10), TOps.Sum(a11), TOps.Sum(a12), TOps.Sum(a13));
        Finish(w, bias, y + 2 * m, o, TOps.Sum(a20), TOps.Sum(a21), TOps.Sum(a22), TOps.Sum(a23));
        Finish(w, bias, y + 3 * m, o, TOps.Sum(a30), TOps.Sum(a31), TOps.Sum(a32), TOps.Sum(a33));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish<TW>(in TW w, float* bias, float* yRow, int o, float s0, float s1, float s2, float s3)
        where TW : struct, IWeightValues
    {
        yRow[o] = s0 * w.RowScale(o) + (bias == null ? 0f : bias[o]);
        yRow[o + 1] = s1 * w.RowScale(o + 1) + (bias == null ? 0f : bias[o + 1]);
        yRow[o + 2] = s2 * w.RowScale(o + 2) + (bias == null ? 0f : bias[o + 2]);
        yRow[o + 3] = s3 * w.RowScale(o + 3) + (bias == null ? 0f : bias[o + 3]);
    }
}
