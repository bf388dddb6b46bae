using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SlimNet.Runtime.Kernels;

/// <summary>
/// Fully connected layers whose weight matrix W ([out, in]) is stored in CSR form with rows = output
/// features: the non-zeros of row o are <c>values[rowPtr[o]..rowPtr[o+1])</c> at input columns
/// <c>colIdx[...]</c>. y[b, o] = Σ W[o, i]·x[b, i] + bias[o].
/// Batches of 1–3 assemble the inputs a row touches into vectors from scalar loads (measured faster than
/// AVX2 gathers on Zen; gathers stay available) and multiply them with contiguous weight vectors, so a
/// non-zero costs about two loads. Batch 4 and more transposes x once to [in, batch] so that each non-zero
/// is one broadcast weight times a contiguous slice of the batch (an axpy across the batch), which reads
/// each non-zero once per 64 batch rows instead of once per row.
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

    /// <summary>Unchecked entry for callers that validated the CSR structure once (the engine). <paramref name="scratch"/>
    /// holds <see cref="ScratchSize"/> floats, or is null to borrow from the shared array pool.</summary>
    internal static void Run<TW>(TW w, int* rowPtr, int* colIdx, float* x, float* bias, float* y, int batch, int inFeatures, int outFeatures, SimdLevel level,
        float* scratch = null)
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
        if (scratch != null)
        {
            RunTransposed(w, rowPtr, colIdx, x, bias, y, batch, inFeatures, outFeatures, level, scratch);
            return;
        }
        // After the first call of a given size, renting from the shared pool does not allocate.
        float[] rented = ArrayPool<float>.Shared.Rent(ScratchSize(batch, inFeatures, outFeatures));
        try
        {
            fixed (float* pooled = rented)
                RunTransposed(w, rowPtr, colIdx, x, bias, y, batch, inFeatures, outFeatures, level, pooled);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>Floats of scratch <see cref="Run"/> uses for a batch: xᵀ [in, batch] and yᵀ [out, batch] (0 below <see cref="TransposeFromBatch"/>).</summary>
    internal static int ScratchSize(int batch, int inFeatures, int outFeatures) =>
        batch < TransposeFromBatch ? 0 : checked((inFeatures + outFeatures) * batch);

    private static void RunTransposed<TW>(TW w, int* rowPtr, int* colIdx, float* x, float* bias, float* y, int batch, int inFeatures, int outFeatures,
        SimdLevel level, float* scratch)
        where TW : struct, IWeightValues
    {
        float* xT = scratch, yT = scratch + (nint)inFeatures * batch;
        Transpose(x, xT, batch, inFeatures);
        Transposed(w, new CsrPattern(rowPtr, colIdx), xT, batch, batch, yT, batch, bias, outFeatures, level);
        Transpose(yT, y, outFeatures, batch);
    }

    /// <summary>The reference path.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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

    /// <summary>
    /// Whether batch-1 rows use vector gathers. Off: on the AMD Zen core this was tuned on, .NET's AVX2 gathers
    /// (it has no 512-bit gather API) lose to inputs assembled from scalar loads — for 784×300 at 8 % density,
    /// 6.9 µs with gathers, 5.8 µs with eight scalar sums, 4.7 µs assembled. Cores with fast gathers may differ.
    /// </summary>
    internal static bool UseGathers;

    /// <summary>One input row (batch 1): y[o] for all o.</summary>
    internal static void Rows<TW>(TW w, int* rowPtr, int* colIdx, float* x, float* bias, float* y, int rows, SimdLevel level)
        where TW : struct, IWeightValues
    {
        switch (level)
        {
            case SimdLevel.Vector512 when UseGathers:
                RowsGather<Vector512<float>, Vector512Ops, TW>(w, rowPtr, colIdx, x, bias, y, rows);
                break;
            case SimdLevel.Vector256 when UseGathers:
                RowsGather<Vector256<float>, Vector256Ops, TW>(w, rowPtr, colIdx, x, bias, y, rows);
                break;
            case SimdLevel.Vector512 or SimdLevel.Vector256:
                RowsAssembled(w, rowPtr, colIdx, x, bias, y, rows);
                break;
            case SimdLevel.Vector128:
                RowsAssembled128(w, rowPtr, colIdx, x, bias, y, rows);
                break;
            default:
                Scalar(w, rowPtr, colIdx, x, bias, y, batch: 1, inFeatures: 0, rows); // one row: the row stride is never used
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void RowsGather<TVec, TOps, TW>(TW w, int* rowPtr, int* colIdx, float* x, float* bias, float* y, int rows)
        where TVec : struct where TOps : struct, IVectorOps<TVec> where TW : struct, IWeightValues
    {
        int c = TOps.Count;
        for (int o = 0; o < rows; o++)
        {
            int start = rowPtr[o], k = start, end = rowPtr[o + 1];
            float sum;
            if (end - start < c)
            {
                sum = 0;
                for (; k < end; k++) sum += w.Value(k) * x[colIdx[k]];
            }
            else
            {
                // Gathers have long latency but are independent, so four sums keep several in flight.
                TVec a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero;
                for (; k + 4 * c <= end; k += 4 * c)
                {
                    a0 = TOps.MultiplyAdd(TOps.Gather(x, colIdx + k), TOps.LoadWeights(w, k), a0);
                    a1 = TOps.MultiplyAdd(TOps.Gather(x, colIdx + k + c), TOps.LoadWeights(w, k + c), a1);
                    a2 = TOps.MultiplyAdd(TOps.Gather(x, colIdx + k + 2 * c), TOps.LoadWeights(w, k + 2 * c), a2);
                    a3 = TOps.MultiplyAdd(TOps.Gather(x, colIdx + k + 3 * c), TOps.LoadWeights(w, k + 3 * c), a3);
                }
                for (; k + c <= end; k += c)
                    a0 = TOps.MultiplyAdd(TOps.Gather(x, colIdx + k), TOps.LoadWeights(w, k), a0);
                if (k < end)
                {
                    // The row has at least one full vector, so the tail is the row's last vector with the
                    // lanes already summed masked off: its indices stay inside the row.
                    TVec mask = TOps.TailMask(end - k);
                    k = end - c;
                    a1 = TOps.Add(a1, TOps.And(TOps.Multiply(TOps.Gather(x, colIdx + k), TOps.LoadWeights(w, k)), mask));
                }
                sum = TOps.Sum(TOps.Add(TOps.Add(a0, a1), TOps.Add(a2, a3)));
            }
            y[o] = sum * w.RowScale(o) + (bias == null ? 0f : bias[o]);
        }
    }

    /// <summary>
    /// Batch-1 rows with the inputs assembled into vectors by scalar loads (no gather instruction) and the
    /// weights read as vectors, so each non-zero costs two loads instead of three.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void RowsAssembled<TW>(TW w, int* rowPtr, int* colIdx, float* x, float* bias, float* y, int rows)
        where TW : struct, IWeightValues
    {
        for (int o = 0; o < rows; o++)
        {
            nint k = rowPtr[o], end = rowPtr[o + 1];
            Vector256<float> a0 = Vector256<float>.Zero, a1 = Vector256<float>.Zero;
            for (; k + 16 <= end; k += 16)
            {
                int* c = colIdx + k;
                a0 = Vector256.FusedMultiplyAdd(w.Load256(k),
                    Vector256.Create(x[c[0]], x[c[1]], x[c[2]], x[c[3]], x[c[4]], x[c[5]], x[c[6]], x[c[7]]), a0);
                a1 = Vector256.FusedMultiplyAdd(w.Load256(k + 8),
                    Vector256.Create(x[c[8]], x[c[9]], x[c[10]], x[c[11]], x[c[12]], x[c[13]], x[c[14]], x[c[15]]), a1);
            }
            float s0 = Vector256.Sum(a0 + a1), s1 = 0, s2 = 0, s3 = 0;
            for (; k + 4 <= end; k += 4)
            {
                int* c = colIdx + k;
                s0 += w.Value(k) * x[c[0]];
                s1 += w.Value(k + 1) * x[c[1]];
                s2 += w.Value(k + 2) * x[c[2]];
                s3 += w.Value(k + 3) * x[c[3]];
            }
            for (; k < end; k++) s0 += w.Value(k) * x[colIdx[k]];
            y[o] = ((s0 + s1) + (s2 + s3)) * w.RowScale(o) + (bias == null ? 0f : bias[o]);
        }
    }

    /// <summary>The 128-bit form of <see cref="RowsAssembled"/> (for machines without 256-bit vectors).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void RowsAssembled128<TW>(TW w, int* rowPtr, int* colIdx, float* x, float* bias, float* y, int rows)
        where TW : struct, IWeightValues
    {
        for (int o = 0; o < rows; o++)
        {
            nint k = rowPtr[o], end = rowPtr[o + 1];
            Vector128<float> a0 = Vector128<float>.Zero, a1 = Vector128<float>.Zero, a2 = Vector128<float>.Zero, a3 = Vector128<float>.Zero;
            for (; k + 16 <= end; k += 16)
            {
                int* c = colIdx + k;
                a0 = Vector128.FusedMultiplyAdd(w.Load128(k), Vector128.Create(x[c[0]], x[c[1]], x[c[2]], x[c[3]]), a0);
                a1 = Vector128.FusedMultiplyAdd(w.Load128(k + 4), Vector128.Create(x[c[4]], x[c[5]], x[c[6]], x[c[7]]), a1);
                a2 = Vector128.FusedMultiplyAdd(w.Load128(k + 8), Vector128.Create(x[c[8]], x[c[9]], x[c[10]], x[c[11]]), a2);
                a3 = Vector128.FusedMultiplyAdd(w.Load128(k + 12), Vector128.Create(x[c[12]], x[c[13]], x[c[14]], x[c[15]]), a3);
            }
            for (; k + 4 <= end; k += 4)
            {
                int* c = colIdx + k;
                a0 = Vector128.FusedMultiplyAdd(w.Load128(k), Vector128.Create(x[c[0]], x[c[1]], x[c[2]], x[c[3]]), a0);
            }
            float s0 = Vector128.Sum((a0 + a1) + (a2 + a3));
            for (; k < end; k++) s0 += w.Value(k) * x[colIdx[k]];
            y[o] = s0 * w.RowScale(o) + (bias == null ? 0f : bias[o]);
        }
    }

    /// <summary>
    /// yT[o, c] = scale(o)·Σₖ value(k)·xT[pattern.Column(k, start), c] + bias[o] for c in [0, cols): the input is given
    /// column-major per feature (row stride <paramref name="ldx"/>), as after a transpose or an im2col.
    /// </summary>
    internal static void Transposed<TW, TP>(TW w, TP pattern, float* xT, nint ldx, int cols, float* yT, nint ldy,
        float* bias, int rows, SimdLevel level)
        where TW : struct, IWeightValues where TP : struct, IRowPattern
    {
        // Columns are independent, so the widest vectors take what they can and narrower ones the rest: a batch of
        // 12 at AVX-512 runs as 8 + 4 lanes instead of falling back to scalar code below 16 columns.
        int done = 0;
        if (level >= SimdLevel.Vector512 && cols - done >= 16)
        {
            int n = (cols - done) & ~15;
            Transposed<Vector512<float>, Vector512Ops, TW, TP>(w, pattern, xT + done, ldx, n, yT + done, ldy, bias, rows);
            done += n;
        }
        if (level >= SimdLevel.Vector256 && cols - done >= 8)
        {
            int n = (cols - done) & ~7;
            Transposed<Vector256<float>, Vector256Ops, TW, TP>(w, pattern, xT + done, ldx, n, yT + done, ldy, bias, rows);
            done += n;
        }
        if (level >= SimdLevel.Vector128 && cols - done >= 4)
        {
            int n = (cols - done) & ~3;
            Transposed<Vector128<float>, Vector128Ops, TW, TP>(w, pattern, xT + done, ldx, n, yT + done, ldy, bias, rows);
            done += n;
        }
        if (done < cols) TransposedScalar(w, pattern, xT, ldx, done, cols, yT, ldy, bias, rows);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Transposed<TVec, TOps, TW, TP>(TW w, TP pattern, float* xT, nint ldx, int cols, float* yT, nint ldy,
        float* bias, int rows)
        where TVec : struct where TOps : struct, IVectorOps<TVec> where TW : struct, IWeightValues where TP : struct, IRowPattern
    {
        int c = TOps.Count, col = 0;
        for (; col + 4 * c <= cols; col += 4 * c)
            for (int o = 0; o < rows; o++)
            {
                // Two non-zeros per step into separate sums: one FMA chain per sum would otherwise wait on
                // the FMA latency at every non-zero.
                TVec a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero;
                TVec b0 = TOps.Zero, b1 = TOps.Zero, b2 = TOps.Zero, b3 = TOps.Zero;
                int start = pattern.Start(o), k = start, end = pattern.End(o);
                for (; k + 1 < end; k += 2)
                {
                    TVec v = TOps.Broadcast(w.Value(k)), u = TOps.Broadcast(w.Value(k + 1));
                    float* p = xT + pattern.Column(k, start) * ldx + col, p2 = xT + pattern.Column(k + 1, start) * ldx + col;
                    a0 = TOps.MultiplyAdd(TOps.Load(p), v, a0);
                    a1 = TOps.MultiplyAdd(TOps.Load(p + c), v, a1);
                    a2 = TOps.MultiplyAdd(TOps.Load(p + 2 * c), v, a2);
                    a3 = TOps.MultiplyAdd(TOps.Load(p + 3 * c), v, a3);
                    b0 = TOps.MultiplyAdd(TOps.Load(p2), u, b0);
                    b1 = TOps.MultiplyAdd(TOps.Load(p2 + c), u, b1);
                    b2 = TOps.MultiplyAdd(TOps.Load(p2 + 2 * c), u, b2);
                    b3 = TOps.MultiplyAdd(TOps.Load(p2 + 3 * c), u, b3);
                }
                if (k < end)
                {
                    TVec v = TOps.Broadcast(w.Value(k));
                    float* p = xT + pattern.Column(k, start) * ldx + col;
                    a0 = TOps.MultiplyAdd(TOps.Load(p), v, a0);
                    a1 = TOps.MultiplyAdd(TOps.Load(p + c), v, a1);
                    a2 = TOps.MultiplyAdd(TOps.Load(p + 2 * c), v, a2);
                    a3 = TOps.MultiplyAdd(TOps.Load(p + 3 * c), v, a3);
                }
                a0 = TOps.Add(a0, b0); a1 = TOps.Add(a1, b1); a2 = TOps.Add(a2, b2); a3 = TOps.Add(a3, b3);
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
                TVec a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero;
                int start = pattern.Start(o), k = start, end = pattern.End(o);
                for (; k + 3 < end; k += 4)
                {
                    a0 = TOps.MultiplyAdd(TOps.Load(xT + pattern.Column(k, start) * ldx + col), TOps.Broadcast(w.Value(k)), a0);
                    a1 = TOps.MultiplyAdd(TOps.Load(xT + pattern.Column(k + 1, start) * ldx + col), TOps.Broadcast(w.Value(k + 1)), a1);
                    a2 = TOps.MultiplyAdd(TOps.Load(xT + pattern.Column(k + 2, start) * ldx + col), TOps.Broadcast(w.Value(k + 2)), a2);
                    a3 = TOps.MultiplyAdd(TOps.Load(xT + pattern.Column(k + 3, start) * ldx + col), TOps.Broadcast(w.Value(k + 3)), a3);
                }
                for (; k < end; k++) a0 = TOps.MultiplyAdd(TOps.Load(xT + pattern.Column(k, start) * ldx + col), TOps.Broadcast(w.Value(k)), a0);
                TOps.Store(TOps.MultiplyAdd(TOps.Add(TOps.Add(a0, a1), TOps.Add(a2, a3)), TOps.Broadcast(w.RowScale(o)),
                    TOps.Broadcast(bias == null ? 0f : bias[o])), yT + o * ldy + col);
            }
        if (col < cols) TransposedScalar(w, pattern, xT, ldx, col, cols, yT, ldy, bias, rows);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransposedScalar<TW, TP>(TW w, TP pattern, float* xT, nint ldx, int fromCol, int cols, float* yT, nint ldy,
        float* bias, int rows)
        where TW : struct, IWeightValues where TP : struct, IRowPattern
    {
        for (int o = 0; o < rows; o++)
            for (int col = fromCol; col < cols; col++)
            {
                int start = pattern.Start(o), end = pattern.End(o);
                float sum = 0;
                for (int k = start; k < end; k++) sum += w.Value(k) * xT[pattern.Column(k, start) * ldx + col];
                yT[o * ldy + col] = sum * w.RowScale(o) + (bias == null ? 0f : bias[o]);
            }
    }

    /// <summary>dst[c, r] = src[r, c] for a [rows, cols] source: 8×8 register transposes where AVX is available, scalar edges.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Transpose(float* src, float* dst, int rows, int cols)
    {
        int r8 = 0, c8 = 0;
        if (Avx.IsSupported)
        {
            r8 = rows & ~7;
            c8 = cols & ~7;
            for (int r = 0; r < r8; r += 8)
                for (int c = 0; c < c8; c += 8)
                    Transpose8x8(src + (nint)r * cols + c, cols, dst + (nint)c * rows + r, rows);
        }
        // Whatever the blocks did not cover: the bottom rows, and the right columns of the block rows.
        for (int r = 0; r < rows; r++)
            for (int c = r < r8 ? c8 : 0; c < cols; c++)
                dst[(nint)c * rows + r] = src[(nint)r * cols + c];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* src, nint lds, float* dst, nint ldd)
    {
        Vector256<float> r0 = Avx.LoadVector256(src), r1 = Avx.LoadVector256(src + lds);
        Vector256<float> r2 = Avx.LoadVector256(src + 2 * lds), r3 = Avx.LoadVector256(src + 3 * lds);
        Vector256<float> r4 = Avx.LoadVector256(src + 4 * lds), r5 = Avx.LoadVector256(src + 5 * lds);
        Vector256<float> r6 = Avx.LoadVector256(src + 6 * lds), r7 = Avx.LoadVector256(src + 7 * lds);
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> s0 = Avx.Shuffle(t0, t2, 0x44), s1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> s2 = Avx.Shuffle(t1, t3, 0x44), s3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> s4 = Avx.Shuffle(t4, t6, 0x44), s5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> s6 = Avx.Shuffle(t5, t7, 0x44), s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(dst + ldd, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(dst + 2 * ldd, Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(dst + 3 * ldd, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(dst + 4 * ldd, Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(dst + 5 * ldd, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(dst + 6 * ldd, Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(dst + 7 * ldd, Avx.Permute2x128(s3, s7, 0x31));
    }
}
