using SlimNet.Compression.Optim;
using SlimNet.Compression.Quantization;
using SlimNet.Compression.Schedules;
using P = SlimNet.Compression.Quantization.LossAwareProjection;

namespace SlimNet.Compression.Tests.Quantization;

/// <summary>
/// The vectorized projections the quantizer trains with (<see cref="ProjectionKernels"/>) against the scalar reference
/// (<see cref="LossAwareProjection"/>): the same codes, scales, iteration counts and convergence flags, bit for bit.
/// </summary>
[Collection("torch")]
public class ProjectionKernelTests
{
    private static readonly int[] Lengths = [0, 1, 2, 7, 15, 16, 17, 31, 33, 64, 100, 1000, 4099];

    public static IEnumerable<object[]> Methods() =>
        from m in Enum.GetValues<WeightProjection>()
        from bits in m is WeightProjection.LaqLinear or WeightProjection.LaqLog or WeightProjection.Uniform ? new[] { 2, 3, 4 } : new[] { 2 }
        select new object[] { m, bits };

    /// <summary>Kinds of input: spread random, a few repeated values (ties, exact zeros), all zeros, extreme magnitudes.</summary>
    private static (float[] W, float[] D) Problem(int kind, int seed, int n)
    {
        var rng = new Random(seed * 31 + kind);
        var w = new float[n];
        var d = new float[n];
        for (int i = 0; i < n; i++)
        {
            w[i] = kind switch
            {
                0 => (float)(rng.NextDouble() * 2 - 1),
                1 => rng.Next(-4, 5) / 4f,
                2 => 0f,
                3 => (float)((rng.NextDouble() - 0.5) * Math.Pow(10, -rng.Next(0, 30))),
                _ => (float)(rng.NextDouble() * 0.1 - 0.05) * (rng.Next(10) == 0 ? 0 : 1),
            };
            d[i] = kind switch
            {
                1 => rng.Next(1, 3),
                2 => 1f,
                3 => (float)Math.Exp(rng.NextDouble() * 30 - 20),
                _ => (float)Math.Exp(rng.NextDouble() * 6 - 4),
            };
        }
        if (kind == 3 && n > 2) { w[0] = 1f; w[1] = -1f; w[2] = -0f; }
        return (w, d);
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void KernelsEqualTheReferenceBitForBit(WeightProjection method, int bits)
    {
        foreach (int n in Lengths)
            for (int kind = 0; kind < 5; kind++)
                for (int seed = 0; seed < 3; seed++)
                {
                    var (w, d) = Problem(kind, seed, n);
                    var refHat = new float[n];
                    var refCodes = new sbyte[n];
                    var expected = P.Project(method, w, d, refHat, refCodes, bits);
                    var codes = new sbyte[n];
                    new Random(seed).NextBytes((byte[])(Array)codes); // the kernels must not depend on the previous codes
                    var actual = ProjectionKernels.Project(method, w, d, codes, bits, default, default, new float[n]);
                    Assert.True(expected == actual, $"{method} n={n} kind={kind} seed={seed}: {expected} vs {actual}");
                    Assert.True(refCodes.AsSpan().SequenceEqual(codes), $"{method} n={n} kind={kind} seed={seed}: codes differ");
                }
    }

    [Theory]
    [InlineData(false, 2)]
    [InlineData(false, 3)]
    [InlineData(true, 3)]
    [InlineData(true, 4)]
    public void LaqSeededFromPreviousValuesOrPreviousCodesEqualsTheReference(bool log, int bits)
    {
        int levels = (1 << (bits - 1)) - 1;
        foreach (int n in Lengths)
            for (int kind = 0; kind < 5; kind++)
            {
                var (w, d) = Problem(kind, 7, n);
                var rng = new Random(n + kind);
                // Previous codes in [−n, n] and a table saying which of them decoded to 0 (code 0, and one more "underflowed" code).
                var previous = Enumerable.Range(0, n).Select(_ => (sbyte)rng.Next(-levels, levels + 1)).ToArray();
                var zeroTable = new bool[256];
                zeroTable[128] = true;
                zeroTable[128 + levels] = kind == 1;
                var seed = previous.Select(c => zeroTable[c + 128] ? 0f : c * 0.1f).ToArray();

                var refHat = new float[n];
                var refCodes = new sbyte[n];
                var expected = log ? P.LaqLog(w, d, bits, refHat, refCodes, seed: seed) : P.LaqLinear(w, d, bits, refHat, refCodes, seed: seed);
                var method = log ? WeightProjection.LaqLog : WeightProjection.LaqLinear;

                var fromValues = new sbyte[n];
                Assert.Equal(expected, ProjectionKernels.Project(method, w, d, fromValues, bits, seed, default, new float[n]));
                Assert.Equal(refCodes, fromValues);

                var fromCodes = (sbyte[])previous.Clone();
                Assert.Equal(expected, ProjectionKernels.Project(method, w, d, fromCodes, bits, default, zeroTable, new float[n]));
                Assert.Equal(refCodes, fromCodes);
            }
    }

    /// <summary>The Σ of <paramref name="term"/> over 0..n−1 in the reference's <see cref="InterleavedSum"/> order.</summary>
    private static double Interleaved(int n, Func<int, double> term)
    {
        var sum = new InterleavedSum();
        for (int i = 0; i < n; i++) sum.Add(i, term(i));
        return sum.Total;
    }

    private static void AssertBits(double expected, double actual, string what) =>
        Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(actual), $"{what}: {expected:R} vs {actual:R}");

