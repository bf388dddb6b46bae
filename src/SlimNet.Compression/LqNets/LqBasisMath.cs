namespace SlimNet.Compression.LqNets;

/// <summary>What each bit of an LQ-Nets code stands for.</summary>
public enum LqDomain
{
    /// <summary>Bit 1 → +1, bit 0 → −1 (weights; one basis per output channel).</summary>
    PlusMinusOne,
    /// <summary>Bit 1 → 1, bit 0 → 0 (activations after ReLU; one basis per layer).</summary>
    ZeroOne,
}

/// <summary>
/// The scalar math of the LQ-Nets quantizer Q(x) = vᵀe (docs/METHODS.md, "LQ-Nets (issue 8)") on small arrays:
/// the 2^K levels of a basis, the midpoint thresholds, the initial bases and the QEM solve from per-code
/// statistics. The tensor work (encoding whole layers, collecting the statistics) is in <see cref="LqQuantizerState"/>.
/// A code is a K-bit integer whose bit k gives e_k; it is the bit pattern the .slim BitPlanes encoding stores.
/// </summary>
public static class LqBasisMath
{
    /// <summary>Largest K the training side supports (2^K levels are enumerated per row).</summary>
    public const int MaxBits = 8;

    /// <summary>δ of the QEM solve for weight bases (the authors' value).</summary>
    public const float WeightDelta = 1e-4f;

    /// <summary>Weight of the old basis in the QEM moving average.</summary>
    public const float Momentum = 0.9f;

    /// <summary>
    /// The level of one code, Σ_k v_k·e_k accumulated in float in plane order (v = 0; v += v_k·e_k), the same
    /// arithmetic as decoding a .slim BitPlanes tensor, so the trained weights equal the stored ones bit for bit.
    /// </summary>
    public static float Level(ReadOnlySpan<float> basis, LqDomain domain, int code)
    {
        float off = domain == LqDomain.PlusMinusOne ? -1f : 0f;
        float v = 0f;
        for (int k = 0; k < basis.Length; k++) v += basis[k] * (((code >> k) & 1) != 0 ? 1f : off);
        return v;
    }

    /// <summary>
    /// The 2^K levels of <paramref name="basis"/> sorted ascending, the code of each (stable: equal levels keep
    /// ascending codes), and the 2^K − 1 thresholds between neighbours, t = 0.5·(l_t + l_(t+1)) in float.
    /// A value x is encoded as the level above threshold t exactly when x ≥ t.
    /// </summary>
    public static void SortedLevels(ReadOnlySpan<float> basis, LqDomain domain, Span<float> levels, Span<int> codes, Span<float> thresholds)
    {
        int k = CheckBits(basis.Length);
        int n = 1 << k;
        if (levels.Length != n || codes.Length != n || thresholds.Length != n - 1)
            throw new ArgumentException($"need {n} levels and codes and {n - 1} thresholds");
        for (int c = 0; c < n; c++)
        {
            levels[c] = Level(basis, domain, c);
            codes[c] = c;
        }
        for (int a = 1; a < n; a++)
        {
            float l = levels[a];
            int c = codes[a];
            int b = a - 1;
            for (; b >= 0 && levels[b] > l; b--)
            {
                levels[b + 1] = levels[b];
                codes[b + 1] = codes[b];
            }
            levels[b + 1] = l;
            codes[b + 1] = c;
        }
        for (int t = 0; t < n - 1; t++) thresholds[t] = 0.5f * (levels[t] + levels[t + 1]);
    }

    /// <summary>
    /// Initial weight basis of the authors' code: v_j = 2^j·0.6745·sqrt(2/n)/2^(K−1), with n = kh·kw·out_channels
    /// (out_features for a Linear layer) given as <paramref name="fanOut"/>.
    /// </summary>
    public static float[] InitialWeightBasis(int fanOut, int bits)
    {
        CheckBits(bits);
        ArgumentOutOfRangeException.ThrowIfLessThan(fanOut, 1);
        double scale = 0.6745 * Math.Sqrt(2.0 / fanOut) / (1 << (bits - 1));
        var v = new float[bits];
        for (int j = 0; j < bits; j++) v[j] = (float)((1 << j) * scale);
        return v;
    }

    /// <summary>Initial activation basis: v_j = 2^j·0.6745·2/(2^K − 1), so the top level is 1.349.</summary>
    public static float[] InitialActivationBasis(int bits)
    {
        CheckBits(bits);
        double scale = 0.6745 * 2 / ((1 << bits) - 1);
        var v = new float[bits];
        for (int j = 0; j < bits; j++) v[j] = (float)((1 << j) * scale);
        return v;
    }

