using System.Buffers.Binary;
using SlimNet.Distributed;

namespace SlimNet.Distributed.Tests;

public class StochasticQuantizerTests
{
    private static float[] RandomGradient(int length, int seed, double scale = 1e-3)
    {
        var rng = new Random(seed);
        var v = new float[length];
        for (int i = 0; i < length; i++)
        {
            // Roughly normal with a few large entries, as gradients are.
            double u = rng.NextDouble() + rng.NextDouble() + rng.NextDouble() - 1.5;
            v[i] = (float)(scale * u * (rng.Next(50) == 0 ? 8 : 1));
        }
        return v;
    }

    private static float[] Decode(byte[] wire, GradientCodec codec, int length)
    {
        var acc = new float[length];
        StochasticQuantizer.DecodeAdd(wire, codec, 1f, acc);
        return acc;
    }

    /// <summary>The wire format read bit by bit as METHODS.md states it: bucket scales (float32 LE), then codes k + n in m bits, LSB-first.</summary>
    private static float[] ReferenceDecode(byte[] wire, GradientCodec codec, int length)
    {
        int n = codec.Levels, buckets = (length + codec.BucketSize - 1) / codec.BucketSize;
        var result = new float[length];
        long bit = 32L * buckets;
        for (int i = 0; i < length; i++)
        {
            int code = 0;
            for (int j = 0; j < codec.Bits; j++, bit++) code |= (wire[bit >> 3] >> (int)(bit & 7) & 1) << j;
            Assert.InRange(code, 0, 2 * n);
            float scale = BinaryPrimitives.ReadSingleLittleEndian(wire.AsSpan(4 * (i / codec.BucketSize)));
            result[i] = (float)((code - n) * ((double)scale / n));
        }
        Assert.Equal(wire.Length, 4 * buckets + (int)((length * (long)codec.Bits + 7) / 8));
        return result;
    }

    private static (float Scale, float Limit) BucketScale(ReadOnlySpan<float> g, GradientCodec codec)
    {
        float limit = float.PositiveInfinity;
        if (codec.ClipSigmas > 0)
        {
            double sq = 0;
            foreach (var v in g) sq += (double)v * v;
            limit = (float)(codec.ClipSigmas * Math.Sqrt(sq / g.Length));
        }
        float s = 0;
        foreach (var v in g) s = Math.Max(s, Math.Min(Math.Abs(v), limit));
        return (s, limit);
    }

    public static IEnumerable<object[]> Codecs() =>
        new[] { "q2", "q3", "q4", "q8", "q2-clip", "q3-clip", "q8-clip" }.Select(c => new object[] { c });

    [Theory]
    [MemberData(nameof(Codecs))]
    public void EncodedValuesAreANeighbouringLevelAndDecodeMatchesTheScalarReference(string name)
    {
        foreach (int bucket in new[] { 512, 7 })
        {
            var codec = GradientCodec.Parse(name) with { BucketSize = bucket };
            foreach (int length in new[] { 0, 1, 2, 7, 8, 9, 511, 512, 513, 1031 })
            {
                var g = RandomGradient(length, length * 31 + bucket);
                var wire = new byte[codec.WireBytes(length)];
                var dequantized = new float[length];
                StochasticQuantizer.Encode(g, codec, (ulong)length, wire, dequantized);
                var decoded = Decode(wire, codec, length);
                var reference = ReferenceDecode(wire, codec, length);
                Assert.Equal(reference, decoded);
                Assert.Equal(reference, dequantized);
                int n = codec.Levels;
                for (int b = 0; b * bucket < length; b++)
                {
                    var slice = g.AsSpan(b * bucket, Math.Min(bucket, length - b * bucket));
                    var (s, limit) = BucketScale(slice, codec);
                    Assert.Equal(s, BinaryPrimitives.ReadSingleLittleEndian(wire.AsSpan(4 * b)));
                    for (int i = 0; i < slice.Length; i++)
                    {
                        double x = Math.Clamp(slice[i], -limit, limit) / (double)s * n;
                        double k = decoded[b * bucket + i] / (double)s * n;
                        Assert.True(Math.Abs(k - Math.Round(k)) < 1e-3, $"value {k} is not a level");
                        Assert.True(Math.Round(k) == Math.Floor(x) || Math.Round(k) == Math.Ceiling(x), $"{name} len {length}: {x} went to level {k}");
                    }
                }
            }
        }
    }

