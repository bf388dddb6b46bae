namespace SlimNet.Training.Data;

/// <summary>
/// An in-memory image classification dataset (a definition: immutable). Pixels are unsigned bytes
/// (0..255) stored example after example, each example in CHW order (channel, row, column); labels are
/// class indices in [0, <see cref="ClassCount"/>).
/// </summary>
/// <remarks>
/// <see cref="Take"/> returns a view that shares the storage, so <c>--limit N</c> costs nothing.
/// </remarks>
public sealed class Dataset
{
    private readonly byte[] _pixels;
    private readonly int[] _labels;
    private readonly int _count;

    /// <summary>
    /// Creates a dataset over <paramref name="pixels"/> (N×C×H×W bytes, CHW per example) and
    /// <paramref name="labels"/> (N class indices). The arrays are kept, not copied; do not change them afterwards.
    /// </summary>
    /// <exception cref="DatasetException">The lengths disagree with the shape, or a label is out of range.</exception>
    public Dataset(string name, byte[] pixels, int[] labels, int channels, int height, int width, int classCount)
        : this(name, pixels, labels, labels?.Length ?? 0, channels, height, width, classCount, validate: true)
    {
    }

    private Dataset(string name, byte[] pixels, int[] labels, int count, int channels, int height, int width, int classCount, bool validate)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        if (channels <= 0 || height <= 0 || width <= 0)
            throw new DatasetException($"{name}: image shape {channels}×{height}×{width} must be positive");
        if (classCount <= 0)
            throw new DatasetException($"{name}: class count {classCount} must be positive");
        Name = name;
        _pixels = pixels;
        _labels = labels;
        _count = count;
        Channels = channels;
        Height = height;
        Width = width;
        ClassCount = classCount;
        if (!validate) return;
        long expected = (long)labels.Length * ExampleSize;
        if (pixels.LongLength != expected)
            throw new DatasetException($"{name}: {labels.Length} labels need {labels.Length}×{channels}×{height}×{width} = {expected} pixel bytes, have {pixels.LongLength}");
        for (int i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] >= (uint)classCount)
                throw new DatasetException($"{name}: label {labels[i]} of example {i} is outside 0..{classCount - 1}");
        }
    }

    /// <summary>A short name for messages and reports, e.g. <c>mnist/train</c>.</summary>
    public string Name { get; }

    /// <summary>Number of examples.</summary>
    public int Count => _count;

    /// <summary>Channels per image (1 for MNIST, 3 for CIFAR).</summary>
    public int Channels { get; }

    /// <summary>Image height in pixels.</summary>
    public int Height { get; }

    /// <summary>Image width in pixels.</summary>
    public int Width { get; }

    /// <summary>Number of classes; labels lie in [0, ClassCount).</summary>
    public int ClassCount { get; }

    /// <summary>Bytes per example: Channels × Height × Width.</summary>
    public int ExampleSize => Channels * Height * Width;

    /// <summary>The shape of one example as [C, H, W].</summary>
    public int[] Shape => new[] { Channels, Height, Width };

    /// <summary>All pixels (Count × C × H × W bytes, CHW per example).</summary>
    public ReadOnlySpan<byte> Pixels => _pixels.AsSpan(0, _count * ExampleSize);

    /// <summary>All labels (Count class indices).</summary>
    public ReadOnlySpan<int> Labels => _labels.AsSpan(0, _count);

    /// <summary>The pixels of example <paramref name="index"/> (C × H × W bytes, CHW).</summary>
    public ReadOnlySpan<byte> Image(int index)
    {
        if ((uint)index >= (uint)_count) throw new ArgumentOutOfRangeException(nameof(index));
        return _pixels.AsSpan(index * ExampleSize, ExampleSize);
    }

    /// <summary>The label of example <paramref name="index"/>.</summary>
    public int Label(int index)
    {
        if ((uint)index >= (uint)_count) throw new ArgumentOutOfRangeException(nameof(index));
        return _labels[index];
    }

    /// <summary>
    /// The first <paramref name="limit"/> examples (for <c>--limit N</c>), sharing storage with this
    /// dataset. A limit at or above <see cref="Count"/> returns this dataset.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="limit"/> is not positive.</exception>
    public Dataset Take(int limit)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        if (limit >= _count) return this;
        return new Dataset(Name, _pixels, _labels, limit, Channels, Height, Width, ClassCount, validate: false);
    }

    /// <summary>
    /// Per-channel mean and standard deviation of the pixels scaled to [0, 1], computed over every
    /// example of this dataset (use the training split). Exact (integer histograms), so cheap and
    /// independent of summation order.
    /// </summary>
    public ChannelNormalization ComputeNormalization()
    {
        var mean = new float[Channels];
        var std = new float[Channels];
        int plane = Height * Width;
        var histogram = new long[256];
        for (int c = 0; c < Channels; c++)
        {
            Array.Clear(histogram);
            for (int i = 0; i < _count; i++)
            {
                var p = _pixels.AsSpan(i * ExampleSize + c * plane, plane);
                foreach (byte b in p) histogram[b]++;
            }
            double n = (double)_count * plane, s = 0, s2 = 0;
            for (int v = 0; v < 256; v++)
            {
                double x = v / 255.0;
                s += histogram[v] * x;
                s2 += histogram[v] * x * x;
            }
            double m = n > 0 ? s / n : 0;
            double variance = n > 0 ? Math.Max(0, s2 / n - m * m) : 0;
            mean[c] = (float)m;
            std[c] = variance > 0 ? (float)Math.Sqrt(variance) : 1f;
        }
        return new ChannelNormalization(mean, std);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name}: {Count} × {Channels}×{Height}×{Width}, {ClassCount} classes";
}
