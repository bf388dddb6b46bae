using System.Buffers.Binary;

namespace SlimNet.Format.Codecs;

/// <summary>
/// Length-limited canonical Huffman coding of unsigned integer symbols (alphabet up to 65,536).
/// Codes are canonical as in DEFLATE: shorter codes first, equal lengths in increasing symbol order.
/// Bits are written into an LSB-first byte stream (stream bit j is bit j mod 8 of byte j / 8), each code
/// from its most significant bit to its least.
/// <para>
/// The self-contained stream of <see cref="EncodeStream"/> is: u32 alphabet size A (1..65,536); a code-length
/// table, either dense (u8 0, then A lengths of 5 bits, 0 = unused) or sparse (u8 1, u32 U, then U pairs of
/// symbol in BitsFor(A − 1) bits and length in 5 bits, symbols increasing), bit-packed with
/// <see cref="BitPacker"/> conventions and padded to a byte; then the code bits, padded with zero bits to a byte.
/// Lengths are 1..<see cref="MaxCodeLength"/>.
/// </para>
/// </summary>
public static class CanonicalHuffman
{
    /// <summary>Longest code length the .slim format allows.</summary>
    public const int MaxCodeLength = 24;

    /// <summary>Largest alphabet the .slim format allows.</summary>
    public const int MaxAlphabetSize = 65536;

    /// <summary>Bits per stored code length in a stream's table.</summary>
    public const int LengthFieldBits = 5;

    /// <summary>
    /// Code lengths (0 for symbols of frequency 0) of a Huffman code for <paramref name="frequencies"/>,
    /// none longer than <paramref name="maxLength"/>. A single used symbol gets length 1. When the optimal
    /// code is too deep, frequencies are halved (rounding up, so used symbols stay used) until it fits.
    /// Deterministic: ties are broken by symbol order.
    /// </summary>
    public static byte[] BuildCodeLengths(ReadOnlySpan<long> frequencies, int maxLength)
    {
        if (maxLength < 1 || maxLength > 31) throw new ArgumentOutOfRangeException(nameof(maxLength));
        var lengths = new byte[frequencies.Length];
        var used = new List<int>();
        for (int s = 0; s < frequencies.Length; s++)
        {
            if (frequencies[s] < 0) throw new ArgumentOutOfRangeException(nameof(frequencies), "frequencies must be non-negative");
            if (frequencies[s] > 0) used.Add(s);
        }
        if (used.Count == 0) return lengths;
        if (used.Count == 1) { lengths[used[0]] = 1; return lengths; }
        if (used.Count > (1L << maxLength)) throw new ArgumentException($"{used.Count} symbols do not fit in codes of at most {maxLength} bits");
        var freq = new long[used.Count];
        for (int i = 0; i < freq.Length; i++) freq[i] = frequencies[used[i]];
        while (true)
        {
            int[] depth = HuffmanDepths(freq);
            int max = 0;
            foreach (int d in depth) max = Math.Max(max, d);
            if (max <= maxLength)
            {
                for (int i = 0; i < used.Count; i++) lengths[used[i]] = (byte)depth[i];
                return lengths;
            }
            for (int i = 0; i < freq.Length; i++) freq[i] = (freq[i] + 1) / 2;
        }
    }

    // Two-queue Huffman construction over leaves sorted by (frequency, index); returns the depth of each leaf.
    private static int[] HuffmanDepths(long[] freq)
    {
        int n = freq.Length;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Array.Sort(order, (a, b) => freq[a] != freq[b] ? freq[a].CompareTo(freq[b]) : a.CompareTo(b));
        var weight = new long[2 * n - 1];
        var parent = new int[2 * n - 1];
        for (int i = 0; i < n; i++) weight[i] = freq[order[i]];
        int q1 = 0, q2 = n;
        for (int k = n; k < 2 * n - 1; k++)
        {
            int a = Take(ref q1, ref q2, n, k, weight);
            int b = Take(ref q1, ref q2, n, k, weight);
            weight[k] = weight[a] + weight[b];
            parent[a] = k;
            parent[b] = k;
        }
        var nodeDepth = new int[2 * n - 1];
        for (int k = 2 * n - 3; k >= 0; k--) nodeDepth[k] = nodeDepth[parent[k]] + 1;
        var depth = new int[n];
        for (int i = 0; i < n; i++) depth[order[i]] = nodeDepth[i];
        return depth;
    }

