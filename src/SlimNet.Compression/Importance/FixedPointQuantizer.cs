using SlimNet.Format;

namespace SlimNet.Compression.Importance;

/// <summary>
/// Symmetric fixed-point quantization for gradient-importance quantization (METHODS.md, "Gradient importance").
/// Pure functions: no state, no Torch.
/// <list type="bullet">
/// <item>b = 0: pruned. Every code is 0, the scale is 0; the element is not stored in .slim.</item>
/// <item>b = 1: binary. q = +1 for w ≥ 0 (including ±0), −1 otherwise; scale = mean |w| (the L2-optimal scale
/// for a sign quantizer). The .slim format's 1-bit two's complement holds only {−1, 0}, so
/// <see cref="ToSlimTensor"/> stores such codes at 2 bits.</item>
/// <item>2 ≤ b ≤ 16: q = clamp(round(w / scale), −n, n) with n = 2^(b−1) − 1 and scale = max |w| / n; round is half
/// away from zero, computed in double. The code −2^(b−1) is never used, so the grid is symmetric.</item>
/// </list>
/// A tensor whose max |w| is 0 gets scale 0 and all-zero codes. The dequantized value is <c>(float)(q · scale)</c>.
/// </summary>
public static class FixedPointQuantizer
{
    /// <summary>Widest supported code, in bits.</summary>
    public const int MaxBits = 16;

    /// <summary>Largest code magnitude n at <paramref name="bits"/>: 0 for b = 0, 1 for b = 1, 2^(b−1) − 1 otherwise.</summary>
    public static int MaxCode(int bits)
    {
        CheckBits(bits);
        return bits switch { 0 => 0, 1 => 1, _ => (1 << (bits - 1)) - 1 };
    }

    /// <summary>The per-tensor scale of <paramref name="values"/> at <paramref name="bits"/> (see the type's rules).</summary>
    public static float ScaleFor(ReadOnlySpan<float> values, int bits)
    {
        CheckBits(bits);
        if (bits == 0 || values.Length == 0) return 0f;
        if (bits == 1)
        {
            double sum = 0;
            foreach (float w in values) sum += Math.Abs((double)w);
            return (float)(sum / values.Length);
        }
        float max = 0f;
        foreach (float w in values) max = Math.Max(max, Math.Abs(w));
        return (float)(max / (double)MaxCode(bits));
    }

    /// <summary>The code of one value at <paramref name="bits"/> with a given <paramref name="scale"/> (≥ 0).</summary>
    public static short QuantizeOne(float value, float scale, int bits)
    {
        CheckBits(bits);
        if (bits == 0) return 0;
        if (bits == 1) return value >= 0f || float.IsNaN(value) ? (short)1 : (short)-1;
        if (!(scale > 0f)) return 0;
        int n = MaxCode(bits);
        double q = Math.Round(value / (double)scale, MidpointRounding.AwayFromZero);
        if (double.IsNaN(q)) return 0;
        return (short)Math.Clamp(q, -n, n);
    }

    /// <summary>Writes the codes of <paramref name="values"/> at <paramref name="bits"/> with <paramref name="scale"/> into <paramref name="codes"/>.</summary>
    public static void Quantize(ReadOnlySpan<float> values, int bits, float scale, Span<short> codes)
    {
        if (codes.Length != values.Length) throw new ArgumentException($"need {values.Length} codes, got {codes.Length}", nameof(codes));
        for (int i = 0; i < values.Length; i++) codes[i] = QuantizeOne(values[i], scale, bits);
    }

    /// <summary>Quantizes a whole tensor with its own scale (<see cref="ScaleFor"/>).</summary>
    /// <returns>The codes (one per value) and the scale.</returns>
    public static (short[] Codes, float Scale) Quantize(ReadOnlySpan<float> values, int bits)
    {
        float scale = ScaleFor(values, bits);
        var codes = new short[values.Length];
        Quantize(values, bits, scale, codes);
        return (codes, scale);
    }

    /// <summary>The values <c>(float)(q · scale)</c> of <paramref name="codes"/>.</summary>
    public static float[] Dequantize(ReadOnlySpan<short> codes, float scale)
    {
        var values = new float[codes.Length];
        for (int i = 0; i < codes.Length; i++) values[i] = (float)(codes[i] * (double)scale);
        return values;
    }

