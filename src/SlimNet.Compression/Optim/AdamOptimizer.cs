using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Compression.Optim;

/// <summary>
/// Adam (Kingma and Ba), as <c>torch.optim.Adam</c> with L2 weight decay added to the gradient. State per
/// parameter: <c>exp_avg</c> (first moment m) and <c>exp_avg_sq</c> (second moment v). The loss-aware
/// quantizers read v through <see cref="SecondMomentCorrected"/>.
/// </summary>
public sealed class AdamOptimizer : ParameterOptimizer
{
    /// <summary>Creates the optimizer.</summary>
    public AdamOptimizer(IEnumerable<(string Name, TorchSharp.Modules.Parameter Parameter)> parameters, double learningRate,
        double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 0) : base(parameters, learningRate)
    {
        if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1) throw new ArgumentOutOfRangeException(nameof(beta1), "betas must be in [0, 1)");
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
    }

    /// <summary>β₁.</summary>
    public double Beta1 { get; }
    /// <summary>β₂.</summary>
    public double Beta2 { get; }
    /// <summary>ε added to sqrt(v̂).</summary>
    public double Epsilon { get; }
    /// <summary>L2 weight decay.</summary>
    public double WeightDecay { get; }

    /// <inheritdoc />
    public override string Kind => "adam";

    /// <inheritdoc />
    protected override void Update(string name, Tensor parameter, Tensor gradient)
    {
        using var scope = NewDisposeScope();
        double bc1 = 1 - Math.Pow(Beta1, StepCount);
        double bc2 = 1 - Math.Pow(Beta2, StepCount);
        // Scalars held in using-locals: TorchSharp passes an implicit Scalar's handle to libtorch without keeping the
        // object alive, so the finalizer could free it mid-call (seen as a crash in Scalar::toDouble in a long run).
        using Scalar decay = WeightDecay, b1 = Beta1, oneMinusB1 = 1 - Beta1, b2 = Beta2, oneMinusB2 = 1 - Beta2,
            sqrtBc2 = Math.Sqrt(bc2), eps = Epsilon, step = -LearningRate / bc1;
        var g = WeightDecay != 0 ? gradient.add(parameter, alpha: decay) : gradient;
        var m = State(name, "exp_avg", parameter);
        var v = State(name, "exp_avg_sq", parameter);
        m.mul_(b1).add_(g, alpha: oneMinusB1);
        v.mul_(b2).addcmul_(g, g, value: oneMinusB2);
        var denom = v.sqrt().div_(sqrtBc2).add_(eps);
        parameter.addcdiv_(m, denom, value: step);
    }

    /// <summary>Bias-corrected second moment v̂ = v / (1 − β₂^t) of a parameter (a new tensor), or null before the first step.</summary>
    public Tensor? SecondMomentCorrected(string parameterName)
    {
        var v = TryGetState(parameterName, "exp_avg_sq");
        if (v is null || StepCount == 0) return null;
        using Scalar bc2 = 1 - Math.Pow(Beta2, StepCount);
        return v.div(bc2);
    }
}
