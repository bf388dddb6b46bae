namespace SlimNet.Compression.Pruning;

/// <summary>
/// Chooses which entries to prune from importance scores, deterministically: entries are ranked by importance
/// ascending, ties broken by position (lower flat index first, and in a global ranking the earlier layer first);
/// the first <c>count</c> are pruned. Entries already pruned rank before everything else, so masks only shrink.
/// </summary>
public static class MaskSelection
{
    /// <summary>Number of entries to prune out of <paramref name="total"/> for <paramref name="sparsity"/>: round(sparsity·total), halves away from zero.</summary>
    public static long PruneCount(double sparsity, long total) =>
        Math.Clamp((long)Math.Round(sparsity * total, MidpointRounding.AwayFromZero), 0, total);

    /// <summary>
    /// Keep flags (true = kept) for one ranking over <paramref name="importance"/>, pruning exactly
    /// <paramref name="pruneCount"/> entries; <paramref name="alreadyPruned"/> (may be empty) marks entries that must stay pruned.
    /// If more entries are already pruned than <paramref name="pruneCount"/>, they all stay pruned.
    /// </summary>
    public static bool[] KeepFlags(ReadOnlySpan<float> importance, ReadOnlySpan<bool> alreadyPruned, long pruneCount)
    {
        int n = importance.Length;
        var order = new int[n];
        var keys = new double[n];
        for (int i = 0; i < n; i++)
        {
            order[i] = i;
            // Already pruned entries get -1 (importances are >= 0); NaN would make the order undefined, so it ranks lowest too.
            bool pruned = alreadyPruned.Length > 0 && alreadyPruned[i];
            float value = importance[i];
            keys[i] = pruned || float.IsNaN(value) ? -1.0 : value;
        }
        Array.Sort(order, (a, b) =>
        {
            int byKey = keys[a].CompareTo(keys[b]);
            return byKey != 0 ? byKey : a.CompareTo(b);
        });
        var keep = new bool[n];
        Array.Fill(keep, true);
        long forced = 0;
        if (alreadyPruned.Length > 0)
            for (int i = 0; i < n; i++) if (alreadyPruned[i]) forced++;
        long count = Math.Max(Math.Min(pruneCount, n), forced);
        for (long r = 0; r < count; r++) keep[order[r]] = false;
        return keep;
    }
}
