using SlimNet.Runtime.Kernels;
using SlimNet.Runtime.Quantization;

namespace SlimNet.Runtime.Planning;

/// <summary>
/// One step of an execution plan. Steps read and write preallocated pinned buffers through raw pointers
/// sized for the session's maximum batch; <see cref="Run"/> allocates nothing.
/// </summary>
internal abstract unsafe class PlanStep
{
    /// <summary>Human-readable line for the plan listing, e.g. "fc1: Linear 784→300, CSR fixed point (fused)".</summary>
    public required string Description { get; set; }

    public abstract void Run(int batch);

    /// <summary>Copies x into y unless they are the same buffer (an in-place step); returns y.</summary>
    protected static Span<float> CopyIfDistinct(float* x, float* y, int length)
    {
        var dst = new Span<float>(y, length);
        if (x != y) new ReadOnlySpan<float>(x, length).CopyTo(dst);
        return dst;
    }
}

/// <summary>A Linear or Conv2d step, which can take over a ReLU that only it feeds: the ReLU then runs on
/// the output while it is still in cache, and the plan has one buffer pass less.</summary>
internal abstract unsafe class LayerStep(float* output, int outputSize) : PlanStep
{
    private bool _relu;

    /// <summary>The step's output buffer.</summary>
    protected float* Output => output;

    public void FuseRelu(string reluName)
    {
        _relu = true;
        Description += $", ReLU '{reluName}' fused";
    }

    protected void Finish(int batch)
    {
        if (_relu) ActivationKernels.Relu(new Span<float>(output, batch * outputSize));
    }
}

/// <summary>Pinned copies of a layer's weight arrays, kept alive for the pointers in the steps.</summary>
internal sealed unsafe class PinnedWeights
{
    public PinnedWeights(LayerWeights w)
    {
        Weights = w;
        if (w.RowPtr != null)
        {
            RowPtr = new PinnedBuffer<int>(w.RowPtr);
            ColIdx = new PinnedBuffer<int>(w.ColIdx!);
        }
        if (w.Floats != null) Floats = new PinnedBuffer<float>(w.Floats);
        if (w.ByteCodes != null) ByteCodes = new PinnedBuffer<byte>(w.ByteCodes);
        if (w.UInt16Codes != null) UInt16Codes = new PinnedBuffer<ushort>(w.UInt16Codes);
        if (w.Codebook != null) Codebook = new PinnedBuffer<float>(w.Codebook);
        if (w.FixedCodes != null) FixedCodes = new PinnedBuffer<short>(w.FixedCodes);
        if (w.Scales != null) Scales = new PinnedBuffer<float>(w.Scales);
        if (w.Bias != null) Bias = new PinnedBuffer<float>(w.Bias);
    }

    public LayerWeights Weights { get; }
    public PinnedBuffer<int>? RowPtr { get; }
    public PinnedBuffer<int>? ColIdx { get; }
    public PinnedBuffer<float>? Floats { get; }
    public PinnedBuffer<byte>? ByteCodes { get; }
    public PinnedBuffer<ushort>? UInt16Codes { get; }
    public PinnedBuffer<float>? Codebook { get; }
    public PinnedBuffer<short>? FixedCodes { get; }
    public PinnedBuffer<float>? Scales { get; }
    public PinnedBuffer<float>? Bias { get; }

    public float* BiasPointer => Bias == null ? null : Bias.Pointer;
    public int* RowPtrPointer => RowPtr == null ? null : RowPtr.Pointer;
    public int* ColIdxPointer => ColIdx == null ? null : ColIdx.Pointer;
}

