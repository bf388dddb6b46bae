using SlimNet.Compression.Importance;
using SlimNet.Format;
using SlimNet.Format.Graph;

namespace SlimNet.Compression.Tests.Importance;

public class FixedPointQuantizerTests
{
    // The scalar reference, written from the documented rules independently of the implementation.
    private static (short[] Codes, float Scale) Reference(float[] w, int b)
    {
        if (b == 0 || w.Length == 0) return (new short[w.Length], 0f);
        if (b == 1)
        {
            float mean = (float)(w.Sum(v => Math.Abs((double)v)) / w.Length);
            return (w.Select(v => v >= 0 ? (short)1 : (short)-1).ToArray(), mean);
        }
        int n = (1 << (b - 1)) - 1;
        float scale = (float)(w.Max(v => Math.Abs(v)) / (double)n);
        var codes = w.Select(v =>
        {
            if (scale == 0f) return (short)0;
            double r = v / (double)scale;
            double q = Math.Sign(r) * Math.Floor(Math.Abs(r) + 0.5);
            return (short)Math.Max(-n, Math.Min(n, q));
        }).ToArray();
        return (codes, scale);
    }

    private static IEnumerable<float[]> Inputs()
    {
        var rng = new Random(42);
        foreach (int length in new[] { 0, 1, 2, 3, 7, 16, 31, 65, 257 })
            yield return Enumerable.Range(0, length).Select(_ => (float)(rng.NextDouble() * 2 - 1) * 3f).ToArray();
        yield return new float[9];                                              // all zeros
        yield return [-0f, 0f, -0f];
        yield return [5f];
        yield return [-5f];
        yield return [float.MaxValue, -float.MaxValue, 1f, 0f, -1e-30f];         // extreme range
        yield return [1e-30f, -2e-30f, 1.5e-30f];                                 // tiny scale
        yield return [1f, -0.5f, 0.25f, 1f / 3, -1f / 7, 0.5f / 127, 1.5f / 127]; // exact midpoints at 8 bits
    }

    [Fact]
    public void QuantizeAndDequantizeMatchTheScalarReference()
    {
        int cases = 0;
        foreach (var w in Inputs())
            for (int b = 0; b <= FixedPointQuantizer.MaxBits; b++)
            {
                var (codes, scale) = FixedPointQuantizer.Quantize(w, b);
                var (refCodes, refScale) = Reference(w, b);
                Assert.Equal(refScale, scale);
                Assert.Equal(refCodes, codes);
                var values = FixedPointQuantizer.Dequantize(codes, scale);
                Assert.Equal(refCodes.Select(q => (float)(q * (double)refScale)).ToArray(), values);
                if (b >= 2 && scale > 0 && float.IsFinite(scale * FixedPointQuantizer.MaxCode(b)))
                    for (int i = 0; i < w.Length; i++)
                        Assert.True(Math.Abs(values[i] - (double)w[i]) <= scale * 0.5000001 + 2.0 * ((double)MathF.BitIncrement(Math.Abs(w[i])) - Math.Abs(w[i])), $"b={b} w={w[i]:R} q={codes[i]} v={values[i]:R} s={scale:R}");
                cases++;
            }
        Assert.Equal(16 * 17, cases);
    }