    /// <summary>
    /// The kernels' sums themselves, not only the float scales derived from them: each vectorized sum equals the scalar
    /// <see cref="InterleavedSum"/> of the reference's terms bit for bit, so a change of accumulation order is caught.
    /// </summary>
    [Fact]
    public void KernelSumsEqualTheInterleavedScalarSumsBitForBit()
    {
        foreach (int n in Lengths)
            for (int kind = 0; kind < 5; kind++)
            {
                var (w, d) = Problem(kind, 11, n);
                var rng = new Random(n * 7 + kind);
                string at = $"n={n} kind={kind}";
                double Abs(int i) => Math.Abs((double)w[i]);

                AssertBits(Interleaved(n, Abs), ProjectionKernels.SumAbs(w), $"Σ|w| {at}");
                var (num, den) = ProjectionKernels.WeightedSums(w, d);
                AssertBits(Interleaved(n, i => d[i] * Abs(i)), num, $"Σ d|w| {at}");
                AssertBits(Interleaved(n, i => d[i]), den, $"Σ d {at}");

                double h = n == 0 ? 0.5 : Abs(rng.Next(n)) * 0.9;
                int kept = ProjectionKernels.KeptAbsSum(w, h, out double keptSum);
                Assert.Equal(Enumerable.Range(0, n).Count(i => Abs(i) > h), kept);
                AssertBits(Interleaved(n, i => Abs(i) > h ? Abs(i) : 0), keptSum, $"kept Σ|w| {at}");

                foreach (int group in new[] { 0, 1, -1 })
                {
                    float t = (float)h, previous = (float)(h * 1.3);
                    bool In(int i) => group == 0 || (group > 0 ? w[i] > 0 : w[i] < 0);
                    int changes = ProjectionKernels.TernaryPass(w, d, t, previous, group, out num, out den);
                    Assert.Equal(Enumerable.Range(0, n).Count(i => In(i) && (Math.Abs(w[i]) > t) != (Math.Abs(w[i]) > previous)), changes);
                    AssertBits(Interleaved(n, i => In(i) && Math.Abs(w[i]) > t ? d[i] * (double)Math.Abs(w[i]) : 0), num, $"pass Σ d|w| {at} g{group}");
                    AssertBits(Interleaved(n, i => In(i) && Math.Abs(w[i]) > t ? d[i] : 0), den, $"pass Σ d {at} g{group}");
                }

                var seedValues = w.Select(x => rng.Next(3) == 0 ? 0f : x).ToArray();
                var seedCodes = Enumerable.Range(0, n).Select(_ => (sbyte)rng.Next(-1, 2)).ToArray();
                foreach (bool fromValues in new[] { true, false })
                {
                    InterleavedSum ns = default, ds = default;
                    int done = n < 16 ? 0 : ProjectionKernels.SeedSums(w, d, fromValues ? seedValues : default, seedCodes, ref ns, ref ds);
                    Assert.Equal(n - n % 16, done);
                    bool Seeded(int i) => i < done && (fromValues ? seedValues[i] != 0 : seedCodes[i] != 0);
                    AssertBits(Interleaved(n, i => Seeded(i) ? d[i] * Abs(i) : 0), ns.Total, $"seed Σ d|w| {at} values={fromValues}");
                    AssertBits(Interleaved(n, i => Seeded(i) ? d[i] : 0), ds.Total, $"seed Σ d {at} values={fromValues}");
                }

                // LAQ level passes: linear n = 1, 3, 7 and logarithmic n = 3 (threshold kernel) and 15 (exponent kernel).
                foreach (var (levels, log) in new[] { (1, false), (3, false), (7, false), (3, true), (15, true) })
                {
                    var magnitude = new double[levels + 1];
                    for (int m = 1; m <= levels; m++) magnitude[m] = P.LevelMagnitude((sbyte)m, levels, log);
                    double alpha = n == 0 ? 1 : Abs(rng.Next(n)) * (0.5 + rng.NextDouble());
                    double zeroBelow = Math.Pow(2, -levels);
                    var old = Enumerable.Range(0, n).Select(_ => (sbyte)rng.Next(-levels, levels + 1)).ToArray();
                    var expectedCodes = Enumerable.Range(0, n).Select(i => alpha > 0 ? P.NearestLevel(w[i], alpha, levels, log, zeroBelow) : (sbyte)0).ToArray();
                    var codes = (sbyte[])old.Clone();
                    int changes = ProjectionKernels.LevelPass(w, d, alpha, levels, log, magnitude, codes, out num, out den);
                    string pass = $"{(log ? "log" : "linear")} levels={levels} {at}";
                    Assert.Equal(expectedCodes, codes);
                    Assert.Equal(Enumerable.Range(0, n).Count(i => expectedCodes[i] != old[i]), changes);
                    double B(int i) => magnitude[Math.Abs((int)expectedCodes[i])];
                    AssertBits(Interleaved(n, i => expectedCodes[i] != 0 ? d[i] * B(i) * Abs(i) : 0), num, $"Σ d b|w| {pass}");
                    AssertBits(Interleaved(n, i => expectedCodes[i] != 0 ? d[i] * B(i) * B(i) : 0), den, $"Σ d b² {pass}");
                }
            }
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1e-300)]
    [InlineData(0.1)]
    [InlineData(0.30000001192092896)]
    [InlineData(3.4028235677973366E+38)]
    [InlineData(1e300)]
    [InlineData(double.PositiveInfinity)]
    public void FloatAtOrBelowKeepsEveryComparisonOfTheDoubleThreshold(double h)
    {
        float f = ProjectionKernels.FloatAtOrBelow(h);
        var rng = new Random(1);
        var probes = new List<float> { 0f, float.Epsilon, float.MaxValue, float.PositiveInfinity, f, MathF.BitIncrement(f), MathF.BitDecrement(f), (float)h };
        for (int i = 0; i < 1000; i++) probes.Add((float)(h * (1 + (rng.NextDouble() - 0.5) * 1e-6)));
        foreach (float x in probes) Assert.Equal((double)x > h, x > f);
    }

    [Fact]
    public void TwoBitThresholdDecidesLikeTheRoundedQuotient()
    {
        var rng = new Random(5);
        var alphas = new List<double> { 0, -1, double.NaN, 1e-310, 1e-300, 1e-40, 0.5, 1, 2, 0.1, 3.4e38, 1e300 };
        for (int i = 0; i < 200; i++) alphas.Add(Math.Exp(rng.NextDouble() * 40 - 30));
        for (int i = 0; i < 50; i++) alphas.Add(2 * (double)(float)Math.Exp(rng.NextDouble() * 20 - 10)); // α/2 a float
        foreach (double alpha in alphas)
        {
            float f = ProjectionKernels.TwoBitThreshold(alpha);
            var probes = new List<float> { 0f, -0f, float.Epsilon, 1f, -1f, float.MaxValue };
            float h = (float)(alpha / 2);
            foreach (float c in new[] { h, MathF.BitIncrement(h), MathF.BitDecrement(h), f, MathF.BitIncrement(f) })
                if (float.IsFinite(c)) { probes.Add(c); probes.Add(-c); }
            for (int i = 0; i < 50; i++) probes.Add((float)(alpha * (rng.NextDouble() * 2 - 1)));
            foreach (float x in probes)
            {
                bool expected = alpha > 0 && Math.Abs(Math.Round(Math.Clamp(x / alpha, -1.0, 1.0), MidpointRounding.AwayFromZero)) == 1;
                Assert.True(expected == Math.Abs(x) > f, $"α={alpha:R} x={x:R} F={f:R}");
            }
        }
    }

    /// <summary>Per-channel scales, sparsity targets and LAQ seeds through the quantizer: 1, 2 and 3 projection threads give the same bytes.</summary>
    [Theory]
    [InlineData(WeightProjection.LatApprox, false, 0.0)]
    [InlineData(WeightProjection.Lat2Approx, true, 0.0)]
    [InlineData(WeightProjection.LaqLinear, false, 0.5)]
    [InlineData(WeightProjection.LaqLinear, true, 0.0)]
    [InlineData(WeightProjection.LaqLog, false, 0.3)]
    [InlineData(WeightProjection.Lab, true, 0.6)]
    [InlineData(WeightProjection.LatExact, false, 0.9)]
    [InlineData(WeightProjection.Twn, true, 0.2)]
    public void TheQuantizerGivesTheSameCodesAndScalesOnAnyThreadCount(WeightProjection method, bool perChannel, double sparsity)
    {
        var runs = new List<List<QuantizedWeights>>();
        foreach (int threads in new[] { 1, 2, 3 })
        {
                using var t = new TinyTraining(seed: 13, inputs: 301, hidden: 67, classes: 5);
                using var adam = new AdamOptimizer(t.Named, 0.02);
                ISparsitySchedule? schedule = sparsity > 0 ? new AgpSchedule(0, sparsity, 0, 3, 1) : null;
                using var q = new LossAwareQuantizer(t.Parameters,
                    [new QuantizedLayer("fc1.weight", method, 3, perChannel, schedule), new QuantizedLayer("fc2.weight", method, 3, perChannel)])
                {
                    Threads = threads,
                };
                var exports = new List<QuantizedWeights>();
                t.Train(adam, [q], epochs: 1, stepsPerEpoch: 5, afterEachStep: _ => exports.AddRange(q.ExportAll()));
                runs.Add(exports);
        }
        foreach (var other in runs.Skip(1))
        {
            Assert.Equal(runs[0].Count, other.Count);
            for (int i = 0; i < runs[0].Count; i++)
            {
                Assert.Equal(runs[0][i].Codes, other[i].Codes);
                Assert.Equal(runs[0][i].Scales, other[i].Scales);
                Assert.Equal(runs[0][i].NegativeScales, other[i].NegativeScales);
            }
        }
    }
}
