using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Compression.Hooks;

/// <summary>
/// What the trainer shows the hooks: the model, its named parameters, the optimizer, and where training is.
/// Counters are updated by the trainer before each call.
/// </summary>
public sealed class TrainingContext
{
    /// <summary>Creates a context over <paramref name="model"/> trained by <paramref name="optimizer"/>.</summary>
    public TrainingContext(nn.Module model, Optim.ParameterOptimizer optimizer, int totalEpochs, long stepsPerEpoch)
    {
        Model = model;
        Optimizer = optimizer;
        TotalEpochs = totalEpochs;
        StepsPerEpoch = stepsPerEpoch;
        Parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
    }

    /// <summary>The network being trained.</summary>
    public nn.Module Model { get; }
    /// <summary>The optimizer stepping the parameters.</summary>
    public Optim.ParameterOptimizer Optimizer { get; }
    /// <summary>Trainable parameters by their dotted name (for example <c>fc1.weight</c>).</summary>
    public IReadOnlyDictionary<string, TorchSharp.Modules.Parameter> Parameters { get; }
    /// <summary>Number of epochs this run trains.</summary>
    public int TotalEpochs { get; }
    /// <summary>Optimizer steps per epoch.</summary>
    public long StepsPerEpoch { get; }
    /// <summary>Zero-based epoch in progress (at <see cref="ITrainingHooks.OnEpochEnd"/>: the epoch that just ended).</summary>
    public int Epoch { get; set; }
    /// <summary>Global optimizer step count so far (0 before the first step).</summary>
    public long Step { get; set; }
    /// <summary>Loss of the current minibatch (valid from <see cref="ITrainingHooks.AfterBackward"/> on).</summary>
    public double Loss { get; set; }
    /// <summary>Mean training loss of the last finished epoch (valid at <see cref="ITrainingHooks.OnEpochEnd"/>).</summary>
    public double EpochLoss { get; set; }
}
