using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SlimNet.Compression.Quantization;

/// <summary>
/// The projections of <see cref="LossAwareProjection"/> as the training loop needs them: codes and scales only (the caller
/// writes ŵ from them with the storage formula), vectorized and branch-free. Every per-element expression is the
/// reference's, and every sum uses the reference's <see cref="InterleavedSum"/> order (four 4-lane double accumulators
/// over 16 consecutive elements are exactly its 16 partial sums), so codes, scales, iteration counts and convergence
/// flags are bit-identical to <see cref="LossAwareProjection"/> (tested on random inputs). The approximate ternary
/// alternation does not write codes until it stops: the support for a threshold h is {|w| &gt; h}, so the codes that change
/// between two thresholds are counted from w alone. Single-threaded per unit; <see cref="LossAwareQuantizer"/> runs
/// independent units (layers, blocks of rows) in parallel.
/// </summary>
internal static class ProjectionKernels
{
    private const int Lanes = InterleavedSum.Lanes;

    /// <summary>
    /// Projects one unit (a tensor, or a row with per-channel scales) and writes its codes. For LAQ, the seed (the previous
    /// ŵ) is either <paramref name="seedValues"/>, or, when <paramref name="seedZero"/> is not empty, the previous codes
    /// held in <paramref name="codes"/> on entry with <c>seedZero[code + 128]</c> telling whether a code's value was 0;
    /// with neither, w itself. <paramref name="scratch"/> (w.Length floats) receives the reference's ŵ for the methods
    /// that still run on it (LATe, LAT2e).
    /// </summary>
    public static ProjectionResult Project(WeightProjection method, ReadOnlySpan<float> w, ReadOnlySpan<float> d, Span<sbyte> codes, int bits,
        ReadOnlySpan<float> seedValues, ReadOnlySpan<bool> seedZero, Span<float> scratch)
    {
        switch (method)
        {
            case WeightProjection.BinaryConnect:
                WriteSigns(w, codes);
                return new ProjectionResult(1f, 1f, 1, 1, true);
            case WeightProjection.Bwn:
                {
                    double sum = SumAbs(w);
                    WriteSigns(w, codes);
                    float alpha = w.Length == 0 ? 0f : (float)(sum / w.Length);
                    return new ProjectionResult(alpha, alpha, 1, 1, true);
                }
            case WeightProjection.Lab:
                {
                    var (num, den) = WeightedSums(w, d);
                    WriteSigns(w, codes);
                    float alpha = den > 0 ? (float)(num / den) : 0f;
                    return new ProjectionResult(alpha, alpha, 1, 1, true);
                }
            case WeightProjection.Twn:
                {
                    double threshold = TwnThreshold(w);
                    int kept = KeptAbsSum(w, threshold, out double sum);
                    TernaryCodes(w, threshold, 0, codes);
                    float alpha = kept > 0 ? (float)(sum / kept) : 0f;
                    return new ProjectionResult(alpha, alpha, 1, 1, true);
                }
            case WeightProjection.Uniform:
                {
                    int n = LossAwareProjection.LevelCount(bits);
                    double max = 0;
                    foreach (float v in w) max = Math.Max(max, Math.Abs((double)v));
                    for (int i = 0; i < w.Length; i++)
                        codes[i] = max > 0 ? (sbyte)Math.Round(w[i] / max * n, MidpointRounding.AwayFromZero) : (sbyte)0;
                    return new ProjectionResult((float)max, (float)max, n, 1, true);
                }
            case WeightProjection.LatApprox:
                {
                    var (alpha, iterations, converged) = ApproxTernary(w, d, codes, 0, TwnThreshold(w), LossAwareProjection.DefaultMaxIterations);
                    return new ProjectionResult(alpha, alpha, 1, iterations, converged);
                }
            case WeightProjection.Lat2Approx:
                {
                    codes.Clear();
                    double threshold = TwnThreshold(w);
                    var p = ApproxTernary(w, d, codes, 1, threshold, LossAwareProjection.DefaultMaxIterations);
                    var q = ApproxTernary(w, d, codes, -1, threshold, LossAwareProjection.DefaultMaxIterations);
                    return new ProjectionResult(p.Alpha, q.Alpha, 1, Math.Max(p.Iterations, q.Iterations), p.Converged && q.Converged);
                }
            case WeightProjection.LaqLinear:
            case WeightProjection.LaqLog:
                return Laq(w, d, bits, codes, method == WeightProjection.LaqLog, seedValues, seedZero);
            default:
                // LATe / LAT2e: the reference (its ŵ goes to scratch).
                return LossAwareProjection.Project(method, w, d, scratch[..w.Length], codes, bits);
        }
    }

