using SlimNet.Format.Codecs;

namespace SlimNet.Format.Tests;

public class Crc32Tests
{
    [Fact]
    public void KnownVectors()
    {
        Assert.Equal(0xCBF43926u, Crc32.Compute("123456789"u8));
        Assert.Equal(0u, Crc32.Compute(ReadOnlySpan<byte>.Empty));
        Assert.Equal(0xE8B7BE43u, Crc32.Compute("a"u8));
        Assert.Equal(0x414FA339u, Crc32.Compute("The quick brown fox jumps over the lazy dog"u8));
    }

    [Fact]
    public void MatchesBitwiseReferenceAndAppends()
    {
        var rng = new Random(5);
        foreach (int n in new[] { 0, 1, 2, 3, 4, 5, 7, 8, 63, 64, 65, 1000 })
        {
            var b = new byte[n];
            rng.NextBytes(b);
            Assert.Equal(Reference(b), Crc32.Compute(b));
            int cut = n / 3;
            Assert.Equal(Crc32.Compute(b), Crc32.Append(Crc32.Compute(b.AsSpan(0, cut)), b.AsSpan(cut)));
        }
    }

    private static uint Reference(byte[] data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte x in data)
        {
            c ^= x;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ 0xEDB88320 : c >> 1;
        }
        return ~c;
    }
}

public class BitPackerTests
{
    // Reference: one bit at a time.
    private static byte[] ReferencePack(uint[] v, int bits)
    {
        var d = new byte[((long)v.Length * bits + 7) / 8];
        long pos = 0;
        foreach (uint x in v)
            for (int b = 0; b < bits; b++, pos++)
                if (((x >> b) & 1) != 0) d[pos / 8] |= (byte)(1 << (int)(pos % 8));
        return d;
    }

    [Fact]
    public void MatchesReferenceForAllWidthsAndLengths()
    {
        var rng = new Random(1);
        for (int bits = 1; bits <= 32; bits++)
            foreach (int n in new[] { 0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 257 })
            {
                var v = new uint[n];
                for (int i = 0; i < n; i++)
                {
                    uint max = bits == 32 ? uint.MaxValue : (1u << bits) - 1;
                    int pick = rng.Next(4);
                    v[i] = pick == 0 ? 0 : pick == 1 ? max : (uint)(rng.NextInt64(0, (long)max + 1));
                }
                byte[] packed = BitPacker.Pack(v, bits);
                Assert.Equal(ReferencePack(v, bits), packed);
                Assert.Equal(BitPacker.PackedByteCount(n, bits), packed.Length);
                Assert.Equal(v, BitPacker.Unpack(packed, n, bits));
            }
    }

    [Fact]
    public void RejectsBadInput()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => BitPacker.Pack(new uint[] { 4 }, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => BitPacker.Pack(new uint[] { 1 }, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => BitPacker.Pack(new uint[] { 1 }, 33));
        Assert.Throws<ArgumentException>(() => BitPacker.Unpack(new byte[1], 3, 3));
        Assert.Equal(1, BitPacker.BitsFor(0));
        Assert.Equal(1, BitPacker.BitsFor(1));
        Assert.Equal(8, BitPacker.BitsFor(255));
        Assert.Equal(9, BitPacker.BitsFor(256));
    }
}

public class CanonicalHuffmanTests
{
    [Fact]
    public void RoundTripsRandomStreams()
    {
        var rng = new Random(2);
        foreach (int n in new[] { 0, 1, 2, 5, 100, 10000 })
            foreach (int alphabet in new[] { 1, 2, 3, 17, 256, 65536 })
            {
                var s = new uint[n];
                for (int i = 0; i < n; i++)
                    s[i] = (uint)Math.Min(alphabet - 1, (int)(alphabet * Math.Pow(rng.NextDouble(), 3))); // skewed
                byte[] stream = CanonicalHuffman.EncodeStream(s);
                var back = new uint[n];
                CanonicalHuffman.DecodeStream(stream, 65536, back);
                Assert.Equal(s, back);
            }
    }

    [Fact]
    public void SparseTableIsUsedForWideSparseAlphabets()
    {
        var s = new uint[] { 65535, 0, 65535, 40000, 65535 };
        byte[] stream = CanonicalHuffman.EncodeStream(s);
        Assert.Equal(1, stream[4]);
        Assert.True(stream.Length < 30);
        var back = new uint[s.Length];
        CanonicalHuffman.DecodeStream(stream, 65536, back);
        Assert.Equal(s, back);
    }

