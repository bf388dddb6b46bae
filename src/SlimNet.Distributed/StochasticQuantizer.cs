using System.Buffers.Binary;
using SlimNet.Format.Codecs;

namespace SlimNet.Distributed;

/// <summary>
/// Stochastic, unbiased m-bit quantization of a gradient, per bucket with a scale (METHODS.md, "Distributed
/// training"). For each bucket of values g (optionally clipped first to ±c·σ, σ = sqrt(mean g²)):
/// s = max|g|, n = 2^(m−1) − 1, x = g/s·n, k = ⌊x⌋ + [u &lt; x − ⌊x⌋] with u uniform in [0, 1), so E[k] = x and
/// E[s·k/n] = g (unbiased for the clipped values). Wire form of one tensor: the bucket scales (float32,
/// little-endian), then the codes k + n (0…2n) bit-packed LSB-first in m bits each (<see cref="BitPacker"/>).
/// The random stream is a SplitMix64 seeded by the caller (per rank, step and tensor), so encoding is deterministic.
/// </summary>
public static class StochasticQuantizer
{
    /// <summary>
    /// Quantizes <paramref name="values"/> into <paramref name="wire"/> (<see cref="GradientCodec.WireBytes"/> bytes)
    /// and, when <paramref name="dequantized"/> is not empty, writes the values the receiver will decode (for error
    /// feedback); they are bit-identical to <see cref="DecodeAdd"/> with weight 1 on zeros.
    /// </summary>
    public static void Encode(ReadOnlySpan<float> values, GradientCodec codec, ulong seed, Span<byte> wire, Span<float> dequantized = default)
    {
        if (!codec.IsQuantized) throw new ArgumentException("fp32 is not a quantizing codec", nameof(codec));
        if (wire.Length != codec.WireBytes(values.Length)) throw new ArgumentException($"wire holds {wire.Length} bytes, expected {codec.WireBytes(values.Length)}", nameof(wire));
        if (!dequantized.IsEmpty && dequantized.Length != values.Length) throw new ArgumentException("dequantized must be empty or as long as values", nameof(dequantized));
        int n = codec.Levels, bucket = codec.BucketSize;
        int buckets = (values.Length + bucket - 1) / bucket;
        var scales = wire[..(4 * buckets)];
        var codes = new uint[Math.Min(bucket, values.Length)];
        var packed = wire[(4 * buckets)..];
        packed.Clear();
        var rng = new SplitMix64(seed);
        int bitOffset = 0;
        for (int b = 0; b < buckets; b++)
        {
            var g = values.Slice(b * bucket, Math.Min(bucket, values.Length - b * bucket));
            float limit = float.PositiveInfinity;
            if (codec.ClipSigmas > 0)
            {
                double sumSq = 0;
                foreach (float v in g) sumSq += (double)v * v;
                limit = (float)(codec.ClipSigmas * Math.Sqrt(sumSq / g.Length));
            }
            float scale = 0;
            foreach (float v in g) scale = Math.Max(scale, Math.Min(Math.Abs(v), limit));
            if (!float.IsFinite(scale)) throw new ArgumentException("gradient holds a NaN or infinite value", nameof(values));
            BinaryPrimitives.WriteSingleLittleEndian(scales[(4 * b)..], scale);
            var c = codes.AsSpan(0, g.Length);
            if (scale == 0)
            {
                c.Fill((uint)n);
            }
            else
            {
                double toLevels = n / (double)scale;
                for (int i = 0; i < g.Length; i++)
                {
                    double x = Math.Clamp(g[i], -limit, limit) * toLevels;
                    double floor = Math.Floor(x);
                    int k = (int)floor + (rng.NextUnit() < x - floor ? 1 : 0);
                    c[i] = (uint)(Math.Clamp(k, -n, n) + n);
                }
            }
            if (!dequantized.IsEmpty) Dequantize(c, scale, n, 1f, dequantized.Slice(b * bucket, g.Length), overwrite: true);
            PackAt(c, codec.Bits, packed, bitOffset);
            bitOffset += g.Length * codec.Bits;
        }
    }

