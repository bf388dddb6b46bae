using SlimNet.Runtime.Kernels;

namespace SlimNet.Runtime.Tests.Kernels;

public class SignMaskKernelTests
{
    public static IEnumerable<object[]> Levels() => SimdSupport.Supported.Select(l => new object[] { (int)l });

    private static readonly int[] Widths = { 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129, 1000 };
    private static readonly int[] Batches = { 1, 2, 3, 4, 5, 17, 64 };

    private static SignMaskWeights RandomWeights(Random rng, int rows, int cols, bool binary, double zeroFraction = 0.3)
    {
        if (binary)
        {
            var positive = Enumerable.Range(0, rows * cols).Select(_ => rng.Next(2) == 1).ToArray();
            var alpha = Enumerable.Range(0, rows).Select(_ => (float)(rng.NextDouble() * 2 - 0.5)).ToArray();
            return SignMaskWeights.Binary(positive, alpha, rows, cols);
        }
        var signs = Enumerable.Range(0, rows * cols).Select(_ => rng.NextDouble() < zeroFraction ? (sbyte)0 : (sbyte)(rng.Next(2) * 2 - 1)).ToArray();
        var plus = Enumerable.Range(0, rows).Select(_ => (float)(rng.NextDouble() + 0.1)).ToArray();
        var minus = Enumerable.Range(0, rows).Select(_ => (float)(rng.NextDouble() + 0.1)).ToArray();
        return SignMaskWeights.Ternary(signs, plus, minus, rows, cols);
    }

    private static void Check(SignMaskWeights w, float[] x, float[] bias, int batch, SimdLevel level, string what)
    {
        var y = new float[batch * w.Rows];
        var scratch = new float[SignMaskKernels.ScratchSize(batch, w.Cols, w.Rows)];
        SignMaskKernels.Gemm(w, x, bias, y, batch, scratch, level);
        var (expected, magnitude) = TestData.Linear(x, w.ToDense(), bias, batch, w.Cols, w.Rows);
        TestData.Close(expected, magnitude, y, what, relative: 1e-5);
    }

    [Theory, MemberData(nameof(Levels))]
    public void Gemm_MatchesTheScalarReference_OnRandomShapes(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        var rng = new Random(31);
        foreach (int cols in Widths)
            foreach (bool binary in new[] { true, false })
                foreach (int batch in Batches)
                {
                    int rows = 1 + rng.Next(20);
                    var w = RandomWeights(rng, rows, cols, binary);
                    var x = TestData.Uniform(cols * 7 + batch, batch * cols);
                    var bias = rows % 3 == 0 ? Array.Empty<float>() : TestData.Uniform(rows, rows);
                    Check(w, x, bias, batch, level, $"{level} {(binary ? "binary" : "ternary")} cols {cols} rows {rows} batch {batch}");
                }
    }

    [Theory, MemberData(nameof(Levels))]
    public void Gemm_HandlesAllZeroWeightsAndExtremeValues(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        var rng = new Random(5);
        foreach (int cols in new[] { 1, 63, 64, 65, 1000 })
            foreach (int batch in new[] { 1, 8 })
            {
                var zero = RandomWeights(rng, 5, cols, binary: false, zeroFraction: 1.0);
                var x = TestData.Uniform(3, batch * cols, 1e30f);
                var y = new float[batch * 5];
                var bias = new float[] { 1, 2, 3, 4, 5 };
                SignMaskKernels.Gemm(zero, x, bias, y, batch, new float[SignMaskKernels.ScratchSize(batch, cols, 5)], level);
                for (int e = 0; e < y.Length; e++) Assert.Equal(bias[e % 5], y[e]);
                // Inputs of ±1e30 and weights near 1: sums stay finite and match the double reference.
                Check(RandomWeights(rng, 5, cols, binary: false), x, bias, batch, level, $"{level} extreme ternary cols {cols}");
                Check(RandomWeights(rng, 5, cols, binary: true), x, bias, batch, level, $"{level} extreme binary cols {cols}");
                var tiny = TestData.Uniform(4, batch * cols, 1e-30f);
                Check(RandomWeights(rng, 5, cols, binary: false), tiny, [], batch, level, $"{level} tiny cols {cols}");
            }
    }

    [Theory, MemberData(nameof(Levels))]
    public unsafe void Convolution_MatchesTheLoopReference(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        var rng = new Random(12);
        foreach (var (c, h, w, o, k, stride, pad) in new[] { (1, 5, 5, 3, 3, 1, 0), (3, 9, 7, 5, 3, 2, 1), (4, 6, 6, 17, 1, 1, 0), (2, 12, 12, 4, 5, 1, 2) })
            foreach (bool binary in new[] { true, false })
            {
                int batch = 2;
                var weights = RandomWeights(rng, o, c * k * k, binary);
                var g = ConvKernels.Geometry.Create(batch, c, h, w, o, k, k, stride, pad);
                var x = TestData.Uniform(c + h, batch * c * h * w);
                var bias = TestData.Uniform(o, o);
                var y = new float[batch * o * g.Pixels];
                var scratch = new float[SignMaskKernels.ConvScratchSize(g)];
                fixed (float* px = x, pb = bias, py = y, ps = scratch)
                    SignMaskKernels.RunConv(weights, px, pb, py, ps, g, level);
                var dense = weights.ToDense();
                for (int n = 0; n < batch; n++)
                    for (int oc = 0; oc < o; oc++)
                        for (int oy = 0; oy < g.Ho; oy++)
                            for (int ox = 0; ox < g.Wo; ox++)
                            {
                                double s = bias[oc], mag = Math.Abs(bias[oc]);
                                for (int ci = 0; ci < c; ci++)
                                    for (int ky = 0; ky < k; ky++)
                                        for (int kx = 0; kx < k; kx++)
                                        {
                                            int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                            double p = (double)x[((n * c + ci) * h + iy) * w + ix] * dense[oc * c * k * k + (ci * k + ky) * k + kx];
                                            s += p;
                                            mag += Math.Abs(p);
                                        }
                                float actual = y[((n * o + oc) * g.Ho + oy) * g.Wo + ox];
                                Assert.True(Math.Abs(actual - s) <= 1e-5 * mag + 1e-6, $"{level} conv {c}x{h}x{w} k{k}: {actual} vs {s}");
                            }
            }
    }

    [Fact]
    public void Gemm_RejectsWrongLengths()
    {
        var w = RandomWeights(new Random(1), 3, 10, binary: true);
        Assert.Throws<ArgumentException>(() => SignMaskKernels.Gemm(w, new float[19], [], new float[6], 2, []));
        Assert.Throws<ArgumentException>(() => SignMaskKernels.Gemm(w, new float[20], [1, 2], new float[6], 2, []));
        Assert.Throws<ArgumentException>(() => SignMaskKernels.Gemm(w, new float[50], [], new float[15], 5, new float[3]));
    }
}
