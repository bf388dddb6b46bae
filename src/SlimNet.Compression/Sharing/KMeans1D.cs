namespace SlimNet.Compression.Sharing;

/// <summary>Result of <see cref="KMeans1D.Cluster"/>: the codebook and each value's cluster.</summary>
/// <param name="Centroids">Cluster centres (the codebook), in cluster-index order; an empty cluster keeps its previous centre.</param>
/// <param name="Assignments">Cluster index of each input value.</param>
/// <param name="Iterations">Lloyd iterations run (assignment + update rounds).</param>
/// <param name="Converged">True when the last iteration changed no assignment.</param>
public sealed record KMeansResult(float[] Centroids, int[] Assignments, int Iterations, bool Converged);

/// <summary>
/// Deterministic 1-D k-means (Lloyd) for weight sharing (Deep Compression): linear initialisation
/// <c>c_j = min + j·(max − min)/(k − 1)</c>; each value goes to its nearest centre (on an exact tie, the centre with the
/// smaller value, then the lower index); each centre becomes the mean of its members (computed in double); repeat until
/// no assignment changes or <c>maxIterations</c>. Assignment uses sorted centres and binary search over midpoints,
/// O(n log k) per iteration.
/// </summary>
public static class KMeans1D
{
    /// <summary>The linear initialisation: <paramref name="clusters"/> centres evenly spaced from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public static float[] LinearCentroids(float min, float max, int clusters)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(clusters, 1);
        var centres = new float[clusters];
        for (int j = 0; j < clusters; j++)
            centres[j] = clusters == 1 ? (float)((min + (double)max) / 2) : (float)(min + (max - (double)min) * j / (clusters - 1));
        return centres;
    }

    /// <summary>Clusters <paramref name="values"/> into <paramref name="clusters"/> groups (empty input: centres all 0).</summary>
    public static KMeansResult Cluster(ReadOnlySpan<float> values, int clusters, int maxIterations = 100)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(clusters, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxIterations, 1);
        int n = values.Length;
        if (n == 0) return new KMeansResult(new float[clusters], [], 0, true);
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (float v in values) { min = Math.Min(min, v); max = Math.Max(max, v); }
        var centres = LinearCentroids(min, max, clusters);
        var assignments = new int[n];
        Array.Fill(assignments, -1);
        var sums = new double[clusters];
        var counts = new long[clusters];
        int iterations = 0;
        bool converged = false;
        while (iterations < maxIterations)
        {
            iterations++;
            bool changed = Assign(values, centres, assignments);
            if (!changed) { converged = true; break; }
            Array.Clear(sums);
            Array.Clear(counts);
            for (int i = 0; i < n; i++) { sums[assignments[i]] += values[i]; counts[assignments[i]]++; }
            for (int j = 0; j < clusters; j++)
                if (counts[j] > 0) centres[j] = (float)(sums[j] / counts[j]);
        }
        if (!converged)
        {
            // The last update moved the centres: reassign so every value sits at its nearest final centre.
            converged = !Assign(values, centres, assignments);
        }
        return new KMeansResult(centres, assignments, iterations, converged);
    }

    /// <summary>Index of the centre nearest to <paramref name="value"/> (ties: smaller centre value, then lower index). Linear scan; the reference.</summary>
    public static int Nearest(float value, ReadOnlySpan<float> centres)
    {
        int best = 0;
        double bestDistance = Math.Abs((double)value - centres[0]);
        for (int j = 1; j < centres.Length; j++)
        {
            double distance = Math.Abs((double)value - centres[j]);
            if (distance < bestDistance || (distance == bestDistance && centres[j] < centres[best]))
            {
                best = j;
                bestDistance = distance;
            }
        }
        return best;
    }

    private static bool Assign(ReadOnlySpan<float> values, float[] centres, int[] assignments)
    {
        int k = centres.Length;
        var order = new int[k];
        for (int j = 0; j < k; j++) order[j] = j;
        Array.Sort(order, (a, b) => centres[a] != centres[b] ? centres[a].CompareTo(centres[b]) : a.CompareTo(b));
        // Equal centres: only the first in sorted order (the lowest index) can win, so drop the others.
        var distinct = new List<int>(k);
        foreach (int j in order)
            if (distinct.Count == 0 || centres[distinct[^1]] != centres[j]) distinct.Add(j);
        // A value exactly on a midpoint goes to the smaller centre.
        var midpoints = new double[distinct.Count - 1];
        for (int r = 0; r < midpoints.Length; r++) midpoints[r] = ((double)centres[distinct[r]] + centres[distinct[r + 1]]) / 2;
        bool changed = false;
        for (int i = 0; i < values.Length; i++)
        {
            double v = values[i];
            int lo = 0, hi = midpoints.Length; // first r with v <= midpoints[r]
            while (lo < hi)
            {
                int mid = (lo + hi) >>> 1;
                if (v <= midpoints[mid]) hi = mid; else lo = mid + 1;
            }
            int cluster = distinct[lo];
            if (assignments[i] != cluster) { assignments[i] = cluster; changed = true; }
        }
        return changed;
    }
}
