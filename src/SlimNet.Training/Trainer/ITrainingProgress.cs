namespace SlimNet.Training.Trainer;

/// <summary>The figures of one finished epoch (also one line of the JSON-lines log).</summary>
public sealed record EpochRecord(int Epoch, double LearningRate, double TrainLoss, double TrainAccuracy, double TestAccuracy, double TestLoss, double Seconds, double ExamplesPerSecond);

/// <summary>Receives progress of a training run (the CLI shows a progress bar or plain lines).</summary>
public interface ITrainingProgress
{
    /// <summary>An epoch starts with <paramref name="batches"/> minibatches.</summary>
    void EpochStarted(int epoch, int totalEpochs, int batches);
    /// <summary>A minibatch is done; figures are running means over the epoch so far.</summary>
    void BatchDone(int epoch, int batch, double loss, double accuracy, double examplesPerSecond);
    /// <summary>An epoch is done and evaluated.</summary>
    void EpochDone(EpochRecord record);
}

/// <summary>Progress sink that ignores everything.</summary>
public sealed class SilentProgress : ITrainingProgress
{
    /// <summary>The shared instance.</summary>
    public static SilentProgress Instance { get; } = new();
    /// <inheritdoc />
    public void EpochStarted(int epoch, int totalEpochs, int batches) { }
    /// <inheritdoc />
    public void BatchDone(int epoch, int batch, double loss, double accuracy, double examplesPerSecond) { }
    /// <inheritdoc />
    public void EpochDone(EpochRecord record) { }
}