    /// <summary>
    /// Quantizes each element at its own bit width: elements sharing a width form a group with one scale
    /// (<see cref="ScaleFor"/> over that group), so a tensor has one scale per bit width it uses.
    /// </summary>
    /// <param name="values">Row-major values of one tensor.</param>
    /// <param name="bits">Bit width of each element, 0..16 (0 = pruned).</param>
    public static GroupedFixedPoint QuantizeGrouped(ReadOnlySpan<float> values, ReadOnlySpan<byte> bits)
    {
        if (bits.Length != values.Length) throw new ArgumentException($"need {values.Length} bit widths, got {bits.Length}", nameof(bits));
        var groups = new List<float>[MaxBits + 1];
        for (int i = 0; i < values.Length; i++)
        {
            CheckBits(bits[i]);
            (groups[bits[i]] ??= []).Add(values[i]);
        }
        var scales = new float[MaxBits + 1];
        for (int b = 0; b <= MaxBits; b++)
            if (groups[b] is { } g) scales[b] = ScaleFor(g.ToArray(), b);
        var codes = new short[values.Length];
        for (int i = 0; i < values.Length; i++) codes[i] = QuantizeOne(values[i], scales[bits[i]], bits[i]);
        return new GroupedFixedPoint(codes, bits.ToArray(), scales);
    }

    /// <summary>True when <see cref="ToSlimTensor"/> stores these widths exactly: at most one nonzero width is used.</summary>
    public static bool StoresExactly(ReadOnlySpan<byte> bits)
    {
        int width = 0;
        foreach (byte b in bits)
        {
            if (b == 0) continue;
            if (width != 0 && b != width) return false;
            width = b;
        }
        return true;
    }

    /// <summary>
    /// The .slim form of a grouped quantization: a <see cref="ValueEncoding.FixedPoint"/> tensor with one scale,
    /// in <see cref="SparseLayout.Csr"/> when any element has width 0 (those are never stored), else dense.
    /// With one nonzero width b the codes and scale are stored as they are (b = 1 at 2 bits), so
    /// <see cref="SlimTensor.ToDense"/> equals <see cref="GroupedFixedPoint.Dequantize"/> exactly. With mixed widths the
    /// dequantized values are re-quantized at the largest width with the scale of all of them (lossy by at most half a
    /// step at that width; true mixed-width storage is future work). All-pruned tensors are stored with 0 entries.
    /// </summary>
    public static SlimTensor ToSlimTensor(string name, int[] shape, GroupedFixedPoint quantized)
    {
        ArgumentNullException.ThrowIfNull(quantized);
        byte[] bits = quantized.Bits;
        int maxBits = bits.Length == 0 ? 0 : bits.Max();
        bool anyPruned = bits.Contains((byte)0);
        var layout = anyPruned ? SparseLayout.Csr : SparseLayout.Dense;
        if (maxBits == 0)
            return SlimTensor.FixedPoint(name, shape, new short[bits.Length], [0f], 1, sparsity: layout);
        int storedBits = Math.Max(maxBits, 2);
        if (StoresExactly(bits))
            return SlimTensor.FixedPoint(name, shape, quantized.Codes, [quantized.Scales[maxBits]], storedBits, sparsity: layout);
        float[] values = quantized.Dequantize();
        var (codes, scale) = Quantize(values, storedBits);
        for (int i = 0; i < codes.Length; i++) if (bits[i] == 0) codes[i] = 0;
        return SlimTensor.FixedPoint(name, shape, codes, [scale], storedBits, sparsity: layout);
    }

    internal static void CheckBits(int bits)
    {
        if (bits < 0 || bits > MaxBits) throw new ArgumentOutOfRangeException(nameof(bits), $"bit width {bits} outside 0..{MaxBits}");
    }
}

/// <summary>
/// A tensor quantized with one fixed-point scale per bit width (<see cref="FixedPointQuantizer.QuantizeGrouped"/>).
/// Arrays are shared: do not modify them.
/// </summary>
public sealed class GroupedFixedPoint
{
    internal GroupedFixedPoint(short[] codes, byte[] bits, float[] scales)
    {
        Codes = codes;
        Bits = bits;
        Scales = scales;
    }

    /// <summary>Code q of each element (0 for width 0).</summary>
    public short[] Codes { get; }
    /// <summary>Bit width of each element, 0..16.</summary>
    public byte[] Bits { get; }
    /// <summary>Scale of each bit width, indexed by width 0..16 (0 for widths no element uses).</summary>
    public float[] Scales { get; }

    /// <summary>The dequantized values <c>(float)(q · Scales[bits])</c>, row-major.</summary>
    public float[] Dequantize()
    {
        var values = new float[Codes.Length];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(Codes[i] * (double)Scales[Bits[i]]);
        return values;
    }
}
