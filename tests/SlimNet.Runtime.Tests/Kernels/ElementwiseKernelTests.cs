using SlimNet.Runtime.Kernels;

namespace SlimNet.Runtime.Tests.Kernels;

public class ElementwiseKernelTests
{
    [Fact]
    public void Relu_ClampsNegatives_OverOddLengths()
    {
        foreach (int n in Enumerable.Range(0, 70).Append(300).Append(784))
        {
            var x = TestData.Uniform(n, n, 10f);
            var expected = x.Select(v => Math.Max(v, 0f)).ToArray();
            ActivationKernels.Relu(x);
            Assert.Equal(expected, x);
        }
        var special = new[] { float.NegativeInfinity, float.PositiveInfinity, -0f, float.NaN };
        ActivationKernels.Relu(special);
        Assert.Equal(0f, special[0]);
        Assert.Equal(float.PositiveInfinity, special[1]);
        Assert.True(float.IsNaN(special[3]));
    }

    [Fact]
    public void SoftmaxRows_SumsToOne_AndSurvivesLargeLogits()
    {
        var x = new float[] { 1000f, 1001f, 1002f, -5f, 0f, 5f };
        ActivationKernels.SoftmaxRows(x, 2, 3);
        double e1 = Math.Exp(-1), e2 = Math.Exp(-2), z = 1 + e1 + e2;
        Assert.Equal(1 / z, x[2], 5);
        Assert.Equal(e2 / z, x[0], 5);
        Assert.Equal(1f, x[3] + x[4] + x[5], 5);
        Assert.All(x, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Add_SumsElementwise()
    {
        var a = TestData.Uniform(1, 67);
        var b = TestData.Uniform(2, 67);
        var y = new float[67];
        ElementwiseKernels.Add(a, b, y);
        for (int i = 0; i < 67; i++) Assert.Equal(a[i] + b[i], y[i]);
        Assert.Throws<ArgumentException>(() => ElementwiseKernels.Add(a, b.AsSpan(1), y));
    }

    [Fact]
    public void BatchNormFolding_EqualsLinearFollowedByBatchNorm()
    {
        int batch = 3, n = 13, m = 7;
        var x = TestData.Uniform(1, batch * n);
        var w = TestData.Uniform(2, m * n);
        var bias = TestData.Uniform(3, m);
        var gamma = TestData.Uniform(4, m);
        var beta = TestData.Uniform(5, m);
        var mean = TestData.Uniform(6, m);
        var variance = TestData.Uniform(7, m).Select(v => Math.Abs(v) + 0.1f).ToArray();
        var plain = new float[batch * m];
        DenseKernels.Gemm(x, w, bias, plain, batch, n, m);
        BatchNormKernels.Apply(plain, batch, m, 1, gamma, beta, mean, variance, 1e-5f);
        var fw = (float[])w.Clone();
        var fb = (float[])bias.Clone();
        BatchNormFolding.FoldIntoPreceding(fw, fb, gamma, beta, mean, variance, 1e-5f);
        var folded = new float[batch * m];
        DenseKernels.Gemm(x, fw, fb, folded, batch, n, m);
        TestData.Close(plain, folded, "folded", 1e-5);
        for (int b = 0; b < batch; b++)
            for (int o = 0; o < m; o++)
            {
                var (lin, _) = TestData.Linear(x, w, bias, batch, n, m);
                double expected = gamma[o] * (lin[b * m + o] - mean[o]) / Math.Sqrt(variance[o] + 1e-5) + beta[o];
                Assert.Equal(expected, plain[b * m + o], 4);
            }
    }

    [Fact]
    public void BatchNormApply_WorksPerChannelOverSpatial()
    {
        var x = Enumerable.Range(0, 2 * 2 * 3).Select(v => (float)v).ToArray();
        BatchNormKernels.Apply(x, 2, 2, 3, new[] { 2f, 1f }, new[] { 0f, 1f }, new[] { 1f, 0f }, new[] { 1f - 1e-5f, 4f - 1e-5f }, 1e-5f);
        Assert.Equal(new[] { -2f, 0f, 2f, 2.5f, 3f, 3.5f, 10f, 12f, 14f, 5.5f, 6f, 6.5f }, x.Select(v => MathF.Round(v, 4)).ToArray());
    }
}
