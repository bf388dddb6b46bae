using static TorchSharp.torch;

namespace SlimNet.Compression.Schedules;

/// <summary>
/// Deep Compression's per-layer pruning threshold: <c>q · std(W)</c>. The standard deviation is taken over all
/// entries of the layer's current (masked) weight tensor, pruned zeros included, as Han et al.'s implementation
/// does on the layer's weight blob; so applying the same q twice is nearly a no-op and iterating needs a rising q.
/// </summary>
/// <param name="Q">Quality factor q (&gt; 0), dimensionless.</param>
public sealed record StdThreshold(double Q)
{
    /// <summary>The threshold (same unit as the weights) for <paramref name="weights"/>; weights with |w| below it are pruned.</summary>
    public double ThresholdFor(Tensor weights)
    {
        using var std = weights.detach().flatten().to_type(ScalarType.Float64).std(unbiased: false);
        return Q * std.item<double>();
    }
}

/// <summary>
/// Threshold pruning events: <paramref name="Iterations"/> events at <paramref name="StartStep"/>,
/// <c>StartStep + IntervalSteps</c>, …; event i (1-based) prunes with q·i/Iterations, so q is reached at the last one.
/// One iteration is one-shot threshold pruning.
/// </summary>
/// <param name="Q">Final quality factor q (&gt; 0).</param>
/// <param name="StartStep">Step of the first event.</param>
/// <param name="IntervalSteps">Steps between events (at least 1).</param>
/// <param name="Iterations">Number of events (at least 1).</param>
public sealed record StdThresholdSchedule(double Q, long StartStep, long IntervalSteps, int Iterations) : IThresholdSchedule
{
    /// <inheritdoc />
    public double? ScaleAt(long step)
    {
        if (step < StartStep) return null;
        long interval = Math.Max(1, IntervalSteps);
        long offset = step - StartStep;
        if (offset % interval != 0) return null;
        long index = offset / interval + 1;
        return index > Iterations ? null : Q * index / Iterations;
    }
}