    [Fact]
    public void EdgeCasesZerosExtremesAndBadInput()
    {
        var codec = GradientCodec.Parse("q2");
        var zeros = new float[600];
        var wire = new byte[codec.WireBytes(zeros.Length)];
        StochasticQuantizer.Encode(zeros, codec, 1, wire);
        Assert.All(Decode(wire, codec, zeros.Length), v => Assert.Equal(0f, v));
        Assert.Equal(0f, BinaryPrimitives.ReadSingleLittleEndian(wire));

        // The bucket maximum goes to the top level (x = ±n, no rounding), up to the float rounding of s/n·n; extreme magnitudes do not overflow.
        foreach (var c in new[] { "q2", "q3", "q8" }.Select(GradientCodec.Parse))
        {
            var extreme = new[] { float.MaxValue, -float.MaxValue, 0f, float.Epsilon, -1e-30f };
            var w = new byte[c.WireBytes(extreme.Length)];
            StochasticQuantizer.Encode(extreme, c, 9, w);
            var d = Decode(w, c, extreme.Length);
            Assert.True(float.IsFinite(d[0]) && Math.Abs(d[0] / (double)float.MaxValue - 1) < 1e-6, $"{c.Name}: {d[0]}");
            Assert.True(float.IsFinite(d[1]) && Math.Abs(d[1] / (double)float.MaxValue + 1) < 1e-6, $"{c.Name}: {d[1]}");
            Assert.Equal(0f, d[2]);
            Assert.All(d.Skip(2), v => Assert.True(float.IsFinite(v)));
        }

        Assert.Throws<ArgumentException>(() => StochasticQuantizer.Encode(new[] { 1f, float.NaN }, codec, 1, new byte[codec.WireBytes(2)]));
        Assert.Throws<ArgumentException>(() => StochasticQuantizer.Encode(new[] { 1f }, codec, 1, new byte[3]));
        Assert.Throws<ArgumentException>(() => StochasticQuantizer.DecodeAdd(new byte[3], codec, 1f, new float[1]));
        // Code 3 is not a level of a 2-bit codec (levels 0..2).
        var bad = new byte[codec.WireBytes(1)];
        BinaryPrimitives.WriteSingleLittleEndian(bad, 1f);
        bad[4] = 3;
        Assert.Throws<ArgumentException>(() => StochasticQuantizer.DecodeAdd(bad, codec, 1f, new float[1]));
    }

    [Fact]
    public void SameSeedSameBytesOtherSeedOtherBytes()
    {
        var codec = GradientCodec.Parse("q3");
        var g = RandomGradient(2000, 5);
        byte[] Enc(ulong seed) { var w = new byte[codec.WireBytes(g.Length)]; StochasticQuantizer.Encode(g, codec, seed, w); return w; }
        Assert.Equal(Enc(42), Enc(42));
        Assert.NotEqual(Enc(42), Enc(43));
    }

