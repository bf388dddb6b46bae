using System.Globalization;

namespace SlimNet.Distributed;

/// <summary>
/// How a rank sends its gradient (an immutable definition). <c>fp32</c>: the float values, summed by MPI_Allreduce
/// (the baseline). <c>qM</c> (M = 2…8): stochastic, unbiased M-bit quantization per bucket of
/// <see cref="BucketSize"/> values with one float scale per bucket, bit-packed and exchanged with MPI_Allgather;
/// suffix <c>-clip</c> clips each bucket at ±<see cref="ClipSigmas"/>·σ before quantizing (σ = the bucket's root
/// mean square, its standard deviation about 0); suffix <c>-ef</c> adds error feedback (the part a rank's
/// quantization dropped is added to its next gradient). Names: <c>fp32</c>, <c>q8</c>, <c>q4</c>, <c>q3</c>,
/// <c>q2</c>, <c>q2-clip</c>, <c>q2-clip-ef</c>, …
/// </summary>
public sealed record GradientCodec
{
    /// <summary>Default values per bucket (each bucket has its own scale).</summary>
    public const int DefaultBucketSize = 512;
    /// <summary>Default clipping threshold in units of σ.</summary>
    public const double DefaultClipSigmas = 3.0;

    /// <summary>The fp32 allreduce baseline.</summary>
    public static GradientCodec Fp32 { get; } = new() { Bits = 32 };

    /// <summary>Bits per value on the wire: 32 (fp32) or 2–8 (quantized).</summary>
    public int Bits { get; init; } = 32;
    /// <summary>Values per bucket (quantized codecs).</summary>
    public int BucketSize { get; init; } = DefaultBucketSize;
    /// <summary>Clip at ±ClipSigmas·σ before quantizing; 0 = no clipping.</summary>
    public double ClipSigmas { get; init; }
    /// <summary>Keep each rank's quantization error and add it to its next gradient.</summary>
    public bool ErrorFeedback { get; init; }

    /// <summary>Whether values are quantized (not fp32).</summary>
    public bool IsQuantized => Bits != 32;

    /// <summary>Largest level index n = 2^(Bits−1) − 1: values go to s·k/n with k in −n…n.</summary>
    public int Levels => (1 << (Bits - 1)) - 1;

    /// <summary>The codec's name as <see cref="Parse"/> reads it.</summary>
    public string Name => !IsQuantized ? "fp32"
        : $"q{Bits}{(ClipSigmas > 0 ? ClipSigmas == DefaultClipSigmas ? "-clip" : string.Create(CultureInfo.InvariantCulture, $"-clip{ClipSigmas:R}") : "")}{(ErrorFeedback ? "-ef" : "")}";

    /// <summary>Bytes one tensor of <paramref name="length"/> values takes on the wire.</summary>
    public int WireBytes(int length)
    {
        if (!IsQuantized) return checked(4 * length);
        int buckets = (length + BucketSize - 1) / BucketSize;
        return checked(4 * buckets + (int)((length * (long)Bits + 7) / 8));
    }

    /// <summary>
    /// Reads a codec name: <c>fp32</c> or <c>q</c>M[<c>-clip</c>[C]][<c>-ef</c>] with M in 2…8 and C the clipping
    /// threshold in σ (default 3). Throws <see cref="ArgumentException"/> with a sentence for anything else.
    /// </summary>
    public static GradientCodec Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string s = name.Trim().ToLowerInvariant();
        if (s == "fp32") return Fp32;
        string Bad() => $"gradient codec must be fp32 or qM[-clip][-ef] with M in 2..8 (e.g. q8, q4, q2-clip), got '{name}'";
        if (!s.StartsWith('q')) throw new ArgumentException(Bad());
        var parts = s[1..].Split('-');
        if (!int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int bits) || bits < 2 || bits > 8)
            throw new ArgumentException(Bad());
        double clip = 0;
        bool ef = false;
        foreach (var p in parts.Skip(1))
        {
            if (p == "ef" && !ef) ef = true;
            else if (p.StartsWith("clip", StringComparison.Ordinal) && clip == 0)
            {
                clip = p.Length == 4 ? DefaultClipSigmas
                    : double.TryParse(p[4..], NumberStyles.Float, CultureInfo.InvariantCulture, out var c) && c > 0 && double.IsFinite(c) ? c
                    : throw new ArgumentException(Bad());
            }
            else throw new ArgumentException(Bad());
        }
        return new GradientCodec { Bits = bits, ClipSigmas = clip, ErrorFeedback = ef };
    }
}
