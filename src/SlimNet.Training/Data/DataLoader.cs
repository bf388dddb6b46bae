using TorchSharp;

namespace SlimNet.Training.Data;

/// <summary>
/// Turns a <see cref="Dataset"/> into minibatches of TorchSharp tensors (a session: it owns reusable
/// buffers). Each batch has inputs float32 [B, C, H, W], normalised per channel, and targets int64 [B].
/// </summary>
/// <remarks>
/// <para>Order: with shuffling, epoch <c>e</c> visits the examples in a permutation drawn from a seed
/// derived from (<see cref="Seed"/>, e); without, in storage order. Augmentation choices for batch
/// <c>b</c> of epoch <c>e</c> come from a seed derived from (<see cref="Seed"/>, e, b). So the same seed
/// gives the same batches, and resuming at an epoch (or batch) boundary reproduces them exactly.</para>
/// <para>The last, partial batch of an epoch is kept (B = Count mod BatchSize), so every example is seen
/// once per epoch; a model with batch-size-dependent layers should handle a small last batch.</para>
/// <para>Inputs stay NCHW; models that want flat vectors (MLPs) flatten themselves.</para>
/// <para>The pixels are gathered into managed buffers allocated once per loader, then copied into new
/// tensors, so a batch costs no managed allocation beyond the small tensor and batch objects. One
/// enumeration at a time: starting <see cref="Batches"/> again invalidates an earlier enumerator (the
/// tensors it already produced stay valid).</para>
/// </remarks>
public sealed class DataLoader
{
    private readonly int[] _order;
    private readonly float[] _inputs;
    private readonly long[] _targets;
    private readonly byte[] _scratch;
    private readonly float[] _lookup;
    private readonly long[] _fullShape;
    private readonly long[] _lastShape;
    private readonly long[] _fullTargetShape;
    private readonly long[] _lastTargetShape;
    private int _generation;

    /// <summary>Creates a loader over <paramref name="dataset"/>.</summary>
    /// <param name="dataset">The examples to serve.</param>
    /// <param name="batchSize">Examples per batch (the last batch of an epoch may be smaller).</param>
    /// <param name="shuffle">Visit examples in a fresh seeded permutation every epoch.</param>
    /// <param name="seed">Seed for shuffling and augmentation.</param>
    /// <param name="normalization">Per-channel normalisation; its channel count must match the dataset.</param>
    /// <param name="augmentation">Random crop and flip for training, or null for none (evaluation).</param>
    /// <exception cref="ArgumentException">Bad batch size, or normalisation for another channel count.</exception>
    public DataLoader(Dataset dataset, int batchSize, bool shuffle, long seed, ChannelNormalization normalization, CifarAugmentation? augmentation = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(normalization);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        if (normalization.Channels != dataset.Channels)
            throw new ArgumentException($"normalisation has {normalization.Channels} channels but {dataset.Name} has {dataset.Channels}", nameof(normalization));
        if (augmentation is not null && augmentation.Padding < 0)
            throw new ArgumentException($"augmentation padding {augmentation.Padding} must not be negative", nameof(augmentation));

        Dataset = dataset;
        BatchSize = Math.Min(batchSize, Math.Max(1, dataset.Count));
        Shuffle = shuffle;
        Seed = seed;
        Normalization = normalization;
        Augmentation = augmentation;

        _order = new int[dataset.Count];
        _inputs = new float[BatchSize * dataset.ExampleSize];
        _targets = new long[BatchSize];
        _scratch = new byte[dataset.ExampleSize];
        _lookup = normalization.BuildLookupTable();
        int last = dataset.Count % BatchSize == 0 ? BatchSize : dataset.Count % BatchSize;
        _fullShape = [BatchSize, dataset.Channels, dataset.Height, dataset.Width];
        _lastShape = [last, dataset.Channels, dataset.Height, dataset.Width];
        _fullTargetShape = [BatchSize];
        _lastTargetShape = [last];
    }

    /// <summary>The examples served.</summary>
    public Dataset Dataset { get; }

    /// <summary>Examples per batch (at most the dataset size).</summary>
    public int BatchSize { get; }

    /// <summary>Whether each epoch uses a fresh seeded permutation.</summary>
    public bool Shuffle { get; }

    /// <summary>Seed for shuffling and augmentation.</summary>
    public long Seed { get; }