    // ------------------------------------------------------------------ sums in the InterleavedSum order

    /// <summary>Folds four 4-lane accumulators (partials 0–3, 4–7, 8–11, 12–15) into the partials of <paramref name="sum"/>.</summary>
    private static void Store(ref InterleavedSum sum, Vector256<double> a0, Vector256<double> a1, Vector256<double> a2, Vector256<double> a3)
    {
        var p = sum.Partials;
        a0.CopyTo(p);
        a1.CopyTo(p[4..]);
        a2.CopyTo(p[8..]);
        a3.CopyTo(p[12..]);
    }

    /// <summary>Σ|w| (BWN's α, TWN's threshold).</summary>
    private static double SumAbs(ReadOnlySpan<float> w)
    {
        var sum = new InterleavedSum();
        int i = 0;
        if (Vector256.IsHardwareAccelerated && w.Length >= Lanes)
        {
            ref float wr = ref MemoryMarshal.GetReference(w);
            var a0 = Vector256<double>.Zero;
            var a1 = a0;
            var a2 = a0;
            var a3 = a0;
            for (; i + Lanes <= w.Length; i += Lanes)
            {
                var (l0, h0) = Vector256.Widen(Vector256.Abs(Vector256.LoadUnsafe(ref wr, (nuint)i)));
                var (l1, h1) = Vector256.Widen(Vector256.Abs(Vector256.LoadUnsafe(ref wr, (nuint)i + 8)));
                a0 += l0;
                a1 += h0;
                a2 += l1;
                a3 += h1;
            }
            Store(ref sum, a0, a1, a2, a3);
        }
        for (; i < w.Length; i++) sum.Add(i, Math.Abs((double)w[i]));
        return sum.Total;
    }

    private static double TwnThreshold(ReadOnlySpan<float> w) =>
        w.IsEmpty ? 0 : LossAwareProjection.TwnThresholdFactor * SumAbs(w) / w.Length;

    /// <summary>Σ d|w| and Σ d over all weights (LAB).</summary>
    private static (double Num, double Den) WeightedSums(ReadOnlySpan<float> w, ReadOnlySpan<float> d)
    {
        InterleavedSum num = default, den = default;
        int i = 0;
        if (Vector256.IsHardwareAccelerated && w.Length >= Lanes)
        {
            ref float wr = ref MemoryMarshal.GetReference(w);
            ref float dr = ref MemoryMarshal.GetReference(d);
            var n0 = Vector256<double>.Zero;
            var n1 = n0;
            var n2 = n0;
            var n3 = n0;
            var e0 = n0;
            var e1 = n0;
            var e2 = n0;
            var e3 = n0;
            for (; i + Lanes <= w.Length; i += Lanes)
            {
                var (wl0, wh0) = Vector256.Widen(Vector256.Abs(Vector256.LoadUnsafe(ref wr, (nuint)i)));
                var (wl1, wh1) = Vector256.Widen(Vector256.Abs(Vector256.LoadUnsafe(ref wr, (nuint)i + 8)));
                var (dl0, dh0) = Vector256.Widen(Vector256.LoadUnsafe(ref dr, (nuint)i));
                var (dl1, dh1) = Vector256.Widen(Vector256.LoadUnsafe(ref dr, (nuint)i + 8));
                n0 += dl0 * wl0;
                n1 += dh0 * wh0;
                n2 += dl1 * wl1;
                n3 += dh1 * wh1;
                e0 += dl0;
                e1 += dh0;
                e2 += dl1;
                e3 += dh1;
            }
            Store(ref num, n0, n1, n2, n3);
            Store(ref den, e0, e1, e2, e3);
        }
        for (; i < w.Length; i++)
        {
            num.Add(i, d[i] * Math.Abs((double)w[i]));
            den.Add(i, d[i]);
        }
        return (num.Total, den.Total);
    }

