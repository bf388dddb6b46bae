namespace SlimNet.Runtime.Quantization;

/// <summary>What each bit of an LQ-Nets code stands for.</summary>
public enum LqCodeDomain
{
    /// <summary>Bit 1 → +1, bit 0 → −1 (weights, one basis per output channel).</summary>
    PlusMinusOne,

    /// <summary>Bit 1 → 1, bit 0 → 0 (activations after ReLU, one basis per layer).</summary>
    ZeroOne,
}

/// <summary>
/// The LQ-Nets learned quantizer Q(x) = vᵀe (METHODS.md §7) as pure math over float spans: the 2^K levels of a
/// basis v, nearest-level encoding (thresholds at midpoints), decoding, the initial bases and one QEM step.
/// A code is a K-bit integer whose bit i gives eᵢ (see <see cref="LqCodeDomain"/>), the same bits that
/// <c>BitOpKernels.PackPlanes</c> stores as planes.
/// </summary>
public static class LqQuantizer
{
    /// <summary>The δ of the QEM solve for weight bases in the LQ-Nets paper and code.</summary>
    public const float WeightDelta = 1e-4f;

    /// <summary>The weight of the old basis in the QEM moving average.</summary>
    public const float DefaultMomentum = 0.9f;

    /// <summary>Most basis values supported (levels are enumerated, 2^K of them).</summary>
    public const int MaxBits = 8;

    /// <summary>The value of one code: Σᵢ vᵢ·eᵢ(code).</summary>
    public static float Level(ReadOnlySpan<float> basis, LqCodeDomain domain, int code)
    {
        double s = 0;
        for (int i = 0; i < basis.Length; i++)
        {
            bool bit = ((code >> i) & 1) != 0;
            s += domain == LqCodeDomain.PlusMinusOne ? (bit ? basis[i] : -basis[i]) : (bit ? basis[i] : 0);
        }
        return (float)s;
    }

    /// <summary>The 2^K levels in ascending order, with the code of each (ties keep the lower code first).</summary>
    public static void Levels(ReadOnlySpan<float> basis, LqCodeDomain domain, Span<float> levels, Span<ushort> codes)
    {
        int k = CheckBasis(basis);
        int n = 1 << k;
        if (levels.Length != n || codes.Length != n) throw new ArgumentException($"levels and codes need {n} elements each (2^K)");
        for (int c = 0; c < n; c++)
        {
            levels[c] = Level(basis, domain, c);
            codes[c] = (ushort)c;
        }
        // Insertion sort: at most 256 entries, stable, so equal levels keep ascending codes.
        for (int a = 1; a < n; a++)
        {
            float l = levels[a];
            ushort c = codes[a];
            int b = a - 1;
            for (; b >= 0 && levels[b] > l; b--)
            {
                levels[b + 1] = levels[b];
                codes[b + 1] = codes[b];
            }
            levels[b + 1] = l;
            codes[b + 1] = c;
        }
    }

    /// <summary>Codes of the nearest levels: x goes to the level above a midpoint threshold when x ≥ that midpoint.</summary>
    public static void Encode(ReadOnlySpan<float> x, ReadOnlySpan<float> basis, LqCodeDomain domain, Span<ushort> codes)
    {
        int k = CheckBasis(basis);
        if (codes.Length != x.Length) throw new ArgumentException($"codes has {codes.Length} elements, expected {x.Length}", nameof(codes));
        int n = 1 << k;
        Span<float> levels = stackalloc float[n];
        Span<ushort> levelCodes = stackalloc ushort[n];
        Levels(basis, domain, levels, levelCodes);
        Span<float> thresholds = stackalloc float[n - 1];
        for (int t = 0; t < n - 1; t++) thresholds[t] = 0.5f * (levels[t] + levels[t + 1]);
        for (int e = 0; e < x.Length; e++)
        {
            // Binary search for the number of thresholds ≤ x.
            float v = x[e];
            int lo = 0, hi = n - 1;
            while (lo < hi)
            {
                int mid = (lo + hi) >> 1;
                if (v >= thresholds[mid]) lo = mid + 1; else hi = mid;
            }
            codes[e] = levelCodes[lo];
        }
    }

    /// <summary>y = Q(x) for the given codes: y[e] = Σᵢ vᵢ·eᵢ(codes[e]).</summary>
    public static void Decode(ReadOnlySpan<ushort> codes, ReadOnlySpan<float> basis, LqCodeDomain domain, Span<float> y)
    {
        int k = CheckBasis(basis);
        if (y.Length != codes.Length) throw new ArgumentException($"y has {y.Length} elements, expected {codes.Length}", nameof(y));
        Span<float> table = stackalloc float[1 << k];
        for (int c = 0; c < table.Length; c++) table[c] = Level(basis, domain, c);
        for (int e = 0; e < codes.Length; e++) y[e] = table[codes[e] & (table.Length - 1)];
    }

    /// <summary>Σ (x − Q(x))² with nearest-level codes, in double precision.</summary>
    public static double QuantizationError(ReadOnlySpan<float> x, ReadOnlySpan<float> basis, LqCodeDomain domain)
    {
        var codes = new ushort[x.Length];
        Encode(x, basis, domain, codes);
        var q = new float[x.Length];
        Decode(codes, basis, domain, q);
        double s = 0;
        for (int e = 0; e < x.Length; e++)
        {
            double d = (double)x[e] - q[e];
            s += d * d;
        }
        return s;
    }

