using System.Buffers;
using System.Runtime.InteropServices;

namespace SlimNet.Compression.Quantization;

/// <summary>
/// Weight projections of loss-aware quantization (Hou et al.: LAB, LATe, LATa, LAT2e, LAT2a, LAQ) and the
/// baselines they are compared with (BinaryConnect, BWN, TWN, uniform fake-quant). Each projection maps
/// full-precision weights <c>w</c> with a positive diagonal curvature <c>d</c> (Adam's <c>sqrt(v̂) + ε</c>) to
/// quantized weights <c>ŵ</c> that (exactly or approximately) minimise <see cref="WeightedProjectionError"/>,
/// writes an integer code per weight for the .slim writer, and returns the scale(s) in a <see cref="ProjectionResult"/>.
/// All functions are pure, work over spans, keep sums in double and allocate only pooled scratch for sorting.
/// Every sum over the weights of a unit is an <see cref="InterleavedSum"/> (16 partial sums, element i into partial
/// i mod 16, added in a fixed order), which fixes its rounding independently of how it is computed: the vectorized
/// kernels the quantizer trains with (<c>ProjectionKernels</c>) give bit-identical results.
/// <c>d</c> must be positive; this is not checked per element.
/// </summary>
public static class LossAwareProjection
{
    /// <summary>Most alternations of the approximate methods (LATa, LAT2a, LAQ), as in the reference code.</summary>
    public const int DefaultMaxIterations = 10;

    /// <summary>Relative change of α below which an alternating method stops (the reference uses 1e-6 absolute).</summary>
    public const double ConvergenceTolerance = 1e-6;

    /// <summary>TWN's threshold factor: weights with |w| &gt; 0.7·mean|w| are kept.</summary>
    public const double TwnThresholdFactor = 0.7;

    /// <summary>Shift that makes rounding in log2 space pick the arithmetically nearest power of two: log2(3/4) + 1/2.</summary>
    private const double LogRoundingShift = 0.0849625;

    /// <summary><c>Σ d_i (w_i − ŵ_i)²</c>, the objective every projection minimises (in double).</summary>
    public static double WeightedProjectionError(ReadOnlySpan<float> w, ReadOnlySpan<float> d, ReadOnlySpan<float> wHat)
    {
        if (d.Length != w.Length) ThrowLength(nameof(d), d.Length, w.Length);
        if (wHat.Length != w.Length) ThrowLength(nameof(wHat), wHat.Length, w.Length);
        double sum = 0;
        for (int i = 0; i < w.Length; i++)
        {
            double e = (double)w[i] - wHat[i];
            sum += d[i] * e * e;
        }
        return sum;
    }

    /// <summary>BinaryConnect: <c>ŵ = sign(w)</c> (0 → +1), scale 1; codes ±1.</summary>
    public static ProjectionResult BinaryConnect(ReadOnlySpan<float> w, Span<float> wHat, Span<sbyte> codes)
    {
        CheckOutputs(w.Length, wHat, codes);
        WriteBinary(w, 1f, wHat, codes);
        return new ProjectionResult(1f, 1f, 1, 1, true);
    }

    /// <summary>Binary weight network: <c>ŵ = mean|w|·sign(w)</c> (0 → +1); codes ±1.</summary>
    public static ProjectionResult Bwn(ReadOnlySpan<float> w, Span<float> wHat, Span<sbyte> codes)
    {
        CheckOutputs(w.Length, wHat, codes);
        var sum = new InterleavedSum();
        for (int i = 0; i < w.Length; i++) sum.Add(i, Math.Abs((double)w[i]));
        float alpha = w.Length == 0 ? 0f : (float)(sum.Total / w.Length);
        WriteBinary(w, alpha, wHat, codes);
        return new ProjectionResult(alpha, alpha, 1, 1, true);
    }

    /// <summary>
    /// Loss-aware binarization (closed form): <c>b = sign(w)</c> (0 → +1, as the reference code),
    /// <c>α = ‖d ⊙ w‖₁ / ‖d‖₁</c>; the exact minimiser of the weighted error over α ≥ 0 and b ∈ {±1}ⁿ. Codes ±1.
    /// </summary>
    public static ProjectionResult Lab(ReadOnlySpan<float> w, ReadOnlySpan<float> d, Span<float> wHat, Span<sbyte> codes)
    {
        CheckInputs(w, d, wHat, codes);
        InterleavedSum num = default, den = default;
        for (int i = 0; i < w.Length; i++)
        {
            num.Add(i, d[i] * Math.Abs((double)w[i]));
            den.Add(i, d[i]);
        }
        float alpha = den.Total > 0 ? (float)(num.Total / den.Total) : 0f;
        WriteBinary(w, alpha, wHat, codes);
        return new ProjectionResult(alpha, alpha, 1, 1, true);
    }

