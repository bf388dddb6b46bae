using System.Diagnostics;
using SlimNet.Training.Data;
using TorchSharp;

namespace SlimNet.Training.Tests.Data;

// The loader makes TorchSharp tensors, and the flat-memory test measures the whole process's managed heap, which
// other test classes running in parallel would grow (it failed that way in CI): run with the torch collection,
// which runs alone.
[Collection("torch")]
public class DataLoaderTests
{
    private static Dataset Mnistish(int count, int seed = 1)
    {
        var ex = SyntheticData.Generate(count, 1, 28, 28, 10, seed);
        return new Dataset("mnistish", ex.Pixels, ex.Labels, 1, 28, 28, 10);
    }

    private static Dataset Cifarish(int count, int seed = 1)
    {
        var ex = SyntheticData.Generate(count, 3, 32, 32, 10, seed);
        return new Dataset("cifarish", ex.Pixels, ex.Labels, 3, 32, 32, 10);
    }

    private static List<(float[] X, long[] Y)> Epoch(DataLoader loader, int epoch, int firstBatch = 0)
    {
        var result = new List<(float[], long[])>();
        foreach (var b in loader.Batches(epoch, firstBatch))
        {
            using (b)
                result.Add((b.X.data<float>().ToArray(), b.Y.data<long>().ToArray()));
        }
        return result;
    }

    [Fact]
    public void BatchesHaveShapesTypesAndNormalisedValues()
    {
        var data = Mnistish(70);
        var norm = ChannelNormalization.Mnist;
        var loader = new DataLoader(data, 32, shuffle: false, seed: 1, norm);
        Assert.Equal(3, loader.BatchesPerEpoch);
        var sizes = new List<int>();
        foreach (var b in loader.Batches(0))
        {
            using (b)
            {
                Assert.Equal(torch.ScalarType.Float32, b.X.dtype);
                Assert.Equal(torch.ScalarType.Int64, b.Y.dtype);
                Assert.Equal(new long[] { b.Count, 1, 28, 28 }, b.X.shape);
                Assert.Equal(new long[] { b.Count }, b.Y.shape);
                sizes.Add(b.Count);
                var x = b.X.data<float>().ToArray();
                var y = b.Y.data<long>().ToArray();
                for (int k = 0; k < b.Count; k++)
                {
                    int index = b.Index * 32 + k; // unshuffled: storage order
                    Assert.Equal(data.Label(index), y[k]);
                    var img = data.Image(index);
                    for (int p = 0; p < 784; p += 13)
                        Assert.Equal((img[p] / 255f - 0.1307f) / 0.3081f, x[k * 784 + p], 5);
                }
            }
        }
        Assert.Equal([32, 32, 6], sizes); // last partial batch kept
    }

    [Fact]
    public void SameSeedSameBatchesAndEveryExampleOncePerEpoch()
    {
        var data = Mnistish(100);
        var a = new DataLoader(data, 16, shuffle: true, seed: 42, ChannelNormalization.Mnist);
        var b = new DataLoader(data, 16, shuffle: true, seed: 42, ChannelNormalization.Mnist);
        var c = new DataLoader(data, 16, shuffle: true, seed: 43, ChannelNormalization.Mnist);

        var orderA0 = a.EpochOrder(0);
        Assert.Equal(orderA0, b.EpochOrder(0));
        Assert.NotEqual(orderA0, a.EpochOrder(1));
        Assert.NotEqual(orderA0, c.EpochOrder(0));
        Assert.NotEqual(Enumerable.Range(0, 100).ToArray(), orderA0);
        Assert.Equal(Enumerable.Range(0, 100), orderA0.Order());

        var ea = Epoch(a, 0);
        var eb = Epoch(b, 0);
        Assert.Equal(ea.Count, eb.Count);
        for (int i = 0; i < ea.Count; i++)
        {
            Assert.Equal(ea[i].X, eb[i].X);
            Assert.Equal(ea[i].Y, eb[i].Y);
        }
        var labels = ea.SelectMany(t => t.Y).ToArray();
        Assert.Equal(orderA0.Select(i => (long)data.Label(i)), labels);
    }

    [Fact]
    public void ResumingAtAnEpochOrBatchReproducesTheBatches()
    {
        var data = Cifarish(40);
        var first = new DataLoader(data, 8, shuffle: true, seed: 7, ChannelNormalization.Cifar10, CifarAugmentation.Standard);
        _ = Epoch(first, 0);
        var epoch1 = Epoch(first, 1);

        var resumed = new DataLoader(data, 8, shuffle: true, seed: 7, ChannelNormalization.Cifar10, CifarAugmentation.Standard);
        var again = Epoch(resumed, 1);
        var tail = Epoch(resumed, 1, firstBatch: 3);
        Assert.Equal(epoch1.Count, again.Count);
        for (int i = 0; i < epoch1.Count; i++)
        {
            Assert.Equal(epoch1[i].X, again[i].X);
            Assert.Equal(epoch1[i].Y, again[i].Y);
        }
        Assert.Equal(2, tail.Count);
        Assert.Equal(epoch1[3].X, tail[0].X);
        Assert.Equal(epoch1[4].Y, tail[1].Y);
    }

