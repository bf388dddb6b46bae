using System.Globalization;

namespace SlimNet.Compression.Export;

/// <summary>
/// The metadata keys <see cref="SlimExporter"/> writes into a .slim file, and the text form of their values.
/// Runtime inputs must be prepared exactly as in training: a pixel byte p of channel c becomes
/// <c>(p / 255 − mean[c]) / std[c]</c> with the floats of <see cref="InputMean"/> and <see cref="InputStd"/>.
/// </summary>
public static class SlimMetadataKeys
{
    /// <summary>Zoo name of the model (e.g. <c>lenet-300-100</c>).</summary>
    public const string Model = "model";
    /// <summary>Dataset family the model reads: <c>mnist</c>, <c>cifar10</c> or <c>cifar100</c>.</summary>
    public const string DatasetKind = "dataset_kind";
    /// <summary>Name of the dataset the source checkpoint was trained on (e.g. <c>mnist</c> or a folder name).</summary>
    public const string Dataset = "dataset";
    /// <summary>Per-channel input mean in [0, 1] pixel units, comma-separated round-trip floats.</summary>
    public const string InputMean = "input_mean";
    /// <summary>Per-channel input standard deviation in [0, 1] pixel units, comma-separated round-trip floats.</summary>
    public const string InputStd = "input_std";
    /// <summary>Test accuracy (fraction 0..1) of the source checkpoint as measured by the trainer.</summary>
    public const string SourceTestAccuracy = "source_test_accuracy";
    /// <summary>Epochs the source checkpoint was trained for.</summary>
    public const string SourceEpochs = "source_epochs";
    /// <summary>How the tensors were stored, e.g. <c>dense fp32</c> or <c>dense fp16</c>.</summary>
    public const string Method = "method";
    /// <summary>The program that wrote the file.</summary>
    public const string Exporter = "exporter";

    /// <summary>Floats as comma-separated shortest round-trip invariant text ("0.1307,0.3081").</summary>
    public static string FormatFloats(IEnumerable<float> values) =>
        string.Join(",", values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));

    /// <summary>Parses <see cref="FormatFloats"/> text; null when it is not a non-empty list of finite floats.</summary>
    public static float[]? ParseFloats(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var parts = text.Split(',');
        var result = new float[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!float.TryParse(parts[i].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out result[i]) || !float.IsFinite(result[i]))
                return null;
        return result;
    }
}
