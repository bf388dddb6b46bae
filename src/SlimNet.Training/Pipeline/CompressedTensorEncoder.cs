using SlimNet.Compression.Quantization;
using SlimNet.Compression.LqNets;
using SlimNet.Compression.Sharing;
using SlimNet.Format;
using SlimNet.Format.Graph;

namespace SlimNet.Training.Pipeline;

/// <summary>
/// Chooses the stored form of compressed parameters ("strip" then encode): a quantized parameter becomes bit planes,
/// fixed-point or codebook codes with its scales (<see cref="QuantizedWeights.StorageCandidates"/>), a weight-shared parameter becomes b-bit
/// codebook codes, a pruned one keeps float32 values of its nonzeros only; sparse tensors are stored as relative
/// gaps (Deep Compression, with filler zeros) or CSR, with Huffman-coded code and index streams. Among those
/// candidates (gap widths 2..10 bits, CSR) the one with the fewest bytes is taken, measured by the real writer.
/// </summary>
public static class CompressedTensorEncoder
{
    /// <summary>
    /// Encodes every parameter that is weight-shared or has zeros from pruning; others are left to the default exporter.
    /// </summary>
    /// <param name="graph">The network (for shapes).</param>
    /// <param name="values">Current parameter values by name (after the last stage; pruned weights are exactly 0).</param>
    /// <param name="shared">Weight-shared parameters by name.</param>
    /// <param name="pruned">Names of parameters that were pruned.</param>
    /// <param name="quantized">Parameters trained quantized (loss-aware stages): their codes and scales, stored in the
    /// smallest of <see cref="QuantizedWeights.StorageCandidates"/> (bit planes, fixed point or codebook, dense or sparse).
    /// They take precedence over weight sharing and pruning.</param>
    /// <param name="lq">LQ-Nets weights by name: stored as dense BitPlanes (K planes, ±1 codes, a K-float basis per
    /// output channel), the form the runtime's bit-operation kernel reads. Their decoded values must equal
    /// <paramref name="values"/> exactly.</param>
    /// <param name="fixedPoint">Fixed-point parameters (gradient-importance quantization) in any stored form; each is re-laid out
    /// (dense, CSR or relative gaps, Huffman-coded or not) and the smallest form kept, or plain float32 values when smaller.</param>
    public static Dictionary<string, SlimTensor> Encode(ModelGraph graph, IReadOnlyDictionary<string, float[]> values,
        IReadOnlyDictionary<string, SharedWeights> shared, IReadOnlyCollection<string> pruned,
        IReadOnlyDictionary<string, QuantizedWeights>? quantized = null, IReadOnlyDictionary<string, SlimTensor>? fixedPoint = null,
        IReadOnlyDictionary<string, LqQuantizedWeight>? lq = null)
    {
        var result = new Dictionary<string, SlimTensor>(StringComparer.Ordinal);
        foreach (var (name, shape) in GraphShapes.Parameters(graph))
        {
            if (lq is not null && lq.TryGetValue(name, out var q))
            {
                result[name] = BitPlanes(name, shape, q, values);
                continue;
            }
            if (quantized is not null && quantized.TryGetValue(name, out var qw))
            {
                if (!qw.Shape.SequenceEqual(shape))
                    throw new ArgumentException($"quantized '{name}' has shape [{string.Join(",", qw.Shape)}], the graph says [{string.Join(",", shape)}]", nameof(quantized));
                result[name] = Smallest(graph, qw.StorageCandidates());
                continue;
            }
            if (fixedPoint is not null && fixedPoint.TryGetValue(name, out var fp))
                result[name] = Smallest(graph, fp.ElementCount > SmallTensor ? FixedPointCandidates(name, shape, fp)
                    : FixedPointCandidates(name, shape, fp).Concat(SparseIfZeros(Float32Candidates(name, shape, fp.ToDense()), fp)));
            // A shared tensor's values can also be stored as plain floats (exactly the same values): for a tiny
            // tensor such as a 10-element bias that beats a codebook of 2^b floats.
            else if (shared.TryGetValue(name, out var sw))
                result[name] = Smallest(graph, CodebookCandidates(name, shape, sw).Concat(Float32Candidates(name, shape, sw.ToDense())));
            else if (pruned.Contains(name) && values.TryGetValue(name, out var v) && v.Any(x => x == 0f))
                result[name] = Smallest(graph, Float32Candidates(name, shape, v));
        }
        return result;
    }

    private static SlimTensor BitPlanes(string name, int[] shape, LqQuantizedWeight q, IReadOnlyDictionary<string, float[]> values)
    {
        if (!q.Shape.AsSpan().SequenceEqual(shape))
            throw new ArgumentException($"LQ weight '{name}' has shape [{string.Join(", ", q.Shape)}], the graph needs [{string.Join(", ", shape)}]");
        var tensor = SlimTensor.BitPlanes(name, shape, q.Codes, q.Basis, q.Bits, BitPlaneMode.PlusMinusOne);
        // The stored form must be the network that was evaluated: the parameters hold exactly the decoded levels.
        if (values.TryGetValue(name, out var v))
        {
            float[] decoded = tensor.ToDense();
            int bad = Enumerable.Range(0, decoded.Length).FirstOrDefault(i => decoded[i] != v[i], -1);
            if (bad >= 0)
                throw new InvalidOperationException($"LQ weight '{name}' decodes to {decoded[bad]} at {bad} but the model holds {v[bad]}");
        }
        return tensor;
    }