/// <summary>A fully connected layer; <typeparamref name="TW"/> says how weight values are decoded.</summary>
internal sealed unsafe class LinearStep<TW>(PinnedWeights weights, TW values, float* x, float* y, float* scratch, SimdLevel level)
    : LayerStep(y, weights.Weights.Rows)
    where TW : struct, IWeightValues
{
    private readonly int _in = weights.Weights.Columns, _out = weights.Weights.Rows;

    /// <summary>The permute-sliced form of a sparse layer, used for batches below <see cref="SlicedPath.BelowBatch"/>; null: CSR only.</summary>
    public SlicedPath? Sliced { get; init; }

    public override void Run(int batch)
    {
        if (Sliced is { } sliced && batch < sliced.BelowBatch)
            SlicedSparseKernels.Run(sliced.Matrix, x, weights.BiasPointer, Output, batch, sliced.Table.Pointer, level);
        else if (weights.RowPtr == null)
            DenseKernels.Run(values, x, weights.BiasPointer, Output, batch, _in, _out, level);
        else
            SparseKernels.Run(values, weights.RowPtrPointer, weights.ColIdxPointer, x, weights.BiasPointer, Output, batch, _in, _out, level, scratch);
        Finish(batch);
    }
}

/// <summary>A sparse layer in <see cref="SlicedSparseMatrix"/> form with its input-table scratch (one per step, as a session runs on one thread).</summary>
internal sealed unsafe class SlicedPath(SlicedSparseMatrix matrix, int belowBatch)
{
    public SlicedSparseKernels.Pinned Matrix { get; } = SlicedSparseKernels.Pin(matrix);
    public PinnedBuffer<float> Table { get; } = new(matrix.ScratchFloats);
    public int BelowBatch { get; } = belowBatch;
}

/// <summary>A convolution; im2col + dense GEMM, or im2col + CSR axpy.</summary>
internal sealed unsafe class ConvStep<TW>(PinnedWeights weights, TW values, ConvKernels.Geometry geometry, float* x, float* y, float* scratch, SimdLevel level)
    : LayerStep(y, geometry.O * geometry.Pixels)
    where TW : struct, IWeightValues
{
    public override void Run(int batch)
    {
        var g = geometry with { N = batch };
        if (weights.RowPtr == null)
            ConvKernels.RunDense(values, x, weights.BiasPointer, Output, scratch, g, level);
        else
            ConvKernels.RunSparse(values, weights.RowPtrPointer, weights.ColIdxPointer, x, weights.BiasPointer, Output, scratch, g, level);
        Finish(batch);
    }
}

/// <summary>
/// An LQ-Nets Linear layer on the bit-op kernel: quantizes the input with the layer's basis quantizer straight into
/// bit planes, then runs <see cref="BitOpPackedKernels"/>.
/// </summary>
internal sealed unsafe class BitOpLinearStep : LayerStep
{
    private readonly BitOpPackedWeights _w;
    private readonly ActivationQuantizer _q;
    private readonly float* _x;
    private readonly PinnedBuffer<ulong> _planes;
    private readonly PinnedBuffer<int> _counts;
    private readonly PinnedBuffer<float> _basis;
    private readonly PinnedBuffer<float>? _bias;
    private readonly SimdLevel _level;

    public BitOpLinearStep(BitOpPackedWeights w, float[]? bias, ActivationQuantizer q, float* x, float* y, int maxBatch, SimdLevel level)
        : base(y, w.Rows)
    {
        _w = w;
        _q = q;
        _x = x;
        _level = level;
        _planes = new PinnedBuffer<ulong>(maxBatch * q.Spec.Bits * w.Words);
        _counts = new PinnedBuffer<int>(maxBatch * q.Spec.Bits);
        _basis = new PinnedBuffer<float>(q.Spec.Parameters.ToArray());
        if (bias != null) _bias = new PinnedBuffer<float>(bias);
    }

    public override void Run(int batch)
    {
        BitOpPackedKernels.QuantizeAndPack(_x, batch, _w.Cols, _q, _planes.Pointer, _counts.Pointer);
        BitOpPackedKernels.Run(_w, _planes.Pointer, _counts.Pointer, _basis.Pointer, _q.Spec.Bits, _bias == null ? null : _bias.Pointer, Output,
            batch, _w.Rows, 1, _level);
        Finish(batch);
    }
}

