using SlimNet.Runtime.Kernels;

namespace SlimNet.Runtime.Tests.Kernels;

public class BitOpKernelTests
{
    public static IEnumerable<object[]> Levels() => SimdSupport.Supported.Select(l => new object[] { (int)l });

    private static readonly int[] Widths = { 1, 2, 63, 64, 65, 127, 128, 129, 511, 513, 1000, 2048 + 17 };

    [Fact]
    public void PackPlanes_PutsEachBitInPlace_AndZeroesTails()
    {
        var rng = new Random(3);
        foreach (int cols in Widths)
        {
            const int rows = 3, planes = 3;
            var codes = Enumerable.Range(0, rows * cols).Select(_ => (ushort)rng.Next(1 << 4)).ToArray();
            int words = BitOpKernels.WordsPerRow(cols);
            var packed = new ulong[rows * planes * words];
            BitOpKernels.PackPlanes(codes, rows, cols, planes, packed);
            for (int r = 0; r < rows; r++)
                for (int p = 0; p < planes; p++)
                    for (int c = 0; c < words * 64; c++)
                    {
                        int bit = (int)((packed[(r * planes + p) * words + c / 64] >> (c % 64)) & 1);
                        int expected = c < cols ? (codes[r * cols + c] >> p) & 1 : 0;
                        Assert.Equal(expected, bit);
                    }
        }
    }

    [Theory, MemberData(nameof(Levels))]
    public void PopcountTerms_EqualScalarReference_Exactly(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        var rng = new Random(11);
        var widths = Widths.Concat(Enumerable.Range(0, 6).Select(_ => rng.Next(1, 3000)));
        foreach (int cols in widths)
            for (int kw = 1; kw <= 4; kw++)
                for (int ka = 1; ka <= 4; ka++)
                {
                    int rows = 1 + (cols + kw) % 5, batch = 1 + (cols + ka) % 3;
                    var p = Problem.Random(rng, rows, cols, batch, kw, ka);
                    var terms = new int[batch * rows * kw * ka];
                    BitOpKernels.PopcountTerms(p.WPlanes, p.APlanes, terms, batch, rows, cols, kw, ka, level);
                    Assert.Equal(p.ReferenceTerms(), terms);
                }
    }

    [Theory, MemberData(nameof(Levels))]
    public void Gemm_MatchesFloatDotProductsOfDecodedValues(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        var rng = new Random(5);
        foreach (int cols in Widths)
            foreach (var (kw, ka) in new[] { (1, 1), (1, 2), (2, 2), (3, 3), (4, 4), (4, 1) })
                foreach (var (rows, batch) in new[] { (1, 1), (7, 3), (16, 9) })
                {
                    var p = Problem.Random(rng, rows, cols, batch, kw, ka);
                    var bias = rows == 7 ? Array.Empty<float>() : TestData.Uniform(cols + rows, rows);
                    var y = new float[batch * rows];
                    BitOpKernels.Gemm(p.WPlanes, p.WBasis, p.APlanes, p.ABasis, bias, y, batch, rows, cols, kw, ka, level);
                    var (expected, mag) = TestData.Linear(p.DecodedActivations(), p.DecodedWeights(), bias, batch, cols, rows);
                    TestData.Close(expected, mag, y, $"{level} cols {cols} W{kw}/A{ka} rows {rows} batch {batch}", relative: 1e-4);
                }
    }

    [Fact]
    public void Gemm_RejectsWrongLengths()
    {
        var p = Problem.Random(new Random(1), 2, 70, 1, 2, 2);
        var y = new float[2];
        Assert.Throws<ArgumentException>(() => BitOpKernels.Gemm(p.WPlanes.AsSpan(1), p.WBasis, p.APlanes, p.ABasis, default, y, 1, 2, 70, 2, 2));
        Assert.Throws<ArgumentException>(() => BitOpKernels.Gemm(p.WPlanes, p.WBasis, p.APlanes, p.ABasis.AsSpan(1), default, y, 1, 2, 70, 2, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => BitOpKernels.Gemm(p.WPlanes, p.WBasis, p.APlanes, p.ABasis, default, y, 1, 2, 70, 0, 2));
    }

    /// <summary>Random codes and bases with their packed planes, and the scalar oracles over the unpacked codes.</summary>
    private sealed record Problem(int Rows, int Cols, int Batch, int Kw, int Ka, ushort[] WCodes, ushort[] ACodes,
        float[] WBasis, float[] ABasis, ulong[] WPlanes, ulong[] APlanes)
    {
        public static Problem Random(Random rng, int rows, int cols, int batch, int kw, int ka)
        {
            var wCodes = Enumerable.Range(0, rows * cols).Select(_ => (ushort)rng.Next(1 << kw)).ToArray();
            var aCodes = Enumerable.Range(0, batch * cols).Select(_ => (ushort)rng.Next(1 << ka)).ToArray();
            var wBasis = Enumerable.Range(0, rows * kw).Select(_ => (float)(rng.NextDouble() * 0.5 + 0.01)).ToArray();
            var aBasis = Enumerable.Range(0, ka).Select(_ => (float)(rng.NextDouble() + 0.05)).ToArray();
            int words = BitOpKernels.WordsPerRow(cols);
            var wPlanes = new ulong[rows * kw * words];
            var aPlanes = new ulong[batch * ka * words];
            BitOpKernels.PackPlanes(wCodes, rows, cols, kw, wPlanes);
            BitOpKernels.PackPlanes(aCodes, batch, cols, ka, aPlanes);
            return new Problem(rows, cols, batch, kw, ka, wCodes, aCodes, wBasis, aBasis, wPlanes, aPlanes);
        }

        /// <summary>Σ_c e_w·e_a per (b, o, i, j) straight from the codes, e_w ∈ {±1}, e_a ∈ {0, 1}.</summary>
        public int[] ReferenceTerms()
        {
            var t = new int[Batch * Rows * Kw * Ka];
            for (int b = 0; b < Batch; b++)
                for (int o = 0; o < Rows; o++)
                    for (int i = 0; i < Kw; i++)
                        for (int j = 0; j < Ka; j++)
                        {
                            int s = 0;
                            for (int c = 0; c < Cols; c++)
                            {
                                int ew = ((WCodes[o * Cols + c] >> i) & 1) != 0 ? 1 : -1;
                                int ea = (ACodes[b * Cols + c] >> j) & 1;
                                s += ew * ea;
                            }
                            t[((b * Rows + o) * Kw + i) * Ka + j] = s;
                        }
            return t;
        }

        public float[] DecodedWeights()
        {
            var w = new float[Rows * Cols];
            for (int o = 0; o < Rows; o++)
                for (int c = 0; c < Cols; c++)
                {
                    double v = 0;
                    for (int i = 0; i < Kw; i++) v += ((WCodes[o * Cols + c] >> i) & 1) != 0 ? WBasis[o * Kw + i] : -WBasis[o * Kw + i];
                    w[o * Cols + c] = (float)v;
                }
            return w;
        }

        public float[] DecodedActivations()
        {
            var a = new float[Batch * Cols];
            for (int b = 0; b < Batch; b++)
                for (int c = 0; c < Cols; c++)
                {
                    double v = 0;
                    for (int j = 0; j < Ka; j++) if (((ACodes[b * Cols + c] >> j) & 1) != 0) v += ABasis[j];
                    a[b * Cols + c] = (float)v;
                }
            return a;
        }
    }
}
