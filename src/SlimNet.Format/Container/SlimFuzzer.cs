using System.Buffers.Binary;
using System.Diagnostics;
using SlimNet.Format.Codecs;
using SlimNet.Format.Graph;

namespace SlimNet.Format;

/// <summary>Outcome of a <see cref="SlimFuzzer"/> run.</summary>
/// <param name="Cases">Cases run.</param>
/// <param name="Ok">Cases that read successfully (and decoded).</param>
/// <param name="Rejected">Cases rejected with a <see cref="SlimFormatException"/>.</param>
/// <param name="Crashed">Cases that threw any other exception (failures).</param>
/// <param name="Slow">Cases that took longer than <see cref="SlimFuzzer.SlowCase"/> (failures).</param>
/// <param name="Failures">Descriptions of the first failures (at most 20).</param>
public sealed record FuzzResult(int Cases, int Ok, int Rejected, int Crashed, int Slow, IReadOnlyList<string> Failures)
{
    /// <summary>True when no case crashed or was slow.</summary>
    public bool Passed => Crashed == 0 && Slow == 0;
}

/// <summary>
/// Robustness harness for <see cref="SlimReader"/>: builds small valid files covering every encoding, mutates
/// them (bit flips, random bytes, truncation at every offset, huge values in count fields, broken checksums,
/// and the same mutations with checksums repaired so that the parser behind the checksum is reached) and
/// reads each. A case must either read (then it is fully decoded) or throw <see cref="SlimFormatException"/>.
/// </summary>
public static class SlimFuzzer
{
    /// <summary>A case that takes longer than this counts as slow.</summary>
    public static readonly TimeSpan SlowCase = TimeSpan.FromSeconds(1);

    private const int MaxFailures = 20;

    /// <summary>Runs <paramref name="cases"/> cases from seed <paramref name="seed"/>; reports the number done to <paramref name="progress"/> every 100 cases.</summary>
    public static FuzzResult Run(int cases, int seed, IProgress<int>? progress = null)
    {
        var rng = new Random(seed);
        byte[][] seeds = BuildSeeds(seed);
        int ok = 0, rejected = 0, crashed = 0, slow = 0;
        var failures = new List<string>();
        int truncSeed = 0, truncOffset = 0;
        for (int i = 0; i < cases; i++)
        {
            byte[] data;
            string what;
            int kind = i % 8;
            if (kind == 0)
            {
                // Truncations walk every offset of every seed file in turn.
                byte[] s = seeds[truncSeed];
                data = s.AsSpan(0, truncOffset).ToArray();
                what = $"seed {truncSeed} cut at {truncOffset}";
                if (++truncOffset >= s.Length) { truncOffset = 0; truncSeed = (truncSeed + 1) % seeds.Length; }
            }
            else
            {
                int si = rng.Next(seeds.Length);
                data = (byte[])seeds[si].Clone();
                what = Mutate(rng, data, kind, out string desc);
                what = $"seed {si} {desc}";
            }
            var sw = Stopwatch.StartNew();
            string? failure = null;
            try
            {
                var model = SlimReader.Read(data);
                foreach (var t in model.Tensors)
                    if (t.ElementCount <= 1 << 20) t.ToDense();
                _ = SlimSizeReport.FromBytes(data);
                ok++;
            }
            catch (SlimFormatException)
            {
                rejected++;
            }
            catch (Exception e)
            {
                crashed++;
                failure = $"case {i} ({what}): {e.GetType().Name}: {e.Message}";
            }
            sw.Stop();
            if (sw.Elapsed > SlowCase)
            {
                slow++;
                failure ??= $"case {i} ({what}): took {sw.Elapsed.TotalMilliseconds:F0} ms";
            }
            if (failure != null && failures.Count < MaxFailures) failures.Add(failure);
            if (progress != null && (i + 1) % 100 == 0) progress.Report(i + 1);
        }
        progress?.Report(cases);
        return new FuzzResult(cases, ok, rejected, crashed, slow, failures);
    }