    private static int Take(ref int q1, ref int q2, int n, int created, long[] weight)
    {
        if (q1 < n && (q2 >= created || weight[q1] <= weight[q2])) return q1++;
        return q2++;
    }

    /// <summary>Canonical codes for <paramref name="lengths"/> (code of symbol s in the low lengths[s] bits).</summary>
    /// <exception cref="InvalidDataException">The lengths over-subscribe the code space or exceed 31.</exception>
    public static uint[] AssignCodes(ReadOnlySpan<byte> lengths)
    {
        var count = CountLengths(lengths);
        var next = new uint[32];
        uint code = 0;
        for (int len = 1; len < 32; len++)
        {
            code = (code + (uint)count[len - 1]) << 1;
            next[len] = code;
        }
        var codes = new uint[lengths.Length];
        for (int s = 0; s < lengths.Length; s++)
            if (lengths[s] != 0) codes[s] = next[lengths[s]]++;
        return codes;
    }

    private static int[] CountLengths(ReadOnlySpan<byte> lengths)
    {
        var count = new int[32];
        foreach (byte l in lengths)
        {
            if (l > 31) throw new InvalidDataException($"code length {l} exceeds 31");
            if (l != 0) count[l]++;
        }
        long left = 1;
        for (int len = 1; len < 32; len++)
        {
            left = (left << 1) - count[len];
            if (left < 0) throw new InvalidDataException("code lengths over-subscribe the code space");
        }
        return count;
    }

    /// <summary>Encodes <paramref name="symbols"/> with the canonical code of <paramref name="lengths"/>; returns the bits, zero-padded to a byte.</summary>
    /// <exception cref="ArgumentException">A symbol has no code.</exception>
    public static byte[] Encode(ReadOnlySpan<uint> symbols, ReadOnlySpan<byte> lengths)
    {
        uint[] codes = AssignCodes(lengths);
        long totalBits = 0;
        foreach (uint s in symbols)
        {
            if (s >= lengths.Length || lengths[(int)s] == 0) throw new ArgumentException($"symbol {s} has no code", nameof(symbols));
            totalBits += lengths[(int)s];
        }
        var dest = new byte[(totalBits + 7) / 8];
        long pos = 0;
        foreach (uint s in symbols)
        {
            int len = lengths[(int)s];
            uint code = codes[s];
            for (int b = len - 1; b >= 0; b--, pos++)
                if (((code >> b) & 1) != 0) dest[pos >> 3] |= (byte)(1 << (int)(pos & 7));
        }
        return dest;
    }