    /// <summary>
    /// Unbiasedness: the mean of T independent quantizations of a fixed vector v estimates E[Q(v)]. Element i takes
    /// s/n·⌊x⌋ or s/n·⌈x⌉ with x = v_i·n/s, so Var[Q(v)_i] = (s/n)²·p(1−p), p = x − ⌊x⌋. If E[Q(v)] = v, then
    /// z_i = (mean_i − v_i)/sqrt(Var_i/T) is about standard normal: every |z_i| stays below 6 and Σz_i² (≈ χ² with K
    /// degrees of freedom) below K + 6·sqrt(2K). A bias of a tenth of a level step breaks that bound (checked too).
    /// </summary>
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(8)]
    public void TheQuantizerIsUnbiased(int bits)
    {
        var codec = new GradientCodec { Bits = bits };
        const int length = 700, trials = 3000;
        var v = RandomGradient(length, bits);
        v[3] = 0; v[10] = v.Max(x => Math.Abs(x)) * 0.5f; // an exact zero and an exact level
        var sum = new double[length];
        var wire = new byte[codec.WireBytes(length)];
        var decoded = new float[length];
        for (int t = 0; t < trials; t++)
        {
            StochasticQuantizer.Encode(v, codec, (ulong)t * 7919 + 1, wire);
            Array.Clear(decoded);
            StochasticQuantizer.DecodeAdd(wire, codec, 1f, decoded);
            for (int i = 0; i < length; i++) sum[i] += decoded[i];
        }
        int n = codec.Levels;
        double chi = 0, chiBiased = 0;
        int k = 0;
        for (int b = 0; b * codec.BucketSize < length; b++)
        {
            int start = b * codec.BucketSize, count = Math.Min(codec.BucketSize, length - start);
            float s = BucketScale(v.AsSpan(start, count), codec).Scale;
            double step = s / (double)n;
            for (int i = start; i < start + count; i++)
            {
                double mean = sum[i] / trials;
                double x = v[i] / (double)s * n, p = x - Math.Floor(x);
                double variance = step * step * p * (1 - p);
                if (variance < 1e-6 * step * step)
                {
                    Assert.True(Math.Abs(mean - v[i]) <= 1e-5 * step, $"element {i}: deterministic value {v[i]} averaged to {mean}");
                    continue;
                }
                double sd = Math.Sqrt(variance / trials);
                double z = (mean - v[i]) / sd;
                Assert.True(Math.Abs(z) < 6, $"{bits} bits, element {i}: mean {mean} vs {v[i]} is {z:F1} standard errors off");
                chi += z * z;
                double zb = (mean + 0.1 * step - v[i]) / sd;
                chiBiased += zb * zb;
                k++;
            }
        }
        double bound = k + 6 * Math.Sqrt(2.0 * k);
        Assert.True(k > length / 2, $"only {k} elements were random");
        Assert.True(chi < bound, $"{bits} bits: sum of squared standard errors {chi:F0} exceeds {bound:F0} (K = {k})");
        Assert.True(chiBiased > bound, $"the test cannot see a bias of 0.1 level step ({chiBiased:F0} vs {bound:F0})");
    }

    [Fact]
    public void ClippingBoundsTheScaleAtCSigmaAndStaysUnbiasedForClippedValues()
    {
        var codec = GradientCodec.Parse("q2-clip");
        var v = RandomGradient(512, 77);
        v[100] = 1f; // an outlier far beyond 3σ
        var (s, limit) = BucketScale(v, codec);
        Assert.True(s < 0.5f && s == limit, $"scale {s}, limit {limit}");
        var wire = new byte[codec.WireBytes(v.Length)];
        var mean = new double[v.Length];
        const int trials = 2000;
        for (int t = 0; t < trials; t++)
        {
            StochasticQuantizer.Encode(v, codec, (ulong)t + 1, wire);
            var d = Decode(wire, codec, v.Length);
            Assert.All(d, x => Assert.True(Math.Abs(x) <= s));
            for (int i = 0; i < v.Length; i++) mean[i] += d[i] / trials;
        }
        Assert.Equal(s, mean[100], 6);
        double step = s / codec.Levels;
        for (int i = 0; i < v.Length; i++)
            Assert.True(Math.Abs(mean[i] - Math.Clamp(v[i], -limit, limit)) < 6 * step * 0.5 / Math.Sqrt(trials) + 1e-7, $"element {i}");
    }

    [Theory]
    [InlineData("fp32", 32, 0, false)]
    [InlineData("q8", 8, 0, false)]
    [InlineData("Q2-CLIP", 2, 3, false)]
    [InlineData("q3-clip2.5-ef", 3, 2.5, true)]
    [InlineData("q4-ef", 4, 0, true)]
    public void ParseReadsCodecNames(string name, int bits, double clip, bool ef)
    {
        var c = GradientCodec.Parse(name);
        Assert.Equal((bits, clip, ef), (c.Bits, c.ClipSigmas, c.ErrorFeedback));
        Assert.Equal(c, GradientCodec.Parse(c.Name));
    }

    [Theory]
    [InlineData("q1")]
    [InlineData("q9")]
    [InlineData("fp16")]
    [InlineData("q2-clip-clip")]
    [InlineData("q2-clip0")]
    [InlineData("q2-foo")]
    [InlineData("")]
    public void ParseRejectsOtherNamesWithASentence(string name) =>
        Assert.Contains("gradient codec must be", Assert.Throws<ArgumentException>(() => GradientCodec.Parse(name)).Message);

    [Fact]
    public void WireBytesOfLeNet300100()
    {
        // fc1 784×300 + 300, fc2 300×100 + 100, fc3 100×10 + 10 = 266,610 values.
        int[] tensors = [235200, 300, 30000, 100, 1000, 10];
        long fp32 = tensors.Sum(t => GradientCodec.Fp32.WireBytes(t));
        long q2 = tensors.Sum(t => GradientCodec.Parse("q2-clip").WireBytes(t));
        Assert.Equal(4 * 266_610, fp32);
        // 2 bits per value + one 4-byte scale per 512 values (per tensor): 236 buckets, ceil(bits/8) bytes per tensor.
        Assert.Equal(4 * (460 + 1 + 59 + 1 + 2 + 1) + (58800 + 75 + 7500 + 25 + 250 + 3), q2);
        Assert.True(fp32 / (double)q2 >= 12);
    }
}
