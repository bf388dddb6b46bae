using SlimNet.Compression.Importance;
using SlimNet.Compression.Optim;
using SlimNet.Compression.Recipes;
using SlimNet.Format;

namespace SlimNet.Compression.Tests.Importance;

public class ImportanceClusteringTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(100)]
    [InlineData(1001)]
    public void QuantilesCutTheAscendingOrderAtRoundedCumulativeFractions(int n)
    {
        var rng = new Random(n);
        // Ties on purpose: importances from a small set.
        var a = Enumerable.Range(0, n).Select(_ => (float)rng.Next(0, 20) * 0.5f).ToArray();
        double[] fractions = [0.35, 0.0, 0.4, 0.25];
        var clusters = ImportanceClustering.Quantiles(a, fractions);

        // Reference: a stable sort by (A, index), then consecutive slices.
        var order = Enumerable.Range(0, n).OrderBy(i => a[i]).ThenBy(i => i).ToArray();
        var expected = new int[n];
        double cumulative = 0;
        int start = 0;
        for (int j = 0; j < fractions.Length; j++)
        {
            cumulative += fractions[j];
            int end = j == fractions.Length - 1 ? n : (int)Math.Round(cumulative * n, MidpointRounding.AwayFromZero);
            for (int k = start; k < end; k++) expected[order[k]] = j;
            start = end;
        }
        Assert.Equal(expected, clusters);
        Assert.DoesNotContain(1, clusters); // the 0 fraction stays empty
    }

    [Fact]
    public void QuantilesRejectFractionsThatDoNotSumToOne() =>
        Assert.Throws<ArgumentException>(() => ImportanceClustering.Quantiles(new float[] { 1, 2 }, [0.5, 0.6]));

    [Fact]
    public void KMeansOnLogNumbersClustersFromLeastToMostImportant()
    {
        // Three groups, decades apart, plus exact zeros (never-used inputs): zeros belong to the least important cluster.
        var a = new List<float>();
        var rng = new Random(3);
        for (int i = 0; i < 50; i++) a.Add(0f);
        for (int i = 0; i < 200; i++) a.Add((float)(1e-4 * (1 + rng.NextDouble())));
        for (int i = 0; i < 100; i++) a.Add((float)(1e-2 * (1 + rng.NextDouble())));
        for (int i = 0; i < 20; i++) a.Add((float)(1.0 * (1 + rng.NextDouble())));
        var shuffled = a.OrderBy(_ => rng.Next()).ToArray();
        var clusters = ImportanceClustering.KMeansOnLog(shuffled, 3);
        // Monotone: a larger importance never lands in a lower cluster.
        var pairs = shuffled.Zip(clusters).OrderBy(p => p.First).ToArray();
        for (int i = 1; i < pairs.Length; i++) Assert.True(pairs[i].Second >= pairs[i - 1].Second);
        Assert.Equal(0, pairs[0].Second);
        Assert.Equal(2, pairs[^1].Second);
        Assert.Equal(20, clusters.Count(c => c == 2));
    }

    [Fact]
    public void KMeansOnLogHandlesAllZerosAndOneElement()
    {
        Assert.All(ImportanceClustering.KMeansOnLog(new float[5], 3), c => Assert.InRange(c, 0, 2));
        Assert.Single(ImportanceClustering.KMeansOnLog(new float[] { 2.5f }, 4));
        Assert.Empty(ImportanceClustering.KMeansOnLog(ReadOnlySpan<float>.Empty, 2));
    }
}

public class PostTrainingQuantizerTests
{
    [Fact]
    public void WidthFollowsImportanceAndWidthZeroIsNotStored()
    {
        using var tiny = new TinyTraining(seed: 11);
        using var tracker = new GradientImportanceTracker(tiny.Parameters);
        using var optimizer = tiny.Adam(0.01);
        tiny.Train(optimizer, [tracker], epochs: 2, stepsPerEpoch: 4);
        var names = tiny.Parameters.Keys.ToList();
        using var post = new PostTrainingQuantizer(tracker, tiny.Parameters, names, [0, 3, 8], ImportanceClusteringKind.Quantile, [0.5, 0.3, 0.2]);
        var before = names.ToDictionary(n => n, n => TinyTraining.Values(tiny.Parameters[n]));
        post.Quantize();

        // The cluster sizes are the rounded fractions of all elements together.
        long total = names.Sum(n => before[n].Length);
        Assert.Equal(total, post.ClusterSizes.Sum());
        Assert.Equal((long)Math.Round(0.5 * total, MidpointRounding.AwayFromZero), post.ClusterSizes[0]);

        // Every width-0 element is 0 and absent from the stored tensor; every element's width agrees with a global ranking.
        var all = names.SelectMany(n => tracker.Importance(n).Select((a, i) => (A: a, Name: n, Index: i))).ToList();
        float pruneThreshold = all.Select(x => x.A).OrderBy(x => x).ElementAt((int)post.ClusterSizes[0] - 1);
        foreach (var name in names)
        {
            var widths = post.BitWidths(name);
            var values = TinyTraining.Values(tiny.Parameters[name]);
            var stored = post.StoredTensor(name);
            Assert.Equal(stored.ToDense(), values);
            var positions = new HashSet<int>(stored.StoredPositions());
            var a = tracker.Importance(name);
            for (int i = 0; i < widths.Length; i++)
            {
                if (widths[i] == 0)
                {
                    Assert.Equal(0f, values[i]);
                    Assert.DoesNotContain(i, positions);
                    Assert.True(a[i] <= pruneThreshold);
                }
                else Assert.True(a[i] >= pruneThreshold);
            }
            if (widths.Contains((byte)0)) Assert.Equal(SparseLayout.Csr, stored.Sparsity);
            // Values changed by at most one step of their group's grid (half a step each for two roundings).
            var grouped = FixedPointQuantizer.QuantizeGrouped(before[name], widths);
            var reference = grouped.Dequantize();
            int maxWidth = widths.Max();
            float step = maxWidth >= 2 ? stored.Scales![0] : 0f;
            for (int i = 0; i < values.Length; i++)
                if (widths[i] > 0) Assert.True(Math.Abs(values[i] - reference[i]) <= step * 0.5f + 1e-6f, $"{name}[{i}]");
        }
    }