    /// <summary>
    /// Ternary weight network: threshold Δ = 0.7·mean|w|, <c>b = sign(w)·[|w| &gt; Δ]</c>, α = mean of |w| over the kept
    /// weights (0 when none). Codes in {−1, 0, 1}.
    /// </summary>
    public static ProjectionResult Twn(ReadOnlySpan<float> w, Span<float> wHat, Span<sbyte> codes)
    {
        CheckOutputs(w.Length, wHat, codes);
        double threshold = TwnThreshold(w);
        var sum = new InterleavedSum();
        int kept = 0;
        for (int i = 0; i < w.Length; i++)
        {
            double a = Math.Abs((double)w[i]);
            sbyte c = a > threshold ? (sbyte)Math.Sign(w[i]) : (sbyte)0;
            codes[i] = c;
            if (c != 0) { sum.Add(i, a); kept++; }
        }
        float alpha = kept > 0 ? (float)(sum.Total / kept) : 0f;
        for (int i = 0; i < w.Length; i++) wHat[i] = alpha * codes[i];
        return new ProjectionResult(alpha, alpha, 1, 1, true);
    }

    /// <summary>
    /// Uniform symmetric fake-quant to <paramref name="bits"/> bits (2–8) with scale max|w|:
    /// <c>code = round(w / max|w| · n)</c>, <c>ŵ = max|w| · code / n</c>, n = 2^(bits−1) − 1. Codes in [−n, n].
    /// </summary>
    public static ProjectionResult Uniform(ReadOnlySpan<float> w, int bits, Span<float> wHat, Span<sbyte> codes)
    {
        CheckOutputs(w.Length, wHat, codes);
        int n = LevelCount(bits);
        double max = 0;
        foreach (float v in w) max = Math.Max(max, Math.Abs((double)v));
        for (int i = 0; i < w.Length; i++)
        {
            sbyte c = max > 0 ? (sbyte)Math.Round(w[i] / max * n, MidpointRounding.AwayFromZero) : (sbyte)0;
            codes[i] = c;
            wHat[i] = (float)(max * c / n);
        }
        return new ProjectionResult((float)max, (float)max, n, 1, true);
    }

    /// <summary>
    /// Loss-aware ternarization, exact (LATe): sort |w| descending (ties: lower index first) and take the prefix j maximising
    /// <c>c_j² · Σ_{i≤j} d_i</c> with <c>c_j = Σ_{i≤j} d_i|w_i| / Σ_{i≤j} d_i</c>; α = c_j, the top j weights get
    /// α·sign(w), the rest 0. Every prefix j = 0..n is scored (j = 0 scores 0), so no fallback is needed: the reference
    /// code only scores prefixes whose threshold c_j/2 lies strictly between the j-th and (j+1)-th |w| and, when none
    /// does, falls back to Δ = 0.7·c_n/2. The result is the minimiser of the weighted error over all ternary b and α
    /// (the optimal b for any α keeps exactly the weights with |w| &gt; α/2, a top-k set). Codes in {−1, 0, 1}.
    /// </summary>
    public static ProjectionResult LatExact(ReadOnlySpan<float> w, ReadOnlySpan<float> d, Span<float> wHat, Span<sbyte> codes)
    {
        CheckInputs(w, d, wHat, codes);
        float alpha = ExactTernaryGroup(w, d, wHat, codes, group: 0);
        return new ProjectionResult(alpha, alpha, 1, 1, true);
    }

    /// <summary>
    /// LAT2e: <see cref="LatExact"/> applied separately to the positive weights (α⁺ = <see cref="ProjectionResult.Scale"/>)
    /// and the negative weights (α⁻ = <see cref="ProjectionResult.NegativeScale"/>); zero weights project to 0.
    /// Exact for two scales, so never worse than LATe.
    /// </summary>
    public static ProjectionResult Lat2Exact(ReadOnlySpan<float> w, ReadOnlySpan<float> d, Span<float> wHat, Span<sbyte> codes)
    {
        CheckInputs(w, d, wHat, codes);
        wHat.Clear();
        codes.Clear();
        float positive = ExactTernaryGroup(w, d, wHat, codes, group: 1);
        float negative = ExactTernaryGroup(w, d, wHat, codes, group: -1);
        return new ProjectionResult(positive, negative, 1, 1, true);
    }

