using SlimNet.Compression.Importance;
using SlimNet.Compression.Optim;

namespace SlimNet.Compression.Tests.Importance;

public class ImportanceFreezerTests
{
    public static TheoryData<string, int> Optimizers => new() { { "sgd", 4 }, { "adam", 4 }, { "sgd", 0 }, { "adam", 2 } };

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void FrozenParametersNeverChangeAndFreeOnesDo(string kind, int bits)
    {
        using var tiny = new TinyTraining(seed: 7);
        using var tracker = new GradientImportanceTracker(tiny.Parameters);
        using var freezer = new ImportanceFreezer(tracker, tiny.Parameters, splitFraction: 0.5, bits);
        using ParameterOptimizer optimizer = kind == "sgd" ? tiny.Sgd(lr: 0.1, momentum: 0.9) : tiny.Adam(lr: 0.05);

        // Value of every element at the moment it froze; checked bit-exactly after every later step.
        var frozenAt = tiny.Parameters.ToDictionary(p => p.Key, p => new float?[p.Value.numel()], StringComparer.Ordinal);
        var lastEpochStart = new Dictionary<string, float[]>(StringComparer.Ordinal);
        int checkedSteps = 0;
        const int epochs = 4, steps = 5;
        tiny.Train(optimizer, [tracker, freezer], epochs, steps, afterEachStep: context =>
        {
            foreach (var (name, p) in tiny.Parameters)
            {
                var values = TinyTraining.Values(p);
                var known = frozenAt[name];
                for (int i = 0; i < values.Length; i++)
                    if (known[i] is float v)
                        Assert.Equal(BitConverter.SingleToInt32Bits(v), BitConverter.SingleToInt32Bits(values[i]));
                var mask = freezer.FrozenMask(name);
                var frozenValues = freezer.FrozenValues(name);
                for (int i = 0; i < values.Length; i++)
                    if (mask[i] && known[i] is null)
                    {
                        Assert.Equal(frozenValues[i], values[i]);
                        known[i] = values[i];
                    }
                if (context.Step == (long)(epochs - 1) * steps + 1) lastEpochStart[name] = values;
            }
            if (freezer.FrozenCount > 0) checkedSteps++;
        });

        Assert.Equal((epochs - 1) * steps, checkedSteps);
        // 4 epoch ends, each freezing half of what is free: 1 − 1/16 of the elements.
        double frozenShare = (double)freezer.FrozenCount / freezer.ElementCount;
        Assert.InRange(frozenShare, 0.92, 0.96);
        int changedFree = 0;
        foreach (var (name, p) in tiny.Parameters)
        {
            var values = TinyTraining.Values(p);
            var mask = freezer.FrozenMask(name);
            var widths = freezer.BitWidths(name);
            float? scale = freezer.Scale(name);
            for (int i = 0; i < values.Length; i++)
            {
                Assert.Equal(mask[i] ? (byte)bits : ImportanceFreezer.FreeWidth, widths[i]);
                if (!mask[i]) { if (values[i] != lastEpochStart[name][i]) changedFree++; continue; }
                if (bits == 0) Assert.Equal(0f, values[i]);
                else
                {
                    double code = values[i] / (double)scale!.Value;
                    Assert.Equal(Math.Round(code), code, 3);
                    Assert.InRange(Math.Abs(Math.Round(code)), 0, FixedPointQuantizer.MaxCode(bits));
                }
            }
        }
        // Values captured after the first step of the last epoch; the free ones kept training over its 4 more steps.
        Assert.True(changedFree > 0, "free parameters should keep training");
    }

    [Fact]
    public void FreezesTheLeastImportantFreeElements()
    {
        using var tiny = new TinyTraining(seed: 11);
        using var tracker = new GradientImportanceTracker(tiny.Parameters, ["fc1.weight"]);
        using var freezer = new ImportanceFreezer(tracker, tiny.Parameters, splitFraction: 0.25, bits: 3);
        using var optimizer = tiny.Sgd();
        tiny.Train(optimizer, [tracker], epochs: 1, stepsPerEpoch: 3);
        var importance = tracker.Importance("fc1.weight");
        long frozen = freezer.Freeze(0.25, optimizer);
        Assert.Equal(30, frozen); // round(0.25 · 120)
        var mask = freezer.FrozenMask("fc1.weight");
        float maxFrozen = importance.Where((_, i) => mask[i]).Max();
        float minFree = importance.Where((_, i) => !mask[i]).Min();
        Assert.True(maxFrozen <= minFree, $"frozen importance up to {maxFrozen}, free from {minFree}");
        var state = optimizer.TryGetState("fc1.weight", "momentum_buffer");
        if (state is not null)
        {
            var m = TinyTraining.Values(state);
            for (int i = 0; i < m.Length; i++) if (mask[i]) Assert.Equal(0f, m[i]);
        }
        Assert.Equal(0, freezer.Freeze(0, optimizer));
        Assert.Throws<ArgumentOutOfRangeException>(() => freezer.Freeze(1.5, optimizer));
    }
}
