using SlimNet.Compression.Schedules;

namespace SlimNet.Compression.Pruning;

/// <summary>
/// One parameter a per-layer <see cref="Pruner"/> prunes, with exactly one rule: a target-sparsity schedule
/// (ranked by importance) or a threshold schedule (|w| &lt; q·std(W), magnitude only).
/// </summary>
/// <param name="ParameterName">Dotted parameter name, e.g. <c>fc1.weight</c>.</param>
/// <param name="Sparsity">Target sparsity over steps, or null.</param>
/// <param name="Threshold">Threshold pruning events, or null.</param>
public sealed record PrunedLayer(string ParameterName, ISparsitySchedule? Sparsity = null, IThresholdSchedule? Threshold = null);
