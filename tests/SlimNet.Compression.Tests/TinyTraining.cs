using SlimNet.Compression.Hooks;
using SlimNet.Compression.Optim;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SlimNet.Compression.Tests;

/// <summary>A tiny two-layer MLP and a minimal trainer loop that calls the hooks in the trainer's order.</summary>
internal sealed class TinyTraining : IDisposable
{
    public TinyTraining(int seed = 1, int inputs = 12, int hidden = 10, int classes = 4, int batch = 16)
    {
        torch.manual_seed(seed);
        Model = nn.Sequential(("fc1", nn.Linear(inputs, hidden)), ("relu", nn.ReLU()), ("fc2", nn.Linear(hidden, classes)));
        Inputs = torch.randn(batch, inputs);
        Labels = torch.randint(0, classes, new long[] { batch }, dtype: ScalarType.Int64);
        Parameters = Model.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
    }

    public Sequential Model { get; }
    public Tensor Inputs { get; }
    public Tensor Labels { get; }
    public IReadOnlyDictionary<string, Parameter> Parameters { get; }

    public IEnumerable<(string, Parameter)> Named => Parameters.Select(p => (p.Key, p.Value));

    public ParameterOptimizer Sgd(double lr = 0.1, double momentum = 0.9) => new SgdOptimizer(Named, lr, momentum);
    public ParameterOptimizer Adam(double lr = 0.05) => new AdamOptimizer(Named, lr);

    /// <summary>Runs <paramref name="epochs"/> × <paramref name="stepsPerEpoch"/> steps on the fixed batch; returns the context.</summary>
    public TrainingContext Train(ParameterOptimizer optimizer, IReadOnlyList<ITrainingHooks> hooks, int epochs, int stepsPerEpoch,
        Action<TrainingContext>? afterEachStep = null)
    {
        var context = new TrainingContext(Model, optimizer, epochs, stepsPerEpoch);
        foreach (var h in hooks) h.OnTrainingStart(context);
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            context.Epoch = epoch;
            double sum = 0;
            for (int s = 0; s < stepsPerEpoch; s++)
            {
                using var scope = torch.NewDisposeScope();
                foreach (var h in hooks) h.BeforeForward(context);
                optimizer.ZeroGrad();
                var logits = Model.forward(Inputs);
                var loss = nn.functional.cross_entropy(logits, Labels);
                loss.backward();
                context.Loss = loss.item<float>();
                sum += context.Loss;
                foreach (var h in hooks) h.AfterBackward(context);
                optimizer.Step();
                context.Step++;
                foreach (var h in hooks) h.AfterOptimizerStep(context);
                afterEachStep?.Invoke(context);
            }
            context.EpochLoss = sum / stepsPerEpoch;
            foreach (var h in hooks) h.OnEpochEnd(context);
        }
        foreach (var h in hooks) h.OnTrainingEnd(context);
        return context;
    }

    public static float[] Values(Tensor t)
    {
        using var flat = t.detach().flatten().contiguous();
        return flat.data<float>().ToArray();
    }

    public void Dispose()
    {
        Model.Dispose();
        Inputs.Dispose();
        Labels.Dispose();
    }
}
