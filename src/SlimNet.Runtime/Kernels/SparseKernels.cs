using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SlimNet.Runtime.Kernels;

/// <summary>
/// Fully connected layers whose weight matrix W ([out, in]) is stored in CSR form with rows = output
/// features: the non-zeros of row o are <c>values[rowPtr[o]..rowPtr[o+1])</c> at input columns
/// <c>colIdx[...]</c>. y[b, o] = Σ W[o, i]·x[b, i] + bias[o].
/// Batch 1 gathers the inputs a row touches with vector gathers (AVX-512 / AVX2) and multiplies them with
/// contiguous weight vectors. Batch 4 and more transposes x once to [in, batch] so that each non-zero is
/// one broadcast weight times a contiguous slice of the batch (an axpy across the batch), which reads each
/// non-zero once per 64 batch rows instead of once per row.
/// The fused variants decode codebook or fixed-point values inside the inner loop.
/// </summary>
public static unsafe class SparseKernels
{
    /// <summary>From this batch size on, the transposed (axpy across the batch) path is used.</summary>
    internal const int TransposeFromBatch = 4;

    /// <summary>CSR layer with float32 values.</summary>
    public static void CsrGemm(ReadOnlySpan<float> x, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, ReadOnlySpan<float> values,
        ReadOnlySpan<float> bias, Span<float> y, int batch, int inFeatures, int outFeatures) =>
        CsrGemm(x, rowPtr, colIdx, values, bias, y, batch, inFeatures, outFeatures, SimdSupport.Best);

    /// <summary>CSR layer whose values are byte codes into <paramref name="codebook"/>: value k = codebook[codes[k]].</summary>
    public static void CsrGemmCodebook(ReadOnlySpan<float> x, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, ReadOnlySpan<byte> codes,
        ReadOnlySpan<float> codebook, ReadOnlySpan<float> bias, Span<float> y, int batch, int inFeatures, int outFeatures) =>
        CsrGemmCodebook(x, rowPtr, colIdx, codes, codebook, bias, y, batch, inFeatures, outFeatures, SimdSupport.Best);

    /// <summary>CSR layer whose values are 16-bit codes into <paramref name="codebook"/>.</summary>
    public static void CsrGemmCodebook(ReadOnlySpan<float> x, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, ReadOnlySpan<ushort> codes,
        ReadOnlySpan<float> codebook, ReadOnlySpan<float> bias, Span<float> y, int batch, int inFeatures, int outFeatures) =>
        CsrGemmCodebook(x, rowPtr, colIdx, codes, codebook, bias, y, batch, inFeatures, outFeatures, SimdSupport.Best);

    /// <summary>CSR layer with fixed-point values: value k of row o = q[k]·scale, scale = <paramref name="rowScales"/>[0]
    /// (length 1) or <paramref name="rowScales"/>[o] (length outFeatures).</summary>
    public static void CsrGemmFixedPoint(ReadOnlySpan<float> x, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, ReadOnlySpan<short> q,
        ReadOnlySpan<float> rowScales, ReadOnlySpan<float> bias, Span<float> y, int batch, int inFeatures, int outFeatures) =>
        CsrGemmFixedPoint(x, rowPtr, colIdx, q, rowScales, bias, y, batch, inFeatures, outFeatures, SimdSupport.Best);

    internal static void CsrGemm(ReadOnlySpan<float> x, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, ReadOnlySpan<float> values,
        ReadOnlySpan<float> bias, Span<float> y, int batch, int inFeatures, int outFeatures, SimdLevel level)
    {
        CheckShapes(x.Length, rowPtr, colIdx, values.Length, bias.Length, y.Length, batch, inFeatures, outFeatures);
        fixed (float* px = x, pv = values, pb = bias, py = y)
        fixed (int* pr = rowPtr, pc = colIdx)
            Run(new DenseValues(pv), pr, pc, px, bias.IsEmpty ? null : pb, py, batch, inFeatures, outFeatures, level);
    }

    internal static void CsrGemmCodebook(ReadOnlySpan<float> x, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, ReadOnlySpan<byte> codes,
        ReadOnlySpan<float> codebook, ReadOnlySpan<float> bias, Span<float> y, int batch, int inFeatures, int outFeatures, SimdLevel level)
    {
        int nnz = CheckShapes(x.Length, rowPtr, colIdx, codes.Length, bias.Length, y.Length, batch, inFeatures, outFeatures);
        KernelArgumentChecks.Codes(codes[..nnz], codebook.Length);
        fixed (float* px = x, pk = codebook, pb = bias, py = y)
        fixed (byte* pq = codes)
        fixed (int* pr = rowPtr, pc = colIdx)
            Run(new ByteCodebookValues(pq, pk), pr, pc, px, bias.IsEmpty ? null : pb, py, batch, inFeatures, outFeatures, level);
    }

