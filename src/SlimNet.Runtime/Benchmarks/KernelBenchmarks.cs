using System.Diagnostics;
using SlimNet.Runtime.Kernels;

namespace SlimNet.Runtime.Benchmarks;

/// <summary>Measured time of one fully connected layer as dense and as CSR, in nanoseconds per call.</summary>
/// <param name="Batch">Rows of x.</param>
/// <param name="InFeatures">Input features.</param>
/// <param name="OutFeatures">Output features.</param>
/// <param name="Sparsity">Fraction of weights that are zero (and absent from the CSR form).</param>
/// <param name="DenseNanoseconds">One <c>DenseKernels.Gemm</c> call.</param>
/// <param name="CsrNanoseconds">One <c>SparseKernels.CsrGemm</c> call on the same weights.</param>
public sealed record LinearTiming(int Batch, int InFeatures, int OutFeatures, double Sparsity, double DenseNanoseconds, double CsrNanoseconds)
{
    /// <summary>Dense time over CSR time.</summary>
    public double CsrSpeedup => DenseNanoseconds / CsrNanoseconds;
}

/// <summary>Measured time of one LQ-quantized fully connected layer as bit-op kernel and as fp32 dense, in nanoseconds per call.</summary>
/// <param name="Rows">Output features.</param>
/// <param name="Cols">Input features.</param>
/// <param name="Batch">Examples per call.</param>
/// <param name="WeightBits">Weight bit planes K_w.</param>
/// <param name="ActivationBits">Activation bit planes K_a.</param>
/// <param name="BitOpNanoseconds">One <c>BitOpPackedKernels.Gemm</c> call on packed planes (activation packing not timed).</param>
/// <param name="DenseNanoseconds">One <c>DenseKernels.Gemm</c> call on the decoded float32 weights and inputs.</param>
public sealed record BitOpTiming(int Rows, int Cols, int Batch, int WeightBits, int ActivationBits, double BitOpNanoseconds, double DenseNanoseconds)
{
    /// <summary>Dense time over bit-op time.</summary>
    public double BitOpSpeedup => DenseNanoseconds / BitOpNanoseconds;

    /// <summary>The layer as the engine runs it from float inputs: quantize to the activation basis, pack, bit-op kernel.</summary>
    public double BitOpWithPackingNanoseconds { get; init; }

    /// <summary>Dense time over the time with packing.</summary>
    public double WithPackingSpeedup => DenseNanoseconds / BitOpWithPackingNanoseconds;
}

/// <summary>Measured time of one binary or ternary fully connected layer with float inputs as sign-mask kernel and as fp32 dense.</summary>
/// <param name="Rows">Output features.</param>
/// <param name="Cols">Input features.</param>
/// <param name="Batch">Examples per call.</param>
/// <param name="Binary">Binary (±α) rather than ternary weights.</param>
/// <param name="SignMaskNanoseconds">One <c>SignMaskKernels.Gemm</c> call.</param>
/// <param name="DenseNanoseconds">One <c>DenseKernels.Gemm</c> call on the same weights as float32.</param>
public sealed record SignMaskTiming(int Rows, int Cols, int Batch, bool Binary, double SignMaskNanoseconds, double DenseNanoseconds)
{
    /// <summary>Dense time over sign-mask time.</summary>
    public double Speedup => DenseNanoseconds / SignMaskNanoseconds;
}

/// <summary>
/// Small, dependency-free timing of the runtime kernels for <c>slimnet bench</c> (BenchmarkDotNet lives in
/// bench/; this is what a deployed runtime can measure about itself). Each figure is the fastest of several
/// timed rounds, because on a shared machine noise only ever adds time.
/// </summary>
public static unsafe class KernelBenchmarks
{
    /// <summary>Times a random [outFeatures, inFeatures] layer with the given sparsity, dense and CSR, at one batch size.</summary>
    public static LinearTiming MeasureLinear(int batch, int inFeatures, int outFeatures, double sparsity, double secondsPerKernel = 0.25, int seed = 1)
    {
        var rng = new Random(seed);
        var x = new float[batch * inFeatures];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var w = new float[outFeatures * inFeatures];
        var rowPtr = new int[outFeatures + 1];
        var colIdx = new List<int>();
        var values = new List<float>();
        for (int o = 0; o < outFeatures; o++)
        {
            for (int i = 0; i < inFeatures; i++)
                if (rng.NextDouble() >= sparsity)
                {
                    float v = (float)(rng.NextDouble() * 2 - 1);
                    w[o * inFeatures + i] = v;
                    colIdx.Add(i);
                    values.Add(v);
                }
            rowPtr[o + 1] = colIdx.Count;
        }
        var bias = new float[outFeatures];
        var y = new float[batch * outFeatures];
        int[] ci = colIdx.ToArray();
        float[] vals = values.ToArray();
        double dense = MeasureNanoseconds(() => DenseKernels.Gemm(x, w, bias, y, batch, inFeatures, outFeatures), secondsPerKernel);
        double csr = MeasureNanoseconds(() => SparseKernels.CsrGemm(x, rowPtr, ci, vals, bias, y, batch, inFeatures, outFeatures), secondsPerKernel);
        return new LinearTiming(batch, inFeatures, outFeatures, sparsity, dense, csr);
    }