    [Fact]
    public void SingleSymbolAndEmpty()
    {
        var s = Enumerable.Repeat(7u, 20).ToArray();
        byte[] lengths = CanonicalHuffman.BuildCodeLengths(new long[] { 0, 0, 0, 0, 0, 0, 0, 20 }, 24);
        Assert.Equal(1, lengths[7]);
        byte[] stream = CanonicalHuffman.EncodeStream(s);
        var back = new uint[20];
        CanonicalHuffman.DecodeStream(stream, 8, back);
        Assert.Equal(s, back);
        CanonicalHuffman.DecodeStream(CanonicalHuffman.EncodeStream([]), 1, Span<uint>.Empty);
    }

    [Fact]
    public void LengthsAreOptimalWhenUnlimitedAndRespectTheLimit()
    {
        // Classic example: frequencies 45,13,12,16,9,5 give lengths 1,3,3,3,4,4 (cost 224).
        byte[] l = CanonicalHuffman.BuildCodeLengths(new long[] { 45, 13, 12, 16, 9, 5 }, 24);
        long cost = 45 * l[0] + 13 * l[1] + 12 * l[2] + 16 * l[3] + 9 * l[4] + 5 * l[5];
        Assert.Equal(224, cost);
        // Fibonacci frequencies make a deep tree; the limit must hold and the code stay a valid prefix code.
        var fib = new long[30];
        fib[0] = fib[1] = 1;
        for (int i = 2; i < fib.Length; i++) fib[i] = fib[i - 1] + fib[i - 2];
        byte[] limited = CanonicalHuffman.BuildCodeLengths(fib, 8);
        Assert.True(limited.Max() <= 8);
        Assert.True(limited.Sum(x => Math.Pow(2, -x)) <= 1.0 + 1e-12);
        var syms = Enumerable.Range(0, 30).Select(i => (uint)i).ToArray();
        byte[] bits = CanonicalHuffman.Encode(syms, limited);
        var back = new uint[30];
        CanonicalHuffman.Decode(bits, limited, back);
        Assert.Equal(syms, back);
    }

    [Fact]
    public void CodesAreCanonical()
    {
        // DEFLATE's example: lengths 3,3,3,3,3,2,4,4 → codes 010,011,100,101,110,00,1110,1111.
        uint[] codes = CanonicalHuffman.AssignCodes(new byte[] { 3, 3, 3, 3, 3, 2, 4, 4 });
        Assert.Equal(new uint[] { 2, 3, 4, 5, 6, 0, 14, 15 }, codes);
    }

    [Fact]
    public void MalformedStreamsThrowInvalidData()
    {
        var dest = new uint[4];
        Assert.Throws<InvalidDataException>(() => CanonicalHuffman.DecodeStream(new byte[2], 16, dest));
        // Over-subscribed: three symbols of length 1.
        var lens = BitPacker.Pack(new uint[] { 1, 1, 1 }, 5);
        var bad = new byte[5 + lens.Length + 1];
        bad[0] = 3;
        lens.CopyTo(bad, 5);
        Assert.Throws<InvalidDataException>(() => CanonicalHuffman.DecodeStream(bad, 16, dest));
        // Truncated body.
        byte[] ok = CanonicalHuffman.EncodeStream(new uint[] { 0, 1, 2, 3, 0, 1, 2, 3, 0, 0, 0, 0 });
        Assert.Throws<InvalidDataException>(() => CanonicalHuffman.DecodeStream(ok.AsSpan(0, ok.Length - 1), 16, new uint[12]));
        // Unknown table form.
        var form = (byte[])ok.Clone();
        form[4] = 2;
        Assert.Throws<InvalidDataException>(() => CanonicalHuffman.DecodeStream(form, 16, new uint[12]));
        // Alphabet above the limit.
        Assert.Throws<InvalidDataException>(() => CanonicalHuffman.DecodeStream(ok, 2, new uint[12]));
    }
}

public class CsrAndRelativeIndexTests
{
    [Fact]
    public void CsrRoundTripsDense()
    {
        var rng = new Random(3);
        foreach (var (r, c) in new[] { (0, 0), (0, 5), (5, 0), (1, 1), (3, 7), (17, 31) })
        {
            var d = new float[r * c];
            for (int i = 0; i < d.Length; i++) d[i] = rng.Next(3) == 0 ? (float)rng.NextDouble() - 0.5f : 0f;
            var m = CsrMatrix.FromDense(d, r, c);
            Assert.Equal(d.Count(x => x != 0), m.NonzeroCount);
            Assert.Equal(d, m.ToDense());
            Assert.Null(CsrMatrix.ValidateStructure(r, c, m.RowPointers, m.ColumnIndices));
        }
    }

