using SlimNet.Format;
using SlimNet.Format.Graph;

namespace SlimNet.Runtime.Tests.Engine;

/// <summary>
/// The oracle for the engine: a plain forward pass in double precision straight from the PyTorch definitions
/// of each operation, with every tensor decoded by <see cref="SlimTensor.ToDense"/>. No folding, no
/// in-place buffers, no kernels from the runtime.
/// </summary>
internal static class ReferenceForward
{
    public static double[] Run(SlimModel model, float[] input, int batch)
    {
        var g = model.Graph;
        var shapes = GraphShapes.Infer(g);
        int[] ShapeOf(int i) => i < 0 ? g.InputShape.ToArray() : shapes[i];
        var outs = new double[g.Nodes.Count][];
        double[] input64 = input.Take(batch * Size(g.InputShape.ToArray())).Select(v => (double)v).ToArray();
        double[] Of(int i) => i < 0 ? input64 : outs[i];
        float[] T(string name) => model.FindTensor(name)!.ToDense();

        for (int n = 0; n < g.Nodes.Count; n++)
        {
            var node = g.Nodes[n];
            var a = node.Attributes;
            var x = Of(node.Inputs[0]);
            var s = ShapeOf(node.Inputs[0]);
            bool layer = node.Op is OpKind.Linear or OpKind.Conv2d;
            // On Linear/Conv2d the declared quantizer applies to the input the weights multiply; elsewhere to the output.
            if (layer && a.ActivationQuant is { } inQuant) x = Quantize(inQuant, x);
            int inSize = Size(s), outSize = Size(shapes[n]);
            var y = new double[batch * outSize];
            switch (node.Op)
            {
                case OpKind.Linear:
                {
                    var w = T(node.WeightName);
                    var bias = a.HasBias ? T(node.BiasName) : null;
                    for (int b = 0; b < batch; b++)
                        for (int o = 0; o < a.OutFeatures; o++)
                        {
                            double acc = bias?[o] ?? 0;
                            for (int i = 0; i < a.InFeatures; i++) acc += x[b * inSize + i] * w[o * a.InFeatures + i];
                            y[b * outSize + o] = acc;
                        }
                    break;
                }
                case OpKind.Conv2d:
                {
                    var w = T(node.WeightName);
                    var bias = a.HasBias ? T(node.BiasName) : null;
                    int c = s[0], h = s[1], wi = s[2], ho = shapes[n][1], wo = shapes[n][2];
                    for (int b = 0; b < batch; b++)
                        for (int o = 0; o < a.OutFeatures; o++)
                            for (int oy = 0; oy < ho; oy++)
                                for (int ox = 0; ox < wo; ox++)
                                {
                                    double acc = bias?[o] ?? 0;
                                    for (int ci = 0; ci < c; ci++)
                                        for (int ky = 0; ky < a.KernelH; ky++)
                                            for (int kx = 0; kx < a.KernelW; kx++)
                                            {
                                                int iy = oy * a.Stride - a.Padding + ky, ix = ox * a.Stride - a.Padding + kx;
                                                if (iy < 0 || iy >= h || ix < 0 || ix >= wi) continue;
                                                acc += x[b * inSize + (ci * h + iy) * wi + ix] * w[((o * c + ci) * a.KernelH + ky) * a.KernelW + kx];
                                            }
                                    y[b * outSize + (o * ho + oy) * wo + ox] = acc;
                                }
                    break;
                }
                case OpKind.BatchNorm:
                {
                    float[] gamma = T(node.WeightName), beta = T(node.BiasName), mean = T(node.RunningMeanName), variance = T(node.RunningVarName);
                    int c = s[0], spatial = inSize / c;
                    for (int i = 0; i < y.Length; i++)
                    {
                        int ch = i % inSize / spatial;
                        y[i] = (x[i] - mean[ch]) / Math.Sqrt(variance[ch] + a.Epsilon) * gamma[ch] + beta[ch];
                    }
                    break;
                }
                case OpKind.ReLU:
                    for (int i = 0; i < y.Length; i++) y[i] = Math.Max(x[i], 0);
                    break;
                case OpKind.Flatten:
                    Array.Copy(x, y, y.Length);
                    break;
                case OpKind.Softmax:
                {
                    int cols = s[^1];
                    for (int r = 0; r < y.Length / cols; r++)
                    {
                        double max = Enumerable.Range(0, cols).Max(j => x[r * cols + j]);
                        double sum = Enumerable.Range(0, cols).Sum(j => Math.Exp(x[r * cols + j] - max));
                        for (int j = 0; j < cols; j++) y[r * cols + j] = Math.Exp(x[r * cols + j] - max) / sum;
                    }
                    break;
                }
                case OpKind.MaxPool2d:
                case OpKind.AvgPool2d:
                {
                    int c = s[0], h = s[1], wi = s[2], ho = shapes[n][1], wo = shapes[n][2], k = a.KernelH;
                    for (int p = 0; p < batch * c; p++)
                        for (int oy = 0; oy < ho; oy++)
                            for (int ox = 0; ox < wo; ox++)
                            {
                                double max = double.NegativeInfinity, sum = 0;
                                for (int ky = 0; ky < k; ky++)
                                    for (int kx = 0; kx < k; kx++)
                                    {
                                        int iy = oy * a.Stride - a.Padding + ky, ix = ox * a.Stride - a.Padding + kx;
                                        if (iy < 0 || iy >= h || ix < 0 || ix >= wi) continue;
                                        double v = x[p * h * wi + iy * wi + ix];
                                        max = Math.Max(max, v);
                                        sum += v;
                                    }
                                y[p * ho * wo + oy * wo + ox] = node.Op == OpKind.MaxPool2d ? max : sum / (k * k);
                            }
                    break;
                }
                case OpKind.GlobalAvgPool:
                {
                    int spatial = s[1] * s[2];
                    for (int p = 0; p < y.Length; p++) y[p] = Enumerable.Range(0, spatial).Average(j => x[p * spatial + j]);
                    break;
                }
                case OpKind.Add:
                {
                    var other = Of(node.Inputs[1]);
                    for (int i = 0; i < y.Length; i++) y[i] = x[i] + other[i];
                    break;
                }
                default:
                    throw new NotSupportedException(node.Op.ToString());
            }
            if (!layer && a.ActivationQuant is { } q) y = Quantize(q, y);
            outs[n] = y;
        }
        return outs[^1];
    }