    /// <summary>
    /// Decodes <c>destination.Length</c> symbols from <paramref name="bits"/>; returns the number of bits read.
    /// Reads at most 31 bits per symbol, so it always terminates.
    /// </summary>
    /// <exception cref="InvalidDataException">The bits run out, a code is unassigned, or the lengths are invalid.</exception>
    public static long Decode(ReadOnlySpan<byte> bits, ReadOnlySpan<byte> lengths, Span<uint> destination)
    {
        int[] count = CountLengths(lengths);
        if (destination.Length > 0 && count.Sum() == 0) throw new InvalidDataException("no symbol has a code");
        // Symbols sorted by (length, symbol): the canonical order.
        var sorted = new int[lengths.Length];
        var offs = new int[32];
        for (int len = 1; len < 31; len++) offs[len + 1] = offs[len] + count[len];
        for (int s = 0; s < lengths.Length; s++)
            if (lengths[s] != 0) sorted[offs[lengths[s]]++] = s;
        int maxLen = 0;
        for (int len = 1; len < 32; len++) if (count[len] != 0) maxLen = len;
        long totalBits = (long)bits.Length * 8;
        long pos = 0;
        for (int k = 0; k < destination.Length; k++)
        {
            int code = 0, first = 0, index = 0;
            for (int len = 1; ; len++)
            {
                if (len > maxLen) throw new InvalidDataException($"unassigned code at symbol {k}");
                if (pos >= totalBits) throw new InvalidDataException($"bit stream ends inside symbol {k} of {destination.Length}");
                code |= (bits[(int)(pos >> 3)] >> (int)(pos & 7)) & 1;
                pos++;
                int c = count[len];
                if (code - first < c)
                {
                    destination[k] = (uint)sorted[index + code - first];
                    break;
                }
                index += c;
                first = (first + c) << 1;
                code <<= 1;
            }
        }
        return pos;
    }

    /// <summary>
    /// Encodes <paramref name="symbols"/> as a self-contained stream (table + bits, see the type remarks),
    /// with the alphabet size = largest symbol + 1 (1 for an empty input). The table is written in whichever
    /// of its two forms is smaller (dense on ties).
    /// </summary>
    public static byte[] EncodeStream(ReadOnlySpan<uint> symbols)
    {
        uint max = 0;
        foreach (uint s in symbols) max = Math.Max(max, s);
        if (max >= MaxAlphabetSize) throw new ArgumentException($"symbol {max} exceeds the Huffman alphabet limit {MaxAlphabetSize}", nameof(symbols));
        int alphabet = (int)max + 1;
        var freq = new long[alphabet];
        foreach (uint s in symbols) freq[s]++;
        byte[] lengths = BuildCodeLengths(freq, MaxCodeLength);
        byte[] table = EncodeTable(lengths);
        byte[] body = Encode(symbols, lengths);
        var result = new byte[4 + table.Length + body.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(result, (uint)alphabet);
        table.CopyTo(result, 4);
        body.CopyTo(result, 4 + table.Length);
        return result;
    }

    // Table form 0 (dense): u8 0, then A lengths of 5 bits. Form 1 (sparse): u8 1, u32 U, then U pairs
    // (symbol in BitsFor(A − 1) bits, length in 5 bits), symbols strictly increasing, all lengths ≥ 1.
    private static byte[] EncodeTable(byte[] lengths)
    {
        int a = lengths.Length;
        var used = new List<uint>();
        for (int i = 0; i < a; i++) if (lengths[i] != 0) { used.Add((uint)i); used.Add(lengths[i]); }
        int u = used.Count / 2;
        int w = BitPacker.BitsFor((uint)(a - 1));
        long dense = 1 + BitPacker.PackedByteCount(a, LengthFieldBits);
        long sparse = 5 + ((long)u * (w + LengthFieldBits) + 7) / 8;
        if (dense <= sparse)
        {
            var lens32 = new uint[a];
            for (int i = 0; i < a; i++) lens32[i] = lengths[i];
            var t = new byte[dense];
            BitPacker.Pack(lens32, LengthFieldBits, t.AsSpan(1));
            return t;
        }
        var table = new byte[sparse];
        table[0] = 1;
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(1), (uint)u);
        long pos = 0;
        var bits = table.AsSpan(5);
        for (int k = 0; k < used.Count; k += 2)
        {
            WriteBits(bits, ref pos, used[k], w);
            WriteBits(bits, ref pos, used[k + 1], LengthFieldBits);
        }
        return table;
    }

    private static void WriteBits(Span<byte> dest, ref long pos, uint value, int width)
    {
        for (int b = 0; b < width; b++, pos++)
            if (((value >> b) & 1) != 0) dest[(int)(pos >> 3)] |= (byte)(1 << (int)(pos & 7));
    }

