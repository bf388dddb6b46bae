using SlimNet.Runtime.Kernels;

namespace SlimNet.Runtime.Tests.Kernels;

public class SparseKernelTests
{
    public static IEnumerable<object[]> Levels() => SimdSupport.Supported.Select(l => new object[] { (int)l });

    private static readonly int[] Lengths = Enumerable.Range(1, 33).Concat(new[] { 63, 64, 65, 300, 784 }).ToArray();
    private static readonly int[] Batches = { 1, 2, 3, 4, 5, 17, 64, 65 };

    [Theory, MemberData(nameof(Levels))]
    public void CsrGemm_EqualsDenseOracle_OverManyShapes(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        foreach (int n in Lengths)
            foreach (double density in new[] { 0.0, 0.08, 0.5, 1.0 })
                foreach (int batch in n > 100 ? new[] { 1, 5, 64 } : Batches)
                    Check(level, batch, n, m: n > 100 ? 37 : 9, density, seed: n * 17 + batch);
    }

    [Theory, MemberData(nameof(Levels))]
    public void CsrGemm_WithGathers_EqualsDenseOracle(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        // Other tests may run meanwhile with gathers on; both paths are correct, so that is harmless.
        SparseKernels.UseGathers = true;
        try
        {
            foreach (int n in Lengths)
                foreach (double density in new[] { 0.0, 0.3, 1.0 })
                    foreach (int m in new[] { 1, 9 })
                        Check(level, 1, n, m, density, seed: n * 5 + m);
            Check(level, 2, 784, 300, 0.08, 1);
        }
        finally
        {
            SparseKernels.UseGathers = false;
        }
    }

    [Theory, MemberData(nameof(Levels))]
    public void CsrGemm_EqualsDenseOracle_OnLeNetLayer(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        Check(level, 1, 784, 300, 0.08, 1);
        Check(level, 64, 784, 300, 0.08, 2);
    }

    private static void Check(SimdLevel level, int batch, int n, int m, double density, int seed)
    {
        var (dense, rowPtr, colIdx, values) = TestData.Sparse(seed, m, n, density);
        var x = TestData.Uniform(seed + 1, batch * n);
        var bias = seed % 2 == 0 ? TestData.Uniform(seed + 2, m) : Array.Empty<float>();
        var (expected, mag) = TestData.Linear(x, dense, bias, batch, n, m);
        var y = new float[batch * m];
        SparseKernels.CsrGemm(x, rowPtr, colIdx, values, bias, y, batch, n, m, level);
        TestData.Close(expected, mag, y, $"CSR {level} batch {batch} in {n} out {m} density {density}");
    }

    [Theory, MemberData(nameof(Levels))]
    public void CsrGemmCodebookAndFixedPoint_EqualDecodedWeights(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        foreach (int n in new[] { 1, 7, 16, 33, 65, 300 })
            foreach (int batch in new[] { 1, 3, 4, 9, 64 })
            {
                int m = 11, seed = n * 7 + batch;
                var (_, rowPtr, colIdx, _) = TestData.Sparse(seed, m, n, 0.3);
                int nnz = rowPtr[m];
                var rng = new Random(seed);
                var book = TestData.Uniform(seed, 37);
                var codes = Enumerable.Range(0, nnz).Select(_ => (byte)rng.Next(book.Length)).ToArray();
                var wide = codes.Select(c => (ushort)c).ToArray();
                var q = Enumerable.Range(0, nnz).Select(_ => (short)rng.Next(-32768, 32768)).ToArray();
                var scales = TestData.Uniform(seed + 3, m, 1e-4f);
                var x = TestData.Uniform(seed + 1, batch * n);
                var bias = TestData.Uniform(seed + 2, m);
                var y = new float[batch * m];

                var w = Densify(rowPtr, colIdx, k => book[codes[k]], m, n, _ => 1f);
                var (expected, mag) = TestData.Linear(x, w, bias, batch, n, m);
                SparseKernels.CsrGemmCodebook(x, rowPtr, colIdx, codes, book, bias, y, batch, n, m, level);
                TestData.Close(expected, mag, y, $"byte codebook {level} {batch}x{n}");
                SparseKernels.CsrGemmCodebook(x, rowPtr, colIdx, wide, book, bias, y, batch, n, m, level);
                TestData.Close(expected, mag, y, $"ushort codebook {level} {batch}x{n}");

                foreach (bool perRow in new[] { false, true })
                {
                    var s = perRow ? scales : scales[..1];
                    w = Densify(rowPtr, colIdx, k => q[k], m, n, o => s[perRow ? o : 0]);
                    (expected, mag) = TestData.Linear(x, w, bias, batch, n, m);
                    SparseKernels.CsrGemmFixedPoint(x, rowPtr, colIdx, q, s, bias, y, batch, n, m, level);
                    TestData.Close(expected, mag, y, $"fixed point {level} {batch}x{n} perRow {perRow}");
                }
            }
    }

