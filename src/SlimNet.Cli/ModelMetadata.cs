using SlimNet.Compression.Export;
using SlimNet.Training.Data;
using SlimNet.Training.Models;

namespace SlimNet.Cli;

/// <summary>The metadata every .slim file written by the CLI carries about its model and input (export and compress).</summary>
public static class ModelMetadata
{
    /// <summary>Model name, dataset kind and name, and the per-channel input normalization the runtime must apply.</summary>
    public static Dictionary<string, string> Describe(ZooModel zoo, string datasetName, ChannelNormalization normalization) =>
        new(StringComparer.Ordinal)
        {
            [SlimMetadataKeys.Model] = zoo.Name,
            [SlimMetadataKeys.DatasetKind] = zoo.Dataset.ToString().ToLowerInvariant(),
            [SlimMetadataKeys.Dataset] = datasetName,
            [SlimMetadataKeys.InputMean] = SlimMetadataKeys.FormatFloats(normalization.Mean),
            [SlimMetadataKeys.InputStd] = SlimMetadataKeys.FormatFloats(normalization.Std),
        };
}
