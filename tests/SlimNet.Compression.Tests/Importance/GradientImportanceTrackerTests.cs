using SlimNet.Compression.Hooks;
using SlimNet.Compression.Importance;
using SlimNet.Compression.Optim;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Compression.Tests.Importance;

public class GradientImportanceTrackerTests
{
    // y = w·x + b with MSE over N samples: ∂L/∂w_j = (2/N) Σ_n (ŷ_n − y_n) x_nj, ∂L/∂b = (2/N) Σ_n (ŷ_n − y_n);
    // plain SGD (no momentum) moves w, so each step's gradient is recomputed by hand in double.
    [Fact]
    public void AccumulatedValuesEqualAHandComputationOnALinearModel()
    {
        double[][] x = [[1.0, -2.0], [0.5, 3.0], [-1.5, 0.25]];
        double[] y = [0.7, -1.2, 2.0];
        double[] w = [0.3, -0.4];
        double bias = 0.1, lr = 0.05;
        const int steps = 4;

        torch.manual_seed(3);
        using var model = nn.Sequential(("fc", nn.Linear(2, 1)));
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        using (torch.no_grad())
        {
            parameters["fc.weight"].copy_(torch.tensor(new float[] { (float)w[0], (float)w[1] }).reshape(1, 2));
            parameters["fc.bias"].copy_(torch.tensor(new float[] { (float)bias }));
        }
        w = [(float)w[0], (float)w[1]];
        bias = (float)bias;
        using var inputs = torch.tensor(x.SelectMany(r => r.Select(v => (float)v)).ToArray()).reshape(3, 2);
        using var targets = torch.tensor(y.Select(v => (float)v).ToArray()).reshape(3, 1);
        using var optimizer = new SgdOptimizer(parameters.Select(p => (p.Key, p.Value)), lr, momentum: 0);
        using var tracker = new GradientImportanceTracker(parameters);
        var context = new TrainingContext(model, optimizer, 1, steps);

        double[] expectedW = new double[2];
        double expectedB = 0;
        for (int s = 0; s < steps; s++)
        {
            using (var scope = torch.NewDisposeScope())
            {
                optimizer.ZeroGrad();
                var loss = nn.functional.mse_loss(model.forward(inputs), targets);
                loss.backward();
                tracker.AfterBackward(context);
                optimizer.Step();
            }
            double gw0 = 0, gw1 = 0, gb = 0;
            for (int n = 0; n < x.Length; n++)
            {
                double r = w[0] * x[n][0] + w[1] * x[n][1] + bias - y[n];
                gw0 += 2.0 / x.Length * r * x[n][0];
                gw1 += 2.0 / x.Length * r * x[n][1];
                gb += 2.0 / x.Length * r;
            }
            expectedW[0] += Math.Abs(gw0);
            expectedW[1] += Math.Abs(gw1);
            expectedB += Math.Abs(gb);
            w[0] -= lr * gw0;
            w[1] -= lr * gw1;
            bias -= lr * gb;
        }

        Assert.Equal(steps, tracker.Steps);
        var actualW = tracker.Importance("fc.weight");
        Assert.Equal(expectedW[0], actualW[0], 4);
        Assert.Equal(expectedW[1], actualW[1], 4);
        Assert.Equal(expectedB, tracker.Importance("fc.bias")[0], 4);
        Assert.True(expectedW[0] > 0.5, "the hand computation should not be trivially small");
    }

    [Fact]
    public void AccumulatorEqualsTheSumOfCapturedAbsoluteGradientsBitExactly()
    {
        using var tiny = new TinyTraining(seed: 5);
        using var tracker = new GradientImportanceTracker(tiny.Parameters);
        using var optimizer = tiny.Sgd();
        var sums = tiny.Parameters.ToDictionary(p => p.Key, p => new float[p.Value.numel()], StringComparer.Ordinal);
        tiny.Train(optimizer, [tracker], epochs: 2, stepsPerEpoch: 3, afterEachStep: _ =>
        {
            foreach (var (name, p) in tiny.Parameters)
            {
                var g = TinyTraining.Values(p.grad!);
                for (int i = 0; i < g.Length; i++) sums[name][i] += Math.Abs(g[i]);
            }
        });
        Assert.Equal(6, tracker.Steps);
        Assert.Equal(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"], tracker.Names);
        foreach (var name in tracker.Names) Assert.Equal(sums[name], tracker.Importance(name));
    }

    [Fact]
    public void SelectedNamesOnlyAndExportImportRoundTrips()
    {
        using var tiny = new TinyTraining(seed: 2);
        using var tracker = new GradientImportanceTracker(tiny.Parameters, ["fc2.weight", "fc1.bias"]);
        using var optimizer = tiny.Adam();
        tiny.Train(optimizer, [tracker], epochs: 1, stepsPerEpoch: 4);
        var saved = tracker.Export();
        Assert.Equal(["fc2.weight", "fc1.bias"], saved.Select(s => s.Name));
        Assert.Equal(new long[] { 4, 10 }, saved[0].Shape);

        using var restored = new GradientImportanceTracker(tiny.Parameters, ["fc2.weight", "fc1.bias"]);
        restored.Import(saved, tracker.Steps);
        Assert.Equal(4, restored.Steps);
        foreach (var name in tracker.Names) Assert.Equal(tracker.Importance(name), restored.Importance(name));

        Assert.Throws<InvalidOperationException>(() => restored.Import([saved[0]], 1));
        Assert.Throws<InvalidOperationException>(() => restored.Import([saved[0], saved[1] with { Shape = [3] }], 1));
        Assert.Throws<ArgumentException>(() => new GradientImportanceTracker(tiny.Parameters, ["nope"]));
    }
}
