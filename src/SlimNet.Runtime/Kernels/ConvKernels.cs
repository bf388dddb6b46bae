using System.Runtime.CompilerServices;
namespace SlimNet.Runtime.Kernels;

/// <summary>
/// 2-D convolution over NCHW float32 tensors (groups = 1, square stride and padding, zero padding).
/// Output size per spatial dimension: (size + 2·pad − kernel) / stride + 1.
/// Both paths unfold each image into [C·kh·kw, Ho·Wo] (im2col) and compute y[o, :] = Σₖ W[o, k]·col[k, :]
/// as broadcast-weight × pixel-vector FMAs: the result comes out in the output layout with no transpose and
/// no horizontal sums, which matters for the small C·kh·kw and O of early layers (a dot-product GEMM over
/// 25-long patches spent most of its time in reductions). Dense weights walk every column of a row, CSR
/// weights only their non-zeros.
/// </summary>
public static unsafe class ConvKernels
{
    /// <summary>Output size of one spatial dimension.</summary>
    public static int OutputSize(int size, int kernel, int stride, int pad) => (size + 2 * pad - kernel) / stride + 1;

    /// <summary>
    /// Floats of scratch the dense <c>Conv2d</c> needs: C·kh·kw·Ho·Wo — one image unfolded (reused for every
    /// image of the batch). <paramref name="o"/> does not change it; it is a parameter so that callers need
    /// not know the layout.
    /// </summary>
    public static int ScratchSize(int c, int h, int wIn, int o, int kh, int kw, int stride, int pad) =>
        SparseScratchSize(c, h, wIn, kh, kw, stride, pad);

    /// <summary>Floats of scratch the CSR convolutions need: C·kh·kw·Ho·Wo (one image's unfolded input).</summary>
    public static int SparseScratchSize(int c, int h, int wIn, int kh, int kw, int stride, int pad) =>
        checked((int)((long)c * kh * kw * OutputSize(h, kh, stride, pad) * OutputSize(wIn, kw, stride, pad)));

    /// <summary>Dense convolution: x [n, c, h, wIn], w [o, c, kh, kw], bias [o] or empty, y [n, o, Ho, Wo];
    /// <paramref name="scratch"/> needs <see cref="ScratchSize"/> floats.</summary>
    public static void Conv2d(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y,
        int n, int c, int h, int wIn, int o, int kh, int kw, int stride, int pad, Span<float> scratch) =>
        Conv2d(x, w, bias, y, n, c, h, wIn, o, kh, kw, stride, pad, scratch, SimdSupport.Best);

    internal static void Conv2d(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, Span<float> y,
        int n, int c, int h, int wIn, int o, int kh, int kw, int stride, int pad, Span<float> scratch, SimdLevel level)
    {
        var g = Geometry.Create(n, c, h, wIn, o, kh, kw, stride, pad);
        g.Check(x.Length, y.Length, bias.Length);
        KernelArgumentChecks.AtLeast(w.Length, (long)o * g.PatchSize, nameof(w));
        KernelArgumentChecks.AtLeast(scratch.Length, ScratchSize(c, h, wIn, o, kh, kw, stride, pad), nameof(scratch));
        fixed (float* px = x, pw = w, pb = bias, py = y, ps = scratch)
            RunDense(new DenseValues(pw), px, bias.IsEmpty ? null : pb, py, ps, g, level);
    }

    /// <summary>
    /// Convolution with W as CSR over the flattened [o, c·kh·kw] matrix (column index = (ci·kh + ky)·kw + kx).
    /// <paramref name="scratch"/> needs <see cref="SparseScratchSize"/> floats.
    /// </summary>
    public static void CsrConv2d(ReadOnlySpan<float> x, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, ReadOnlySpan<float> values,
        ReadOnlySpan<float> bias, Span<float> y, int n, int c, int h, int wIn, int o, int kh, int kw, int stride, int pad, Span<float> scratch) =>
        CsrConv2d(x, rowPtr, colIdx, values, bias, y, n, c, h, wIn, o, kh, kw, stride, pad, scratch, SimdSupport.Best);

