namespace SlimNet.Training.Data;

/// <summary>The training and test splits of one dataset, with the normalisation to apply to both.</summary>
/// <param name="Name">Dataset name, e.g. <c>mnist</c>, <c>cifar10</c>, or the folder name given to <c>--data</c>.</param>
/// <param name="Train">The training split.</param>
/// <param name="Test">The test split.</param>
/// <param name="Normalization">Per-channel statistics for inputs (see <see cref="ChannelNormalization"/>).</param>
public sealed record DataSplits(string Name, Dataset Train, Dataset Test, ChannelNormalization Normalization)
{
    /// <summary>
    /// These splits with the training split cut to its first <paramref name="limit"/> examples
    /// (<c>--limit N</c>); null or a limit at or above the training size leaves them unchanged. The test
    /// split and the normalisation are kept as they are, so results stay comparable.
    /// </summary>
    public DataSplits WithTrainLimit(int? limit) => limit is int n ? this with { Train = Train.Take(n) } : this;
}