    /// <summary>Uniform: scale·clamp(round-half-even(x/scale)); basis: the nearest of the 2^K levels by brute force
    /// (levels summed in double, a tie goes to the upper level), as a float.</summary>
    public static double[] Quantize(ActivationQuantization q, double[] x)
    {
        var y = new double[x.Length];
        if (q.Kind == ActivationQuantKind.Uniform)
        {
            double scale = q.Parameters[0];
            double lo = q.Signed ? -(1 << (q.Bits - 1)) : 0, hi = q.Signed ? (1 << (q.Bits - 1)) - 1 : (1 << q.Bits) - 1;
            for (int i = 0; i < y.Length; i++) y[i] = scale * Math.Clamp(Math.Round(x[i] / scale, MidpointRounding.ToEven), lo, hi);
            return y;
        }
        var levels = new double[1 << q.Bits];
        for (int code = 0; code < levels.Length; code++)
            for (int k = 0; k < q.Bits; k++)
                levels[code] += q.Parameters[k] * (((code >> k) & 1) != 0 ? 1.0 : q.Signed ? -1.0 : 0.0);
        for (int i = 0; i < y.Length; i++)
        {
            double best = levels[0];
            foreach (double l in levels)
            {
                double d = Math.Abs(x[i] - l), db = Math.Abs(x[i] - best);
                if (d < db || (d == db && l > best)) best = l;
            }
            y[i] = (float)best;
        }
        return y;
    }

    private static int Size(int[] shape) => shape.Aggregate(1, (p, d) => p * d);
}
