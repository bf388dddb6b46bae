namespace SlimNet.Format.Codecs;

/// <summary>
/// IEEE 754 binary16 conversion through <see cref="Half"/> (round to nearest even; overflow goes to ±∞,
/// NaN stays NaN). The 16-bit patterns are what the .slim file stores.
/// </summary>
public static class Float16
{
    /// <summary>The binary16 bit pattern nearest to <paramref name="value"/>.</summary>
    public static ushort FromSingle(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    /// <summary>The float exactly equal to the binary16 value with bit pattern <paramref name="bits"/>.</summary>
    public static float ToSingle(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>Rounds <paramref name="value"/> to the nearest binary16 value and back to float.</summary>
    public static float Round(float value) => ToSingle(FromSingle(value));

    /// <summary>Converts every value of <paramref name="source"/> to binary16 bits.</summary>
    public static void FromSingle(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination is shorter than source", nameof(destination));
        for (int i = 0; i < source.Length; i++) destination[i] = FromSingle(source[i]);
    }

    /// <summary>Converts every binary16 pattern of <paramref name="source"/> to float.</summary>
    public static void ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination is shorter than source", nameof(destination));
        for (int i = 0; i < source.Length; i++) destination[i] = ToSingle(source[i]);
    }
}
