namespace SlimNet.Compression.Schedules;

/// <summary>
/// Target sparsity as a pure function of the optimizer step (DESIGN.md: schedules are small value objects).
/// <c>step</c> is the number of optimizer steps completed before the step about to run (0 before the first).
/// The result is the fraction of a layer's weights that must be zero, in [0, 1).
/// </summary>
public interface ISparsitySchedule
{
    /// <summary>Fraction of weights that must be pruned when running step <paramref name="step"/> (0-based).</summary>
    double TargetAt(long step);
}

/// <summary>
/// When and how hard to prune by magnitude threshold: at a pruning event the weights with
/// |w| &lt; scale · std(W) are removed (Deep Compression's per-layer threshold, <see cref="StdThreshold"/>).
/// </summary>
public interface IThresholdSchedule
{
    /// <summary>The quality factor q to prune with when running step <paramref name="step"/>, or null when no pruning happens then.</summary>
    double? ScaleAt(long step);
}