    /// <summary>
    /// The QEM solve for fixed codes: v* = (B Bᵀ + δI)⁻¹ (B x + δ v_old), B the K×N matrix of code values
    /// (±1 or 0/1). v* minimises ‖x − Bᵀv‖² + δ‖v − v_old‖². When δ = 0 and B Bᵀ is singular (e.g. a basis
    /// element that no code uses) a tiny δ (1e−9 of the mean diagonal) is used instead, which keeps that
    /// element at its old value.
    /// </summary>
    public static void SolveBasis(ReadOnlySpan<float> x, ReadOnlySpan<ushort> codes, LqCodeDomain domain, float delta,
        ReadOnlySpan<float> oldBasis, Span<float> newBasis)
    {
        int k = CheckBasis(oldBasis);
        if (codes.Length != x.Length) throw new ArgumentException($"codes has {codes.Length} elements, expected {x.Length}", nameof(codes));
        if (newBasis.Length != k) throw new ArgumentException($"newBasis has {newBasis.Length} elements, expected {k}", nameof(newBasis));
        if (!(delta >= 0)) throw new ArgumentOutOfRangeException(nameof(delta), delta, "delta must be ≥ 0");
        var gram = new double[k * k];
        var rhs = new double[k];
        Span<double> e = stackalloc double[k];
        for (int n = 0; n < x.Length; n++)
        {
            for (int i = 0; i < k; i++)
            {
                bool bit = ((codes[n] >> i) & 1) != 0;
                e[i] = domain == LqCodeDomain.PlusMinusOne ? (bit ? 1 : -1) : (bit ? 1 : 0);
            }
            for (int i = 0; i < k; i++)
            {
                rhs[i] += e[i] * x[n];
                for (int j = 0; j < k; j++) gram[i * k + j] += e[i] * e[j];
            }
        }
        double trace = 0;
        for (int i = 0; i < k; i++) trace += gram[i * k + i];
        double d = delta;
        if (!TrySolve(gram, rhs, oldBasis, d, newBasis))
        {
            d = Math.Max(delta, 1e-9 * (trace / k + 1));
            if (!TrySolve(gram, rhs, oldBasis, d, newBasis)) oldBasis.CopyTo(newBasis);
        }
    }

    /// <summary>
    /// One QEM step on the current tensor: encode x with v, solve v* (<see cref="SolveBasis"/>), then
    /// v ← momentum·v + (1 − momentum)·v*. With momentum 0 this is the plain alternating step.
    /// Neither form can raise Σ(x − Q(x))²: for the codes of the old v, v* lowers ‖x − Bᵀv‖² (it minimises that plus
    /// a non-negative δ term that is zero at v_old); the error is convex in v, so the average lies below the old
    /// value too; and re-encoding to the nearest levels of the new basis can only lower it further.
    /// </summary>
    public static void QemStep(ReadOnlySpan<float> x, Span<float> basis, LqCodeDomain domain, float delta, float momentum = DefaultMomentum)
    {
        int k = CheckBasis(basis);
        if (!(momentum >= 0 && momentum <= 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in [0, 1]");
        var codes = new ushort[x.Length];
        Encode(x, basis, domain, codes);
        Span<float> solved = stackalloc float[k];
        SolveBasis(x, codes, domain, delta, basis, solved);
        for (int i = 0; i < k; i++) basis[i] = (float)(momentum * (double)basis[i] + (1 - (double)momentum) * solved[i]);
    }

    /// <summary>Initial weight basis of the authors' code: vᵢ = 2^i·0.6745·sqrt(2/n) / 2^(K−1) with
    /// n = <paramref name="fanOut"/> = kh·kw·out_channels (out_features for a Linear layer).</summary>
    public static void InitialWeightBasis(int fanOut, Span<float> basis)
    {
        int k = CheckBasis(basis);
        if (fanOut <= 0) throw new ArgumentOutOfRangeException(nameof(fanOut), fanOut, "fanOut must be positive");
        double scale = 0.6745 * Math.Sqrt(2.0 / fanOut) / (1 << (k - 1));
        for (int i = 0; i < k; i++) basis[i] = (float)((1 << i) * scale);
    }

    /// <summary>Initial activation basis: vᵢ = 2^i·0.6745·2 / (2^K − 1), so the top level is 1.349.</summary>
    public static void InitialActivationBasis(Span<float> basis)
    {
        int k = CheckBasis(basis);
        double scale = 0.6745 * 2 / ((1 << k) - 1);
        for (int i = 0; i < k; i++) basis[i] = (float)((1 << i) * scale);
    }

    private static bool TrySolve(double[] gram, double[] rhs, ReadOnlySpan<float> oldBasis, double delta, Span<float> result)
    {
        int k = rhs.Length;
        // Gaussian elimination with partial pivoting on [G + δI | r + δ v_old]; K ≤ 8, so no blocking.
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
        var v = new double[k];
        for (int r = k - 1; r >= 0; r--)
        {
            double s = m[r, k];
            for (int j = r + 1; j < k; j++) s -= m[r, j] * v[j];
            v[r] = s / m[r, r];
        }
        for (int i = 0; i < k; i++) result[i] = (float)v[i];
        return true;
    }

    private static int CheckBasis(ReadOnlySpan<float> basis)
    {
        if (basis.Length < 1 || basis.Length > MaxBits)
            throw new ArgumentException($"basis has {basis.Length} values, expected 1 to {MaxBits}", nameof(basis));
        return basis.Length;
    }
}
