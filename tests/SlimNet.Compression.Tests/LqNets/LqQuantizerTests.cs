using SlimNet.Compression.LqNets;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Compression.Tests.LqNets;

public class LqQuantizerTests
{
    private static float[] RandomNormal(int n, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
            x[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return x;
    }

    private static Tensor Matrix(float[] x, int rows) => torch.tensor(x, new long[] { rows, x.Length / rows });

    // Brute force: for every element, the level of every code; the nearest wins, and at an exact midpoint the upper one.
    private static (float Value, int Code) Nearest(float x, ReadOnlySpan<float> basis, LqDomain domain)
    {
        int n = 1 << basis.Length;
        float best = float.NaN;
        int bestCode = -1;
        double bestDistance = double.PositiveInfinity;
        for (int c = 0; c < n; c++)
        {
            float level = LqBasisMath.Level(basis, domain, c);
            double d = Math.Abs((double)x - level);
            if (d < bestDistance || d == bestDistance && level > best) { best = level; bestCode = c; bestDistance = d; }
        }
        return (best, bestCode);
    }

    public static TheoryData<int, LqDomain> BitsAndDomains()
    {
        var data = new TheoryData<int, LqDomain>();
        for (int k = 1; k <= 4; k++)
        {
            data.Add(k, LqDomain.PlusMinusOne);
            data.Add(k, LqDomain.ZeroOne);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(BitsAndDomains))]
    public void EncodingIsTheNearestLevelOfEachRow(int bits, LqDomain domain)
    {
        const int rows = 3;
        var rng = new Random(10 + bits);
        var basis = new float[rows * bits];
        for (int i = 0; i < basis.Length; i++) basis[i] = (float)(rng.NextDouble() * 2 - (domain == LqDomain.ZeroOne ? 0.2 : 1.0));
        var state = new LqQuantizerState(rows, bits, domain, basis);
        // Random values, every level, every midpoint, extremes, zeros, in rows of odd length.
        var x = new List<float>(RandomNormal(rows * 101, bits, 1.5f));
        int n = 1 << bits;
        Span<float> levels = stackalloc float[n];
        Span<int> codes = stackalloc int[n];
        Span<float> thresholds = stackalloc float[n - 1];
        for (int r = 0; r < rows; r++)
        {
            LqBasisMath.SortedLevels(state.RowBasis(r), domain, levels, codes, thresholds);
            x[r * 101] = 0f;
            x[r * 101 + 1] = 1e30f;
            x[r * 101 + 2] = -1e30f;
            for (int t = 0; t < n - 1; t++) x[r * 101 + 3 + t] = thresholds[t];
            for (int t = 0; t < n; t++) x[r * 101 + 20 + t] = levels[t];
        }
        var xs = x.ToArray();
        using var input = Matrix(xs, rows);
        var (values, codesT) = state.Encode(input);
        float[] q = values.data<float>().ToArray();
        long[] c = codesT.data<long>().ToArray();
        values.Dispose();
        codesT.Dispose();
        for (int i = 0; i < xs.Length; i++)
        {
            var (expected, _) = Nearest(xs[i], state.RowBasis(i / 101), domain);
            // The midpoint is rounded to float: exactly at it, either neighbour is as near as float arithmetic can tell.
            double dq = Math.Abs((double)xs[i] - q[i]), de = Math.Abs((double)xs[i] - expected);
            Assert.True(expected == q[i] || Math.Abs(dq - de) <= 1e-6 * (1 + Math.Abs(xs[i])),
                $"element {i} ({xs[i]}): {q[i]}, nearest level {expected}");
            Assert.Equal(LqBasisMath.Level(state.RowBasis(i / 101), domain, (int)c[i]), q[i]);
        }
    }

    [Fact]
    public void OneElementAndAllZeros()
    {
        var state = new LqQuantizerState(1, 2, LqDomain.PlusMinusOne, [0.5f, 1f]);   // levels −1.5, −0.5, 0.5, 1.5
        using var one = torch.tensor(new[] { 0.9f }, new long[] { 1, 1 });
        var (v, c) = state.Encode(one);
        Assert.Equal(0.5f, v.item<float>());
        Assert.Equal(2L, c.item<long>());   // bits (0, 1): e = (−1, +1), −0.5 + 1
        using var zeros = torch.zeros(1, 7);
        var (vz, _) = state.Encode(zeros);
        // 0 is the midpoint of −0.5 and 0.5: it goes up.
        Assert.All(vz.data<float>().ToArray(), z => Assert.Equal(0.5f, z));

        // Activations: an all-zero batch leaves the basis finite and unchanged (singular system).
        var act = new LqQuantizerState(1, 3, LqDomain.ZeroOne, LqBasisMath.InitialActivationBasis(3));
        var before = act.Basis;
        var (_, zc) = act.Encode(zeros);
        act.QemUpdate(zeros, zc, 0f, 0.9f);
        Assert.Equal(before, act.Basis);
    }

    [Theory]
    [MemberData(nameof(BitsAndDomains))]
    public void QemNeverRaisesTheQuantizationError(int bits, LqDomain domain)
    {
        const int rows = 4;
        var x = RandomNormal(rows * 257, 100 + bits, 0.05f);
        if (domain == LqDomain.ZeroOne) x = Array.ConvertAll(x, v => Math.Max(0, v * 20));
        using var input = Matrix(x, rows);
        foreach (float momentum in new[] { 0.9f, 0f })
        {
            var init = domain == LqDomain.PlusMinusOne ? LqBasisMath.InitialWeightBasis(500, bits) : LqBasisMath.InitialActivationBasis(bits);
            var basis = Enumerable.Range(0, rows).SelectMany(_ => init).ToArray();
            var state = new LqQuantizerState(rows, bits, domain, basis);
            float delta = domain == LqDomain.PlusMinusOne ? LqBasisMath.WeightDelta : 0f;
            double previous = state.QuantizationError(input);
            double first = previous;
            for (int step = 0; step < 40; step++)
            {
                var (values, codes) = state.Encode(input);
                state.QemUpdate(input, codes, delta, momentum);
                values.Dispose();
                codes.Dispose();
                double error = state.QuantizationError(input);
                Assert.True(error <= previous * (1 + 1e-6) + 1e-12, $"momentum {momentum}, step {step}: error rose from {previous} to {error}");
                previous = error;
            }
            Assert.True(previous < first, $"momentum {momentum}: QEM did not lower the error ({first} → {previous})");
        }
    }

    [Theory]
    [MemberData(nameof(BitsAndDomains))]
    public void BasisSolveMatchesTheNormalEquationsOfTheCodeMatrix(int bits, LqDomain domain)
    {
        // Reference: B (K×N) built element by element, (B Bᵀ + δI) v = B x + δ v_old solved by Cramer-free elimination.
        var rng = new Random(7 * bits);
        int n = 61;
        var x = RandomNormal(n, 3 * bits);
        var codes = Enumerable.Range(0, n).Select(_ => rng.Next(1 << bits)).ToArray();
        var old = Enumerable.Range(0, bits).Select(i => (float)(0.1 * (i + 1))).ToArray();
        double delta = 1e-4;
        var gram = new double[bits, bits];
        var rhs = new double[bits];
        for (int e = 0; e < n; e++)
            for (int i = 0; i < bits; i++)
            {
                double bi = ((codes[e] >> i) & 1) != 0 ? 1 : domain == LqDomain.PlusMinusOne ? -1 : 0;
                rhs[i] += bi * x[e];
                for (int j = 0; j < bits; j++)
                {
                    double bj = ((codes[e] >> j) & 1) != 0 ? 1 : domain == LqDomain.PlusMinusOne ? -1 : 0;
                    gram[i, j] += bi * bj;
                }
            }
        var counts = new double[1 << bits];
        var sums = new double[1 << bits];
        for (int e = 0; e < n; e++) { counts[codes[e]]++; sums[codes[e]] += x[e]; }
        var solved = new float[bits];
        LqBasisMath.SolveBasis(counts, sums, domain, delta, old, solved);
        // Residual of the normal equations at the solution.
        for (int i = 0; i < bits; i++)
        {
            double lhs = delta * solved[i];
            for (int j = 0; j < bits; j++) lhs += gram[i, j] * solved[j];
            double target = rhs[i] + delta * old[i];
            Assert.True(Math.Abs(lhs - target) <= 1e-4 * (1 + Math.Abs(target)), $"row {i}: {lhs} vs {target}");
        }
    }

    [Fact]
    public void InitialBasesFollowTheAuthorsFormulas()
    {
        var w = LqBasisMath.InitialWeightBasis(fanOut: 50 * 25, bits: 2);
        double s = 0.6745 * Math.Sqrt(2.0 / 1250) / 2;
        Assert.Equal((float)s, w[0]);
        Assert.Equal((float)(2 * s), w[1]);
        var a = LqBasisMath.InitialActivationBasis(2);
        Assert.Equal((float)(0.6745 * 2 / 3), a[0]);
        Assert.Equal((float)(2 * 0.6745 * 2 / 3), a[1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => LqBasisMath.InitialActivationBasis(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => LqBasisMath.InitialWeightBasis(10, LqBasisMath.MaxBits + 1));
    }

    [Fact]
    public void ActivationQuantizerPassesGradientsBelowTheTopLevelOnly()
    {
        var q = new LqActivationQuantizer("fc1", 2);
        float[] basis = q.Basis;   // levels 0, v0, v1, v0 + v1
        float top = basis[0] + basis[1];
        var xs = new[] { 0f, 0.2f, 0.5f, 1.0f, top - 0.01f, top + 0.01f, 3f, 10f };
        using var x = torch.tensor(xs).requires_grad_(true);
        var y = q.Forward(x, training: false);
        var expected = xs.Select(v => Nearest(v, basis, LqDomain.ZeroOne).Value).ToArray();
        Assert.Equal(expected, y.detach().data<float>().ToArray());
        y.sum().backward();
        var grad = x.grad!.data<float>().ToArray();
        for (int i = 0; i < xs.Length; i++) Assert.Equal(xs[i] <= top ? 1f : 0f, grad[i]);
        Assert.Equal(basis, q.Basis);   // evaluation does not update

        q.Forward(torch.rand(1000).mul(3), training: true);
        Assert.NotEqual(basis, q.Basis);
        Assert.Equal(1, q.Updates);
    }
}
