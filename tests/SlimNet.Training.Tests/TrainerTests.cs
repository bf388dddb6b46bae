using System.Diagnostics;
using SlimNet.Training.Checkpoints;
using SlimNet.Training.Data;
using SlimNet.Training.Models;
using SlimNet.Training.Trainer;

namespace SlimNet.Training.Tests;

/// <summary>Shares one load of the embedded MNIST between the trainer tests.</summary>
public sealed class MnistFixture
{
    public DataSplits Mnist { get; } = DefaultData.LoadMnist();
}

[Collection("torch")]
public class TrainerTests : IClassFixture<MnistFixture>
{
    private readonly DataSplits _mnist;
    public TrainerTests(MnistFixture fixture) => _mnist = fixture.Mnist;

    private static TrainerOptions Small(int epochs, int limit) => new()
    {
        Epochs = epochs, BatchSize = 64, LearningRate = 1e-3, Optimizer = "adam", Schedule = "cosine", Seed = 7, Limit = limit,
    };

    [Fact]
    public void OneEpochOn2000ExamplesBeats80Percent()
    {
        var result = new ModelTrainer(ModelZoo.LeNet300100(), Small(1, 2000) with { BatchSize = 32 }, _mnist).Run();
        Assert.True(result.TestAccuracy > 0.80, $"test accuracy {result.TestAccuracy:P2} after one epoch on 2,000 examples");
        Assert.Single(result.Epochs);
    }

    [Theory]
    [InlineData("adam")]
    [InlineData("sgd")]
    public void ResumeEqualsUninterruptedRun(string optimizer)
    {
        var options = Small(3, 1000) with { Optimizer = optimizer, LearningRate = optimizer == "sgd" ? 0.05 : 1e-3, Nesterov = optimizer == "sgd" };
        var dir = Directory.CreateTempSubdirectory("slimnet-resume-");
        try
        {
            var full = new ModelTrainer(ModelZoo.LeNet300100(), options, _mnist).Run();
            string ckpt = Path.Combine(dir.FullName, "part.ckpt");
            new ModelTrainer(ModelZoo.LeNet300100(), options, _mnist).Run(ckpt, stopAfterEpochs: 1);
            var resumed = new ModelTrainer(ModelZoo.LeNet300100(), options, _mnist).Run(resumeFrom: Checkpoint.Load(ckpt));
            Assert.Equal(2, resumed.Epochs.Count);
            var a = ModelTensors.Capture(full.Module);
            var b = ModelTensors.Capture(resumed.Module);
            Assert.Equal(a.Select(t => t.Name), b.Select(t => t.Name));
            for (int i = 0; i < a.Count; i++)
                Assert.True(a[i].Data.AsSpan().SequenceEqual(b[i].Data), $"tensor {a[i].Name} differs after resume");
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void SameSeedGivesSameWeights()
    {
        var a = ModelTensors.Capture(new ModelTrainer(ModelZoo.LeNet300100(), Small(1, 500), _mnist).Run().Module);
        var b = ModelTensors.Capture(new ModelTrainer(ModelZoo.LeNet300100(), Small(1, 500), _mnist).Run().Module);
        for (int i = 0; i < a.Count; i++) Assert.True(a[i].Data.AsSpan().SequenceEqual(b[i].Data), a[i].Name);
    }

    [Fact]
    public void DivergingLossStopsWithTheStepNamed()
    {
        var options = Small(1, 2000) with { Optimizer = "sgd", LearningRate = 1e12, Momentum = 0 };
        var e = Assert.Throws<TrainingDivergedException>(() => new ModelTrainer(ModelZoo.LeNet300100(), options, _mnist).Run());
        Assert.Contains("step", e.Message);
        Assert.Contains("epoch 1", e.Message);
    }

    [Fact]
    public void ProcessMemoryStaysFlatAcrossEpochs()
    {
        var samples = new List<long>();
        var progress = new MemorySampler(samples);
        new ModelTrainer(ModelZoo.LeNet300100(), Small(6, 3000) with { BatchSize = 32 }, _mnist, progress: progress).Run();
        // Epoch 1 warms caches and allocators; from then on the working set must not climb.
        long growth = samples[^1] - samples[1];
        Assert.True(growth < 40L << 20, $"working set grew by {growth >> 20} MiB over epochs 2..6: {string.Join(", ", samples.Select(s => s >> 20))} MiB");
    }

    [Fact]
    public void CheckpointRoundTripsAndRejectsCorruption()
    {
        var result = new ModelTrainer(ModelZoo.LeNet300100(), Small(1, 300), _mnist).Run();
        var bytes = result.Checkpoint.ToBytes();
        var back = Checkpoint.Parse(bytes, "mem");
        Assert.Equal("lenet-300-100", back.ModelName);
        Assert.Equal(result.Checkpoint.Model.Count, back.Model.Count);
        Assert.Equal(1, back.Header["epochs_done"]!.GetValue<int>());
        var broken = (byte[])bytes.Clone();
        broken[bytes.Length / 2] ^= 0x10;
        Assert.Contains("checksum", Assert.Throws<CheckpointException>(() => Checkpoint.Parse(broken, "mem")).Message);
        Assert.Throws<CheckpointException>(() => Checkpoint.Parse(bytes.AsSpan(0, bytes.Length - 7), "mem"));
        Assert.Throws<CheckpointException>(() => Checkpoint.Parse("not a checkpoint at all, just text"u8, "mem"));
        Assert.Throws<CheckpointException>(() => Checkpoint.Parse(ReadOnlySpan<byte>.Empty, "mem"));
    }

    [Fact]
    public void LearningRateSchedulesFollowTheirFormulas()
    {
        var cosine = new TrainerOptions { Epochs = 10, LearningRate = 0.1, Schedule = "cosine" };
        Assert.Equal(0.1, cosine.LearningRateAt(0), 12);
        Assert.Equal(0.05, cosine.LearningRateAt(5), 12);
        var step = new TrainerOptions { LearningRate = 1, Schedule = "step", StepSize = 3, Gamma = 0.5 };
        Assert.Equal(new[] { 1, 1, 1, 0.5, 0.5, 0.5, 0.25 }, Enumerable.Range(0, 7).Select(step.LearningRateAt));
        var multi = new TrainerOptions { LearningRate = 1, Schedule = "multistep", Milestones = new[] { 2, 4 }, Gamma = 0.1 };
        Assert.Equal(0.01, multi.LearningRateAt(4), 12);
        Assert.Equal(0.1, multi.LearningRateAt(3), 12);
        Assert.NotNull(new TrainerOptions { LearningRate = -1 }.Validate());
        Assert.NotNull(new TrainerOptions { Optimizer = "rmsprop" }.Validate());
    }

    private sealed class MemorySampler(List<long> samples) : ITrainingProgress
    {
        public void EpochStarted(int epoch, int totalEpochs, int batches) { }
        public void BatchDone(int epoch, int batch, double loss, double accuracy, double examplesPerSecond) { }
        public void EpochDone(EpochRecord record)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            using var p = Process.GetCurrentProcess();
            samples.Add(p.WorkingSet64);
        }
    }
}