/// <summary>An LQ-Nets convolution on the bit-op kernel: per image, quantize + unfold into per-pixel bit planes, then the
/// pixels are the examples of <see cref="BitOpPackedKernels"/> (outputs written in NCHW order).</summary>
internal sealed unsafe class BitOpConvStep : LayerStep
{
    private readonly BitOpPackedWeights _w;
    private readonly ActivationQuantizer _q;
    private readonly ConvKernels.Geometry _g;
    private readonly float* _x;
    private readonly PinnedBuffer<ulong> _planes;
    private readonly PinnedBuffer<int> _counts;
    private readonly PinnedBuffer<ulong> _rowBits;
    private readonly PinnedBuffer<float> _basis;
    private readonly PinnedBuffer<float>? _bias;
    private readonly SimdLevel _level;

    public BitOpConvStep(BitOpPackedWeights w, float[]? bias, ActivationQuantizer q, ConvKernels.Geometry g, float* x, float* y, SimdLevel level)
        : base(y, g.O * g.Pixels)
    {
        _w = w;
        _q = q;
        _g = g;
        _x = x;
        _level = level;
        _planes = new PinnedBuffer<ulong>(g.Pixels * q.Spec.Bits * w.Words);
        _counts = new PinnedBuffer<int>(g.Pixels * q.Spec.Bits);
        _rowBits = new PinnedBuffer<ulong>(BitOpPackedKernels.RowBitsSize(g, q.Spec.Bits));
        _basis = new PinnedBuffer<float>(q.Spec.Parameters.ToArray());
        if (bias != null) _bias = new PinnedBuffer<float>(bias);
    }

    public override void Run(int batch)
    {
        int p = _g.Pixels;
        for (int img = 0; img < batch; img++)
        {
            BitOpPackedKernels.QuantizeIm2ColAndPack(_x + (nint)img * _g.C * _g.H * _g.W, _g, _q, _rowBits.Pointer, _planes.Pointer, _counts.Pointer);
            BitOpPackedKernels.Run(_w, _planes.Pointer, _counts.Pointer, _basis.Pointer, _q.Spec.Bits, _bias == null ? null : _bias.Pointer,
                Output + (nint)img * _g.O * p, p, 1, p, _level);
        }
        Finish(batch);
    }
}

/// <summary>A Linear or Conv2d layer with binary or ternary weights and float inputs (<see cref="SignMaskKernels"/>).</summary>
internal sealed unsafe class SignMaskStep : LayerStep
{
    private readonly SignMaskWeights _w;
    private readonly ConvKernels.Geometry? _g;
    private readonly float* _x;
    private readonly PinnedBuffer<float> _scratch;
    private readonly PinnedBuffer<float>? _bias;
    private readonly SimdLevel _level;

    public SignMaskStep(SignMaskWeights w, float[]? bias, ConvKernels.Geometry? g, float* x, float* y, int maxBatch, SimdLevel level)
        : base(y, g is { } geo ? geo.O * geo.Pixels : w.Rows)
    {
        _w = w;
        _g = g;
        _x = x;
        _level = level;
        _scratch = new PinnedBuffer<float>(g is { } c ? SignMaskKernels.ConvScratchSize(c) : SignMaskKernels.ScratchSize(maxBatch, w.Cols, w.Rows));
        if (bias != null) _bias = new PinnedBuffer<float>(bias);
    }

    public override void Run(int batch)
    {
        float* bias = _bias == null ? null : _bias.Pointer;
        if (_g is { } g) SignMaskKernels.RunConv(_w, _x, bias, Output, _scratch.Pointer, g with { N = batch }, _level);
        else SignMaskKernels.RunLinear(_w, _x, bias, Output, batch, _scratch.Pointer, _level);
        Finish(batch);
    }
}

/// <summary>y = max(x, 0); in place when the plan lets this step reuse its input buffer.</summary>
internal sealed unsafe class ReluStep(float* x, float* y, int size) : PlanStep
{
    public override void Run(int batch) => ActivationKernels.Relu(CopyIfDistinct(x, y, batch * size));
}