    [Fact]
    public void AugmentationKeepsShapeIsSeededAndVariesAcrossEpochs()
    {
        var data = Cifarish(12);
        var plain = new DataLoader(data, 12, shuffle: false, seed: 3, ChannelNormalization.Cifar10);
        var aug = new DataLoader(data, 12, shuffle: false, seed: 3, ChannelNormalization.Cifar10, CifarAugmentation.Standard);
        var aug2 = new DataLoader(data, 12, shuffle: false, seed: 3, ChannelNormalization.Cifar10, CifarAugmentation.Standard);
        var p = Epoch(plain, 0).Single();
        var a0 = Epoch(aug, 0).Single();
        var a1 = Epoch(aug, 1).Single();
        Assert.Equal(12 * 3 * 32 * 32, a0.X.Length);
        Assert.Equal(p.Y, a0.Y);
        Assert.NotEqual(p.X, a0.X);
        Assert.NotEqual(a0.X, a1.X);
        Assert.Equal(a0.X, Epoch(aug2, 0).Single().X);

        // Every augmented image is one of the (2·4+1)² crops × 2 flips of its source.
        var table = ChannelNormalization.Cifar10.BuildLookupTable();
        var scratch = new byte[3 * 32 * 32];
        for (int k = 0; k < 12; k++)
        {
            var got = a0.X.AsSpan(k * scratch.Length, scratch.Length).ToArray();
            bool found = false;
            for (int oy = 0; oy < 9 && !found; oy++)
                for (int ox = 0; ox < 9 && !found; ox++)
                    foreach (var flip in new[] { false, true })
                    {
                        CifarAugmentation.Standard.Apply(data.Image(k), scratch, 3, 32, 32, oy, ox, flip);
                        if (Enumerable.Range(0, scratch.Length).All(i => table[(i / 1024) * 256 + scratch[i]] == got[i])) { found = true; break; }
                    }
            Assert.True(found, $"example {k} is not a padded crop/flip of its source");
        }
    }

    [Fact]
    public void ApplyCropsWithZeroPaddingAndFlips()
    {
        // One channel 4×4 image with values 1..16, padding 1.
        var aug = new CifarAugmentation(Padding: 1);
        var src = Enumerable.Range(1, 16).Select(i => (byte)i).ToArray();
        var dst = new byte[16];
        aug.Apply(src, dst, 1, 4, 4, offsetY: 1, offsetX: 1, flip: false);
        Assert.Equal(src, dst); // centre crop is the identity
        aug.Apply(src, dst, 1, 4, 4, offsetY: 0, offsetX: 0, flip: false);
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11 }, dst);
        aug.Apply(src, dst, 1, 4, 4, offsetY: 2, offsetX: 1, flip: true);
        Assert.Equal(new byte[] { 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 0, 0, 0, 0 }, dst);
    }

    [Fact]
    public void LimitedDatasetServesOnlyTheFirstExamples()
    {
        var data = Mnistish(50);
        var limited = data.Take(10);
        var loader = new DataLoader(limited, 4, shuffle: true, seed: 1, ChannelNormalization.Mnist);
        Assert.Equal(3, loader.BatchesPerEpoch);
        Assert.Equal(Enumerable.Range(0, 10), loader.EpochOrder(0).Order());
        var labels = Epoch(loader, 0).SelectMany(t => t.Y).Order().ToArray();
        Assert.Equal(data.Labels[..10].ToArray().Select(l => (long)l).Order(), labels);
    }

    [Fact]
    public void ASecondEnumerationSupersedesTheFirst()
    {
        var loader = new DataLoader(Mnistish(20), 5, shuffle: true, seed: 1, ChannelNormalization.Mnist);
        using var first = loader.Batches(0).GetEnumerator();
        Assert.True(first.MoveNext());
        first.Current.Dispose();
        foreach (var b in loader.Batches(1)) b.Dispose();
        Assert.Throws<InvalidOperationException>(() => first.MoveNext());
    }

    [Fact]
    public void MismatchedNormalisationIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new DataLoader(Mnistish(5), 4, false, 1, ChannelNormalization.Cifar10));
        Assert.Contains("3 channels", e.Message);
    }

    [Fact]
    public void MemoryStaysFlatOverManyBatches()
    {
        var data = Cifarish(640);
        var loader = new DataLoader(data, 128, shuffle: true, seed: 9, ChannelNormalization.Cifar10, CifarAugmentation.Standard);
        int batchBytes = 128 * 3 * 32 * 32 * sizeof(float); // 1.5 MB per batch of inputs

        void Run(int epochs)
        {
            for (int e = 0; e < epochs; e++)
            {
                foreach (var b in loader.Batches(e))
                {
                    // Native tensors are created and freed per batch; the managed side must not grow.
                    using var scope = torch.NewDisposeScope();
                    using (b)
                    {
                        Assert.Equal(b.Count, b.Y.shape[0]);
                    }
                }
            }
        }

        Run(4); // warm up: JIT, native allocator pools
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        long managedBefore = GC.GetTotalMemory(forceFullCollection: true);
        long rssBefore = Process.GetCurrentProcess().WorkingSet64;
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();

        const int epochs = 40; // 200 batches
        Run(epochs);

        long allocatedPerBatch = (GC.GetAllocatedBytesForCurrentThread() - allocatedBefore) / (epochs * loader.BatchesPerEpoch);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        long managedGrowth = GC.GetTotalMemory(forceFullCollection: true) - managedBefore;
        long rssGrowth = Process.GetCurrentProcess().WorkingSet64 - rssBefore;

        Assert.True(allocatedPerBatch < 8 * 1024, $"{allocatedPerBatch} managed bytes allocated per batch (a batch of inputs is {batchBytes})");
        Assert.True(managedGrowth < 2L << 20, $"managed heap grew by {managedGrowth} bytes over {epochs * loader.BatchesPerEpoch} batches");
        Assert.True(rssGrowth < 64L << 20, $"process memory grew by {rssGrowth} bytes over {epochs * loader.BatchesPerEpoch} batches");
    }
}