    /// <summary>
    /// Loss-aware ternarization, approximate (LATa): start from TWN's support (|w| &gt; 0.7·mean|w|), then alternate
    /// <c>α = Σ|b d w| / Σ|b| d</c> and <c>b = sign(w)·[|w| &gt; α/2]</c> at most <paramref name="maxIterations"/> times,
    /// stopping when the support no longer changes or α moves by less than <see cref="ConvergenceTolerance"/> (relative).
    /// Each half-step is an exact minimisation, so the weighted error never exceeds TWN's. Codes in {−1, 0, 1}.
    /// </summary>
    public static ProjectionResult LatApprox(ReadOnlySpan<float> w, ReadOnlySpan<float> d, Span<float> wHat, Span<sbyte> codes,
        int maxIterations = DefaultMaxIterations)
    {
        CheckInputs(w, d, wHat, codes);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxIterations, 1);
        var (alpha, iterations, converged) = ApproxTernaryGroup(w, d, wHat, codes, 0, TwnThreshold(w), maxIterations);
        return new ProjectionResult(alpha, alpha, 1, iterations, converged);
    }

    /// <summary>
    /// LAT2a: <see cref="LatApprox"/> with separate scales for positive and negative weights, each group starting from
    /// the TWN support of the whole tensor; <see cref="ProjectionResult.Iterations"/> is the larger of the two groups'.
    /// </summary>
    public static ProjectionResult Lat2Approx(ReadOnlySpan<float> w, ReadOnlySpan<float> d, Span<float> wHat, Span<sbyte> codes,
        int maxIterations = DefaultMaxIterations)
    {
        CheckInputs(w, d, wHat, codes);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxIterations, 1);
        wHat.Clear();
        codes.Clear();
        double threshold = TwnThreshold(w);
        var p = ApproxTernaryGroup(w, d, wHat, codes, 1, threshold, maxIterations);
        var q = ApproxTernaryGroup(w, d, wHat, codes, -1, threshold, maxIterations);
        return new ProjectionResult(p.Alpha, q.Alpha, 1, Math.Max(p.Iterations, q.Iterations), p.Converged && q.Converged);
    }

    /// <summary>
    /// Loss-aware m-bit quantization on linear levels α·{0, ±1/n, …, ±1}, n = 2^(bits−1) − 1 (bits 2–8):
    /// b starts as sign(<paramref name="seed"/>) (the previous step's ŵ; sign(w) when empty), α from b, then alternate
    /// <c>b = round(clip(w/α, −1, 1)·n)/n</c> (the nearest level) and the α update of <paramref name="scaleUpdate"/>,
    /// at most <paramref name="maxIterations"/> times, stopping when the levels no longer change or α moves by less than
    /// <see cref="ConvergenceTolerance"/> (relative). Codes are the integer levels in [−n, n]: ŵ = α·code/n.
    /// </summary>
    public static ProjectionResult LaqLinear(ReadOnlySpan<float> w, ReadOnlySpan<float> d, int bits, Span<float> wHat, Span<sbyte> codes,
        int maxIterations = DefaultMaxIterations, LaqScaleUpdate scaleUpdate = LaqScaleUpdate.Exact, ReadOnlySpan<float> seed = default)
        => Laq(w, d, bits, wHat, codes, maxIterations, scaleUpdate, seed, logarithmic: false);

    /// <summary>
    /// Loss-aware m-bit quantization on logarithmic levels α·{0, ±2^−(n−1), …, ±1/2, ±1}, n = 2^(bits−1) − 1 (bits 2–8):
    /// with t = clip(w/α, −1, 1), <c>b = sign(t)·2^round(log2|t| − 0.0849625)</c> (the nearest power of two), 0 when
    /// |t| &lt; 2^−n, the smallest non-zero magnitude clamped to 2^−(n−1); alternation and α update as
    /// <see cref="LaqLinear"/>. Codes: 0 for 0, else <c>sign·(n − k)</c> for |b| = 2^−k, so ŵ = sign(code)·α·2^(|code| − n).
    /// </summary>
    public static ProjectionResult LaqLog(ReadOnlySpan<float> w, ReadOnlySpan<float> d, int bits, Span<float> wHat, Span<sbyte> codes,
        int maxIterations = DefaultMaxIterations, LaqScaleUpdate scaleUpdate = LaqScaleUpdate.Exact, ReadOnlySpan<float> seed = default)
        => Laq(w, d, bits, wHat, codes, maxIterations, scaleUpdate, seed, logarithmic: true);

    /// <summary>
    /// Projects a whole tensor with <paramref name="method"/>; <paramref name="bits"/> is used by the m-bit methods only,
    /// <paramref name="d"/> is ignored by the baselines.
    /// </summary>
    public static ProjectionResult Project(WeightProjection method, ReadOnlySpan<float> w, ReadOnlySpan<float> d, Span<float> wHat,
        Span<sbyte> codes, int bits = 2) => method switch
    {
        WeightProjection.BinaryConnect => BinaryConnect(w, wHat, codes),
        WeightProjection.Bwn => Bwn(w, wHat, codes),
        WeightProjection.Twn => Twn(w, wHat, codes),
        WeightProjection.Uniform => Uniform(w, bits, wHat, codes),
        WeightProjection.Lab => Lab(w, d, wHat, codes),
        WeightProjection.LatExact => LatExact(w, d, wHat, codes),
        WeightProjection.LatApprox => LatApprox(w, d, wHat, codes),
        WeightProjection.Lat2Exact => Lat2Exact(w, d, wHat, codes),
        WeightProjection.Lat2Approx => Lat2Approx(w, d, wHat, codes),
        WeightProjection.LaqLinear => LaqLinear(w, d, bits, wHat, codes),
        WeightProjection.LaqLog => LaqLog(w, d, bits, wHat, codes),
        _ => throw new ArgumentOutOfRangeException(nameof(method), method, "unknown weight projection"),
    };

    /// <summary>
    /// Per-output-channel scales: <paramref name="w"/> is a row-major [rows, w.Length / rows] matrix (a conv weight
    /// flattened to [out, in·kh·kw]) and each row is projected independently with <paramref name="method"/>;
    /// <paramref name="results"/> receives one <see cref="ProjectionResult"/> per row.
    /// </summary>
    public static void ProjectRows(WeightProjection method, ReadOnlySpan<float> w, ReadOnlySpan<float> d, int rows, Span<float> wHat,
        Span<sbyte> codes, Span<ProjectionResult> results, int bits = 2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        if (w.Length % rows != 0)
            throw new ArgumentException($"w has {w.Length} elements, not a multiple of {rows} rows.", nameof(w));
        if (results.Length != rows) ThrowLength(nameof(results), results.Length, rows);
        CheckInputs(w, d, wHat, codes);
        int cols = w.Length / rows;
        for (int r = 0; r < rows; r++)
        {
            int o = r * cols;
            results[r] = Project(method, w.Slice(o, cols), d.Slice(o, cols), wHat.Slice(o, cols), codes.Slice(o, cols), bits);
        }
    }

    private static ProjectionResult Laq(ReadOnlySpan<float> w, ReadOnlySpan<float> d, int bits, Span<float> wHat, Span<sbyte> codes,
        int maxIterations, LaqScaleUpdate scaleUpdate, ReadOnlySpan<float> seed, bool logarithmic)
    {
        CheckInputs(w, d, wHat, codes);
        int n = LevelCount(bits);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxIterations, 1);
        if (!seed.IsEmpty && seed.Length != w.Length) ThrowLength(nameof(seed), seed.Length, w.Length);

        // Initial α from b = sign(seed): for ±1 levels both α updates are Σ d|w| / Σ d over the non-zero b.
        InterleavedSum num = default, den = default;
        for (int i = 0; i < w.Length; i++)
        {
            float s = seed.IsEmpty ? w[i] : seed[i];
            if (s == 0) continue;
            num.Add(i, d[i] * Math.Abs((double)w[i]));
            den.Add(i, d[i]);
        }
        double alpha = den.Total > 0 ? num.Total / den.Total : 0;
        ProjectLevels(w, alpha, n, logarithmic, codes);

        int iterations = 0;
        bool converged = false;
        while (iterations < maxIterations)
        {
            num = default;
            den = default;
            for (int i = 0; i < w.Length; i++)
            {
                if (codes[i] == 0) continue;
                double b = LevelMagnitude(codes[i], n, logarithmic);
                num.Add(i, d[i] * b * Math.Abs((double)w[i]));
                den.Add(i, scaleUpdate == LaqScaleUpdate.Exact ? d[i] * b * b : d[i] * b);
            }
            double next = den.Total > 0 ? num.Total / den.Total : 0;
            iterations++;
            int changes = ProjectLevels(w, next, n, logarithmic, codes);
            bool still = Math.Abs(next - alpha) <= ConvergenceTolerance * Math.Abs(next);
            alpha = next;
            if (changes == 0 || still) { converged = true; break; }
        }

        float a = (float)alpha;
        for (int i = 0; i < w.Length; i++)
            wHat[i] = codes[i] == 0 ? 0f : (float)(Math.Sign(codes[i]) * alpha * LevelMagnitude(codes[i], n, logarithmic));
        return new ProjectionResult(a, a, n, iterations, converged);
    }

    /// <summary>Nearest level of every w for scale α; returns how many codes changed.</summary>
    private static int ProjectLevels(ReadOnlySpan<float> w, double alpha, int n, bool logarithmic, Span<sbyte> codes)
    {
        int changes = 0;
        double zeroBelow = Math.Pow(2, -n);
        for (int i = 0; i < w.Length; i++)
        {
            sbyte c = alpha > 0 ? NearestLevel(w[i], alpha, n, logarithmic, zeroBelow) : (sbyte)0;
            if (c != codes[i]) changes++;
            codes[i] = c;
        }
        return changes;
    }

    /// <summary>The code of the level nearest to w for scale α &gt; 0 (<paramref name="zeroBelow"/> = 2^−n).</summary>
    internal static sbyte NearestLevel(float w, double alpha, int n, bool logarithmic, double zeroBelow)
    {
        double t = Math.Clamp(w / alpha, -1.0, 1.0);
        if (!logarithmic) return (sbyte)Math.Round(t * n, MidpointRounding.AwayFromZero);
        if (!(Math.Abs(t) >= zeroBelow)) return 0;
        double e = Math.Round(Math.Log2(Math.Abs(t)) - LogRoundingShift, MidpointRounding.AwayFromZero);
        e = Math.Clamp(e, -(n - 1), 0);
        return (sbyte)(Math.Sign(t) * (n + (int)e));
    }

    internal static double LevelMagnitude(sbyte code, int n, bool logarithmic)
    {
        int m = Math.Abs((int)code);
        return logarithmic ? Math.Pow(2, m - n) : (double)m / n;
    }

    /// <summary>The order LATe scans a group in: |w| descending, ties by index ascending (a sort key per weight).</summary>
    internal static ulong ExactTernaryOrderKey(float w, int index) =>
        ((ulong)(uint.MaxValue - (BitConverter.SingleToUInt32Bits(w) & 0x7FFF_FFFFu)) << 32) | (uint)index;

    private static float ExactTernaryGroup(ReadOnlySpan<float> w, ReadOnlySpan<float> d, Span<float> wHat, Span<sbyte> codes, int group)
    {
        int count = 0;
        for (int i = 0; i < w.Length; i++) if (InGroup(w[i], group)) count++;
        if (count == 0) return 0f;

        ulong[] keys = ArrayPool<ulong>.Shared.Rent(count);
        try
        {
            int k = 0;
            for (int i = 0; i < w.Length; i++)
                if (InGroup(w[i], group)) keys[k++] = ExactTernaryOrderKey(w[i], i);
            keys.AsSpan(0, count).Sort();

            double sumD = 0, sumDw = 0, bestScore = 0, bestAlpha = 0;
            int bestPrefix = 0;
            for (int j = 0; j < count; j++)
            {
                int i = (int)(uint)keys[j];
                sumD += d[i];
                sumDw += d[i] * Math.Abs((double)w[i]);
                double score = sumDw * sumDw / sumD;
                if (score > bestScore) { bestScore = score; bestAlpha = sumDw / sumD; bestPrefix = j + 1; }
            }

            float alpha = (float)bestAlpha;
            for (int j = 0; j < count; j++)
            {
                int i = (int)(uint)keys[j];
                sbyte c = j < bestPrefix ? (sbyte)Math.Sign(w[i]) : (sbyte)0;
                codes[i] = c;
                wHat[i] = alpha * c;
            }
            return alpha;
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(keys);
        }
    }

    private static (float Alpha, int Iterations, bool Converged) ApproxTernaryGroup(ReadOnlySpan<float> w, ReadOnlySpan<float> d,
        Span<float> wHat, Span<sbyte> codes, int group, double twnThreshold, int maxIterations)
    {
        for (int i = 0; i < w.Length; i++)
            if (InGroup(w[i], group))
                codes[i] = Math.Abs((double)w[i]) > twnThreshold ? (sbyte)Math.Sign(w[i]) : (sbyte)0;

        double alpha = 0;
        int iterations = 0;
        bool converged = false;
        while (iterations < maxIterations)
        {
            InterleavedSum num = default, den = default;
            for (int i = 0; i < w.Length; i++)
            {
                if (codes[i] == 0 || !InGroup(w[i], group)) continue;
                num.Add(i, d[i] * Math.Abs((double)w[i]));
                den.Add(i, d[i]);
            }
            double next = den.Total > 0 ? num.Total / den.Total : 0;
            iterations++;
            int changes = 0;
            double half = next / 2;
            for (int i = 0; i < w.Length; i++)
            {
                if (!InGroup(w[i], group)) continue;
                sbyte c = Math.Abs((double)w[i]) > half ? (sbyte)Math.Sign(w[i]) : (sbyte)0;
                if (c != codes[i]) changes++;
                codes[i] = c;
            }
            bool still = Math.Abs(next - alpha) <= ConvergenceTolerance * Math.Abs(next);
            alpha = next;
            if (changes == 0 || still) { converged = true; break; }
        }

        float a = (float)alpha;
        for (int i = 0; i < w.Length; i++)
            if (InGroup(w[i], group)) wHat[i] = a * codes[i];
        return (a, iterations, converged);
    }

    private static bool InGroup(float v, int group) => group == 0 || (group > 0 ? v > 0 : v < 0);

    internal static double TwnThreshold(ReadOnlySpan<float> w)
    {
        if (w.IsEmpty) return 0;
        var sum = new InterleavedSum();
        for (int i = 0; i < w.Length; i++) sum.Add(i, Math.Abs((double)w[i]));
        return TwnThresholdFactor * sum.Total / w.Length;
    }

    private static void WriteBinary(ReadOnlySpan<float> w, float alpha, Span<float> wHat, Span<sbyte> codes)
    {
        for (int i = 0; i < w.Length; i++)
        {
            sbyte b = w[i] < 0 ? (sbyte)-1 : (sbyte)1;
            codes[i] = b;
            wHat[i] = alpha * b;
        }
    }

    internal static int LevelCount(int bits)
    {
        if (bits is < 2 or > 8)
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "expected 2 to 8 bits");
        return (1 << (bits - 1)) - 1;
    }

    private static void CheckInputs(ReadOnlySpan<float> w, ReadOnlySpan<float> d, Span<float> wHat, Span<sbyte> codes)
    {
        if (d.Length != w.Length) ThrowLength(nameof(d), d.Length, w.Length);
        CheckOutputs(w.Length, wHat, codes);
    }

    private static void CheckOutputs(int length, Span<float> wHat, Span<sbyte> codes)
    {
        if (wHat.Length != length) ThrowLength(nameof(wHat), wHat.Length, length);
        if (codes.Length != length) ThrowLength(nameof(codes), codes.Length, length);
    }

    private static void ThrowLength(string name, int actual, int expected) =>
        throw new ArgumentException($"{name} has {actual} elements, expected {expected} (one per weight).", name);
}

