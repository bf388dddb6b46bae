namespace SlimNet.Training.Data;

/// <summary>
/// A small deterministic generator (SplitMix64). Used instead of <see cref="Random"/> so that the
/// sequence is fixed by this code, not by a runtime version, and so that it is a struct (no allocation).
/// </summary>
internal struct SeededRandom
{
    private ulong _state;

    public SeededRandom(ulong seed) => _state = seed;

    /// <summary>A well-mixed seed for stream <paramref name="stream"/> of epoch <paramref name="epoch"/> under <paramref name="seed"/>.</summary>
    public static ulong Derive(long seed, long epoch, long stream)
    {
        var r = new SeededRandom(unchecked((ulong)seed));
        ulong a = r.NextUInt64();
        r = new SeededRandom(a ^ unchecked((ulong)epoch * 0x9E3779B97F4A7C15UL));
        ulong b = r.NextUInt64();
        r = new SeededRandom(b ^ unchecked((ulong)stream * 0xC2B2AE3D27D4EB4FUL));
        return r.NextUInt64();
    }

    public ulong NextUInt64()
    {
        ulong z = unchecked(_state += 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }

    /// <summary>Uniform integer in [0, <paramref name="bound"/>) (Lemire's multiply-shift, with rejection for exactness).</summary>
    public int NextInt(int bound)
    {
        if (bound <= 0) throw new ArgumentOutOfRangeException(nameof(bound));
        ulong b = (ulong)bound;
        while (true)
        {
            ulong x = NextUInt64() >> 32;
            ulong m = x * b;
            ulong low = m & 0xFFFFFFFFUL;
            if (low >= 0x1_0000_0000UL % b) return (int)(m >> 32);
        }
    }

    public bool NextBool() => (NextUInt64() >> 63) != 0;
}
