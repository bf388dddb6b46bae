namespace SlimNet.Runtime.Tests;

/// <summary>Seeded random inputs and the comparisons the kernel and engine tests share.</summary>
internal static class TestData
{
    public static float[] Uniform(int seed, int length, float scale = 1f)
    {
        var rng = new Random(seed);
        var a = new float[length];
        for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>A random [rows, cols] matrix with about <paramref name="density"/> of its entries non-zero, as dense and CSR.</summary>
    public static (float[] Dense, int[] RowPtr, int[] ColIdx, float[] Values) Sparse(int seed, int rows, int cols, double density)
    {
        var rng = new Random(seed);
        var dense = new float[rows * cols];
        var rowPtr = new int[rows + 1];
        var colIdx = new List<int>();
        var values = new List<float>();
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
                if (rng.NextDouble() < density)
                {
                    float v = (float)(rng.NextDouble() * 2 - 1);
                    dense[r * cols + c] = v;
                    colIdx.Add(c);
                    values.Add(v);
                }
            rowPtr[r + 1] = colIdx.Count;
        }
        return (dense, rowPtr, colIdx.ToArray(), values.ToArray());
    }

    /// <summary>y[b, o] = Σ x[b, i]·w[o, i] + bias[o] in double precision; also returns Σ|x·w| per output for tolerances.</summary>
    public static (double[] Y, double[] Magnitude) Linear(float[] x, float[] w, float[]? bias, int batch, int n, int m)
    {
        var y = new double[batch * m];
        var mag = new double[batch * m];
        for (int b = 0; b < batch; b++)
            for (int o = 0; o < m; o++)
            {
                double s = bias is { Length: > 0 } ? bias[o] : 0, a = Math.Abs(s);
                for (int i = 0; i < n; i++)
                {
                    double p = (double)x[b * n + i] * w[o * n + i];
                    s += p;
                    a += Math.Abs(p);
                }
                y[b * m + o] = s;
                mag[b * m + o] = a;
            }
        return (y, mag);
    }

    public static void Close(double[] expected, double[] magnitude, ReadOnlySpan<float> actual, string what, double relative = 1e-5)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            double tol = relative * magnitude[i] + 1e-6;
            if (!(Math.Abs(expected[i] - actual[i]) <= tol))
                Assert.Fail($"{what}: element {i} is {actual[i]}, expected {expected[i]} (tolerance {tol})");
        }
    }

    public static void Close(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what, double tolerance = 1e-5)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double tol = tolerance * (1 + Math.Abs(expected[i]));
            if (!(Math.Abs(expected[i] - actual[i]) <= tol) && !(float.IsNaN(expected[i]) && float.IsNaN(actual[i])) && expected[i] != actual[i])
                Assert.Fail($"{what}: element {i} is {actual[i]}, expected {expected[i]}");
        }
    }
}
