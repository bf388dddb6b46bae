namespace SlimNet.Compression.Schedules;

/// <summary>Prune to <paramref name="Sparsity"/> once, at step <paramref name="AtStep"/>; 0 before it.</summary>
/// <param name="Sparsity">Final fraction of pruned weights, in [0, 1).</param>
/// <param name="AtStep">Step (0-based) at which the weights are pruned.</param>
public sealed record OneShotSchedule(double Sparsity, long AtStep = 0) : ISparsitySchedule
{
    /// <inheritdoc />
    public double TargetAt(long step) => step >= AtStep ? Sparsity : 0.0;
}