    /// <summary>TWN's kept weights: Σ|w| over |w| &gt; threshold, and their count.</summary>
    private static int KeptAbsSum(ReadOnlySpan<float> w, double threshold, out double sum)
    {
        var s = new InterleavedSum();
        int kept = 0;
        for (int i = 0; i < w.Length; i++)
        {
            double a = Math.Abs((double)w[i]);
            if (a > threshold) { s.Add(i, a); kept++; }
        }
        sum = s.Total;
        return kept;
    }

    // ------------------------------------------------------------------ ternary

    /// <summary>The largest float f with (double)f ≤ h, so that for every float x: x &gt; f ⇔ (double)x &gt; h (false for NaN h).</summary>
    internal static float FloatAtOrBelow(double h)
    {
        float f = (float)h;
        if ((double)f > h) f = MathF.BitDecrement(f);
        return f;
    }

    // Lanes of v in the group (0: all, 1: v > 0, −1: v < 0), as a float mask.
    private static Vector256<float> InGroup(Vector256<float> v, int group) => group == 0
        ? Vector256<float>.AllBitsSet
        : group > 0 ? Vector256.GreaterThan(v, Vector256<float>.Zero) : Vector256.LessThan(v, Vector256<float>.Zero);

    private static bool InGroup(float v, int group) => group == 0 || (group > 0 ? v > 0 : v < 0);