    private static float[] Densify(int[] rowPtr, int[] colIdx, Func<int, float> value, int m, int n, Func<int, float> rowScale)
    {
        var w = new float[m * n];
        for (int o = 0; o < m; o++)
            for (int k = rowPtr[o]; k < rowPtr[o + 1]; k++) w[o * n + colIdx[k]] = value(k) * rowScale(o);
        return w;
    }

    [Theory, MemberData(nameof(Levels))]
    public void CsrGemm_EmptyRowsGiveBias(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        var rowPtr = new int[6];
        var bias = new float[] { 1, 2, 3, 4, 5 };
        foreach (int batch in new[] { 1, 8 })
        {
            var y = new float[batch * 5];
            SparseKernels.CsrGemm(TestData.Uniform(1, batch * 3), rowPtr, Array.Empty<int>(), Array.Empty<float>(), bias, y, batch, 3, 5, level);
            for (int b = 0; b < batch; b++) Assert.Equal(bias, y.AsSpan(b * 5, 5).ToArray());
        }
    }

    [Theory, MemberData(nameof(Levels))]
    public void CsrGemm_InfiniteInput_ReachesOnlyTheRowsThatUseIt(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        int n = 70, m = 12;
        var (dense, rowPtr, colIdx, values) = TestData.Sparse(7, m, n, 0.5);
        for (int k = 0; k < values.Length; k++) values[k] = Math.Abs(values[k]) + 0.5f;
        foreach (int batch in new[] { 1, 8 })
        {
            var x = TestData.Uniform(batch, batch * n, 1e30f);
            for (int b = 0; b < batch; b++) x[b * n + 33] = float.PositiveInfinity;
            var y = new float[batch * m];
            SparseKernels.CsrGemm(x, rowPtr, colIdx, values, ReadOnlySpan<float>.Empty, y, batch, n, m, level);
            for (int b = 0; b < batch; b++)
                for (int o = 0; o < m; o++)
                {
                    bool touches = dense[o * n + 33] != 0;
                    Assert.True(touches ? float.IsPositiveInfinity(y[b * m + o]) : float.IsFinite(y[b * m + o]), $"batch {batch} row {b} output {o}: {y[b * m + o]}");
                }
        }
    }

    [Fact]
    public void CsrGemm_RejectsBadStructure()
    {
        var x = new float[4];
        var y = new float[2];
        Assert.Throws<ArgumentException>(() => SparseKernels.CsrGemm(x, new[] { 0, 1 }, new[] { 0 }, new[] { 1f }, default, y, 1, 4, 2));
        Assert.Throws<ArgumentException>(() => SparseKernels.CsrGemm(x, new[] { 0, 2, 1 }, new[] { 0, 1 }, new[] { 1f, 1f }, default, y, 1, 4, 2));
        Assert.Throws<ArgumentException>(() => SparseKernels.CsrGemm(x, new[] { 0, 1, 2 }, new[] { 0, 4 }, new[] { 1f, 1f }, default, y, 1, 4, 2));
        Assert.Throws<ArgumentException>(() => SparseKernels.CsrGemm(x, new[] { 0, 1, 2 }, new[] { 0, 1 }, new[] { 1f }, default, y, 1, 4, 2));
        Assert.Throws<ArgumentException>(() => SparseKernels.CsrGemmCodebook(x, new[] { 0, 1, 2 }, new[] { 0, 1 }, new byte[] { 0, 5 }, new float[5], default, y, 1, 4, 2));
    }
}
