using SlimNet.Compression.Pruning;
using SlimNet.Compression.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace SlimNet.Compression.Tests;

public class PruningTests
{
    private static long Zeros(Tensor t) => TinyTraining.Values(t).Count(v => v == 0f);

    [Fact]
    public void MaskSelectionPrunesExactlyTheRequestedCountWithTiesByPosition()
    {
        var importance = new float[] { 1, 1, 1, 1, 0.5f, 2, 1, 1 };
        var keep = MaskSelection.KeepFlags(importance, [], 3);
        // 0.5 first, then the two lowest-index 1s
        Assert.Equal(new[] { false, false, true, true, false, true, true, true }, keep);
        Assert.Equal(4, MaskSelection.PruneCount(0.5, 8));
        Assert.Equal(3, MaskSelection.PruneCount(0.25, 10)); // 2.5 rounds away from zero
    }

    [Fact]
    public void AlreadyPrunedEntriesStayPrunedEvenIfImportant()
    {
        var keep = MaskSelection.KeepFlags(new float[] { 9, 1, 2, 3 }, new[] { true, false, false, false }, 2);
        Assert.Equal(new[] { false, false, true, true }, keep);
    }

    [Theory]
    [InlineData(0.3)]
    [InlineData(0.5)]
    [InlineData(0.77)]
    public void PerLayerMagnitudePruningHitsTheSparsityExactlyAndKeepsTheLargest(double sparsity)
    {
        using var t = new TinyTraining();
        using var pruner = Pruner.PerLayer(t.Parameters, [
            new PrunedLayer("fc1.weight", new OneShotSchedule(sparsity)),
            new PrunedLayer("fc2.weight", new OneShotSchedule(sparsity))]);
        var before = TinyTraining.Values(t.Parameters["fc1.weight"]);
        pruner.UpdateMasks(0);
        foreach (var name in new[] { "fc1.weight", "fc2.weight" })
        {
            long n = t.Parameters[name].numel();
            Assert.Equal(MaskSelection.PruneCount(sparsity, n), Zeros(t.Parameters[name]));
            Assert.Equal(MaskSelection.PruneCount(sparsity, n), pruner.Masks.PrunedCount(name));
        }
        var after = TinyTraining.Values(t.Parameters["fc1.weight"]);
        float smallestKept = after.Where(v => v != 0).Min(Math.Abs);
        float largestPruned = before.Where((v, i) => after[i] == 0).Max(Math.Abs);
        Assert.True(largestPruned <= smallestKept);
        Assert.Equal(0, Zeros(t.Parameters["fc1.bias"]));
    }

    [Fact]
    public void TiesArePrunedDeterministicallyLowestIndexFirst()
    {
        using var t = new TinyTraining();
        using (no_grad()) t.Parameters["fc2.weight"].fill_(0.25f);
        using var pruner = Pruner.PerLayer(t.Parameters, [new PrunedLayer("fc2.weight", new OneShotSchedule(0.5))]);
        pruner.UpdateMasks(0);
        var kept = pruner.Masks.ToArray("fc2.weight");
        int half = kept.Length / 2;
        Assert.All(kept.Take(half), k => Assert.False(k));
        Assert.All(kept.Skip(half), k => Assert.True(k));
    }

    [Fact]
    public void GlobalScopeUsesOneThresholdAcrossLayers()
    {
        using var t = new TinyTraining();
        using (no_grad()) t.Parameters["fc2.weight"].mul_(10f); // fc2 much larger: global pruning should take fc1 first
        using var pruner = Pruner.Global(t.Parameters, ["fc1.weight", "fc2.weight"], new OneShotSchedule(0.5));
        var all = TinyTraining.Values(t.Parameters["fc1.weight"]).Concat(TinyTraining.Values(t.Parameters["fc2.weight"])).Select(Math.Abs).ToArray();
        pruner.UpdateMasks(0);
        long total = all.Length;
        Assert.Equal(MaskSelection.PruneCount(0.5, total), pruner.Masks.PrunedCount("fc1.weight") + pruner.Masks.PrunedCount("fc2.weight"));
        var sorted = all.OrderBy(v => v).ToArray();
        float threshold = sorted[MaskSelection.PruneCount(0.5, total)];
        foreach (var name in new[] { "fc1.weight", "fc2.weight" })
            foreach (var v in TinyTraining.Values(t.Parameters[name]))
                Assert.True(v == 0 || Math.Abs(v) >= threshold);
        Assert.True(pruner.Masks.SparsityOf("fc1.weight") > pruner.Masks.SparsityOf("fc2.weight"));
    }

    [Fact]
    public void TaylorImportanceIsTheSumOfAbsWeightTimesGradient()
    {
        using var t = new TinyTraining();
        using var taylor = new TaylorImportance(t.Parameters, ["fc2.weight"]);
        var expected = new double[t.Parameters["fc2.weight"].numel()];
        for (int step = 0; step < 3; step++)
        {
            foreach (var p in t.Parameters.Values) p.grad?.zero_();
            using var logits = t.Model.forward(t.Inputs);
            using var loss = nn.functional.cross_entropy(logits, t.Labels);
            loss.backward();
            var w = TinyTraining.Values(t.Parameters["fc2.weight"]);
            var g = TinyTraining.Values(t.Parameters["fc2.weight"].grad!);
            for (int i = 0; i < w.Length; i++) expected[i] += Math.Abs((double)w[i] * g[i]);
            taylor.Accumulate(t.Parameters);
            using (no_grad()) t.Parameters["fc2.weight"].add_(t.Parameters["fc2.weight"].grad!, -0.5);
        }
        Assert.Equal(3, taylor.StepsOf("fc2.weight"));
        var actual = TinyTraining.Values(taylor["fc2.weight"]);
        for (int i = 0; i < actual.Length; i++) Assert.Equal(expected[i], actual[i], 5);
    }