    private static uint ReadBits(ReadOnlySpan<byte> src, ref long pos, int width)
    {
        uint v = 0;
        for (int b = 0; b < width; b++, pos++)
            v |= (uint)((src[(int)(pos >> 3)] >> (int)(pos & 7)) & 1) << b;
        return v;
    }

    /// <summary>
    /// Decodes a stream written by <see cref="EncodeStream"/> into <c>destination.Length</c> symbols. The stream
    /// must be consumed exactly (no trailing bytes) and its alphabet must not exceed <paramref name="alphabetLimit"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">The stream is malformed.</exception>
    public static void DecodeStream(ReadOnlySpan<byte> stream, int alphabetLimit, Span<uint> destination)
    {
        if (stream.Length < 5) throw new InvalidDataException("Huffman stream shorter than its 5-byte header");
        uint alphabet = BinaryPrimitives.ReadUInt32LittleEndian(stream);
        if (alphabet < 1 || alphabet > MaxAlphabetSize || alphabet > (uint)alphabetLimit)
            throw new InvalidDataException($"Huffman alphabet size {alphabet} outside 1..{Math.Min(MaxAlphabetSize, alphabetLimit)}");
        var lengths = new byte[alphabet];
        int form = stream[4];
        long tableBytes;
        if (form == 0)
        {
            tableBytes = 1 + BitPacker.PackedByteCount(alphabet, LengthFieldBits);
            if (tableBytes > stream.Length - 4) throw new InvalidDataException($"Huffman table needs {tableBytes} bytes, stream has {stream.Length - 4}");
            var lens32 = BitPacker.Unpack(stream.Slice(5), (int)alphabet, LengthFieldBits);
            for (int i = 0; i < lengths.Length; i++)
            {
                if (lens32[i] > MaxCodeLength) throw new InvalidDataException($"Huffman code length {lens32[i]} of symbol {i} exceeds {MaxCodeLength}");
                lengths[i] = (byte)lens32[i];
            }
        }
        else if (form == 1)
        {
            if (stream.Length < 9) throw new InvalidDataException("sparse Huffman table shorter than its count");
            uint u = BinaryPrimitives.ReadUInt32LittleEndian(stream.Slice(5));
            if (u > alphabet) throw new InvalidDataException($"sparse Huffman table lists {u} symbols of an alphabet of {alphabet}");
            int w = BitPacker.BitsFor(alphabet - 1);
            tableBytes = 5 + ((long)u * (w + LengthFieldBits) + 7) / 8;
            if (tableBytes > stream.Length - 4) throw new InvalidDataException($"Huffman table needs {tableBytes} bytes, stream has {stream.Length - 4}");
            var bits = stream.Slice(9);
            long pos = 0;
            long previous = -1;
            for (int k = 0; k < u; k++)
            {
                uint sym = ReadBits(bits, ref pos, w);
                uint len = ReadBits(bits, ref pos, LengthFieldBits);
                if (sym >= alphabet || sym <= previous) throw new InvalidDataException($"sparse Huffman table symbol {sym} out of order or range");
                if (len < 1 || len > MaxCodeLength) throw new InvalidDataException($"Huffman code length {len} of symbol {sym} outside 1..{MaxCodeLength}");
                lengths[sym] = (byte)len;
                previous = sym;
            }
        }
        else throw new InvalidDataException($"unknown Huffman table form {form}");
        var body = stream.Slice(4 + (int)tableBytes);
        if ((long)destination.Length > (long)body.Length * 8)
            throw new InvalidDataException($"{destination.Length} symbols cannot fit in {body.Length} bytes of code bits");
        long used = Decode(body, lengths, destination);
        if ((used + 7) / 8 != body.Length) throw new InvalidDataException($"Huffman code bits use {(used + 7) / 8} bytes, stream holds {body.Length}");
    }
}
