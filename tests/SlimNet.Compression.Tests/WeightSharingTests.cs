using SlimNet.Compression.Pruning;
using SlimNet.Compression.Schedules;
using SlimNet.Compression.Sharing;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Compression.Tests;

public class WeightSharingTests
{
    /// <summary>Plain Lloyd's with brute-force nearest centre and the same linear init: the oracle.</summary>
    private static (float[] Centres, int[] Assign) ReferenceLloyd(float[] x, int k, int maxIterations)
    {
        var c = KMeans1D.LinearCentroids(x.Min(), x.Max(), k);
        var a = Enumerable.Repeat(-1, x.Length).ToArray();
        for (int it = 0; it < maxIterations; it++)
        {
            bool changed = false;
            for (int i = 0; i < x.Length; i++)
            {
                int best = 0;
                for (int j = 1; j < k; j++)
                {
                    double dj = Math.Abs((double)x[i] - c[j]), db = Math.Abs((double)x[i] - c[best]);
                    if (dj < db || (dj == db && c[j] < c[best])) best = j;
                }
                if (a[i] != best) { a[i] = best; changed = true; }
            }
            if (!changed) break;
            for (int j = 0; j < k; j++)
            {
                var members = x.Where((_, i) => a[i] == j).ToArray();
                if (members.Length > 0) c[j] = (float)members.Average(v => (double)v);
            }
        }
        return (c, a);
    }

    [Fact]
    public void LinearInitialisationSpansMinToMax()
    {
        Assert.Equal(new float[] { -1, 0, 1, 2 }, KMeans1D.LinearCentroids(-1, 2, 4));
    }

    [Theory]
    [InlineData(7, 2, 50)]
    [InlineData(11, 4, 200)]
    [InlineData(3, 8, 1000)]
    public void KMeansMatchesBruteForceLloyd(int seed, int k, int n)
    {
        var rng = new Random(seed);
        var x = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2 + (rng.Next(3) - 1) * 3)).ToArray();
        var result = KMeans1D.Cluster(x, k, 300);
        var (centres, assign) = ReferenceLloyd(x, k, 300);
        Assert.True(result.Converged);
        Assert.Equal(assign, result.Assignments);
        Assert.Equal(centres, result.Centroids);
        for (int i = 0; i < n; i++) Assert.Equal(KMeans1D.Nearest(x[i], result.Centroids), result.Assignments[i]);
    }

    [Fact]
    public void KMeansOnAHandExampleFindsTheTwoGroups()
    {
        var result = KMeans1D.Cluster(new float[] { 1, 2, 3, 10, 11, 12 }, 2);
        Assert.Equal(new float[] { 2, 11 }, result.Centroids);
        Assert.Equal(new[] { 0, 0, 0, 1, 1, 1 }, result.Assignments);
    }

    [Fact]
    public void KMeansIsDeterministicAndHandlesDuplicatesAndTinyInputs()
    {
        var x = new float[] { 0.5f, 0.5f, 0.5f };
        var r = KMeans1D.Cluster(x, 4);
        Assert.All(r.Assignments, a => Assert.Equal(0, a));
        Assert.Empty(KMeans1D.Cluster([], 4).Assignments);
        var y = Enumerable.Range(0, 500).Select(i => MathF.Sin(i)).ToArray();
        Assert.Equal(KMeans1D.Cluster(y, 16).Centroids, KMeans1D.Cluster(y, 16).Centroids);
    }

    [Fact]
    public void ClusteringExcludesZeroWeightsAndSnapsTheRest()
    {
        using var t = new TinyTraining();
        using (no_grad())
        {
            using var keep = torch.rand_like(t.Parameters["fc1.weight"]).gt(0.5).to_type(ScalarType.Float32);
            t.Parameters["fc1.weight"].mul_(keep);
        }
        var before = TinyTraining.Values(t.Parameters["fc1.weight"]);
        var nonzero = before.Where(v => v != 0).ToArray();
        using var sharing = new WeightSharing(t.Parameters, new Dictionary<string, int> { ["fc1.weight"] = 2 });
        sharing.Cluster();
        var after = TinyTraining.Values(t.Parameters["fc1.weight"]);
        var codebook = sharing.CodebookOf("fc1.weight");
        Assert.Equal(3, codebook.Length); // the layer has zeros: the 4th 2-bit code is kept for 0
        Assert.Equal(KMeans1D.Cluster(nonzero, 3).Centroids, codebook);
        for (int i = 0; i < before.Length; i++)
        {
            if (before[i] == 0) Assert.Equal(0f, after[i]);
            else Assert.Contains(after[i], codebook);
        }
        var export = sharing.Export("fc1.weight");
        Assert.Equal(nonzero.Length, export.Codes.Length);
        Assert.Equal(after, export.ToDense());
        Assert.Equal(new long[] { 10, 12 }, export.Shape);
    }

    [Theory]
    [InlineData(CentroidUpdate.MemberMean)]
    [InlineData(CentroidUpdate.GradientSum)]
    public void ChainPruneThenKMeansThenFineTuneKeepsZerosAndCodebookValues(CentroidUpdate update)
    {
        using var t = new TinyTraining(seed: 3);
        using var opt = t.Sgd(0.05, 0.9);
        using var pruner = Pruner.PerLayer(t.Parameters, [
            new PrunedLayer("fc1.weight", new IterativeSchedule(0.75, 0.5, 0, 3)),
            new PrunedLayer("fc2.weight", new OneShotSchedule(0.5))]);
        t.Train(opt, [pruner], epochs: 2, stepsPerEpoch: 4);
        var prunedMask = pruner.Masks.ToArray("fc1.weight");
        Assert.Equal(90, prunedMask.Count(k => !k));

        using var sharing = new WeightSharing(t.Parameters, new Dictionary<string, int> { ["fc1.weight"] = 3, ["fc2.weight"] = 2 },
            update: update, learningRate: 0.01);
        var codebookBefore = (float[])null!;
        // The pruner stays registered: both sessions' constraints hold together.
        t.Train(opt, [pruner, sharing], epochs: 2, stepsPerEpoch: 4, afterEachStep: _ =>
        {
            codebookBefore ??= sharing.CodebookOf("fc1.weight");
            AssertSharedAndSparse(t, pruner, sharing);
        });
        AssertSharedAndSparse(t, pruner, sharing);
        Assert.NotEqual(codebookBefore, sharing.CodebookOf("fc1.weight")); // centroids did learn
        Assert.Equal(90, TinyTraining.Values(t.Parameters["fc1.weight"]).Count(v => v == 0));
    }

    private static void AssertSharedAndSparse(TinyTraining t, Pruner pruner, WeightSharing sharing)
    {
        foreach (var name in new[] { "fc1.weight", "fc2.weight" })
        {
            var kept = pruner.Masks.ToArray(name);
            var w = TinyTraining.Values(t.Parameters[name]);
            var codebook = sharing.CodebookOf(name);
            for (int i = 0; i < w.Length; i++)
            {
                if (!kept[i]) Assert.Equal(0f, w[i]);
                else if (w[i] != 0) Assert.Contains(w[i], codebook);
            }
            Assert.Equal(w, sharing.Export(name).ToDense());
        }
    }
}
