using SlimNet.Compression.Schedules;
using TorchSharp;

namespace SlimNet.Compression.Tests;

public class ScheduleTests
{
    [Theory]
    [InlineData(0, 0.0)]
    [InlineData(4, 0.0)]
    [InlineData(5, 0.8)]
    [InlineData(1000, 0.8)]
    public void OneShotIsZeroBeforeItsStepAndFinalFromIt(long step, double expected) =>
        Assert.Equal(expected, new OneShotSchedule(0.8, 5).TargetAt(step));

    [Fact]
    public void AgpFollowsTheCubicFormulaAtUpdatePoints()
    {
        var agp = new AgpSchedule(0.1, 0.9, StartStep: 10, Updates: 4, FrequencySteps: 5);
        double Formula(long t) => 0.9 + (0.1 - 0.9) * Math.Pow(1 - (t - 10) / (4.0 * 5), 3);
        Assert.Equal(0.0, agp.TargetAt(0));
        Assert.Equal(0.0, agp.TargetAt(9));
        Assert.Equal(0.1, agp.TargetAt(10), 12);          // t0: s_i
        foreach (long t in new long[] { 15, 20, 25, 30 }) Assert.Equal(Formula(t), agp.TargetAt(t), 12);
        Assert.Equal(Formula(15), agp.TargetAt(19), 12);  // held between updates
        Assert.Equal(0.9, agp.TargetAt(30), 12);          // t0 + nΔt: s_f
        Assert.Equal(0.9, agp.TargetAt(10_000), 12);
        for (long t = 10; t < 40; t++) Assert.True(agp.TargetAt(t + 1) >= agp.TargetAt(t));
    }

    [Fact]
    public void IterativePrunesAFractionOfTheRemainderPerEventUntilTheTarget()
    {
        var it = new IterativeSchedule(0.9, 0.5, StartStep: 3, IntervalSteps: 10);
        Assert.Equal(0.0, it.TargetAt(2));
        Assert.Equal(0.5, it.TargetAt(3), 12);
        Assert.Equal(0.5, it.TargetAt(12), 12);
        Assert.Equal(0.75, it.TargetAt(13), 12);
        Assert.Equal(0.875, it.TargetAt(23), 12);
        Assert.Equal(0.9, it.TargetAt(33), 12);   // 0.9375 capped
        Assert.Equal(0.9, it.TargetAt(999), 12);
    }

    [Fact]
    public void IterativeInIterationsReachesTheTargetExactlyAtTheLastEvent()
    {
        var it = IterativeSchedule.InIterations(0.92, 3, 0, 4);
        Assert.True(it.TargetAt(4) < 0.92);
        Assert.Equal(0.92, it.TargetAt(8), 12);
        Assert.Equal(1 - Math.Pow(0.08, 1.0 / 3), it.TargetAt(0), 12);
    }

    [Fact]
    public void StdThresholdScheduleRaisesQToItsValueOverTheIterations()
    {
        var s = new StdThresholdSchedule(1.5, StartStep: 2, IntervalSteps: 3, Iterations: 3);
        Assert.Null(s.ScaleAt(0));
        Assert.Equal(0.5, s.ScaleAt(2)!.Value, 12);
        Assert.Null(s.ScaleAt(3));
        Assert.Equal(1.0, s.ScaleAt(5)!.Value, 12);
        Assert.Equal(1.5, s.ScaleAt(8)!.Value, 12);
        Assert.Null(s.ScaleAt(11));
    }

    [Fact]
    public void StdThresholdIsQTimesThePopulationStd()
    {
        using var w = torch.tensor(new float[] { 1, -1, 3, -3 });
        // population std of {1,-1,3,-3} = sqrt(5)
        Assert.Equal(2 * Math.Sqrt(5), new StdThreshold(2).ThresholdFor(w), 5);
    }

    [Fact]
    public void DatGrowsWithProgressAndBacksOffWhenTheLossRises()
    {
        var dat = new DynamicAdaptiveThreshold(rampEpochs: 4, tolerance: 0.0, backoff: 1.0);
        var layer = dat.ForLayer(2.0);
        Assert.Null(layer.ScaleAt(0));                 // nothing before the first epoch ends
        dat.Observe(10, 1.0);
        Assert.Equal(0.25, dat.Progress, 12);
        Assert.Equal(0.5, layer.ScaleAt(10)!.Value, 12);
        Assert.Null(layer.ScaleAt(11));                // once per epoch
        dat.Observe(20, 0.8);                          // loss fell: grow
        Assert.Equal(0.5, dat.Progress, 12);
        Assert.Equal(1.0, layer.ScaleAt(20)!.Value, 12);
        dat.Observe(30, 0.9);                          // loss rose: back off, no pruning
        Assert.True(dat.BackedOff);
        Assert.Equal(0.25, dat.Progress, 12);
        Assert.Null(layer.ScaleAt(30));
        for (int e = 0; e < 10; e++) dat.Observe(40 + e, 0.5 - e * 0.01);
        Assert.Equal(1.0, dat.Progress, 12);           // capped at the full threshold
    }
}
