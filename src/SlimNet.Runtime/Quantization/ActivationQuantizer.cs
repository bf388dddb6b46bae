using SlimNet.Format.Graph;

namespace SlimNet.Runtime.Quantization;

/// <summary>
/// An <see cref="ActivationQuantization"/> ready to apply: uniform, a = scale·clamp(round(x/scale), lo, hi) (round half
/// to even), or an LQ-Nets basis, where x goes to the nearest of the 2^K levels exactly as
/// <see cref="LqQuantizer.Encode"/> decides it (float midpoints between the sorted levels, x ≥ a midpoint → the upper
/// level; NaN → the lowest level). Built once per node by the planner; applying it allocates nothing.
/// </summary>
internal sealed class ActivationQuantizer
{
    private readonly float _scale, _low, _high;
    private readonly float[]? _levels;      // basis: sorted levels
    private readonly float[]? _thresholds;  // basis: midpoints between consecutive levels

    private ActivationQuantizer(ActivationQuantization spec, float scale, float low, float high, float[]? levels, ushort[]? codes)
    {
        Spec = spec;
        _scale = scale;
        _low = low;
        _high = high;
        _levels = levels;
        LevelCodes = codes;
        if (levels != null)
        {
            _thresholds = new float[levels.Length - 1];
            for (int t = 0; t < _thresholds.Length; t++) _thresholds[t] = 0.5f * (levels[t] + levels[t + 1]);
        }
    }

    /// <summary>The declaration this was built from.</summary>
    public ActivationQuantization Spec { get; }

    /// <summary>Basis quantizer: the K-bit code (bit j = plane j) of each sorted level; null for uniform.</summary>
    public ushort[]? LevelCodes { get; }

    /// <summary>Basis quantizer: the midpoints between consecutive sorted levels (float32); null for uniform.</summary>
    public float[]? Thresholds => _thresholds;

    /// <summary>True for an LQ-Nets basis with {0, 1} codes (what the bit-op kernel multiplies).</summary>
    public bool IsZeroOneBasis => Spec.Kind == ActivationQuantKind.Basis && !Spec.Signed;

    /// <summary>A one-line description for the plan listing.</summary>
    public string Describe() => Spec.Kind == ActivationQuantKind.Uniform
        ? $"{Spec.Bits}-bit uniform, scale {_scale}"
        : $"{Spec.Bits}-bit LQ basis [{string.Join(", ", Spec.Parameters.Select(p => p.ToString("G5", System.Globalization.CultureInfo.InvariantCulture)))}]" +
          $"{(Spec.Signed ? " (±1 codes)" : "")}";

    /// <summary>Validates <paramref name="spec"/> and builds the quantizer; the problem is returned as text when it cannot be run.</summary>
    public static ActivationQuantizer Create(ActivationQuantization spec, out string? problem)
    {
        problem = spec.Validate();
        if (problem != null) return null!;
        if (spec.Parameters.Any(p => !float.IsFinite(p)))
        {
            problem = "activation quantizer parameters must be finite";
            return null!;
        }
        if (spec.Kind == ActivationQuantKind.Uniform)
        {
            float scale = spec.Parameters[0];
            if (!(scale > 0))
            {
                problem = $"activation scale {scale} must be positive";
                return null!;
            }
            float low = spec.Signed ? -(1 << (spec.Bits - 1)) : 0, high = spec.Signed ? (1 << (spec.Bits - 1)) - 1 : (1 << spec.Bits) - 1;
            return new ActivationQuantizer(spec, scale, low, high, null, null);
        }
        if (spec.Bits > LqQuantizer.MaxBits)
        {
            problem = $"a basis activation quantizer of {spec.Bits} bits is not supported (at most {LqQuantizer.MaxBits})";
            return null!;
        }
        int n = 1 << spec.Bits;
        var levels = new float[n];
        var codes = new ushort[n];
        LqQuantizer.Levels(spec.Parameters.ToArray(), spec.Signed ? LqCodeDomain.PlusMinusOne : LqCodeDomain.ZeroOne, levels, codes);
        return new ActivationQuantizer(spec, 1f, 0, 0, levels, codes);
    }

    /// <summary>y = Q(x) elementwise (x and y may be the same span).</summary>
    public void Apply(ReadOnlySpan<float> x, Span<float> y)
    {
        if (_levels == null)
        {
            float inv = 1f / _scale;
            for (int i = 0; i < x.Length; i++) y[i] = _scale * Math.Clamp(MathF.Round(x[i] * inv), _low, _high);
            return;
        }
        for (int i = 0; i < x.Length; i++) y[i] = _levels[LevelIndex(x[i])];
    }

    /// <summary>Basis quantizer: index of x's level in the sorted levels (the number of midpoints ≤ x).</summary>
    public int LevelIndex(float v)
    {
        var t = _thresholds!;
        int lo = 0, hi = t.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >> 1;
            if (v >= t[mid]) lo = mid + 1; else hi = mid;
        }
        return lo;
    }
}
