using SlimNet.Compression.Hooks;
using SlimNet.Compression.Importance;
using SlimNet.Training.Checkpoints;
using SlimNet.Training.Models;
using SlimNet.Training.Trainer;
using TorchSharp;
using TorchSharp.Modules;

namespace SlimNet.Training.Tests;

/// <summary>
/// Gradient-importance sessions in the real trainer: frozen elements never change (what every forward pass sees, and
/// their optimizer state), and a run resumed from a checkpoint (which carries the tracker's accumulators and the
/// freezer's masks, values and scales) ends bit-identical to an uninterrupted one.
/// </summary>
[Collection("torch")]
public class ImportanceTrainingTests : IClassFixture<MnistFixture>
{
    private readonly SlimNet.Training.Data.DataSplits _mnist;
    public ImportanceTrainingTests(MnistFixture fixture) => _mnist = fixture.Mnist;

    private static TrainerOptions Options(string optimizer) => new()
    {
        Epochs = 3, BatchSize = 64, LearningRate = optimizer == "sgd" ? 0.05 : 1e-3, Optimizer = optimizer, Momentum = 0.9,
        Schedule = "cosine", Seed = 5, Limit = 640,
    };

    private sealed class Run : IDisposable
    {
        public Run(ZooModel zoo, int seed, int bits)
        {
            Module = ModelTrainer.CreateModule(zoo, seed);
            Parameters = Module.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
            Tracker = new GradientImportanceTracker(Parameters);
            Freezer = new ImportanceFreezer(Tracker, Parameters, e => e < 2 ? 0.4 : 0.0, bits);
        }

        public GraphModule Module { get; }
        public Dictionary<string, Parameter> Parameters { get; }
        public GradientImportanceTracker Tracker { get; }
        public ImportanceFreezer Freezer { get; }

        public void Dispose()
        {
            Freezer.Dispose();
            Tracker.Dispose();
            Module.Dispose();
        }
    }

    /// <summary>Checks before every forward pass that frozen elements hold their frozen values and carry no optimizer state.</summary>
    private sealed class FrozenCheck(ImportanceFreezer freezer) : ITrainingHooks
    {
        public int Checks { get; private set; }

        public void BeforeForward(TrainingContext context)
        {
            foreach (var name in freezer.Names)
            {
                var mask = freezer.FrozenMask(name);
                if (!mask.Contains(true)) continue;
                var frozen = freezer.FrozenValues(name);
                var values = ModelTensors.ToArray(name, context.Parameters[name]).Data;
                for (int i = 0; i < mask.Length; i++)
                    if (mask[i] && BitConverter.SingleToInt32Bits(values[i]) != BitConverter.SingleToInt32Bits(frozen[i]))
                        throw new Xunit.Sdk.XunitException($"{name}[{i}] = {values[i]} but froze at {frozen[i]} (step {context.Step})");
                foreach (var key in new[] { "momentum_buffer", "exp_avg", "exp_avg_sq" })
                {
                    if (context.Optimizer.TryGetState(name, key) is not { } state) continue;
                    var s = ModelTensors.ToArray(name, state).Data;
                    for (int i = 0; i < mask.Length; i++)
                        if (mask[i] && s[i] != 0f) throw new Xunit.Sdk.XunitException($"{name}[{i}] keeps optimizer state {key} = {s[i]}");
                }
            }
            Checks++;
        }
    }

    [Theory]
    [InlineData("adam", 0)]
    [InlineData("sgd", 3)]
    public void FrozenElementsNeverChangeInTheTrainer(string optimizer, int bits)
    {
        using var run = new Run(ModelZoo.LeNet300100(), 5, bits);
        var check = new FrozenCheck(run.Freezer);
        var result = new ModelTrainer(ModelZoo.LeNet300100(), Options(optimizer), _mnist, [run.Tracker, run.Freezer, check]).Run(module: run.Module);
        Assert.Equal(3, result.Epochs.Count);
        // Two freezes of 40 % of the free elements: 1 − 0.6² of everything (rounding aside), and checks ran after them.
        double frozen = (double)run.Freezer.FrozenCount / run.Freezer.ElementCount;
        Assert.InRange(frozen, 0.64 - 1e-3, 0.64 + 1e-3);
        Assert.True(check.Checks >= 3 * 10);
        // The frozen values are the final weights.
        foreach (var name in run.Freezer.Names)
        {
            var mask = run.Freezer.FrozenMask(name);
            var frozenValues = run.Freezer.FrozenValues(name);
            var values = ModelTensors.ToArray(name, run.Parameters[name]).Data;
            for (int i = 0; i < mask.Length; i++) if (mask[i]) Assert.Equal(frozenValues[i], values[i]);
        }
    }

    [Fact]
    public void ResumeWithImportanceAndFreezerEqualsUninterruptedRun()
    {
        var zoo = ModelZoo.LeNet300100();
        var options = Options("adam");
        using var full = new Run(zoo, options.Seed, 2);
        new ModelTrainer(zoo, options, _mnist, [full.Tracker, full.Freezer]).Run(module: full.Module);

        var dir = Directory.CreateTempSubdirectory("slimnet-gi-resume-");
        try
        {
            string ckpt = Path.Combine(dir.FullName, "part.ckpt");
            using (var first = new Run(zoo, options.Seed, 2))
                new ModelTrainer(zoo, options, _mnist, [first.Tracker, first.Freezer]).Run(ckpt, stopAfterEpochs: 1, module: first.Module);
            var saved = Checkpoint.Load(ckpt);
            Assert.Contains(saved.Extra, a => a.Name == "importance/fc1.weight");
            Assert.Contains(saved.Extra, a => a.Name == "freezer/fc1.weight#frozen");

            using var resumed = new Run(zoo, 999, 2); // other initial weights: everything must come from the checkpoint
            new ModelTrainer(zoo, options, _mnist, [resumed.Tracker, resumed.Freezer]).Run(resumeFrom: saved, module: resumed.Module);
            foreach (var name in full.Parameters.Keys)
            {
                Assert.True(ModelTensors.ToArray(name, full.Parameters[name]).Data.AsSpan()
                    .SequenceEqual(ModelTensors.ToArray(name, resumed.Parameters[name]).Data), $"{name} differs after resume");
                Assert.True(full.Tracker.Importance(name).AsSpan().SequenceEqual(resumed.Tracker.Importance(name)), $"importance of {name} differs");
                Assert.Equal(full.Freezer.FrozenMask(name), resumed.Freezer.FrozenMask(name));
                Assert.Equal(full.Freezer.Scale(name), resumed.Freezer.Scale(name));
            }
            Assert.Equal(full.Tracker.Steps, resumed.Tracker.Steps);

            // Resuming with a session the checkpoint has no state for is an error, not a silent restart.
            using var plain = new Run(zoo, options.Seed, 2);
            var noState = new Checkpoint { ModelName = saved.ModelName, Header = saved.Header, Model = saved.Model, Optimizer = saved.Optimizer };
            var e = Assert.Throws<CheckpointException>(() =>
                new ModelTrainer(zoo, options, _mnist, [plain.Tracker]).Run(resumeFrom: noState, module: plain.Module));
            Assert.Contains("no state for 'importance'", e.Message);
        }
        finally { dir.Delete(true); }
    }
}
