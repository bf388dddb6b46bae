using SlimNet.Runtime.Kernels;

namespace SlimNet.Runtime.Tests.Kernels;

public class DenseKernelTests
{
    public static IEnumerable<object[]> Levels() => SimdSupport.Supported.Select(l => new object[] { (int)l });

    private static readonly int[] Lengths =
        Enumerable.Range(1, 33).Concat(new[] { 47, 63, 64, 65, 127, 300, 784 }).ToArray();

    private static readonly (int Batch, int Out)[] SmallShapes = { (1, 1), (1, 7), (2, 4), (3, 5), (4, 4), (5, 9), (9, 3) };

    [Theory, MemberData(nameof(Levels))]
    public void Gemm_MatchesDoublePrecision_OverManyShapes(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        foreach (int n in Lengths)
            foreach (var (batch, m) in SmallShapes)
                Check(level, batch, n, m, seed: n * 131 + batch * 7 + m);
    }

    [Theory, MemberData(nameof(Levels))]
    public void Gemm_MatchesDoublePrecision_OnLeNetShapes(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        Check(level, 1, 784, 300, 1);
        Check(level, 64, 784, 300, 2);
        Check(level, 64, 300, 100, 3);
        Check(level, 7, 100, 10, 4);
        Check(level, 66, 65, 33, 5);
    }

    private static void Check(SimdLevel level, int batch, int n, int m, int seed)
    {
        var x = TestData.Uniform(seed, batch * n);
        var w = TestData.Uniform(seed + 1, m * n);
        var bias = seed % 2 == 0 ? TestData.Uniform(seed + 2, m) : Array.Empty<float>();
        var y = new float[batch * m];
        DenseKernels.Gemm(x, w, bias, y, batch, n, m, level);
        var (expected, mag) = TestData.Linear(x, w, bias, batch, n, m);
        TestData.Close(expected, mag, y, $"{level} batch {batch} in {n} out {m}");
    }

    [Theory, MemberData(nameof(Levels))]
    public void GemmCodebook_EqualsGemmOnDecodedWeights(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        foreach (int entries in new[] { 5, 32, 200 })
        foreach (int n in new[] { 1, 7, 16, 17, 33, 65, 300 })
            foreach (var (batch, m) in SmallShapes)
            {
                var rng = new Random(n + batch);
                var book = TestData.Uniform(n, entries);
                var codes = Enumerable.Range(0, n * m).Select(_ => (byte)rng.Next(book.Length)).ToArray();
                var wide = codes.Select(c => (ushort)c).ToArray();
                var w = codes.Select(c => book[c]).ToArray();
                var x = TestData.Uniform(n * 3, batch * n);
                var bias = TestData.Uniform(m, m);
                var (expected, mag) = TestData.Linear(x, w, bias, batch, n, m);
                var y = new float[batch * m];
                DenseKernels.GemmCodebook(x, codes, book, bias, y, batch, n, m, level);
                TestData.Close(expected, mag, y, $"byte codes {level} {batch}x{n}x{m}");
                DenseKernels.GemmCodebook(x, wide, book, bias, y, batch, n, m, level);
                TestData.Close(expected, mag, y, $"ushort codes {level} {batch}x{n}x{m}");
            }
    }

    [Theory, MemberData(nameof(Levels))]
    public void GemmFixedPoint_EqualsGemmOnScaledWeights(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        foreach (int n in new[] { 1, 5, 16, 31, 64, 65, 300 })
            foreach (var (batch, m) in SmallShapes)
                foreach (bool perRow in new[] { false, true })
                {
                    var rng = new Random(n * 3 + m);
                    var q = Enumerable.Range(0, n * m).Select(_ => (short)rng.Next(short.MinValue, short.MaxValue + 1)).ToArray();
                    var scales = perRow ? TestData.Uniform(n, m, 1e-4f) : new[] { 3e-5f };
                    var w = q.Select((v, k) => v * scales[perRow ? k / n : 0]).ToArray();
                    var x = TestData.Uniform(n * 5, batch * n);
                    var (expected, mag) = TestData.Linear(x, w, null, batch, n, m);
                    var y = new float[batch * m];
                    DenseKernels.GemmFixedPoint(x, q, scales, ReadOnlySpan<float>.Empty, y, batch, n, m, level);
                    TestData.Close(expected, mag, y, $"fixed point {level} {batch}x{n}x{m} perRow {perRow}");
                }
    }

    [Theory, MemberData(nameof(Levels))]
    public void Gemm_AllZeros_GivesBias(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        var y = new float[3 * 5];
        var bias = new float[] { 1, -2, 3, float.MaxValue, 0 };
        DenseKernels.Gemm(new float[3 * 37], new float[5 * 37], bias, y, 3, 37, 5, level);
        for (int b = 0; b < 3; b++) Assert.Equal(bias, y.AsSpan(b * 5, 5).ToArray());
    }

    [Theory, MemberData(nameof(Levels))]
    public void Gemm_ExtremeValues_OverflowLikeTheScalarPath(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        // Infinite inputs in the overlapped tail lanes must not turn into NaN (0·∞) in lanes already summed.
        foreach (int n in new[] { 17, 19, 33, 65 })
        {
            var x = TestData.Uniform(n, 4 * n, 1e30f);
            x[n - 1] = float.PositiveInfinity;
            var w = TestData.Uniform(n + 1, 4 * n);
            for (int i = 0; i < w.Length; i++) w[i] = Math.Abs(w[i]) + 0.5f;
            var expected = new float[4 * 4];
            var actual = new float[4 * 4];
            DenseKernels.Gemm(x, w, ReadOnlySpan<float>.Empty, expected, 4, n, 4, SimdLevel.Scalar);
            DenseKernels.Gemm(x, w, ReadOnlySpan<float>.Empty, actual, 4, n, 4, level);
            for (int i = 0; i < 4; i++) Assert.Equal(float.PositiveInfinity, actual[i]);
            for (int i = 4; i < 16; i++) Assert.True(float.IsFinite(actual[i]) && Math.Abs(actual[i] - expected[i]) <= 1e-4 * Math.Abs(expected[i]));
        }
    }

    [Fact]
    public void Gemm_RejectsWrongLengths()
    {
        Assert.Throws<ArgumentException>(() => DenseKernels.Gemm(new float[10], new float[20], default, new float[2], 1, 10, 3));
        Assert.Throws<ArgumentException>(() => DenseKernels.Gemm(new float[10], new float[20], new float[1], new float[2], 1, 10, 2));
        Assert.Throws<ArgumentException>(() => DenseKernels.GemmCodebook(new float[4], new byte[] { 0, 1, 2, 3 }, new float[3], default, new float[1], 1, 4, 1));
        Assert.Throws<ArgumentException>(() => DenseKernels.GemmFixedPoint(new float[4], new short[8], new float[3], default, new float[2], 1, 4, 2));
    }
}
