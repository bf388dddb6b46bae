using System.IO.Compression;

namespace SlimNet.Training.Data;

/// <summary>
/// Deterministic small datasets written in the real on-disk formats (MNIST IDX, CIFAR-10/100 binary),
/// for tests across the solution. The images are learnable: each is low noise (0..63) plus a bright
/// 4×4 block whose position encodes its label, so a small model reaches high accuracy quickly.
/// </summary>
public static class SyntheticData
{
    /// <summary>Generated examples: pixels (Count × C × H × W, CHW) and labels.</summary>
    /// <param name="Pixels">Count × C × H × W bytes, CHW per example.</param>
    /// <param name="Labels">Count labels in [0, classes).</param>
    public sealed record Examples(byte[] Pixels, int[] Labels);

    /// <summary>Generates <paramref name="count"/> examples of shape C×H×W with labels in [0, <paramref name="classes"/>), determined by <paramref name="seed"/>.</summary>
    public static Examples Generate(int count, int channels, int height, int width, int classes, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 4);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 4);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classes);
        var rng = new SeededRandom(SeededRandom.Derive(seed, 0, 0x5EED));
        int plane = height * width, size = channels * plane;
        var pixels = new byte[count * size];
        var labels = new int[count];
        int cellsX = Math.Max(1, width / 4), cellsY = Math.Max(1, height / 4);
        for (int i = 0; i < count; i++)
        {
            int label = rng.NextInt(classes);
            labels[i] = label;
            var image = pixels.AsSpan(i * size, size);
            for (int p = 0; p < image.Length; p++) image[p] = (byte)rng.NextInt(64);
            int cell = label % (cellsX * cellsY);
            int top = cell / cellsX * 4, left = cell % cellsX * 4;
            for (int c = 0; c < channels; c++)
                for (int y = top; y < Math.Min(top + 4, height); y++)
                    for (int x = left; x < Math.Min(left + 4, width); x++)
                        image[c * plane + y * width + x] = (byte)(192 + rng.NextInt(64));
        }
        return new Examples(pixels, labels);
    }

    /// <summary>The bytes of an unsigned-byte IDX file: magic <c>00 00 08 rank</c>, big-endian dimensions, data.</summary>
    public static byte[] IdxBytes(int[] dimensions, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(dimensions);
        var bytes = new byte[4 + 4 * dimensions.Length + data.Length];
        bytes[2] = 0x08;
        bytes[3] = (byte)dimensions.Length;
        for (int i = 0; i < dimensions.Length; i++)
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dimensions[i]);
        data.CopyTo(bytes.AsSpan(4 + 4 * dimensions.Length));
        return bytes;
    }

    /// <summary>Writes <paramref name="content"/> to <paramref name="path"/>, gzip-compressed when <paramref name="gzip"/>.</summary>
    public static void WriteFile(string path, ReadOnlySpan<byte> content, bool gzip)
    {
        using var file = File.Create(path);
        if (gzip)
        {
            using var z = new GZipStream(file, CompressionLevel.Fastest);
            z.Write(content);
        }
        else
        {
            file.Write(content);
        }
    }

    /// <summary>
    /// Writes a dataset in the MNIST IDX layout (the four standard file names, <c>.gz</c> when
    /// <paramref name="gzip"/>) into <paramref name="directory"/> (created if needed), 10 classes.
    /// Returns the training and test examples written.
    /// </summary>
    public static (Examples Train, Examples Test) WriteMnistLayout(string directory, int trainCount, int testCount, int seed = 1, bool gzip = false, int rows = 28, int columns = 28)
    {
        Directory.CreateDirectory(directory);
        var train = Generate(trainCount, 1, rows, columns, MnistLayout.ClassCount, seed);
        var test = Generate(testCount, 1, rows, columns, MnistLayout.ClassCount, seed + 1);
        string ext = gzip ? ".gz" : "";
        var names = MnistLayout.StandardNames;
        WriteFile(Path.Combine(directory, names[0] + ext), IdxBytes([trainCount, rows, columns], train.Pixels), gzip);
        WriteFile(Path.Combine(directory, names[1] + ext), IdxBytes([trainCount], ToBytes(train.Labels)), gzip);
        WriteFile(Path.Combine(directory, names[2] + ext), IdxBytes([testCount, rows, columns], test.Pixels), gzip);
        WriteFile(Path.Combine(directory, names[3] + ext), IdxBytes([testCount], ToBytes(test.Labels)), gzip);
        return (train, test);
    }

    /// <summary>
    /// Writes CIFAR-10 binary files into <paramref name="directory"/> (created if needed):
    /// <c>data_batch_1.bin</c> … <c>data_batch_5.bin</c> with <paramref name="perTrainFile"/> records each
    /// and <c>test_batch.bin</c> with <paramref name="testCount"/>. Returns all training (in file order) and test examples.
    /// </summary>
    public static (Examples Train, Examples Test) WriteCifar10(string directory, int perTrainFile, int testCount, int seed = 1)
    {
        Directory.CreateDirectory(directory);
        var train = Generate(perTrainFile * 5, CifarReader.Channels, CifarReader.ImageSide, CifarReader.ImageSide, 10, seed);
        var test = Generate(testCount, CifarReader.Channels, CifarReader.ImageSide, CifarReader.ImageSide, 10, seed + 1);
        for (int f = 0; f < 5; f++)
            File.WriteAllBytes(Path.Combine(directory, CifarReader.Cifar10TrainFiles[f]), CifarRecords(train, f * perTrainFile, perTrainFile, hundred: false));
        File.WriteAllBytes(Path.Combine(directory, CifarReader.Cifar10TestFile), CifarRecords(test, 0, testCount, hundred: false));
        return (train, test);
    }

    /// <summary>
    /// Writes CIFAR-100 binary files <c>train.bin</c> and <c>test.bin</c> into <paramref name="directory"/>
    /// (created if needed); the coarse label written is fine label / 5. Returns the examples (fine labels).
    /// </summary>
    public static (Examples Train, Examples Test) WriteCifar100(string directory, int trainCount, int testCount, int seed = 1)
    {
        Directory.CreateDirectory(directory);
        var train = Generate(trainCount, CifarReader.Channels, CifarReader.ImageSide, CifarReader.ImageSide, 100, seed);
        var test = Generate(testCount, CifarReader.Channels, CifarReader.ImageSide, CifarReader.ImageSide, 100, seed + 1);
        File.WriteAllBytes(Path.Combine(directory, CifarReader.Cifar100TrainFile), CifarRecords(train, 0, trainCount, hundred: true));
        File.WriteAllBytes(Path.Combine(directory, CifarReader.Cifar100TestFile), CifarRecords(test, 0, testCount, hundred: true));
        return (train, test);
    }

    /// <summary>The CIFAR binary records (label byte(s) then 3072 pixel bytes) of examples [start, start + count).</summary>
    public static byte[] CifarRecords(Examples examples, int start, int count, bool hundred)
    {
        ArgumentNullException.ThrowIfNull(examples);
        int record = hundred ? CifarReader.Cifar100RecordSize : CifarReader.Cifar10RecordSize;
        var bytes = new byte[count * record];
        for (int i = 0; i < count; i++)
        {
            var r = bytes.AsSpan(i * record, record);
            int label = examples.Labels[start + i];
            if (hundred)
            {
                r[0] = (byte)(label / 5);
                r[1] = (byte)label;
            }
            else
            {
                r[0] = (byte)label;
            }
            examples.Pixels.AsSpan((start + i) * CifarReader.PixelBytes, CifarReader.PixelBytes).CopyTo(r[(record - CifarReader.PixelBytes)..]);
        }
        return bytes;
    }

    /// <summary>A new empty folder under the system temp folder, named with <paramref name="prefix"/>; the caller deletes it.</summary>
    public static string CreateTempDirectory(string prefix = "slimnet-data")
    {
        var dir = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static byte[] ToBytes(int[] labels)
    {
        var bytes = new byte[labels.Length];
        for (int i = 0; i < labels.Length; i++) bytes[i] = checked((byte)labels[i]);
        return bytes;
    }
}
