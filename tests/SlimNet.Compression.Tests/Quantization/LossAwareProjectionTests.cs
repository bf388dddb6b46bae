using SlimNet.Compression.Quantization;
using P = SlimNet.Compression.Quantization.LossAwareProjection;

namespace SlimNet.Compression.Tests.Quantization;

public class LossAwareProjectionTests
{
    private static (float[] W, float[] D) RandomProblem(int seed, int n)
    {
        var rng = new Random(seed);
        var w = new float[n];
        var d = new float[n];
        for (int i = 0; i < n; i++)
        {
            w[i] = (float)(rng.NextDouble() * 2 - 1);
            d[i] = (float)Math.Exp(rng.NextDouble() * 6 - 4); // positive, spread over ~2.6 decades
        }
        return (w, d);
    }

    public static IEnumerable<object[]> Seeds(int count) => Enumerable.Range(0, count).Select(s => new object[] { s });

    public static IEnumerable<object[]> SmallSeeds() => Seeds(60);

    /// <summary>Objective of b with its optimal scale α = Σ d w b / Σ d b² (α of either sign; −b covers the other).</summary>
    private static (double Objective, double Alpha) Optimal(float[] w, float[] d, int[] b)
    {
        double num = 0, den = 0, total = 0;
        for (int i = 0; i < w.Length; i++)
        {
            num += d[i] * (double)w[i] * b[i];
            den += d[i] * (double)b[i] * b[i];
            total += d[i] * (double)w[i] * w[i];
        }
        return den > 0 ? (total - num * num / den, num / den) : (total, 0);
    }

    private static void AssertClose(double expected, double actual, double relative = 1e-5)
        => Assert.True(Math.Abs(expected - actual) <= relative * (1 + Math.Abs(expected)), $"expected {expected}, got {actual}");

    private static (float[] WHat, sbyte[] Codes, ProjectionResult R) Run(WeightProjection m, float[] w, float[] d, int bits = 2)
    {
        var wHat = new float[w.Length];
        var codes = new sbyte[w.Length];
        var r = P.Project(m, w, d, wHat, codes, bits);
        return (wHat, codes, r);
    }

    [Theory]
    [MemberData(nameof(SmallSeeds))]
    public void LabEqualsBruteForceOverAllBinaryVectors(int seed)
    {
        int n = 1 + seed % 10;
        var (w, d) = RandomProblem(seed, n);
        double best = double.PositiveInfinity, bestAlpha = 0;
        int[] bestB = [];
        var b = new int[n];
        for (int mask = 0; mask < 1 << n; mask++)
        {
            for (int i = 0; i < n; i++) b[i] = (mask >> i & 1) == 1 ? 1 : -1;
            var (obj, alpha) = Optimal(w, d, b);
            if (obj < best) { best = obj; bestAlpha = alpha; bestB = alpha < 0 ? b.Select(x => -x).ToArray() : (int[])b.Clone(); }
        }
        var (wHat, codes, r) = Run(WeightProjection.Lab, w, d);
        AssertClose(Math.Abs(bestAlpha), r.Scale);
        Assert.Equal(bestB, codes.Select(c => (int)c).ToArray());
        AssertClose(best, P.WeightedProjectionError(w, d, wHat));
    }

    [Theory]
    [MemberData(nameof(SmallSeeds))]
    public void LatExactEqualsBruteForceOverEveryThreshold(int seed)
    {
        int n = 1 + seed % 10;
        var (w, d) = RandomProblem(seed, n);
        var order = Enumerable.Range(0, n).OrderByDescending(i => Math.Abs(w[i])).ToArray();
        double best = double.PositiveInfinity, bestAlpha = 0;
        for (int k = 0; k <= n; k++)
        {
            var b = new int[n];
            foreach (int i in order.Take(k)) b[i] = Math.Sign(w[i]);
            var (obj, alpha) = Optimal(w, d, b);
            if (obj < best) { best = obj; bestAlpha = alpha; }
        }
        var (wHat, _, r) = Run(WeightProjection.LatExact, w, d);
        AssertClose(bestAlpha, r.Scale);
        AssertClose(best, P.WeightedProjectionError(w, d, wHat));
    }