    /// <summary>
    /// One pass of the approximate ternary alternation for a group: Σ d|w| and Σ d over the group's weights with
    /// |w| &gt; <paramref name="half"/> (the support the reference's codes hold after its threshold step), and how many of
    /// the group's codes differ between thresholds <paramref name="previousHalf"/> and <paramref name="half"/>.
    /// </summary>
    private static int TernaryPass(ReadOnlySpan<float> w, ReadOnlySpan<float> d, double half, double previousHalf, int group,
        out double num, out double den)
    {
        InterleavedSum ns = default, ds = default;
        int changes = 0, i = 0;
        if (Vector256.IsHardwareAccelerated && w.Length >= Lanes)
        {
            ref float wr = ref MemoryMarshal.GetReference(w);
            ref float dr = ref MemoryMarshal.GetReference(d);
            var t = Vector256.Create(FloatAtOrBelow(half));
            var tp = Vector256.Create(FloatAtOrBelow(previousHalf));
            var n0 = Vector256<double>.Zero;
            var n1 = n0;
            var n2 = n0;
            var n3 = n0;
            var e0 = n0;
            var e1 = n0;
            var e2 = n0;
            var e3 = n0;
            for (; i + Lanes <= w.Length; i += Lanes)
            {
                var v0 = Vector256.LoadUnsafe(ref wr, (nuint)i);
                var v1 = Vector256.LoadUnsafe(ref wr, (nuint)i + 8);
                var g0 = InGroup(v0, group);
                var g1 = InGroup(v1, group);
                var a0 = Vector256.Abs(v0);
                var a1 = Vector256.Abs(v1);
                var k0 = Vector256.GreaterThan(a0, t) & g0;
                var k1 = Vector256.GreaterThan(a1, t) & g1;
                var c0 = (Vector256.GreaterThan(a0, tp) & g0) ^ k0;
                var c1 = (Vector256.GreaterThan(a1, tp) & g1) ^ k1;
                changes += BitOperations.PopCount(c0.ExtractMostSignificantBits()) + BitOperations.PopCount(c1.ExtractMostSignificantBits());
                var (ml0, mh0) = Vector256.Widen(k0.AsInt32());
                var (ml1, mh1) = Vector256.Widen(k1.AsInt32());
                var (wl0, wh0) = Vector256.Widen(a0);
                var (wl1, wh1) = Vector256.Widen(a1);
                var (dl0, dh0) = Vector256.Widen(Vector256.LoadUnsafe(ref dr, (nuint)i));
                var (dl1, dh1) = Vector256.Widen(Vector256.LoadUnsafe(ref dr, (nuint)i + 8));
                n0 += (dl0 * wl0) & ml0.AsDouble();
                n1 += (dh0 * wh0) & mh0.AsDouble();
                n2 += (dl1 * wl1) & ml1.AsDouble();
                n3 += (dh1 * wh1) & mh1.AsDouble();
                e0 += dl0 & ml0.AsDouble();
                e1 += dh0 & mh0.AsDouble();
                e2 += dl1 & ml1.AsDouble();
                e3 += dh1 & mh1.AsDouble();
            }
            Store(ref ns, n0, n1, n2, n3);
            Store(ref ds, e0, e1, e2, e3);
        }
        for (; i < w.Length; i++)
        {
            float v = w[i];
            if (!InGroup(v, group)) continue;
            double a = Math.Abs((double)v);
            bool keep = a > half;
            if (keep != a > previousHalf) changes++;
            if (!keep) continue;
            ns.Add(i, d[i] * a);
            ds.Add(i, d[i]);
        }
        num = ns.Total;
        den = ds.Total;
        return changes;
    }