    internal static void CsrGemmCodebook(ReadOnlySpan<float> x, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, ReadOnlySpan<ushort> codes,
        ReadOnlySpan<float> codebook, ReadOnlySpan<float> bias, Span<float> y, int batch, int inFeatures, int outFeatures, SimdLevel level)
    {
        int nnz = CheckShapes(x.Length, rowPtr, colIdx, codes.Length, bias.Length, y.Length, batch, inFeatures, outFeatures);
        KernelArgumentChecks.Codes(codes[..nnz], codebook.Length);
        fixed (float* px = x, pk = codebook, pb = bias, py = y)
        fixed (ushort* pq = codes)
        fixed (int* pr = rowPtr, pc = colIdx)
            Run(new UInt16CodebookValues(pq, pk), pr, pc, px, bias.IsEmpty ? null : pb, py, batch, inFeatures, outFeatures, level);
    }

    internal static void CsrGemmFixedPoint(ReadOnlySpan<float> x, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, ReadOnlySpan<short> q,
        ReadOnlySpan<float> rowScales, ReadOnlySpan<float> bias, Span<float> y, int batch, int inFeatures, int outFeatures, SimdLevel level)
    {
        CheckShapes(x.Length, rowPtr, colIdx, q.Length, bias.Length, y.Length, batch, inFeatures, outFeatures);
        KernelArgumentChecks.RowScales(rowScales.Length, outFeatures);
        fixed (float* px = x, ps = rowScales, pb = bias, py = y)
        fixed (short* pq = q)
        fixed (int* pr = rowPtr, pc = colIdx)
            Run(new FixedPointValues(pq, ps, rowScales.Length > 1), pr, pc, px, bias.IsEmpty ? null : pb, py, batch, inFeatures, outFeatures, level);
    }

    private static int CheckShapes(int xLength, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, int valueCount, int biasLength, int yLength,
        int batch, int inFeatures, int outFeatures)
    {
        KernelArgumentChecks.NonNegative(batch, nameof(batch));
        KernelArgumentChecks.Positive(inFeatures, nameof(inFeatures));
        KernelArgumentChecks.Positive(outFeatures, nameof(outFeatures));
        KernelArgumentChecks.AtLeast(xLength, (long)batch * inFeatures, "x");
        KernelArgumentChecks.Bias(biasLength, outFeatures);
        KernelArgumentChecks.AtLeast(yLength, (long)batch * outFeatures, "y");
        return KernelArgumentChecks.Csr(rowPtr, colIdx, valueCount, outFeatures, inFeatures);
    }

