using System.Collections.Concurrent;
using SlimNet.Format.Graph;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Training.Models;

/// <summary>
/// Guards against a wrong native convolution. On the machines SlimNet is developed on (AVX-512), libtorch 2.10's
/// CPU conv2d as shipped in TorchSharp-cpu 0.107 returns wrong values for some shapes — LeNet-5's conv2
/// (20 → 50 channels, 5×5) differs from the exact result by up to ~1.5 and sometimes yields NaN — while other
/// shapes (16 → 50, 5×5; 20 → 50, 3×3) are exact. So every Conv2d shape is checked once per process against
/// im2col (unfold) + matrix product, which uses the BLAS path that is correct; a shape that fails runs as
/// im2col + matmul from then on. See docs/PLATFORM.md.
/// </summary>
public static class Conv2dSelfCheck
{
    private static readonly ConcurrentDictionary<string, bool> Verdicts = new();

    /// <summary>True when libtorch's conv2d matches im2col + matmul for a convolution of this shape.</summary>
    public static bool NativeConvolutionIsCorrect(NodeAttributes a, IReadOnlyList<int> inputShape)
    {
        string key = $"{a.InFeatures}x{inputShape[1]}x{inputShape[2]}->{a.OutFeatures} k{a.KernelH}x{a.KernelW} s{a.Stride} p{a.Padding}";
        if (Environment.GetEnvironmentVariable("SLIMNET_CONV") is { } forced)
            return forced != "im2col";
        return Verdicts.GetOrAdd(key, _ => Check(a, inputShape));
    }

    private static bool Check(NodeAttributes a, IReadOnlyList<int> inputShape)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var gen = new torch.Generator(12345);
        var x = torch.randn(new long[] { 4, a.InFeatures, inputShape[1], inputShape[2] }, generator: gen);
        var w = torch.randn(new long[] { a.OutFeatures, a.InFeatures, a.KernelH, a.KernelW }, generator: gen);
        var b = torch.randn(new long[] { a.OutFeatures }, generator: gen);
        var native = nn.functional.conv2d(x, w, b, strides: new long[] { a.Stride, a.Stride }, padding: new long[] { a.Padding, a.Padding });
        var reference = Im2Col(x, w, b, a);
        double scale = Math.Sqrt(a.InFeatures * a.KernelH * a.KernelW);
        bool finite = native.isfinite().all().item<bool>();
        return finite && (native - reference).abs().max().item<float>() <= 1e-4 * scale;
    }

    /// <summary>The convolution of <paramref name="x"/> by <paramref name="conv"/>'s parameters as unfold + matmul (differentiable).</summary>
    public static Tensor Im2ColConvolution(Tensor x, TorchSharp.Modules.Conv2d conv, NodeAttributes a) =>
        Im2Col(x, conv.weight!, conv.bias, a);

    private static Tensor Im2Col(Tensor x, Tensor w, Tensor? b, NodeAttributes a)
    {
        // Patches as strided views (Tensor.unfold twice), one copy into a [N·Ho·Wo, C·kh·kw] matrix, one GEMM.
        // Measured here about 2.5x faster than nn.functional.unfold + matmul.
        long n = x.shape[0], c = x.shape[1];
        using var padded = a.Padding > 0 ? nn.functional.pad(x, new long[] { a.Padding, a.Padding, a.Padding, a.Padding }) : x.alias();
        long ho = (padded.shape[2] - a.KernelH) / a.Stride + 1;
        long wo = (padded.shape[3] - a.KernelW) / a.Stride + 1;
        using var rows = padded.unfold(2, a.KernelH, a.Stride);
        using var patches = rows.unfold(3, a.KernelW, a.Stride);              // [N, C, Ho, Wo, kh, kw]
        using var ordered = patches.permute(0, 2, 3, 1, 4, 5);
        using var cols = ordered.reshape(n * ho * wo, c * a.KernelH * a.KernelW);
        using var flatW = w.reshape(a.OutFeatures, -1);
        using var flatWt = flatW.t();
        using var y = b is null ? torch.matmul(cols, flatWt) : torch.addmm(b, cols, flatWt, 1, 1);  // [N·Ho·Wo, O]
        using var nhwc = y.reshape(n, ho, wo, a.OutFeatures);
        return nhwc.permute(0, 3, 1, 2).contiguous();
    }
}
