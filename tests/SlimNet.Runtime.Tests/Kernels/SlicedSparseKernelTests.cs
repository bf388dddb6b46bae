using SlimNet.Runtime.Kernels;

namespace SlimNet.Runtime.Tests.Kernels;

public class SlicedSparseKernelTests
{
    /// <summary>The scalar reference path, and the AVX-512 path where the machine has it.</summary>
    public static IEnumerable<object[]> Levels() =>
        new[] { SimdLevel.Scalar, SimdLevel.Vector512 }.Where(SimdSupport.IsSupported).Select(l => new object[] { (int)l });

    // Around the slice (16 rows) and chunk (31 columns, 32-entry table) edges, plus the LeNet-300-100 layers.
    private static readonly (int Rows, int Cols)[] Shapes =
    {
        (1, 1), (1, 31), (1, 32), (16, 1), (17, 1), (1, 784), (3, 5), (9, 30), (15, 31), (16, 32), (17, 33), (31, 62), (33, 63),
        (32, 64), (47, 65), (10, 100), (100, 300),
    };

    private static readonly double[] Densities = { 0.0, 0.05, 0.3, 1.0 };

    [Theory, MemberData(nameof(Levels))]
    public void FloatValues_EqualDenseOracle_OverShapesDensitiesAndZeroPatterns(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        int seed = 0;
        foreach (var (m, n) in Shapes)
            foreach (double density in Densities)
                foreach (int batch in new[] { 1, 2, 5 })
                {
                    seed++;
                    var (dense, rowPtr, colIdx, values) = TestData.Sparse(seed, m, n, density);
                    var w = SlicedSparseMatrix.FromCsr(m, n, rowPtr, colIdx, values);
                    Assert.Null(w.Codebook);
                    Assert.Equal(values.Length, w.NonZeros);
                    foreach (double zeros in new[] { 0.0, 0.5, 1.0 })
                        Check(level, w, dense, batch, m, n, zeros, seed, $"float {m}x{n} density {density} batch {batch} zeros {zeros}");
                }
    }

    [Theory, MemberData(nameof(Levels))]
    public void CodebookCodes_EqualDenseOracle_OverShapesDensitiesAndCodebookSizes(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        int seed = 1000;
        foreach (var (m, n) in Shapes)
            foreach (double density in Densities)
                foreach (int entries in new[] { 1, 7, 32 })
                {
                    seed++;
                    var (dense, rowPtr, colIdx, codes, book) = SparseCodebook(seed, m, n, density, entries);
                    var w = SlicedSparseMatrix.FromCsr(m, n, rowPtr, colIdx, codes, book);
                    Assert.NotNull(w.Codebook);
                    Check(level, w, dense, batch: 1 + seed % 3, m, n, zeroFraction: 0.5, seed, $"codes {m}x{n} density {density} codebook {entries}");
                }
    }

    [Theory, MemberData(nameof(Levels))]
    public void EmptyRowsAndColumns_AndExactZeroValues_AreHandled(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        // Rows 0, 5 and 16..19 are empty; columns 31..61 (a whole chunk) are empty; some stored values are exactly 0 (gap fillers).
        int m = 20, n = 70;
        var rng = new Random(5);
        var dense = new float[m * n];
        var rowPtr = new int[m + 1];
        var colIdx = new List<int>();
        var values = new List<float>();
        for (int r = 0; r < m; r++)
        {
            if (r is not (0 or 5) && r < 16)
                for (int c = 0; c < n; c++)
                    if ((c < 31 || c > 61) && rng.NextDouble() < 0.4)
                    {
                        float v = rng.NextDouble() < 0.2 ? 0f : (float)(rng.NextDouble() * 2 - 1);
                        dense[r * n + c] = v;
                        colIdx.Add(c);
                        values.Add(v);
                    }
            rowPtr[r + 1] = colIdx.Count;
        }
        var w = SlicedSparseMatrix.FromCsr(m, n, rowPtr, colIdx.ToArray(), values.ToArray());
        Assert.Equal(values.Count(v => v != 0), w.NonZeros);
        for (int s = 0; s < w.Slices; s++)
            Assert.Equal(w.BlockStart[s * w.Chunks + 1], w.BlockStart[s * w.Chunks + 2]); // the empty chunk has no slots
        Check(level, w, dense, 3, m, n, 0.3, 7, "empty rows and columns");
    }