    /// <summary>The optimal ternary b for any α keeps exactly the |w| &gt; α/2, a top-k set, so LATe is the global optimum.</summary>
    [Theory]
    [MemberData(nameof(SmallSeeds))]
    public void LatExactEqualsBruteForceOverAllTernaryVectors(int seed)
    {
        int n = 1 + seed % 7;
        var (w, d) = RandomProblem(seed + 1000, n);
        double best = double.PositiveInfinity;
        var b = new int[n];
        int total = (int)Math.Pow(3, n);
        for (int m = 0; m < total; m++)
        {
            for (int i = 0, x = m; i < n; i++, x /= 3) b[i] = x % 3 - 1;
            best = Math.Min(best, Optimal(w, d, b).Objective);
        }
        var (wHat, codes, _) = Run(WeightProjection.LatExact, w, d);
        AssertClose(best, P.WeightedProjectionError(w, d, wHat));
        Assert.All(codes, c => Assert.InRange(c, -1, 1));
    }

    [Theory]
    [MemberData(nameof(SmallSeeds))]
    public void Lat2ExactEqualsBruteForceOverTwoScaleThresholds(int seed)
    {
        int n = 1 + seed % 10;
        var (w, d) = RandomProblem(seed + 2000, n);
        // The two sign groups are independent: best top-k per group, each with its own α.
        double best = 0;
        foreach (int sign in new[] { 1, -1 })
        {
            var group = Enumerable.Range(0, n).Where(i => Math.Sign(w[i]) == sign).OrderByDescending(i => Math.Abs(w[i])).ToArray();
            double groupBest = double.PositiveInfinity;
            for (int k = 0; k <= group.Length; k++)
            {
                var b = new int[n];
                foreach (int i in group.Take(k)) b[i] = sign;
                var sub = group.Select(i => w[i]).ToArray();
                var subD = group.Select(i => d[i]).ToArray();
                var subB = group.Select(i => b[i]).ToArray();
                groupBest = Math.Min(groupBest, Optimal(sub, subD, subB).Objective);
            }
            best += groupBest;
        }
        var (wHat, _, r) = Run(WeightProjection.Lat2Exact, w, d);
        AssertClose(best, P.WeightedProjectionError(w, d, wHat));
        Assert.True(r.Scale >= 0 && r.NegativeScale >= 0);
        var (lat, _, _) = Run(WeightProjection.LatExact, w, d);
        Assert.True(P.WeightedProjectionError(w, d, wHat) <= P.WeightedProjectionError(w, d, lat) * (1 + 1e-6) + 1e-12);
    }

    public static IEnumerable<object[]> SizedSeeds()
    {
        foreach (int n in new[] { 1, 2, 3, 5, 7, 10, 33, 100, 1000, 10007 })
            for (int s = 0; s < 10; s++) yield return [n, s];
    }

    [Theory]
    [MemberData(nameof(SizedSeeds))]
    public void LatApproxConvergesWithinTenIterationsAndBeatsTwn(int n, int seed)
    {
        var (w, d) = RandomProblem(seed * 7919 + n, n);
        var (wHat, codes, r) = Run(WeightProjection.LatApprox, w, d);
        Assert.True(r.Converged, $"not converged after {r.Iterations}");
        Assert.InRange(r.Iterations, 1, 10);
        var (twn, _, _) = Run(WeightProjection.Twn, w, d);
        double e = P.WeightedProjectionError(w, d, wHat), eTwn = P.WeightedProjectionError(w, d, twn);
        Assert.True(e <= eTwn * (1 + 1e-6), $"LATa {e} > TWN {eTwn}");
        var (exact, _, _) = Run(WeightProjection.LatExact, w, d);
        Assert.True(P.WeightedProjectionError(w, d, exact) <= e * (1 + 1e-6));
        for (int i = 0; i < n; i++) Assert.Equal(r.Scale * codes[i], wHat[i]);

        var (wHat2, _, r2) = Run(WeightProjection.Lat2Approx, w, d);
        Assert.True(r2.Converged);
        var (exact2, _, _) = Run(WeightProjection.Lat2Exact, w, d);
        Assert.True(P.WeightedProjectionError(w, d, exact2) <= P.WeightedProjectionError(w, d, wHat2) * (1 + 1e-6));
    }

    public static IEnumerable<object[]> LaqCases()
    {
        foreach (bool log in new[] { false, true })
            foreach (int bits in new[] { 2, 3, 4, 8 })
                foreach (int n in new[] { 1, 7, 100, 1000 })
                    yield return [log, bits, n];
    }

    private static sbyte NearestLevelBruteForce(float w, double alpha, int n, bool log)
    {
        sbyte best = 0;
        double bestDistance = Math.Abs(w);
        for (int c = -n; c <= n; c++)
        {
            if (c == 0) continue;
            double level = log ? Math.Sign(c) * alpha * Math.Pow(2, Math.Abs(c) - n) : alpha * c / n;
            double distance = Math.Abs(w - level);
            if (distance < bestDistance) { bestDistance = distance; best = (sbyte)c; }
        }
        return best;
    }

