namespace SlimNet.Compression.Quantization;

/// <summary>The weight projections of <see cref="LossAwareProjection"/>, for callers that choose one by name (recipes, per-channel projection).</summary>
public enum WeightProjection
{
    /// <summary>BinaryConnect: sign(w), scale 1.</summary>
    BinaryConnect,
    /// <summary>Binary weight network: sign(w)·mean|w|.</summary>
    Bwn,
    /// <summary>Ternary weight network: threshold 0.7·mean|w|, scale the mean |w| above it.</summary>
    Twn,
    /// <summary>Uniform symmetric m-bit fake-quant with scale max|w|.</summary>
    Uniform,
    /// <summary>Loss-aware binarization (closed form).</summary>
    Lab,
    /// <summary>Loss-aware ternarization, exact.</summary>
    LatExact,
    /// <summary>Loss-aware ternarization, approximate (alternating, TWN start).</summary>
    LatApprox,
    /// <summary>Loss-aware ternarization with separate positive and negative scales, exact.</summary>
    Lat2Exact,
    /// <summary>Loss-aware ternarization with separate positive and negative scales, approximate.</summary>
    Lat2Approx,
    /// <summary>Loss-aware m-bit quantization on linear levels.</summary>
    LaqLinear,
    /// <summary>Loss-aware m-bit quantization on logarithmic levels.</summary>
    LaqLog,
}

/// <summary>How LAQ updates its scale α for fixed levels b.</summary>
public enum LaqScaleUpdate
{
    /// <summary>The exact minimiser <c>α = Σ d|b w| / Σ d b²</c>: every alternation can only lower the weighted error.</summary>
    Exact,
    /// <summary>The authors' reference code, <c>α = Σ|b d w| / Σ|b d|</c>: equal to Exact for ternary levels, not for m &gt; 2.</summary>
    Reference,
}