    [Theory, MemberData(nameof(Levels))]
    public void PaddingLanes_AddExactlyZero_EvenForNonFiniteUnusedInputs(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        // Only column 3 is used; padding must not read the infinite and NaN inputs elsewhere.
        int m = 18, n = 40;
        var rowPtr = Enumerable.Range(0, m + 1).Select(r => Math.Min(r, m - 1)).ToArray(); // rows 0..16 hold one entry, row 17 none
        var colIdx = Enumerable.Repeat(3, m - 1).ToArray();
        var values = Enumerable.Range(1, m - 1).Select(v => (float)v).ToArray();
        var w = SlicedSparseMatrix.FromCsr(m, n, rowPtr, colIdx, values);
        var x = Enumerable.Range(0, n).Select(i => i == 3 ? 2f : i % 2 == 0 ? float.PositiveInfinity : float.NaN).ToArray();
        var y = new float[m];
        SlicedSparseKernels.Gemm(x, w, ReadOnlySpan<float>.Empty, y, 1, level);
        for (int r = 0; r < m; r++) Assert.Equal(r < m - 1 ? 2f * (r + 1) : 0f, y[r]);
    }

    [Fact]
    public void LeNetFc1_AtDeepCompressionDensity_MatchesOracle_AndUsesFewSlots()
    {
        var (dense, rowPtr, colIdx, codes, book) = SparseCodebook(11, 300, 784, 0.055, 32);
        var w = SlicedSparseMatrix.FromCsr(300, 784, rowPtr, colIdx, codes, book);
        // Far fewer 16-lane slots than non-zeros: that is where the speed comes from.
        Assert.True(w.SlotCount * 16 < 4 * w.NonZeros, $"{w.SlotCount} slots for {w.NonZeros} non-zeros");
        foreach (var level in new[] { SimdLevel.Scalar, SimdLevel.Vector512 }.Where(SimdSupport.IsSupported))
            Check(level, w, dense, 1, 300, 784, 0.0, 12, $"fc1 {level}");
    }

    [Fact]
    public void RejectsBadArguments()
    {
        var (_, rowPtr, colIdx, values) = TestData.Sparse(1, 4, 5, 0.5);
        Assert.ThrowsAny<ArgumentException>(() => SlicedSparseMatrix.FromCsr(4, 5, rowPtr, colIdx, values.AsSpan(0, Math.Max(0, values.Length - 1))));
        Assert.ThrowsAny<ArgumentException>(() => SlicedSparseMatrix.FromCsr(4, 5, rowPtr, colIdx, new byte[values.Length], new float[33]));
        var w = SlicedSparseMatrix.FromCsr(4, 5, rowPtr, colIdx, values);
        Assert.ThrowsAny<ArgumentException>(() => SlicedSparseKernels.Gemm(new float[4], w, ReadOnlySpan<float>.Empty, new float[4], 1));
        Assert.ThrowsAny<ArgumentException>(() => SlicedSparseKernels.Gemm(new float[5], w, new float[3], new float[4], 1));
    }

    private static void Check(SimdLevel level, SlicedSparseMatrix w, float[] dense, int batch, int m, int n, double zeroFraction, int seed, string what)
    {
        var x = TestData.Uniform(seed + 1, batch * n);
        var rng = new Random(seed + 2);
        for (int i = 0; i < x.Length; i++)
            if (zeroFraction >= 1 || rng.NextDouble() < zeroFraction) x[i] = 0;
        var bias = seed % 2 == 0 ? TestData.Uniform(seed + 3, m) : Array.Empty<float>();
        var (expected, mag) = TestData.Linear(x, dense, bias, batch, n, m);
        var y = new float[batch * m + 3];
        Array.Fill(y, 99f);
        SlicedSparseKernels.Gemm(x, w, bias, y, batch, level);
        TestData.Close(expected, mag, y.AsSpan(0, batch * m), $"{what} ({level})");
        Assert.All(y[(batch * m)..], v => Assert.Equal(99f, v)); // nothing written past the output
    }

    private static (float[] Dense, int[] RowPtr, int[] ColIdx, byte[] Codes, float[] Codebook) SparseCodebook(int seed, int rows, int cols, double density, int entries)
    {
        var rng = new Random(seed);
        var book = Enumerable.Range(0, entries).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var dense = new float[rows * cols];
        var rowPtr = new int[rows + 1];
        var colIdx = new List<int>();
        var codes = new List<byte>();
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
                if (rng.NextDouble() < density)
                {
                    byte code = (byte)rng.Next(entries);
                    dense[r * cols + c] = book[code];
                    colIdx.Add(c);
                    codes.Add(code);
                }
            rowPtr[r + 1] = colIdx.Count;
        }
        return (dense, rowPtr, colIdx.ToArray(), codes.ToArray(), book);
    }
}
