using System.Numerics.Tensors;
using SlimNet.Format.Graph;

namespace SlimNet.Runtime.Kernels;

/// <summary>
/// The weights of one LSTM layer as the kernel reads them (docs/FORMAT.md, op 11), decoded to float32 once: W_ih
/// [4H, I], W_hh [4H, H] row-major, bias [4H], and per product either a row scale (weight norm: gain_r/‖V_r‖), an
/// affine per-element normalization (batch norm folded to scale and shift) or layer norm (γ, β, ε).
/// </summary>
internal sealed class LstmWeights
{
    public required int Input { get; init; }
    public required int Hidden { get; init; }
    public required LstmNormalization Normalization { get; init; }
    public required float[] WeightIh { get; init; }
    public required float[] WeightHh { get; init; }
    public required float[] Bias { get; init; }
    /// <summary>Weight norm: per-row factor gain_r / max(‖V_r‖, 1e-12). Batch norm: per-element scale. Else null.</summary>
    public float[]? ScaleIh { get; init; }
    /// <inheritdoc cref="ScaleIh"/>
    public float[]? ScaleHh { get; init; }
    /// <summary>Batch norm: per-element shift; layer norm: β. Else null.</summary>
    public float[]? ShiftIh { get; init; }
    /// <inheritdoc cref="ShiftIh"/>
    public float[]? ShiftHh { get; init; }
    /// <summary>Layer norm: γ. Else null.</summary>
    public float[]? GammaIh { get; init; }
    /// <inheritdoc cref="GammaIh"/>
    public float[]? GammaHh { get; init; }
    /// <summary>Layer norm ε.</summary>
    public float Epsilon { get; init; }

    /// <summary>gain_r / max(‖V_r‖₂, 1e-12) for every row of <paramref name="v"/> ([rows, cols]).</summary>
    public static float[] WeightNormScale(float[] v, float[] gain, int rows, int cols)
    {
        var s = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            for (int k = 0; k < cols; k++) sum += (double)v[r * cols + k] * v[r * cols + k];
            s[r] = (float)(gain[r] / Math.Max(Math.Sqrt(sum), 1e-12));
        }
        return s;
    }
}

/// <summary>One time step of an LSTM layer over a batch (pure functions over spans; the state is the caller's).</summary>
internal static class LstmKernels
{
    /// <summary>
    /// Advances the state (<paramref name="h"/>, <paramref name="c"/>: batch × H each) by one step with inputs
    /// <paramref name="x"/> (batch × I). <paramref name="zx"/> and <paramref name="zh"/> are scratch of 4H floats.
    /// </summary>
    public static void Step(LstmWeights w, ReadOnlySpan<float> x, Span<float> h, Span<float> c, Span<float> zx, Span<float> zh, int batch)
    {
        int inF = w.Input, hid = w.Hidden, h4 = 4 * hid;
        if (x.Length < batch * inF || h.Length < batch * hid || c.Length < batch * hid || zx.Length < h4 || zh.Length < h4)
            throw new ArgumentException("LSTM buffers are too small for the batch");
        for (int b = 0; b < batch; b++)
        {
            var xb = x.Slice(b * inF, inF);
            var hb = h.Slice(b * hid, hid);
            var cb = c.Slice(b * hid, hid);
            Product(w.WeightIh, xb, zx[..h4], inF);
            Product(w.WeightHh, hb, zh[..h4], hid);
            Normalize(w, zx[..h4], w.ScaleIh, w.ShiftIh, w.GammaIh);
            Normalize(w, zh[..h4], w.ScaleHh, w.ShiftHh, w.GammaHh);
            var bias = w.Bias;
            for (int j = 0; j < hid; j++)
            {
                float i = zx[j] + zh[j] + bias[j];
                float f = zx[hid + j] + zh[hid + j] + bias[hid + j];
                float g = zx[2 * hid + j] + zh[2 * hid + j] + bias[2 * hid + j];
                float o = zx[3 * hid + j] + zh[3 * hid + j] + bias[3 * hid + j];
                float cn = Sigmoid(f) * cb[j] + Sigmoid(i) * MathF.Tanh(g);
                cb[j] = cn;
                hb[j] = Sigmoid(o) * MathF.Tanh(cn);
            }
        }
    }

    /// <summary>z[r] = W[r, :]·v for every row.</summary>
    private static void Product(float[] weights, ReadOnlySpan<float> v, Span<float> z, int cols)
    {
        var wSpan = weights.AsSpan();
        for (int r = 0; r < z.Length; r++) z[r] = TensorPrimitives.Dot(wSpan.Slice(r * cols, cols), v);
    }

    private static void Normalize(LstmWeights w, Span<float> z, float[]? scale, float[]? shift, float[]? gamma)
    {
        switch (w.Normalization)
        {
            case LstmNormalization.Weight:
                for (int r = 0; r < z.Length; r++) z[r] *= scale![r];
                break;
            case LstmNormalization.Batch:
                for (int r = 0; r < z.Length; r++) z[r] = z[r] * scale![r] + shift![r];
                break;
            case LstmNormalization.Layer:
            {
                double sum = 0;
                for (int r = 0; r < z.Length; r++) sum += z[r];
                double mean = sum / z.Length, sq = 0;
                for (int r = 0; r < z.Length; r++) sq += (z[r] - mean) * (z[r] - mean);
                float inv = (float)(1 / Math.Sqrt(sq / z.Length + w.Epsilon));
                for (int r = 0; r < z.Length; r++) z[r] = (float)(z[r] - mean) * inv * gamma![r] + shift![r];
                break;
            }
        }
    }

    private static float Sigmoid(float v) => 1f / (1f + MathF.Exp(-v));
}