    [Fact]
    public void CombinedModeKeepsFrozenElementsAndClustersOnlyTheFreeOnes()
    {
        using var tiny = new TinyTraining(seed: 5);
        using var tracker = new GradientImportanceTracker(tiny.Parameters);
        using var freezer = new ImportanceFreezer(tracker, tiny.Parameters, splitFraction: 0.6, bits: 0);
        using var optimizer = tiny.Sgd();
        tiny.Train(optimizer, [tracker, freezer], epochs: 2, stepsPerEpoch: 3);
        var names = tiny.Parameters.Keys.ToList();
        long frozen = freezer.FrozenCount;
        using var post = new PostTrainingQuantizer(tracker, tiny.Parameters, names, [2, 4], ImportanceClusteringKind.KMeansLog, earlier: [freezer]);
        // Training goes on with the quantizer registered: quantized values never move, frozen zeros stay zero.
        tiny.Train(optimizer, [tracker, freezer, post], epochs: 1, stepsPerEpoch: 1);
        Assert.True(post.IsQuantized);
        var after = names.ToDictionary(n => n, n => TinyTraining.Values(tiny.Parameters[n]));
        tiny.Train(optimizer, [tracker, freezer, post], epochs: 1, stepsPerEpoch: 3);
        Assert.Equal(freezer.ElementCount - frozen, post.ClusterSizes.Sum());
        foreach (var name in names)
        {
            var mask = freezer.FrozenMask(name);
            var widths = post.BitWidths(name);
            var values = TinyTraining.Values(tiny.Parameters[name]);
            Assert.Equal(after[name], values);
            for (int i = 0; i < mask.Length; i++)
            {
                if (mask[i]) { Assert.Equal(0, widths[i]); Assert.Equal(0f, values[i]); }
                else Assert.InRange(widths[i], 2, 4);
            }
        }
    }

    [Fact]
    public void FreezerStateRoundTripsThroughSaveAndLoad()
    {
        using var tiny = new TinyTraining(seed: 9);
        using var tracker = new GradientImportanceTracker(tiny.Parameters);
        using var freezer = new ImportanceFreezer(tracker, tiny.Parameters, splitFraction: 0.4, bits: 3);
        using var optimizer = tiny.Adam();
        tiny.Train(optimizer, [tracker, freezer], epochs: 2, stepsPerEpoch: 3);
        var state = freezer.SaveState();
        var trackerState = tracker.SaveState();

        using var tiny2 = new TinyTraining(seed: 9);
        using var tracker2 = new GradientImportanceTracker(tiny2.Parameters);
        using var freezer2 = new ImportanceFreezer(tracker2, tiny2.Parameters, splitFraction: 0.4, bits: 3);
        tracker2.LoadState(trackerState);
        freezer2.LoadState(state);
        Assert.Equal(tracker.Steps, tracker2.Steps);
        foreach (var name in tiny.Parameters.Keys)
        {
            Assert.Equal(freezer.FrozenMask(name), freezer2.FrozenMask(name));
            Assert.Equal(freezer.FrozenValues(name), freezer2.FrozenValues(name));
            Assert.Equal(freezer.Scale(name), freezer2.Scale(name));
            Assert.Equal(tracker.Importance(name), tracker2.Importance(name));
            // Loading writes the frozen values into the (differently trained) parameters.
            var mask = freezer.FrozenMask(name);
            var v1 = TinyTraining.Values(tiny.Parameters[name]);
            var v2 = TinyTraining.Values(tiny2.Parameters[name]);
            for (int i = 0; i < mask.Length; i++) if (mask[i]) Assert.Equal(v1[i], v2[i]);
        }
        Assert.Throws<InvalidOperationException>(() => freezer2.LoadState(state.Where(s => !s.Name.EndsWith("#values")).ToList()));
    }
}