    /// <summary>Times a random LQ-quantized [rows, cols] layer (K_w weight planes, K_a activation planes) as
    /// <c>BitOpKernels.Gemm</c> and as <c>DenseKernels.Gemm</c> on the same values decoded to float32.</summary>
    public static BitOpTiming MeasureBitOp(int rows, int cols, int batch, int kw, int ka, double secondsPerKernel = 0.25, int seed = 1)
    {
        var rng = new Random(seed);
        var wCodes = new ushort[rows * cols];
        var aCodes = new ushort[batch * cols];
        for (int i = 0; i < wCodes.Length; i++) wCodes[i] = (ushort)rng.Next(1 << kw);
        for (int i = 0; i < aCodes.Length; i++) aCodes[i] = (ushort)rng.Next(1 << ka);
        var wBasis = new float[rows * kw];
        for (int i = 0; i < wBasis.Length; i++) wBasis[i] = (float)(rng.NextDouble() * 0.1 * (1 << (i % kw)));
        var aBasis = new float[ka];
        for (int j = 0; j < ka; j++) aBasis[j] = 0.3f * (1 << j);
        int words = BitOpKernels.WordsPerRow(cols);
        var wPlanes = new ulong[rows * kw * words];
        var aPlanes = new ulong[batch * ka * words];
        BitOpKernels.PackPlanes(wCodes, rows, cols, kw, wPlanes);
        BitOpKernels.PackPlanes(aCodes, batch, cols, ka, aPlanes);
        var w = new float[rows * cols];
        var x = new float[batch * cols];
        for (int o = 0; o < rows; o++)
            for (int c = 0; c < cols; c++)
            {
                float v = 0;
                for (int i = 0; i < kw; i++) v += ((wCodes[o * cols + c] >> i) & 1) != 0 ? wBasis[o * kw + i] : -wBasis[o * kw + i];
                w[o * cols + c] = v;
            }
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < cols; c++)
            {
                float v = 0;
                for (int j = 0; j < ka; j++) if (((aCodes[b * cols + c] >> j) & 1) != 0) v += aBasis[j];
                x[b * cols + c] = v;
            }
        var bias = new float[rows];
        var y = new float[batch * rows];
        var packed = BitOpPackedWeights.FromCodes(wCodes, wBasis, rows, cols, kw);
        var aPacked = new ulong[batch * ka * packed.Words];
        var aCounts = new int[batch * ka];
        BitOpPackedKernels.PackActivationCodes(aCodes, batch, cols, ka, aPacked, aCounts);
        // The layer as the engine runs it: float inputs quantized with the basis and packed, then the kernel.
        var quantizer = Quantization.ActivationQuantizer.Create(
            new SlimNet.Format.Graph.ActivationQuantization(SlimNet.Format.Graph.ActivationQuantKind.Basis, ka, false, aBasis), out _);
        var planes = new ulong[aPacked.Length];
        var counts = new int[aCounts.Length];
        void Layer()
        {
            fixed (float* px = x)
            fixed (ulong* pp = planes)
            fixed (int* pc = counts)
                BitOpPackedKernels.QuantizeAndPack(px, batch, cols, quantizer, pp, pc);
            BitOpPackedKernels.Gemm(packed, planes, counts, aBasis, bias, y, batch, ka);
        }
        var t = MeasureRounds(secondsPerKernel, () => BitOpPackedKernels.Gemm(packed, aPacked, aCounts, aBasis, bias, y, batch, ka),
            () => DenseKernels.Gemm(x, w, bias, y, batch, cols, rows), Layer);
        return new BitOpTiming(rows, cols, batch, kw, ka, t[0], t[1]) { BitOpWithPackingNanoseconds = t[2] };
    }

    /// <summary>Times a random binary (±α per row) or ternary (+α⁺/0/−α⁻ per row, a third zeros) [rows, cols] layer with float
    /// inputs as <c>SignMaskKernels.Gemm</c> and as <c>DenseKernels.Gemm</c> on the same weights as float32, rounds interleaved.</summary>
    public static SignMaskTiming MeasureSignMask(int rows, int cols, int batch, bool binary, double secondsPerKernel = 0.25, int seed = 1)
    {
        var rng = new Random(seed);
        SignMaskWeights weights;
        if (binary)
            weights = SignMaskWeights.Binary(Enumerable.Range(0, rows * cols).Select(_ => rng.Next(2) == 1).ToArray(),
                Enumerable.Range(0, rows).Select(_ => (float)(rng.NextDouble() * 0.1 + 0.01)).ToArray(), rows, cols);
        else
            weights = SignMaskWeights.Ternary(Enumerable.Range(0, rows * cols).Select(_ => (sbyte)(rng.Next(3) - 1)).ToArray(),
                Enumerable.Range(0, rows).Select(_ => (float)(rng.NextDouble() * 0.1 + 0.01)).ToArray(),
                Enumerable.Range(0, rows).Select(_ => (float)(rng.NextDouble() * 0.1 + 0.01)).ToArray(), rows, cols);
        var w = weights.ToDense();
        var x = new float[batch * cols];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var bias = new float[rows];
        var y = new float[batch * rows];
        var scratch = new float[SignMaskKernels.ScratchSize(batch, cols, rows)];
        var (mask, dense) = MeasurePair(() => SignMaskKernels.Gemm(weights, x, bias, y, batch, scratch),
            () => DenseKernels.Gemm(x, w, bias, y, batch, cols, rows), secondsPerKernel);
        return new SignMaskTiming(rows, cols, batch, binary, mask, dense);
    }

    /// <summary>Nanoseconds per call of <paramref name="a"/> and of <paramref name="b"/>, measured in alternating rounds
    /// (so drifting load on a shared machine touches both alike); each figure is the fastest round's average.</summary>
    public static (double A, double B) MeasurePair(Action a, Action b, double secondsEach = 0.25)
    {
        var t = MeasureRounds(secondsEach, a, b);
        return (t[0], t[1]);
    }

    /// <summary>Nanoseconds per call of each action, measured in rounds that take turns (the fastest round's average each).</summary>
    public static double[] MeasureRounds(double secondsEach, params Action[] actions)
    {
        ArgumentNullException.ThrowIfNull(actions);
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalMilliseconds < 100)
            foreach (var a in actions) a();
        int[] per = actions.Select(RoundSize).ToArray();
        var best = actions.Select(_ => double.MaxValue).ToArray();
        var sw = new Stopwatch();
        var total = Stopwatch.StartNew();
        int rounds = 0;
        while (rounds < 10 || total.Elapsed.TotalSeconds < actions.Length * secondsEach)
        {
            for (int k = 0; k < actions.Length; k++)
            {
                sw.Restart();
                for (int i = 0; i < per[k]; i++) actions[k]();
                best[k] = Math.Min(best[k], sw.Elapsed.TotalNanoseconds / per[k]);
            }
            rounds++;
        }
        return best;
    }

    /// <summary>Calls per round of about a millisecond.</summary>
    private static int RoundSize(Action action)
    {
        int perRound = 1;
        var sw = Stopwatch.StartNew();
        while (true)
        {
            sw.Restart();
            for (int i = 0; i < perRound; i++) action();
            if (sw.Elapsed.TotalMilliseconds >= 1 || perRound >= 1 << 24) return perRound;
            perRound *= 2;
        }
    }

    /// <summary>Nanoseconds per <see cref="InferenceSession.Run(ReadOnlySpan{float}, int, Span{float})"/> of
    /// <paramref name="batch"/> examples of random input.</summary>
    public static double MeasureSession(InferenceSession session, int batch, double seconds = 0.25, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(session);
        var rng = new Random(seed);
        var input = new float[batch * session.InputSize];
        for (int i = 0; i < input.Length; i++) input[i] = (float)rng.NextDouble();
        var output = new float[batch * session.OutputSize];
        return MeasureNanoseconds(() => session.Run(input, batch, output), seconds);
    }

    /// <summary>Nanoseconds per call of <paramref name="action"/>: the fastest round average over about <paramref name="seconds"/>.</summary>
    public static double MeasureNanoseconds(Action action, double seconds = 0.25)
    {
        ArgumentNullException.ThrowIfNull(action);
        // Warm up long enough for the JIT to replace tier-0 code even on a busy machine.
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalMilliseconds < 50) action();
        // Size a round to about a millisecond so the clock's resolution and the delegate call do not matter.
        int perRound = 1;
        var sw = Stopwatch.StartNew();
        while (true)
        {
            sw.Restart();
            for (int i = 0; i < perRound; i++) action();
            if (sw.Elapsed.TotalMilliseconds >= 1 || perRound >= 1 << 24) break;
            perRound *= 2;
        }
        double best = double.MaxValue;
        var total = Stopwatch.StartNew();
        int rounds = 0;
        while (rounds < 5 || total.Elapsed.TotalSeconds < seconds)
        {
            sw.Restart();
            for (int i = 0; i < perRound; i++) action();
            best = Math.Min(best, sw.Elapsed.TotalNanoseconds / perRound);
            rounds++;
        }
        return best;
    }
}
