namespace SlimNet.Format.Graph;

/// <summary>Kinds of activation quantizer a node may declare for its output. Numeric values are file ids.</summary>
public enum ActivationQuantKind : byte
{
    /// <summary>
    /// Uniform: a = scale · clamp(round(x / scale), lo, hi) with lo = −2^(Bits−1), hi = 2^(Bits−1) − 1 when
    /// <see cref="ActivationQuantization.Signed"/>, else lo = 0, hi = 2^Bits − 1. Parameters = [scale].
    /// </summary>
    Uniform = 1,
    /// <summary>
    /// LQ-Nets basis quantizer: Bits = K, Parameters = K basis floats v; a = vᵀe with e ∈ {0,1}^K
    /// (or {−1,+1}^K when Signed) chosen as the nearest of the 2^K levels.
    /// </summary>
    Basis = 2,
}

/// <summary>
/// How a node's activations are quantized at inference (optional, per node): a Linear/Conv2d node's input, any other
/// node's output. An immutable definition.
/// </summary>
/// <param name="Kind">The quantizer.</param>
/// <param name="Bits">Bits per activation (Uniform, 1..16) or basis size K (Basis, 1..16).</param>
/// <param name="Signed">Uniform: signed range; Basis: codes in {−1,+1} instead of {0,1}.</param>
/// <param name="Parameters">Quantizer floats (see <see cref="ActivationQuantKind"/>); at most 65,535.</param>
public sealed record ActivationQuantization(ActivationQuantKind Kind, int Bits, bool Signed, IReadOnlyList<float> Parameters)
{
    /// <summary>Returns null when the spec is valid, else the problem.</summary>
    public string? Validate()
    {
        if (!Enum.IsDefined(Kind)) return $"unknown activation quantizer kind {(int)Kind}";
        if (Bits < 1 || Bits > 16) return $"activation bits {Bits} outside 1..16";
        if (Parameters == null || Parameters.Count > ushort.MaxValue) return "too many activation quantizer parameters";
        if (Kind == ActivationQuantKind.Uniform && Parameters.Count != 1) return "a uniform activation quantizer has exactly one parameter (scale)";
        if (Kind == ActivationQuantKind.Basis && Parameters.Count != Bits) return "a basis activation quantizer has exactly Bits basis floats";
        return null;
    }
}
