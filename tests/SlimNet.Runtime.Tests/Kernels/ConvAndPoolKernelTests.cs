using SlimNet.Runtime.Kernels;

namespace SlimNet.Runtime.Tests.Kernels;

public class ConvAndPoolKernelTests
{
    public static IEnumerable<object[]> Levels() => SimdSupport.Supported.Select(l => new object[] { (int)l });

    /// <summary>Direct 7-loop convolution, the oracle.</summary>
    internal static float[] DirectConv(float[] x, float[] w, float[]? bias, int n, int c, int h, int wi, int o, int kh, int kw, int stride, int pad)
    {
        int ho = (h + 2 * pad - kh) / stride + 1, wo = (wi + 2 * pad - kw) / stride + 1;
        var y = new float[n * o * ho * wo];
        for (int b = 0; b < n; b++)
            for (int oc = 0; oc < o; oc++)
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++)
                    {
                        double s = bias is { Length: > 0 } ? bias[oc] : 0;
                        for (int ci = 0; ci < c; ci++)
                            for (int ky = 0; ky < kh; ky++)
                                for (int kx = 0; kx < kw; kx++)
                                {
                                    int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= wi) continue;
                                    s += (double)x[((b * c + ci) * h + iy) * wi + ix] * w[((oc * c + ci) * kh + ky) * kw + kx];
                                }
                        y[((b * o + oc) * ho + oy) * wo + ox] = (float)s;
                    }
        return y;
    }

    private static readonly (int N, int C, int H, int W, int O, int K, int S, int P)[] Shapes =
    {
        (1, 1, 5, 5, 1, 3, 1, 0), (2, 3, 7, 6, 4, 3, 1, 1), (1, 1, 28, 28, 6, 5, 1, 0), (2, 6, 12, 12, 16, 5, 1, 0),
        (1, 2, 9, 9, 5, 3, 2, 1), (3, 4, 8, 8, 8, 1, 1, 0), (1, 3, 11, 13, 7, 4, 3, 2), (1, 16, 4, 4, 17, 3, 1, 1),
    };

    [Theory, MemberData(nameof(Levels))]
    public void Conv2d_MatchesDirectConvolution(int simdBits)
    {
        var level = (SimdLevel)simdBits;
        int seed = 0;
        foreach (var (n, c, h, wi, o, k, s, p) in Shapes)
        {
            seed++;
            var x = TestData.Uniform(seed, n * c * h * wi);
            var w = TestData.Uniform(seed + 100, o * c * k * k);
            var bias = seed % 2 == 0 ? TestData.Uniform(seed + 200, o) : Array.Empty<float>();
            var expected = DirectConv(x, w, bias, n, c, h, wi, o, k, k, s, p);
            var y = new float[expected.Length];
            var scratch = new float[ConvKernels.ScratchSize(c, h, wi, o, k, k, s, p)];
            ConvKernels.Conv2d(x, w, bias, y, n, c, h, wi, o, k, k, s, p, scratch, level);
            TestData.Close(expected, y, $"dense conv {level} shape {seed}", 1e-4);

            var (dense, rowPtr, colIdx, values) = TestData.Sparse(seed, o, c * k * k, 0.3);
            expected = DirectConv(x, dense, bias, n, c, h, wi, o, k, k, s, p);
            var sparseScratch = new float[ConvKernels.SparseScratchSize(c, h, wi, k, k, s, p)];
            ConvKernels.CsrConv2d(x, rowPtr, colIdx, values, bias, y, n, c, h, wi, o, k, k, s, p, sparseScratch, level);
            TestData.Close(expected, y, $"CSR conv {level} shape {seed}", 1e-4);
        }
    }

    [Fact]
    public void CsrConv2dFusedVariants_MatchDirectConvolution()
    {
        var (n, c, h, wi, o, k, s, p) = (2, 3, 9, 8, 5, 3, 1, 1);
        var x = TestData.Uniform(1, n * c * h * wi);
        var (_, rowPtr, colIdx, _) = TestData.Sparse(2, o, c * k * k, 0.4);
        int nnz = rowPtr[o];
        var book = TestData.Uniform(3, 16);
        var codes = Enumerable.Range(0, nnz).Select(i => (byte)(i * 7 % 16)).ToArray();
        var q = Enumerable.Range(0, nnz).Select(i => (short)(i * 977 % 4001 - 2000)).ToArray();
        var scales = TestData.Uniform(4, o, 1e-3f);
        var bias = TestData.Uniform(5, o);
        var scratch = new float[ConvKernels.SparseScratchSize(c, h, wi, k, k, s, p)];
        float[] Dense(Func<int, int, float> value)
        {
            var w = new float[o * c * k * k];
            for (int r = 0; r < o; r++)
                for (int j = rowPtr[r]; j < rowPtr[r + 1]; j++) w[r * c * k * k + colIdx[j]] = value(r, j);
            return w;
        }
        var y = new float[n * o * h * wi];
        ConvKernels.CsrConv2dCodebook(x, rowPtr, colIdx, codes, book, bias, y, n, c, h, wi, o, k, k, s, p, scratch);
        TestData.Close(DirectConv(x, Dense((_, j) => book[codes[j]]), bias, n, c, h, wi, o, k, k, s, p), y, "codebook conv", 1e-4);
        ConvKernels.CsrConv2dFixedPoint(x, rowPtr, colIdx, q, scales, bias, y, n, c, h, wi, o, k, k, s, p, scratch);
        TestData.Close(DirectConv(x, Dense((r, j) => q[j] * scales[r]), bias, n, c, h, wi, o, k, k, s, p), y, "fixed-point conv", 1e-4);
    }

    [Fact]
    public void MaxPool2d_TakesWindowMaximum_PaddingIsMinusInfinity()
    {
        var x = new float[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 }.Select(v => -v).ToArray();
        var y = new float[4];
        PoolKernels.MaxPool2d(x, y, 1, 1, 4, 4, 2, 2);
        Assert.Equal(new float[] { -1, -3, -9, -11 }, y);
        var padded = new float[9];
        PoolKernels.MaxPool2d(x, padded, 1, 1, 4, 4, 2, 2, pad: 1);
        Assert.Equal(new float[] { -1, -2, -4, -5, -6, -8, -13, -14, -16 }, padded);
    }

    [Fact]
    public void MaxPool2d_LetsNaNWin()
    {
        var x = new float[] { 1, float.NaN, 3, 4 };
        var y = new float[1];
        PoolKernels.MaxPool2d(x, y, 1, 1, 2, 2, 2, 2);
        Assert.True(float.IsNaN(y[0]));
    }

    [Fact]
    public void AvgPool2d_CountsPaddingAsZeros()
    {
        var x = Enumerable.Range(1, 16).Select(v => (float)v).ToArray();
        var y = new float[4];
        PoolKernels.AvgPool2d(x, y, 1, 1, 4, 4, 2, 2);
        Assert.Equal(new float[] { 3.5f, 5.5f, 11.5f, 13.5f }, y);
        var padded = new float[9];
        PoolKernels.AvgPool2d(x, padded, 1, 1, 4, 4, 2, 2, pad: 1);
        Assert.Equal(1f / 4, padded[0]);
        Assert.Equal((2f + 3f) / 4, padded[1]);
        Assert.Equal((6f + 7f + 10f + 11f) / 4, padded[4]);
    }

    [Fact]
    public void Pools_MatchNaiveLoops_OverShapes()
    {
        foreach (var (h, w, k, s, p) in new[] { (5, 5, 2, 2, 0), (7, 9, 3, 2, 1), (6, 6, 3, 1, 1), (28, 28, 2, 2, 0), (3, 3, 3, 1, 0) })
        {
            int n = 2, c = 3, ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1;
            var x = TestData.Uniform(h * w, n * c * h * w);
            var max = new float[n * c * ho * wo];
            var avg = new float[max.Length];
            PoolKernels.MaxPool2d(x, max, n, c, h, w, k, s, p);
            PoolKernels.AvgPool2d(x, avg, n, c, h, w, k, s, p);
            for (int pl = 0; pl < n * c; pl++)
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++)
                    {
                        float m = float.NegativeInfinity, sum = 0;
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++)
                            {
                                int iy = oy * s - p + ky, ix = ox * s - p + kx;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                m = Math.Max(m, x[pl * h * w + iy * w + ix]);
                                sum += x[pl * h * w + iy * w + ix];
                            }
                        Assert.Equal(m, max[(pl * ho + oy) * wo + ox]);
                        Assert.Equal(sum / (k * k), avg[(pl * ho + oy) * wo + ox], 5);
                    }
        }
    }

    [Fact]
    public void GlobalAvgPool_AveragesEachPlane()
    {
        var x = Enumerable.Range(0, 2 * 3 * 5).Select(v => (float)v).ToArray();
        var y = new float[6];
        PoolKernels.GlobalAvgPool(x, y, 2, 3, 5);
        Assert.Equal(new float[] { 2, 7, 12, 17, 22, 27 }, y);
    }
}
