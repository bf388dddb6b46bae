namespace SlimNet.Compression.Schedules;

/// <summary>
/// DAT, dynamic adaptive threshold (a session: it is fed the training loss). It keeps a progress p in [0, 1];
/// a layer with quality factor q prunes with threshold <c>p·q·std(W)</c> (see <see cref="StdThreshold"/>).
/// Rule, applied at the end of every epoch with that epoch's mean training loss L:
/// <list type="bullet">
/// <item>if a previous epoch loss L' exists and L &gt; L'·(1 + tolerance), the loss rose: back off,
/// <c>p ← max(0, p − backoff·δ)</c>, and do not prune in the next epoch;</item>
/// <item>otherwise training progresses: <c>p ← min(1, p + δ)</c> and prune once at the first step of the next epoch,</item>
/// </list>
/// with δ = 1 / rampEpochs, so without loss increases the full threshold q·std(W) is reached after rampEpochs epochs.
/// Pruned weights never come back (masks only shrink), so backing off means "prune less for now".
/// </summary>
public sealed class DynamicAdaptiveThreshold
{
    private double? _previousLoss;
    private long _pruneStep = -1;

    /// <summary>Creates the rule.</summary>
    /// <param name="rampEpochs">Epochs of non-rising loss to reach the full threshold (&gt; 0).</param>
    /// <param name="tolerance">Relative loss increase still counted as "not rising" (≥ 0), e.g. 0.01 = 1%.</param>
    /// <param name="backoff">How many growth increments δ to take back when the loss rises (≥ 0).</param>
    public DynamicAdaptiveThreshold(double rampEpochs, double tolerance = 0.01, double backoff = 1.0)
    {
        if (!(rampEpochs > 0)) throw new ArgumentOutOfRangeException(nameof(rampEpochs), rampEpochs, "must be > 0");
        if (!(tolerance >= 0)) throw new ArgumentOutOfRangeException(nameof(tolerance), tolerance, "must be >= 0");
        if (!(backoff >= 0)) throw new ArgumentOutOfRangeException(nameof(backoff), backoff, "must be >= 0");
        RampEpochs = rampEpochs;
        Tolerance = tolerance;
        Backoff = backoff;
    }

    /// <summary>Epochs of non-rising loss to reach the full threshold.</summary>
    public double RampEpochs { get; }
    /// <summary>Relative loss increase still counted as not rising.</summary>
    public double Tolerance { get; }
    /// <summary>Growth increments taken back when the loss rises.</summary>
    public double Backoff { get; }
    /// <summary>Current progress p in [0, 1]: the fraction of each layer's q in force.</summary>
    public double Progress { get; private set; }
    /// <summary>Whether the last observed epoch made the rule back off.</summary>
    public bool BackedOff { get; private set; }

    /// <summary>Feeds the mean training loss of the epoch that just ended; <paramref name="nextStep"/> is the first step of the next epoch.</summary>
    public void Observe(long nextStep, double epochLoss)
    {
        double delta = 1.0 / RampEpochs;
        BackedOff = _previousLoss is double previous && epochLoss > previous * (1.0 + Tolerance);
        if (BackedOff)
        {
            Progress = Math.Max(0.0, Progress - Backoff * delta);
            _pruneStep = -1;
        }
        else
        {
            Progress = Math.Min(1.0, Progress + delta);
            _pruneStep = nextStep;
        }
        _previousLoss = epochLoss;
    }

    /// <summary>The per-layer view: prunes with <c>Progress·q</c> at the step after a non-rising epoch.</summary>
    public IThresholdSchedule ForLayer(double q) => new LayerView(this, q);

    private sealed class LayerView(DynamicAdaptiveThreshold owner, double q) : IThresholdSchedule
    {
        public DynamicAdaptiveThreshold Owner => owner;
        public double? ScaleAt(long step) => step == owner._pruneStep && owner.Progress > 0 ? owner.Progress * q : null;
    }

    /// <summary>The rule behind a schedule returned by <see cref="ForLayer"/>, or null for any other schedule.</summary>
    public static DynamicAdaptiveThreshold? OwnerOf(IThresholdSchedule schedule) => (schedule as LayerView)?.Owner;
}