    /// <summary>
    /// The QEM basis solve for fixed codes from per-code statistics: with n_c the number of elements that have code c
    /// and s_c the sum of their values, B Bᵀ = Σ_c n_c e(c) e(c)ᵀ and B x = Σ_c s_c e(c), and
    /// v* = (B Bᵀ + δI)⁻¹ (B x + δ v_old), the minimiser of ‖x − Bᵀv‖² + δ‖v − v_old‖².
    /// When the system is singular (δ = 0 and a basis element no code separates, e.g. an all-zero batch of
    /// activations) a tiny δ (1e−9 of the mean diagonal, plus 1e−9) is used instead, which keeps such an element at
    /// its old value; when even that fails the old basis is returned.
    /// </summary>
    /// <param name="counts">n_c for c = 0..2^K − 1.</param>
    /// <param name="sums">s_c for c = 0..2^K − 1.</param>
    /// <param name="domain">Meaning of a code bit.</param>
    /// <param name="delta">δ ≥ 0.</param>
    /// <param name="oldBasis">v_old (K values).</param>
    /// <param name="solved">v* (K values).</param>
    public static void SolveBasis(ReadOnlySpan<double> counts, ReadOnlySpan<double> sums, LqDomain domain, double delta,
        ReadOnlySpan<float> oldBasis, Span<float> solved)
    {
        int k = CheckBits(oldBasis.Length);
        int n = 1 << k;
        if (counts.Length != n || sums.Length != n) throw new ArgumentException($"need {n} counts and sums (2^K)");
        if (solved.Length != k) throw new ArgumentException($"solved has {solved.Length} values, expected {k}", nameof(solved));
        if (!(delta >= 0)) throw new ArgumentOutOfRangeException(nameof(delta), delta, "delta must be >= 0");
        Span<double> gram = stackalloc double[k * k];
        Span<double> rhs = stackalloc double[k];
        Span<double> e = stackalloc double[k];
        gram.Clear();
        rhs.Clear();
        for (int c = 0; c < n; c++)
        {
            if (counts[c] == 0 && sums[c] == 0) continue;
            for (int i = 0; i < k; i++)
            {
                bool bit = ((c >> i) & 1) != 0;
                e[i] = domain == LqDomain.PlusMinusOne ? (bit ? 1 : -1) : (bit ? 1 : 0);
            }
            for (int i = 0; i < k; i++)
            {
                rhs[i] += sums[c] * e[i];
                for (int j = 0; j < k; j++) gram[i * k + j] += counts[c] * e[i] * e[j];
            }
        }
        double trace = 0;
        for (int i = 0; i < k; i++) trace += gram[i * k + i];
        if (TrySolve(gram, rhs, oldBasis, delta, solved)) return;
        double tiny = Math.Max(delta, 1e-9 * (trace / k + 1));
        if (!TrySolve(gram, rhs, oldBasis, tiny, solved)) oldBasis.CopyTo(solved);
    }

    /// <summary>v ← momentum·v + (1 − momentum)·v*, in double, rounded to float.</summary>
    public static void MovingAverage(Span<float> basis, ReadOnlySpan<float> solved, float momentum)
    {
        if (basis.Length != solved.Length) throw new ArgumentException("basis and solved differ in length");
        for (int i = 0; i < basis.Length; i++) basis[i] = (float)(momentum * (double)basis[i] + (1 - (double)momentum) * solved[i]);
    }

    /// <summary>Throws unless 1 ≤ <paramref name="bits"/> ≤ <see cref="MaxBits"/>; returns it.</summary>
    public static int CheckBits(int bits)
    {
        if (bits < 1 || bits > MaxBits) throw new ArgumentOutOfRangeException(nameof(bits), bits, $"an LQ basis has 1 to {MaxBits} values");
        return bits;
    }

    private static bool TrySolve(ReadOnlySpan<double> gram, ReadOnlySpan<double> rhs, ReadOnlySpan<float> oldBasis, double delta, Span<float> result)
    {
        int k = rhs.Length;
        // Gaussian elimination with partial pivoting on [G + δI | r + δ v_old]; K ≤ 8.
        var m = new double[k, k + 1];
        double scale = 0;
        for (int i = 0; i < k; i++)
        {
            for (int j = 0; j < k; j++) m[i, j] = gram[i * k + j] + (i == j ? delta : 0);
            m[i, k] = rhs[i] + delta * oldBasis[i];
            scale = Math.Max(scale, Math.Abs(m[i, i]));
        }
        if (scale == 0) return false;
        for (int c = 0; c < k; c++)
        {
            int p = c;
            for (int r = c + 1; r < k; r++) if (Math.Abs(m[r, c]) > Math.Abs(m[p, c])) p = r;
            if (Math.Abs(m[p, c]) <= 1e-12 * scale) return false;
            if (p != c)
                for (int j = c; j <= k; j++) (m[c, j], m[p, j]) = (m[p, j], m[c, j]);
            for (int r = c + 1; r < k; r++)
            {
                double f = m[r, c] / m[c, c];
                for (int j = c; j <= k; j++) m[r, j] -= f * m[c, j];
            }
        }
        Span<double> v = stackalloc double[k];
        for (int r = k - 1; r >= 0; r--)
        {
            double s = m[r, k];
            for (int j = r + 1; j < k; j++) s -= m[r, j] * v[j];
            v[r] = s / m[r, r];
        }
        for (int i = 0; i < k; i++)
        {
            if (!double.IsFinite(v[i])) return false;
            result[i] = (float)v[i];
        }
        return true;
    }
}
