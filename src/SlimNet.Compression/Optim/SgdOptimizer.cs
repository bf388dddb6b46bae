using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Compression.Optim;

/// <summary>
/// Stochastic gradient descent with optional momentum (classic or Nesterov) and L2 weight decay, as
/// <c>torch.optim.SGD</c> (dampening 0): d = g + λw; b = μb + d (b = d on the first step); w -= lr·(d + μb if
/// Nesterov else b).
/// </summary>
public sealed class SgdOptimizer : ParameterOptimizer
{
    /// <summary>Creates the optimizer.</summary>
    public SgdOptimizer(IEnumerable<(string Name, TorchSharp.Modules.Parameter Parameter)> parameters, double learningRate,
        double momentum = 0, bool nesterov = false, double weightDecay = 0) : base(parameters, learningRate)
    {
        if (momentum < 0 || momentum >= 1) throw new ArgumentOutOfRangeException(nameof(momentum), "momentum must be in [0, 1)");
        if (nesterov && momentum == 0) throw new ArgumentException("Nesterov momentum needs momentum > 0", nameof(nesterov));
        Momentum = momentum;
        Nesterov = nesterov;
        WeightDecay = weightDecay;
    }

    /// <summary>Momentum factor μ.</summary>
    public double Momentum { get; }
    /// <summary>Whether the Nesterov form is used.</summary>
    public bool Nesterov { get; }
    /// <summary>L2 weight decay λ.</summary>
    public double WeightDecay { get; }

    /// <inheritdoc />
    public override string Kind => "sgd";

    /// <inheritdoc />
    protected override void Update(string name, Tensor parameter, Tensor gradient)
    {
        using var scope = NewDisposeScope();
        // Scalars held in using-locals so that the finalizer cannot free one while libtorch reads it (see AdamOptimizer).
        using Scalar decay = WeightDecay, momentum = Momentum, step = -LearningRate;
        var d = WeightDecay != 0 ? gradient.add(parameter, alpha: decay) : gradient;
        if (Momentum != 0)
        {
            var buf = State(name, "momentum_buffer", parameter);
            if (StepCount == 1) buf.copy_(d);
            else buf.mul_(momentum).add_(d);
            d = Nesterov ? d.add(buf, alpha: momentum) : buf;
        }
        parameter.add_(d, alpha: step);
    }
}
