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
        foreach (var name in ModelZoo.Names)
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
