namespace SlimNet.Training.Trainer;

/// <summary>
/// Hyper-parameters of a training run (an immutable definition). Learning-rate schedules are per epoch:
/// <c>constant</c>; <c>step</c> (× <see cref="Gamma"/> every <see cref="StepSize"/> epochs); <c>multistep</c>
/// (× <see cref="Gamma"/> at each of <see cref="Milestones"/>); <c>cosine</c> (lr₀·½(1 + cos(π·e/E)), e the epoch
/// from 0, E the number of epochs).
/// </summary>
public sealed record TrainerOptions
{
    /// <summary>Number of epochs (total, including any resumed ones); 0 runs only the start and end hooks.</summary>
    public int Epochs { get; init; } = 10;
    /// <summary>Examples per minibatch.</summary>
    public int BatchSize { get; init; } = 128;
    /// <summary>Initial learning rate.</summary>
    public double LearningRate { get; init; } = 1e-3;
    /// <summary><c>sgd</c> or <c>adam</c>.</summary>
    public string Optimizer { get; init; } = "adam";
    /// <summary>SGD momentum.</summary>
    public double Momentum { get; init; } = 0.9;
    /// <summary>SGD Nesterov momentum.</summary>
    public bool Nesterov { get; init; }
    /// <summary>L2 weight decay.</summary>
    public double WeightDecay { get; init; }
    /// <summary><c>constant</c>, <c>step</c>, <c>multistep</c> or <c>cosine</c>.</summary>
    public string Schedule { get; init; } = "constant";
    /// <summary>Epochs between decays of the <c>step</c> schedule.</summary>
    public int StepSize { get; init; } = 30;
    /// <summary>Decay factor of <c>step</c> and <c>multistep</c>.</summary>
    public double Gamma { get; init; } = 0.1;
    /// <summary>Epochs (from 0) at which <c>multistep</c> decays.</summary>
    public IReadOnlyList<int> Milestones { get; init; } = Array.Empty<int>();
    /// <summary>Seed of weights initialisation, data order and augmentation.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Train on the first N training examples only (null: all).</summary>
    public int? Limit { get; init; }
    /// <summary>Random crop and flip (CIFAR models).</summary>
    public bool Augment { get; init; }
    /// <summary>Distillation temperature T (used only when the trainer is given a teacher).</summary>
    public double DistillTemperature { get; init; } = 4;
    /// <summary>Weight a of the distillation term (used only when the trainer is given a teacher):
    /// loss = (1 − a)·CE + a·T²·KL(teacher ‖ student) at temperature T.</summary>
    public double DistillWeight { get; init; } = 0.5;

    /// <summary>Checks every value; returns the first problem as a sentence, or null when valid.</summary>
    public string? Validate()
    {
        if (Epochs < 0) return $"epochs must not be negative, got {Epochs}";
        if (BatchSize < 1) return $"batch size must be at least 1, got {BatchSize}";
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) return $"learning rate must be a positive number, got {LearningRate}";
        if (Optimizer is not ("sgd" or "adam")) return $"optimizer must be 'sgd' or 'adam', got '{Optimizer}'";
        if (Momentum < 0 || Momentum >= 1) return $"momentum must be in [0, 1), got {Momentum}";
        if (WeightDecay < 0) return $"weight decay must be non-negative, got {WeightDecay}";
        if (Schedule is not ("constant" or "step" or "multistep" or "cosine")) return $"schedule must be constant, step, multistep or cosine, got '{Schedule}'";
        if (StepSize < 1) return $"step size must be at least 1, got {StepSize}";
        if (Limit is < 1) return $"limit must be at least 1, got {Limit}";
        if (!(DistillTemperature > 0) || double.IsInfinity(DistillTemperature)) return $"distillation temperature must be > 0, got {DistillTemperature}";
        if (DistillWeight is not (>= 0 and <= 1)) return $"distillation weight must be in [0, 1], got {DistillWeight}";
        return null;
    }

    /// <summary>The learning rate of epoch <paramref name="epoch"/> (from 0) — a pure function of the epoch.</summary>
    public double LearningRateAt(int epoch) => Schedule switch
    {
        "step" => LearningRate * Math.Pow(Gamma, epoch / StepSize),
        "multistep" => LearningRate * Math.Pow(Gamma, Milestones.Count(m => epoch >= m)),
        "cosine" => LearningRate * 0.5 * (1 + Math.Cos(Math.PI * epoch / Epochs)),
        _ => LearningRate,
    };
}
