using SlimNet.Format;
using SlimNet.Format.Graph;

namespace SlimNet.Runtime.Tests.Engine;

/// <summary>How the tests store a weight tensor.</summary>
public enum WeightStorage
{
    DenseFloat32,
    CsrFloat32,
    RelativeGapsFloat32,
    DenseFloat16,
    DenseCodebook5Bit,
    CsrCodebook5Bit,
    RelativeGapsCodebook5Bit,
    CsrCodebook9Bit,
    DenseFixedPoint8BitOneScale,
    CsrFixedPoint8BitPerRow,
    CsrBitPlanes2,
    /// <summary>Binary weights: one ±1 plane, the per-row scale as its basis.</summary>
    DenseBinaryPlanes,
    /// <summary>Two ±1 planes with a random per-row basis (LQ-Nets weights).</summary>
    DenseBitPlanes2,
    /// <summary>Ternary {−α⁻, 0, +α⁺} as a 2-bit codebook (LAT2), dense.</summary>
    DenseTernaryCodebook,
    /// <summary>Ternary {−α⁻, 0, +α⁺} as a 2-bit codebook, CSR (zeros unstored).</summary>
    CsrTernaryCodebook,
}

/// <summary>Small models built in memory, with their parameters stored in a chosen encoding.</summary>
internal static class TestModels
{
    public static SlimModel LeNet300100(WeightStorage storage, int seed = 1, bool softmax = false)
    {
        var b = new GraphBuilder("lenet-300-100", 784);
        b.Linear("fc1", 784, 300);
        b.ReLU("relu1");
        b.Linear("fc2", 300, 100);
        b.ReLU("relu2");
        b.Linear("fc3", 100, 10);
        if (softmax) b.Softmax("prob");
        var graph = b.Build();
        return new SlimModel(graph, Parameters(graph, storage, seed));
    }

    /// <summary>conv → bn → relu → maxpool → conv → bn → relu → avgpool(padded) → flatten → linear → bn(1-D) → relu → linear.</summary>
    public static SlimModel SmallCnn(WeightStorage storage, int seed = 2)
    {
        var b = new GraphBuilder("small-cnn", 2, 12, 12);
        b.Conv2d("conv1", 2, 6, 3, padding: 1);
        b.BatchNorm("bn1", 6);
        b.ReLU("relu1");
        b.MaxPool2d("pool1", 2, 2);
        b.Conv2d("conv2", 6, 8, 3, stride: 1, bias: false);
        b.BatchNorm("bn2", 8);
        b.ReLU("relu2");
        b.AvgPool2d("pool2", 3, 2, padding: 1);
        b.Flatten("flat");
        b.Linear("fc1", 8 * 2 * 2, 20);
        b.BatchNorm("bn3", 20);
        b.ReLU("relu3");
        b.Linear("fc2", 20, 10);
        var graph = b.Build();
        return new SlimModel(graph, Parameters(graph, storage, seed));
    }

    /// <summary>stem conv → relu → [conv → bn → relu → conv → bn] + identity → relu → global pool → linear.</summary>
    public static SlimModel ResidualBlock(WeightStorage storage, int seed = 3)
    {
        var b = new GraphBuilder("residual", 3, 8, 8);
        b.Conv2d("stem", 3, 8, 3, padding: 1);
        int stem = b.ReLU("stem_relu");
        b.Conv2d("block.conv1", 8, 8, 3, padding: 1, bias: false);
        b.BatchNorm("block.bn1", 8);
        b.ReLU("block.relu1");
        b.Conv2d("block.conv2", 8, 8, 3, padding: 1, bias: false);
        int bn2 = b.BatchNorm("block.bn2", 8);
        b.AddNodes("block.add", bn2, stem);
        b.ReLU("block.relu2");
        b.GlobalAvgPool("pool");
        b.Linear("fc", 8, 5);
        var graph = b.Build();
        return new SlimModel(graph, Parameters(graph, storage, seed));
    }