    [Fact]
    public void CsrValidationFindsProblems()
    {
        Assert.NotNull(CsrMatrix.ValidateStructure(2, 3, new[] { 0, 2, 1 }, new[] { 0 }));   // decreasing
        Assert.NotNull(CsrMatrix.ValidateStructure(1, 3, new[] { 0, 2 }, new[] { 1, 1 }));   // repeated column
        Assert.NotNull(CsrMatrix.ValidateStructure(1, 3, new[] { 0, 1 }, new[] { 3 }));      // column out of range
        Assert.NotNull(CsrMatrix.ValidateStructure(1, 3, new[] { 0, 1 }, new[] { 0, 1 }));   // does not end at nnz
        Assert.NotNull(CsrMatrix.ValidateStructure(1, 3, new[] { 1, 1 }, new[] { 0 }));      // does not start at 0
    }

    private static int[] ReferenceDecode(uint[] gaps, int bits)
    {
        uint f = (1u << bits) - 1;
        var pos = new List<int>();
        long cursor = 0;
        foreach (uint g in gaps)
        {
            if (g == f) { cursor += f; continue; }
            pos.Add((int)(cursor + g));
            cursor += g + 1;
        }
        return pos.ToArray();
    }

    [Fact]
    public void RelativeGapsRoundTripWithFillers()
    {
        var rng = new Random(4);
        for (int bits = 1; bits <= 16; bits++)
            foreach (int n in new[] { 0, 1, 2, 50, 3000 })
            {
                var pos = new List<int>();
                for (int i = 0; i < n; i++) if (rng.Next(i % 100 < 50 ? 2 : 40) == 0) pos.Add(i);
                uint[] gaps = RelativeIndexCodec.Encode(pos.ToArray(), bits);
                Assert.All(gaps, g => Assert.True(g < 1u << bits));
                Assert.Equal(pos.ToArray(), ReferenceDecode(gaps, bits));
                Assert.Equal(pos.ToArray(), RelativeIndexCodec.Decode(gaps, bits, n));
                Assert.Equal(pos.Count, RelativeIndexCodec.CountEntries(gaps, bits));
            }
    }

    [Fact]
    public void FillerExamples()
    {
        // 3-bit gaps: filler code 7 skips 7 zeros. Entry at 0, then one at 20: 19 zeros = 7 + 7 + 5.
        Assert.Equal(new uint[] { 0, 7, 7, 5 }, RelativeIndexCodec.Encode(new[] { 0, 20 }, 3));
        // Exactly 7 zeros before an entry: one filler then gap 0.
        Assert.Equal(new uint[] { 7, 0 }, RelativeIndexCodec.Encode(new[] { 7 }, 3));
        Assert.Equal(new uint[] { 6 }, RelativeIndexCodec.Encode(new[] { 6 }, 3));
        Assert.Throws<InvalidDataException>(() => RelativeIndexCodec.Decode(new uint[] { 0, 7 }, 3, 100)); // trailing filler
        Assert.Throws<InvalidDataException>(() => RelativeIndexCodec.Decode(new uint[] { 5 }, 3, 5));       // past the end
    }
}

public class Float16Tests
{
    [Fact]
    public void MatchesSystemHalf()
    {
        var rng = new Random(6);
        float[] special = [0f, -0f, 1f, -1f, 65504f, 65520f, 1e-8f, 6.1e-5f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, float.MaxValue, float.Epsilon];
        foreach (float f in special.Concat(Enumerable.Range(0, 1000).Select(_ => (float)(rng.NextDouble() * 200 - 100))))
        {
            ushort b = Float16.FromSingle(f);
            Assert.Equal(BitConverter.HalfToUInt16Bits((Half)f), b);
            Assert.Equal((float)(Half)f, Float16.ToSingle(b));
        }
        for (int b = 0; b < 65536; b++)
        {
            float f = Float16.ToSingle((ushort)b);
            if (!float.IsNaN(f)) Assert.Equal((ushort)b, Float16.FromSingle(f));
        }
    }
}
