using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Training.Tests;

public class TorchLoadsTests
{
    [Fact]
    public void TorchLoadsAndOneStepChangesWeights()
    {
        torch.manual_seed(1);
        using var lin = nn.Linear(4, 3);
        using var before = lin.weight!.detach().clone();
        using var opt = optim.SGD(lin.parameters(), 0.1);
        using var x = torch.randn(8, 4);
        using var y = torch.randint(0, 3, new long[] { 8 }, dtype: ScalarType.Int64);
        using var logits = lin.forward(x);
        using var loss = nn.functional.cross_entropy(logits, y);
        loss.backward();
        opt.step();
        using var diff = (lin.weight!.detach() - before).abs().max();
        Assert.True(diff.item<float>() > 0f, "one SGD step should change the weights");
    }
}
