using SlimNet.Compression.Export;
using SlimNet.Format;
using SlimNet.Runtime;
using SlimNet.Training.Checkpoints;
using SlimNet.Training.Data;

namespace SlimNet.Cli;

/// <summary>
/// A .slim file opened by a command: its bytes and the model read from them. Every problem with the file becomes a
/// <see cref="UserInputException"/> whose one line names the file and, for malformed files, the section at fault
/// (the <see cref="SlimFormatException"/> message), so <c>inspect</c>, <c>run</c> and <c>bench</c> fail alike.
/// </summary>
public sealed class SlimModelFile
{
    private SlimModelFile(string path, byte[] bytes, SlimModel model)
    {
        Path = path;
        Bytes = bytes;
        Model = model;
    }

    /// <summary>The path as the user gave it.</summary>
    public string Path { get; }
    /// <summary>The whole file.</summary>
    public byte[] Bytes { get; }
    /// <summary>The decoded model.</summary>
    public SlimModel Model { get; }

    /// <summary>Reads and validates the .slim file at <paramref name="path"/>.</summary>
    /// <exception cref="UserInputException">Missing, unreadable or malformed (the message names the section).</exception>
    public static SlimModelFile Open(string path)
    {
        if (Directory.Exists(path)) throw new UserInputException($"{path}: is a folder, expected a .slim file");
        if (!File.Exists(path)) throw new UserInputException($"{path}: no such file");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UserInputException($"{path}: cannot read: {e.Message}"); }
        try { return new SlimModelFile(path, bytes, SlimReader.Read(bytes)); }
        catch (SlimFormatException e) { throw new UserInputException($"{path}: not a valid .slim file: {e.Message}"); }
    }

    /// <summary>The exact size accounting of the file.</summary>
    public SlimSizeReport SizeReport()
    {
        try { return SlimSizeReport.FromBytes(Bytes); }
        catch (SlimFormatException e) { throw new UserInputException($"{Path}: not a valid .slim file: {e.Message}"); }
    }

    /// <summary>Loads the model into the pure C# runtime for batches of up to <paramref name="maxBatch"/>.</summary>
    /// <exception cref="UserInputException">The graph and tensors disagree or use something the runtime does not run.</exception>
    public InferenceSession CreateSession(int maxBatch)
    {
        try { return InferenceSession.Load(Model, maxBatch); }
        catch (ModelValidationException e) { throw new UserInputException($"{Path}: the runtime cannot run this model: {e.Message}"); }
        catch (NotSupportedException e) { throw new UserInputException($"{Path}: the runtime cannot run this model: {e.Message}"); }
    }

    /// <summary>The input normalization stored at export, or null when the file has none (or an unreadable one).</summary>
    public ChannelNormalization? Normalization()
    {
        var mean = SlimMetadataKeys.ParseFloats(Model.Metadata.GetValueOrDefault(SlimMetadataKeys.InputMean));
        var std = SlimMetadataKeys.ParseFloats(Model.Metadata.GetValueOrDefault(SlimMetadataKeys.InputStd));
        if (mean is null || std is null) return null;
        try { return new ChannelNormalization(mean, std); }
        catch (ArgumentException e) { throw new UserInputException($"{Path}: metadata {SlimMetadataKeys.InputMean}/{SlimMetadataKeys.InputStd} are unusable: {e.Message}"); }
    }

    /// <summary>
    /// The dataset family the model reads: the <see cref="SlimMetadataKeys.DatasetKind"/> entry, else guessed from
    /// the input shape (1×28×28: MNIST layout; 3×32×32: CIFAR-10, or CIFAR-100 with 100 outputs).
    /// </summary>
    public DatasetKind DatasetKind(int outputs)
    {
        var text = Model.Metadata.GetValueOrDefault(SlimMetadataKeys.DatasetKind);
        if (text is not null && Enum.TryParse<DatasetKind>(text, ignoreCase: true, out var kind) && Enum.IsDefined(kind)) return kind;
        var s = Model.Graph.InputShape;
        if (s.Count == 3 && s[0] == 1 && s[1] == 28 && s[2] == 28) return Training.Data.DatasetKind.Mnist;
        if (s.Count == 3 && s[0] == 3 && s[1] == 32 && s[2] == 32) return outputs == 100 ? Training.Data.DatasetKind.Cifar100 : Training.Data.DatasetKind.Cifar10;
        throw new UserInputException($"{Path}: cannot tell which dataset the model reads (no '{SlimMetadataKeys.DatasetKind}' metadata and input shape [{string.Join(", ", s)}])");
    }

    /// <summary>Every tensor decoded to dense floats, as checkpoint arrays (to load the model into TorchSharp).</summary>
    public IReadOnlyList<NamedArray> DenseTensors() =>
        Model.Tensors.Select(t => new NamedArray(t.Name, t.Shape.Select(d => (long)d).ToArray(), t.ToDense())).ToArray();
}
