namespace SlimNet.Compression.Quantization;

/// <summary>
/// Scales and bookkeeping of one weight projection (<see cref="LossAwareProjection"/>). For every linear code view
/// the projected weight is <c>ŵ_i = (code_i ≥ 0 ? Scale : NegativeScale) · code_i / Levels</c>; for LAQ logarithmic
/// codes see <see cref="LossAwareProjection.LaqLog"/>.
/// </summary>
/// <param name="Scale">α (α⁺ for the two-scale methods), in the units of the weights; 0 when every projected weight is 0.</param>
/// <param name="NegativeScale">α⁻ for LAT2e/LAT2a; equal to <paramref name="Scale"/> for single-scale methods.</param>
/// <param name="Levels">n, the largest code magnitude: 1 for binary and ternary, 2^(m−1) − 1 for m-bit methods.</param>
/// <param name="Iterations">Scale updates run (1 for closed-form methods).</param>
/// <param name="Converged">False only when an alternating method hit its iteration limit before its stopping rule.</param>
public readonly record struct ProjectionResult(float Scale, float NegativeScale, int Levels, int Iterations, bool Converged);