    [Fact]
    public void TaylorPrunerPrunesTheLeastImportantByAccumulatedWeightTimesGradient()
    {
        using var t = new TinyTraining();
        using var opt = t.Sgd(momentum: 0);
        using var pruner = Pruner.PerLayer(t.Parameters, [new PrunedLayer("fc1.weight", new OneShotSchedule(0.6, AtStep: 2))], PruningImportance.Taylor);
        t.Train(opt, [pruner], epochs: 1, stepsPerEpoch: 4);
        Assert.Equal(MaskSelection.PruneCount(0.6, 120), Zeros(t.Parameters["fc1.weight"]));
    }

    [Fact]
    public void TaylorWithoutGradientsIsAClearError()
    {
        using var t = new TinyTraining();
        using var pruner = Pruner.PerLayer(t.Parameters, [new PrunedLayer("fc1.weight", new OneShotSchedule(0.5))], PruningImportance.Taylor);
        var e = Assert.Throws<InvalidOperationException>(() => pruner.UpdateMasks(0));
        Assert.Contains("fc1.weight", e.Message);
    }

    [Fact]
    public void ThresholdPruningRemovesWeightsBelowQTimesStd()
    {
        using var t = new TinyTraining();
        var w = TinyTraining.Values(t.Parameters["fc1.weight"]);
        double mean = w.Average(v => (double)v);
        double std = Math.Sqrt(w.Average(v => (v - mean) * (v - mean)));
        using var pruner = Pruner.PerLayer(t.Parameters, [new PrunedLayer("fc1.weight", Threshold: new StdThresholdSchedule(0.8, 0, 1, 1))]);
        pruner.UpdateMasks(0);
        var after = TinyTraining.Values(t.Parameters["fc1.weight"]);
        for (int i = 0; i < w.Length; i++)
            Assert.Equal(Math.Abs(w[i]) < 0.8 * std ? 0f : w[i], after[i]);
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("adam")]
    public void PrunedWeightsStayExactlyZeroThroughMomentumAndAdamSteps(string optimizerKind)
    {
        using var t = new TinyTraining();
        using var opt = optimizerKind == "sgd" ? t.Sgd(0.1, 0.9) : t.Adam(0.05);
        // Dense steps first so the optimizer has momentum / moments for weights that will be pruned.
        t.Train(opt, [], epochs: 1, stepsPerEpoch: 3);
        using var pruner = Pruner.PerLayer(t.Parameters, [
            new PrunedLayer("fc1.weight", new IterativeSchedule(0.8, 0.5, StartStep: 3, IntervalSteps: 2)),
            new PrunedLayer("fc2.weight", new OneShotSchedule(0.5, AtStep: 3))]);
        bool[]? firstMask = null;
        t.Train(opt, [pruner], epochs: 2, stepsPerEpoch: 5, afterEachStep: ctx =>
        {
            foreach (var name in pruner.Masks.Names)
            {
                var kept = pruner.Masks.ToArray(name);
                var w = TinyTraining.Values(t.Parameters[name]);
                for (int i = 0; i < w.Length; i++) if (!kept[i]) Assert.Equal(0f, w[i]);
            }
            var mask = pruner.Masks.ToArray("fc1.weight");
            if (firstMask is not null) for (int i = 0; i < mask.Length; i++) if (!firstMask[i]) Assert.False(mask[i]); // masks only shrink
            firstMask = mask;
        });
        Assert.Equal(MaskSelection.PruneCount(0.8, 120), Zeros(t.Parameters["fc1.weight"]));
        Assert.Equal(MaskSelection.PruneCount(0.5, 40), Zeros(t.Parameters["fc2.weight"]));
        // Optimizer state of pruned weights is zero too.
        foreach (var (_, key, value) in opt.StateTensors().Where(s => s.Parameter == "fc1.weight"))
        {
            var state = TinyTraining.Values(value);
            var kept = pruner.Masks.ToArray("fc1.weight");
            for (int i = 0; i < state.Length; i++) if (!kept[i]) Assert.Equal(0f, state[i]);
        }
        // Weights that survived still train.
        Assert.Contains(TinyTraining.Values(t.Parameters["fc1.weight"]), v => v != 0);
    }

    [Fact]
    public void AgpPrunerFollowsTheScheduleDuringTraining()
    {
        using var t = new TinyTraining();
        using var opt = t.Sgd();
        var agp = new AgpSchedule(0, 0.9, 2, 4, 2);
        using var pruner = Pruner.PerLayer(t.Parameters, [new PrunedLayer("fc1.weight", agp)]);
        t.Train(opt, [pruner], epochs: 2, stepsPerEpoch: 6, afterEachStep: ctx =>
            // the step that just ran used the target of step Step-1
            Assert.Equal(MaskSelection.PruneCount(agp.TargetAt(ctx.Step - 1), 120), pruner.Masks.PrunedCount("fc1.weight")));
        Assert.Equal(MaskSelection.PruneCount(0.9, 120), Zeros(t.Parameters["fc1.weight"]));
    }

    [Fact]
    public void DatPrunerPrunesAtEpochEndsFromTheLoss()
    {
        using var t = new TinyTraining();
        using var opt = t.Sgd(0.05, 0);
        var dat = new DynamicAdaptiveThreshold(rampEpochs: 2);
        using var pruner = Pruner.PerLayer(t.Parameters, [new PrunedLayer("fc1.weight", Threshold: dat.ForLayer(1.0))]);
        t.Train(opt, [pruner], epochs: 3, stepsPerEpoch: 4);
        Assert.True(dat.Progress > 0);
        Assert.True(Zeros(t.Parameters["fc1.weight"]) > 0);
    }
}
