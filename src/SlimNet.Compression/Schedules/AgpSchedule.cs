namespace SlimNet.Compression.Schedules;

/// <summary>
/// Automated gradual pruning (Zhu &amp; Gupta 2017): <c>s_t = s_f + (s_i − s_f)·(1 − (t − t0)/(n·Δt))³</c> for
/// t in [t0, t0 + nΔt], updated every Δt steps (t is rounded down to the last update point). Before t0 nothing is
/// pruned (0); after t0 + nΔt the target is s_f.
/// </summary>
/// <param name="InitialSparsity">s_i, the sparsity applied at t0, in [0, 1).</param>
/// <param name="FinalSparsity">s_f, in [0, 1).</param>
/// <param name="StartStep">t0.</param>
/// <param name="Updates">n, the number of pruning updates after t0 (at least 1).</param>
/// <param name="FrequencySteps">Δt, steps between updates (at least 1).</param>
public sealed record AgpSchedule(double InitialSparsity, double FinalSparsity, long StartStep, long Updates, long FrequencySteps) : ISparsitySchedule
{
    /// <inheritdoc />
    public double TargetAt(long step)
    {
        if (step < StartStep) return 0.0;
        long dt = Math.Max(1, FrequencySteps);
        long n = Math.Max(1, Updates);
        long k = Math.Min((step - StartStep) / dt, n);
        double progress = (double)k / n;
        double remaining = 1.0 - progress;
        return FinalSparsity + (InitialSparsity - FinalSparsity) * remaining * remaining * remaining;
    }
}
