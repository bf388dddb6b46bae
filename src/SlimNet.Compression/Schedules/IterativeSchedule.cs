namespace SlimNet.Compression.Schedules;

/// <summary>
/// Iterative pruning (Han et al.): at <paramref name="StartStep"/> and then every <paramref name="IntervalSteps"/> steps,
/// prune <paramref name="FractionPerIteration"/> of the weights that remain, retraining in between, until
/// <paramref name="FinalSparsity"/> is reached. After n pruning events the target is
/// <c>min(final, 1 − (1 − fraction)^n)</c>.
/// </summary>
/// <param name="FinalSparsity">Sparsity where pruning stops, in [0, 1).</param>
/// <param name="FractionPerIteration">Fraction of the remaining weights removed per event, in (0, 1).</param>
/// <param name="StartStep">Step of the first pruning event.</param>
/// <param name="IntervalSteps">Steps between pruning events (the retraining in between), at least 1.</param>
public sealed record IterativeSchedule(double FinalSparsity, double FractionPerIteration, long StartStep, long IntervalSteps) : ISparsitySchedule
{
    /// <summary>The schedule that reaches <paramref name="finalSparsity"/> in exactly <paramref name="iterations"/> equal-fraction events.</summary>
    public static IterativeSchedule InIterations(double finalSparsity, int iterations, long startStep, long intervalSteps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 1);
        double fraction = 1.0 - Math.Pow(1.0 - finalSparsity, 1.0 / iterations);
        return new IterativeSchedule(finalSparsity, fraction, startStep, intervalSteps);
    }

    /// <summary>Number of pruning events that happened at or before <paramref name="step"/>.</summary>
    public long EventsAt(long step) => step < StartStep ? 0 : (step - StartStep) / Math.Max(1, IntervalSteps) + 1;

    /// <inheritdoc />
    public double TargetAt(long step)
    {
        long events = EventsAt(step);
        if (events == 0) return 0.0;
        double reached = 1.0 - Math.Pow(1.0 - FractionPerIteration, events);
        // Rounding of Pow must not leave the last event a hair short of the goal.
        return reached >= FinalSparsity - 1e-12 ? FinalSparsity : reached;
    }
}