    private static string Mutate(Random rng, byte[] data, int kind, out string desc)
    {
        switch (kind)
        {
            case 1:
            {
                int flips = rng.Next(1, 4);
                for (int f = 0; f < flips; f++) data[rng.Next(data.Length)] ^= (byte)(1 << rng.Next(8));
                desc = $"{flips} bit flips";
                break;
            }
            case 2:
            {
                int at = rng.Next(data.Length), n = Math.Min(rng.Next(1, 9), data.Length - at);
                rng.NextBytes(data.AsSpan(at, n));
                desc = $"{n} random bytes at {at}";
                break;
            }
            case 3:
            {
                int at = rng.Next(data.Length);
                data[at] ^= (byte)(1 << rng.Next(8));
                desc = $"checksum broken by a flip at {at}";
                break;
            }
            case 4 or 5:
            {
                int flips = rng.Next(1, 3);
                for (int f = 0; f < flips; f++)
                {
                    int at = rng.Next(SlimLayout.FileHeaderSize, data.Length);
                    data[at] ^= (byte)(1 << rng.Next(8));
                }
                RepairChecksums(data);
                desc = $"{flips} bit flips, checksums repaired";
                break;
            }
            case 6:
            {
                int at = rng.Next(SlimLayout.FileHeaderSize, Math.Max(SlimLayout.FileHeaderSize + 1, data.Length - 4));
                if (at + 4 <= data.Length)
                {
                    uint v = rng.Next(4) switch { 0 => uint.MaxValue, 1 => 0x7FFFFFFF, 2 => 0x80000000, _ => (uint)rng.Next(1 << 16, int.MaxValue) };
                    BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(at), v);
                }
                RepairChecksums(data);
                desc = $"huge u32 at {at}, checksums repaired";
                break;
            }
            default:
            {
                int at = rng.Next(SlimLayout.FileHeaderSize, data.Length);
                data[at] = (byte)(rng.Next(2) == 0 ? rng.Next(256) : rng.Next(4) switch { 0 => 0, 1 => 0xFF, 2 => 1, _ => 0x80 });
                RepairChecksums(data);
                desc = $"byte {data[at]} at {at}, checksums repaired";
                break;
            }
        }
        return desc;
    }

    /// <summary>Recomputes the header and every section checksum that the framing still lets it find.</summary>
    private static void RepairChecksums(byte[] data)
    {
        if (data.Length < SlimLayout.FileHeaderSize) return;
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(12), Crc32.Compute(data.AsSpan(0, 12)));
        long pos = SlimLayout.FileHeaderSize;
        while (pos + 12 <= data.Length)
        {
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan((int)pos + 4));
            long end = pos + 8 + len;
            if (end + 4 > data.Length) return;
            BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan((int)end), Crc32.Compute(data.AsSpan((int)pos, (int)(8 + len))));
            pos = end + 4;
        }
    }

    /// <summary>Small valid files: every layout × encoding × Huffman, odd shapes, empty and one-element tensors.</summary>
    private static byte[][] BuildSeeds(int seed)
    {
        var rng = new Random(seed);
        var g = new GraphBuilder("fuzz", 2, 5, 5);
        g.Conv2d("conv", 2, 3, 3);
        g.ReLU("relu");
        g.Flatten("flat");
        g.Linear("fc", 27, 4);
        var graph = g.Build();
        var files = new List<byte[]>();
        SparseLayout[] layouts = [SparseLayout.Dense, SparseLayout.Csr, SparseLayout.RelativeGaps];
        ValueEncoding[] encodings = [ValueEncoding.Float32, ValueEncoding.Float16, ValueEncoding.FixedPoint, ValueEncoding.Codebook, ValueEncoding.BitPlanes];
        foreach (var enc in encodings)
        {
            var tensors = new List<SlimTensor>();
            foreach (var layout in layouts)
                foreach (bool huff in new[] { false, true })
                    tensors.Add(RandomTensor(rng, $"t{tensors.Count}.weight", rng.Next(2) == 0 ? [3, 2, 3, 3] : [4, 27], layout, enc, huff));
            tensors.Add(RandomTensor(rng, "one.bias", [1], SparseLayout.Dense, enc, false));
            tensors.Add(RandomTensor(rng, "empty.bias", [0], SparseLayout.Csr, enc, false));
            var meta = new Dictionary<string, string> { ["method"] = "fuzz", ["encoding"] = enc.ToString() };
            files.Add(SlimWriter.ToBytes(new SlimModel(graph, tensors, meta)));
        }
        // A recurrent graph: a layer-normalized LSTM with 2-bit fixed-point weights and a Linear decoder, so that
        // mutations reach the Lstm node's fields (normalization id, sizes, bias flag, epsilon).
        var lg = new GraphBuilder("fuzz-lstm", 5);
        lg.Lstm("lstm", 5, 3, LstmNormalization.Layer);
        lg.Linear("decoder", 3, 5);
        var lstmGraph = lg.Build();
        var lstmTensors = GraphShapes.Parameters(lstmGraph).Select(p => p.Name.EndsWith("weight_ih", StringComparison.Ordinal) || p.Name.EndsWith("weight_hh", StringComparison.Ordinal)
            ? RandomTensor(rng, p.Name, p.Shape, SparseLayout.Dense, ValueEncoding.FixedPoint, false)
            : RandomTensor(rng, p.Name, p.Shape, SparseLayout.Dense, ValueEncoding.Float32, false)).ToList();
        files.Add(SlimWriter.ToBytes(new SlimModel(lstmGraph, lstmTensors, new Dictionary<string, string> { ["method"] = "fuzz-lstm" })));
        return files.ToArray();
    }

    private static SlimTensor RandomTensor(Random rng, string name, int[] shape, SparseLayout layout, ValueEncoding enc, bool huffman)
    {
        int n = 1;
        foreach (int d in shape) n *= d;
        int rows = shape[0];
        int gap = rng.Next(1, 5);
        var h = HuffmanStreams.None;
        if (huffman)
        {
            if (enc is ValueEncoding.Float16 or ValueEncoding.FixedPoint or ValueEncoding.Codebook) h |= HuffmanStreams.Codes;
            if (layout != SparseLayout.Dense) h |= HuffmanStreams.Indices;
            if (layout == SparseLayout.Csr) h |= HuffmanStreams.RowPointers;
        }
        bool Keep() => rng.Next(3) == 0;
        switch (enc)
        {
            case ValueEncoding.Float32:
            case ValueEncoding.Float16:
            {
                var v = new float[n];
                for (int i = 0; i < n; i++) v[i] = Keep() ? (float)(rng.NextDouble() - 0.5) : 0f;
                return enc == ValueEncoding.Float32 ? SlimTensor.Dense(name, shape, v, layout, gap, h) : SlimTensor.Float16(name, shape, v, layout, gap, h);
            }
            case ValueEncoding.FixedPoint:
            {
                int m = rng.Next(1, 17);
                var q = new short[n];
                for (int i = 0; i < n; i++) q[i] = Keep() ? (short)rng.Next(-(1 << (m - 1)), 1 << (m - 1)) : (short)0;
                var scales = new float[rows > 0 && rng.Next(2) == 0 ? rows : 1];
                for (int i = 0; i < scales.Length; i++) scales[i] = 0.01f * (i + 1);
                return SlimTensor.FixedPoint(name, shape, q, scales, m, (FixedPointMode)rng.Next(2), layout, gap, h);
            }
            case ValueEncoding.Codebook:
            {
                int b = rng.Next(1, 6);
                var book = new float[1 << b];
                for (int i = 1; i < book.Length; i++) book[i] = i * 0.125f;
                var c = new ushort[n];
                for (int i = 0; i < n; i++) c[i] = (ushort)(Keep() ? rng.Next(1 << b) : 0);
                return SlimTensor.Codebook(name, shape, c, book, b, layout, gap, h);
            }
            default:
            {
                int k = rng.Next(1, 4);
                var basis = new float[rows * k];
                for (int i = 0; i < basis.Length; i++) basis[i] = 0.5f * (i % k + 1);
                var c = new ushort[n];
                for (int i = 0; i < n; i++) c[i] = (ushort)(Keep() ? rng.Next(1 << k) : 0);
                return SlimTensor.BitPlanes(name, shape, c, basis, k, (BitPlaneMode)rng.Next(2), layout, gap, h);
            }
        }
    }
}