/// <summary>
/// The summation order of every sum over a unit's weights in <see cref="LossAwareProjection"/>: 16 partial sums in double,
/// element i added to partial i mod 16 in increasing i, and the total <c>((0 + p0) + p1) + … + p15</c>. Fixing the order
/// fixes the rounding, so a vectorized implementation (four 4-lane accumulators over 16 consecutive elements) gives
/// bit-identical sums. Skipping an element equals adding +0 (the terms are non-negative).
/// </summary>
internal struct InterleavedSum
{
    /// <summary>Number of partial sums.</summary>
    public const int Lanes = 16;

    private PartialArray _partials;

    /// <summary>Adds the term of element <paramref name="index"/>.</summary>
    public void Add(int index, double value) => _partials[index & (Lanes - 1)] += value;

    /// <summary>The partial sums, in order.</summary>
    public Span<double> Partials => MemoryMarshal.CreateSpan(ref _partials[0], Lanes);

    /// <summary>The sum of the partial sums, in order.</summary>
    public readonly double Total
    {
        get
        {
            double total = 0;
            for (int k = 0; k < Lanes; k++) total += _partials[k];
            return total;
        }
    }

    [System.Runtime.CompilerServices.InlineArray(Lanes)]
    private struct PartialArray
    {
        private double _first;
    }
}