    /// <summary>Unchecked entry for callers that validated the CSR structure once (the engine).</summary>
    internal static void Run<TW>(TW w, int* rowPtr, int* colIdx, float* x, float* bias, float* y, int batch, int inFeatures, int outFeatures, SimdLevel level)
        where TW : struct, IWeightValues
    {
        if (batch <= 0) return;
        if (level == SimdLevel.Scalar)
        {
            Scalar(w, rowPtr, colIdx, x, bias, y, batch, inFeatures, outFeatures);
            return;
        }
        if (batch < TransposeFromBatch)
        {
            for (int b = 0; b < batch; b++)
                Rows(w, rowPtr, colIdx, x + (nint)b * inFeatures, bias, y + (nint)b * outFeatures, outFeatures, level);
            return;
        }
        // x → xᵀ [in, batch] and yᵀ [out, batch] live in one pooled buffer: after the first call of a given
        // size, renting from the shared pool does not allocate.
        int need = checked((inFeatures + outFeatures) * batch);
        float[] rented = ArrayPool<float>.Shared.Rent(need);
        try
        {
            fixed (float* scratch = rented)
            {
                float* xT = scratch, yT = scratch + (nint)inFeatures * batch;
                Transpose(x, xT, batch, inFeatures);
                Transposed(w, rowPtr, colIdx, xT, batch, batch, yT, batch, bias, outFeatures, level);
                Transpose(yT, y, outFeatures, batch);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>The reference path.</summary>
    internal static void Scalar<TW>(TW w, int* rowPtr, int* colIdx, float* x, float* bias, float* y, int batch, int inFeatures, int outFeatures)
        where TW : struct, IWeightValues
    {
        for (int b = 0; b < batch; b++)
        {
            float* xb = x + (nint)b * inFeatures;
            for (int o = 0; o < outFeatures; o++)
            {
                float sum = 0;
                for (int k = rowPtr[o]; k < rowPtr[o + 1]; k++) sum += w.Value(k) * xb[colIdx[k]];
                y[(nint)b * outFeatures + o] = sum * w.RowScale(o) + (bias == null ? 0f : bias[o]);
            }
        }
    }

    /// <summary>One input row (batch 1): y[o] for all o.</summary>
    internal static void Rows<TW>(TW w, int* rowPtr, int* colIdx, float* x, float* bias, float* y, int rows, SimdLevel level)
        where TW : struct, IWeightValues
    {
        switch (level)
        {
            case SimdLevel.Vector512:
                RowsGather<Vector512<float>, Vector512Ops, TW>(w, rowPtr, colIdx, x, bias, y, rows);
                break;
            case SimdLevel.Vector256:
                RowsGather<Vector256<float>, Vector256Ops, TW>(w, rowPtr, colIdx, x, bias, y, rows);
                break;
            default:
                RowsUnrolled(w, rowPtr, colIdx, x, bias, y, rows);
                break;
        }
    }

    private static void RowsGather<TVec, TOps, TW>(TW w, int* rowPtr, int* colIdx, float* x, float* bias, float* y, int rows)
        where TVec : struct where TOps : struct, IVectorOps<TVec> where TW : struct, IWeightValues
    {
        int c = TOps.Count;
        for (int o = 0; o < rows; o++)
        {
            int k = rowPtr[o], end = rowPtr[o + 1];
            TVec a0 = TOps.Zero, a1 = TOps.Zero;
            for (; k + 2 * c <= end; k += 2 * c)
            {
                a0 = TOps.MultiplyAdd(TOps.Gather(x, colIdx + k), TOps.LoadWeights(w, k), a0);
                a1 = TOps.MultiplyAdd(TOps.Gather(x, colIdx + k + c), TOps.LoadWeights(w, k + c), a1);
            }
            if (k + c <= end)
            {
                a0 = TOps.MultiplyAdd(TOps.Gather(x, colIdx + k), TOps.LoadWeights(w, k), a0);
                k += c;
            }
            float s0 = TOps.Sum(TOps.Add(a0, a1)), s1 = 0;
            for (; k + 1 < end; k += 2)
            {
                s0 += w.Value(k) * x[colIdx[k]];
                s1 += w.Value(k + 1) * x[colIdx[k + 1]];
            }
            if (k < end) s0 += w.Value(k) * x[colIdx[k]];
            y[o] = (s0 + s1) * w.RowScale(o) + (bias == null ? 0f : bias[o]);
        }
    }

    /// <summary>Scalar loads with four independent sums (for machines without gathers, and to compare with them).</summary>
    internal static void RowsUnrolled<TW>(TW w, int* rowPtr, int* colIdx, float* x, float* bias, float* y, int rows)
        where TW : struct, IWeightValues
    {
        for (int o = 0; o < rows; o++)
        {
            int k = rowPtr[o], end = rowPtr[o + 1];
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (; k + 4 <= end; k += 4)
            {
                s0 += w.Value(k) * x[colIdx[k]];
                s1 += w.Value(k + 1) * x[colIdx[k + 1]];
                s2 += w.Value(k + 2) * x[colIdx[k + 2]];
                s3 += w.Value(k + 3) * x[colIdx[k + 3]];
            }
            for (; k < end; k++) s0 += w.Value(k) * x[colIdx[k]];
            y[o] = (s0 + s1 + (s2 + s3)) * w.RowScale(o) + (bias == null ? 0f : bias[o]);
        }
    }

    /// <summary>
    /// yT[o, c] = scale(o)·Σₖ value(k)·xT[colIdx[k], c] + bias[o] for c in [0, cols): the input is given
    /// column-major per feature (row stride <paramref name="ldx"/>), as after a transpose or an im2col.
    /// </summary>
    internal static void Transposed<TW>(TW w, int* rowPtr, int* colIdx, float* xT, nint ldx, int cols, float* yT, nint ldy,
        float* bias, int rows, SimdLevel level)
        where TW : struct, IWeightValues
    {
        switch (level)
        {
            case SimdLevel.Vector512:
                Transposed<Vector512<float>, Vector512Ops, TW>(w, rowPtr, colIdx, xT, ldx, cols, yT, ldy, bias, rows);
                break;
            case SimdLevel.Vector256:
                Transposed<Vector256<float>, Vector256Ops, TW>(w, rowPtr, colIdx, xT, ldx, cols, yT, ldy, bias, rows);
                break;
            case SimdLevel.Vector128:
                Transposed<Vector128<float>, Vector128Ops, TW>(w, rowPtr, colIdx, xT, ldx, cols, yT, ldy, bias, rows);
                break;
            default:
                TransposedScalar(w, rowPtr, colIdx, xT, ldx, 0, cols, yT, ldy, bias, rows);
                break;
        }
    }

    private static void Transposed<TVec, TOps, TW>(TW w, int* rowPtr, int* colIdx, float* xT, nint ldx, int cols, float* yT, nint ldy,
        float* bias, int rows)
        where TVec : struct where TOps : struct, IVectorOps<TVec> where TW : struct, IWeightValues
    {
        int c = TOps.Count, col = 0;
        for (; col + 4 * c <= cols; col += 4 * c)
            for (int o = 0; o < rows; o++)
            {
                TVec a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero;
                for (int k = rowPtr[o], end = rowPtr[o + 1]; k < end; k++)
                {
                    TVec v = TOps.Broadcast(w.Value(k));
                    float* p = xT + colIdx[k] * ldx + col;
                    a0 = TOps.MultiplyAdd(TOps.Load(p), v, a0);
                    a1 = TOps.MultiplyAdd(TOps.Load(p + c), v, a1);
                    a2 = TOps.MultiplyAdd(TOps.Load(p + 2 * c), v, a2);
                    a3 = TOps.MultiplyAdd(TOps.Load(p + 3 * c), v, a3);
                }
                TVec scale = TOps.Broadcast(w.RowScale(o)), shift = TOps.Broadcast(bias == null ? 0f : bias[o]);
                float* q = yT + o * ldy + col;
                TOps.Store(TOps.MultiplyAdd(a0, scale, shift), q);
                TOps.Store(TOps.MultiplyAdd(a1, scale, shift), q + c);
                TOps.Store(TOps.MultiplyAdd(a2, scale, shift), q + 2 * c);
                TOps.Store(TOps.MultiplyAdd(a3, scale, shift), q + 3 * c);
            }
        for (; col + c <= cols; col += c)
            for (int o = 0; o < rows; o++)
            {
                TVec a0 = TOps.Zero, a1 = TOps.Zero;
                int k = rowPtr[o], end = rowPtr[o + 1];
                for (; k + 1 < end; k += 2)
                {
                    a0 = TOps.MultiplyAdd(TOps.Load(xT + colIdx[k] * ldx + col), TOps.Broadcast(w.Value(k)), a0);
                    a1 = TOps.MultiplyAdd(TOps.Load(xT + colIdx[k + 1] * ldx + col), TOps.Broadcast(w.Value(k + 1)), a1);
                }
                if (k < end) a0 = TOps.MultiplyAdd(TOps.Load(xT + colIdx[k] * ldx + col), TOps.Broadcast(w.Value(k)), a0);
                TOps.Store(TOps.MultiplyAdd(TOps.Add(a0, a1), TOps.Broadcast(w.RowScale(o)), TOps.Broadcast(bias == null ? 0f : bias[o])),
                    yT + o * ldy + col);
            }
        if (col < cols) TransposedScalar(w, rowPtr, colIdx, xT, ldx, col, cols, yT, ldy, bias, rows);
    }

    private static void TransposedScalar<TW>(TW w, int* rowPtr, int* colIdx, float* xT, nint ldx, int fromCol, int cols, float* yT, nint ldy,
        float* bias, int rows)
        where TW : struct, IWeightValues
    {
        for (int o = 0; o < rows; o++)
            for (int col = fromCol; col < cols; col++)
            {
                float sum = 0;
                for (int k = rowPtr[o]; k < rowPtr[o + 1]; k++) sum += w.Value(k) * xT[colIdx[k] * ldx + col];
                yT[o * ldy + col] = sum * w.RowScale(o) + (bias == null ? 0f : bias[o]);
            }
    }

    /// <summary>dst[c, r] = src[r, c] for a [rows, cols] source, in cache-sized blocks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Transpose(float* src, float* dst, int rows, int cols)
    {
        const int Block = 16;
        for (int r0 = 0; r0 < rows; r0 += Block)
        {
            int r1 = Math.Min(r0 + Block, rows);
            for (int c0 = 0; c0 < cols; c0 += Block)
            {
                int c1 = Math.Min(c0 + Block, cols);
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++)
                        dst[(nint)c * rows + r] = src[(nint)r * cols + c];
            }
        }
    }
}