    /// <summary>CSR convolution whose values are byte codes into <paramref name="codebook"/>.</summary>
    public static void CsrConv2dCodebook(ReadOnlySpan<float> x, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, ReadOnlySpan<byte> codes,
        ReadOnlySpan<float> codebook, ReadOnlySpan<float> bias, Span<float> y, int n, int c, int h, int wIn, int o, int kh, int kw,
        int stride, int pad, Span<float> scratch)
    {
        var g = Geometry.Create(n, c, h, wIn, o, kh, kw, stride, pad);
        int nnz = CheckSparse(g, x.Length, rowPtr, colIdx, codes.Length, bias.Length, y.Length, scratch.Length);
        KernelArgumentChecks.Codes(codes[..nnz], codebook.Length);
        fixed (float* px = x, pk = codebook, pb = bias, py = y, ps = scratch)
        fixed (byte* pq = codes)
        fixed (int* pr = rowPtr, pc = colIdx)
            RunSparse(new ByteCodebookValues(pq, pk), pr, pc, px, bias.IsEmpty ? null : pb, py, ps, g, SimdSupport.Best);
    }

    /// <summary>CSR convolution with fixed-point values q·scale (<paramref name="rowScales"/> of length 1 or o).</summary>
    public static void CsrConv2dFixedPoint(ReadOnlySpan<float> x, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, ReadOnlySpan<short> q,
        ReadOnlySpan<float> rowScales, ReadOnlySpan<float> bias, Span<float> y, int n, int c, int h, int wIn, int o, int kh, int kw,
        int stride, int pad, Span<float> scratch)
    {
        var g = Geometry.Create(n, c, h, wIn, o, kh, kw, stride, pad);
        CheckSparse(g, x.Length, rowPtr, colIdx, q.Length, bias.Length, y.Length, scratch.Length);
        KernelArgumentChecks.RowScales(rowScales.Length, o);
        fixed (float* px = x, ps2 = rowScales, pb = bias, py = y, ps = scratch)
        fixed (short* pq = q)
        fixed (int* pr = rowPtr, pc = colIdx)
            RunSparse(new FixedPointValues(pq, ps2, rowScales.Length > 1), pr, pc, px, bias.IsEmpty ? null : pb, py, ps, g, SimdSupport.Best);
    }

    internal static void CsrConv2d(ReadOnlySpan<float> x, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, ReadOnlySpan<float> values,
        ReadOnlySpan<float> bias, Span<float> y, int n, int c, int h, int wIn, int o, int kh, int kw, int stride, int pad, Span<float> scratch,
        SimdLevel level)
    {
        var g = Geometry.Create(n, c, h, wIn, o, kh, kw, stride, pad);
        CheckSparse(g, x.Length, rowPtr, colIdx, values.Length, bias.Length, y.Length, scratch.Length);
        fixed (float* px = x, pv = values, pb = bias, py = y, ps = scratch)
        fixed (int* pr = rowPtr, pc = colIdx)
            RunSparse(new DenseValues(pv), pr, pc, px, bias.IsEmpty ? null : pb, py, ps, g, level);
    }

    private static int CheckSparse(in Geometry g, int xLength, ReadOnlySpan<int> rowPtr, ReadOnlySpan<int> colIdx, int valueCount,
        int biasLength, int yLength, int scratchLength)
    {
        g.Check(xLength, yLength, biasLength);
        KernelArgumentChecks.AtLeast(scratchLength, (long)g.PatchSize * g.Pixels, "scratch");
        return KernelArgumentChecks.Csr(rowPtr, colIdx, valueCount, g.O, g.PatchSize);
    }

