using SlimNet.Compression.Sharing;

namespace SlimNet.Compression.Importance;

/// <summary>How post-training quantization groups the accumulated importances A (recipe key <c>clustering</c>).</summary>
public enum ImportanceClusteringKind
{
    /// <summary><c>kmeans-log</c>: deterministic 1-D k-means (<see cref="KMeans1D"/>) on log(A + ε); cluster sizes follow the data.</summary>
    KMeansLog,
    /// <summary><c>quantile</c>: A sorted ascending and cut into consecutive groups of given fractions.</summary>
    Quantile,
}

/// <summary>
/// Groups importances for post-training gradient-importance quantization (METHODS.md, "Gradient importance").
/// Pure functions. Cluster 0 is always the least important group, cluster k − 1 the most important.
/// </summary>
public static class ImportanceClustering
{
    /// <summary>
    /// ε of the log transform relative to the mean importance: x = log(A + ε·mean(A)). It keeps A = 0 (e.g. weights of
    /// always-zero input pixels) finite, about 14 natural-log units below the mean, so zeros join the least important cluster
    /// without stretching the k-means range without bound.
    /// </summary>
    public const double LogEpsilon = 1e-6;

    /// <summary>
    /// 1-D k-means on log(A + ε·mean A) with <paramref name="clusters"/> groups; clusters are renumbered by their centre,
    /// ascending, so index 0 holds the least important elements. Empty clusters can occur (a centre nobody is nearest to).
    /// </summary>
    /// <returns>Cluster index per element.</returns>
    public static int[] KMeansOnLog(ReadOnlySpan<float> importance, int clusters, int maxIterations = 100)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(clusters, 1);
        int n = importance.Length;
        if (n == 0) return [];
        double mean = 0;
        foreach (float a in importance)
        {
            if (!(a >= 0) || float.IsInfinity(a)) throw new ArgumentException($"importance must be finite and >= 0, got {a}", nameof(importance));
            mean += a;
        }
        mean /= n;
        double eps = mean > 0 ? LogEpsilon * mean : 1e-30;
        var logs = new float[n];
        for (int i = 0; i < n; i++) logs[i] = (float)Math.Log(importance[i] + eps);
        var result = KMeans1D.Cluster(logs, clusters, maxIterations);
        var order = Enumerable.Range(0, clusters).OrderBy(j => result.Centroids[j]).ThenBy(j => j).ToArray();
        var rank = new int[clusters];
        for (int r = 0; r < clusters; r++) rank[order[r]] = r;
        var assignment = new int[n];
        for (int i = 0; i < n; i++) assignment[i] = rank[result.Assignments[i]];
        return assignment;
    }

    /// <summary>
    /// Sorts the elements by importance (ascending; ties by position) and gives the first round(c₁·n) elements cluster 0,
    /// up to round(c₂·n) cluster 1, …, with c_j the cumulative sums of <paramref name="fractions"/> (each ≥ 0, summing to 1).
    /// </summary>
    /// <returns>Cluster index per element.</returns>
    public static int[] Quantiles(ReadOnlySpan<float> importance, IReadOnlyList<double> fractions)
    {
        ArgumentNullException.ThrowIfNull(fractions);
        if (fractions.Count == 0) throw new ArgumentException("need at least one fraction", nameof(fractions));
        double total = 0;
        foreach (double f in fractions)
        {
            if (!(f >= 0)) throw new ArgumentException($"fractions must be >= 0, got {f}", nameof(fractions));
            total += f;
        }
        if (Math.Abs(total - 1) > 1e-6) throw new ArgumentException($"fractions must sum to 1, got {total}", nameof(fractions));
        int n = importance.Length;
        // Sort keys: the importance's float bits (monotone for A >= 0) above the position, so ties break by position.
        var keys = new ulong[n];
        for (int i = 0; i < n; i++)
        {
            float a = importance[i];
            if (!(a >= 0) || float.IsInfinity(a)) throw new ArgumentException($"importance must be finite and >= 0, got {a}", nameof(importance));
            keys[i] = ((ulong)BitConverter.SingleToUInt32Bits(a + 0f) << 32) | (uint)i;
        }
        Array.Sort(keys);
        var order = Array.ConvertAll(keys, k => (int)(k & 0xFFFFFFFFUL));
        var assignment = new int[n];
        double cumulative = 0;
        int start = 0;
        for (int j = 0; j < fractions.Count; j++)
        {
            cumulative += fractions[j];
            int end = j == fractions.Count - 1 ? n : (int)Math.Min(n, Math.Round(cumulative * n, MidpointRounding.AwayFromZero));
            for (int k = start; k < end; k++) assignment[order[k]] = j;
            start = Math.Max(start, end);
        }
        return assignment;
    }
}
