using SlimNet.Runtime.Quantization;

namespace SlimNet.Runtime.Tests.Quantization;

public class LqQuantizerTests
{
    public static IEnumerable<object[]> Cases()
    {
        foreach (var domain in new[] { LqCodeDomain.PlusMinusOne, LqCodeDomain.ZeroOne })
            for (int k = 1; k <= 4; k++)
                yield return new object[] { domain, k };
    }

    private static float[] Tensor(LqCodeDomain domain, int n, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            // Roughly Gaussian weights; ReLU'd activations.
            double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
            x[i] = domain == LqCodeDomain.PlusMinusOne ? (float)(0.05 * g) : (float)Math.Max(0, g);
        }
        return x;
    }

    private static float[] InitialBasis(LqCodeDomain domain, int k)
    {
        var v = new float[k];
        if (domain == LqCodeDomain.PlusMinusOne) LqQuantizer.InitialWeightBasis(300, v);
        else LqQuantizer.InitialActivationBasis(v);
        return v;
    }

    [Theory, MemberData(nameof(Cases))]
    public void Encode_EqualsNearestLevelBruteForce(LqCodeDomain domain, int k)
    {
        var x = Tensor(domain, 2000, k);
        var v = InitialBasis(domain, k);
        var codes = new ushort[x.Length];
        LqQuantizer.Encode(x, v, domain, codes);
        for (int e = 0; e < x.Length; e++)
        {
            double best = double.MaxValue;
            for (int c = 0; c < 1 << k; c++) best = Math.Min(best, Math.Abs(x[e] - (double)LqQuantizer.Level(v, domain, c)));
            double got = Math.Abs(x[e] - (double)LqQuantizer.Level(v, domain, codes[e]));
            // Equal up to the rounding of a float midpoint (only values within an ulp of a threshold can differ).
            Assert.True(got <= best + 1e-6 * (1 + Math.Abs(x[e])), $"x = {x[e]}: code {codes[e]} at distance {got}, nearest {best}");
        }
    }

    [Theory, MemberData(nameof(Cases))]
    public void Levels_AreSortedAndDecodeMatchesLevel(LqCodeDomain domain, int k)
    {
        var v = InitialBasis(domain, k);
        var levels = new float[1 << k];
        var codes = new ushort[1 << k];
        LqQuantizer.Levels(v, domain, levels, codes);
        for (int i = 1; i < levels.Length; i++) Assert.True(levels[i - 1] <= levels[i]);
        var decoded = new float[codes.Length];
        LqQuantizer.Decode(codes, v, domain, decoded);
        Assert.Equal(levels, decoded);
    }

    [Theory, MemberData(nameof(Cases))]
    public void QemSteps_NeverRaiseTheError_PlainAndAveraged(LqCodeDomain domain, int k)
    {
        var x = Tensor(domain, 4096, 100 + k);
        float delta = domain == LqCodeDomain.PlusMinusOne ? LqQuantizer.WeightDelta : 0;
        foreach (float momentum in new[] { 0f, LqQuantizer.DefaultMomentum })
        {
            var v = InitialBasis(domain, k);
            double first = LqQuantizer.QuantizationError(x, v, domain), previous = first;
            for (int step = 0; step < 20; step++)
            {
                LqQuantizer.QemStep(x, v, domain, delta, momentum);
                double error = LqQuantizer.QuantizationError(x, v, domain);
                Assert.True(error <= previous * (1 + 1e-6), $"momentum {momentum} step {step}: {error} > {previous}");
                previous = error;
            }
            Assert.True(previous < first, $"momentum {momentum}: no decrease from {first}");
        }
    }

    [Fact]
    public void SolveBasis_WithoutDelta_IsLeastSquares()
    {
        // Codes fixed, x exactly representable: v* recovers the basis.
        var v = new[] { 0.3f, 0.7f };
        var codes = new ushort[] { 0, 1, 2, 3, 1, 2 };
        var x = new float[codes.Length];
        LqQuantizer.Decode(codes, v, LqCodeDomain.ZeroOne, x);
        var solved = new float[2];
        LqQuantizer.SolveBasis(x, codes, LqCodeDomain.ZeroOne, 0, new[] { 1f, 1f }, solved);
        Assert.Equal(0.3, solved[0], 5);
        Assert.Equal(0.7, solved[1], 5);
    }

    [Theory, MemberData(nameof(Cases))]
    public void EdgeCases_AllZerosAndOneElement(LqCodeDomain domain, int k)
    {
        float delta = domain == LqCodeDomain.PlusMinusOne ? LqQuantizer.WeightDelta : 0;
        foreach (var x in new[] { new float[64], new[] { 0.37f }, new[] { -0.2f } })
        {
            var v = InitialBasis(domain, k);
            double previous = LqQuantizer.QuantizationError(x, v, domain);
            for (int step = 0; step < 5; step++)
            {
                LqQuantizer.QemStep(x, v, domain, delta);
                Assert.All(v, b => Assert.True(float.IsFinite(b)));
                double error = LqQuantizer.QuantizationError(x, v, domain);
                Assert.True(error <= previous * (1 + 1e-6) + 1e-12, $"x[0] = {x[0]} step {step}: {error} > {previous}");
                previous = error;
            }
        }
    }

    [Fact]
    public void InitialBases_FollowTheAuthorsFormulas()
    {
        var w = new float[2];
        LqQuantizer.InitialWeightBasis(9 * 64, w);
        double s = 0.6745 * Math.Sqrt(2.0 / (9 * 64)) / 2;
        Assert.Equal(s, w[0], 6);
        Assert.Equal(2 * s, w[1], 6);
        var a = new float[2];
        LqQuantizer.InitialActivationBasis(a);
        Assert.Equal(0.6745 * 2 / 3, a[0], 6);
        Assert.Equal(0.6745 * 4 / 3, a[1], 6);
    }
}