    private static IEnumerable<SlimTensor> CodebookCandidates(string name, int[] shape, SharedWeights sw)
    {
        long count = shape.Aggregate(1L, (a, d) => a * d);
        bool hasZeros = sw.Positions.Length < count;
        int bits = sw.Bits;
        int needed = sw.Codebook.Length + (hasZeros ? 1 : 0);
        while ((1 << bits) < needed) bits++;
        var codebook = new float[1 << bits];
        sw.Codebook.CopyTo(codebook, 0);
        // Entries past the centroids are 0; when the layer has zeros the last entry is the code for 0.
        ushort zeroCode = (ushort)((1 << bits) - 1);
        var codes = new ushort[count];
        if (hasZeros) Array.Fill(codes, zeroCode);
        for (int i = 0; i < sw.Positions.Length; i++) codes[sw.Positions[i]] = sw.Codes[i];
        if (!hasZeros)
        {
            yield return SlimTensor.Codebook(name, shape, codes, codebook, bits, huffman: HuffmanStreams.Codes);
            yield return SlimTensor.Codebook(name, shape, codes, codebook, bits);
            yield break;
        }
        foreach (var huff in new[] { HuffmanStreams.Codes | HuffmanStreams.Indices, HuffmanStreams.None })
        {
            for (int gap = 2; gap <= 10; gap++)
                yield return SlimTensor.Codebook(name, shape, codes, codebook, bits, SparseLayout.RelativeGaps, gap, huff);
            yield return SlimTensor.Codebook(name, shape, codes, codebook, bits, SparseLayout.Csr, huffman: huff | HuffmanStreams.RowPointers);
        }
    }

    // Float32 values beat fixed-point codes only for tiny tensors (a code stream's header and scale cost more than a few floats).
    private const int SmallTensor = 4096;

    private static IEnumerable<SlimTensor> FixedPointCandidates(string name, int[] shape, SlimTensor fp)
    {
        if (fp.Encoding != ValueEncoding.FixedPoint) throw new ArgumentException($"tensor '{name}' is not fixed point", nameof(fp));
        var codes = new short[fp.ElementCount];
        var stored = fp.FixedPointCodes!;
        var positions = fp.StoredPositions();
        for (int k = 0; k < positions.Length; k++) codes[positions[k]] = stored[k];
        var scales = fp.Scales!;
        int bits = fp.Bits;
        // Width-0 (pruned) elements are never stored: a tensor given in a sparse layout stays sparse. Zeros that are
        // rounding results of a nonzero width may be stored densely when that is smaller.
        if (fp.Sparsity == SparseLayout.Dense)
        {
            yield return SlimTensor.FixedPoint(name, shape, codes, scales, bits, fp.FixedPointMode);
            yield return SlimTensor.FixedPoint(name, shape, codes, scales, bits, fp.FixedPointMode, huffman: HuffmanStreams.Codes);
        }
        if (!codes.Any(c => c == 0)) yield break;
        // Tensors above a million elements (CIFAR models) skip the plain relative gaps, which practically never beat the
        // Huffman-coded ones, to keep the encoding time down.
        var variants = fp.ElementCount > 1 << 20
            ? new[] { HuffmanStreams.Codes | HuffmanStreams.Indices }
            : new[] { HuffmanStreams.Codes | HuffmanStreams.Indices, HuffmanStreams.None };
        foreach (var huff in variants)
            for (int gap = 2; gap <= 10; gap++)
                yield return SlimTensor.FixedPoint(name, shape, codes, scales, bits, fp.FixedPointMode, SparseLayout.RelativeGaps, gap, huff);
        yield return SlimTensor.FixedPoint(name, shape, codes, scales, bits, fp.FixedPointMode, SparseLayout.Csr);
        if (CanHuffmanCsr(shape))
            yield return SlimTensor.FixedPoint(name, shape, codes, scales, bits, fp.FixedPointMode, SparseLayout.Csr,
                huffman: HuffmanStreams.Codes | HuffmanStreams.Indices | HuffmanStreams.RowPointers);
    }

    // Float32 forms of a fixed-point tensor (smaller for tiny biases) keep its pruned elements out of storage too.
    private static IEnumerable<SlimTensor> SparseIfZeros(IEnumerable<SlimTensor> candidates, SlimTensor fp) =>
        fp.Sparsity != SparseLayout.Dense ? candidates.Where(t => t.Sparsity != SparseLayout.Dense) : candidates;

    private static bool CanHuffmanCsr(int[] shape) => shape.Skip(1).Aggregate(1L, (a, d) => a * d) < 65_536;

    private static IEnumerable<SlimTensor> Float32Candidates(string name, int[] shape, float[] v)
    {
        yield return SlimTensor.Dense(name, shape, v);
        for (int gap = 2; gap <= 10; gap++)
            yield return SlimTensor.Dense(name, shape, v, SparseLayout.RelativeGaps, gap, HuffmanStreams.Indices);
        yield return SlimTensor.Dense(name, shape, v, SparseLayout.Csr, huffman: HuffmanStreams.Indices | HuffmanStreams.RowPointers);
    }

    private static SlimTensor Smallest(ModelGraph graph, IEnumerable<SlimTensor> candidates)
    {
        SlimTensor? best = null;
        long bestBytes = long.MaxValue;
        foreach (var t in candidates)
        {
            long bytes = SlimWriter.ToBytes(new SlimModel(graph, new[] { t })).LongLength;
            if (bytes < bestBytes) { best = t; bestBytes = bytes; }
        }
        return best ?? throw new InvalidOperationException("no candidate encoding");
    }
}
