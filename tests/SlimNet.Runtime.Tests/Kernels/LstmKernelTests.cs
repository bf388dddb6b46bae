using SlimNet.Format.Graph;
using SlimNet.Runtime.Kernels;

namespace SlimNet.Runtime.Tests.Kernels;

/// <summary>The LSTM step kernel against a double-precision scalar loop written from docs/FORMAT.md (op 11).</summary>
public class LstmKernelTests
{
    private static float[] Random(Random rng, int n, double scale, double offset = 0) =>
        Enumerable.Range(0, n).Select(_ => (float)(offset + (rng.NextDouble() * 2 - 1) * scale)).ToArray();

    private static double[] Reference(float[] w, int rows, int cols, ReadOnlySpan<float> v, float[]? gain)
    {
        var z = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double dot = 0, sq = 0;
            for (int k = 0; k < cols; k++) { dot += (double)w[r * cols + k] * v[k]; sq += (double)w[r * cols + k] * w[r * cols + k]; }
            z[r] = gain is null ? dot : dot * gain[r] / Math.Max(Math.Sqrt(sq), 1e-12);
        }
        return z;
    }

    [Theory]
    [InlineData(LstmNormalization.None, 1, 1, 1)]
    [InlineData(LstmNormalization.None, 7, 5, 3)]
    [InlineData(LstmNormalization.Layer, 7, 5, 3)]
    [InlineData(LstmNormalization.Layer, 1, 1, 2)]
    [InlineData(LstmNormalization.Batch, 33, 17, 4)]
    [InlineData(LstmNormalization.Weight, 33, 17, 4)]
    [InlineData(LstmNormalization.Weight, 2, 3, 1)]
    public void StepMatchesTheScalarReference(LstmNormalization norm, int input, int hidden, int batch)
    {
        var rng = new Random(input * 100 + hidden);
        int h4 = 4 * hidden;
        var wih = Random(rng, h4 * input, 1.5);
        var whh = Random(rng, h4 * hidden, 1.5);
        if (norm == LstmNormalization.Weight) Array.Clear(wih, 0, input); // a zero row: weight norm must give 0, not NaN
        var bias = Random(rng, h4, 0.5);
        var g1 = Random(rng, h4, 0.5, 1); var g2 = Random(rng, h4, 0.5, 1);
        var b1 = Random(rng, h4, 0.3); var b2 = Random(rng, h4, 0.3);
        var m1 = Random(rng, h4, 0.3); var m2 = Random(rng, h4, 0.3);
        var v1 = Random(rng, h4, 0.4, 0.8); var v2 = Random(rng, h4, 0.4, 0.8);
        float eps = 1e-5f;
        float[]? sIh = null, sHh = null, tIh = null, tHh = null;
        if (norm == LstmNormalization.Batch)
        {
            sIh = new float[h4]; tIh = new float[h4]; sHh = new float[h4]; tHh = new float[h4];
            BatchNormKernels.ScaleShift(g1, b1, m1, v1, eps, sIh, tIh);
            BatchNormKernels.ScaleShift(g2, b2, m2, v2, eps, sHh, tHh);
        }
        if (norm == LstmNormalization.Weight)
        {
            sIh = LstmWeights.WeightNormScale(wih, g1, h4, input);
            sHh = LstmWeights.WeightNormScale(whh, g2, h4, hidden);
        }
        var w = new LstmWeights
        {
            Input = input, Hidden = hidden, Normalization = norm, WeightIh = wih, WeightHh = whh, Bias = bias, Epsilon = eps,
            ScaleIh = sIh, ScaleHh = sHh,
            ShiftIh = norm == LstmNormalization.Layer ? b1 : tIh, ShiftHh = norm == LstmNormalization.Layer ? b2 : tHh,
            GammaIh = norm == LstmNormalization.Layer ? g1 : null, GammaHh = norm == LstmNormalization.Layer ? g2 : null,
        };
        var h = new float[batch * hidden];
        var c = new float[batch * hidden];
        var rh = new double[batch * hidden];
        var rc = new double[batch * hidden];
        var zx = new float[h4]; var zh = new float[h4];
        double maxDiff = 0;
        for (int step = 0; step < 4; step++)
        {
            var x = Random(rng, batch * input, step == 3 ? 50 : 1); // the last step saturates the gates
            for (int b = 0; b < batch; b++)
            {
                double[] Norm(double[] z, float[] gamma, float[] beta, float[] mean, float[] variance)
                {
                    if (norm == LstmNormalization.Batch) return z.Select((v, k) => (v - mean[k]) / Math.Sqrt(variance[k] + eps) * gamma[k] + beta[k]).ToArray();
                    if (norm != LstmNormalization.Layer) return z;
                    double mu = z.Average(), var = z.Select(v => (v - mu) * (v - mu)).Average();
                    return z.Select((v, k) => (v - mu) / Math.Sqrt(var + eps) * gamma[k] + beta[k]).ToArray();
                }
                bool wn = norm == LstmNormalization.Weight;
                var hPrev = rh.Skip(b * hidden).Take(hidden).Select(v => (float)v).ToArray();
                var a = Norm(Reference(wih, h4, input, x.AsSpan(b * input, input), wn ? g1 : null), g1, b1, m1, v1);
                var d = Norm(Reference(whh, h4, hidden, hPrev, wn ? g2 : null), g2, b2, m2, v2);
                static double S(double v) => 1 / (1 + Math.Exp(-v));
                for (int j = 0; j < hidden; j++)
                {
                    double gi = a[j] + d[j] + bias[j], gf = a[hidden + j] + d[hidden + j] + bias[hidden + j];
                    double gg = a[2 * hidden + j] + d[2 * hidden + j] + bias[2 * hidden + j], go = a[3 * hidden + j] + d[3 * hidden + j] + bias[3 * hidden + j];
                    rc[b * hidden + j] = S(gf) * rc[b * hidden + j] + S(gi) * Math.Tanh(gg);
                    rh[b * hidden + j] = S(go) * Math.Tanh(rc[b * hidden + j]);
                }
            }
            LstmKernels.Step(w, x, h, c, zx, zh, batch);
            for (int k = 0; k < h.Length; k++)
            {
                Assert.True(float.IsFinite(h[k]) && float.IsFinite(c[k]));
                maxDiff = Math.Max(maxDiff, Math.Max(Math.Abs(h[k] - rh[k]), Math.Abs(c[k] - rc[k])));
            }
        }
        Assert.True(maxDiff < 2e-5, $"max difference {maxDiff}");
    }

    [Fact]
    public void AllZeroWeightsGiveTheBiasOnlyState()
    {
        var w = new LstmWeights { Input = 3, Hidden = 2, Normalization = LstmNormalization.None, WeightIh = new float[24], WeightHh = new float[16], Bias = new float[8] };
        var h = new float[2]; var c = new float[2];
        LstmKernels.Step(w, new float[] { 1, 2, 3 }, h, c, new float[8], new float[8], 1);
        // i = f = o = σ(0) = 0.5, g = tanh(0) = 0: c = 0, h = 0.
        Assert.All(h, v => Assert.Equal(0f, v));
        Assert.All(c, v => Assert.Equal(0f, v));
        Assert.Throws<ArgumentException>(() => LstmKernels.Step(w, new float[] { 1, 2 }, h, c, new float[8], new float[8], 1));
    }
}