    /// <summary>Adds <paramref name="weight"/> × the decoded values of <paramref name="wire"/> to <paramref name="accumulator"/> (its length is the tensor's).</summary>
    public static void DecodeAdd(ReadOnlySpan<byte> wire, GradientCodec codec, float weight, Span<float> accumulator)
    {
        if (!codec.IsQuantized) throw new ArgumentException("fp32 is not a quantizing codec", nameof(codec));
        int length = accumulator.Length;
        if (wire.Length != codec.WireBytes(length)) throw new ArgumentException($"wire holds {wire.Length} bytes, expected {codec.WireBytes(length)}", nameof(wire));
        int n = codec.Levels, bucket = codec.BucketSize;
        int buckets = (length + bucket - 1) / bucket;
        var packed = wire[(4 * buckets)..];
        var codes = new uint[Math.Min(bucket, length)];
        Span<float> levels = stackalloc float[1 << codec.Bits];
        int bitOffset = 0;
        for (int b = 0; b < buckets; b++)
        {
            int count = Math.Min(bucket, length - b * bucket);
            float scale = BinaryPrimitives.ReadSingleLittleEndian(wire[(4 * b)..]);
            var c = codes.AsSpan(0, count);
            UnpackAt(packed, codec.Bits, bitOffset, c);
            uint maxCode = 0;
            foreach (uint code in c) maxCode = Math.Max(maxCode, code);
            if (maxCode > 2 * n) throw new ArgumentException($"code {maxCode} is outside 0..{2 * n}", nameof(wire));
            // A table of the bucket's 2n + 1 levels, each computed by the same expression as Dequantize.
            double step = (double)scale / n;
            for (int k = 0; k <= 2 * n; k++) levels[k] = (float)((k - n) * step);
            var target = accumulator.Slice(b * bucket, count);
            for (int i = 0; i < target.Length; i++) target[i] += weight * levels[(int)c[i]];
            bitOffset += count * codec.Bits;
        }
    }

    // One expression for both sides, so a sender's error-feedback copy equals what receivers decode.
    private static void Dequantize(ReadOnlySpan<uint> codes, float scale, int n, float weight, Span<float> target, bool overwrite)
    {
        // In double: at scales near float.MaxValue, a float step·n would round up to infinity.
        double step = (double)scale / n;
        for (int i = 0; i < codes.Length; i++)
        {
            float q = (float)(((int)codes[i] - n) * step);
            if (overwrite) target[i] = q;
            else target[i] += weight * q;
        }
    }

    // Buckets of a tensor follow each other in one bit stream; a bucket's codes start at any bit.
    private static void PackAt(ReadOnlySpan<uint> codes, int bits, Span<byte> stream, int bitOffset)
    {
        if ((bitOffset & 7) == 0)
        {
            BitPacker.Pack(codes, bits, stream[(bitOffset >> 3)..]);
            return;
        }
        for (int i = 0; i < codes.Length; i++)
        {
            int pos = bitOffset + i * bits;
            uint v = codes[i];
            for (int j = 0; j < bits; j++, pos++)
                if ((v >> j & 1) != 0) stream[pos >> 3] |= (byte)(1 << (pos & 7));
        }
    }

    private static void UnpackAt(ReadOnlySpan<byte> stream, int bits, int bitOffset, Span<uint> codes)
    {
        if ((bitOffset & 7) == 0)
        {
            long bytes = BitPacker.PackedByteCount(codes.Length, bits);
            BitPacker.Unpack(stream.Slice(bitOffset >> 3, (int)bytes), bits, codes);
            return;
        }
        for (int i = 0; i < codes.Length; i++)
        {
            int pos = bitOffset + i * bits;
            uint v = 0;
            for (int j = 0; j < bits; j++, pos++) v |= (uint)(stream[pos >> 3] >> (pos & 7) & 1) << j;
            codes[i] = v;
        }
    }

    /// <summary>SplitMix64: the same sequence on every machine and runtime.</summary>
    private struct SplitMix64(ulong seed)
    {
        private ulong _state = seed;

        public double NextUnit()
        {
            ulong z = unchecked(_state += 0x9E3779B97F4A7C15UL);
            z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
            z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
            z ^= z >> 31;
            return (z >> 11) * (1.0 / (1UL << 53));
        }
    }
}