    [Fact]
    public void RoundsHalfAwayFromZeroAndClamps()
    {
        Assert.Equal(2, FixedPointQuantizer.QuantizeOne(1.5f, 1f, 4));
        Assert.Equal(-2, FixedPointQuantizer.QuantizeOne(-1.5f, 1f, 4));
        Assert.Equal(3, FixedPointQuantizer.QuantizeOne(2.5f, 1f, 4));
        Assert.Equal(7, FixedPointQuantizer.QuantizeOne(100f, 1f, 4));
        Assert.Equal(-7, FixedPointQuantizer.QuantizeOne(-100f, 1f, 4));
        Assert.Equal(32767, FixedPointQuantizer.QuantizeOne(1e9f, 1f, 16));
        Assert.Equal(-1, FixedPointQuantizer.QuantizeOne(-0.1f, 1f, 1));
        Assert.Equal(1, FixedPointQuantizer.QuantizeOne(0f, 1f, 1));
        Assert.Equal(0, FixedPointQuantizer.QuantizeOne(5f, 1f, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => FixedPointQuantizer.QuantizeOne(1f, 1f, 17));
    }

    [Fact]
    public void GroupedUsesOneScalePerBitWidth()
    {
        var rng = new Random(3);
        var w = Enumerable.Range(0, 101).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var bits = Enumerable.Range(0, 101).Select(_ => (byte)new[] { 0, 2, 4, 8 }[rng.Next(4)]).ToArray();
        var g = FixedPointQuantizer.QuantizeGrouped(w, bits);
        foreach (int b in new[] { 0, 2, 4, 8 })
        {
            var group = w.Where((_, i) => bits[i] == b).ToArray();
            var (codes, scale) = Reference(group, b);
            Assert.Equal(scale, g.Scales[b]);
            Assert.Equal(codes, g.Codes.Where((_, i) => bits[i] == b).ToArray());
        }
        var values = g.Dequantize();
        for (int i = 0; i < w.Length; i++) if (bits[i] == 0) Assert.Equal(0f, values[i]);
        Assert.False(FixedPointQuantizer.StoresExactly(bits));
    }

    private static long FileBytes(SlimTensor tensor) => SlimWriter.ToBytes(new SlimModel(GraphFor(), [tensor])).Length;

    [Fact]
    public void BitWidthZeroRemovesElementsFromStorage()
    {
        var rng = new Random(9);
        int[] shape = [8, 16];
        var w = Enumerable.Range(0, 128).Select(_ => (float)(rng.NextDouble() * 2 - 0.9)).ToArray();

        var allFour = FixedPointQuantizer.QuantizeGrouped(w, Enumerable.Repeat((byte)4, 128).ToArray());
        var dense = FixedPointQuantizer.ToSlimTensor("fc.weight", shape, allFour);
        Assert.Equal(SparseLayout.Dense, dense.Sparsity);
        Assert.Equal(allFour.Dequantize(), dense.ToDense());

        var halfBits = Enumerable.Range(0, 128).Select(i => i % 4 == 0 ? (byte)4 : (byte)0).ToArray();
        var half = FixedPointQuantizer.QuantizeGrouped(w, halfBits);
        var sparse = FixedPointQuantizer.ToSlimTensor("fc.weight", shape, half);
        Assert.Equal(SparseLayout.Csr, sparse.Sparsity);
        Assert.Equal(ValueEncoding.FixedPoint, sparse.Encoding);
        Assert.Equal(4, sparse.Bits);
        Assert.Equal(half.Dequantize(), sparse.ToDense());
        Assert.True(sparse.StoredCount <= 32);
        Assert.DoesNotContain(sparse.StoredPositions(), p => halfBits[p] == 0);

        var none = FixedPointQuantizer.ToSlimTensor("fc.weight", shape, FixedPointQuantizer.QuantizeGrouped(w, new byte[128]));
        Assert.Equal(0, none.StoredCount);
        Assert.All(none.ToDense(), v => Assert.Equal(0f, v));

        long denseBytes = FileBytes(dense), halfBytes = FileBytes(sparse), noneBytes = FileBytes(none);
        Assert.True(noneBytes < halfBytes && halfBytes < denseBytes, $"bytes: none {noneBytes}, half {halfBytes}, dense {denseBytes}");
        // The read-back file holds what was written.
        var read = SlimReader.Read(SlimWriter.ToBytes(new SlimModel(GraphFor(), [sparse])));
        Assert.Equal(half.Dequantize(), read.FindTensor("fc.weight")!.ToDense());
    }

    private static ModelGraph GraphFor()
    {
        var b = new GraphBuilder("one", 16);
        b.Linear("fc", 16, 8, bias: false);
        return b.Build();
    }

    [Fact]
    public void BinaryAndMixedWidthsStoreAsDocumented()
    {
        var rng = new Random(5);
        int[] shape = [8, 16];
        var w = Enumerable.Range(0, 128).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();

        var ones = FixedPointQuantizer.QuantizeGrouped(w, Enumerable.Range(0, 128).Select(i => i % 4 == 0 ? (byte)0 : (byte)1).ToArray());
        var binary = FixedPointQuantizer.ToSlimTensor("fc.weight", shape, ones);
        Assert.Equal(2, binary.Bits);
        Assert.Equal(ones.Dequantize(), binary.ToDense());

        var mixedBits = Enumerable.Range(0, 128).Select(i => (byte)new[] { 0, 2, 6 }[i % 3]).ToArray();
        var mixed = FixedPointQuantizer.QuantizeGrouped(w, mixedBits);
        var stored = FixedPointQuantizer.ToSlimTensor("fc.weight", shape, mixed);
        Assert.Equal(6, stored.Bits);
        var exact = mixed.Dequantize();
        var decoded = stored.ToDense();
        float step = stored.Scales![0];
        for (int i = 0; i < exact.Length; i++)
        {
            Assert.True(Math.Abs(decoded[i] - exact[i]) <= step * 0.5000001, $"element {i}: {decoded[i]} vs {exact[i]}");
            if (mixedBits[i] == 0) Assert.Equal(0f, decoded[i]);
        }
    }
}