    [Theory]
    [MemberData(nameof(LaqCases))]
    public void LaqAssignsNearestLevelAndNeverIncreasesTheError(bool log, int bits, int n)
    {
        var (w, d) = RandomProblem(bits * 100 + n + (log ? 1 : 0), n);
        int levels = (1 << (bits - 1)) - 1;
        double previous = double.PositiveInfinity;
        for (int it = 1; it <= 10; it++)
        {
            var wHat = new float[n];
            var codes = new sbyte[n];
            var r = log ? P.LaqLog(w, d, bits, wHat, codes, it) : P.LaqLinear(w, d, bits, wHat, codes, it);
            Assert.Equal(levels, r.Levels);
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(NearestLevelBruteForce(w[i], r.Scale, levels, log), codes[i]);
                Assert.InRange(codes[i], -levels, levels);
            }
            double e = P.WeightedProjectionError(w, d, wHat);
            Assert.True(e <= previous * (1 + 1e-6) + 1e-12, $"iteration {it}: {e} > {previous}");
            previous = e;
            if (r.Converged && r.Iterations < it) break;
        }
    }

    [Fact]
    public void LaqReferenceScaleUpdateEqualsExactForTernaryLevelsOnly()
    {
        var (w, d) = RandomProblem(5, 500);
        var a = new float[500]; var b = new float[500];
        var ca = new sbyte[500]; var cb = new sbyte[500];
        var ra = P.LaqLinear(w, d, 2, a, ca, scaleUpdate: LaqScaleUpdate.Exact);
        var rb = P.LaqLinear(w, d, 2, b, cb, scaleUpdate: LaqScaleUpdate.Reference);
        Assert.Equal(ra, rb);
        Assert.Equal(a, b);
        // With 3 bits the reference α = Σ|bdw|/Σ|bd| is not the minimiser for fixed b; it still converges.
        var r3 = P.LaqLinear(w, d, 3, b, cb, scaleUpdate: LaqScaleUpdate.Reference);
        Assert.True(r3.Scale > 0);
    }

    [Fact]
    public void LaqTwoBitLinearIsTernaryAndNoBetterThanLatExact()
    {
        // 2-bit linear LAQ has levels α·{0, ±1}: ternary, so LATe (the ternary optimum) bounds its error from below.
        var (w, d) = RandomProblem(9, 300);
        var (laq, codes, _) = Run(WeightProjection.LaqLinear, w, d, 2);
        var (exact, _, _) = Run(WeightProjection.LatExact, w, d);
        Assert.All(codes, c => Assert.InRange(c, -1, 1));
        Assert.True(P.WeightedProjectionError(w, d, exact) <= P.WeightedProjectionError(w, d, laq) * (1 + 1e-6));
    }

    [Fact]
    public void LabWithEqualCurvatureIsBwn()
    {
        var (w, _) = RandomProblem(3, 101);
        var d = Enumerable.Repeat(0.37f, 101).ToArray();
        var (lab, lc, lr) = Run(WeightProjection.Lab, w, d);
        var (bwn, bc, br) = Run(WeightProjection.Bwn, w, d);
        AssertClose(br.Scale, lr.Scale, 1e-6);
        Assert.Equal(bc, lc);
        for (int i = 0; i < w.Length; i++) AssertClose(bwn[i], lab[i], 1e-6);
    }

    [Theory]
    [InlineData(WeightProjection.Bwn)]
    [InlineData(WeightProjection.Twn)]
    [InlineData(WeightProjection.Uniform)]
    [InlineData(WeightProjection.Lab)]
    [InlineData(WeightProjection.LatExact)]
    [InlineData(WeightProjection.LatApprox)]
    [InlineData(WeightProjection.Lat2Exact)]
    [InlineData(WeightProjection.Lat2Approx)]
    [InlineData(WeightProjection.LaqLinear)]
    [InlineData(WeightProjection.LaqLog)]
    public void EdgeCases(WeightProjection m)
    {
        foreach (int n in new[] { 0, 1, 2, 5 })
        {
            var zeros = new float[n];
            var (z, _, r) = Run(m, zeros, Enumerable.Repeat(1f, n).ToArray(), 3);
            Assert.All(z, v => Assert.Equal(0f, v));
            Assert.Equal(0f, r.Scale);
            Assert.True(r.Converged);
        }
        foreach (float x in new[] { 1e30f, -1e30f, 1e-30f, -1e-30f, 0.5f })
        {
            var (one, c, _) = Run(m, [x], [2f], 3);
            Assert.True(float.IsFinite(one[0]));
            AssertClose(x, one[0], 1e-6); // one weight is always representable exactly by its own scale
            Assert.Equal(Math.Sign(x), Math.Sign((int)c[0]));
        }
        var mixed = new float[] { 1e30f, -1e-30f, 3e29f, 0f, -2e30f, 1e-30f, 7e28f };
        var (wHat, _, rm) = Run(m, mixed, [1f, 1e-8f, 3f, 1f, 0.5f, 1e8f, 2f], 4);
        Assert.All(wHat, v => Assert.True(float.IsFinite(v)));
        Assert.True(float.IsFinite(rm.Scale) && float.IsFinite(rm.NegativeScale));
        // LAB has one magnitude for all weights: a huge d on a tiny weight rightly pulls α far below 1e29.
        if (m != WeightProjection.Lab) Assert.True(Math.Abs(wHat[4]) > 1e29f, "the largest weight survives");
    }

    [Theory]
    [InlineData(WeightProjection.Lab, 2)]
    [InlineData(WeightProjection.LatExact, 2)]
    [InlineData(WeightProjection.Lat2Approx, 2)]
    [InlineData(WeightProjection.LaqLinear, 3)]
    [InlineData(WeightProjection.LaqLog, 4)]
    [InlineData(WeightProjection.Twn, 2)]
    public void PerChannelProjectsEachRowIndependently(WeightProjection m, int bits)
    {
        const int rows = 5, cols = 13;
        var (w, d) = RandomProblem(42, rows * cols);
        var wHat = new float[w.Length];
        var codes = new sbyte[w.Length];
        var results = new ProjectionResult[rows];
        P.ProjectRows(m, w, d, rows, wHat, codes, results, bits);
        for (int r = 0; r < rows; r++)
        {
            var (rowHat, rowCodes, rr) = Run(m, w[(r * cols)..((r + 1) * cols)], d[(r * cols)..((r + 1) * cols)], bits);
            Assert.Equal(rr, results[r]);
            Assert.Equal(rowHat, wHat[(r * cols)..((r + 1) * cols)]);
            Assert.Equal(rowCodes, codes[(r * cols)..((r + 1) * cols)]);
        }
        Assert.Throws<ArgumentException>(() => P.ProjectRows(m, w, d, 4, wHat, codes, new ProjectionResult[4], bits));
    }

    [Fact]
    public void CodesDecodeToTheProjectedWeights()
    {
        var (w, d) = RandomProblem(11, 257);
        foreach (var m in new[] { WeightProjection.Lab, WeightProjection.Twn, WeightProjection.LatExact, WeightProjection.Lat2Exact,
                     WeightProjection.Lat2Approx, WeightProjection.LaqLinear, WeightProjection.Uniform, WeightProjection.BinaryConnect })
        {
            var (wHat, codes, r) = Run(m, w, d, 3);
            for (int i = 0; i < w.Length; i++)
                AssertClose((codes[i] >= 0 ? r.Scale : r.NegativeScale) * (double)codes[i] / r.Levels, wHat[i], 1e-6);
        }
        var (logHat, logCodes, lr) = Run(WeightProjection.LaqLog, w, d, 3);
        for (int i = 0; i < w.Length; i++)
            AssertClose(logCodes[i] == 0 ? 0 : Math.Sign(logCodes[i]) * lr.Scale * Math.Pow(2, Math.Abs(logCodes[i]) - lr.Levels), logHat[i], 1e-6);
    }

    [Fact]
    public void UniformMapsTheLargestWeightToTheTopLevel()
    {
        var w = new float[] { 0.1f, -0.8f, 0.35f, 0f, 0.79f };
        var (wHat, codes, r) = Run(WeightProjection.Uniform, w, w, 3);
        Assert.Equal(3, r.Levels);
        Assert.Equal(0.8f, r.Scale);
        Assert.Equal(new sbyte[] { 0, -3, 1, 0, 3 }, codes);
        for (int i = 0; i < w.Length; i++) Assert.True(Math.Abs(w[i] - wHat[i]) <= 0.8 / 6 + 1e-7);
    }

    [Fact]
    public void LengthMismatchIsAClearError()
    {
        var e = Assert.Throws<ArgumentException>(() => P.Lab(new float[3], new float[2], new float[3], new sbyte[3]));
        Assert.Contains("d has 2 elements, expected 3", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => P.LaqLinear(new float[3], new float[3], 9, new float[3], new sbyte[3]));
    }
}
