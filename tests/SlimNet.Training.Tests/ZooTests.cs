using SlimNet.Format.Graph;
using SlimNet.Training.Models;
using TorchSharp;

namespace SlimNet.Training.Tests;

[Collection("torch")]
public class ZooTests
{
    [Theory]
    [InlineData("lenet-300-100", 266_610)]
    [InlineData("lenet-5", 431_080)]
    [InlineData("mlp-2048x3-bn", 10_033_162)]
    [InlineData("resnet20", 272_474)]
    public void ParameterCountsMatchTorchAndPublishedFigures(string name, long expected)
    {
        var zoo = ModelZoo.Get(name);
        Assert.Equal(expected, GraphShapes.TrainableParameterCount(zoo.Graph));
        using var module = new GraphModule(zoo.Graph);
        Assert.Equal(expected, module.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void EveryZooModelRunsAForwardPassOfTheRightShape()
    {
        // char-lstm is a recurrent model trained and run per time step: CharLstmTests covers it.
        foreach (var name in ModelZoo.Names.Where(n => ModelZoo.Get(n).Dataset != SlimNet.Training.Data.DatasetKind.Text))
        {
            var zoo = ModelZoo.Get(name);
            using var module = new GraphModule(zoo.Graph);
            module.eval();
            using var x = torch.randn(new long[] { 2 }.Concat(zoo.Graph.InputShape.Select(d => (long)d)).ToArray());
            using var y = module.forward(x);
            Assert.Equal(new long[] { 2, 10 }, y.shape);
        }
    }

    [Fact]
    public void ParameterNamesFollowGraphNodes()
    {
        using var module = new GraphModule(ModelZoo.LeNet5().Graph);
        var names = module.named_parameters().Select(p => p.name).ToArray();
        Assert.Equal(new[] { "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias" }, names);
    }

    [Fact]
    public void UnknownModelNameListsTheKnownOnes()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelZoo.Get("lenet-6"));
        Assert.Contains("lenet-300-100", e.Message);
    }
}

[Collection("torch")]
public class Conv2dSelfCheckTests
{
    /// <summary>A reference convolution by four nested loops over one output element at a time (slow, obviously right).</summary>
    private static float[] ReferenceConv(float[] x, float[] w, float[] b, int n, int c, int h, int wi, int o, int k, int stride, int pad)
    {
        int ho = (h + 2 * pad - k) / stride + 1, wo = (wi + 2 * pad - k) / stride + 1;
        var y = new float[n * o * ho * wo];
        for (int bi = 0; bi < n; bi++)
            for (int oc = 0; oc < o; oc++)
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++)
                    {
                        double acc = b[oc];
                        for (int ic = 0; ic < c; ic++)
                            for (int ky = 0; ky < k; ky++)
                                for (int kx = 0; kx < k; kx++)
                                {
                                    int iy = oy * stride + ky - pad, ix = ox * stride + kx - pad;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= wi) continue;
                                    acc += (double)x[((bi * c + ic) * h + iy) * wi + ix] * w[((oc * c + ic) * k + ky) * k + kx];
                                }
                        y[((bi * o + oc) * ho + oy) * wo + ox] = (float)acc;
                    }
        return y;
    }

    [Theory]
    [InlineData(20, 50, 5, 12, 1, 0)]   // LeNet-5 conv2: the shape libtorch gets wrong here
    [InlineData(1, 20, 5, 28, 1, 0)]    // LeNet-5 conv1
    [InlineData(16, 32, 3, 9, 2, 1)]    // ResNet-20 downsampling conv, odd size
    [InlineData(3, 8, 1, 5, 1, 0)]
    public void GraphModuleConvolutionMatchesLoopReference(int c, int o, int k, int size, int stride, int pad)
    {
        // Once as the module chooses (native where the self-check passes), once forced through im2col.
        foreach (var mode in new[] { null, "im2col" })
        {
            Environment.SetEnvironmentVariable("SLIMNET_CONV", mode);
            try { ConvolutionMatchesLoopReference(c, o, k, size, stride, pad); }
            finally { Environment.SetEnvironmentVariable("SLIMNET_CONV", null); }
        }
    }

    private static void ConvolutionMatchesLoopReference(int c, int o, int k, int size, int stride, int pad)
    {
        var b = new GraphBuilder("conv", c, size, size);
        b.Conv2d("conv", c, o, k, stride, pad);
        using var module = new GraphModule(b.Build());
        module.eval();
        torch.manual_seed(3);
        using var x = torch.randn(2, c, size, size);
        using var noGrad = torch.no_grad();
        using var y = module.forward(x);
        var p = module.named_parameters().ToDictionary(t => t.name, t => t.parameter.data<float>().ToArray());
        var expected = ReferenceConv(x.data<float>().ToArray(), p["conv.weight"], p["conv.bias"], 2, c, size, size, o, k, stride, pad);
        var actual = y.contiguous().data<float>().ToArray();
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-4, $"element {i}: {actual[i]} vs {expected[i]}");
    }

    [Fact]
    public void Im2ColFallbackIsDifferentiable()
    {
        var b = new GraphBuilder("conv", 20, 12, 12);
        b.Conv2d("conv", 20, 50, 5);
        Environment.SetEnvironmentVariable("SLIMNET_CONV", "im2col");
        try
        {
            using var module = new GraphModule(b.Build());
            Assert.Equal(new[] { "conv" }, module.Im2ColNodes);
            using var x = torch.randn(2, 20, 12, 12);
            using var loss = module.forward(x).square().sum();
            loss.backward();
            Assert.True(module.named_parameters().All(p => p.parameter.grad is not null && p.parameter.grad.abs().sum().item<float>() > 0));
        }
        finally { Environment.SetEnvironmentVariable("SLIMNET_CONV", null); }
    }
}