    /// <summary>The per-channel normalisation applied to inputs.</summary>
    public ChannelNormalization Normalization { get; }

    /// <summary>The augmentation applied, or null.</summary>
    public CifarAugmentation? Augmentation { get; }

    /// <summary>Batches per epoch, counting the last partial batch.</summary>
    public int BatchesPerEpoch => (Dataset.Count + BatchSize - 1) / BatchSize;

    /// <summary>
    /// The order in which epoch <paramref name="epoch"/> visits the examples (indices into the dataset).
    /// Allocates; for inspection and tests.
    /// </summary>
    public int[] EpochOrder(int epoch)
    {
        var order = new int[Dataset.Count];
        FillOrder(order, epoch);
        return order;
    }

    /// <summary>
    /// The batches of epoch <paramref name="epoch"/>, from batch <paramref name="firstBatch"/> on (to
    /// resume inside an epoch). Each batch's tensors belong to the caller, who disposes them.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A negative epoch, or a first batch outside the epoch.</exception>
    public IEnumerable<Minibatch> Batches(int epoch, int firstBatch = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        if (firstBatch < 0 || firstBatch > BatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(firstBatch), $"first batch {firstBatch} is outside 0..{BatchesPerEpoch}");
        int generation = ++_generation;
        FillOrder(_order, epoch);
        return Enumerate(epoch, firstBatch, generation);
    }

    private IEnumerable<Minibatch> Enumerate(int epoch, int firstBatch, int generation)
    {
        for (int b = firstBatch; b < BatchesPerEpoch; b++)
        {
            if (generation != _generation)
                throw new InvalidOperationException("this DataLoader enumeration was superseded by a later call to Batches; use one enumeration at a time");
            yield return Build(epoch, b);
        }
    }

    private void FillOrder(int[] order, int epoch)
    {
        for (int i = 0; i < order.Length; i++) order[i] = i;
        if (!Shuffle) return;
        var rng = new SeededRandom(SeededRandom.Derive(Seed, epoch, 0));
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
    }

    private Minibatch Build(int epoch, int batch)
    {
        int start = batch * BatchSize;
        int count = Math.Min(BatchSize, Dataset.Count - start);
        int size = Dataset.ExampleSize;
        int plane = Dataset.Height * Dataset.Width;
        var rng = new SeededRandom(SeededRandom.Derive(Seed, epoch, 1 + (long)batch));
        var aug = Augmentation;

        for (int k = 0; k < count; k++)
        {
            int index = _order[start + k];
            _targets[k] = Dataset.Label(index);
            ReadOnlySpan<byte> pixels = Dataset.Image(index);
            if (aug is not null)
            {
                int oy = rng.NextInt(aug.OffsetChoices);
                int ox = rng.NextInt(aug.OffsetChoices);
                bool flip = aug.HorizontalFlip && rng.NextBool();
                aug.Apply(pixels, _scratch, Dataset.Channels, Dataset.Height, Dataset.Width, oy, ox, flip);
                pixels = _scratch;
            }
            var dst = _inputs.AsSpan(k * size, size);
            for (int c = 0; c < Dataset.Channels; c++)
            {
                ReadOnlySpan<float> table = _lookup.AsSpan(c * 256, 256);
                var src = pixels.Slice(c * plane, plane);
                var d = dst.Slice(c * plane, plane);
                for (int p = 0; p < plane; p++) d[p] = table[src[p]];
            }
        }

        bool full = count == BatchSize;
        torch.Tensor? x = null;
        try
        {
            x = torch.empty(full ? _fullShape : _lastShape, dtype: torch.ScalarType.Float32);
            CopyInto(x, _inputs.AsSpan(0, count * size));
            var y = torch.empty(full ? _fullTargetShape : _lastTargetShape, dtype: torch.ScalarType.Int64);
            CopyInto(y, _targets.AsSpan(0, count));
            return new Minibatch(x, y, batch, count);
        }
        catch
        {
            x?.Dispose();
            throw;
        }
    }

    private static void CopyInto<T>(torch.Tensor tensor, ReadOnlySpan<T> values) where T : unmanaged
    {
        // A fresh CPU tensor from torch.empty is contiguous and Tensor.bytes is a span over its storage:
        // write straight into it (torch.tensor(array) would clone the whole managed array per batch).
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(values).CopyTo(tensor.bytes);
    }
}
