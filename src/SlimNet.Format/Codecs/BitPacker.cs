namespace SlimNet.Format.Codecs;

/// <summary>
/// Packs unsigned integers of a fixed width (1–32 bits; value codes use 1–16) into bytes, LSB-first:
/// value i occupies stream bits [i·w, (i+1)·w), and stream bit j is bit (j mod 8) of byte j / 8, least
/// significant value bit first. The last byte is padded with zero bits.
/// </summary>
public static class BitPacker
{
    /// <summary>Largest supported width in bits.</summary>
    public const int MaxBits = 32;

    /// <summary>Bytes needed for <paramref name="count"/> values of <paramref name="bits"/> bits: ceil(count·bits / 8).</summary>
    public static long PackedByteCount(long count, int bits)
    {
        CheckBits(bits);
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        return (count * bits + 7) / 8;
    }

    /// <summary>Smallest width (at least 1) that holds <paramref name="maxValue"/>.</summary>
    public static int BitsFor(uint maxValue) => maxValue == 0 ? 1 : 32 - System.Numerics.BitOperations.LeadingZeroCount(maxValue);

    /// <summary>Packs <paramref name="values"/>, each below 2^<paramref name="bits"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value does not fit in <paramref name="bits"/> bits.</exception>
    public static byte[] Pack(ReadOnlySpan<uint> values, int bits)
    {
        var dest = new byte[PackedByteCount(values.Length, bits)];
        Pack(values, bits, dest);
        return dest;
    }

    /// <summary>Packs <paramref name="values"/> into <paramref name="destination"/> (at least <see cref="PackedByteCount"/> bytes).</summary>
    public static void Pack(ReadOnlySpan<uint> values, int bits, Span<byte> destination)
    {
        long needed = PackedByteCount(values.Length, bits);
        if (destination.Length < needed) throw new ArgumentException("destination too short", nameof(destination));
        ulong limit = 1UL << bits;
        ulong acc = 0;
        int accBits = 0, o = 0;
        foreach (uint v in values)
        {
            if (v >= limit) throw new ArgumentOutOfRangeException(nameof(values), $"value {v} does not fit in {bits} bits");
            acc |= (ulong)v << accBits;
            accBits += bits;
            while (accBits >= 8)
            {
                destination[o++] = (byte)acc;
                acc >>= 8;
                accBits -= 8;
            }
        }
        if (accBits > 0) destination[o++] = (byte)acc;
        destination[o..(int)needed].Clear();
    }

    /// <summary>Unpacks <paramref name="count"/> values of <paramref name="bits"/> bits.</summary>
    /// <exception cref="ArgumentException"><paramref name="source"/> holds fewer than count·bits bits.</exception>
    public static uint[] Unpack(ReadOnlySpan<byte> source, int count, int bits)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        if (source.Length < PackedByteCount(count, bits)) throw new ArgumentException("source too short", nameof(source));
        var dest = new uint[count];
        Unpack(source, bits, dest);
        return dest;
    }

    /// <summary>Unpacks <c>destination.Length</c> values of <paramref name="bits"/> bits from <paramref name="source"/>.</summary>
    public static void Unpack(ReadOnlySpan<byte> source, int bits, Span<uint> destination)
    {
        if (source.Length < PackedByteCount(destination.Length, bits)) throw new ArgumentException("source too short", nameof(source));
        ulong mask = (1UL << bits) - 1;
        ulong acc = 0;
        int accBits = 0, i = 0;
        for (int k = 0; k < destination.Length; k++)
        {
            while (accBits < bits)
            {
                acc |= (ulong)source[i++] << accBits;
                accBits += 8;
            }
            destination[k] = (uint)(acc & mask);
            acc >>= bits;
            accBits -= bits;
        }
    }

    private static void CheckBits(int bits)
    {
        if (bits < 1 || bits > MaxBits) throw new ArgumentOutOfRangeException(nameof(bits), $"bits must be in 1..{MaxBits}, got {bits}");
    }
}