    /// <summary>A BatchNorm whose Linear has a second reader cannot be folded; the engine applies it as scale and shift.</summary>
    public static SlimModel UnfoldableBatchNorm(WeightStorage storage, int seed = 4)
    {
        var b = new GraphBuilder("unfoldable-bn", 24);
        int fc1 = b.Linear("fc1", 24, 16);
        int bn = b.BatchNorm("bn", 16, input: fc1);
        b.AddNodes("sum", bn, fc1);
        b.ReLU("relu");
        b.Linear("fc2", 16, 4);
        var graph = b.Build();
        return new SlimModel(graph, Parameters(graph, storage, seed));
    }

    public static List<SlimTensor> Parameters(ModelGraph graph, WeightStorage storage, int seed)
    {
        var rng = new Random(seed);
        var tensors = new List<SlimTensor>();
        foreach (var (name, shape) in GraphShapes.Parameters(graph))
        {
            int count = shape.Aggregate(1, (p, d) => p * d);
            int fanIn = count / shape[0];
            float Uniform(double range) => (float)((rng.NextDouble() * 2 - 1) * range);
            if (name.EndsWith(".running_var", StringComparison.Ordinal))
                tensors.Add(SlimTensor.Dense(name, shape, Enumerable.Range(0, count).Select(_ => 0.5f + (float)rng.NextDouble()).ToArray()));
            else if (name.EndsWith(".running_mean", StringComparison.Ordinal) || name.EndsWith(".bias", StringComparison.Ordinal))
                tensors.Add(SlimTensor.Dense(name, shape, Enumerable.Range(0, count).Select(_ => Uniform(0.2)).ToArray()));
            else if (shape.Length == 1)
                tensors.Add(SlimTensor.Dense(name, shape, Enumerable.Range(0, count).Select(_ => 0.8f + Uniform(0.4)).ToArray()));
            else
            {
                var w = Enumerable.Range(0, count).Select(_ => Uniform(Math.Sqrt(6.0 / fanIn))).ToArray();
                tensors.Add(Weight(name, shape, w, storage, rng));
            }
        }
        return tensors;
    }

