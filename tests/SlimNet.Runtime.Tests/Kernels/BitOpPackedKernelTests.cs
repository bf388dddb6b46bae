using SlimNet.Format.Graph;
using SlimNet.Runtime.Kernels;
using SlimNet.Runtime.Quantization;

namespace SlimNet.Runtime.Tests.Kernels;

public class BitOpPackedKernelTests
{
    public static IEnumerable<object[]> Levels() => SimdSupport.Supported.Select(l => new object[] { (int)l });

    /// <summary>Every SIMD level, each with the table-lookup path allowed and not (it runs at 512 bits with AVX-512 VBMI;
    /// otherwise both settings take the carry-save or scalar path).</summary>
    public static IEnumerable<object[]> LevelsAndPaths() =>
        SimdSupport.Supported.SelectMany(l => new[] { new object[] { (int)l, true }, new object[] { (int)l, false } });

    private static readonly int[] Widths = { 1, 2, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 1024, 2048 + 17, 64 * 4 * 31 + 64 * 4 + 3 };

    /// <summary>Random codes and bases, packed, with the scalar oracle over the unpacked codes.</summary>
    private sealed record Problem(int Rows, int Cols, int Batch, int Kw, int Ka, ushort[] WCodes, ushort[] ACodes, float[] WBasis, float[] ABasis,
        BitOpPackedWeights Weights, ulong[] APlanes, int[] ACounts)
    {
        public static Problem Random(Random rng, int rows, int cols, int batch, int kw, int ka, bool powersOfTwo = false, double onesDensity = 0.5)
        {
            var wCodes = Enumerable.Range(0, rows * cols).Select(_ => (ushort)rng.Next(1 << kw)).ToArray();
            var aCodes = Enumerable.Range(0, batch * cols).Select(_ => (ushort)(rng.NextDouble() < onesDensity ? rng.Next(1 << ka) : 0)).ToArray();
            var wBasis = Enumerable.Range(0, rows * kw).Select(i => powersOfTwo ? (float)(1 << (i % kw)) : (float)(rng.NextDouble() * 0.5 + 0.01)).ToArray();
            var aBasis = Enumerable.Range(0, ka).Select(j => powersOfTwo ? (float)(1 << j) : (float)(rng.NextDouble() + 0.05)).ToArray();
            var weights = BitOpPackedWeights.FromCodes(wCodes, wBasis, rows, cols, kw);
            var planes = new ulong[batch * ka * weights.Words];
            var counts = new int[batch * ka];
            BitOpPackedKernels.PackActivationCodes(aCodes, batch, cols, ka, planes, counts);
            return new Problem(rows, cols, batch, kw, ka, wCodes, aCodes, wBasis, aBasis, weights, planes, counts);
        }

        /// <summary>Σ_c e_w·e_a per (b, o, i, j), e_w ∈ {±1}, e_a ∈ {0, 1}, straight from the codes.</summary>
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
                                s += (((WCodes[o * Cols + c] >> i) & 1) != 0 ? 1 : -1) * ((ACodes[b * Cols + c] >> j) & 1);
                            t[((b * Rows + o) * Kw + i) * Ka + j] = s;
                        }
            return t;
        }

        /// <summary>Σᵢ Σⱼ v_w·v_a·term + bias in double.</summary>
        public double[] ReferenceOutput(float[] bias)
        {
            var t = ReferenceTerms();
            var y = new double[Batch * Rows];
            for (int b = 0; b < Batch; b++)
                for (int o = 0; o < Rows; o++)
                {
                    double s = bias.Length == 0 ? 0 : bias[o];
                    for (int i = 0; i < Kw; i++)
                        for (int j = 0; j < Ka; j++)
                            s += (double)WBasis[o * Kw + i] * ABasis[j] * t[((b * Rows + o) * Kw + i) * Ka + j];
                    y[b * Rows + o] = s;
                }
            return y;
        }
    }

    [Theory, MemberData(nameof(LevelsAndPaths))]
    public void Terms_EqualTheScalarReference_Exactly(int simdBits, bool lookup)
    {
        var level = (SimdLevel)simdBits;
        var rng = new Random(21);
        foreach (int cols in Widths.Concat(Enumerable.Range(0, 4).Select(_ => rng.Next(1, 3000))))
            foreach (var (kw, ka) in new[] { (1, 1), (1, 2), (2, 2), (3, 3), (4, 4), (4, 1), (2, 1) })
            {
                int rows = 1 + (cols + kw * 3) % 19, batch = 1 + (cols + ka) % 4;
                var p = Problem.Random(rng, rows, cols, batch, kw, ka);
                var terms = new int[batch * rows * kw * ka];
                BitOpPackedKernels.Terms(p.Weights, p.APlanes, p.ACounts, batch, ka, terms, level, lookup);
                Assert.Equal(p.ReferenceTerms(), terms);
            }
    }

    [Theory, MemberData(nameof(LevelsAndPaths))]
    public void Terms_AreExact_OnBlockAndTileEdges(int simdBits, bool lookup)
    {
        // The table-lookup path works on blocks of 64 rows, tiles of 4 weight streams × 4 activation streams (2×2 tails),
        // 6-column chunks and byte counters widened every 42 chunks (252 columns): batches, row counts and widths on
        // either side of each of those edges, every K_w/K_a pairing of the tiles' remainders.
        var level = (SimdLevel)simdBits;
        var rng = new Random(64);
        var shapes = new (int Rows, int Cols, int Batch, int Kw, int Ka)[]
        {
            (1, 1, 1, 1, 1), (64, 6, 2, 2, 2), (65, 7, 3, 1, 2), (63, 5, 5, 2, 2), (130, 63, 64, 2, 2), (64, 64, 65, 2, 2),
            (200, 65, 3, 3, 3), (129, 252, 5, 4, 4), (70, 253, 2, 1, 3), (33, 1000, 3, 2, 1), (257, 505, 2, 3, 2),
            (20, 1000, 65, 1, 2), (64, 1024, 4, 2, 2), (100, 2048 + 17, 1, 4, 1), (192, 511, 7, 1, 1),
        };
        foreach (var (rows, cols, batch, kw, ka) in shapes)
        {
            var p = Problem.Random(rng, rows, cols, batch, kw, ka);
            var terms = new int[batch * rows * kw * ka];
            BitOpPackedKernels.Terms(p.Weights, p.APlanes, p.ACounts, batch, ka, terms, level, lookup);
            var expected = p.ReferenceTerms();
            for (int e = 0; e < expected.Length; e++)
                Assert.True(expected[e] == terms[e], $"{level} lookup {lookup} {rows}x{cols} batch {batch} W{kw}/A{ka}: term {e} is {terms[e]}, expected {expected[e]}");
        }
    }

    [Theory, MemberData(nameof(LevelsAndPaths))]
    public void Terms_AllOnes_CountEveryColumn(int simdBits, bool lookup)
    {
        // Every weight and activation bit set: each count is the width, the largest value the byte counters of the lookup
        // path (widened every 42 chunks of 6) and the carry-save adder's byte sums (every 31 steps) must hold.
        var level = (SimdLevel)simdBits;
        foreach (int cols in new[] { 1, 6, 251, 252, 253, 1000, 64 * 4 * 31 + 64 * 4 + 3 })
        {
            const int rows = 70, batch = 5, kw = 2, ka = 2;
            var w = BitOpPackedWeights.FromCodes(Enumerable.Repeat((ushort)3, rows * cols).ToArray(), Enumerable.Repeat(1f, rows * kw).ToArray(), rows, cols, kw);
            var planes = new ulong[batch * ka * w.Words];
            var counts = new int[batch * ka];
            BitOpPackedKernels.PackActivationCodes(Enumerable.Repeat((ushort)3, batch * cols).ToArray(), batch, cols, ka, planes, counts);
            var terms = new int[batch * rows * kw * ka];
            BitOpPackedKernels.Terms(w, planes, counts, batch, ka, terms, level, lookup);
            Assert.All(terms, t => Assert.Equal(cols, t));
        }
    }

    [Fact]
    public void LookupPath_IsTakenWithVbmi_AndSmallOrWideLayersUseTheCarrySaveAdder()
    {
        bool vbmi = SimdSupport.Has512 && System.Runtime.Intrinsics.X86.Avx512Vbmi.IsSupported;
        var full = Problem.Random(new Random(3), 64, 100, 1, 2, 2);
        Assert.Equal(vbmi, BitOpPackedKernels.CanUseLookup(full.Weights, 2, SimdLevel.Vector512));
        Assert.Equal(vbmi, BitOpPackedKernels.UseLookup(full.Weights, 2, SimdLevel.Vector512, null));
        Assert.Equal(vbmi, BitOpPackedKernels.DescribePath(full.Weights, 2, SimdLevel.Vector512).StartsWith("vpermb table lookups", StringComparison.Ordinal));
        Assert.StartsWith("AND + carry-save popcount", BitOpPackedKernels.DescribePath(full.Weights, 2, SimdLevel.Vector256));
        // A 10-row layer would fill a sixth of a 64-row block: the carry-save adder's 8-row groups do less work, unless forced.
        var small = Problem.Random(new Random(5), 10, 500, 1, 2, 2);
        Assert.False(BitOpPackedKernels.UseLookup(small.Weights, 2, SimdLevel.Vector512, null));
        Assert.Equal(vbmi, BitOpPackedKernels.UseLookup(small.Weights, 2, SimdLevel.Vector512, true));
        Assert.StartsWith("AND + carry-save popcount", BitOpPackedKernels.DescribePath(small.Weights, 2, SimdLevel.Vector512));
        // Above 32767 columns the 16-bit terms of the lookup path could overflow: no lookup layout, carry-save path, still exact.
        var wide = Problem.Random(new Random(4), 2, BitOpPackedKernels.LookupMaxCols + 1, 2, 1, 2);
        Assert.False(BitOpPackedKernels.CanUseLookup(wide.Weights, 2, SimdLevel.Vector512));
        var terms = new int[2 * 2 * 1 * 2];
        BitOpPackedKernels.Terms(wide.Weights, wide.APlanes, wide.ACounts, 2, 2, terms, SimdSupport.Best);
        Assert.Equal(wide.ReferenceTerms(), terms);
    }

    [Theory, MemberData(nameof(LevelsAndPaths))]
    public void Gemm_OnBlockAndTileEdges_MatchesTheReference(int simdBits, bool lookup)
    {
        var level = (SimdLevel)simdBits;
        var rng = new Random(65);
        foreach (int batch in new[] { 1, 2, 3, 5, 64, 65 })
            foreach (var (rows, cols, kw, ka) in new[] { (1, 1, 2, 2), (63, 63, 2, 2), (65, 64, 1, 2), (130, 65, 3, 3), (64, 1000, 2, 2), (66, 300, 4, 4) })
            {
                var p = Problem.Random(rng, rows, cols, batch, kw, ka, powersOfTwo: true);
                var bias = Enumerable.Range(0, rows).Select(o => (float)(o % 7 - 3)).ToArray();
                var y = new float[batch * rows];
                BitOpPackedKernels.Gemm(p.Weights, p.APlanes, p.ACounts, p.ABasis, bias, y, batch, ka, level, lookup);
                var expected = p.ReferenceOutput(bias);
                for (int e = 0; e < expected.Length; e++)
                    Assert.True(expected[e] == y[e], $"{level} lookup {lookup} {rows}x{cols} batch {batch} W{kw}/A{ka}: element {e} is {y[e]}, expected {expected[e]}");
            }
    }

    [Theory, MemberData(nameof(LevelsAndPaths))]
    public void Gemm_WithPowerOfTwoBases_IsExactlyTheIntegerSum(int simdBits, bool lookup)
    {
        // Bases 2^i and 2^j make every product and sum exact in double and in the float output, so the float path
        // (which sums the popcounts in vector registers at 512 bits) must reproduce the oracle bit for bit.
        var level = (SimdLevel)simdBits;
        var rng = new Random(8);
        foreach (int cols in Widths)
            foreach (var (kw, ka) in new[] { (1, 2), (2, 2), (3, 3), (1, 1), (4, 4) })
                foreach (var (rows, batch) in new[] { (1, 1), (8, 2), (13, 5), (17, 4) })
                {
                    var p = Problem.Random(rng, rows, cols, batch, kw, ka, powersOfTwo: true);
                    var bias = Enumerable.Range(0, rows).Select(o => (float)(o - 3)).ToArray();
                    var y = new float[batch * rows];
                    BitOpPackedKernels.Gemm(p.Weights, p.APlanes, p.ACounts, p.ABasis, bias, y, batch, ka, level, lookup);
                    var expected = p.ReferenceOutput(bias);
                    for (int e = 0; e < expected.Length; e++)
                        Assert.True(expected[e] == y[e], $"{level} cols {cols} W{kw}/A{ka} rows {rows} batch {batch}: element {e} is {y[e]}, expected {expected[e]}");
                }
    }

    [Theory, MemberData(nameof(LevelsAndPaths))]
    public void Gemm_MatchesFloatDotProducts_AllZerosAndAllOnesToo(int simdBits, bool lookup)
    {
        var level = (SimdLevel)simdBits;
        var rng = new Random(9);
        foreach (int cols in new[] { 1, 63, 64, 65, 1000 })
            foreach (double density in new[] { 0.0, 0.5, 1.0 })
            {
                const int rows = 11, batch = 3, kw = 2, ka = 2;
                var p = Problem.Random(rng, rows, cols, batch, kw, ka, onesDensity: density);
                if (density == 1.0) Array.Fill(p.ACodes, (ushort)3);
                var planes = new ulong[batch * ka * p.Weights.Words];
                var counts = new int[batch * ka];
                BitOpPackedKernels.PackActivationCodes(p.ACodes, batch, cols, ka, planes, counts);
                var y = new float[batch * rows];
                BitOpPackedKernels.Gemm(p.Weights, planes, counts, p.ABasis, [], y, batch, ka, level, lookup);
                var expected = (p with { APlanes = planes, ACounts = counts }).ReferenceOutput([]);
                for (int e = 0; e < expected.Length; e++)
                    Assert.True(Math.Abs(expected[e] - y[e]) <= 1e-5 * (1 + Math.Abs(expected[e])) * cols, $"{level} lookup {lookup} cols {cols} density {density}: {y[e]} vs {expected[e]}");
                if (density == 0.0) Assert.All(y, v => Assert.Equal(0f, v));
            }
    }

    [Fact]
    public unsafe void QuantizeAndPack_GivesTheCodesOfTheNearestLevels()
    {
        var rng = new Random(4);
        foreach (int k in new[] { 1, 2, 3, 4 })
            foreach (int cols in new[] { 1, 15, 16, 17, 63, 64, 65, 200 })
            {
                var basis = Enumerable.Range(0, k).Select(_ => (float)(rng.NextDouble() + 0.1)).ToArray();
                var q = ActivationQuantizer.Create(new ActivationQuantization(ActivationQuantKind.Basis, k, false, basis), out var problem);
                Assert.Null(problem);
                const int batch = 3;
                var x = Enumerable.Range(0, batch * cols).Select(_ => (float)(rng.NextDouble() * 3 - 0.5)).ToArray();
                x[0] = float.NaN;
                if (x.Length > 2) x[2] = q.Thresholds![0]; // exactly on a midpoint: the upper level
                var codes = new ushort[x.Length];
                LqQuantizer.Encode(x, basis, LqCodeDomain.ZeroOne, codes);
                codes[0] = q.LevelCodes![0]; // NaN → the lowest level (LqQuantizer.Encode's search gives the same)
                int words = BitOpPackedKernels.PaddedWords(cols);
                var expectedPlanes = new ulong[batch * k * words];
                var expectedCounts = new int[batch * k];
                BitOpPackedKernels.PackActivationCodes(codes, batch, cols, k, expectedPlanes, expectedCounts);
                var planes = new ulong[expectedPlanes.Length];
                var counts = new int[expectedCounts.Length];
                fixed (float* px = x)
                fixed (ulong* pp = planes)
                fixed (int* pc = counts)
                    BitOpPackedKernels.QuantizeAndPack(px, batch, cols, q, pp, pc);
                Assert.Equal(expectedPlanes, planes);
                Assert.Equal(expectedCounts, counts);
            }
    }

    [Fact]
    public unsafe void QuantizeIm2ColAndPack_EqualsCodesOfTheUnfoldedImage()
    {
        // Reference: nearest-level codes of every input (LqQuantizer.Encode), a plain im2col of the codes (padding = code 0),
        // then PackActivationCodes per pixel. Widths above 64 and patches whose fields straddle words are included.
        var rng = new Random(17);
        foreach (var (c, h, w, k, stride, pad, ka) in new[] { (1, 5, 5, 3, 1, 0, 2), (3, 9, 7, 3, 2, 1, 2), (2, 6, 70, 5, 1, 2, 3), (5, 4, 4, 1, 1, 0, 1),
                     (4, 12, 12, 5, 1, 0, 2), (2, 8, 130, 3, 3, 1, 4), (3, 3, 3, 3, 1, 2, 2) })
        {
            var basis = Enumerable.Range(0, ka).Select(_ => (float)(rng.NextDouble() + 0.1)).ToArray();
            var q = ActivationQuantizer.Create(new ActivationQuantization(ActivationQuantKind.Basis, ka, false, basis), out _);
            var g = ConvKernels.Geometry.Create(1, c, h, w, 4, k, k, stride, pad);
            var x = Enumerable.Range(0, c * h * w).Select(_ => (float)(rng.NextDouble() * 3 - 0.5)).ToArray();
            var codes = new ushort[x.Length];
            LqQuantizer.Encode(x, basis, LqCodeDomain.ZeroOne, codes);
            int patch = g.PatchSize;
            var unfolded = new ushort[g.Pixels * patch];
            for (int oy = 0, p = 0; oy < g.Ho; oy++)
                for (int ox = 0; ox < g.Wo; ox++, p++)
                    for (int ci = 0; ci < c; ci++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++)
                            {
                                int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                                if (iy >= 0 && iy < h && ix >= 0 && ix < w) unfolded[p * patch + (ci * k + ky) * k + kx] = codes[(ci * h + iy) * w + ix];
                            }
            int words = BitOpPackedKernels.PaddedWords(patch);
            var expected = new ulong[g.Pixels * ka * words];
            var expectedCounts = new int[g.Pixels * ka];
            BitOpPackedKernels.PackActivationCodes(unfolded, g.Pixels, patch, ka, expected, expectedCounts);
            var planes = new ulong[expected.Length];
            var counts = new int[expectedCounts.Length];
            var rowBits = new ulong[BitOpPackedKernels.RowBitsSize(g, ka)];
            fixed (float* px = x)
            fixed (ulong* pr = rowBits, pp = planes)
            fixed (int* pc = counts)
                BitOpPackedKernels.QuantizeIm2ColAndPack(px, g, q, pr, pp, pc);
            Assert.Equal(expected, planes);
            Assert.Equal(expectedCounts, counts);
        }
    }

    [Theory, InlineData(true), InlineData(false)]
    public void ScaleRows_ScalesEachRowsBasis(bool lookup)
    {
        var p = Problem.Random(new Random(2), 10, 70, 2, 2, 2);
        var scale = Enumerable.Range(0, 10).Select(r => (float)(r - 4.5)).ToArray();
        var before = new float[2 * 10];
        BitOpPackedKernels.Gemm(p.Weights, p.APlanes, p.ACounts, p.ABasis, [], before, 2, 2, SimdSupport.Best, lookup);
        p.Weights.ScaleRows(scale);
        var after = new float[2 * 10];
        BitOpPackedKernels.Gemm(p.Weights, p.APlanes, p.ACounts, p.ABasis, [], after, 2, 2, SimdSupport.Best, lookup);
        for (int e = 0; e < after.Length; e++) Assert.Equal(before[e] * scale[e % 10], after[e], 1e-4f);
    }

    [Fact]
    public void Gemm_RejectsWrongLengths()
    {
        var p = Problem.Random(new Random(1), 2, 70, 1, 2, 2);
        var y = new float[2];
        Assert.Throws<ArgumentException>(() => BitOpPackedKernels.Gemm(p.Weights, p.APlanes.AsSpan(1), p.ACounts, p.ABasis, [], y, 1, 2));
        Assert.Throws<ArgumentException>(() => BitOpPackedKernels.Gemm(p.Weights, p.APlanes, p.ACounts, p.ABasis.AsSpan(1), [], y, 1, 2));
        Assert.Throws<ArgumentException>(() => BitOpPackedKernels.Gemm(p.Weights, p.APlanes, p.ACounts, p.ABasis, [], y.AsSpan(1), 1, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => BitOpPackedKernels.Gemm(p.Weights, p.APlanes, p.ACounts, p.ABasis, [], y, 1, 0));
    }
}
