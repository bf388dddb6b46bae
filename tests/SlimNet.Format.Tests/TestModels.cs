using SlimNet.Format.Graph;

namespace SlimNet.Format.Tests;

/// <summary>Random tensors and small models covering every encoding combination.</summary>
internal static class TestModels
{
    public static readonly SparseLayout[] Layouts = [SparseLayout.Dense, SparseLayout.Csr, SparseLayout.RelativeGaps];
    public static readonly ValueEncoding[] Encodings = [ValueEncoding.Float32, ValueEncoding.Float16, ValueEncoding.FixedPoint, ValueEncoding.Codebook, ValueEncoding.BitPlanes];

    public static HuffmanStreams AllowedHuffman(SparseLayout layout, ValueEncoding enc, bool on)
    {
        if (!on) return HuffmanStreams.None;
        var h = HuffmanStreams.None;
        if (enc is ValueEncoding.Float16 or ValueEncoding.FixedPoint or ValueEncoding.Codebook) h |= HuffmanStreams.Codes;
        if (layout != SparseLayout.Dense) h |= HuffmanStreams.Indices;
        if (layout == SparseLayout.Csr) h |= HuffmanStreams.RowPointers;
        return h;
    }

    /// <summary>A random tensor of the given kind; about <paramref name="density"/> of the elements nonzero.</summary>
    public static SlimTensor Random(Random rng, string name, int[] shape, SparseLayout layout, ValueEncoding enc, bool huffman, double density = 0.3, int bits = 0, int gapBits = 3)
    {
        long n = 1;
        foreach (int d in shape) n *= d;
        int rows = shape[0];
        var h = AllowedHuffman(layout, enc, huffman);
        bool Keep() => rng.NextDouble() < density;
        switch (enc)
        {
            case ValueEncoding.Float32:
            {
                var v = new float[n];
                for (int i = 0; i < n; i++) v[i] = Keep() ? (float)(rng.NextDouble() * 2 - 1) * MathF.Pow(10, rng.Next(-3, 3)) : 0f;
                return SlimTensor.Dense(name, shape, v, layout, gapBits, h);
            }
            case ValueEncoding.Float16:
            {
                var v = new float[n];
                for (int i = 0; i < n; i++) v[i] = Keep() ? (float)(rng.NextDouble() * 2 - 1) : 0f;
                return SlimTensor.Float16(name, shape, v, layout, gapBits, h);
            }
            case ValueEncoding.FixedPoint:
            {
                int m = bits == 0 ? rng.Next(1, 17) : bits;
                int lo = -(1 << (m - 1)), hi = (1 << (m - 1)) - 1;
                var q = new short[n];
                for (int i = 0; i < n; i++) q[i] = Keep() ? (short)rng.Next(lo, hi + 1) : (short)0;
                var scales = new float[rng.Next(2) == 0 ? 1 : rows];
                if (scales.Length == 0) scales = new float[1];
                for (int i = 0; i < scales.Length; i++) scales[i] = (float)rng.NextDouble() * 0.1f + 1e-4f;
                var mode = rng.Next(2) == 0 ? FixedPointMode.TwosComplement : FixedPointMode.Offset;
                return SlimTensor.FixedPoint(name, shape, q, scales, m, mode, layout, gapBits, h);
            }
            case ValueEncoding.Codebook:
            {
                int b = bits == 0 ? rng.Next(1, 9) : bits;
                var book = new float[1 << b];
                for (int i = 1; i < book.Length; i++) book[i] = (float)(rng.NextDouble() * 2 - 1);
                var c = new ushort[n];
                for (int i = 0; i < n; i++) c[i] = Keep() ? (ushort)rng.Next(1, book.Length) : (ushort)0;
                return SlimTensor.Codebook(name, shape, c, book, b, layout, gapBits, h);
            }
            default:
            {
                int k = bits == 0 ? rng.Next(1, 5) : bits;
                var basis = new float[(long)rows * k];
                for (int i = 0; i < basis.Length; i++) basis[i] = (float)rng.NextDouble() + 0.01f;
                var c = new ushort[n];
                for (int i = 0; i < n; i++) c[i] = Keep() ? (ushort)rng.Next(1, 1 << k) : (ushort)0;
                return SlimTensor.BitPlanes(name, shape, c, basis, k, BitPlaneMode.ZeroOne, layout, gapBits, h);
            }
        }
    }

    public static ModelGraph Mlp()
    {
        var g = new GraphBuilder("test-mlp", 12);
        g.Linear("fc1", 12, 7);
        g.ReLU("relu1");
        g.Linear("fc2", 7, 5);
        return g.Build();
    }

    /// <summary>A small model whose tensors cover every layout × encoding (× Huffman when <paramref name="huffman"/>).</summary>
    public static SlimModel AllEncodings(int seed, bool huffman = true, int rows = 7, int cols = 12)
    {
        var rng = new Random(seed);
        var tensors = new List<SlimTensor>();
        foreach (var layout in Layouts)
            foreach (var enc in Encodings)
                foreach (bool h in huffman ? new[] { false, true } : new[] { false })
                    tensors.Add(Random(rng, $"t{tensors.Count}.{layout}.{enc}.{(h ? "h" : "r")}", [rows, cols], layout, enc, h));
        var meta = new Dictionary<string, string> { ["method"] = "test", ["accuracy"] = "0.99", ["zeta"] = "ünïcødé" };
        return new SlimModel(Mlp(), tensors, meta);
    }
}