    /// <summary>Sizes of one convolution, derived once.</summary>
    internal readonly record struct Geometry(int N, int C, int H, int W, int O, int Kh, int Kw, int Stride, int Pad, int Ho, int Wo)
    {
        public int PatchSize => C * Kh * Kw;
        public int Pixels => Ho * Wo;

        public static Geometry Create(int n, int c, int h, int w, int o, int kh, int kw, int stride, int pad)
        {
            KernelArgumentChecks.NonNegative(n, nameof(n));
            KernelArgumentChecks.Positive(c, nameof(c));
            KernelArgumentChecks.Positive(h, nameof(h));
            KernelArgumentChecks.Positive(w, "wIn");
            KernelArgumentChecks.Positive(o, nameof(o));
            KernelArgumentChecks.Positive(kh, nameof(kh));
            KernelArgumentChecks.Positive(kw, nameof(kw));
            KernelArgumentChecks.Positive(stride, nameof(stride));
            KernelArgumentChecks.NonNegative(pad, nameof(pad));
            int ho = OutputSize(h, kh, stride, pad), wo = OutputSize(w, kw, stride, pad);
            if (h + 2 * pad < kh || w + 2 * pad < kw || ho <= 0 || wo <= 0)
                throw new ArgumentException($"kernel {kh}x{kw} does not fit the padded input {h + 2 * pad}x{w + 2 * pad}");
            return new Geometry(n, c, h, w, o, kh, kw, stride, pad, ho, wo);
        }

        public void Check(int xLength, int yLength, int biasLength)
        {
            KernelArgumentChecks.AtLeast(xLength, (long)N * C * H * W, "x");
            KernelArgumentChecks.AtLeast(yLength, (long)N * O * Ho * Wo, "y");
            KernelArgumentChecks.Bias(biasLength, O);
        }
    }

    internal static void RunDense<TW>(TW w, float* x, float* bias, float* y, float* scratch, in Geometry g, SimdLevel level)
        where TW : struct, IWeightValues
    {
        int p = g.Pixels;
        for (int img = 0; img < g.N; img++)
        {
            Im2ColRows(x + (nint)img * g.C * g.H * g.W, scratch, g);
            SparseKernels.Transposed(w, new DenseRowPattern(g.PatchSize), scratch, p, p, y + (nint)img * g.O * p, p, bias, g.O, level);
        }
    }

    internal static void RunSparse<TW>(TW w, int* rowPtr, int* colIdx, float* x, float* bias, float* y, float* scratch, in Geometry g, SimdLevel level)
        where TW : struct, IWeightValues
    {
        int p = g.Pixels;
        for (int img = 0; img < g.N; img++)
        {
            Im2ColRows(x + (nint)img * g.C * g.H * g.W, scratch, g);
            SparseKernels.Transposed(w, new CsrPattern(rowPtr, colIdx), scratch, p, p, y + (nint)img * g.O * p, p, bias, g.O, level);
        }
    }

    /// <summary>rows[(ci·kh + ky)·kw + kx, p] = x[ci, oy·s − pad + ky, ox·s − pad + kx] (0 outside).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Im2ColRows(float* x, float* rows, in Geometry g)
    {
        int p = g.Pixels;
        for (int ci = 0; ci < g.C; ci++)
        {
            float* plane = x + (nint)ci * g.H * g.W;
            for (int ky = 0; ky < g.Kh; ky++)
                for (int kx = 0; kx < g.Kw; kx++)
                {
                    float* dst = rows + (nint)((ci * g.Kh + ky) * g.Kw + kx) * p;
                    for (int oy = 0; oy < g.Ho; oy++)
                    {
                        int iy = oy * g.Stride - g.Pad + ky;
                        float* d = dst + oy * g.Wo;
                        if ((uint)iy >= (uint)g.H)
                        {
                            new Span<float>(d, g.Wo).Clear();
                            continue;
                        }
                        float* src = plane + (nint)iy * g.W;
                        int ix = kx - g.Pad;
                        if (g.Stride == 1 && ix >= 0 && ix + g.Wo <= g.W)
                        {
                            new ReadOnlySpan<float>(src + ix, g.Wo).CopyTo(new Span<float>(d, g.Wo));
                            continue;
                        }
                        for (int ox = 0; ox < g.Wo; ox++, ix += g.Stride)
                            d[ox] = (uint)ix < (uint)g.W ? src[ix] : 0f;
                    }
                }
        }
    }
}