/// <summary>Softmax over the last dimension.</summary>
internal sealed unsafe class SoftmaxStep(float* x, float* y, int rowsPerExample, int cols) : PlanStep
{
    public override void Run(int batch) =>
        ActivationKernels.SoftmaxRows(CopyIfDistinct(x, y, batch * rowsPerExample * cols), batch * rowsPerExample, cols);
}

/// <summary>A copy (Flatten when the buffer cannot be shared).</summary>
internal sealed unsafe class CopyStep(float* x, float* y, int size) : PlanStep
{
    public override void Run(int batch) => CopyIfDistinct(x, y, batch * size);
}

/// <summary>A BatchNorm that could not be folded, as a per-channel scale and shift.</summary>
internal sealed unsafe class BatchNormStep(float* x, float* y, int channels, int spatial, float[] scale, float[] shift) : PlanStep
{
    public override void Run(int batch) =>
        BatchNormKernels.ApplyScaleShift(CopyIfDistinct(x, y, batch * channels * spatial), batch, channels, spatial, scale, shift);
}

/// <summary>Max or average pooling.</summary>
internal sealed unsafe class PoolStep(bool max, float* x, float* y, int c, int h, int w, int kernel, int stride, int pad, int outSize) : PlanStep
{
    public override void Run(int batch)
    {
        var src = new ReadOnlySpan<float>(x, batch * c * h * w);
        var dst = new Span<float>(y, batch * outSize);
        if (max) PoolKernels.MaxPool2d(src, dst, batch, c, h, w, kernel, stride, pad);
        else PoolKernels.AvgPool2d(src, dst, batch, c, h, w, kernel, stride, pad);
    }
}

/// <summary>Mean over H·W.</summary>
internal sealed unsafe class GlobalAvgPoolStep(float* x, float* y, int c, int spatial) : PlanStep
{
    public override void Run(int batch) =>
        PoolKernels.GlobalAvgPool(new ReadOnlySpan<float>(x, batch * c * spatial), new Span<float>(y, batch * c), batch, c, spatial);
}

/// <summary>Elementwise sum (residual connection).</summary>
internal sealed unsafe class AddStep(float* a, float* b, float* y, int size) : PlanStep
{
    public override void Run(int batch) =>
        ElementwiseKernels.Add(new ReadOnlySpan<float>(a, batch * size), new ReadOnlySpan<float>(b, batch * size), new Span<float>(y, batch * size));
}

/// <summary>
/// Quantizes activations as a node declares (uniform, or to the nearest level of an LQ-Nets basis): a node's output in
/// place, or a Linear/Conv2d layer's input into the buffer the layer reads.
/// </summary>
internal sealed unsafe class InputQuantStep(float* x, float* y, int size, ActivationQuantizer quantizer) : PlanStep
{
    public override void Run(int batch) => quantizer.Apply(new ReadOnlySpan<float>(x, batch * size), new Span<float>(y, batch * size));
}

/// <summary>A plan step that keeps state from run to run (recurrent layers); <see cref="Reset"/> zeroes it.</summary>
internal interface IStatefulStep
{
    void Reset();
}

/// <summary>
/// One time step of an LSTM layer (docs/FORMAT.md, op 11) with its (h, c) state for up to the session's maximum batch,
/// kept between runs; writes h to the output buffer.
/// </summary>
internal sealed unsafe class LstmStep(LstmWeights weights, float* x, float* y, int maxBatch) : PlanStep, IStatefulStep
{
    private readonly float[] _h = new float[maxBatch * weights.Hidden];
    private readonly float[] _c = new float[maxBatch * weights.Hidden];
    private readonly float[] _zx = new float[4 * weights.Hidden];
    private readonly float[] _zh = new float[4 * weights.Hidden];

    public override void Run(int batch)
    {
        LstmKernels.Step(weights, new ReadOnlySpan<float>(x, batch * weights.Input), _h, _c, _zx, _zh, batch);
        _h.AsSpan(0, batch * weights.Hidden).CopyTo(new Span<float>(y, batch * weights.Hidden));
    }

    public void Reset()
    {
        Array.Clear(_h);
        Array.Clear(_c);
    }
}
