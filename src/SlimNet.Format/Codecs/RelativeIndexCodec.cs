namespace SlimNet.Format.Codecs;

/// <summary>
/// Deep Compression's relative indexing: each stored entry of a flattened (row-major) tensor is given by
/// its gap to the previous one in b bits. With F = 2^b − 1 and a cursor starting at position 0:
/// a code g &lt; F means "the next entry is at cursor + g", after which the cursor moves to that position + 1;
/// the code F is a filler: the cursor skips F zero positions and no entry is produced. A run of z zeros
/// before an entry therefore costs floor(z / F) fillers. Because F is reserved, fillers are unambiguous,
/// carry no value and are dropped when the gaps are expanded to positions (and to CSR).
/// </summary>
public static class RelativeIndexCodec
{
    /// <summary>Gap codes (fillers included) for strictly increasing, non-negative <paramref name="positions"/>.</summary>
    public static uint[] Encode(ReadOnlySpan<int> positions, int gapBits)
    {
        CheckBits(gapBits);
        uint filler = (1u << gapBits) - 1;
        var codes = new List<uint>(positions.Length);
        long cursor = 0;
        foreach (int p in positions)
        {
            if (p < cursor) throw new ArgumentException("positions must be non-negative and strictly increasing", nameof(positions));
            long z = p - cursor;
            while (z >= filler) { codes.Add(filler); z -= filler; }
            codes.Add((uint)z);
            cursor = p + 1L;
        }
        return codes.ToArray();
    }

    /// <summary>
    /// Positions of the entries described by <paramref name="gaps"/>; every position must be below
    /// <paramref name="elementCount"/> and the stream must not end with a filler.
    /// </summary>
    /// <exception cref="InvalidDataException">A code is out of range, a position passes the end, or a filler is last.</exception>
    public static int[] Decode(ReadOnlySpan<uint> gaps, int gapBits, long elementCount)
    {
        CheckBits(gapBits);
        uint filler = (1u << gapBits) - 1;
        int entries = 0;
        foreach (uint g in gaps)
        {
            if (g > filler) throw new InvalidDataException($"gap code {g} exceeds {gapBits} bits");
            if (g != filler) entries++;
        }
        if (gaps.Length > 0 && gaps[^1] == filler) throw new InvalidDataException("gap stream ends with a filler");
        var positions = new int[entries];
        long cursor = 0;
        int k = 0;
        foreach (uint g in gaps)
        {
            if (g == filler) { cursor += filler; continue; }
            long p = cursor + g;
            if (p >= elementCount) throw new InvalidDataException($"entry {k} at position {p} is beyond the {elementCount} elements");
            positions[k++] = (int)p;
            cursor = p + 1;
        }
        return positions;
    }

    /// <summary>Number of real (non-filler) entries in <paramref name="gaps"/>.</summary>
    public static int CountEntries(ReadOnlySpan<uint> gaps, int gapBits)
    {
        CheckBits(gapBits);
        uint filler = (1u << gapBits) - 1;
        int n = 0;
        foreach (uint g in gaps) if (g != filler) n++;
        return n;
    }

    private static void CheckBits(int gapBits)
    {
        if (gapBits < 1 || gapBits > 16) throw new ArgumentOutOfRangeException(nameof(gapBits), $"gap bits must be in 1..16, got {gapBits}");
    }
}