    /// <summary>For the weights of the group: code = |w| &gt; half ? sign(w) : 0; the others keep their code.</summary>
    private static void TernaryCodes(ReadOnlySpan<float> w, double half, int group, Span<sbyte> codes)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float wr = ref MemoryMarshal.GetReference(w);
            ref sbyte cr = ref MemoryMarshal.GetReference(codes);
            var t = Vector256.Create(FloatAtOrBelow(half));
            for (; i + 32 <= w.Length; i += 32)
            {
                var v0 = Vector256.LoadUnsafe(ref wr, (nuint)i);
                var v1 = Vector256.LoadUnsafe(ref wr, (nuint)i + 8);
                var v2 = Vector256.LoadUnsafe(ref wr, (nuint)i + 16);
                var v3 = Vector256.LoadUnsafe(ref wr, (nuint)i + 24);
                var c = Vector256.Narrow(
                    Vector256.Narrow(TernaryCode(v0, t), TernaryCode(v1, t)),
                    Vector256.Narrow(TernaryCode(v2, t), TernaryCode(v3, t)));
                if (group != 0)
                {
                    var inGroup = Vector256.Narrow(
                        Vector256.Narrow(InGroup(v0, group).AsInt32(), InGroup(v1, group).AsInt32()),
                        Vector256.Narrow(InGroup(v2, group).AsInt32(), InGroup(v3, group).AsInt32()));
                    c = Vector256.ConditionalSelect(inGroup, c, Vector256.LoadUnsafe(ref cr, (nuint)i));
                }
                c.StoreUnsafe(ref cr, (nuint)i);
            }
        }
        for (; i < w.Length; i++)
        {
            float v = w[i];
            if (InGroup(v, group)) codes[i] = Math.Abs((double)v) > half ? (sbyte)Math.Sign(v) : (sbyte)0;
        }
    }

    // |v| > threshold ? (v < 0 ? −1 : 1) : 0 as int32 lanes (|v| > threshold excludes NaN).
    private static Vector256<int> TernaryCode(Vector256<float> v, Vector256<float> threshold) =>
        Vector256.GreaterThan(Vector256.Abs(v), threshold).AsInt32() & Sign(v);

    // v < 0 ? −1 : 1 as int32 lanes (−0 and NaN give 1).
    private static Vector256<int> Sign(Vector256<float> v) =>
        (Vector256.LessThan(v, Vector256<float>.Zero).AsInt32() << 1) + Vector256<int>.One;

    /// <summary>codes = w &lt; 0 ? −1 : 1 (−0 and NaN give 1, as the reference).</summary>
    private static void WriteSigns(ReadOnlySpan<float> w, Span<sbyte> codes)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float wr = ref MemoryMarshal.GetReference(w);
            ref sbyte cr = ref MemoryMarshal.GetReference(codes);
            for (; i + 32 <= w.Length; i += 32)
            {
                Vector256.Narrow(
                    Vector256.Narrow(Sign(Vector256.LoadUnsafe(ref wr, (nuint)i)), Sign(Vector256.LoadUnsafe(ref wr, (nuint)i + 8))),
                    Vector256.Narrow(Sign(Vector256.LoadUnsafe(ref wr, (nuint)i + 16)), Sign(Vector256.LoadUnsafe(ref wr, (nuint)i + 24))))
                    .StoreUnsafe(ref cr, (nuint)i);
            }
        }
        for (; i < w.Length; i++) codes[i] = w[i] < 0 ? (sbyte)-1 : (sbyte)1;
    }

    /// <summary>
    /// <see cref="LossAwareProjection.LatApprox"/>'s alternation for one group (0 all, 1 positive, −1 negative weights). The
    /// reference's support after a threshold step is {|w| &gt; threshold} within the group, so each pass only sums over it
    /// and counts the weights between the previous and the new threshold; the codes are written once at the end.
    /// </summary>
    private static (float Alpha, int Iterations, bool Converged) ApproxTernary(ReadOnlySpan<float> w, ReadOnlySpan<float> d, Span<sbyte> codes,
        int group, double twnThreshold, int maxIterations)
    {
        // The TWN support and the sums of the first scale update (its change count is not used).
        TernaryPass(w, d, twnThreshold, twnThreshold, group, out double num, out double den);
        double alpha = 0, threshold = twnThreshold;
        int iterations = 0;
        bool converged = false;
        while (iterations < maxIterations)
        {
            double next = den > 0 ? num / den : 0;
            iterations++;
            double half = next / 2;
            int changes = TernaryPass(w, d, half, threshold, group, out num, out den);
            threshold = half;
            bool still = Math.Abs(next - alpha) <= LossAwareProjection.ConvergenceTolerance * Math.Abs(next);
            alpha = next;
            if (changes == 0 || still) { converged = true; break; }
        }
        TernaryCodes(w, threshold, group, codes);
        return ((float)alpha, iterations, converged);
    }

    // ------------------------------------------------------------------ LAQ

    /// <summary><see cref="LossAwareProjection.LaqLinear"/> / <see cref="LossAwareProjection.LaqLog"/> with the exact scale update and the default iteration limit.</summary>
    private static ProjectionResult Laq(ReadOnlySpan<float> w, ReadOnlySpan<float> d, int bits, Span<sbyte> codes, bool logarithmic,
        ReadOnlySpan<float> seedValues, ReadOnlySpan<bool> seedZero)
    {
        int n = LossAwareProjection.LevelCount(bits);
        Span<double> magnitude = stackalloc double[n + 1];
        for (int m = 1; m <= n; m++) magnitude[m] = LossAwareProjection.LevelMagnitude((sbyte)m, n, logarithmic);

        InterleavedSum ns = default, ds = default;
        for (int i = 0; i < w.Length; i++)
        {
            bool zero = !seedZero.IsEmpty ? seedZero[codes[i] + 128] : (seedValues.IsEmpty ? w[i] : seedValues[i]) == 0;
            if (zero) continue;
            ns.Add(i, d[i] * Math.Abs((double)w[i]));
            ds.Add(i, d[i]);
        }
        double num = ns.Total, den = ds.Total;
        double alpha = den > 0 ? num / den : 0;
        LevelPass(w, d, alpha, n, logarithmic, magnitude, codes, out num, out den);

        int iterations = 0;
        bool converged = false;
        while (iterations < LossAwareProjection.DefaultMaxIterations)
        {
            double next = den > 0 ? num / den : 0;
            iterations++;
            int changes = LevelPass(w, d, next, n, logarithmic, magnitude, codes, out num, out den);
            bool still = Math.Abs(next - alpha) <= LossAwareProjection.ConvergenceTolerance * Math.Abs(next);
            alpha = next;
            if (changes == 0 || still) { converged = true; break; }
        }
        float a = (float)alpha;
        return new ProjectionResult(a, a, n, iterations, converged);
    }

    /// <summary>The nearest level of every w for α (as <c>LossAwareProjection.ProjectLevels</c>), the number of changed codes,
    /// and the exact scale update's sums Σ d b |w|, Σ d b² over the new non-zero codes.</summary>
    private static int LevelPass(ReadOnlySpan<float> w, ReadOnlySpan<float> d, double alpha, int n, bool logarithmic, ReadOnlySpan<double> magnitude,
        Span<sbyte> codes, out double num, out double den)
    {
        InterleavedSum ns = default, ds = default;
        int changes = 0, i = 0;
        if (!logarithmic && alpha > 0 && Vector256.IsHardwareAccelerated && w.Length >= Lanes)
            i = LinearLevels(w, d, alpha, n, codes, ref ns, ref ds, ref changes);
        double zeroBelow = Math.Pow(2, -n);
        for (; i < w.Length; i++)
        {
            sbyte c = alpha > 0 ? LossAwareProjection.NearestLevel(w[i], alpha, n, logarithmic, zeroBelow) : (sbyte)0;
            if (c != codes[i]) changes++;
            codes[i] = c;
            if (c != 0)
            {
                double b = magnitude[Math.Abs((int)c)];
                ns.Add(i, d[i] * b * Math.Abs((double)w[i]));
                ds.Add(i, d[i] * b * b);
            }
        }
        num = ns.Total;
        den = ds.Total;
        return changes;
    }

    /// <summary>
    /// Vectorized linear levels over whole groups of 16: code = round-half-away(clamp(w/α, −1, 1)·n), b = |code|/n; returns
    /// the first index not done. Rounding: t = trunc(x), x − t is exact, so t ± [|x − t| ≥ ½] is Math.Round(x, AwayFromZero).
    /// </summary>
    private static int LinearLevels(ReadOnlySpan<float> w, ReadOnlySpan<float> d, double alpha, int n, Span<sbyte> codes,
        ref InterleavedSum ns, ref InterleavedSum ds, ref int changes)
    {
        ref float wr = ref MemoryMarshal.GetReference(w);
        ref float dr = ref MemoryMarshal.GetReference(d);
        ref sbyte cr = ref MemoryMarshal.GetReference(codes);
        var va = Vector256.Create(alpha);
        var vn = Vector256.Create((double)n);
        var n0 = Vector256<double>.Zero;
        var n1 = n0;
        var n2 = n0;
        var n3 = n0;
        var e0 = n0;
        var e1 = n0;
        var e2 = n0;
        var e3 = n0;
        int i = 0;
        for (; i + Lanes <= w.Length; i += Lanes)
        {
            var (wl0, wh0) = Vector256.Widen(Vector256.LoadUnsafe(ref wr, (nuint)i));
            var (wl1, wh1) = Vector256.Widen(Vector256.LoadUnsafe(ref wr, (nuint)i + 8));
            var (dl0, dh0) = Vector256.Widen(Vector256.LoadUnsafe(ref dr, (nuint)i));
            var (dl1, dh1) = Vector256.Widen(Vector256.LoadUnsafe(ref dr, (nuint)i + 8));
            var q0 = Level(wl0, va, vn);
            var q1 = Level(wh0, va, vn);
            var q2 = Level(wl1, va, vn);
            var q3 = Level(wh1, va, vn);
            AddLevelTerms(q0, wl0, dl0, vn, ref n0, ref e0);
            AddLevelTerms(q1, wh0, dh0, vn, ref n1, ref e1);
            AddLevelTerms(q2, wl1, dl1, vn, ref n2, ref e2);
            AddLevelTerms(q3, wh1, dh1, vn, ref n3, ref e3);
            // Integer-valued doubles in [−127, 127] to bytes: adding 1.5·2^52 puts the value in the low mantissa bits
            // (two's complement in the low 32 bits), and Narrow truncates.
            var magic = Vector256.Create(6755399441055744.0);
            var i0 = Vector256.Narrow((q0 + magic).AsInt64(), (q1 + magic).AsInt64());
            var i1 = Vector256.Narrow((q2 + magic).AsInt64(), (q3 + magic).AsInt64());
            var s16 = Vector256.Narrow(i0, i1);
            var code = Vector128.Narrow(s16.GetLower(), s16.GetUpper());
            var old = Vector128.LoadUnsafe(ref cr, (nuint)i);
            changes += Lanes - BitOperations.PopCount(Vector128.Equals(code, old).ExtractMostSignificantBits());
            code.StoreUnsafe(ref cr, (nuint)i);
        }
        var np = ns.Partials;
        var dp = ds.Partials;
        (n0 + Vector256.LoadUnsafe(ref np[0])).CopyTo(np);
        (n1 + Vector256.LoadUnsafe(ref np[4])).CopyTo(np[4..]);
        (n2 + Vector256.LoadUnsafe(ref np[8])).CopyTo(np[8..]);
        (n3 + Vector256.LoadUnsafe(ref np[12])).CopyTo(np[12..]);
        (e0 + Vector256.LoadUnsafe(ref dp[0])).CopyTo(dp);
        (e1 + Vector256.LoadUnsafe(ref dp[4])).CopyTo(dp[4..]);
        (e2 + Vector256.LoadUnsafe(ref dp[8])).CopyTo(dp[8..]);
        (e3 + Vector256.LoadUnsafe(ref dp[12])).CopyTo(dp[12..]);
        return i;
    }

    // The signed level round-half-away(clamp(w/α, −1, 1)·n) as an integer-valued double.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Level(Vector256<double> w, Vector256<double> alpha, Vector256<double> n)
    {
        var one = Vector256<double>.One;
        var t = w / alpha;
        t = Vector256.ConditionalSelect(Vector256.LessThan(t, -one), -one, t);
        t = Vector256.ConditionalSelect(Vector256.GreaterThan(t, one), one, t);
        var x = t * n;
        var r = Vector256.Truncate(x);
        var f = x - r;
        var half = Vector256.Create(0.5);
        return r + (Vector256.GreaterThanOrEqual(f, half) & one) - (Vector256.LessThanOrEqual(f, -half) & one);
    }

    // Adds d·b·|w| and d·b·b (b = |q|/n) of the non-zero levels q to the accumulators.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddLevelTerms(Vector256<double> q, Vector256<double> w, Vector256<double> d, Vector256<double> n,
        ref Vector256<double> num, ref Vector256<double> den)
    {
        var nonZero = ~Vector256.Equals(q, Vector256<double>.Zero);
        var b = Vector256.Abs(q);
        if (n[0] != 1) b /= n; // m / 1 = m exactly
        var db = d * b;
        num += (db * Vector256.Abs(w)) & nonZero;
        den += (db * b) & nonZero;
    }
}