    public static SlimTensor Weight(string name, int[] shape, float[] w, WeightStorage storage, Random rng)
    {
        bool sparse = storage is not (WeightStorage.DenseFloat32 or WeightStorage.DenseFloat16 or WeightStorage.DenseCodebook5Bit
            or WeightStorage.DenseFixedPoint8BitOneScale or WeightStorage.DenseBinaryPlanes or WeightStorage.DenseBitPlanes2
            or WeightStorage.DenseTernaryCodebook);
        // Prune about 90% of the weights when the storage is sparse, at random positions.
        if (sparse)
            for (int i = 0; i < w.Length; i++)
                if (rng.NextDouble() < 0.9) w[i] = 0;
        float max = w.Max(Math.Abs) + 1e-6f;
        int rows = shape[0], cols = w.Length / rows;
        switch (storage)
        {
            case WeightStorage.DenseFloat32: return SlimTensor.Dense(name, shape, w);
            case WeightStorage.CsrFloat32: return SlimTensor.Dense(name, shape, w, SparseLayout.Csr);
            case WeightStorage.RelativeGapsFloat32: return SlimTensor.Dense(name, shape, w, SparseLayout.RelativeGaps, gapBits: 4);
            case WeightStorage.DenseFloat16: return SlimTensor.Float16(name, shape, w);
            case WeightStorage.DenseCodebook5Bit:
            case WeightStorage.CsrCodebook5Bit:
            case WeightStorage.RelativeGapsCodebook5Bit:
            case WeightStorage.CsrCodebook9Bit:
            {
                int bits = storage == WeightStorage.CsrCodebook9Bit ? 9 : 5, half = 1 << (bits - 1);
                // Entry `half` is exactly 0, so pruned weights keep code `half` and stay unstored.
                var book = Enumerable.Range(0, 1 << bits).Select(k => (k - half) * max / (half - 1)).ToArray();
                var codes = w.Select(v => (ushort)Math.Clamp((int)MathF.Round(v / max * (half - 1)) + half, 0, (1 << bits) - 1)).ToArray();
                var layout = !sparse ? SparseLayout.Dense : storage == WeightStorage.RelativeGapsCodebook5Bit ? SparseLayout.RelativeGaps : SparseLayout.Csr;
                return storage == WeightStorage.RelativeGapsCodebook5Bit
                    // 3-bit gaps: runs of more than 7 zeros need filler entries (stored zeros), as in Deep Compression files.
                    ? SlimTensor.Codebook(name, shape, codes, book, bits, layout, gapBits: 3)
                    : SlimTensor.Codebook(name, shape, codes, book, bits, layout);
            }
            case WeightStorage.DenseFixedPoint8BitOneScale:
            {
                float scale = max / 127;
                var q = w.Select(v => (short)Math.Clamp((int)MathF.Round(v / scale), -128, 127)).ToArray();
                return SlimTensor.FixedPoint(name, shape, q, new[] { scale }, 8);
            }
            case WeightStorage.CsrFixedPoint8BitPerRow:
            {
                var scales = new float[rows];
                var q = new short[w.Length];
                for (int r = 0; r < rows; r++)
                {
                    scales[r] = (w.Skip(r * cols).Take(cols).Max(Math.Abs) + 1e-6f) / 127;
                    for (int c = 0; c < cols; c++) q[r * cols + c] = (short)Math.Clamp((int)MathF.Round(w[r * cols + c] / scales[r]), -128, 127);
                }
                return SlimTensor.FixedPoint(name, shape, q, scales, 8, sparsity: SparseLayout.Csr);
            }
            case WeightStorage.CsrBitPlanes2:
            {
                var basis = Enumerable.Range(0, rows * 2).Select(i => i % 2 == 0 ? max / 2 : max / 4).ToArray();
                var codes = w.Select(_ => (ushort)rng.Next(4)).ToArray();
                return SlimTensor.BitPlanes(name, shape, codes, basis, 2, BitPlaneMode.PlusMinusOne, SparseLayout.Csr);
            }
            case WeightStorage.DenseBinaryPlanes:
            {
                var basis = new float[rows];
                for (int r = 0; r < rows; r++) basis[r] = (float)(w.Skip(r * cols).Take(cols).Average(Math.Abs) + 1e-3);
                var codes = w.Select(v => (ushort)(v >= 0 ? 1 : 0)).ToArray();
                return SlimTensor.BitPlanes(name, shape, codes, basis, 1);
            }
            case WeightStorage.DenseBitPlanes2:
            {
                var basis = Enumerable.Range(0, rows * 2).Select(i => (float)((0.2 + rng.NextDouble()) * max / (i % 2 == 0 ? 4 : 2))).ToArray();
                var codes = w.Select(_ => (ushort)rng.Next(4)).ToArray();
                return SlimTensor.BitPlanes(name, shape, codes, basis, 2);
            }
            case WeightStorage.DenseTernaryCodebook:
            case WeightStorage.CsrTernaryCodebook:
            {
                // Codes 0 → −α⁻, 1 → 0, 2 → +α⁺ (3 → +α⁺ too, unused by the quantizer but valid in the file).
                float plus = max / 2, minus = max / 3, delta = 0.3f * max;
                var book = new[] { -minus, 0f, plus, plus };
                var codes = w.Select(v => (ushort)(v > delta ? 2 : v < -delta ? 0 : 1)).ToArray();
                if (sparse) for (int i = 0; i < codes.Length; i++) if (w[i] != 0 && codes[i] == 1) codes[i] = (ushort)(rng.Next(2) * 2);
                return SlimTensor.Codebook(name, shape, codes, book, 2, sparse ? SparseLayout.Csr : SparseLayout.Dense);
            }
            default: throw new ArgumentOutOfRangeException(nameof(storage));
        }
    }
}
