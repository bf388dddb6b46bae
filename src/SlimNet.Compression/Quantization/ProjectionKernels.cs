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
                    TernaryCodes(w, FloatAtOrBelow(threshold), 0, codes);
                    float alpha = kept > 0 ? (float)(sum / kept) : 0f;
                    return new ProjectionResult(alpha, alpha, 1, 1, true);
                }
            case WeightProjection.Uniform:
                {
                    int n = LossAwareProjection.LevelCount(bits);
                    double max = 0;
                    foreach (float v in w) max = Math.Max(max, Math.Abs((double)v));
                    int i = 0;
                    if (max > 0 && Vector256.IsHardwareAccelerated)
                    {
                        // |w| ≤ max, so w/max is in [−1, 1] and Level's clamp changes nothing.
                        ref float wr = ref MemoryMarshal.GetReference(w);
                        ref sbyte cr = ref MemoryMarshal.GetReference(codes);
                        var vm = Vector256.Create(max);
                        var vn = Vector256.Create((double)n);
                        for (; i + Lanes <= w.Length; i += Lanes)
                        {
                            var (l0, h0, l1, h1) = Load16(ref wr, i);
                            ToBytes(LevelCodes(Level(l0, vm, vn), Level(h0, vm, vn), Level(l1, vm, vn), Level(h1, vm, vn)))
                                .StoreUnsafe(ref cr, (nuint)i);
                        }
                    }
                    for (; i < w.Length; i++)
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
            case WeightProjection.LatExact:
                {
                    float alpha = ExactTernary(w, d, codes, 0);
                    return new ProjectionResult(alpha, alpha, 1, 1, true);
                }
            case WeightProjection.Lat2Exact:
                {
                    codes.Clear();
                    float positive = ExactTernary(w, d, codes, 1);
                    float negative = ExactTernary(w, d, codes, -1);
                    return new ProjectionResult(positive, negative, 1, 1, true);
                }
            default:
                return LossAwareProjection.Project(method, w, d, scratch[..w.Length], codes, bits);
        }
    }

    // ------------------------------------------------------------------ sums in the InterleavedSum order

    /// <summary>
    /// Four 4-lane double accumulators over 16 consecutive elements: they hold partials 0–3, 4–7, 8–11 and 12–15 of an
    /// <see cref="InterleavedSum"/>, so a vectorized pass adds every term to the partial the reference adds it to.
    /// </summary>
    private struct Partials16
    {
        public Vector256<double> P0, P1, P2, P3;

        /// <summary>Adds the terms of elements 0–3, 4–7, 8–11 and 12–15 of a group of 16.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(Vector256<double> q0, Vector256<double> q1, Vector256<double> q2, Vector256<double> q3)
        {
            P0 += q0;
            P1 += q1;
            P2 += q2;
            P3 += q3;
        }

        /// <summary>Writes the accumulators into the partials of <paramref name="sum"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void StoreTo(ref InterleavedSum sum)
        {
            var p = sum.Partials;
            P0.CopyTo(p);
            P1.CopyTo(p[4..]);
            P2.CopyTo(p[8..]);
            P3.CopyTo(p[12..]);
        }
    }

    // The 16 floats v0 (elements 0–7) and v1 (8–15) widened to double: elements 0–3, 4–7, 8–11, 12–15.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<double>, Vector256<double>, Vector256<double>, Vector256<double>) Widen16(Vector256<float> v0, Vector256<float> v1)
    {
        var (l0, h0) = Vector256.Widen(v0);
        var (l1, h1) = Vector256.Widen(v1);
        return (l0, h0, l1, h1);
    }

    // The 16 floats at r[i..i+16) widened to double, as Widen16.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<double>, Vector256<double>, Vector256<double>, Vector256<double>) Load16(ref float r, int i) =>
        Widen16(Vector256.LoadUnsafe(ref r, (nuint)i), Vector256.LoadUnsafe(ref r, (nuint)i + 8));

    // |r[i..i+16)| widened to double, as Widen16.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<double>, Vector256<double>, Vector256<double>, Vector256<double>) LoadAbs16(ref float r, int i) =>
        Widen16(Vector256.Abs(Vector256.LoadUnsafe(ref r, (nuint)i)), Vector256.Abs(Vector256.LoadUnsafe(ref r, (nuint)i + 8)));

    // Adds d·|w| to num and d to den for the 16 elements whose mask lane is all ones (|w| in a0, a1; d in d0, d1; masks
    // k0, k1, each for elements 0–7 and 8–15).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddKept(ref Partials16 num, ref Partials16 den, Vector256<float> a0, Vector256<float> a1,
        Vector256<float> d0, Vector256<float> d1, Vector256<int> k0, Vector256<int> k1)
    {
        var (ml0, mh0) = Vector256.Widen(k0);
        var (ml1, mh1) = Vector256.Widen(k1);
        var (wl0, wh0, wl1, wh1) = Widen16(a0, a1);
        var (dl0, dh0, dl1, dh1) = Widen16(d0, d1);
        num.Add((dl0 * wl0) & ml0.AsDouble(), (dh0 * wh0) & mh0.AsDouble(), (dl1 * wl1) & ml1.AsDouble(), (dh1 * wh1) & mh1.AsDouble());
        den.Add(dl0 & ml0.AsDouble(), dh0 & mh0.AsDouble(), dl1 & ml1.AsDouble(), dh1 & mh1.AsDouble());
    }

    /// <summary>Σ|w| (BWN's α, TWN's threshold).</summary>
    internal static double SumAbs(ReadOnlySpan<float> w)
    {
        var sum = new InterleavedSum();
        int i = 0;
        if (Vector256.IsHardwareAccelerated && w.Length >= Lanes)
        {
            ref float wr = ref MemoryMarshal.GetReference(w);
            Partials16 a = default;
            for (; i + Lanes <= w.Length; i += Lanes)
            {
                var (l0, h0, l1, h1) = LoadAbs16(ref wr, i);
                a.Add(l0, h0, l1, h1);
            }
            a.StoreTo(ref sum);
        }
        for (; i < w.Length; i++) sum.Add(i, Math.Abs((double)w[i]));
        return sum.Total;
    }

    private static double TwnThreshold(ReadOnlySpan<float> w) =>
        w.IsEmpty ? 0 : LossAwareProjection.TwnThresholdFactor * SumAbs(w) / w.Length;

    /// <summary>Σ d|w| and Σ d over all weights (LAB).</summary>
    internal static (double Num, double Den) WeightedSums(ReadOnlySpan<float> w, ReadOnlySpan<float> d)
    {
        InterleavedSum num = default, den = default;
        int i = 0;
        if (Vector256.IsHardwareAccelerated && w.Length >= Lanes)
        {
            ref float wr = ref MemoryMarshal.GetReference(w);
            ref float dr = ref MemoryMarshal.GetReference(d);
            Partials16 n = default, e = default;
            for (; i + Lanes <= w.Length; i += Lanes)
            {
                var (wl0, wh0, wl1, wh1) = LoadAbs16(ref wr, i);
                var (dl0, dh0, dl1, dh1) = Load16(ref dr, i);
                n.Add(dl0 * wl0, dh0 * wh0, dl1 * wl1, dh1 * wh1);
                e.Add(dl0, dh0, dl1, dh1);
            }
            n.StoreTo(ref num);
            e.StoreTo(ref den);
        }
        for (; i < w.Length; i++)
        {
            num.Add(i, d[i] * Math.Abs((double)w[i]));
            den.Add(i, d[i]);
        }
        return (num.Total, den.Total);
    }

    /// <summary>TWN's kept weights: Σ|w| over |w| &gt; threshold, and their count.</summary>
    internal static int KeptAbsSum(ReadOnlySpan<float> w, double threshold, out double sum)
    {
        var s = new InterleavedSum();
        int kept = 0, i = 0;
        if (Vector256.IsHardwareAccelerated && w.Length >= Lanes)
        {
            ref float wr = ref MemoryMarshal.GetReference(w);
            var t = Vector256.Create(FloatAtOrBelow(threshold));
            Partials16 a = default;
            for (; i + Lanes <= w.Length; i += Lanes)
            {
                var v0 = Vector256.Abs(Vector256.LoadUnsafe(ref wr, (nuint)i));
                var v1 = Vector256.Abs(Vector256.LoadUnsafe(ref wr, (nuint)i + 8));
                var k0 = Vector256.GreaterThan(v0, t);
                var k1 = Vector256.GreaterThan(v1, t);
                kept += BitOperations.PopCount(k0.ExtractMostSignificantBits()) + BitOperations.PopCount(k1.ExtractMostSignificantBits());
                var (l0, h0, l1, h1) = Widen16(v0 & k0, v1 & k1);
                a.Add(l0, h0, l1, h1);
            }
            a.StoreTo(ref s);
        }
        for (; i < w.Length; i++)
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
    /// One pass of a ternary alternation for a group: Σ d|w| and Σ d over the group's weights with |w| &gt;
    /// <paramref name="threshold"/> (the support the reference's codes hold after its threshold step), and how many of the
    /// group's codes differ between thresholds <paramref name="previous"/> and <paramref name="threshold"/>. Thresholds
    /// are floats that decide exactly like the reference's double comparison (<see cref="FloatAtOrBelow"/>).
    /// </summary>
    internal static int TernaryPass(ReadOnlySpan<float> w, ReadOnlySpan<float> d, float threshold, float previous, int group,
        out double num, out double den)
    {
        InterleavedSum ns = default, ds = default;
        int changes = 0, i = 0;
        if (Vector256.IsHardwareAccelerated && w.Length >= Lanes)
        {
            ref float wr = ref MemoryMarshal.GetReference(w);
            ref float dr = ref MemoryMarshal.GetReference(d);
            var t = Vector256.Create(threshold);
            var tp = Vector256.Create(previous);
            Partials16 n = default, e = default;
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
                AddKept(ref n, ref e, a0, a1, Vector256.LoadUnsafe(ref dr, (nuint)i), Vector256.LoadUnsafe(ref dr, (nuint)i + 8),
                    k0.AsInt32(), k1.AsInt32());
            }
            n.StoreTo(ref ns);
            e.StoreTo(ref ds);
        }
        for (; i < w.Length; i++)
        {
            float v = w[i];
            if (!InGroup(v, group)) continue;
            float a = Math.Abs(v);
            bool keep = a > threshold;
            if (keep != a > previous) changes++;
            if (!keep) continue;
            ns.Add(i, d[i] * (double)a);
            ds.Add(i, d[i]);
        }
        num = ns.Total;
        den = ds.Total;
        return changes;
    }

    /// <summary>For the weights of the group: code = |w| &gt; threshold ? sign(w) : 0; the others keep their code.</summary>
    private static void TernaryCodes(ReadOnlySpan<float> w, float threshold, int group, Span<sbyte> codes)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float wr = ref MemoryMarshal.GetReference(w);
            ref sbyte cr = ref MemoryMarshal.GetReference(codes);
            var t = Vector256.Create(threshold);
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
            if (InGroup(v, group)) codes[i] = Math.Abs(v) > threshold ? (sbyte)Math.Sign(v) : (sbyte)0;
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
        float threshold = FloatAtOrBelow(twnThreshold);
        TernaryPass(w, d, threshold, threshold, group, out double num, out double den);
        double alpha = 0;
        int iterations = 0;
        bool converged = false;
        while (iterations < maxIterations)
        {
            double next = den > 0 ? num / den : 0;
            iterations++;
            float half = FloatAtOrBelow(next / 2);
            int changes = TernaryPass(w, d, half, threshold, group, out num, out den);
            threshold = half;
            bool still = Math.Abs(next - alpha) <= LossAwareProjection.ConvergenceTolerance * Math.Abs(next);
            alpha = next;
            if (changes == 0 || still) { converged = true; break; }
        }
        TernaryCodes(w, threshold, group, codes);
        return ((float)alpha, iterations, converged);
    }

    // ------------------------------------------------------------------ exact ternary

    /// <summary>
    /// <see cref="LossAwareProjection.LatExact"/> for one group: the group's weights in the reference's order (|w|
    /// descending, ties by index) by a stable LSD radix sort (8-bit digits, a pass skipped when all keys share its digit)
    /// of one 64-bit word per weight, the inverted |w| bit pattern above d's bits; the reference's prefix scan over the
    /// sorted words (|w| is the key's complement); then the codes by a threshold pass over w: the prefix is every weight
    /// with a larger |w| than the last taken one and, of those equal to it, the first ones in index order (the sort is stable).
    /// </summary>
    private static float ExactTernary(ReadOnlySpan<float> w, ReadOnlySpan<float> d, Span<sbyte> codes, int group)
    {
        int count = 0;
        for (int i = 0; i < w.Length; i++) if (InGroup(w[i], group)) count++;
        if (count == 0) return 0f;

        var pool = System.Buffers.ArrayPool<ulong>.Shared;
        ulong[] words = pool.Rent(count), spare = pool.Rent(count);
        int[] counts = System.Buffers.ArrayPool<int>.Shared.Rent(RadixPasses << RadixBits);
        try
        {
            int k = 0;
            for (int i = 0; i < w.Length; i++)
            {
                float v = w[i];
                if (InGroup(v, group)) words[k++] = ((ulong)KeyOf(v) << 32) | BitConverter.SingleToUInt32Bits(d[i]);
            }
            RadixSortHigh(words, spare, counts, count);

            double sumD = 0, sumDw = 0, bestScore = 0, bestAlpha = 0;
            int bestPrefix = 0;
            for (int j = 0; j < count; j++)
            {
                ulong word = words[j];
                double di = BitConverter.UInt32BitsToSingle((uint)word);
                sumD += di;
                sumDw += di * (double)BitConverter.UInt32BitsToSingle(uint.MaxValue - (uint)(word >> 32));
                double score = sumDw * sumDw / sumD;
                if (score > bestScore) { bestScore = score; bestAlpha = sumDw / sumD; bestPrefix = j + 1; }
            }

            // The taken weights: |w| above the last taken |w|, and of those equal to it the first ones in index order.
            if (bestPrefix == 0)
            {
                TernaryCodes(w, float.PositiveInfinity, group, codes);
                return (float)bestAlpha;
            }
            uint lastKey = (uint)(words[bestPrefix - 1] >> 32);
            int first = bestPrefix - 1, end = bestPrefix;
            while (first > 0 && (uint)(words[first - 1] >> 32) == lastKey) first--;
            while (end < count && (uint)(words[end] >> 32) == lastKey) end++;
            int tiesTaken = bestPrefix - first;
            float last = BitConverter.UInt32BitsToSingle(uint.MaxValue - lastKey); // the last taken |w|
            if (end == bestPrefix)
            {
                // Every weight with that |w| is taken: |w| ≥ last (|w| = 0 has code 0 either way).
                TernaryCodes(w, last > 0 ? MathF.BitDecrement(last) : 0f, group, codes);
            }
            else
            {
                TernaryCodes(w, last, group, codes);
                for (int i = 0; i < w.Length && tiesTaken > 0; i++)
                {
                    float v = w[i];
                    if (InGroup(v, group) && Math.Abs(v) == last) { codes[i] = (sbyte)Math.Sign(v); tiesTaken--; }
                }
            }
            return (float)bestAlpha;
        }
        finally
        {
            pool.Return(words);
            pool.Return(spare);
            System.Buffers.ArrayPool<int>.Shared.Return(counts);
        }
    }

    // Ascending key = descending |w| (the sign bit cleared, then inverted).
    private static uint KeyOf(float v) => uint.MaxValue - (BitConverter.SingleToUInt32Bits(v) & 0x7FFF_FFFFu);

    private const int RadixBits = 8, RadixPasses = 4;

    /// <summary>Stable ascending sort of words[0..count) by their high 32 bits; the result ends in <paramref name="words"/>.</summary>
    private static void RadixSortHigh(ulong[] words, ulong[] spare, int[] counts, int count)
    {
        const int buckets = 1 << RadixBits;
        Array.Clear(counts, 0, RadixPasses * buckets);
        for (int j = 0; j < count; j++)
        {
            uint key = (uint)(words[j] >> 32);
            counts[key & 0xFF]++;
            counts[buckets + ((key >> 8) & 0xFF)]++;
            counts[2 * buckets + ((key >> 16) & 0xFF)]++;
            counts[3 * buckets + (key >> 24)]++;
        }
        ulong[] src = words, dst = spare;
        for (int pass = 0; pass < RadixPasses; pass++)
        {
            var c = counts.AsSpan(pass * buckets, buckets);
            int shift = 32 + pass * RadixBits;
            if (c[(int)((src[0] >> shift) & (buckets - 1))] == count) continue; // one digit value: the order stays
            int offset = 0;
            for (int b = 0; b < buckets; b++)
            {
                int n = c[b];
                c[b] = offset;
                offset += n;
            }
            for (int j = 0; j < count; j++)
            {
                ulong word = src[j];
                dst[c[(int)((word >> shift) & (buckets - 1))]++] = word;
            }
            (src, dst) = (dst, src);
        }
        if (src != words) Array.Copy(src, words, count);
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
        int start = 0;
        // The seed is zero exactly where the previous code is 0 (no non-zero code decoded to 0), or where w / the seed values are 0.
        bool zeroIsCode0 = !seedZero.IsEmpty && seedZero[128];
        for (int c = -n; c <= n && zeroIsCode0; c++) if (c != 0 && seedZero[c + 128]) zeroIsCode0 = false;
        if (Vector256.IsHardwareAccelerated && w.Length >= Lanes && (seedZero.IsEmpty || zeroIsCode0))
            start = SeedSums(w, d, seedZero.IsEmpty ? (seedValues.IsEmpty ? w : seedValues) : default, codes, ref ns, ref ds);
        for (int i = start; i < w.Length; i++)
        {
            bool zero = !seedZero.IsEmpty ? seedZero[codes[i] + 128] : (seedValues.IsEmpty ? w[i] : seedValues[i]) == 0;
            if (zero) continue;
            ns.Add(i, d[i] * Math.Abs((double)w[i]));
            ds.Add(i, d[i]);
        }
        double num = ns.Total, den = ds.Total;
        double alpha = den > 0 ? num / den : 0;
        if (n == 1 && !logarithmic) return TwoBitLaq(w, d, codes, alpha, num, den);
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

    /// <summary>
    /// LAQ's initial sums Σ d|w|, Σ d over the weights whose seed is non-zero, vectorized over whole groups of 16: the seed
    /// is <paramref name="seedValues"/> when not empty, else the codes (non-zero code = non-zero seed). Returns the first
    /// index not done.
    /// </summary>
    internal static int SeedSums(ReadOnlySpan<float> w, ReadOnlySpan<float> d, ReadOnlySpan<float> seedValues, ReadOnlySpan<sbyte> codes,
        ref InterleavedSum ns, ref InterleavedSum ds)
    {
        ref float wr = ref MemoryMarshal.GetReference(w);
        ref float dr = ref MemoryMarshal.GetReference(d);
        ref float sr = ref MemoryMarshal.GetReference(seedValues);
        ref sbyte cr = ref MemoryMarshal.GetReference(codes);
        bool fromValues = !seedValues.IsEmpty;
        Partials16 n = default, e = default;
        int i = 0;
        for (; i + Lanes <= w.Length; i += Lanes)
        {
            Vector256<int> k0, k1;
            if (fromValues)
            {
                k0 = ~Vector256.Equals(Vector256.LoadUnsafe(ref sr, (nuint)i), Vector256<float>.Zero).AsInt32();
                k1 = ~Vector256.Equals(Vector256.LoadUnsafe(ref sr, (nuint)i + 8), Vector256<float>.Zero).AsInt32();
            }
            else
            {
                var (lo, hi) = Vector128.Widen(~Vector128.Equals(Vector128.LoadUnsafe(ref cr, (nuint)i), Vector128<sbyte>.Zero));
                k0 = Vector256.Create(Vector128.WidenLower(lo), Vector128.WidenUpper(lo));
                k1 = Vector256.Create(Vector128.WidenLower(hi), Vector128.WidenUpper(hi));
            }
            AddKept(ref n, ref e, Vector256.Abs(Vector256.LoadUnsafe(ref wr, (nuint)i)), Vector256.Abs(Vector256.LoadUnsafe(ref wr, (nuint)i + 8)),
                Vector256.LoadUnsafe(ref dr, (nuint)i), Vector256.LoadUnsafe(ref dr, (nuint)i + 8), k0, k1);
        }
        n.StoreTo(ref ns);
        e.StoreTo(ref ds);
        return i;
    }

    /// <summary>
    /// LAQ with 2-bit linear levels (n = 1) from the initial α: the level of w is ±1 when |RN(w/α)| ≥ ½ and 0 otherwise, a
    /// threshold on |w| (<see cref="TwoBitThreshold"/>), and b ∈ {0, 1} makes the scale sums LATa's Σ d|w|, Σ d. So each
    /// alternation is a <see cref="TernaryPass"/> (no division, no codes until the end).
    /// </summary>
    private static ProjectionResult TwoBitLaq(ReadOnlySpan<float> w, ReadOnlySpan<float> d, Span<sbyte> codes, double alpha, double num, double den)
    {
        float threshold = TwoBitThreshold(alpha);
        TernaryPass(w, d, threshold, threshold, 0, out num, out den);
        int iterations = 0;
        bool converged = false;
        while (iterations < LossAwareProjection.DefaultMaxIterations)
        {
            double next = den > 0 ? num / den : 0;
            iterations++;
            float t = TwoBitThreshold(next);
            int changes = TernaryPass(w, d, t, threshold, 0, out num, out den);
            threshold = t;
            bool still = Math.Abs(next - alpha) <= LossAwareProjection.ConvergenceTolerance * Math.Abs(next);
            alpha = next;
            if (changes == 0 || still) { converged = true; break; }
        }
        TernaryCodes(w, threshold, 0, codes);
        float a = (float)alpha;
        return new ProjectionResult(a, a, 1, iterations, converged);
    }

    /// <summary>
    /// The float F with |w| &gt; F ⇔ |RN(w/α)| ≥ ½ for every float w (round-half-away of the clamped quotient is then ±1):
    /// RN(x) ≥ ½ ⇔ x ≥ ½ − 2^−55 (the midpoint below ½ rounds to the even ½), i.e. |w| ≥ T = (α/2)(1 − 2^−54). No float lies
    /// in [T, α/2) (a double's spacing is wider than α/2·2^−54), so F is the largest float below α/2. No weight is kept
    /// for α ≤ 0 or NaN; every non-zero float exceeds T when α is below 1e−300.
    /// </summary>
    internal static float TwoBitThreshold(double alpha)
    {
        if (!(alpha > 0)) return float.PositiveInfinity;
        if (alpha < 1e-300) return 0f;
        double h = alpha / 2; // exact: h is a normal double
        float f = FloatAtOrBelow(h);
        return (double)f == h ? MathF.BitDecrement(f) : f;
    }

    /// <summary>The nearest level of every w for α (as <c>LossAwareProjection.ProjectLevels</c>), the number of changed codes,
    /// and the exact scale update's sums Σ d b |w|, Σ d b² over the new non-zero codes.</summary>
    internal static int LevelPass(ReadOnlySpan<float> w, ReadOnlySpan<float> d, double alpha, int n, bool logarithmic, ReadOnlySpan<double> magnitude,
        Span<sbyte> codes, out double num, out double den)
    {
        InterleavedSum ns = default, ds = default;
        int changes = 0, i = 0;
        double zeroBelow = Math.Pow(2, -n);
        if (alpha > 0 && Vector256.IsHardwareAccelerated && w.Length >= Lanes)
        {
            i = !logarithmic ? LinearLevels(w, d, alpha, n, codes, ref ns, ref ds, ref changes)
                : n <= MaxThresholdLevels ? LogLevelsByThresholds(w, d, alpha, n, zeroBelow, codes, ref ns, ref ds, ref changes)
                : LogLevels(w, d, alpha, n, zeroBelow, codes, ref ns, ref ds, ref changes);
        }
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
        Partials16 num = default, den = default;
        int i = 0;
        for (; i + Lanes <= w.Length; i += Lanes)
        {
            var (wl0, wh0, wl1, wh1) = Load16(ref wr, i);
            var (dl0, dh0, dl1, dh1) = Load16(ref dr, i);
            var q0 = Level(wl0, va, vn);
            var q1 = Level(wh0, va, vn);
            var q2 = Level(wl1, va, vn);
            var q3 = Level(wh1, va, vn);
            AddLevelTerms(q0, wl0, dl0, vn, ref num.P0, ref den.P0);
            AddLevelTerms(q1, wh0, dh0, vn, ref num.P1, ref den.P1);
            AddLevelTerms(q2, wl1, dl1, vn, ref num.P2, ref den.P2);
            AddLevelTerms(q3, wh1, dh1, vn, ref num.P3, ref den.P3);
            changes += StoreCodes(ToBytes(LevelCodes(q0, q1, q2, q3)), ref cr, i);
        }
        num.StoreTo(ref ns);
        den.StoreTo(ref ds);
        return i;
    }

    /// <summary>
    /// Vectorized logarithmic levels over whole groups of 16 (the reference's <c>NearestLevel</c> without Log2): with
    /// t = clamp(w/α, −1, 1) and |t| = m·2^k (1 ≤ m &lt; 2), round-half-away(log2|t| − 0.0849625) is k + 1 when m lies above
    /// 2^0.5849625 ≈ 1.4999999993 and k below it, so the exponent and the top mantissa bit decide, except within 1e-4 of
    /// m = 1.5 where the group is computed with the reference expression. The level is 2^e, e = clamp(·, −(n−1), 0);
    /// 0 when |t| &lt; 2^−n. Returns the first index not done.
    /// </summary>
    private static int LogLevels(ReadOnlySpan<float> w, ReadOnlySpan<float> d, double alpha, int n, double zeroBelow, Span<sbyte> codes,
        ref InterleavedSum ns, ref InterleavedSum ds, ref int changes)
    {
        ref float wr = ref MemoryMarshal.GetReference(w);
        ref float dr = ref MemoryMarshal.GetReference(d);
        ref sbyte cr = ref MemoryMarshal.GetReference(codes);
        var va = Vector256.Create(alpha);
        var vz = Vector256.Create(zeroBelow);
        var vn = Vector256.Create((long)n);
        Partials16 num = default, den = default;
        Span<long> scalar = stackalloc long[Lanes];
        int i = 0;
        for (; i + Lanes <= w.Length; i += Lanes)
        {
            var (wl0, wh0, wl1, wh1) = Load16(ref wr, i);
            var q0 = LogLevel(wl0, va, vz, vn, out var u0);
            var q1 = LogLevel(wh0, va, vz, vn, out var u1);
            var q2 = LogLevel(wl1, va, vz, vn, out var u2);
            var q3 = LogLevel(wh1, va, vz, vn, out var u3);
            if ((u0 | u1 | u2 | u3) != Vector256<long>.Zero)
            {
                for (int k = 0; k < Lanes; k++) scalar[k] = LossAwareProjection.NearestLevel(w[i + k], alpha, n, true, zeroBelow);
                q0 = Vector256.Create(scalar[0], scalar[1], scalar[2], scalar[3]);
                q1 = Vector256.Create(scalar[4], scalar[5], scalar[6], scalar[7]);
                q2 = Vector256.Create(scalar[8], scalar[9], scalar[10], scalar[11]);
                q3 = Vector256.Create(scalar[12], scalar[13], scalar[14], scalar[15]);
            }
            AddLogTerms(ref num, ref den, q0, q1, q2, q3, (wl0, wh0, wl1, wh1), Load16(ref dr, i), vn);
            changes += StoreCodes(ToBytes(Vector256.Narrow(Vector256.Narrow(q0, q1), Vector256.Narrow(q2, q3))), ref cr, i);
        }
        num.StoreTo(ref ns);
        den.StoreTo(ref ds);
        return i;
    }

    /// <summary>Most logarithmic levels (n = 2^(m−1) − 1, so up to 4 bits) that <see cref="LogLevelsByThresholds"/> handles.</summary>
    private const int MaxThresholdLevels = 7;

    /// <summary>
    /// Logarithmic levels by comparing |w| with thresholds, no division: the level of w is a step function of
    /// |t| = |RN(w/α)|, 0 below 2^−n (exactly |w| &gt; <see cref="PowerOfTwoThreshold"/>), and j + 1 instead of j above
    /// ≈ 1.5·2^(j−n) (j = 1..n−1; the reference's boundary is 2^(j−n+0.5849625)). |w| below a float L_j (|t| surely under
    /// 1.4999·2^(j−n)) or above U_j (surely over 1.5001·2^(j−n)) is decided; a group of 16 with a weight between them
    /// takes the reference expression. Same codes and sums as <see cref="LogLevels"/>.
    /// </summary>
    private static int LogLevelsByThresholds(ReadOnlySpan<float> w, ReadOnlySpan<float> d, double alpha, int n, double zeroBelow, Span<sbyte> codes,
        ref InterleavedSum ns, ref InterleavedSum ds, ref int changes)
    {
        Span<float> lower = stackalloc float[MaxThresholdLevels], upper = stackalloc float[MaxThresholdLevels];
        for (int j = 1; j < n; j++)
        {
            double boundary = alpha * Math.ScaleB(1.5, j - n);
            lower[j] = FloatAtOrBelow(boundary * (1 - 1e-4));
            upper[j] = FloatAtOrAbove(boundary * (1 + 1e-4));
        }
        var zero = Vector256.Create(PowerOfTwoThreshold(alpha, n));
        ref float wr = ref MemoryMarshal.GetReference(w);
        ref float dr = ref MemoryMarshal.GetReference(d);
        ref sbyte cr = ref MemoryMarshal.GetReference(codes);
        var vn = Vector256.Create((long)n);
        Partials16 num = default, den = default;
        Span<int> scalar = stackalloc int[Lanes];
        int i = 0;
        for (; i + Lanes <= w.Length; i += Lanes)
        {
            var v0 = Vector256.LoadUnsafe(ref wr, (nuint)i);
            var v1 = Vector256.LoadUnsafe(ref wr, (nuint)i + 8);
            var a0 = Vector256.Abs(v0);
            var a1 = Vector256.Abs(v1);
            var k0 = Vector256.GreaterThan(a0, zero).AsInt32();
            var k1 = Vector256.GreaterThan(a1, zero).AsInt32();
            var l0 = Vector256<int>.One;
            var l1 = Vector256<int>.One;
            var unsure = Vector256<int>.Zero;
            for (int j = 1; j < n; j++)
            {
                var lo = Vector256.Create(lower[j]);
                var hi = Vector256.Create(upper[j]);
                var u0 = Vector256.GreaterThan(a0, hi).AsInt32();
                var u1 = Vector256.GreaterThan(a1, hi).AsInt32();
                l0 -= u0;
                l1 -= u1;
                unsure |= ((Vector256.GreaterThanOrEqual(a0, lo).AsInt32() & ~u0) & k0) | ((Vector256.GreaterThanOrEqual(a1, lo).AsInt32() & ~u1) & k1);
            }
            // Signed codes: level where kept, negated where w < 0.
            var s0 = Vector256.LessThan(v0, Vector256<float>.Zero).AsInt32();
            var s1 = Vector256.LessThan(v1, Vector256<float>.Zero).AsInt32();
            var c0 = ((l0 ^ s0) - s0) & k0;
            var c1 = ((l1 ^ s1) - s1) & k1;
            if (unsure != Vector256<int>.Zero)
            {
                for (int k = 0; k < Lanes; k++) scalar[k] = LossAwareProjection.NearestLevel(w[i + k], alpha, n, true, zeroBelow);
                c0 = Vector256.LoadUnsafe(ref scalar[0]);
                c1 = Vector256.LoadUnsafe(ref scalar[8]);
            }
            var (q0, q1) = Vector256.Widen(c0);
            var (q2, q3) = Vector256.Widen(c1);
            AddLogTerms(ref num, ref den, q0, q1, q2, q3, Widen16(v0, v1), Load16(ref dr, i), vn);
            changes += StoreCodes(ToBytes(Vector256.Narrow(c0, c1)), ref cr, i);
        }
        num.StoreTo(ref ns);
        den.StoreTo(ref ds);
        return i;
    }

    /// <summary>The smallest float f with (double)f ≥ h.</summary>
    private static float FloatAtOrAbove(double h)
    {
        float f = (float)h;
        if ((double)f < h) f = MathF.BitIncrement(f);
        return f;
    }

    /// <summary>
    /// The float F with |w| &gt; F ⇔ RN(|w|/α) ≥ 2^−n for every float w (α &gt; 0): RN(x) ≥ 2^−n ⇔ x ≥ 2^−n(1 − 2^−54) (the
    /// midpoint below a power of two rounds up to it), so, as in <see cref="TwoBitThreshold"/>, F is the largest float below
    /// h = α·2^−n.
    /// </summary>
    private static float PowerOfTwoThreshold(double alpha, int n)
    {
        double h = Math.ScaleB(alpha, -n);
        if (h < 1e-300) return 0f;
        float f = FloatAtOrBelow(h);
        return (double)f == h ? MathF.BitDecrement(f) : f;
    }

    // The signed logarithmic code of w as int64 lanes; unsure = lanes within 1e-4 of a rounding boundary (all ones).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<long> LogLevel(Vector256<double> w, Vector256<double> alpha, Vector256<double> zeroBelow, Vector256<long> n,
        out Vector256<long> unsure)
    {
        var one = Vector256<double>.One;
        var t = w / alpha;
        t = Vector256.ConditionalSelect(Vector256.LessThan(t, -one), -one, t);
        t = Vector256.ConditionalSelect(Vector256.GreaterThan(t, one), one, t);
        var a = Vector256.Abs(t);
        var keep = Vector256.GreaterThanOrEqual(a, zeroBelow).AsInt64();
        var bits = a.AsInt64();
        var k = Vector256.ShiftRightLogical(bits, 52) - Vector256.Create(1023L);
        var mantissa = bits & Vector256.Create(0x000F_FFFF_FFFF_FFFFL);
        const long half = 1L << 51; // m = 1.5
        var up = Vector256.GreaterThanOrEqual(mantissa, Vector256.Create(half));
        var e = k - up; // up is −1 where set
        e = Vector256.Max(e, Vector256<long>.One - n);
        e = Vector256.Min(e, Vector256<long>.Zero);
        var distance = Vector256.Abs(mantissa - Vector256.Create(half));
        unsure = Vector256.LessThan(distance, Vector256.Create((long)(1e-4 * (1L << 52)))) & keep;
        var level = n + e;
        var negative = Vector256.LessThan(t, Vector256<double>.Zero).AsInt64();
        return ((level ^ negative) - negative) & keep; // −level where t < 0
    }

    // Adds d·b·|w| and d·b·b (b = 2^(|q| − n)) of the non-zero codes q to the accumulators.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddLogTerms(Vector256<long> q, Vector256<double> w, Vector256<double> d, Vector256<long> n,
        ref Vector256<double> num, ref Vector256<double> den)
    {
        var nonZero = (~Vector256.Equals(q, Vector256<long>.Zero)).AsDouble();
        var b = Vector256.ShiftLeft(Vector256.Abs(q) - n + Vector256.Create(1023L), 52).AsDouble();
        var db = d * b;
        num += (db * Vector256.Abs(w)) & nonZero;
        den += (db * b) & nonZero;
    }

    // AddLogTerms for a group of 16: codes q0–q3, w and d widened (elements 0–3, 4–7, 8–11, 12–15).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddLogTerms(ref Partials16 num, ref Partials16 den, Vector256<long> q0, Vector256<long> q1, Vector256<long> q2,
        Vector256<long> q3, (Vector256<double> L0, Vector256<double> H0, Vector256<double> L1, Vector256<double> H1) w,
        (Vector256<double> L0, Vector256<double> H0, Vector256<double> L1, Vector256<double> H1) d, Vector256<long> n)
    {
        AddLogTerms(q0, w.L0, d.L0, n, ref num.P0, ref den.P0);
        AddLogTerms(q1, w.H0, d.H0, n, ref num.P1, ref den.P1);
        AddLogTerms(q2, w.L1, d.L1, n, ref num.P2, ref den.P2);
        AddLogTerms(q3, w.H1, d.H1, n, ref num.P3, ref den.P3);
    }

    // Integer-valued doubles in [−127, 127] (levels of elements 0–3, 4–7, 8–11, 12–15) as 16 int16 lanes: adding 1.5·2^52
    // puts the value in the low mantissa bits (two's complement in the low 32 bits), and Narrow truncates.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> LevelCodes(Vector256<double> q0, Vector256<double> q1, Vector256<double> q2, Vector256<double> q3)
    {
        var magic = Vector256.Create(6755399441055744.0);
        return Vector256.Narrow(
            Vector256.Narrow((q0 + magic).AsInt64(), (q1 + magic).AsInt64()),
            Vector256.Narrow((q2 + magic).AsInt64(), (q3 + magic).AsInt64()));
    }

    // 16 int16 codes in [−128, 127] as bytes.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<sbyte> ToBytes(Vector256<short> codes) => Vector128.Narrow(codes.GetLower(), codes.GetUpper());

    // Writes 16 codes at codes[i..i+16) and returns how many differ from the codes there before.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int StoreCodes(Vector128<sbyte> code, ref sbyte codes, int i)
    {
        var old = Vector128.LoadUnsafe(ref codes, (nuint)i);
        code.StoreUnsafe(ref codes, (nuint)i);
        return Lanes - BitOperations.PopCount(Vector128.Equals(code, old).ExtractMostSignificantBits());
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
