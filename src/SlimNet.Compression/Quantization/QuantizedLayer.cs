using SlimNet.Compression.Schedules;

namespace SlimNet.Compression.Quantization;

/// <summary>
/// One parameter that a <see cref="LossAwareQuantizer"/> trains quantized (a definition).
/// </summary>
/// <param name="ParameterName">Dotted parameter name, e.g. <c>fc1.weight</c>.</param>
/// <param name="Method">The projection applied after every optimizer step.</param>
/// <param name="Bits">Bits of the m-bit methods (LAQ linear/log, uniform), 2–8; ignored by binary and ternary methods.</param>
/// <param name="PerChannel">One scale per output row (shape[0]) instead of one per tensor.</param>
/// <param name="Sparsity">Simultaneous sparsification: the target fraction of weights forced to exactly 0 over optimizer
/// steps (those with the smallest d·w²), or null for none.</param>
/// <param name="FixZerosAfterRamp">With <paramref name="Sparsity"/>: once the schedule has reached its final target, keep
/// the forced zeros chosen at that step for the rest of training instead of choosing them again at every step (the
/// default, the thesis' per-step projection; during the ramp they are chosen at every step either way).</param>
public sealed record QuantizedLayer(string ParameterName, WeightProjection Method, int Bits = 2, bool PerChannel = false, ISparsitySchedule? Sparsity = null,
    bool FixZerosAfterRamp = false)
{
    /// <summary>Whether the method takes its curvature d from Adam's second moment (LAB, LAT*, LAQ*); the baselines do not.</summary>
    public bool IsLossAware => LossAwareQuantizer.NeedsCurvature(Method);
}
